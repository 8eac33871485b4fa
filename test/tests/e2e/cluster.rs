//! The data plane against a Kafka that fails like production (issue 13 §4): a three-node KRaft
//! cluster of the test's own (test/src/cluster.rs, replication factor 3, min.insync.replicas 2)
//! whose partition leaders restart and move, and whose group coordinator goes away, while a
//! backup reads, a restore writes, or offsets are committed. Every test checks records and
//! offsets exactly against what Kafka holds, not only that the run succeeded.
//!
//! Run these tests one at a time (`--test-threads=1`): each starts three JVMs, and two such
//! clusters at once on a 2-core machine slow each other past the tests' timeouts.
//!
//! To place a failure mid-run deterministically, the data-plane process is frozen (SIGSTOP)
//! once it has observably made progress (a stored segment, restored records in the target),
//! the cluster is changed, and the process is let go on (SIGCONT): it then meets the change
//! with connections and metadata from before it, as a running Job does.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::ObjectStore;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use strimzi_backup_e2e::cluster::PrivateCluster;
use strimzi_backup_e2e::dataplane::{
    base_config, commit, committed, consume_all, minio, read_backup, recent, result_line, run_ok, signal,
    spawn, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::record::Record;

/// Records per partition of the topics backed up: a backup of three partitions reads for long
/// enough (tens of MB) to be frozen mid-way.
const PER_PARTITION: usize = 100_000;

/// Produces `n` records to each of `partitions` partitions as fast as the cluster takes them
/// (acks=all, idempotent): key `p<partition>-<i>`, values of 50 to 650 bytes.
async fn fill(env: &TestEnv, topic: &str, partitions: i32, n: usize) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.size", "1048576")
        .set("queue.buffering.max.messages", "200000")
        .create()?;
    let base = recent();
    let mut pending = std::collections::VecDeque::new();
    for i in 0..n {
        for p in 0..partitions {
            let key = format!("p{p}-{i}");
            let value = vec![b'a' + (i % 26) as u8; 50 + (i * 7 + p as usize) % 600];
            let mut rec =
                FutureRecord::to(topic).partition(p).key(&key).payload(&value).timestamp(base + i as i64);
            loop {
                match producer.send_result(rec) {
                    Ok(delivery) => {
                        pending.push_back(delivery);
                        break;
                    }
                    // The producer's queue is full: let the oldest delivery finish first.
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        back,
                    )) => {
                        rec = back;
                        match pending.pop_front() {
                            Some(d) => {
                                d.await?.map_err(|(e, _)| e)?;
                            }
                            None => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
        }
    }
    for d in pending {
        d.await?.map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// Every record of every partition as a read_committed consumer sees it now.
fn read_topic(env: &TestEnv, topic: &str, partitions: i32) -> anyhow::Result<BTreeMap<i32, Vec<Record>>> {
    (0..partitions).map(|p| Ok((p, consume_all(env, topic, p)?))).collect()
}

/// Every record of a partition up to its high watermark as a read_uncommitted consumer sees it:
/// records of aborted transactions included.
fn read_uncommitted(env: &TestEnv, topic: &str, partition: i32) -> anyhow::Result<Vec<Record>> {
    let high = strimzi_backup_e2e::dataplane::watermarks(env, topic, partition)?.1;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("group.id", format!("e2e-uncommitted-{}", unique_suffix()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_uncommitted")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    loop {
        let position = consumer.position()?.elements().first().and_then(|e| e.offset().to_raw());
        if high == 0 || position.is_some_and(|p| p >= high) {
            return Ok(out);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{topic}/{partition}: read {} records uncommitted",
            out.len()
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(msg)) => out.push(strimzi_backup_operator::kafka::to_record(&msg)),
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
}

/// What a failed data-plane run said: its result line and its log without librdkafka's
/// connection noise.
fn failure(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = std::env::temp_dir().join(format!("sbo-cluster-failure-{}.log", unique_suffix()));
    let _ = std::fs::write(&file, &out.stderr);
    let log: Vec<&str> = stderr.lines().filter(|l| !l.contains("librdkafka")).collect();
    let stdout = String::from_utf8_lossy(&out.stdout);
    format!(
        "{} (whole log: {})\nresult: {}\n{}",
        out.status,
        file.display(),
        stdout.lines().last().unwrap_or_default(),
        log[log.len().saturating_sub(25)..].join("\n")
    )
}

/// Fails naming the first difference (a diff of 100,000 records would be unreadable).
fn same_records(what: &str, got: &[Record], want: &[Record]) -> anyhow::Result<()> {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        anyhow::bail!("{what}: record {i} differs: got {:?}, want {:?}", brief(&got[i]), brief(&want[i]));
    }
    anyhow::ensure!(got.len() == want.len(), "{what}: {} records, want {}", got.len(), want.len());
    Ok(())
}

fn brief(r: &Record) -> String {
    format!("offset {} key {:?}", r.offset, r.key.as_deref().map(String::from_utf8_lossy))
}

/// Waits until the backup `id` under `prefix` has stored a segment.
async fn wait_for_segment(
    store: &impl ObjectStore,
    prefix: &str,
    id: &str,
    child: &mut Child,
) -> anyhow::Result<()> {
    let path = object_store::path::Path::from(format!("{prefix}backups/{id}/segments"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listed: Vec<_> = store.list(Some(&path)).try_collect().await?;
        if !listed.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(child.try_wait()?.is_none(), "the backup ended before it stored a segment");
        anyhow::ensure!(Instant::now() < deadline, "the backup stored no segment in 120 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A backup frozen (SIGSTOP) mid-way through a topic of three partitions that node 1 leads.
struct FrozenBackup {
    cluster: PrivateCluster,
    child: Child,
    topic: String,
    prefix: String,
    id: String,
    /// The topic as Kafka holds it (nothing is produced to it once the backup started, so this
    /// is exactly what the backup's cut holds).
    source: BTreeMap<i32, Vec<Record>>,
}

async fn frozen_backup(env: &TestEnv) -> anyhow::Result<FrozenBackup> {
    let t = Instant::now();
    let cluster = PrivateCluster::start(env)?;
    eprintln!("cluster started in {:?}", t.elapsed());
    let s = unique_suffix();
    let topic = format!("cl{s}");
    cluster.create_topic(&topic, &[vec![1, 2, 3], vec![1, 3, 2], vec![1, 2, 3]]).await?;
    let filled = Instant::now();
    fill(&cluster.env, &topic, 3, PER_PARTITION).await?;
    eprintln!("produced {} records in {:?}", 3 * PER_PARTITION, filled.elapsed());
    let t = Instant::now();
    let source = read_topic(&cluster.env, &topic, 3)?;
    eprintln!("read back in {:?}", t.elapsed());
    for (p, records) in &source {
        assert_eq!(records.len(), PER_PARTITION, "{topic}/{p} as produced");
    }
    let prefix = format!("e2e-cluster-{s}/");
    let id = format!("cl-{s}");
    let config = format!(
        "{}topics: {{include: [\"{topic}\"]}}\nbackup: {{compression: none, segmentSize: 1048576}}\n",
        base_config(&cluster.env, &prefix, None)?
    );
    let t = Instant::now();
    let mut child = spawn(&cluster.env, "backup", &config, &["--backup-id", &id])?;
    wait_for_segment(&minio(env)?, &prefix, &id, &mut child).await?;
    eprintln!("first segment after {:?}", t.elapsed());
    signal(child.id(), libc::SIGSTOP)?;
    anyhow::ensure!(child.try_wait()?.is_none(), "the backup ended before it could be frozen mid-way");
    Ok(FrozenBackup { cluster, child, topic, prefix, id, source })
}

/// Lets a frozen backup go on, waits for it and checks it holds exactly the topic: every
/// record, field for field at its offset, up to a cut at the partition's end.
async fn finish_backup(
    env: &TestEnv,
    b: FrozenBackup,
    more: impl FnOnce(&mut PrivateCluster) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let FrozenBackup { mut cluster, child, topic, prefix, id, source } = b;
    signal(child.id(), libc::SIGCONT)?;
    let t = Instant::now();
    more(&mut cluster)?;
    eprintln!("cluster changes after thawing took {:?}", t.elapsed());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    eprintln!("backup ended {:?} after thawing", t.elapsed());
    anyhow::ensure!(out.status.success(), "the backup failed: {}", failure(&out));
    let result = result_line(&out.stdout)?;
    assert_eq!(result["records"], 3 * PER_PARTITION as u64, "{result}");
    let t = Instant::now();
    let (manifest, stored) = read_backup(&minio(env)?, &prefix, &id).await?;
    eprintln!("backup read in {:?}", t.elapsed());
    let entry = manifest.topics.iter().find(|t| t.name == topic).expect("the topic is in the manifest");
    for p in &entry.partitions {
        let want = &source[&p.partition];
        assert_eq!(p.end_offset, want.last().map_or(0, |r| r.offset + 1), "{topic}/{}: the cut", p.partition);
        same_records(
            &format!("{topic}/{} in the backup", p.partition),
            &stored[&(topic.clone(), p.partition)],
            want,
        )?;
    }
    assert_eq!(entry.partitions.len(), 3);
    Ok(())
}

#[ignore = "three JVMs of its own: run one at a time in the serial pass of `make e2e`"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_reads_every_record_to_its_cut_across_a_restart_of_the_leader() -> anyhow::Result<()> {
    let started = Instant::now();
    let env = TestEnv::load()?;
    let mut backup = frozen_backup(&env).await?;
    let topic = backup.topic.clone();
    // Node 1 leads every partition being read; it shuts down (SIGTERM) while the backup is frozen.
    let t = Instant::now();
    backup.cluster.stop(1)?;
    eprintln!("node 1 stopped in {:?}", t.elapsed());
    let moved = backup.cluster.partitions(&topic)?;
    assert!(moved.iter().all(|p| p.leader != 1 && p.leader > 0), "leaders moved off node 1: {moved:?}");
    // The backup goes on against the new leaders while node 1 starts again on its data.
    finish_backup(&env, backup, |cluster| {
        cluster.start_node(1)?;
        cluster.wait_full_isr(&topic)
    })
    .await?;
    eprintln!("wall time {:?}", started.elapsed());
    Ok(())
}

#[ignore = "three JVMs of its own: run one at a time in the serial pass of `make e2e`"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_follows_leaders_moved_by_a_preferred_leader_election() -> anyhow::Result<()> {
    let started = Instant::now();
    let env = TestEnv::load()?;
    let backup = frozen_backup(&env).await?;
    let topic = backup.topic.clone();
    // While the backup is frozen mid-read, an administrator moves every partition's leader off
    // node 1, the node the backup was fetching from.
    let t = Instant::now();
    backup.cluster.move_leaders(&topic, &[(0, 2), (1, 3), (2, 2)])?;
    eprintln!("leaders moved in {:?}", t.elapsed());
    let leaders: Vec<i32> = backup.cluster.partitions(&topic)?.iter().map(|p| p.leader).collect();
    assert_eq!(leaders, [2, 3, 2]);
    finish_backup(&env, backup, |_| Ok(())).await?;
    eprintln!("wall time {:?}", started.elapsed());
    Ok(())
}

/// Records per partition of the topic restored.
const RESTORED: usize = 40_000;

/// Where the record with `key` sits in `records`.
fn offset_of_key(records: &[Record], key: &[u8]) -> Option<i64> {
    records.iter().find(|r| r.key.as_deref() == Some(key)).map(|r| r.offset)
}

#[ignore = "three JVMs of its own: run one at a time in the serial pass of `make e2e`"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_writes_every_record_once_across_a_restarted_leader_a_moved_leader_and_coordinator()
-> anyhow::Result<()> {
    let started = Instant::now();
    let env = TestEnv::load()?;
    let mut cluster = PrivateCluster::start(&env)?;
    let s = unique_suffix();
    let (source, target, group) = (format!("rs{s}"), format!("rs{s}-restored"), format!("rs-group-{s}"));
    cluster.create_topic(&source, &[vec![1, 2, 3], vec![2, 3, 1], vec![3, 1, 2]]).await?;
    fill(&cluster.env, &source, 3, RESTORED).await?;
    let want = read_topic(&cluster.env, &source, 3)?;
    // The group stands on a record mid-partition on 0 and 1, at the end of 2.
    let stands = [(0, 1_234), (1, 30_001), (2, RESTORED as i64)];
    for (p, offset) in stands {
        commit(&cluster.env, &group, &source, p, offset)?;
    }
    let prefix = format!("e2e-cluster-rs-{s}/");
    let base = base_config(&cluster.env, &prefix, None)?;
    run_ok(
        &cluster.env,
        "backup",
        &format!("{base}topics: {{include: [\"{source}\"]}}\nconsumerGroups: {{include: [\"{group}\"]}}\n"),
        &[],
    )?;

    // The restored group's name is chosen so that its coordinator is node 1, the node that
    // will be stopped mid-restore: the restore then commits the translated offsets to a
    // coordinator that moved while it ran.
    let target_group = (0..)
        .map(|i| format!("{group}-dr{i}"))
        .find(|g| cluster.coordinator(g).is_ok_and(|c| c == 1))
        .expect("some name lands on node 1");
    let config = format!(
        "{base}topics: {{include: [\"{source}\"]}}\ntopicMapping:\n  - sourceTopic: {source}\n    targetTopic: {target}\n\
         consumerGroups:\n  mapping:\n    - sourceGroup: {group}\n      targetGroup: {target_group}\n"
    );
    let t = Instant::now();
    let child = spawn(&cluster.env, "restore", &config, &["--restore-id", &format!("rs-{s}")])?;
    // Frozen once records reach the target (in a transaction not yet committed, or committed).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let written = cluster.high_watermarks(&target).map(|w| w.values().sum::<i64>()).unwrap_or(0);
        if written > 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the restore wrote nothing in 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(child.id(), libc::SIGSTOP)?;
    let written: i64 = cluster.high_watermarks(&target)?.values().sum();
    eprintln!("restore frozen after {:?} with {written} offsets written", t.elapsed());
    anyhow::ensure!(written < 3 * RESTORED as i64, "the restore was done before it could be frozen");
    // While the restore is frozen: an administrator moves partition 1's leader, and node 1 (a
    // leader of the target, maybe the transaction coordinator, and the restored group's
    // coordinator) shuts down; the restore goes on while node 1 starts again.
    let leader = cluster.leader(&target, 0)?;
    let p1 = cluster.leader(&target, 1)?;
    let to = [2, 3].into_iter().find(|n| *n != p1).expect("another node");
    cluster.move_leader(&target, 1, to)?;
    cluster.stop(1)?;
    signal(child.id(), libc::SIGCONT)?;
    cluster.start_node(1)?;
    cluster.wait_full_isr(&target)?;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    eprintln!("restore ended {:?} after it started; target/0 was led by {leader}", t.elapsed());
    anyhow::ensure!(out.status.success(), "the restore failed: {}", failure(&out));
    let result = result_line(&out.stdout)?;
    assert_eq!(result["restoredRecords"], 3 * RESTORED as u64, "{result}");
    assert_eq!(result["consumerGroupsRestored"], 1, "{result}");

    for p in 0..3 {
        let committed_view = consume_all(&cluster.env, &target, p)?;
        same_records(
            &format!("{target}/{p} read_committed"),
            &without_offsets(&committed_view),
            &without_offsets(&want[&p]),
        )?;
        let uncommitted = read_uncommitted(&cluster.env, &target, p)?;
        eprintln!(
            "{target}/{p}: {} records read_committed, {} read_uncommitted",
            committed_view.len(),
            uncommitted.len()
        );
        same_records(&format!("{target}/{p} read_uncommitted"), &uncommitted, &committed_view)?;
        // The group resumes on the same record it stood on in the source (or at the end).
        let (_, at) = stands[p as usize];
        let expected = match want[&p].iter().find(|r| r.offset == at) {
            Some(r) => offset_of_key(&committed_view, r.key.as_deref().unwrap_or_default()),
            None => Some(strimzi_backup_e2e::dataplane::watermarks(&cluster.env, &target, p)?.1),
        };
        assert_eq!(
            committed(&cluster.env, &target_group, &target, p)?,
            expected,
            "{target_group} on {target}/{p}"
        );
    }
    eprintln!("wall time {:?}", started.elapsed());
    Ok(())
}

/// Fails today: `offset-reset` first asks whether the group has live members
/// (`groups::busy`, librdkafka's group list, which asks every broker), and a broker that hangs
/// fails that question with BrokerTransportFailure after ~10 s: the group is reported Failed
/// (exit 1, nothing committed) although its new coordinator answers. Run with `--ignored`.
#[ignore = "KNOWN FAILING (a hung broker fails offset-reset's live-member check, groups::busy): `make e2e` skips it by name"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_reset_commits_exactly_while_the_group_coordinator_hangs_and_moves() -> anyhow::Result<()> {
    let started = Instant::now();
    let env = TestEnv::load()?;
    let mut cluster = PrivateCluster::start(&env)?;
    let s = unique_suffix();
    let (topic, group) = (format!("or{s}"), format!("or-group-{s}"));
    cluster.create_topic(&topic, &[vec![1, 2, 3], vec![2, 3, 1]]).await?;
    fill(&cluster.env, &topic, 2, 100).await?;
    commit(&cluster.env, &group, &topic, 0, 40)?;
    commit(&cluster.env, &group, &topic, 1, 10)?;
    let coordinator = cluster.coordinator(&group)?;
    // The helper's answer is Kafka's own: kafka-consumer-groups names the coordinator.
    let described = cluster.tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        &["--bootstrap-server", cluster.env.kafka_bootstrap(), "--describe", "--group", &group, "--state"],
    )?;
    assert!(described.contains(&format!("({coordinator})")), "coordinator {coordinator}: {described}");

    // The coordinator hangs (SIGSTOP) as the reset starts: its requests go unanswered until the
    // controller fences the node and another takes the group over.
    cluster.pause(coordinator)?;
    let t = Instant::now();
    let config = format!(
        "kafka: {{bootstrapServers: '{}'}}\nconsumerGroups: [{group}]\ntopics: ['{topic}']\nresetStrategy: to-offset\nresetOffset: 75\n",
        cluster.env.kafka_bootstrap()
    );
    let out = strimzi_backup_e2e::dataplane::run(&cluster.env, "offset-reset", &config, &[]);
    cluster.resume(coordinator)?;
    let out = out?;
    eprintln!("offset-reset took {:?} with the coordinator {coordinator} frozen", t.elapsed());
    anyhow::ensure!(out.status.success(), "offset-reset failed: {}", failure(&out));
    let result = result_line(&out.stdout)?;
    assert_eq!(result["groupsReset"], 1, "{result}");
    // The node just woken still believes for a moment that it leads what it led: its metadata
    // and its offsets cache are stale until it has caught up with the controller, and a client
    // that asks it reads the old offsets (seen: 40 here). So wait until the cluster agrees the
    // group moved (the node was frozen well past the session timeout: it was fenced, and with
    // leader rebalancing off the group stays where it went), then read what the new coordinator
    // holds.
    cluster.wait_until("the cluster names another coordinator of the group", |c| {
        Ok(c.coordinator(&group)? != coordinator)
    })?;
    // Partition 1 has 100 records: 75 on both.
    cluster.wait_until("the committed offsets read 75 on both partitions", |c| {
        Ok(committed(&c.env, &group, &topic, 0)? == Some(75)
            && committed(&c.env, &group, &topic, 1)? == Some(75))
    })?;
    eprintln!("wall time {:?}", started.elapsed());
    Ok(())
}

#[ignore = "three JVMs of its own: run one at a time in the serial pass of `make e2e`"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_reset_commits_exactly_with_the_group_coordinator_shut_down() -> anyhow::Result<()> {
    let started = Instant::now();
    let env = TestEnv::load()?;
    let mut cluster = PrivateCluster::start(&env)?;
    let s = unique_suffix();
    let (topic, group) = (format!("or{s}"), format!("or-group-{s}"));
    cluster.create_topic(&topic, &[vec![1, 2, 3], vec![2, 3, 1]]).await?;
    fill(&cluster.env, &topic, 2, 100).await?;
    commit(&cluster.env, &group, &topic, 0, 40)?;
    commit(&cluster.env, &group, &topic, 1, 10)?;
    let coordinator = cluster.coordinator(&group)?;
    // The helper's answer is Kafka's own: kafka-consumer-groups names the coordinator.
    let described = cluster.tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        &["--bootstrap-server", cluster.env.kafka_bootstrap(), "--describe", "--group", &group, "--state"],
    )?;
    assert!(described.contains(&format!("({coordinator})")), "coordinator {coordinator}: {described}");

    // The coordinator was shut down (SIGTERM) just before: another node took the group over.
    cluster.stop(coordinator)?;
    let t = Instant::now();
    let config = format!(
        "kafka: {{bootstrapServers: '{}'}}\nconsumerGroups: [{group}]\ntopics: ['{topic}']\nresetStrategy: to-offset\nresetOffset: 75\n",
        cluster.env.kafka_bootstrap()
    );
    let out = strimzi_backup_e2e::dataplane::run(&cluster.env, "offset-reset", &config, &[]);
    let out = out?;
    eprintln!("offset-reset took {:?} with the coordinator {coordinator} shut down", t.elapsed());
    anyhow::ensure!(out.status.success(), "offset-reset failed: {}", failure(&out));
    let result = result_line(&out.stdout)?;
    assert_eq!(result["groupsReset"], 1, "{result}");
    let moved_to = cluster.coordinator(&group)?;
    assert_ne!(moved_to, coordinator, "the group's coordinator moved");
    // Partition 1 has 100 records: 75 on both.
    assert_eq!(committed(&cluster.env, &group, &topic, 0)?, Some(75));
    assert_eq!(committed(&cluster.env, &group, &topic, 1)?, Some(75));
    eprintln!("wall time {:?}", started.elapsed());
    Ok(())
}
