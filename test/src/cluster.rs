//! A three-node Kafka cluster of a test's own, for what a single broker never shows: a leader
//! that moves, a broker that restarts or dies mid-read, an ISR that shrinks, a group coordinator
//! that goes away. Started from the environment's Kafka distribution on free ports like
//! [`crate::broker::PrivateBroker`] (not by `make env-up`: three JVMs cost CI time only where a
//! test asks for them), stopped and deleted when dropped.
//!
//! Each node is `process.roles=broker,controller` and the three form the controller quorum
//! (three voters). Three JVMs instead of four (one controller + three brokers) on a 2-core
//! machine, and a quorum that survives any one node going away — so stopping "the leader"
//! also exercises a controller failover when that node happened to be the active controller,
//! as in a Strimzi cluster with dual-role node pools. Replication is production-like: default
//! replication factor 3, `min.insync.replicas=2`, internal topics with RF 3, no unclean leader
//! election. Failure detection is fast (a silent broker is fenced after 4 s, a lagging follower
//! leaves the ISR after 4 s) so tests wait seconds, not half a minute. Automatic leader
//! rebalancing is off: leaders are where the test put them (see [`PrivateCluster::move_leader`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::broker::{Jvm, free_ports, server_properties, signal, uuid_base64, wait_for_brokers};
use crate::env::TestEnv;
use crate::fixtures::unique_suffix;

/// Node ids are 1, 2 and 3.
pub const NODES: i32 = 3;
/// Partitions of `__consumer_offsets` (the group coordinator of a group is the leader of one).
const OFFSETS_PARTITIONS: i32 = 6;
/// Heap of each node: three of them share the machine with the environment and other tests.
const HEAP: &str = "320m";
/// How long a node may take to start, stop, or show up in metadata.
const NODE_TIMEOUT: Duration = Duration::from_secs(90);

struct Node {
    id: i32,
    port: u16,
    props: PathBuf,
    log: PathBuf,
    /// `None` while the node is stopped.
    child: Option<Child>,
}

/// Leader, replicas and in-sync replicas of one partition, as the cluster's metadata reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: i32,
    /// -1 when the partition has no leader.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

pub struct PrivateCluster {
    nodes: Vec<Node>,
    jvm: Jvm,
    dir: PathBuf,
    /// The environment with this cluster as its Kafka (`KAFKA_BOOTSTRAP` lists all three
    /// nodes): every data-plane helper works with it.
    pub env: TestEnv,
    /// The cluster id the nodes were formatted with.
    pub cluster_id: String,
}

impl PrivateCluster {
    /// Formats and starts three nodes and waits until all three serve as brokers (~20 s).
    pub fn start(env: &TestEnv) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("sbo-cluster-{}", unique_suffix()));
        std::fs::create_dir_all(&dir)?;
        let mut jvm = Jvm::new(env, &dir)?;
        // Three nodes on two cores shared with everything else: the quick compiler only (a
        // node starts in half the CPU time and Kafka's hot paths are I/O), one GC thread.
        jvm.node_options = vec!["-XX:TieredStopAtLevel=1".into(), "-XX:+UseSerialGC".into()];
        let free = free_ports(2 * NODES as usize)?;
        let ports: Vec<(u16, u16)> = free.chunks(2).map(|c| (c[0], c[1])).collect();
        let voters = ports
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for (i, (port, controller)) in ports.iter().enumerate() {
            let id = i as i32 + 1;
            let data = dir.join(format!("node-{id}"));
            std::fs::create_dir_all(&data)?;
            let common = format!(
                "process.roles=broker,controller\nnode.id={id}\ncontroller.quorum.voters={voters}\n\
                 listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{port}\nlog.dirs={}\n",
                data.join("data").display()
            );
            let props = data.join("server.properties");
            std::fs::write(&props, server_properties(&common, SETTINGS))?;
            nodes.push(Node { id, port: *port, props, log: data.join("kafka.log"), child: None });
        }
        let cluster_id = uuid_base64()?;
        // Formatting is a JVM start: node 1's directory is formatted, the others get the same
        // bootstrap metadata and a meta.properties of their own (what the storage tool would
        // write for them: version, cluster id, node id, a random directory id).
        jvm.format_storage(&nodes[0].props, &cluster_id)?;
        let formatted = dir.join("node-1/data");
        for node in &nodes[1..] {
            let data = dir.join(format!("node-{}/data", node.id));
            std::fs::create_dir_all(&data)?;
            std::fs::copy(formatted.join("bootstrap.checkpoint"), data.join("bootstrap.checkpoint"))?;
            std::fs::write(
                data.join("meta.properties"),
                format!(
                    "version=1\ncluster.id={cluster_id}\nnode.id={}\ndirectory.id={}\n",
                    node.id,
                    uuid_base64()?
                ),
            )?;
        }
        let bootstrap = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",");
        let mut cluster = Self { nodes, jvm, env: env.with_kafka(&bootstrap), dir, cluster_id };
        for i in 0..cluster.nodes.len() {
            let node = &mut cluster.nodes[i];
            node.child = Some(cluster.jvm.start_node(HEAP, &node.props, &node.log)?);
        }
        let log = cluster.nodes[0].log.clone();
        wait_for_brokers(&cluster.env, NODES as usize, &log, NODE_TIMEOUT)?;
        Ok(cluster)
    }

    fn node(&mut self, id: i32) -> anyhow::Result<&mut Node> {
        self.nodes.iter_mut().find(|n| n.id == id).with_context(|| format!("no node {id}"))
    }

    fn running(&mut self, id: i32) -> anyhow::Result<&mut Child> {
        self.node(id)?.child.as_mut().with_context(|| format!("node {id} is not running"))
    }

    /// Stops a node the way Kubernetes stops a pod (SIGTERM: a controlled shutdown that hands
    /// its leaderships to other replicas first), waits for it to exit and for the cluster to
    /// no longer list it.
    pub fn stop(&mut self, id: i32) -> anyhow::Result<()> {
        let child = self.running(id)?;
        signal(child, libc::SIGTERM)?;
        let deadline = Instant::now() + NODE_TIMEOUT;
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                anyhow::bail!("node {id} did not exit within {}s of SIGTERM", NODE_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.node(id)?.child = None;
        self.wait_until(&format!("node {id} is no longer listed"), |c| Ok(!c.brokers()?.contains(&id)))
    }

    /// Kills a node (SIGKILL) as a node failure or an OOM kill does: no controlled shutdown, its
    /// leaderships move only once the controller fences it (broker.session.timeout.ms).
    pub fn kill(&mut self, id: i32) -> anyhow::Result<()> {
        let child = self.running(id)?;
        child.kill()?;
        child.wait()?;
        self.node(id)?.child = None;
        Ok(())
    }

    /// Starts a stopped or killed node again on its data directory and waits until the cluster
    /// lists it as a broker again.
    pub fn start_node(&mut self, id: i32) -> anyhow::Result<()> {
        let node = self.nodes.iter().find(|n| n.id == id).with_context(|| format!("no node {id}"))?;
        anyhow::ensure!(node.child.is_none(), "node {id} is running");
        let child = self.jvm.start_node(HEAP, &node.props, &node.log)?;
        self.node(id)?.child = Some(child);
        self.wait_until(&format!("node {id} is listed again"), |c| Ok(c.brokers()?.contains(&id)))
    }

    /// Freezes a node (SIGSTOP): its connections stay open and it answers nothing, as in a long
    /// GC pause or on a hung host; the controller fences it after the session timeout.
    pub fn pause(&mut self, id: i32) -> anyhow::Result<()> {
        signal(self.running(id)?, libc::SIGSTOP)
    }

    /// Lets a frozen node go on (SIGCONT).
    pub fn resume(&mut self, id: i32) -> anyhow::Result<()> {
        signal(self.running(id)?, libc::SIGCONT)
    }

    /// The end of a node's log, for an error message.
    pub fn log_tail(&self, id: i32, lines: usize) -> String {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| crate::fixtures::last_lines(&std::fs::read_to_string(&n.log).unwrap_or_default(), lines))
            .unwrap_or_default()
    }

    fn metadata_client(&self) -> anyhow::Result<BaseConsumer> {
        Ok(ClientConfig::new().set("bootstrap.servers", self.env.kafka_bootstrap()).create()?)
    }

    /// Ids of the brokers the cluster serves with now (fenced and stopped ones are not listed).
    pub fn brokers(&self) -> anyhow::Result<Vec<i32>> {
        let m = self.metadata_client()?.fetch_metadata(None, Duration::from_secs(10))?;
        let mut ids: Vec<i32> = m.brokers().iter().map(|b| b.id()).collect();
        ids.sort();
        Ok(ids)
    }

    /// Leader, replicas and ISR of every partition of `topic`, by partition.
    pub fn partitions(&self, topic: &str) -> anyhow::Result<Vec<PartitionState>> {
        let m = self.metadata_client()?.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let t = m.topics().first().with_context(|| format!("no metadata for {topic}"))?;
        anyhow::ensure!(t.error().is_none(), "metadata of {topic}: {:?}", t.error());
        let mut out: Vec<PartitionState> = t
            .partitions()
            .iter()
            .map(|p| PartitionState {
                partition: p.id(),
                leader: p.leader(),
                replicas: p.replicas().to_vec(),
                isr: p.isr().to_vec(),
            })
            .collect();
        out.sort_by_key(|p| p.partition);
        Ok(out)
    }

    /// The leader of one partition (-1 while it has none).
    pub fn leader(&self, topic: &str, partition: i32) -> anyhow::Result<i32> {
        self.partitions(topic)?
            .into_iter()
            .find(|p| p.partition == partition)
            .map(|p| p.leader)
            .with_context(|| format!("{topic} has no partition {partition}"))
    }

    /// The node that is the group coordinator of `group` now: Kafka places a group's offsets
    /// and state in partition `abs(groupId.hashCode()) % offsets.topic.num.partitions` of
    /// `__consumer_offsets`, and that partition's leader coordinates the group.
    pub fn coordinator(&self, group: &str) -> anyhow::Result<i32> {
        self.leader("__consumer_offsets", offsets_partition(group))
    }

    /// Waits until `check` holds, polling; `what` names it in the error.
    pub fn wait_until(
        &self,
        what: &str,
        mut check: impl FnMut(&Self) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + NODE_TIMEOUT;
        let mut last = String::new();
        loop {
            match check(self) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last = format!(" (last error: {e:#})"),
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "waited {}s until {what}{last}",
                NODE_TIMEOUT.as_secs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until every partition of `topic` has a leader and all its replicas in sync.
    pub fn wait_full_isr(&self, topic: &str) -> anyhow::Result<()> {
        self.wait_until(&format!("every partition of {topic} has a full ISR"), |c| {
            Ok(c.partitions(topic)?.iter().all(|p| p.leader >= 0 && p.isr.len() == p.replicas.len()))
        })
    }

    /// Creates a topic whose partition `i` has the replicas `assignment[i]`, in that order: the
    /// first is its preferred leader, and leads it once created.
    pub async fn create_topic(&self, topic: &str, assignment: &[Vec<i32>]) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", self.env.kafka_bootstrap()).create()?;
        let replicas: Vec<&[i32]> = assignment.iter().map(Vec::as_slice).collect();
        let new = NewTopic::new(topic, assignment.len() as i32, TopicReplication::Variable(&replicas));
        for r in admin.create_topics(&[new], &AdminOptions::new()).await? {
            r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
        }
        self.wait_until(&format!("{topic} is led as assigned"), |c| {
            let parts = c.partitions(topic)?;
            Ok(parts.len() == assignment.len()
                && parts.iter().zip(assignment).all(|(p, a)| p.leader == a[0] && p.isr.len() == a.len()))
        })
    }

    /// Moves the leadership of a partition to node `to`; see [`Self::move_leaders`].
    pub fn move_leader(&self, topic: &str, partition: i32, to: i32) -> anyhow::Result<()> {
        self.move_leaders(topic, &[(partition, to)])
    }

    /// Moves the leadership of partitions of `topic` (`(partition, to node)`) as an
    /// administrator does: a reassignment that only puts the node first among the same
    /// replicas (`kafka-reassign-partitions`), then a preferred-leader election
    /// (`kafka-leader-election`), both Kafka's own tools, one run each for all the partitions.
    /// Waits until the metadata shows the new leaders.
    pub fn move_leaders(&self, topic: &str, moves: &[(i32, i32)]) -> anyhow::Result<()> {
        let states = self.partitions(topic)?;
        let mut reassign = Vec::new();
        let mut elect = Vec::new();
        for &(partition, to) in moves {
            let state = states
                .iter()
                .find(|p| p.partition == partition)
                .with_context(|| format!("{topic} has no partition {partition}"))?;
            anyhow::ensure!(
                state.replicas.contains(&to),
                "node {to} holds no replica of {topic}/{partition}"
            );
            let mut replicas = vec![to];
            replicas.extend(state.replicas.iter().filter(|r| **r != to));
            reassign.push(serde_json::json!({"topic": topic, "partition": partition, "replicas": replicas}));
            elect.push(serde_json::json!({"topic": topic, "partition": partition}));
        }
        let s = unique_suffix();
        let (plan, election) =
            (self.dir.join(format!("reassign-{s}.json")), self.dir.join(format!("elect-{s}.json")));
        std::fs::write(&plan, serde_json::json!({"version": 1, "partitions": reassign}).to_string())?;
        std::fs::write(&election, serde_json::json!({"partitions": elect}).to_string())?;
        let bootstrap = self.env.kafka_bootstrap().to_string();
        self.tool(
            "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
            &[
                "--bootstrap-server",
                &bootstrap,
                "--reassignment-json-file",
                &plan.display().to_string(),
                "--execute",
            ],
        )?;
        self.wait_until(&format!("{topic} has the new replica orders"), |c| {
            let now = c.partitions(topic)?;
            Ok(moves
                .iter()
                .all(|(p, to)| now.iter().any(|s| s.partition == *p && s.replicas.first() == Some(to))))
        })?;
        self.tool(
            "org.apache.kafka.tools.LeaderElectionCommand",
            &[
                "--bootstrap-server",
                &bootstrap,
                "--election-type",
                "PREFERRED",
                "--path-to-json-file",
                &election.display().to_string(),
            ],
        )?;
        self.wait_until(&format!("the new leaders of {topic} lead"), |c| {
            let now = c.partitions(topic)?;
            Ok(moves.iter().all(|(p, to)| now.iter().any(|s| s.partition == *p && s.leader == *to)))
        })
    }

    /// Runs one of Kafka's command-line tools (its main class) against this cluster.
    pub fn tool(&self, class: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .jvm
            .command("256m")
            .arg(class)
            .args(args)
            .output()
            .with_context(|| format!("running {class}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        anyhow::ensure!(
            out.status.success(),
            "{class} {args:?} failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(stdout)
    }

    /// Where a partition's records end now (its high watermark), read_uncommitted.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> anyhow::Result<i64> {
        crate::dataplane::watermarks(&self.env, topic, partition).map(|(_, high)| high)
    }

    /// Every partition's high watermark, by partition.
    pub fn high_watermarks(&self, topic: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
        self.partitions(topic)?
            .iter()
            .map(|p| Ok((p.partition, self.high_watermark(topic, p.partition)?)))
            .collect()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let _ = signal(child, libc::SIGCONT);
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every node's settings besides its id, addresses and data directory.
const SETTINGS: &[(&str, &str)] = &[
    ("num.partitions", "3"),
    ("default.replication.factor", "3"),
    ("min.insync.replicas", "2"),
    ("offsets.topic.replication.factor", "3"),
    ("offsets.topic.num.partitions", "6"),
    ("transaction.state.log.replication.factor", "3"),
    ("transaction.state.log.min.isr", "2"),
    ("transaction.state.log.num.partitions", "6"),
    ("share.coordinator.state.topic.replication.factor", "3"),
    ("share.coordinator.state.topic.min.isr", "2"),
    ("unclean.leader.election.enable", "false"),
    ("auto.leader.rebalance.enable", "false"),
    // Fast failure detection: a silent broker is fenced (and loses its leaderships) after 4 s,
    // a follower that stopped fetching leaves the ISR after 4 s.
    ("broker.heartbeat.interval.ms", "500"),
    ("broker.session.timeout.ms", "4000"),
    ("replica.lag.time.max.ms", "4000"),
    // Few threads: three nodes share two cores with everything else.
    ("num.network.threads", "2"),
    ("num.io.threads", "2"),
    ("background.threads", "2"),
    ("log.cleaner.threads", "1"),
];

/// Java's `String.hashCode` (UTF-16 code units, wrapping `i32` arithmetic), which Kafka uses to
/// place a group in `__consumer_offsets`.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of a group (Kafka's `Utils.abs(hash) % partitions`, where
/// `abs(i32::MIN)` is 0).
fn offsets_partition(group: &str) -> i32 {
    let h = java_hash(group);
    (if h == i32::MIN { 0 } else { h.abs() }) % OFFSETS_PARTITIONS
}

#[cfg(test)]
mod tests {
    #[test]
    fn java_string_hash_matches_java() {
        // Values from Java's "…".hashCode().
        assert_eq!(super::java_hash(""), 0);
        assert_eq!(super::java_hash("a"), 97);
        assert_eq!(super::java_hash("hello"), 99162322);
        assert_eq!(super::java_hash("polygenelubricants"), i32::MIN);
        assert_eq!(super::offsets_partition("polygenelubricants"), 0);
    }
}
