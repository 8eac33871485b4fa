//! Merging a lineage's small segments (issue 18 §4, `backup::compact` and `backup::merge`)
//! against the real broker and MinIO: a long lineage of incrementals, each adding a small
//! segment per partition (one partition written in transactions, some aborted: offsets the
//! broker does not return between them), lists few segments in its newest manifest; the newest
//! restore point and an old one listing the small originals both restore every record exactly
//! once; the independent decoder and `verify` accept the newest; retention then deletes the
//! small originals with the last manifest that lists them, and orphan cleanup removes what a
//! run killed while merging leaves, never what the committed manifest lists.
//!
//! Run with `STRIMZI_BACKUP_MERGE_SEGMENTS=off` (passed on to the backups) to see the lineage
//! without merging: the bound on the newest manifest's segments then fails.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use rdkafka::ClientConfig;
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use strimzi_backup_e2e::dataplane::{
    base_config, command, consume_all, create_topic, minio, objects_under, produce, read_backup, recent,
    records, result_line, run_ok, sigkill, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::data_keys::backup_of_segment;
use strimzi_backup_operator::format::manifest::Manifest;

const PARTITIONS: i32 = 3;
/// Incrementals after the first backup.
const INCREMENTALS: usize = 44;
/// The bound the newest manifest keeps per partition: with 1 MiB segments and ~0.5 KB a run,
/// the lineage's segments are of tiers 4 (new ones) and 3 (eight merged), fewer than K = 8 of
/// each, plus the first backup's. Without merging it lists one per run: 45.
const MOST_SEGMENTS: usize = 16;

fn config(env: &TestEnv, prefix: &str, topic: &str, extra: &str) -> anyhow::Result<String> {
    Ok(format!(
        "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  mode: incremental\n  segmentSize: 1048576\n{extra}",
        base_config(env, prefix, None)?
    ))
}

/// Runs a backup with merging on, or off when this test runs with
/// `STRIMZI_BACKUP_MERGE_SEGMENTS=off`; returns its result and its log.
fn backup(env: &TestEnv, config: &str) -> anyhow::Result<(serde_json::Value, String)> {
    let mut cmd = command(env, "backup", config, &[])?;
    if let Ok(v) = std::env::var("STRIMZI_BACKUP_MERGE_SEGMENTS") {
        cmd.env("STRIMZI_BACKUP_MERGE_SEGMENTS", v);
    }
    let out = cmd.output()?;
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    anyhow::ensure!(out.status.success(), "backup failed ({}): {log}", out.status);
    Ok((result_line(&out.stdout)?, log))
}

async fn manifest(store: &impl ObjectStore, prefix: &str, id: &str) -> anyhow::Result<Manifest> {
    let path = object_store::path::Path::from(format!("{prefix}backups/{id}/manifest.json"));
    let bytes = store.get(&path).await?.bytes().await?;
    Ok(Manifest::from_json(&bytes, path.as_ref())?)
}

/// Restores `id` into `<topic>-<suffix>` and checks each partition holds exactly the source's
/// records below the restore point's cut, once each, in order.
async fn restores_exactly(
    env: &TestEnv,
    store: &impl ObjectStore,
    prefix: &str,
    topic: &str,
    id: &str,
    suffix: &str,
) -> anyhow::Result<()> {
    let m = manifest(store, prefix, id).await?;
    let target = format!("{topic}-{suffix}");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n",
        base_config(env, prefix, None)?
    );
    run_ok(env, "restore", &restore, &["--backup-id", id])?;
    for p in &m.topics[0].partitions {
        let want: Vec<_> =
            consume_all(env, topic, p.partition)?.into_iter().filter(|r| r.offset < p.end_offset).collect();
        let got = consume_all(env, &target, p.partition)?;
        assert_eq!(
            without_offsets(&got),
            without_offsets(&want),
            "{id}: {topic}/{} restored into {target}",
            p.partition
        );
        assert!(!want.is_empty());
    }
    Ok(())
}

/// Commits 4 records to partition 2 in a transaction, after an aborted one every fifth run:
/// transaction markers and aborted records are offsets the broker does not return.
async fn transaction(producer: &FutureProducer, topic: &str, run: usize) -> anyhow::Result<()> {
    let aborts = if run.is_multiple_of(5) { vec![false, true] } else { vec![true] };
    for commit in aborts {
        producer.begin_transaction()?;
        for i in 0..4 {
            let value = format!("run{run}-{i}-{}", if commit { "kept" } else { "aborted" });
            let headers =
                OwnedHeaders::new().insert(KafkaHeader { key: "run", value: Some(value.as_bytes()) });
            let mut record = FutureRecord::<[u8], [u8]>::to(topic)
                .partition(2)
                .payload(value.as_bytes())
                .timestamp(recent() + run as i64)
                .headers(headers);
            let key = format!("k{i}");
            if i % 2 == 0 {
                record = record.key(key.as_bytes());
            }
            producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e)?;
        }
        if commit {
            producer.commit_transaction(Duration::from_secs(30))?;
        } else {
            producer.abort_transaction(Duration::from_secs(30))?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_long_lineage_lists_few_segments_and_every_restore_point_restores_exactly() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-compaction-{suffix}/");
    let topic = format!("cp{suffix}");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("transactional.id", format!("e2e-compaction-{suffix}"))
        .create()?;
    producer.init_transactions(Duration::from_secs(30))?;

    let incremental = config(&env, &prefix, &topic, "")?;
    let mut ids = Vec::new();
    let mut merging_runs = Vec::new();
    let mut times = Vec::new();
    for run in 0..=INCREMENTALS {
        // Keys, null keys, tombstones, empty values, headers with null values.
        let n = if run == 0 { 40 } else { 5 };
        for p in 0..2 {
            produce(&env, &topic, p, &records(&topic, p, n, recent() + 1000 * run as i64)).await?;
        }
        transaction(&producer, &topic, run).await?;
        let started = Instant::now();
        let (result, log) = backup(&env, &incremental)?;
        times.push(started.elapsed());
        let id = result["backupId"].as_str().unwrap_or_default().to_string();
        if run > 0 {
            assert_eq!(
                result["records"],
                2 * 5 + 4,
                "{id}: the result counts what the run read, not what it merged"
            );
        }
        if log.contains("merged small segments of the partitions' lineages") {
            merging_runs.push(id.clone());
        }
        ids.push(id);
    }
    let newest = ids.last().cloned().unwrap_or_default();
    let m = manifest(&store, &prefix, &newest).await?;
    let listed: Vec<usize> = m.topics[0].partitions.iter().map(|p| p.segments.len()).collect();
    let size = serde_json::to_vec(&m)?.len();
    let early: Vec<_> = times.iter().take(5).collect();
    let late: Vec<_> = times.iter().rev().take(5).collect();
    eprintln!(
        "after {} backups: segments per partition {listed:?}, manifest {size} bytes, runs merging {}, run times first {early:?} last {late:?}",
        ids.len(),
        merging_runs.len()
    );
    assert!(listed.iter().all(|n| *n <= MOST_SEGMENTS), "segments per partition {listed:?}");
    assert!(!merging_runs.is_empty(), "no run merged");

    // A run that merged counts the merged segments as written by it (they are under its id), and
    // lists none of the small ones it merged.
    let merger = manifest(&store, &prefix, &merging_runs[0]).await?;
    let written = merger.written.clone().unwrap_or_default();
    let own_below_read = merger.topics[0]
        .partitions
        .iter()
        .flat_map(|p| p.segments.iter().filter(move |s| p.read_from.is_some_and(|r| s.last_offset < r)))
        .filter(|s| backup_of_segment(&s.object) == Some(merger.backup_id.as_str()))
        .map(|s| s.records)
        .sum::<u64>();
    assert!(own_below_read > 0, "{}: no merged segment", merger.backup_id);
    assert_eq!(written.records, own_below_read + 2 * 5 + 4, "written: what it read and what it merged");

    // The independent decoder reads the newest: every offset accounted for, every record the
    // source holds up to the cut.
    let (_, got) = read_backup(&store, &prefix, &newest).await?;
    for p in 0..PARTITIONS {
        let source = consume_all(&env, &topic, p)?;
        let end = m.topics[0].partitions[p as usize].end_offset;
        let want: Vec<_> = source.into_iter().filter(|r| r.offset < end).collect();
        assert_eq!(got[&(topic.clone(), p)], want, "{topic}/{p}: the oracle's records");
    }
    // The newest (listing merged segments) and an old point (listing the small originals).
    let old = ids[4].clone();
    let old_manifest = manifest(&store, &prefix, &old).await?;
    assert!(old_manifest.topics[0].partitions.iter().all(|p| p.segments.len() == 5), "one per backup");
    restores_exactly(&env, &store, &prefix, &topic, &newest, "newest").await?;
    restores_exactly(&env, &store, &prefix, &topic, &old, "old").await?;

    // The merged segments the newest lists: under a backup's id, below where that backup read on.
    let mut merged = Vec::new();
    for s in m.objects() {
        let owner = backup_of_segment(&s.object).unwrap_or_default().to_string();
        let read_from = manifest(&store, &prefix, &owner).await?.topics[0]
            .partitions
            .iter()
            .find(|p| p.segments.iter().any(|x| x.object == s.object))
            .and_then(|p| p.read_from);
        if read_from.is_some_and(|r| s.last_offset < r) {
            merged.push(s.object.clone());
        }
    }
    assert!(!merged.is_empty(), "the newest lists merged segments");

    // A run killed while merging leaves segments under its id and no manifest: invisible, and
    // removed by the next run's cleanup; the merged segments the newest lists stay.
    let merged_object = merged[0].clone();
    let orphan = format!("{prefix}backups/killed-{suffix}/segments/{topic}/0/00000000000000000000.kbseg");
    let bytes = store.get(&object_store::path::Path::from(merged_object.as_str())).await?.bytes().await?;
    store.put(&object_store::path::Path::from(orphan.as_str()), PutPayload::from(bytes)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Retention keeps only the next restore point: the small originals go with the manifests
    // that listed them; everything it lists stays.
    let (last, _) = backup(
        &env,
        &config(&env, &prefix, &topic, "retention:\n  maxBackups: 1\norphanGracePeriod: 0s\n")?,
    )?;
    let kept_id = last["backupId"].as_str().unwrap_or_default().to_string();
    let kept = manifest(&store, &prefix, &kept_id).await?;
    let listed: BTreeSet<String> = kept.objects().map(|s| s.object.clone()).collect();
    let dir = object_store::path::Path::from(format!("{prefix}backups"));
    let present: BTreeSet<String> = store
        .list(Some(&dir))
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .map(|o| o.location.to_string())
        .collect();
    let own_dir = format!("{prefix}backups/{kept_id}/");
    let stray: Vec<&String> =
        present.iter().filter(|o| !listed.contains(*o) && !o.starts_with(&own_dir)).collect();
    assert!(stray.is_empty(), "objects no kept manifest lists: {stray:?}");
    let missing: Vec<&String> = listed.iter().filter(|o| !present.contains(*o)).collect();
    assert!(missing.is_empty(), "listed but gone: {missing:?}");
    let originals: Vec<String> =
        old_manifest.objects().map(|s| s.object.clone()).filter(|o| !listed.contains(o)).collect();
    assert!(!originals.is_empty(), "the old point's small segments are merged away by now");
    assert!(originals.iter().all(|o| !present.contains(o)), "small originals left: {originals:?}");
    assert!(!present.contains(&orphan), "the killed run's segment is cleaned up");
    // Merged segments of pruned backups the kept point still lists are still there.
    let survivors: Vec<&String> =
        merged.iter().filter(|o| listed.contains(*o) && !o.starts_with(&own_dir)).collect();
    assert!(!survivors.is_empty(), "the kept point lists merged segments of pruned backups");

    // `verify` reads the kept point end to end.
    let report = run_ok(&env, "verify", &config(&env, &prefix, &topic, "")?, &["--backup-id", &kept_id])?;
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert_eq!(
        report["records"].as_u64(),
        Some(kept.topics[0].partitions.iter().flat_map(|p| &p.segments).map(|s| s.records).sum::<u64>())
    );
    Ok(())
}

/// The figures of docs/continuous-backup.md ("Merging a lineage's small segments"): two
/// lineages of the same 8-partition topic at the default `segmentSize`, one merging and one not
/// (`STRIMZI_BACKUP_MERGE_SEGMENTS=off`), backed up in turn after each round of records (8 per
/// partition, as an iteration of a continuous backup at a modest rate adds): the newest
/// manifest's size, segments per partition and run time as the lineages grow. Ignored: about
/// 26 minutes, so `make e2e` skips it by name; `BENCH_COMPACTION_RUNS` sets the number of runs
/// (default 150).
#[tokio::test]
#[ignore]
async fn bench_manifest_size_and_run_time_with_and_without_merging() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let topic = format!("cpb{suffix}");
    create_topic(&env, &topic, 8, &[]).await?;
    let runs: usize = std::env::var("BENCH_COMPACTION_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let variants = [
        ("on", format!("e2e-compaction-bench-on-{suffix}/")),
        ("off", format!("e2e-compaction-bench-off-{suffix}/")),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); 2];
    eprintln!(
        "runs | merging: manifest bytes, segments/partition, run s (mean of last 10) | not merging: same"
    );
    for run in 1..=runs {
        for p in 0..8 {
            produce(&env, &topic, p, &records(&topic, p, 8, recent() + 1000 * run as i64)).await?;
        }
        let mut line = format!("{run}");
        for (i, (merge, prefix)) in variants.iter().enumerate() {
            let cfg = format!(
                "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  mode: incremental\n",
                base_config(&env, prefix, None)?
            );
            let mut cmd = command(&env, "backup", &cfg, &[])?;
            cmd.env("STRIMZI_BACKUP_MERGE_SEGMENTS", merge);
            let started = Instant::now();
            let out = cmd.output()?;
            times[i].push(started.elapsed());
            anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            if run % 25 == 0 || run == runs {
                let id = result_line(&out.stdout)?["backupId"].as_str().unwrap_or_default().to_string();
                let path = object_store::path::Path::from(format!("{prefix}backups/{id}/manifest.json"));
                let bytes = store.head(&path).await?.size;
                let m = manifest(&store, prefix, &id).await?;
                let most = m.topics[0].partitions.iter().map(|p| p.segments.len()).max().unwrap_or(0);
                let last: Vec<&Duration> = times[i].iter().rev().take(10).collect();
                let mean = last.iter().map(|d| d.as_secs_f64()).sum::<f64>() / last.len() as f64;
                line += &format!(" | {bytes} B, {most}, {mean:.2} s");
            }
        }
        if run % 25 == 0 || run == runs {
            eprintln!("{line}");
        }
    }
    Ok(())
}

/// A lineage encrypted with data keys from a KMS (moto's AWS KMS): each backup seals its own
/// segments with its own data key, so merging reads the small segments with the keys of the
/// backups that wrote them (unwrapped from the parent's manifest) and writes the merged ones with
/// its own. The newest restore point then carries fewer wrapped keys, every segment is sealed,
/// and it restores every record with the KMS.
#[tokio::test]
async fn a_kms_encrypted_lineage_merges_with_the_data_keys_of_the_backups_that_wrote_it() -> anyhow::Result<()>
{
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-compaction-kms-{suffix}/");
    let topic = format!("cpk{suffix}");
    create_topic(&env, &topic, 1, &[]).await?;
    let (key_id, _) = crate::kms::new_aws_key(&env)?;
    let kms = crate::kms::aws_access(&env, &key_id, None)?;
    let cfg = format!(
        "{}topics:\n  include: [\"{topic}\"]\n{}  mode: incremental\n  segmentSize: 1048576\n{kms}",
        base_config(&env, &prefix, None)?,
        crate::kms::encrypted("awsKms", &key_id)
    );
    let secret = format!("iban-DE44-{suffix}");
    let mut ids = Vec::new();
    let mut merged_by = None;
    for run in 0..11 {
        let batch: Vec<_> = records(&topic, 0, if run == 0 { 40 } else { 5 }, recent() + 1000 * run)
            .into_iter()
            .map(|mut r| {
                r.value = Some(format!("{secret}-{run}-{}", r.offset).into());
                r
            })
            .collect();
        produce(&env, &topic, 0, &batch).await?;
        let (result, log) = backup(&env, &cfg)?;
        let id = result["backupId"].as_str().unwrap_or_default().to_string();
        if log.contains("merged small segments of the partitions' lineages") && merged_by.is_none() {
            merged_by = Some(id.clone());
        }
        ids.push(id);
    }
    let merger = merged_by.ok_or_else(|| anyhow::anyhow!("no run merged"))?;
    let newest = manifest(&store, &prefix, ids.last().map(String::as_str).unwrap_or_default()).await?;
    let segments = newest.topics[0].partitions[0].segments.len();
    assert!(segments < ids.len() / 2, "{segments} segments for {} backups", ids.len());
    assert!(newest.objects().any(|s| backup_of_segment(&s.object) == Some(merger.as_str())));
    let writers: BTreeSet<&str> = newest.objects().filter_map(|s| backup_of_segment(&s.object)).collect();
    let carried: BTreeSet<&str> = newest.encoding.data_keys.iter().map(|k| k.backup_id.as_str()).collect();
    assert!(writers.is_subset(&carried), "a wrapped key for every writer: {writers:?} {carried:?}");
    assert!(carried.len() < ids.len(), "the keys of merged-away backups are no longer carried");
    for s in newest.objects() {
        let data = store.get(&object_store::path::Path::from(s.object.as_str())).await?.bytes().await?;
        assert!(!data.windows(secret.len()).any(|w| w == secret.as_bytes()), "plaintext in {}", s.object);
    }
    let newest_id = newest.backup_id.clone();
    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n{kms}",
        base_config(&env, &prefix, None)?
    );
    run_ok(&env, "restore", &restore, &["--backup-id", &newest_id])?;
    assert_eq!(
        without_offsets(&consume_all(&env, &target, 0)?),
        without_offsets(&consume_all(&env, &topic, 0)?)
    );
    let verify = format!("{}{kms}", base_config(&env, &prefix, None)?);
    let report = run_ok(&env, "verify", &verify, &["--backup-id", &newest_id])?;
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    Ok(())
}

/// A run SIGKILLed while it merges (a real kill, where the test above plants what one leaves):
/// 8 partitions merged 2 at a time, the process killed as soon as its first merged segment is
/// stored. Nothing of it is visible: the newest restore point is still its parent and `verify`
/// passes on it; the next run cleans up what the killed one stored, merges again and commits
/// a restore point that restores every record exactly once.
#[tokio::test]
async fn a_run_killed_while_it_merges_leaves_nothing_visible_and_the_next_run_merges_again()
-> anyhow::Result<()> {
    const P: i32 = 8;
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-compaction-kill-{suffix}/");
    let topic = format!("cpk{suffix}");
    create_topic(&env, &topic, P, &[]).await?;
    // Segments of about 400 KiB: tier 1 of 4 MiB, so the ninth run merges the eight before it.
    let config = |extra: &str| -> anyhow::Result<String> {
        Ok(format!(
            "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  mode: incremental\n  segmentSize: 4194304\n  parallelism: 2\n{extra}",
            base_config(&env, &prefix, None)?
        ))
    };
    let mut parent = String::new();
    for run in 0..8i64 {
        for p in 0..P {
            produce(&env, &topic, p, &records(&topic, p, 1_400, recent() + 10_000 * run)).await?;
        }
        let (result, _) = backup(&env, &config("")?)?;
        parent = result["backupId"].as_str().unwrap_or_default().to_string();
    }
    let m = manifest(&store, &prefix, &parent).await?;
    let listed: Vec<usize> = m.topics[0].partitions.iter().map(|p| p.segments.len()).collect();
    assert_eq!(listed, vec![8; P as usize], "no merge before the ninth run");
    for p in 0..P {
        produce(&env, &topic, p, &records(&topic, p, 10, recent() + 100_000)).await?;
    }

    let killed = format!("killed-{suffix}");
    let mut child = command(&env, "backup", &config("")?, &["--backup-id", &killed])?
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let dir = format!("{prefix}backups/{killed}/");
    // A merged segment starts where the lineage does, at offset 0; what the run reads starts
    // at its parent's end.
    let is_merged = |o: &String| o.ends_with("/00000000000000000000.kbseg");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if objects_under(&store, &dir).await?.iter().any(is_merged) {
            sigkill(&mut child)?;
            break;
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the run ended ({status}) before any merged segment was stored");
        }
        anyhow::ensure!(Instant::now() < deadline, "no merged segment stored within 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = objects_under(&store, &dir).await?;
    let merged = left.iter().filter(|o| is_merged(o)).count();
    eprintln!("killed with {merged} of {P} partitions merged, {} objects stored", left.len());
    assert!(!left.iter().any(|o| o.ends_with("manifest.json")), "the killed run committed: {left:?}");
    assert!(merged < P as usize, "killed after every partition merged, not while merging: {left:?}");

    // Nothing of it is visible: the newest restore point is its parent, whole.
    let report = run_ok(&env, "verify", &config("")?, &[])?;
    assert_eq!(
        (report["backupId"].as_str(), &report["problems"]),
        (Some(parent.as_str()), &serde_json::json!([]))
    );

    // The next run removes what the killed one stored, merges again and commits.
    let (next, _) = backup(&env, &config("orphanGracePeriod: 0s\n")?)?;
    let next_id = next["backupId"].as_str().unwrap_or_default().to_string();
    assert_eq!(next["parentId"].as_str(), Some(parent.as_str()), "{next}");
    let m = manifest(&store, &prefix, &next_id).await?;
    let listed: Vec<usize> = m.topics[0].partitions.iter().map(|p| p.segments.len()).collect();
    assert_eq!(listed, vec![2; P as usize], "the 8 merged into one, and the new records");
    assert!(objects_under(&store, &dir).await?.is_empty(), "the killed run's objects are cleaned up");
    let report = run_ok(&env, "verify", &config("")?, &[])?;
    assert_eq!(
        (report["backupId"].as_str(), &report["problems"]),
        (Some(next_id.as_str()), &serde_json::json!([]))
    );
    restores_exactly(&env, &store, &prefix, &topic, &next_id, "after-kill").await
}
