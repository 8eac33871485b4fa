//! The world changing under a backup (issue 12): a broker that stops answering in the middle of
//! a read, a topic deleted and created again between two backups, another cluster backing up to
//! the same location. Tests that freeze a broker or need a second cluster start a Kafka broker
//! of their own (test/src/broker.rs), so they touch no other test.

use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use strimzi_backup_e2e::broker::PrivateBroker;
use strimzi_backup_e2e::dataplane::objects_under;
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, delete_topic, minio, produce, recent, records, run_ok, spawn,
    without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_e2e::proxy::Proxy;

/// Produces `n` records of about 1 KiB to partition 0 as fast as the broker takes them.
async fn fill_fast(env: &TestEnv, topic: &str, n: usize) -> anyhow::Result<()> {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("linger.ms", "20")
        .set("batch.size", "1048576")
        .create()?;
    let value = vec![b'x'; 1000];
    let base = recent();
    let mut pending = std::collections::VecDeque::with_capacity(n);
    for i in 0..n {
        let key = format!("k{i}");
        let mut rec =
            FutureRecord::to(topic).partition(0).key(&key).payload(&value).timestamp(base + i as i64);
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
                        Some(p) => {
                            p.await?.map_err(|(e, _)| e)?;
                        }
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    for p in pending {
        p.await?.map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// A backup of a partition far larger than the client prefetches (120,000 × 1 KiB) on a broker
/// of its own, frozen once the backup has stored its first segment. `backup` is the backup
/// block's extra settings.
async fn backup_on_a_frozen_broker(env: &TestEnv, prefix: &str, backup: &str) -> anyhow::Result<Frozen> {
    let broker = PrivateBroker::start(env)?;
    let Started { child, config, id, topic } = big_backup_started(&broker.env, prefix, backup).await?;
    broker.freeze()?;
    Ok(Frozen { broker, child, config, id, topic })
}

/// A backup of [`STALLED_RECORDS`] records (one partition) started and seen storing its first
/// segment.
struct Started {
    child: std::process::Child,
    config: String,
    id: String,
    topic: String,
}

async fn big_backup_started(env: &TestEnv, prefix: &str, backup: &str) -> anyhow::Result<Started> {
    let s = unique_suffix();
    let topic = format!("stall{s}");
    create_topic(env, &topic, 1, &[]).await?;
    fill_fast(env, &topic, STALLED_RECORDS).await?;
    let config = format!(
        "{}topics: {{include: [\"{topic}\"]}}\nbackup: {{compression: none, segmentSize: 1048576{backup}}}\n",
        base_config(env, prefix, None)?
    );
    let id = format!("frozen-{s}");
    let store = minio(env)?;
    let child = spawn(env, "backup", &config, &["--backup-id", &id])?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while objects_under(&store, &format!("{prefix}backups/{id}/segments/")).await?.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "the backup wrote no segment in 120 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Started { child, config, id, topic })
}

/// A backup running against a frozen broker.
struct Frozen {
    /// To thaw.
    broker: PrivateBroker,
    child: std::process::Child,
    config: String,
    id: String,
    topic: String,
}

const STALLED_RECORDS: usize = 120_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_frozen_for_45s_mid_backup_is_waited_out_and_the_backup_reaches_its_cut()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let prefix = format!("e2e-stall-{}/", unique_suffix());
    let Frozen { broker, child, config, id, .. } = backup_on_a_frozen_broker(&env, &prefix, "").await?;
    tokio::time::sleep(Duration::from_secs(45)).await;
    broker.thaw()?;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the backup failed: {stderr}");
    let result = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    // Every record up to the cut, which is the whole partition: nothing was produced after.
    assert_eq!(result["records"], STALLED_RECORDS as u64, "committed short of its cut: {result}\n{stderr}");
    assert!(stderr.contains("still waiting"), "the stall was seen and waited out: {stderr}");
    let verified = run_ok(&broker.env, "verify", &config, &["--backup-id", &id])?;
    assert_eq!(verified["records"], STALLED_RECORDS as u64, "{verified}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_frozen_longer_than_the_stall_timeout_fails_the_backup_naming_the_partition()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let prefix = format!("e2e-stall-short-{}/", unique_suffix());
    let Frozen { broker, child, id, topic, .. } =
        backup_on_a_frozen_broker(&env, &prefix, ", stallTimeout: 10s").await?;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    broker.thaw()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a backup short of its cut must not succeed: {stderr}");
    assert!(stderr.contains(&format!("{topic}/0: no record for")), "names the partition: {stderr}");
    assert!(stderr.contains("stallTimeout"), "says what to change: {stderr}");
    let store = minio(&broker.env)?;
    let left = objects_under(&store, &format!("{prefix}backups/{id}/")).await?;
    assert!(!left.iter().any(|o| o.ends_with("manifest.json")), "no backup was committed: {left:?}");
    Ok(())
}

/// The backup's fetch connection goes silent — open, carrying nothing either way, as behind a
/// half-dead load balancer — while the broker answers new connections. librdkafka notices such a
/// connection only after `socket.timeout.ms` (60 s), past this backup's stall budget (45 s): the
/// backup replaces the partition's client once it went 20 s without a record, and reaches its
/// cut. (CI saw a client stuck the same way, on a stale "unknown partition", after a broker
/// thawed from a freeze.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_connection_gone_silent_is_replaced_within_the_stall_budget_and_the_backup_reaches_its_cut()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    // The broker advertises the proxy: every connection after the bootstrap goes through it.
    let proxy = Proxy::start("127.0.0.1:9").await?;
    let broker = PrivateBroker::start_behind(&env, &proxy)?;
    let prefix = format!("e2e-silent-{}/", unique_suffix());
    let Started { child, config, id, .. } =
        big_backup_started(&broker.env, &prefix, ", stallTimeout: 45s").await?;
    proxy.stall();
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await???;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(proxy.stalled() > 0, "the proxy held the backup's connections still");
    assert!(out.status.success(), "the backup failed: {stderr}");
    assert!(stderr.contains("reading on with a new client"), "the client was replaced: {stderr}");
    let result = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    assert_eq!(result["records"], STALLED_RECORDS as u64, "committed short of its cut: {result}\n{stderr}");
    let verified = run_ok(&broker.env, "verify", &config, &["--backup-id", &id])?;
    assert_eq!(verified["records"], STALLED_RECORDS as u64, "{verified}");
    Ok(())
}

/// The manifest of a backup, as stored.
async fn manifest_json(env: &TestEnv, prefix: &str, id: &str) -> anyhow::Result<serde_json::Value> {
    let store = minio(env)?;
    let path = object_store::path::Path::from(format!("{prefix}backups/{id}/manifest.json"));
    let bytes = store.get(&path).await?.bytes().await?;
    let stored: serde_json::Value = serde_json::from_slice(&bytes)?;
    Ok(stored["manifest"].clone())
}

#[tokio::test]
async fn a_topic_recreated_between_backups_starts_a_new_lineage_and_each_restore_point_restores_its_own_topic()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("recreated{s}"), format!("e2e-recreated-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    let old = records(&topic, 0, 200, recent());
    produce(&env, &topic, 0, &old).await?;
    let config = format!("{}topics: {{include: [\"{topic}\"]}}\n", base_config(&env, &prefix, None)?);
    let first = run_ok(&env, "backup", &config, &["--backup-id", &format!("first-{s}")])?;
    assert_eq!(first["records"], 200);

    // Deleted and created again with more records than before, all different: the new topic's
    // high watermark passes where the first backup stopped.
    delete_topic(&env, &topic).await?;
    create_topic(&env, &topic, 1, &[]).await?;
    let new: Vec<_> = records(&format!("{topic}-new"), 0, 300, recent() + 10_000);
    produce(&env, &topic, 0, &new).await?;
    let second = run_ok(&env, "backup", &config, &["--backup-id", &format!("second-{s}")])?;
    assert_eq!(second["records"], 300, "the new topic is read from its start: {second}");
    assert_eq!(second["lineageBreaks"][0]["reason"], "TopicRecreated", "{second}");
    let m = manifest_json(&env, &prefix, &format!("second-{s}")).await?;
    let p = &m["topics"][0]["partitions"][0];
    assert_eq!(p["lineageBreak"]["reason"], "TopicRecreated", "{m}");
    assert_eq!((p["startOffset"].as_i64(), p["endOffset"].as_i64()), (Some(0), Some(300)));
    assert!(m["topics"][0]["topicId"].as_str().is_some_and(|id| !id.is_empty()), "{m}");

    // The latest restore point restores exactly the topic as it is now, record for record.
    let restore = |id: &str, target: &str| -> anyhow::Result<serde_json::Value> {
        run_ok(
            &env,
            "restore",
            &format!(
                "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\n",
                base_config(&env, &prefix, None)?
            ),
            &["--backup-id", id],
        )
    };
    restore(&format!("second-{s}"), &format!("{topic}-latest"))?;
    assert_eq!(consume_all(&env, &format!("{topic}-latest"), 0)?, consume_all(&env, &topic, 0)?);
    assert_eq!(without_offsets(&consume_all(&env, &topic, 0)?), without_offsets(&new));
    // The older restore point still restores the old topic.
    restore(&format!("first-{s}"), &format!("{topic}-old"))?;
    assert_eq!(without_offsets(&consume_all(&env, &format!("{topic}-old"), 0)?), without_offsets(&old));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_cluster_backing_up_to_the_same_location_is_never_joined_to_the_first() -> anyhow::Result<()>
{
    let env = TestEnv::load()?;
    let dr = PrivateBroker::start(&env)?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("switched{s}"), format!("e2e-switched-{s}/"));
    // The same topic name on both clusters; the DR cluster's has more records.
    create_topic(&env, &topic, 1, &[]).await?;
    let primary = records(&topic, 0, 100, recent());
    produce(&env, &topic, 0, &primary).await?;
    create_topic(&dr.env, &topic, 1, &[]).await?;
    let secondary = records(&format!("{topic}-dr"), 0, 250, recent() + 5_000);
    produce(&dr.env, &topic, 0, &secondary).await?;

    let on = |e: &TestEnv| -> anyhow::Result<String> {
        Ok(format!("{}topics: {{include: [\"{topic}\"]}}\n", base_config(e, &prefix, None)?))
    };
    run_ok(&env, "backup", &on(&env)?, &["--backup-id", &format!("primary-{s}")])?;
    let switched = run_ok(&dr.env, "backup", &on(&dr.env)?, &["--backup-id", &format!("dr-{s}")])?;
    assert_eq!(switched["lineageBreaks"][0]["reason"], "ClusterChanged", "{switched}");
    assert_eq!(switched["records"], 250, "read in full, not from offset 100: {switched}");
    let m = manifest_json(&env, &prefix, &format!("dr-{s}")).await?;
    assert_eq!(m["clusterId"], dr.cluster_id.as_str(), "{m}");

    let target = format!("{topic}-restored");
    run_ok(
        &env,
        "restore",
        &format!(
            "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\n",
            base_config(&env, &prefix, None)?
        ),
        &[],
    )?;
    assert_eq!(without_offsets(&consume_all(&env, &target, 0)?), without_offsets(&secondary));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_deleted_during_a_backup_is_recorded_and_the_other_topics_still_commit() -> anyhow::Result<()>
{
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-deleted-{s}/");
    let (kept, doomed) = (format!("kept{s}"), format!("doomed{s}"));
    create_topic(&env, &kept, 1, &[]).await?;
    let kept_records = records(&kept, 0, 500, recent());
    produce(&env, &kept, 0, &kept_records).await?;
    create_topic(&env, &doomed, 1, &[]).await?;
    fill_fast(&env, &doomed, 120_000).await?;

    // Storage through a proxy: cut off once the doomed topic's first segment is being written,
    // the backup stops reading it (its uploads cannot drain) while the topic is deleted.
    let minio_addr = env.get("MINIO_ENDPOINT")?.trim_start_matches("http://").to_string();
    let proxy = Proxy::start(&minio_addr).await?;
    let config = format!(
        "{}topics: {{include: [\"{kept}\", \"{doomed}\"]}}\nbackup: {{compression: none, segmentSize: 1048576, parallelism: 2}}\n",
        base_config(&env, &prefix, Some(&proxy.url()))?
    );
    let id = format!("deleted-{s}");
    let child = spawn(&env, "backup", &config, &["--backup-id", &id])?;
    let store = minio(&env)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while objects_under(&store, &format!("{prefix}backups/{id}/segments/{doomed}/")).await?.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "the backup wrote no segment of {doomed} in 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.cut().await;
    delete_topic(&env, &doomed).await?;
    proxy.heal();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the other topics still commit: {stderr}");
    let result = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    assert_eq!(result["topicsDeleted"], serde_json::json!([doomed]), "{result}");

    let m = manifest_json(&env, &prefix, &id).await?;
    let topic =
        |name: &str| m["topics"].as_array().and_then(|ts| ts.iter().find(|t| t["name"] == name)).cloned();
    let gone = topic(&doomed).ok_or_else(|| anyhow::anyhow!("{doomed} not in {m}"))?;
    let p = &gone["partitions"][0];
    let last_gap = p["gaps"].as_array().and_then(|g| g.last()).cloned().unwrap_or_default();
    assert_eq!(last_gap["reason"], "TopicDeleted", "{p}");
    assert_eq!((last_gap["to"].as_i64(), p["endOffset"].as_i64()), (Some(120_000), Some(120_000)), "{p}");
    let read =
        p["segments"].as_array().map_or(0, |s| s.iter().map(|s| s["records"].as_i64().unwrap_or(0)).sum());
    assert_eq!(last_gap["from"].as_i64(), Some(read), "what was read stays, the rest is the gap: {p}");
    // The whole backup is sound (every offset accounted for) and the kept topic is complete.
    let verified = run_ok(&env, "verify", &config, &["--backup-id", &id])?;
    assert_eq!(verified["problems"], serde_json::json!([]), "{verified}");
    run_ok(
        &env,
        "restore",
        &format!(
            "{}topics: {{include: [\"{kept}\"]}}\ntopicMapping: [{{sourceTopic: {kept}, targetTopic: {kept}-restored}}]\n",
            base_config(&env, &prefix, None)?
        ),
        &["--backup-id", &id],
    )?;
    assert_eq!(
        without_offsets(&consume_all(&env, &format!("{kept}-restored"), 0)?),
        without_offsets(&kept_records)
    );
    Ok(())
}

#[tokio::test]
async fn a_restore_refuses_a_segment_that_is_not_the_one_the_backup_committed() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("swapped{s}"), format!("e2e-swapped-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    fill_fast(&env, &topic, 8_000).await?;
    let config = format!(
        "{}topics: {{include: [\"{topic}\"]}}\nbackup: {{compression: none, segmentSize: 1048576}}\n",
        base_config(&env, &prefix, None)?
    );
    let id = format!("swapped-{s}");
    run_ok(&env, "backup", &config, &["--backup-id", &id])?;
    // A sound segment of the same partition put in the place of the first one: every block and
    // checksum inside it is valid, only it is not what the manifest committed there.
    let store = minio(&env)?;
    let mut segments = objects_under(&store, &format!("{prefix}backups/{id}/segments/")).await?;
    segments.sort();
    anyhow::ensure!(segments.len() >= 2, "expected several segments: {segments:?}");
    let second = store.get(&object_store::path::Path::from(segments[1].as_str())).await?.bytes().await?;
    store.put(&object_store::path::Path::from(segments[0].as_str()), second.into()).await?;

    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\n",
        base_config(&env, &prefix, None)?
    );
    let stderr = strimzi_backup_e2e::dataplane::run_err(&env, "restore", &restore, &[])?;
    assert!(stderr.contains(&segments[0]), "names the object: {stderr}");
    assert!(
        stderr.contains("outside the manifest") || stderr.contains("differs from the manifest"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_records_older_than_the_targets_retention_are_kept_and_the_raise_is_reported()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    // A DR cluster whose brokers keep records one day by default and check every 2 s.
    let dr = PrivateBroker::start_with(
        &env,
        &[("log.retention.hours", "24"), ("log.retention.check.interval.ms", "2000")],
    )?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("aged{s}"), format!("e2e-aged-{s}/"));
    const DAY: i64 = 86_400_000;
    let three_days_ago = chrono::Utc::now().timestamp_millis() - 3 * DAY;
    // The source keeps records a week (the shared broker's default): three days old is fine there.
    create_topic(&env, &topic, 1, &[]).await?;
    let aged = records(&topic, 0, 300, three_days_ago);
    produce(&env, &topic, 0, &aged).await?;
    run_ok(
        &env,
        "backup",
        &format!("{}topics: {{include: [\"{topic}\"]}}\n", base_config(&env, &prefix, None)?),
        &[],
    )?;

    let result = run_ok(&dr.env, "restore", &base_config(&dr.env, &prefix, None)?, &[])?;
    let adjusted = &result["retentionAdjusted"][0];
    assert_eq!(adjusted["topic"], topic.as_str(), "{result}");
    assert_eq!(adjusted["retentionMs"], DAY, "{result}");
    assert!(adjusted["appliedMs"].as_i64().is_some_and(|ms| ms > 4 * DAY - 60_000), "{result}");

    // Proof the DR brokers' retention really runs: records as old, produced there directly, go.
    let control = format!("control{s}");
    create_topic(&dr.env, &control, 1, &[]).await?;
    produce(&dr.env, &control, 0, &records(&control, 0, 300, three_days_ago)).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while strimzi_backup_e2e::dataplane::watermarks(&dr.env, &control, 0)?.0 == 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the DR broker's retention never deleted the control records"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The restored records, in a topic created after the control's, are all still there.
    assert_eq!(
        strimzi_backup_e2e::dataplane::watermarks(&dr.env, &topic, 0)?.0,
        0,
        "nothing of the restore deleted"
    );
    assert_eq!(without_offsets(&consume_all(&dr.env, &topic, 0)?), without_offsets(&aged));
    let configs = strimzi_backup_e2e::dataplane::topic_configs(&dr.env, &topic).await?;
    assert_eq!(
        configs.get("retention.ms").and_then(|v| v.parse::<i64>().ok()),
        adjusted["appliedMs"].as_i64()
    );
    Ok(())
}
