//! e2e: data_erasure (issue 17 §3). The right to be forgotten against the real broker and
//! MinIO: keyed records over several partitions, a full backup and an incremental one (which
//! lists the full one's segments), then `erase` of one key — and of a header-selected set, killed
//! mid-way and run again. After each: every kept restore point, read by the independent decoder
//! and restored into Kafka, holds every other record byte for byte and none selected; `verify`
//! passes; the removed offsets are `Erased` gaps; the superseded segments are gone; a consumer
//! group whose committed offset pointed at an erased record resumes at the next kept one.
//!
//! `alsoLiveTopics`: a compacted live topic gets a tombstone per key (its latest value for the
//! key is null afterwards); a delete-policy topic is reported as not possible and keeps every
//! record. Through the operator: a `KafkaDataErasure` on a `KafkaBackup` with two restore points,
//! its keys from a Secret (in no Job, ConfigMap, status or log), held without a licence granting
//! `erasure` and run once one is installed; the status report and the restore points checked as
//! above; the webhook refuses it with no licence, an expired one and one without the feature.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use object_store::ObjectStore;
use sha2::{Digest, Sha256};
use strimzi_backup_e2e::dataplane::{
    base_config, command, commit, committed, consume_all, create_topic, minio, produce, read_backup, recent,
    result_line, run_err, run_ok, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::licences;
use strimzi_backup_e2e::operator::{Operator, finished_run, minio_storage, namespace_with_kafka};
use strimzi_backup_e2e::webhook::{self, Registration};
use strimzi_backup_operator::api::erasure::KafkaDataErasure;
use strimzi_backup_operator::api::restore_point::{KafkaRestorePoint, KafkaRestorePointSpec};
use strimzi_backup_operator::api::run::RunPhase;
use strimzi_backup_operator::erase::CRASH_ENV;
use strimzi_backup_operator::format::record::{Header, Record, TimestampType};

const PARTITIONS: i32 = 3;
const ERASED_KEY: &str = "user-3";

/// Records `from..from + n` of a partition: keys `user-<i mod 10>` (every 13th null), values of
/// about 1 KiB that differ per record, a `tenant` header on even records and a null-valued header
/// on every fifth.
fn keyed(partition: i32, from: usize, n: usize, base_ts: i64) -> Vec<Record> {
    (from..from + n)
        .map(|i| {
            let mut headers = Vec::new();
            if i % 2 == 0 {
                headers
                    .push(Header { key: "tenant".into(), value: Some(Bytes::from(format!("t{}", i % 3))) });
            }
            if i % 5 == 0 {
                headers.push(Header { key: "null".into(), value: None });
            }
            Record {
                offset: i as i64,
                timestamp: base_ts + i as i64,
                timestamp_type: TimestampType::CreateTime,
                key: (i % 13 != 0).then(|| Bytes::from(format!("user-{}", i % 10))),
                value: Some(Bytes::from(
                    (0..900 + i % 200)
                        .map(|j| ((i * 31 + j * 7 + partition as usize) % 251) as u8)
                        .collect::<Vec<u8>>(),
                )),
                headers,
            }
        })
        .collect()
}

fn has_key(r: &Record, key: &str) -> bool {
    r.key.as_deref() == Some(key.as_bytes())
}

fn has_header(r: &Record, name: &str, value: &str) -> bool {
    r.headers.iter().any(|h| h.key == name && h.value.as_deref() == Some(value.as_bytes()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Everything one test set up: topic, prefix, the records produced per partition and the
/// record count each backup covers per partition.
struct Setup {
    env: TestEnv,
    s: String,
    topic: String,
    prefix: String,
    group: String,
    produced: BTreeMap<i32, Vec<Record>>,
    /// Backup id → records per partition it covers (its cut).
    backups: Vec<(String, usize)>,
    /// The offset of partition 0 the group committed before the incremental backup.
    group_offset: i64,
}

/// A topic of three partitions, a full backup of 1,200 records each (two segments each at
/// 1 MiB segments) and an incremental one of 300 more: the second lists the first's segments.
async fn setup(tag: &str) -> anyhow::Result<Setup> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let topic = format!("kde{tag}{s}");
    let prefix = format!("e2e-kde-{tag}-{s}/");
    let group = format!("kde-{tag}-{s}");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let base = recent();
    let mut produced = BTreeMap::new();
    for p in 0..PARTITIONS {
        let recs = keyed(p, 0, 1200, base);
        produce(&env, &topic, p, &recs).await?;
        produced.insert(p, recs);
    }
    let config = backup_config(&env, &prefix, &topic, &group)?;
    let full = format!("full-{s}");
    run_ok(&env, "backup", &config, &["--backup-id", &full])?;
    for p in 0..PARTITIONS {
        let recs = keyed(p, 1200, 300, base);
        produce(&env, &topic, p, &recs).await?;
        produced.get_mut(&p).expect("partition").extend(recs);
    }
    // The group's next record on partition 0 is one the erasure removes.
    let group_offset =
        produced[&0].iter().find(|r| r.offset > 1250 && has_key(r, ERASED_KEY)).expect("a record").offset;
    commit(&env, &group, &topic, 0, group_offset)?;
    let incremental = format!("incr-{s}");
    let result = run_ok(&env, "backup", &config, &["--backup-id", &incremental])?;
    assert_eq!(result["backupId"], incremental.as_str(), "{result}");
    Ok(Setup {
        env,
        s,
        topic,
        prefix,
        group,
        produced,
        backups: vec![(full, 1200), (incremental, 1500)],
        group_offset,
    })
}

fn backup_config(env: &TestEnv, prefix: &str, topic: &str, group: &str) -> anyhow::Result<String> {
    Ok(format!(
        "{}topics: {{include: [\"{topic}\"]}}\nconsumerGroups: {{include: [\"{group}\"]}}\nbackup: {{compression: zstd, segmentSize: 1048576}}\n",
        base_config(env, prefix, None)?
    ))
}

fn erase_config(
    env: &TestEnv,
    prefix: &str,
    id: &str,
    topic: &str,
    selection: &str,
) -> anyhow::Result<String> {
    Ok(format!("{}erasureId: {id}\ntopics: [\"{topic}\"]\n{selection}", base_config(env, prefix, None)?))
}

/// Every object name under `prefix`.
async fn objects(env: &TestEnv, prefix: &str) -> anyhow::Result<BTreeSet<String>> {
    let store = minio(env)?;
    let path = object_store::path::Path::from(prefix.trim_end_matches('/'));
    Ok(store.list(Some(&path)).map_ok(|m| m.location.to_string()).try_collect().await?)
}

/// Checks every restore point after an erasure of the records `erased` selects: read by the
/// independent decoder, each holds exactly the other records it covers (offsets, keys, values,
/// headers, timestamps) and the removed offsets are `Erased` gaps; `verify` passes; a restore
/// of each into a new topic yields exactly those records.
async fn check_restore_points(
    st: &Setup,
    erased: impl Fn(&Record) -> bool,
    restore_tag: &str,
) -> anyhow::Result<()> {
    let store = minio(&st.env)?;
    for (id, cut) in &st.backups {
        let (manifest, read) = read_backup(&store, &st.prefix, id).await?;
        assert!(manifest.format_version >= 4, "{id}: a rewritten restore point is version 4");
        for p in 0..PARTITIONS {
            let want: Vec<Record> = st.produced[&p][..*cut].iter().filter(|r| !erased(r)).cloned().collect();
            let got = read.get(&(st.topic.clone(), p)).cloned().unwrap_or_default();
            assert_eq!(got.len(), want.len(), "{id} {}/{p}: records", st.topic);
            assert!(got == want, "{id} {}/{p}: the restore point differs from what was produced", st.topic);
            let (_, entry) = manifest.partition(&st.topic, p).expect("partition");
            let erased_offsets: Vec<i64> =
                st.produced[&p][..*cut].iter().filter(|r| erased(r)).map(|r| r.offset).collect();
            for o in &erased_offsets {
                assert!(
                    entry.gaps.iter().any(|g| g.from <= *o
                        && *o < g.to
                        && g.reason == strimzi_backup_operator::format::manifest::GapReason::Erased),
                    "{id} {}/{p}: erased offset {o} is in no Erased gap: {:?}",
                    st.topic,
                    entry.gaps
                );
            }
        }
        let verified =
            run_ok(&st.env, "verify", &base_config(&st.env, &st.prefix, None)?, &["--backup-id", id])?;
        assert_eq!(verified["problems"], serde_json::json!([]), "{verified}");

        let renamed = format!("{}-{restore_tag}-{}", st.topic, &id[..4]);
        let config = format!(
            "{}topics: {{include: [\"{}\"]}}\ntopicMapping:\n  - sourceTopic: {}\n    targetTopic: {renamed}\nconsumerGroups:\n  mapping:\n    - sourceGroup: {}\n      targetGroup: {}-{restore_tag}-{}\n",
            base_config(&st.env, &st.prefix, None)?,
            st.topic,
            st.topic,
            st.group,
            st.group,
            &id[..4]
        );
        let restored = run_ok(
            &st.env,
            "restore",
            &config,
            &["--backup-id", id, "--restore-id", &format!("{restore_tag}-{id}")],
        )?;
        let mut total = 0;
        for p in 0..PARTITIONS {
            let want: Vec<Record> = st.produced[&p][..*cut].iter().filter(|r| !erased(r)).cloned().collect();
            total += want.len();
            let got = consume_all(&st.env, &renamed, p)?;
            assert!(
                without_offsets(&got) == without_offsets(&want),
                "{id}: restored {renamed}/{p} differs ({} records, want {})",
                got.len(),
                want.len()
            );
            assert!(!got.iter().any(&erased), "{id}: a selected record was restored");
            // The group's next record on partition 0 is at its committed offset: kept, it is where
            // the group resumes; erased (the key test), the group resumes at the next kept one.
            if p == 0 && id.starts_with("incr") {
                let next = want.iter().find(|r| r.offset >= st.group_offset).expect("a kept record after");
                let at = got
                    .iter()
                    .find(|r| Record { offset: next.offset, ..(*r).clone() } == *next)
                    .map(|r| r.offset);
                let target_group = format!("{}-{restore_tag}-{}", st.group, &id[..4]);
                assert_eq!(committed(&st.env, &target_group, &renamed, 0)?, at, "translated group offset");
            }
        }
        assert_eq!(restored["restoredRecords"], total as u64, "{restored}");
    }
    Ok(())
}

#[tokio::test]
async fn an_erased_key_is_gone_from_every_restore_point_and_everything_else_restores_exactly()
-> anyhow::Result<()> {
    let st = setup("k").await?;
    let env = &st.env;
    let before = objects(env, &st.prefix).await?;
    // The incremental backup lists segments of the full one: one segment, two restore points.
    let store = minio(env)?;
    let (incr, _) = read_backup(&store, &st.prefix, &st.backups[1].0).await?;
    assert!(
        incr.objects().any(|s| s.object.contains(&format!("/backups/{}/", st.backups[0].0))),
        "the incremental backup shares the full backup's segments"
    );

    let config = erase_config(
        env,
        &st.prefix,
        &format!("e-{}", st.s),
        &st.topic,
        &format!("keys: {{values: [\"{ERASED_KEY}\"]}}\n"),
    )?;
    let report = run_ok(env, "erase", &config, &[])?;
    let removed: usize = st.produced.values().flatten().filter(|r| has_key(r, ERASED_KEY)).count();
    assert_eq!(report["recordsRemoved"], removed as u64, "{report}");
    assert_eq!(report["topics"], serde_json::json!([{"topic": st.topic, "records": removed}]), "{report}");
    assert_eq!(report["keyDigests"], serde_json::json!([sha256_hex(ERASED_KEY.as_bytes())]), "{report}");
    assert_eq!(report["keysSelected"], 1);
    let points: Vec<&str> = report["restorePoints"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["backupId"].as_str())
        .collect();
    assert_eq!(points, [st.backups[0].0.as_str(), st.backups[1].0.as_str()], "{report}");
    assert!(report["restorePoints"].as_array().expect("list").iter().all(|p| p["revision"] == 1), "{report}");
    let text = report.to_string();
    assert!(!text.contains(ERASED_KEY), "the report never holds a key: {text}");
    // Every segment held the key (it is on every tenth record): each was rewritten once, shared or not.
    let rewritten = report["segmentsRewritten"].as_u64().unwrap_or_default();
    assert!(rewritten >= 9, "{report}");
    assert_eq!(report["segmentsDeleted"], rewritten, "{report}");

    // The superseded segments are gone, and nothing at the location holds the key any more.
    let after = objects(env, &st.prefix).await?;
    for r in report["rewritten"].as_array().expect("list") {
        let original = r["original"].as_str().unwrap_or_default();
        assert!(before.contains(original) && !after.contains(original), "{original} still there");
    }
    check_restore_points(&st, |r| has_key(r, ERASED_KEY), "k").await?;

    // Run again with the same id: nothing changes, the same report.
    let again = run_ok(env, "erase", &config, &[])?;
    assert_eq!(again["recordsRemoved"], report["recordsRemoved"]);
    assert_eq!(again["restorePoints"], report["restorePoints"]);
    assert_eq!(
        objects(env, &st.prefix).await?.iter().filter(|n| n.ends_with(".kbseg")).count(),
        after.iter().filter(|n| n.ends_with(".kbseg")).count()
    );
    // The same id with another selection is refused: a rerun must select the same.
    let other =
        erase_config(env, &st.prefix, &format!("e-{}", st.s), &st.topic, "keys: {values: [\"user-4\"]}\n")?;
    let refused = run_err(env, "erase", &other, &[])?;
    assert!(refused.contains("another selection"), "{refused}");
    // An erasure that selects nothing is refused naming the fields.
    let nothing = erase_config(env, &st.prefix, &format!("n-{}", st.s), &st.topic, "")?;
    let refused = run_err(env, "erase", &nothing, &[])?;
    assert!(refused.contains("keys, headers:"), "{refused}");
    Ok(())
}

#[tokio::test]
async fn a_killed_erasure_by_header_finishes_on_rerun_and_readers_always_see_a_whole_restore_point()
-> anyhow::Result<()> {
    let st = setup("h").await?;
    let env = &st.env;
    let store = minio(env)?;
    let selected = |r: &Record| has_header(r, "tenant", "t1");
    let id = format!("h-{}", st.s);
    let config = erase_config(env, &st.prefix, &id, &st.topic, "headers: [{name: tenant, value: t1}]\n")?;
    let manifests = |store: &object_store::aws::AmazonS3| {
        let st = &st;
        let store = store.clone();
        async move {
            let mut out = Vec::new();
            for (b, _) in &st.backups {
                out.push(read_backup(&store, &st.prefix, b).await?.0);
            }
            anyhow::Ok(out)
        }
    };
    let original = manifests(&store).await?;

    // Killed once every piece is written, before any manifest: both restore points are as they
    // were, whole (verify passes), the journal holds the pieces.
    let out = command(env, "erase", &config, &[])?.env(CRASH_ENV, "segments").output()?;
    assert!(!out.status.success(), "the hook aborts the run");
    assert_eq!(manifests(&store).await?, original, "no manifest changed before the commit");
    for (b, _) in &st.backups {
        let v = run_ok(env, "verify", &base_config(env, &st.prefix, None)?, &["--backup-id", b])?;
        assert_eq!(v["problems"], serde_json::json!([]), "{v}");
    }
    let journal = format!("{}erasures/{id}/journal.json", st.prefix);
    let pieces_first: BTreeSet<String> =
        objects(env, &st.prefix).await?.into_iter().filter(|n| n.contains(&format!(".{id}."))).collect();
    assert!(!pieces_first.is_empty() && objects(env, &st.prefix).await?.contains(&journal));

    // Killed right after the first restore point's new revision: one is new, one is old, both whole.
    let out = command(env, "erase", &config, &[])?.env(CRASH_ENV, "manifest").output()?;
    assert!(!out.status.success(), "the hook aborts the run");
    let now = manifests(&store).await?;
    let revised: Vec<bool> = now.iter().map(|m| m.revision.is_some()).collect();
    assert_eq!(revised, [true, false], "the first restore point is committed, the second not yet");
    for (b, _) in &st.backups {
        let v = run_ok(env, "verify", &base_config(env, &st.prefix, None)?, &["--backup-id", b])?;
        assert_eq!(v["problems"], serde_json::json!([]), "{v}");
    }
    // The rerun reused the journaled pieces: none written twice.
    let pieces_second: BTreeSet<String> =
        objects(env, &st.prefix).await?.into_iter().filter(|n| n.contains(&format!(".{id}."))).collect();
    assert_eq!(pieces_second, pieces_first);

    // The third run finishes the job: same end state as one uninterrupted run.
    let out = command(env, "erase", &config, &[])?.output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = result_line(&out.stdout)?;
    let removed = st.produced.values().flatten().filter(|r| selected(r)).count();
    assert_eq!(report["recordsRemoved"], removed as u64, "{report}");
    let digests: BTreeSet<String> = st
        .produced
        .values()
        .flatten()
        .filter(|r| selected(r))
        .filter_map(|r| r.key.as_deref().map(sha256_hex))
        .collect();
    let reported: BTreeSet<String> = report["keyDigests"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d.as_str().map(String::from))
        .collect();
    assert_eq!(reported, digests);
    assert_eq!(report["restorePoints"].as_array().map(Vec::len), Some(2), "{report}");
    check_restore_points(&st, selected, "h").await?;
    let left = objects(env, &st.prefix).await?;
    for r in report["rewritten"].as_array().expect("list") {
        assert!(!left.contains(r["original"].as_str().unwrap_or_default()), "{r}");
    }
    assert!(!left.contains(&format!("{}erasures/lock.json", st.prefix)), "the lock is released");
    Ok(())
}

/// A topic of `PARTITIONS` partitions with `configs`, 60 keyed records per partition, backed up
/// once under `prefix` together with the other topics of `topics` (by `backup_config`).
async fn live_topic(
    env: &TestEnv,
    topic: &str,
    configs: &[(&str, &str)],
) -> anyhow::Result<BTreeMap<i32, Vec<Record>>> {
    create_topic(env, topic, PARTITIONS, configs).await?;
    let mut produced = BTreeMap::new();
    for p in 0..PARTITIONS {
        // A compacted topic refuses records without a key.
        let recs: Vec<Record> = keyed(p, 0, 60, recent())
            .into_iter()
            .map(|r| Record { key: r.key.or_else(|| Some(Bytes::from_static(b"no-key"))), ..r })
            .collect();
        produce(env, topic, p, &recs).await?;
        produced.insert(p, recs);
    }
    Ok(produced)
}

#[tokio::test]
async fn also_live_topics_tombstones_a_compacted_topic_and_reports_a_delete_topic_as_not_possible()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let compacted = format!("kdec{s}");
    let deleted = format!("kded{s}");
    let prefix = format!("e2e-kde-live-{s}/");
    let kept = live_topic(&env, &compacted, &[("cleanup.policy", "compact")]).await?;
    let plain =
        live_topic(&env, &deleted, &[("cleanup.policy", "delete"), ("retention.ms", "604800000")]).await?;
    let backup = format!(
        "{}topics: {{include: [\"{compacted}\", \"{deleted}\"]}}\n",
        base_config(&env, &prefix, None)?
    );
    run_ok(&env, "backup", &backup, &["--backup-id", &format!("live-{s}")])?;
    let config = format!(
        "{}erasureId: live-{s}\ntopics: [\"{compacted}\", \"{deleted}\"]\nkeys: {{values: [\"{ERASED_KEY}\"]}}\nalsoLiveTopics: true\n",
        base_config(&env, &prefix, None)?
    );
    let report = run_ok(&env, "erase", &config, &[])?;
    let live = report["liveTopics"].as_array().cloned().unwrap_or_default();
    let of = |topic: &str| live.iter().find(|l| l["topic"] == topic).cloned().unwrap_or_default();
    let c = of(&compacted);
    assert_eq!(c["action"], "Tombstoned", "{report}");
    assert_eq!(c["tombstones"], PARTITIONS as u64, "one key, a tombstone per partition: {report}");
    let d = of(&deleted);
    assert_eq!(d["action"], "NotPossible", "{report}");
    let message = d["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("not possible: topic is not compacted")
            && message.contains("retention.ms=604800000"),
        "{message}"
    );
    assert!(!report.to_string().contains(ERASED_KEY), "the report never holds a key: {report}");
    for p in 0..PARTITIONS {
        // The compacted topic: the key's latest value is a tombstone, every other record is there.
        let got = consume_all(&env, &compacted, p)?;
        let last = got.iter().rev().find(|r| has_key(r, ERASED_KEY)).expect("the key's latest record");
        assert_eq!(last.value, None, "{compacted}/{p}: the key's latest value is a tombstone");
        assert_eq!(
            got.len(),
            kept[&p].len() + 1,
            "{compacted}/{p}: one tombstone added, nothing removed yet"
        );
        // The delete-policy topic: nothing deleted, nothing added.
        let got = consume_all(&env, &deleted, p)?;
        assert!(got == plain[&p], "{deleted}/{p}: the live topic changed");
    }
    // The backups hold no record of the key, in either topic.
    let store = minio(&env)?;
    let (_, read) = read_backup(&store, &prefix, &format!("live-{s}")).await?;
    for ((topic, p), records) in &read {
        assert!(!records.iter().any(|r| has_key(r, ERASED_KEY)), "{topic}/{p} still holds the key");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_operator_an_erasure_of_a_kafka_backup_follows_the_licence_and_erases_every_restore_point()
-> anyhow::Result<()> {
    let st = setup("o").await?;
    let cluster = Cluster::connect().await?;
    let ns = namespace_with_kafka(&cluster, "kde").await?;
    // The keys in a Secret, one per line: the Job mounts it; it is in no config, status or log.
    cluster
        .apply_yaml(
            &ns,
            &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: gdpr-keys}}\nstringData: {{keys.txt: \"{ERASED_KEY}\\n\"}}\n"),
        )
        .await?;
    let operator = Operator::start(&cluster.env, &ns)?;
    // The KafkaBackup of the two restore points, its schedule suspended: it only names the location.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: src}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{}']}}\n  schedule: {{cron: '0 0 1 1 *', suspend: true}}\n{}",
                st.topic,
                minio_storage(&cluster.env, &st.prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    // A KafkaBackupLocation on the same location: its restore points, read once (its next sync
    // is an hour away), must show the erasure's revision as soon as the erasure completes.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackupLocation\nmetadata: {{name: dr}}\nspec:\n  syncPeriod: 1h\n{}",
                minio_storage(&cluster.env, &st.prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let restore_points: Api<KafkaRestorePoint> = Api::namespaced(cluster.client.clone(), &ns);
    let of_dr = ListParams::default().labels("kafkabackup.com/source-kind=KafkaBackupLocation");
    let before: BTreeMap<String, KafkaRestorePointSpec> =
        wait_until(Duration::from_secs(180), "the location's two restore points", || async {
            let found: BTreeMap<String, KafkaRestorePointSpec> = restore_points
                .list(&of_dr)
                .await?
                .items
                .into_iter()
                .map(|p| (p.spec.backup_id.clone(), p.spec))
                .collect();
            Ok((found.len() == 2).then_some(found))
        })
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let erasure = |name: &str| {
        format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaDataErasure\nmetadata: {{name: {name}}}\nspec:\n  backupRef: {{name: src}}\n  topics: ['{}']\n  keys: {{secretKeyRefs: [{{name: gdpr-keys, key: keys.txt}}]}}\n",
            st.topic
        )
    };
    let erasures: Api<KafkaDataErasure> = Api::namespaced(cluster.client.clone(), &ns);

    // No webhook and no licence: the controller holds it, and starts no Job.
    cluster.apply_yaml(&ns, &erasure("forget")).await?;
    wait_until(Duration::from_secs(60), "the erasure held for its licence", || async {
        let st = erasures.get("forget").await?.status.unwrap_or_default();
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        Ok(ready.filter(|c| c.reason.as_deref() == Some("LicenseInvalid")).map(|c| (c, st.phase)))
    })
    .await
    .map(|(c, phase)| {
        assert!(c.message.as_deref().unwrap_or_default().contains("`erasure`"), "{c:?}");
        assert_eq!(phase, Some(RunPhase::Pending));
    })
    .map_err(|e| e.context(operator.log_text()))?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    assert!(
        jobs.get_opt("forget-erase").await?.is_none(),
        "no Job for an erasure the licence does not allow"
    );

    // A licence granting erasure: it runs.
    licences::install(&cluster, &ns, &licences::issued(&["erasure"], 30)?).await?;
    let run = finished_run(&erasures, "forget", Duration::from_secs(300), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let status = run.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Some(RunPhase::Completed), "{status:?}\n{}", operator.log_text());
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    assert_eq!(
        (ready.status, ready.reason.as_deref()),
        (strimzi_backup_operator::api::condition::ConditionStatus::True, Some("DataErased")),
        "{ready:?}"
    );
    let uid = run.metadata.uid.clone().unwrap_or_default();
    assert_eq!(status.erasure_id, Some(format!("kde-{uid}")));
    let report = status.report.clone().expect("the report in the status");
    let removed = st.produced.values().flatten().filter(|r| has_key(r, ERASED_KEY)).count() as i64;
    assert_eq!(report.records_removed, removed, "{report:?}");
    assert_eq!(report.restore_points_rewritten, 2, "{report:?}");
    let points: Vec<&str> = report.restore_points.iter().map(|p| p.backup_id.as_str()).collect();
    assert_eq!(points, [st.backups[0].0.as_str(), st.backups[1].0.as_str()]);
    assert_eq!(report.key_digests, [sha256_hex(ERASED_KEY.as_bytes())]);
    assert_eq!(report.keys_selected, 1);
    assert_eq!(report.topics.len(), 1);
    assert_eq!((report.topics[0].topic.as_str(), report.topics[0].records), (st.topic.as_str(), removed));
    assert!(
        report.objects_rewritten >= 9 && report.objects_deleted == report.objects_rewritten,
        "{report:?}"
    );
    check_restore_points(&st, |r| has_key(r, ERASED_KEY), "o").await?;
    // The location's restore points show the new revision at once, without the erased records.
    let after: BTreeMap<String, KafkaRestorePointSpec> = restore_points
        .list(&of_dr)
        .await?
        .items
        .into_iter()
        .map(|p| (p.spec.backup_id.clone(), p.spec))
        .collect();
    for (id, cut) in &st.backups {
        let erased: i64 = st
            .produced
            .values()
            .map(|recs| recs[..*cut].iter().filter(|r| has_key(r, ERASED_KEY)).count() as i64)
            .sum();
        let (b, a) = (&before[id], &after[id]);
        assert_eq!((b.revision, a.revision), (None, Some(1)), "{id}");
        assert_eq!(a.totals.records, b.totals.records - erased, "{id}: {:?} -> {:?}", b.totals, a.totals);
        assert_eq!((a.source.kind.as_str(), a.source.name.as_str()), ("KafkaBackupLocation", "dr"));
    }

    // The key is nowhere but in its Secret: not in the Job, the ConfigMaps, the status or the log.
    let job = jobs.get("forget-erase").await?;
    let mut seen = serde_json::to_string(&run)? + &serde_json::to_string(&job)?;
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let configs = serde_json::to_string(&config_maps.list(&ListParams::default()).await?.items)?;
    assert!(configs.contains("/etc/strimzi-backup/erasure-keys/"), "the config names the keys' file");
    seen.push_str(&configs);
    seen.push_str(&operator.log_text());
    assert!(!seen.contains(ERASED_KEY), "a key leaked into the Job, a ConfigMap, the status or the log");

    // The webhook: an erasure needs a licence granting `erasure`.
    let _registration = Registration::new(&cluster, &operator, &ns).await?;
    webhook::answering(&cluster, &ns, &operator).await?;
    for (token, why) in licences::refusing("erasure")? {
        licences::put(&cluster, &ns, token.as_deref()).await?;
        wait_until(Duration::from_secs(60), &format!("an erasure refused ({why})"), || async {
            let (ok, text) = cluster.kubectl_apply(&ns, &erasure("refused"), &["--dry-run=server"])?;
            Ok((!ok && text.contains("licence feature `erasure`") && text.contains(&why)).then_some(()))
        })
        .await?;
    }
    licences::install(&cluster, &ns, &licences::issued(&["erasure"], 30)?).await?;
    wait_until(Duration::from_secs(60), "an erasure admitted under a licence granting erasure", || async {
        let (ok, _) = cluster.kubectl_apply(&ns, &erasure("admitted"), &["--dry-run=server"])?;
        Ok(ok.then_some(()))
    })
    .await?;
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
