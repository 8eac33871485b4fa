//! Failures in the middle of a run: a backup killed with SIGKILL leaves no visible backup (and a
//! later backup removes what it left), and storage that goes away for a while is waited out by
//! backup and restore alike.

use std::time::{Duration, Instant};

use strimzi_backup_e2e::dataplane::objects_under;
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, minio, produce, recent, records, run_err, run_ok, sigkill, spawn,
    without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_e2e::proxy::Proxy;
use strimzi_backup_operator::format::record::Record;

/// Records of about 1 KiB, enough of them that a run takes a few seconds.
async fn fill(
    env: &TestEnv,
    topic: &str,
    partitions: i32,
    per_partition: usize,
) -> anyhow::Result<Vec<Vec<Record>>> {
    create_topic(env, topic, partitions, &[]).await?;
    let mut all = Vec::new();
    for p in 0..partitions {
        let recs: Vec<Record> = records(topic, p, per_partition, recent())
            .into_iter()
            .map(|mut r| {
                r.value = Some(bytes::Bytes::from(format!("{:01024}", r.timestamp)));
                r
            })
            .collect();
        produce(env, topic, p, &recs).await?;
        all.push(recs);
    }
    Ok(all)
}

/// Every partition of `target` holds the records of `want`'s partition of the same number.
fn assert_restored(env: &TestEnv, target: &str, want: &[Vec<Record>]) -> anyhow::Result<()> {
    for (p, recs) in want.iter().enumerate() {
        assert_eq!(
            without_offsets(&consume_all(env, target, p as i32)?),
            without_offsets(recs),
            "partition {p}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_killed_backup_is_invisible_and_cleaned_up_by_the_next() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-killed-{s}/");
    let topic = format!("kb{s}");
    let want = fill(&env, &topic, 4, 10_000).await?;
    let config = |extra: &str| -> anyhow::Result<String> {
        Ok(format!(
            "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  segmentSize: 1048576\n  parallelism: 2\n{extra}",
            base_config(&env, &prefix, None)?
        ))
    };
    let killed = format!("killed-{s}");
    let mut child = spawn(&env, "backup", &config("")?, &["--backup-id", &killed])?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let segments = objects_under(&store, &format!("{prefix}backups/{killed}/segments/")).await?;
        if !segments.is_empty() {
            break;
        }
        anyhow::ensure!(child.try_wait()?.is_none(), "the backup ended before it was killed");
        anyhow::ensure!(Instant::now() < deadline, "no segment was ever written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigkill(&mut child)?;
    let left = objects_under(&store, &format!("{prefix}backups/{killed}/")).await?;
    assert!(!left.is_empty(), "the killed run wrote segments");
    assert!(!left.iter().any(|o| o.ends_with("manifest.json")), "{left:?}");

    // Nothing sees it: verify and restore find no backup at all.
    let nothing = run_err(&env, "verify", &config("")?, &[])?;
    assert!(nothing.contains("no backup in"), "{nothing}");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {topic}-restored\n",
        base_config(&env, &prefix, None)?
    );
    let nothing = run_err(&env, "restore", &restore, &[])?;
    assert!(nothing.contains("no backup in"), "{nothing}");

    // The next backup is complete on its own and removes what the killed one left.
    let result = run_ok(&env, "backup", &config("orphanGracePeriod: 0s\n")?, &[])?;
    assert_eq!(result["records"], 40_000);
    assert!(objects_under(&store, &format!("{prefix}backups/{killed}/")).await?.is_empty());
    run_ok(&env, "restore", &restore, &[])?;
    assert_restored(&env, &format!("{topic}-restored"), &want)?;
    Ok(())
}

// The proxy runs on this runtime while the test waits for child processes: two worker threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_outages_during_backup_and_restore_are_waited_out() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-outage-{s}/");
    let topic = format!("ou{s}");
    let want = fill(&env, &topic, 2, 8_000).await?;
    let minio_addr = env.get("MINIO_ENDPOINT")?.trim_start_matches("http://").to_string();
    let proxy = Proxy::start(&minio_addr).await?;
    let store = minio(&env)?;

    // Backup: the storage goes away once the first segments are being written, for 8 seconds.
    let config = format!(
        "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  segmentSize: 1048576\n",
        base_config(&env, &prefix, Some(&proxy.url()))?
    );
    let child = spawn(&env, "backup", &config, &[])?;
    first_segment_stored(&store, &prefix).await?;
    proxy.cut().await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let refused_during_backup = proxy.refused();
    proxy.heal();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the backup must ride out the outage: {log}");
    assert!(refused_during_backup > 0, "the backup kept trying during the outage");
    let result: serde_json::Value = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    assert_eq!(result["records"], 16_000);
    let verified = run_ok(&env, "verify", &config, &[])?;
    assert_eq!(verified["records"], 16_000);

    // Restore: the storage goes away once records are flowing.
    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\nrestore:\n  parallelism: 1\n",
        base_config(&env, &prefix, Some(&proxy.url()))?
    );
    let child = spawn(&env, "restore", &restore, &[])?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while strimzi_backup_e2e::dataplane::watermarks(&env, &target, 0).map_or(0, |w| w.1) == 0 {
        anyhow::ensure!(Instant::now() < deadline, "the restore never started writing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = proxy.refused();
    proxy.cut().await;
    // The restore must run into the outage (not have read everything before it): wait until
    // the proxy has turned it away, then keep the storage away a while longer.
    let deadline = Instant::now() + Duration::from_secs(120);
    while proxy.refused() == before {
        anyhow::ensure!(Instant::now() < deadline, "the restore never reached the storage during the outage");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let refused_during_restore = proxy.refused() - before;
    proxy.heal();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    assert!(
        out.status.success(),
        "the restore must ride out the outage: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(refused_during_restore > 0);
    assert_restored(&env, &target, &want)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_during_a_backup_are_recorded_as_a_gap() -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-deleted-{s}/");
    let topic = format!("dl{s}");
    create_topic(&env, &topic, 1, &[]).await?;
    // 120 MiB: more than the consumer prefetches (64 MiB), so the deletion lands ahead of it.
    let recs: Vec<Record> = records(&topic, 0, 1200, recent())
        .into_iter()
        .map(|mut r| {
            r.value = Some(bytes::Bytes::from(vec![b'r'; 100 * 1024]));
            r
        })
        .collect();
    produce(&env, &topic, 0, &recs).await?;
    let config = format!(
        "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  compression: none\n  segmentSize: 1048576\n",
        base_config(&env, &prefix, None)?
    );
    let child = spawn(&env, "backup", &config, &[])?;
    first_segment_stored(&store, &prefix).await?;
    // What retention does: the log start moves past records the backup has not read yet.
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", env.kafka_bootstrap()).create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(1100))?;
    admin.delete_records(&tpl, &AdminOptions::new()).await?;

    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let result: serde_json::Value = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    let (manifest, got) = strimzi_backup_e2e::dataplane::read_backup(
        &store,
        &prefix,
        result["backupId"].as_str().unwrap_or_default(),
    )
    .await?;
    let p = &manifest.topics[0].partitions[0];
    let gap = p
        .gaps
        .iter()
        .find(|g| g.reason == strimzi_backup_operator::format::manifest::GapReason::RetentionDeleted)
        .ok_or_else(|| anyhow::anyhow!("no retention gap: {:?} ({log})", p.gaps))?;
    assert_eq!(gap.to, 1100);
    assert!(gap.from > 0 && gap.from < 1100, "{gap:?}");
    // Everything before the gap and everything after it, exactly.
    let want: Vec<Record> = recs.into_iter().filter(|r| r.offset < gap.from || r.offset >= 1100).collect();
    assert_eq!(got[&(topic.clone(), 0)], want);
    Ok(())
}

/// Storage that drops every connection again and again (a flapping load balancer): each cut may
/// land between a request being served and its answer arriving, so a retried request meets the
/// effect of its first try (an upload already completed). The backup still commits every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_through_storage_that_keeps_dropping_connections_commits_every_record() -> anyhow::Result<()>
{
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-flap-{s}/");
    let topic = format!("fl{s}");
    let want = fill(&env, &topic, 2, 12_000).await?;
    let minio_addr = env.get("MINIO_ENDPOINT")?.trim_start_matches("http://").to_string();
    let proxy = Proxy::start(&minio_addr).await?;
    let config = format!(
        "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  compression: none\n  segmentSize: 262144\n",
        base_config(&env, &prefix, Some(&proxy.url()))?
    );
    let child = spawn(&env, "backup", &config, &[])?;
    // Its output is read while it runs: every cut logs retries, more than a pipe holds.
    let run = tokio::task::spawn_blocking(move || child.wait_with_output());
    let mut cuts = 0u32;
    while !run.is_finished() {
        tokio::time::sleep(Duration::from_millis(40 + u64::from(cuts % 7) * 23)).await;
        proxy.cut().await;
        cuts += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        proxy.heal();
    }
    let out = run.await??;
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "after {cuts} cuts: {log}");
    let result: serde_json::Value = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    assert_eq!(result["records"], 24_000, "{result}");
    let verified = run_ok(&env, "verify", &config, &[])?;
    assert_eq!(verified["records"], 24_000, "{verified}");
    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n",
        base_config(&env, &prefix, None)?
    );
    run_ok(&env, "restore", &restore, &[])?;
    assert_restored(&env, &target, &want)?;
    Ok(())
}

/// Waits (at most 300 s) until a backup at `prefix` stored its first segment. A segment, not any
/// object: the cluster metadata (`cluster-metadata.json`) is stored before the first record is
/// read, so what a test does after it alone can come before the backup read anything.
async fn first_segment_stored(store: &impl object_store::ObjectStore, prefix: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !objects_under(store, &format!("{prefix}backups/")).await?.iter().any(|o| o.ends_with(".kbseg")) {
        anyhow::ensure!(Instant::now() < deadline, "no segment was ever written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
