//! The restore data plane against the real broker and MinIO: records come back field for field
//! under new names into topics created with their configs, point-in-time cuts are exact to the
//! millisecond, existing topics are handled by policy, consumer groups resume on the same record,
//! and a restore killed with SIGKILL finishes on rerun with every record exactly once.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use strimzi_backup_e2e::dataplane::{
    base_config, commit, committed, consume_all, create_topic, minio, produce, recent, records, run_err,
    run_ok, sigkill, signal, spawn, topic_configs, watermarks, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::record::Record;

/// Backs up the topics matching `topics` and the groups matching `groups` under `prefix`.
fn backup(env: &TestEnv, prefix: &str, topics: &str, groups: &str) -> anyhow::Result<serde_json::Value> {
    let config = format!(
        "{}topics:\n  include: [\"{topics}\"]\nconsumerGroups:\n  include: [\"{groups}\"]\n",
        base_config(env, prefix, None)?
    );
    run_ok(env, "backup", &config, &[])
}

/// A restore config: the base blocks plus `extra` (YAML at top level).
fn restore_config(env: &TestEnv, prefix: &str, extra: &str) -> anyhow::Result<String> {
    Ok(format!("{}{extra}", base_config(env, prefix, None)?))
}

/// Where a record (all but its offset) is in `records`.
fn offset_of(records: &[Record], record: &Record) -> Option<i64> {
    records.iter().find(|r| Record { offset: record.offset, ..(*r).clone() } == *record).map(|r| r.offset)
}

fn rfc3339(ms: i64) -> String {
    strimzi_backup_operator::format::millis_to_rfc3339(ms).unwrap_or_default()
}

#[tokio::test]
async fn renamed_round_trip_with_configs_groups_and_a_resuming_consumer() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-rs-{s}/");
    let (orders, audit, group) = (format!("rs{s}-orders"), format!("rs{s}-audit"), format!("billing-{s}"));
    let configs =
        [("retention.ms", "86400000"), ("max.message.bytes", "2000000"), ("cleanup.policy", "delete")];
    create_topic(&env, &orders, 2, &configs).await?;
    create_topic(&env, &audit, 1, &[]).await?;
    let want = [
        (orders.clone(), 0, records(&orders, 0, 300, recent())),
        (orders.clone(), 1, records(&orders, 1, 200, recent())),
        (audit.clone(), 0, records(&audit, 0, 50, recent())),
    ];
    for (topic, p, recs) in &want {
        produce(&env, topic, *p, recs).await?;
    }
    commit(&env, &group, &orders, 0, 120)?;
    commit(&env, &group, &orders, 1, 200)?;
    backup(&env, &prefix, &format!("rs{s}-.*"), &group)?;

    let renamed = format!("rs{s}-orders-restored");
    let config = restore_config(
        &env,
        &prefix,
        &format!(
            "topicMapping:\n  - sourceTopic: {orders}\n    targetTopic: {renamed}\nconsumerGroups:\n  mapping:\n    - sourceGroup: {group}\n      targetGroup: {group}-dr\n"
        ),
    )?;
    // The backup holds both topics; the selection restores only orders.
    let config = format!("{config}topics:\n  include: [\"rs{s}-orders\"]\n");
    let result = run_ok(&env, "restore", &config, &["--restore-id", &format!("rt-{s}")])?;
    assert_eq!(result["restoredTopics"], 1);
    assert_eq!(result["restoredPartitions"], 2);
    assert_eq!(result["restoredRecords"], 500);
    assert_eq!(result["consumerGroupsRestored"], 1);
    assert_eq!(result["topics"][0]["action"], "create");

    for (_, p, recs) in want.iter().filter(|(t, _, _)| *t == orders) {
        assert_eq!(
            without_offsets(&consume_all(&env, &renamed, *p)?),
            without_offsets(recs),
            "{renamed}/{p}"
        );
    }
    let restored_configs = topic_configs(&env, &renamed).await?;
    for (k, v) in configs {
        assert_eq!(restored_configs.get(k).map(String::as_str), Some(v), "config {k}: {restored_configs:?}");
    }
    // Restored records are where the transactional restore put them (a commit marker after each
    // commit): the group points at the record it would have read next, or at the end.
    let at_120 = offset_of(&consume_all(&env, &renamed, 0)?, &want[0].2[120]);
    assert_eq!(committed(&env, &format!("{group}-dr"), &renamed, 0)?, at_120);
    let end_1 = watermarks(&env, &renamed, 1)?.1;
    assert_eq!(committed(&env, &format!("{group}-dr"), &renamed, 1)?, Some(end_1));

    // A real consumer of the restored group picks up at record 120 of partition 0.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("group.id", format!("{group}-dr"))
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[&renamed])?;
    let first = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await??;
    assert_eq!((first.partition(), Some(first.offset())), (0, at_120));
    assert_eq!(first.key(), want[0].2[120].key.as_deref());
    drop(first);
    drop(consumer);

    // Running the same restore again reports its result and writes nothing.
    let end_0 = watermarks(&env, &renamed, 0)?.1;
    let again = run_ok(&env, "restore", &config, &["--restore-id", &format!("rt-{s}")])?;
    assert_eq!(again["restoredRecords"], 500);
    assert_eq!(watermarks(&env, &renamed, 0)?.1, end_0);
    Ok(())
}

#[tokio::test]
async fn point_in_time_is_exact_to_the_millisecond() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-pitr-{s}/");
    let (topic, group) = (format!("pt{s}"), format!("pt-group-{s}"));
    create_topic(&env, &topic, 1, &[]).await?;
    let base = recent() - 200_000;
    let t = base + 49_000;
    let mut recs = records(&topic, 0, 100, base);
    for (i, r) in recs.iter_mut().enumerate() {
        r.timestamp = base + i as i64 * 1000;
    }
    recs[48].timestamp = t - 1;
    recs[49].timestamp = t;
    recs[50].timestamp = t + 1;
    recs[95].timestamp = base + 10; // a late record with an early timestamp
    produce(&env, &topic, 0, &recs).await?;
    commit(&env, &group, &topic, 0, 20)?;
    backup(&env, &prefix, &topic, &group)?;

    let keep = |cut: i64| -> Vec<Record> { recs.iter().filter(|r| r.timestamp <= cut).cloned().collect() };
    for (label, cut) in [("before", t - 1), ("at", t), ("after", t + 1)] {
        let target = format!("pt{s}-{label}");
        let config = restore_config(
            &env,
            &prefix,
            &format!(
                "pointInTime:\n  timestamp: \"{}\"\ntopicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\nconsumerGroups:\n  mapping:\n    - sourceGroup: {group}\n      targetGroup: {group}-{label}\n",
                rfc3339(cut)
            ),
        )?;
        let result = run_ok(&env, "restore", &config, &[])?;
        let expected = keep(cut);
        assert_eq!(result["restoredRecords"], expected.len(), "{label}");
        assert_eq!(result["pointInTimeTarget"], rfc3339(cut), "{label}");
        assert_eq!(
            result["actualPointInTime"],
            rfc3339(cut),
            "{label}: the newest restored record is at the cut"
        );
        assert_eq!(without_offsets(&consume_all(&env, &target, 0)?), without_offsets(&expected), "{label}");
        // The only backup started after the point in time: where the group stood then is
        // unknown, so no offsets are restored rather than ones from later (which would skip
        // records unconsumed at that time).
        assert_eq!(result["consumerGroupsCapturedAt"], serde_json::Value::Null, "{label}: {result}");
        assert_eq!(committed(&env, &format!("{group}-{label}"), &target, 0)?, None, "{label}");
    }
    assert_eq!(keep(t - 1).len(), 50, "records 0..=48 and the late one");

    // offsetFromEnd counts back from the newest record of the backup; the group's offsets
    // captured by a backup after that time are not applied.
    commit(&env, &group, &topic, 0, 97)?;
    backup(&env, &prefix, &topic, &group)?;
    let target = format!("pt{s}-end");
    let config = restore_config(
        &env,
        &prefix,
        &format!(
            "pointInTime:\n  offsetFromEnd: 10s\ntopicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n"
        ),
    )?;
    let result = run_ok(&env, "restore", &config, &[])?;
    let expected = keep(base + 89_000);
    assert_eq!(result["restoredRecords"], expected.len());
    assert_eq!(expected.len(), 91);
    assert_eq!(committed(&env, &group, &target, 0)?, None, "captured after the point in time: not applied");
    Ok(())
}

#[tokio::test]
async fn existing_topics_follow_the_policy_and_offsets_follow_the_records() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-policy-{s}/");
    let (source, target, group) = (format!("po{s}"), format!("po{s}-target"), format!("po-group-{s}"));
    create_topic(&env, &source, 1, &[]).await?;
    let recs = records(&source, 0, 40, recent());
    produce(&env, &source, 0, &recs).await?;
    commit(&env, &group, &source, 0, 10)?;
    backup(&env, &prefix, &source, &group)?;
    create_topic(&env, &target, 1, &[]).await?;
    let foreign = records("foreign", 0, 5, recent());
    produce(&env, &target, 0, &foreign).await?;

    let config = |policy: &str, target_group: &str| {
        restore_config(
            &env,
            &prefix,
            &format!(
                "topicMapping:\n  - sourceTopic: {source}\n    targetTopic: {target}\nconsumerGroups:\n  mapping:\n    - sourceGroup: {group}\n      targetGroup: {target_group}\nrestore:\n  existingTopicPolicy: {policy}\n"
            ),
        )
    };
    let refused = run_err(&env, "restore", &config("fail", "unused")?, &[])?;
    assert!(refused.contains(&format!("target topic {target} already exists")), "{refused}");
    assert!(refused.contains("existingTopicPolicy"), "{refused}");
    assert_eq!(watermarks(&env, &target, 0)?, (0, 5), "nothing written");

    run_ok(&env, "restore", &config("append", &format!("{group}-append"))?, &[])?;
    let all = consume_all(&env, &target, 0)?;
    assert_eq!(without_offsets(&all[..5]), without_offsets(&foreign));
    assert_eq!(without_offsets(&all[5..]), without_offsets(&recs));
    assert_eq!(offset_of(&all, &recs[10]), Some(15), "offset 10 is now 5 + 10");
    assert_eq!(committed(&env, &format!("{group}-append"), &target, 0)?, Some(15));

    let before = watermarks(&env, &target, 0)?.1;
    let result = run_ok(&env, "restore", &config("overwrite", &format!("{group}-over"))?, &[])?;
    assert_eq!(result["topics"][0]["action"], "overwrite");
    let all = consume_all(&env, &target, 0)?;
    assert_eq!(all.first().map(|r| r.offset), Some(before), "the earlier records are deleted");
    assert_eq!(without_offsets(&all), without_offsets(&recs));
    assert_eq!(committed(&env, &format!("{group}-over"), &target, 0)?, offset_of(&all, &recs[10]));

    // Fewer partitions than the backup had: refused, naming both counts.
    let (wide, narrow) = (format!("po{s}-wide"), format!("po{s}-narrow"));
    create_topic(&env, &wide, 3, &[]).await?;
    produce(&env, &wide, 2, &records(&wide, 2, 3, recent())).await?;
    create_topic(&env, &narrow, 1, &[]).await?;
    backup(&env, &format!("{prefix}wide/"), &wide, "none")?;
    let config = restore_config(
        &env,
        &format!("{prefix}wide/"),
        &format!(
            "topicMapping:\n  - sourceTopic: {wide}\n    targetTopic: {narrow}\nrestore:\n  existingTopicPolicy: append\n"
        ),
    )?;
    let refused = run_err(&env, "restore", &config, &[])?;
    assert!(refused.contains(&format!("{narrow} has 1 partitions but {wide} had 3")), "{refused}");

    // topicCreation manual: a missing topic is an error that says how to fix it.
    let config = restore_config(
        &env,
        &format!("{prefix}wide/"),
        &format!(
            "topicMapping:\n  - sourceTopic: {wide}\n    targetTopic: po{s}-missing\nrestore:\n  topicCreation: manual\n"
        ),
    )?;
    let refused = run_err(&env, "restore", &config, &[])?;
    assert!(refused.contains("does not exist and spec.restore.topicCreation is manual"), "{refused}");
    Ok(())
}

#[tokio::test]
async fn dry_run_reports_the_plan_and_writes_nothing() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-dry-{s}/");
    let (topic, group) = (format!("dr{s}"), format!("dr-group-{s}"));
    create_topic(&env, &topic, 2, &[]).await?;
    produce(&env, &topic, 0, &records(&topic, 0, 30, recent())).await?;
    produce(&env, &topic, 1, &records(&topic, 1, 12, recent())).await?;
    commit(&env, &group, &topic, 1, 7)?;
    backup(&env, &prefix, &topic, &group)?;
    let target = format!("dr{s}-target");
    let config = restore_config(
        &env,
        &prefix,
        &format!(
            "topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\nrestore:\n  dryRun: true\n"
        ),
    )?;
    let plan = run_ok(&env, "restore", &config, &[])?;
    assert_eq!(plan["dryRun"], true);
    assert_eq!(plan["restoredRecords"], 42);
    assert_eq!(plan["topics"][0]["action"], "create");
    assert_eq!(plan["topics"][0]["partitions"], 2);
    let offsets = &plan["consumerGroups"][0]["offsets"][0];
    assert_eq!((offsets["topic"].as_str(), offsets["offset"].as_i64()), (Some(target.as_str()), Some(7)));
    assert_eq!(plan["consumerGroups"][0]["committed"], false);
    assert_eq!(strimzi_backup_e2e::dataplane::partition_count(&env, &target)?, None, "no topic created");
    Ok(())
}

#[tokio::test]
async fn groups_with_live_members_are_refused_with_a_reason() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-busy-{s}/");
    let (topic, group, busy) = (format!("bz{s}"), format!("bz-group-{s}"), format!("bz-busy-{s}"));
    create_topic(&env, &topic, 1, &[]).await?;
    produce(&env, &topic, 0, &records(&topic, 0, 10, recent())).await?;
    commit(&env, &group, &topic, 0, 4)?;
    backup(&env, &prefix, &topic, &group)?;
    let other = format!("bz{s}-other");
    create_topic(&env, &other, 1, &[]).await?;
    // A live consumer in the target group.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("group.id", &busy)
        .create()?;
    consumer.subscribe(&[&other])?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while consumer.assignment()?.count() == 0 {
        anyhow::ensure!(std::time::Instant::now() < deadline, "consumer never joined");
        let _ = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await;
    }
    let config = restore_config(
        &env,
        &prefix,
        &format!(
            "topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {topic}-target\nconsumerGroups:\n  mapping:\n    - sourceGroup: {group}\n      targetGroup: {busy}\n"
        ),
    )?;
    let result = run_ok(&env, "restore", &config, &[])?;
    assert_eq!(result["restoredRecords"], 10, "the records are restored");
    assert_eq!(result["consumerGroupsRestored"], 0);
    let reason = result["consumerGroups"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("active member"), "{result}");
    assert_eq!(committed(&env, &busy, &format!("{topic}-target"), 0)?, None);
    drop(consumer);
    Ok(())
}

#[tokio::test]
async fn a_restore_killed_twice_finishes_with_every_record_exactly_once() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-kill-{s}/");
    let topic = format!("kl{s}");
    create_topic(&env, &topic, 2, &[]).await?;
    let n = 20_000;
    let mut want = Vec::new();
    for p in 0..2 {
        let recs: Vec<Record> = records(&topic, p, n, recent())
            .into_iter()
            .map(|mut r| {
                r.value = Some(bytes::Bytes::from(vec![b'x'; 1024]));
                r
            })
            .collect();
        produce(&env, &topic, p, &recs).await?;
        want.push(recs);
    }
    backup(&env, &prefix, &topic, "none")?;
    let target = format!("kl{s}-target");
    let config = restore_config(
        &env,
        &prefix,
        &format!(
            "topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\nrestore:\n  parallelism: 2\n"
        ),
    )?;
    let id = format!("kill-{s}");
    let total = 2 * n as i64;
    // One client polls the high watermarks: a few milliseconds per look, so the kill lands
    // close to its mark even when the restore is fast.
    // read_uncommitted: the high watermark moves with every record appended, not only at commits.
    let probe: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("isolation.level", "read_uncommitted")
        .create()?;
    let end = |p: i32| probe.fetch_watermarks(&target, p, Duration::from_millis(100)).map_or(0, |w| w.1);
    for kill_at in [1, total / 3] {
        let mut child = spawn(&env, "restore", &config, &["--restore-id", &id])?;
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let written = loop {
            let hw = end(0) + end(1);
            if hw >= kill_at {
                break hw;
            }
            anyhow::ensure!(child.try_wait()?.is_none(), "the restore ended before it was killed");
            anyhow::ensure!(std::time::Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        sigkill(&mut child)?;
        anyhow::ensure!(written < total, "killed after the restore finished ({written}); nothing proven");
    }
    let result = run_ok(&env, "restore", &config, &["--restore-id", &id])?;
    assert_eq!(result["restoredRecords"], total);
    for (p, recs) in want.iter().enumerate() {
        let got = consume_all(&env, &target, p as i32)?;
        assert_eq!(got.len(), recs.len(), "partition {p}: no duplicate, no loss");
        assert_eq!(without_offsets(&got), without_offsets(recs), "partition {p}: in order, field for field");
    }
    Ok(())
}

/// A damaged segment stops the restore naming the object and the offsets it costs: those from the
/// damaged block on (the independent decoder says where each block lies).
#[tokio::test]
async fn a_corrupted_segment_stops_the_restore_naming_the_object_and_its_offsets() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-corrupt-{s}/");
    let topic = format!("cr{s}");
    create_topic(&env, &topic, 1, &[]).await?;
    // About 2.7 MB of records: blocks of about 1 MiB of encoded records, at least two.
    produce(&env, &topic, 0, &records(&topic, 0, 6000, recent())).await?;
    let result = backup(&env, &prefix, &topic, "none")?;
    let (manifest, _) = strimzi_backup_e2e::dataplane::read_backup(
        &store,
        &prefix,
        result["backupId"].as_str().unwrap_or_default(),
    )
    .await?;
    let segment = &manifest.topics[0].partitions[0].segments[0];
    let object = segment.object.clone();
    let path = object_store::path::Path::from(object.as_str());
    use object_store::ObjectStoreExt;
    let mut data = store.get(&path).await?.bytes().await?.to_vec();
    // Where the blocks lie, by the format document: a 28-byte header, then each block's 56-byte
    // header and its payload. The byte flipped is in the middle of the second block's payload.
    let decoded = strimzi_backup_e2e::oracle::segment::decode(&data, None)?;
    anyhow::ensure!(
        decoded.blocks.len() >= 2,
        "want two blocks or more, the backup wrote {}",
        decoded.blocks.len()
    );
    let second = &decoded.blocks[1];
    let at = 28 + 56 + decoded.blocks[0].stored_len as usize + 56 + second.stored_len as usize / 2;
    data[at] ^= 0x40;
    store.put(&path, data.into()).await?;
    let config = restore_config(
        &env,
        &prefix,
        &format!("topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {topic}-target\n"),
    )?;
    let refused = run_err(&env, "restore", &config, &[])?;
    assert!(refused.contains(&object) && refused.contains("corrupted block"), "{refused}");
    let lost = format!("offsets {}..={} cannot be read", second.first_offset, segment.last_offset);
    assert!(refused.contains(&lost), "want {lost:?}: {refused}");
    assert!(
        refused.contains(&format!("{topic}-0")) || refused.contains(&format!("{topic}/0")),
        "names the partition: {refused}"
    );
    Ok(())
}

/// Runs the binary with flags only, no config file, the way a person at a terminal would.
fn by_hand(env: &TestEnv, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = std::process::Command::new(strimzi_backup_e2e::dataplane::binary())
        .args(args)
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", env.get("MINIO_ACCESS_KEY")?)
        .env("AWS_SECRET_ACCESS_KEY", env.get("MINIO_SECRET_KEY")?)
        .output()?;
    anyhow::ensure!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    strimzi_backup_e2e::dataplane::result_line(&out.stdout)
}

#[tokio::test]
async fn flags_alone_back_up_verify_and_restore() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let topic = format!("fl{s}");
    create_topic(&env, &topic, 1, &[]).await?;
    let recs = records(&topic, 0, 60, recent());
    produce(&env, &topic, 0, &recs).await?;
    let storage = format!("s3://{}/e2e-flags-{s}", env.get("MINIO_BUCKET")?);
    let common = [
        "--bootstrap-servers",
        env.kafka_bootstrap(),
        "--storage",
        &storage,
        "--storage-endpoint",
        env.get("MINIO_ENDPOINT")?,
    ];
    let backup = by_hand(&env, &[&["backup"], &common[..], &["--topic", &topic]].concat())?;
    assert_eq!(backup["records"], 60);
    assert_eq!(backup["location"], format!("{storage}/"));
    let verified = by_hand(&env, &[&["verify"], &common[2..]].concat())?;
    assert_eq!(verified["records"], 60);
    let cut = rfc3339(recs[29].timestamp);
    let rename = format!("{topic}={topic}-restored");
    let restored = by_hand(
        &env,
        &[&["restore"], &common[..], &["--rename", &rename, "--point-in-time", &cut]].concat(),
    )?;
    assert_eq!(restored["restoredRecords"], 30);
    assert_eq!(
        without_offsets(&consume_all(&env, &format!("{topic}-restored"), 0)?),
        without_offsets(&recs[..30])
    );
    // Without a cluster or a location, the error names the flag to add.
    let out = std::process::Command::new(strimzi_backup_e2e::dataplane::binary()).arg("backup").output()?;
    assert!(String::from_utf8_lossy(&out.stderr).contains("--storage"));
    Ok(())
}

#[tokio::test]
async fn a_point_in_time_restore_moves_consumers_to_where_they_were_at_that_time() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let (topic, group, prefix) = (format!("pitrg{s}"), format!("pitrg-{s}"), format!("e2e-pitr-groups-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    let before = records(&topic, 0, 100, recent());
    produce(&env, &topic, 0, &before).await?;
    commit(&env, &group, &topic, 0, 60)?;
    let first = backup(&env, &prefix, &topic, &group)?;

    // The point in time: after the first backup, before anything that follows.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after: Vec<Record> = records(&topic, 0, 200, t + 1_000).into_iter().skip(100).collect();
    produce(&env, &topic, 0, &after).await?;
    commit(&env, &group, &topic, 0, 170)?;
    let latest = backup(&env, &prefix, &topic, &group)?;

    // Restoring the latest backup to t: the records up to t, and the group where it was at t
    // (60, from the first backup), not where it is in the latest (170, past the cut).
    let target = format!("{topic}-at-t");
    let config = restore_config(
        &env,
        &prefix,
        &format!(
            "pointInTime: {{timestamp: \"{}\"}}\ntopicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\nconsumerGroups: {{restore: true, mapping: [{{sourceGroup: {group}, targetGroup: {group}-dr}}]}}\n",
            rfc3339(t)
        ),
    )?;
    let result =
        run_ok(&env, "restore", &config, &["--backup-id", latest["backupId"].as_str().unwrap_or_default()])?;
    assert_eq!(result["restoredRecords"], 100, "{result}");
    assert_eq!(result["consumerGroupsBackupId"], first["backupId"], "{result}");
    assert_eq!(result["consumerGroupsCapturedAt"], first["startedAt"], "{result}");
    assert_eq!(committed(&env, &format!("{group}-dr"), &target, 0)?, Some(60));

    // A real consumer of the restored group resumes on the record that was next at t.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("group.id", format!("{group}-dr"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&target])?;
    let next = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await??;
    assert_eq!(next.offset(), 60);
    assert_eq!(next.key(), before[60].key.as_deref());
    assert_eq!(next.payload(), before[60].value.as_deref());
    Ok(())
}

#[tokio::test]
async fn records_the_target_refuses_for_their_size_stop_the_restore_before_it_writes_anything()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("big{s}"), format!("e2e-big-{s}/"));
    // The source takes records up to 3 MB; one of 2 MB sits among small ones.
    create_topic(&env, &topic, 1, &[("max.message.bytes", "3000000")]).await?;
    let mut recs = records(&topic, 0, 100, recent());
    recs[70].value = Some(bytes::Bytes::from(vec![7u8; 2_000_000]));
    let producer: rdkafka::producer::FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("message.max.bytes", "3000000")
        .create()?;
    for r in &recs {
        let mut rec: rdkafka::producer::FutureRecord<'_, [u8], [u8]> =
            rdkafka::producer::FutureRecord::to(&topic).partition(0).timestamp(r.timestamp);
        if let Some(k) = &r.key {
            rec = rec.key(k);
        }
        if let Some(v) = &r.value {
            rec = rec.payload(v);
        }
        producer.send(rec, Duration::from_secs(30)).await.map_err(|(e, _)| e)?;
    }
    let recs: Vec<Record> = recs.into_iter().map(|r| Record { headers: Vec::new(), ..r }).collect();
    backup(&env, &prefix, &topic, "none")?;

    // An existing target with the broker's default limit (about 1 MB): refused up front, nothing
    // written, the partition, the size and the limit named.
    let target = format!("{topic}-small");
    create_topic(&env, &target, 1, &[]).await?;
    let config = restore_config(
        &env,
        &prefix,
        &format!(
            "topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\nrestore: {{existingTopicPolicy: append}}\n"
        ),
    )?;
    let stderr = run_err(&env, "restore", &config, &[])?;
    assert!(stderr.contains(&format!("{target}/0: a record of 2000")), "{stderr}");
    assert!(stderr.contains("max.message.bytes 1048588"), "{stderr}");
    assert_eq!(watermarks(&env, &target, 0)?.1, 0, "nothing was written");

    // Created from the backup, the topic gets the backed-up limit and every record.
    let created = format!("{topic}-created");
    let config = restore_config(
        &env,
        &prefix,
        &format!("topicMapping: [{{sourceTopic: {topic}, targetTopic: {created}}}]\n"),
    )?;
    let result = run_ok(&env, "restore", &config, &[])?;
    assert_eq!(result["restoredRecords"], 100);
    assert_eq!(without_offsets(&consume_all(&env, &created, 0)?), without_offsets(&recs));
    Ok(())
}

/// A backed-up topic of `n` records of 1 KiB in one partition, and the config of a restore of it
/// into `<topic>-target`: large enough that a restore is still writing a moment after it began.
async fn a_restore_to_interrupt(
    env: &TestEnv,
    tag: &str,
    n: usize,
) -> anyhow::Result<(String, String, Vec<Record>)> {
    let s = unique_suffix();
    let prefix = format!("e2e-{tag}-{s}/");
    let topic = format!("{tag}{s}");
    create_topic(env, &topic, 1, &[]).await?;
    let recs: Vec<Record> = records(&topic, 0, n, recent())
        .into_iter()
        .map(|mut r| {
            r.value = Some(bytes::Bytes::from(vec![b'v'; 1024]));
            r
        })
        .collect();
    produce(env, &topic, 0, &recs).await?;
    backup(env, &prefix, &topic, "none")?;
    let target = format!("{topic}-target");
    let config = restore_config(
        env,
        &prefix,
        &format!("topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n"),
    )?;
    Ok((config, target, recs))
}

/// Starts the restore and freezes it (SIGSTOP) once it has written to the target, still short of
/// the end.
async fn frozen_mid_way(
    env: &TestEnv,
    config: &str,
    id: &str,
    target: &str,
    total: i64,
) -> anyhow::Result<std::process::Child> {
    let mut child = spawn(env, "restore", config, &["--restore-id", id])?;
    // read_uncommitted: the high watermark moves with every record appended, not only at commits.
    let probe: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("isolation.level", "read_uncommitted")
        .create()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        // A short wait per look: the first looks after the topic appears can block for a second
        // (metadata), long enough for a fast restore to finish unseen.
        let hw = probe.fetch_watermarks(target, 0, Duration::from_millis(100)).map_or(0, |w| w.1);
        if hw > 0 {
            signal(child.id(), libc::SIGSTOP)?;
            anyhow::ensure!(hw < total, "frozen after the restore finished writing ({hw}); nothing proven");
            return Ok(child);
        }
        anyhow::ensure!(child.try_wait()?.is_none(), "the restore ended before it wrote anything");
        anyhow::ensure!(std::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Produces one record that is not the backup's to the target partition, from outside.
async fn foreign_write(env: &TestEnv, target: &str) -> anyhow::Result<()> {
    let mut foreign = records(target, 0, 1, recent());
    foreign[0].value = Some(bytes::Bytes::from_static(b"written by someone else"));
    produce(env, target, 0, &foreign).await
}

#[tokio::test]
async fn a_foreign_record_in_the_target_refuses_the_restore_and_every_rerun_of_it() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let n = 40_000;
    let (config, target, _) = a_restore_to_interrupt(&env, "fr", n).await?;
    let id = format!("foreign-{}", unique_suffix());
    let child = frozen_mid_way(&env, &config, &id, &target, n as i64).await?;
    foreign_write(&env, &target).await?;
    signal(child.id(), libc::SIGCONT)?;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "refused, not a failure worth retrying: {err}");
    assert!(err.contains("TargetChanged") && err.contains(&format!("{target}/0")), "{err}");
    assert!(err.contains("did not write"), "{err}");

    // A rerun (what the Job's retry is) proves what is in the target and finds the foreign
    // record among the restore's own: refused again, never counted as restored.
    let out = strimzi_backup_e2e::dataplane::run(&env, "restore", &config, &["--restore-id", &id])?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "the rerun is refused too: {err}");
    assert!(err.contains("TargetChanged") && err.contains(&format!("{target}/0: offset")), "{err}");
    assert!(err.contains("holds a record this restore did not write"), "{err}");
    Ok(())
}

#[tokio::test]
async fn an_earlier_attempt_that_wakes_up_cannot_write_after_the_rerun_started() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let n = 40_000;
    let (config, target, want) = a_restore_to_interrupt(&env, "zb", n).await?;
    let id = format!("zombie-{}", unique_suffix());
    // The first attempt freezes mid-way, like a pod on a node cut off from the cluster; its
    // retry runs to the end meanwhile.
    let zombie = frozen_mid_way(&env, &config, &id, &target, n as i64).await?;
    let result = run_ok(&env, "restore", &config, &["--restore-id", &id])?;
    assert_eq!(result["restoredRecords"], n as i64);
    let end = watermarks(&env, &target, 0)?.1;

    // The first attempt wakes up and carries on: fenced, it writes nothing more and fails.
    signal(zombie.id(), libc::SIGCONT)?;
    let out = tokio::task::spawn_blocking(move || zombie.wait_with_output()).await??;
    assert!(!out.status.success(), "the fenced attempt cannot succeed");
    assert_eq!(watermarks(&env, &target, 0)?.1, end, "nothing written after the rerun started");
    let got = consume_all(&env, &target, 0)?;
    assert_eq!(got.len(), want.len(), "every record exactly once");
    assert_eq!(without_offsets(&got), without_offsets(&want));
    Ok(())
}

#[tokio::test]
async fn a_restore_point_is_what_kafka_held_at_its_cut_and_all_retained_reaches_back() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-scope-{s}/");
    let topic = format!("sc{s}");
    create_topic(&env, &topic, 1, &[]).await?;
    let mut all = records(&topic, 0, 100, recent());
    produce(&env, &topic, 0, &all).await?;
    let config = format!("{}topics:\n  include: [\"{topic}\"]\n", base_config(&env, &prefix, None)?);
    run_ok(&env, "backup", &config, &["--backup-id", "first"])?;
    // The source's retention moves on (what it does, done at once): records 0..60 are gone from
    // Kafka but kept by the first backup; the second continues its lineage.
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", env.kafka_bootstrap()).create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(60))?;
    admin.delete_records(&tpl, &rdkafka::admin::AdminOptions::new()).await?;
    let more: Vec<Record> = records(&topic, 0, 150, recent() + 10_000).into_iter().skip(100).collect();
    produce(&env, &topic, 0, &more).await?;
    all.extend(more);
    run_ok(&env, "backup", &config, &["--backup-id", "second"])?;

    // The latest restore point: each partition from its log start at the cut (60) to the cut.
    let at_cut = format!("{topic}-at-cut");
    let config = restore_config(
        &env,
        &prefix,
        &format!("topicMapping: [{{sourceTopic: {topic}, targetTopic: {at_cut}}}]\n"),
    )?;
    let result = run_ok(&env, "restore", &config, &[])?;
    assert_eq!(result["restoredRecords"], 90);
    assert_eq!(without_offsets(&consume_all(&env, &at_cut, 0)?), without_offsets(&all[60..]));

    // Everything retained: the first backup's records from before the log start too.
    let retained = format!("{topic}-retained");
    let config = restore_config(
        &env,
        &prefix,
        &format!("topicMapping: [{{sourceTopic: {topic}, targetTopic: {retained}}}]\n"),
    )?;
    let result = run_ok(&env, "restore", &config, &["--all-retained"])?;
    assert_eq!(result["restoredRecords"], 150);
    assert_eq!(without_offsets(&consume_all(&env, &retained, 0)?), without_offsets(&all));
    Ok(())
}
