//! A Kafka broker of a test's own: a second real single-node KRaft cluster, started from the
//! environment's Kafka distribution on free ports, for what must not happen to the shared broker
//! — stopping it (SIGSTOP) in the middle of a backup — or needs another cluster (another cluster
//! id backing up to the same location). Stopped and deleted when dropped.
//!
//! The pieces a Kafka node of a test's own is made of (free ports, the storage format, the JVM
//! command line, the wait for metadata, signals) are shared with the three-node cluster of
//! [`crate::cluster`].

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::env::TestEnv;
use crate::fixtures::unique_suffix;

/// The settings of [`PrivateBroker::start_with_authorizer`].
pub const AUTHORIZER: [(&str, &str); 2] = [
    ("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
    ("super.users", "User:ANONYMOUS"),
];

pub struct PrivateBroker {
    child: Child,
    dir: PathBuf,
    /// The environment with this broker as its Kafka: every data-plane helper works with it.
    pub env: TestEnv,
    /// The cluster id it was formatted with.
    pub cluster_id: String,
}

/// `n` distinct free ports: all bound at once, so the system cannot hand out one twice.
pub(crate) fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// A node's `server.properties` settings besides the ones every node of a test has.
pub(crate) fn server_properties(common: &str, settings: &[(&str, &str)]) -> String {
    format!(
        "{common}controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         auto.create.topics.enable=false\ngroup.initial.rebalance.delay.ms=0\n\
         log.segment.bytes=16777216\n{}",
        settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>()
    )
}

/// The Kafka distribution of the environment run as `java` with a heap limit and a quiet log
/// (warnings only: a node's log is read when it failed to start).
pub(crate) struct Jvm {
    kafka_home: String,
    log4j: PathBuf,
    /// More JVM options for the nodes (`-XX:...`).
    pub(crate) node_options: Vec<String>,
}

impl Jvm {
    /// Writes the log configuration into `dir`.
    pub(crate) fn new(env: &TestEnv, dir: &Path) -> anyhow::Result<Self> {
        let log4j = dir.join("log4j2.yaml");
        std::fs::write(
            &log4j,
            "Configuration:\n  Appenders:\n    Console: {name: STDOUT, PatternLayout: {pattern: \"[%d] %p %m (%c)%n\"}}\n  Loggers:\n    Root: {level: WARN, AppenderRef: [{ref: STDOUT}]}\n",
        )?;
        Ok(Self { kafka_home: env.get("KAFKA_HOME")?.to_string(), log4j, node_options: Vec::new() })
    }

    /// `java -Xmx<heap> -cp <kafka>/libs/* ...`, ready for a main class and its arguments.
    pub(crate) fn command(&self, heap: &str) -> Command {
        let mut c = Command::new("java");
        c.arg(format!("-Xmx{heap}"))
            .arg(format!("-Dlog4j2.configurationFile={}", self.log4j.display()))
            .arg("-cp")
            .arg(format!("{}/libs/*", self.kafka_home));
        c
    }

    /// Formats a node's log directories for `cluster_id` (Kafka's StorageTool).
    pub(crate) fn format_storage(&self, props: &Path, cluster_id: &str) -> anyhow::Result<()> {
        // A short-lived JVM: the quick compiler only, one GC thread.
        let format = self
            .command("256m")
            .args(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"])
            .args(["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c"])
            .arg(props)
            .output()
            .context("running Kafka's StorageTool")?;
        anyhow::ensure!(
            format.status.success(),
            "formatting {}: {}",
            props.display(),
            String::from_utf8_lossy(&format.stderr)
        );
        Ok(())
    }

    /// Starts a node (`kafka.Kafka props`), its output appended to `log`.
    pub(crate) fn start_node(&self, heap: &str, props: &Path, log: &Path) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        self.command(heap)
            .args(&self.node_options)
            .arg("kafka.Kafka")
            .arg(props)
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .context("starting a Kafka node")
    }
}

/// Waits until the cluster at `env`'s bootstrap lists at least `brokers` live brokers; on a
/// timeout the error holds the end of `log`.
pub(crate) fn wait_for_brokers(
    env: &TestEnv,
    brokers: usize,
    log: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", env.kafka_bootstrap()).create()?;
    let deadline = Instant::now() + timeout;
    loop {
        match consumer.fetch_metadata(None, Duration::from_secs(5)) {
            Ok(m) if m.brokers().len() >= brokers => return Ok(()),
            _ if Instant::now() > deadline => anyhow::bail!(
                "Kafka at {} did not list {brokers} broker(s) within {}s; {}: {}",
                env.kafka_bootstrap(),
                timeout.as_secs(),
                log.display(),
                crate::fixtures::last_lines(&std::fs::read_to_string(log).unwrap_or_default(), 20)
            ),
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Sends `signal` to a child process of the test.
pub(crate) fn signal(child: &Child, signal: libc::c_int) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(child.id())?;
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    let rc = unsafe { libc::kill(pid, signal) };
    anyhow::ensure!(rc == 0, "kill({pid}, {signal}): {}", std::io::Error::last_os_error());
    Ok(())
}

impl PrivateBroker {
    /// Formats and starts a broker and waits until it answers a metadata request (~10 s).
    pub fn start(env: &TestEnv) -> anyhow::Result<Self> {
        Self::start_with(env, &[])
    }

    /// [`Self::start`] with more broker settings (`server.properties` lines).
    pub fn start_with(env: &TestEnv, settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_advertising(env, settings, None)
    }

    /// [`Self::start`] with KRaft's `StandardAuthorizer`: ACLs are enforced, and the clients of
    /// the tests (`ANONYMOUS` on PLAINTEXT, also the broker itself on its controller listener)
    /// are super users, so they may describe and change everything — ACLs, quotas, SCRAM users.
    pub fn start_with_authorizer(env: &TestEnv) -> anyhow::Result<Self> {
        Self::start_with(env, &AUTHORIZER)
    }

    /// [`Self::start`] behind `proxy`: the broker advertises the proxy's address, so every
    /// client connection after the bootstrap goes through it (the proxy is pointed at the broker
    /// before it starts).
    pub fn start_behind(env: &TestEnv, proxy: &crate::proxy::Proxy) -> anyhow::Result<Self> {
        Self::start_advertising(env, &[], Some(proxy))
    }

    fn start_advertising(
        env: &TestEnv,
        settings: &[(&str, &str)],
        proxy: Option<&crate::proxy::Proxy>,
    ) -> anyhow::Result<Self> {
        let ports = free_ports(2)?;
        let (port, controller) = (ports[0], ports[1]);
        let advertised = match proxy {
            Some(p) => {
                p.retarget(&format!("127.0.0.1:{port}"));
                p.addr().to_string()
            }
            None => format!("127.0.0.1:{port}"),
        };
        let dir = std::env::temp_dir().join(format!("sbo-broker-{}", unique_suffix()));
        std::fs::create_dir_all(dir.join("data"))?;
        let props = dir.join("server.properties");
        let common = format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.1:{controller}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=PLAINTEXT://{advertised}\n\
             log.dirs={}\nnum.partitions=1\n\
             offsets.topic.replication.factor=1\noffsets.topic.num.partitions=3\n\
             transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
             share.coordinator.state.topic.replication.factor=1\nshare.coordinator.state.topic.min.isr=1\n",
            dir.join("data").display(),
        );
        std::fs::write(&props, server_properties(&common, settings))?;
        let jvm = Jvm::new(env, &dir)?;
        let cluster_id = uuid_base64()?;
        jvm.format_storage(&props, &cluster_id)?;
        let child = jvm.start_node("512m", &props, &dir.join("kafka.log"))?;
        let bootstrap = format!("127.0.0.1:{port}");
        let broker = Self { child, env: env.with_kafka(&bootstrap), dir, cluster_id };
        wait_for_brokers(&broker.env, 1, &broker.dir.join("kafka.log"), Duration::from_secs(90))?;
        Ok(broker)
    }

    /// Freezes the broker (SIGSTOP): connections stay open and nothing answers, as with a broker
    /// in a long GC pause or a hung host.
    pub fn freeze(&self) -> anyhow::Result<()> {
        signal(&self.child, libc::SIGSTOP)
    }

    /// Lets a frozen broker go on (SIGCONT).
    pub fn thaw(&self) -> anyhow::Result<()> {
        signal(&self.child, libc::SIGCONT)
    }

    /// Crashes the broker (SIGKILL: no clean shutdown, its logs recovered at start) and starts
    /// it again on the same data and ports; returns once it answers a metadata request.
    pub fn crash_and_restart(&mut self) -> anyhow::Result<()> {
        let _ = self.thaw();
        self.child.kill()?;
        self.child.wait()?;
        let jvm = Jvm::new(&self.env, &self.dir)?;
        self.child =
            jvm.start_node("512m", &self.dir.join("server.properties"), &self.dir.join("kafka.log"))?;
        wait_for_brokers(&self.env, 1, &self.dir.join("kafka.log"), Duration::from_secs(90))
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what
/// `kafka-storage.sh random-uuid` prints). Like Kafka's own, never one that starts with `-`,
/// which the storage tool would take for an option.
pub(crate) fn uuid_base64() -> anyhow::Result<String> {
    use base64::Engine;
    loop {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}
