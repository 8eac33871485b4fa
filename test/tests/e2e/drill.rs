//! The restore drill against the real broker and MinIO: a backed-up topic restores into scratch
//! topics, reads back equal record for record, and the scratch topics are gone afterwards with the
//! source untouched; a corrupted segment fails the drill naming topic, partition and offset, and
//! the scratch topics are gone too; a prefix that would write to a real topic, or a selection over
//! `maxRecords`, is refused before anything is written; a rerun after a killed drill removes the
//! scratch topics it left. With `recordEvidence`, a drill — passed or failed — leaves its result
//! at `verifications/<backupId>/<drillId>.json`, a `sync` reports it as the restore point's
//! verification, and deleting the backup deletes it; without, nothing is written there.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, delete_topic, minio, partition_count, produce, read_backup,
    recent, records, result_line, run, run_err, run_ok, watermarks, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::record::Record;

/// Creates `topic` with `counts.len()` partitions holding `counts[p]` varied records each (keys,
/// null keys, null and empty values, headers with null values), and returns them per partition.
async fn topic_with_records(
    env: &TestEnv,
    topic: &str,
    counts: &[usize],
) -> anyhow::Result<Vec<Vec<Record>>> {
    create_topic(env, topic, counts.len() as i32, &[]).await?;
    let mut out = Vec::new();
    for (p, n) in counts.iter().enumerate() {
        let recs = records(topic, p as i32, *n, recent());
        produce(env, topic, p as i32, &recs).await?;
        out.push(recs);
    }
    Ok(out)
}

/// Backs up the topics matching `topics` under `prefix`; returns the backup id.
fn backup(env: &TestEnv, prefix: &str, topics: &str) -> anyhow::Result<String> {
    let config = format!("{}topics:\n  include: [\"{topics}\"]\n", base_config(env, prefix, None)?);
    let result = run_ok(env, "backup", &config, &[])?;
    Ok(result["backupId"].as_str().unwrap_or_default().to_string())
}

fn drill_config(env: &TestEnv, prefix: &str, extra: &str) -> anyhow::Result<String> {
    Ok(format!("{}{extra}", base_config(env, prefix, None)?))
}

/// The objects under `<prefix>restores/`: a drill leaves no resume state or lease behind.
async fn restore_objects(store: &impl ObjectStore, prefix: &str) -> anyhow::Result<Vec<String>> {
    let dir = object_store::path::Path::from(format!("{prefix}restores"));
    let listed: Vec<_> = store.list(Some(&dir)).try_collect().await?;
    Ok(listed.into_iter().map(|o| o.location.to_string()).collect())
}

/// The objects under `<prefix>verifications/`: the drills' evidence.
async fn evidence_objects(store: &impl ObjectStore, prefix: &str) -> anyhow::Result<Vec<String>> {
    let dir = object_store::path::Path::from(format!("{prefix}verifications"));
    let listed: Vec<_> = store.list(Some(&dir)).try_collect().await?;
    Ok(listed.into_iter().map(|o| o.location.to_string()).collect())
}

/// The evidence drill `drill` left of backup `id`, read by the test itself.
async fn evidence(
    store: &impl ObjectStore,
    prefix: &str,
    id: &str,
    drill: &str,
) -> anyhow::Result<serde_json::Value> {
    let path = object_store::path::Path::from(format!("{prefix}verifications/{id}/{drill}.json"));
    Ok(serde_json::from_slice(&store.get(&path).await?.bytes().await?)?)
}

/// What a `sync` of the location reports as backup `id`'s verification.
fn synced_verification(
    env: &TestEnv,
    prefix: &str,
    id: &str,
    extra: &str,
) -> anyhow::Result<serde_json::Value> {
    let synced = run_ok(env, "sync", &format!("{}{extra}", base_config(env, prefix, None)?), &[])?;
    assert_eq!(synced["present"], serde_json::json!([id]), "{synced}");
    Ok(synced["verifications"][id].clone())
}

/// Per partition: its records without offsets and its watermarks.
type Contents = BTreeMap<i32, (Vec<Record>, (i64, i64))>;

/// Every record of every partition, without offsets, and the watermarks: what "untouched" means.
fn snapshot(env: &TestEnv, topic: &str, partitions: i32) -> anyhow::Result<Contents> {
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        out.insert(p, (without_offsets(&consume_all(env, topic, p)?), watermarks(env, topic, p)?));
    }
    Ok(out)
}

/// After a drill, passed or failed: its scratch topic is gone and no resume state or lease is
/// left at the location.
async fn left_nothing(
    env: &TestEnv,
    store: &impl ObjectStore,
    prefix: &str,
    scratch: &str,
) -> anyhow::Result<()> {
    assert_eq!(partition_count(env, scratch)?, None, "the scratch topic is gone");
    assert_eq!(restore_objects(store, prefix).await?, Vec::<String>::new(), "no resume state or lease left");
    Ok(())
}

#[tokio::test]
async fn a_drill_restores_into_scratch_topics_compares_every_record_and_deletes_them() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-drill-{s}/");
    let topic = format!("dr{s}-orders");
    let produced = topic_with_records(&env, &topic, &[300, 120, 45]).await?;
    let id = backup(&env, &prefix, &topic)?;
    // What the backup holds, read by the test's own decoder.
    let store = minio(&env)?;
    let (_, held) = read_backup(&store, &prefix, &id).await?;
    let held_records: usize = held.values().map(Vec::len).sum();
    assert_eq!(held_records, 465);
    for (p, recs) in produced.iter().enumerate() {
        assert_eq!(
            without_offsets(&held[&(topic.clone(), p as i32)]),
            without_offsets(recs),
            "{topic}/{p} in the backup"
        );
    }
    let before = snapshot(&env, &topic, 3)?;

    let scratch_prefix = format!("drill{s}-");
    // A selection larger than maxRecords is refused before anything is written.
    let limited = drill_config(&env, &prefix, &format!("topicPrefix: {scratch_prefix}\nmaxRecords: 400\n"))?;
    let stderr = run_err(&env, "drill", &limited, &[])?;
    assert!(stderr.contains("would restore 465 records") && stderr.contains("maxRecords 400"), "{stderr}");
    assert_eq!(partition_count(&env, &format!("{scratch_prefix}{topic}"))?, None, "nothing restored");
    assert_eq!(
        restore_objects(&store, &prefix).await?,
        Vec::<String>::new(),
        "nothing written at the location"
    );

    let config = drill_config(&env, &prefix, &format!("topicPrefix: {scratch_prefix}\ndrillId: d{s}\n"))?;
    let result = run_ok(&env, "drill", &config, &[])?;
    assert_eq!(result["result"], "Passed", "{result}");
    assert_eq!(result["backupId"], id.as_str());
    assert_eq!(result["topics"], serde_json::json!([topic]));
    assert_eq!(result["records"], held_records as u64, "every backed-up record compared: {result}");
    assert_eq!(result["mismatches"], 0);
    assert_eq!(result["firstMismatches"], serde_json::json!([]));
    assert_eq!(result["scratchTopicsDeleted"], true);
    assert!(result["restoreSeconds"].as_f64().is_some_and(|s| s > 0.0), "{result}");
    assert!(result["recordsPerSecond"].as_f64().is_some_and(|r| r > 0.0), "{result}");
    assert!(result["bytes"].as_u64().is_some_and(|b| b > 0), "{result}");
    assert!(result.get("evidenceWritten").is_none(), "no evidence asked for: {result}");
    assert_eq!(
        evidence_objects(&store, &prefix).await?,
        Vec::<String>::new(),
        "no evidence without recordEvidence"
    );
    assert_eq!(synced_verification(&env, &prefix, &id, "")?, serde_json::Value::Null);

    left_nothing(&env, &store, &prefix, &format!("{scratch_prefix}{topic}")).await?;
    assert_eq!(snapshot(&env, &topic, 3)?, before, "the source topic is untouched");
    delete_topic(&env, &topic).await
}

#[tokio::test]
async fn a_corrupted_segment_fails_the_drill_naming_topic_partition_and_offset() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-drill-bad-{s}/");
    let topic = format!("drb{s}-events");
    topic_with_records(&env, &topic, &[200, 150]).await?;
    let id = backup(&env, &prefix, &topic)?;
    let store = minio(&env)?;
    let (manifest, _) = read_backup(&store, &prefix, &id).await?;
    let (_, part) =
        manifest.partition(&topic, 1).ok_or_else(|| anyhow::anyhow!("no {topic}/1 in the backup"))?;
    let segment = part.segments.first().ok_or_else(|| anyhow::anyhow!("no segment"))?.clone();
    // One byte flipped in the middle of the segment, as bit rot in the bucket would.
    let path = object_store::path::Path::from(segment.object.as_str());
    let mut bytes = store.get(&path).await?.bytes().await?.to_vec();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    store.put(&path, bytes.into()).await?;

    let scratch_prefix = format!("drill{s}-");
    let config = drill_config(
        &env,
        &prefix,
        &format!("topicPrefix: {scratch_prefix}\ndrillId: bad{s}\nrecordEvidence: true\n"),
    )?;
    let out = run(&env, "drill", &config, &[])?;
    assert!(
        !out.status.success(),
        "the drill passed a corrupted backup: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let result = result_line(&out.stdout)?;
    assert_eq!(result["result"], "Failed", "{result}");
    let message = result["message"].as_str().unwrap_or_default();
    let named = format!("topic {topic} partition 1 offset {}", segment.first_offset);
    assert!(message.contains(&named), "`{named}` not in: {message}");
    assert!(message.contains(&segment.object), "the object is named: {message}");
    assert_eq!(result["scratchTopicsDeleted"], true, "{result}");
    left_nothing(&env, &store, &prefix, &format!("{scratch_prefix}{topic}")).await?;

    // A failed drill leaves its evidence too, and a sync shows it as the restore point's state.
    assert_eq!(result["evidenceWritten"], true, "{result}");
    let written = evidence(&store, &prefix, &id, &format!("bad{s}")).await?;
    assert_eq!(written["evidenceVersion"], 1, "{written}");
    assert_eq!((&written["result"], &written["backupId"]), (&result["result"], &result["backupId"]));
    assert_eq!(written["message"], result["message"], "{written}");
    let seen = synced_verification(&env, &prefix, &id, "")?;
    assert_eq!(seen["result"], "Failed", "{seen}");
    assert_eq!(seen["drill"], format!("bad{s}"));
    assert_eq!((&seen["records"], &seen["mismatches"]), (&result["records"], &result["mismatches"]));
    assert!(seen["message"].as_str().is_some_and(|m| m.contains(&named)), "{seen}");
    delete_topic(&env, &topic).await
}

#[tokio::test]
async fn a_scratch_name_of_a_real_topic_is_refused_before_anything_is_written() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-drill-clash-{s}/");
    let (topic, other) = (format!("dc{s}"), format!("x{s}-dc{s}"));
    topic_with_records(&env, &topic, &[30]).await?;
    topic_with_records(&env, &other, &[20]).await?;
    backup(&env, &prefix, &format!("(dc|x){s}.*"))?;
    let store = minio(&env)?;

    // `x<s>-` would restore dc<s> into x<s>-dc<s>: a topic of the cluster and of the backup.
    let before = snapshot(&env, &other, 1)?;
    let config = drill_config(&env, &prefix, &format!("topicPrefix: x{s}-\ndrillId: clash{s}\n"))?;
    let out = run(&env, "drill", &config, &[])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a drill onto a real topic ran: {stderr}");
    assert!(stderr.contains(&format!("scratch topic {other} already exists in the cluster")), "{stderr}");
    assert!(stderr.contains(&format!("scratch topic {other} is the name of a topic in backup")), "{stderr}");
    assert_eq!(snapshot(&env, &other, 1)?, before, "the real topic is untouched");
    assert_eq!(
        partition_count(&env, &format!("x{s}-x{s}-dc{s}"))?,
        None,
        "no other scratch topic was created"
    );
    assert_eq!(
        restore_objects(&store, &prefix).await?,
        Vec::<String>::new(),
        "nothing written at the location"
    );

    // Gone from the cluster, still a backed-up name: refused as well.
    delete_topic(&env, &other).await?;
    let stderr = String::from_utf8_lossy(&run(&env, "drill", &config, &[])?.stderr).to_string();
    assert!(stderr.contains(&format!("scratch topic {other} is the name of a topic in backup")), "{stderr}");
    assert!(!stderr.contains("already exists"), "{stderr}");
    assert_eq!(partition_count(&env, &other)?, None, "nothing was restored into it");
    assert_eq!(
        restore_objects(&store, &prefix).await?,
        Vec::<String>::new(),
        "nothing written at the location"
    );
    delete_topic(&env, &topic).await
}

#[tokio::test]
async fn a_rerun_under_the_same_drill_id_deletes_the_scratch_topics_its_earlier_attempt_left()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-drill-again-{s}/");
    let topic = format!("dra{s}-orders");
    topic_with_records(&env, &topic, &[40, 25]).await?;
    let id = backup(&env, &prefix, &topic)?;
    let store = minio(&env)?;
    // What a drill killed after its restore and before its cleanup leaves: the scratch topic and
    // the resume state of its restore (`drill-<drillId>`), which claims the topic as created.
    let scratch = format!("drill{s}-{topic}");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {scratch}\nconsumerGroups:\n  restore: false\n",
        base_config(&env, &prefix, None)?
    );
    run_ok(&env, "restore", &restore, &["--restore-id", &format!("drill-again{s}")])?;
    assert_eq!(partition_count(&env, &scratch)?, Some(2));

    let config = drill_config(
        &env,
        &prefix,
        &format!("topicPrefix: drill{s}-\ndrillId: again{s}\nrecordEvidence: true\n"),
    )?;
    let result = run_ok(&env, "drill", &config, &[])?;
    assert_eq!(result["result"], "Passed", "{result}");
    assert_eq!(
        result["records"], 65,
        "restored again and compared, not the earlier result reported: {result}"
    );
    left_nothing(&env, &store, &prefix, &scratch).await?;

    // The passed drill's evidence, and a sync reporting it as the restore point's verification.
    assert_eq!(result["evidenceWritten"], true, "{result}");
    let drill = format!("again{s}");
    assert_eq!(
        evidence_objects(&store, &prefix).await?,
        [format!("{prefix}verifications/{id}/{drill}.json")],
        "one evidence object, named for the backup and the drill"
    );
    let written = evidence(&store, &prefix, &id, &drill).await?;
    assert_eq!(
        (&written["result"], &written["records"]),
        (&result["result"], &result["records"]),
        "{written}"
    );
    assert_eq!(written["completionTime"], result["completionTime"]);
    let seen = synced_verification(&env, &prefix, &id, "")?;
    assert_eq!(seen["result"], "Passed", "{seen}");
    assert_eq!(seen["drill"], drill.as_str());
    assert_eq!((seen["records"].as_u64(), seen["mismatches"].as_u64()), (Some(65), Some(0)));
    assert_eq!(seen["rtoSeconds"], result["restoreSeconds"]);
    // Kubernetes times are whole seconds.
    let at = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default()).ok().map(|t| t.timestamp())
    };
    assert_eq!(at(&seen["completionTime"]), at(&result["completionTime"]), "{seen}");
    assert_eq!(at(&seen["startTime"]), at(&result["startTime"]), "{seen}");
    // A cluster that already shows this drill is not told it again.
    let shown = format!("verified:\n  {id}: {drill}\n");
    assert_eq!(synced_verification(&env, &prefix, &id, &shown)?, serde_json::Value::Null);

    // Deleting the backup deletes its evidence.
    run_ok(&env, "delete", &base_config(&env, &prefix, None)?, &[])?;
    assert_eq!(
        evidence_objects(&store, &prefix).await?,
        Vec::<String>::new(),
        "the evidence went with the backup"
    );
    delete_topic(&env, &topic).await
}
