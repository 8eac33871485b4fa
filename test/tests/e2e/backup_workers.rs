//! One backup across several worker processes (`backup --workers N --worker-index I`, issue 18
//! §3), at the process level: the workers share one plan, each reads its share, the backup is
//! committed once, only after every worker stored its part, and a killed worker retried alone
//! completes it. Until then nothing is visible.

use std::collections::BTreeMap;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use object_store::{ObjectStore, ObjectStoreExt};
use strimzi_backup_e2e::dataplane::objects_under;
use strimzi_backup_e2e::dataplane::{
    base_config, command, consume_all, fill_topics, minio, partition_ranges, produce, read_backup, recent,
    records, restores_renamed_to, result_line, run_err, run_ok, sigkill, spawn, waited, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::backup::merge::MERGE_ENV;
use strimzi_backup_operator::backup::shared_plan::SharedPlan;
use strimzi_backup_operator::format::data_keys::backup_of_segment;
use strimzi_backup_operator::format::manifest::Manifest;
use strimzi_backup_operator::format::record::Record;

fn config(env: &TestEnv, prefix: &str, topics: &[String], extra: &str) -> anyhow::Result<String> {
    let include = topics.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
    Ok(format!(
        "{}topics:\n  include: [{include}]\nbackup:\n  segmentSize: 1048576\n  parallelism: 1\n{extra}",
        base_config(env, prefix, None)?
    ))
}

fn worker_args(id: &str, workers: u32, index: u32) -> Vec<String> {
    vec![
        "--backup-id".into(),
        id.into(),
        "--workers".into(),
        workers.to_string(),
        "--worker-index".into(),
        index.to_string(),
    ]
}

fn spawn_worker(env: &TestEnv, config: &str, id: &str, workers: u32, index: u32) -> anyhow::Result<Child> {
    let args = worker_args(id, workers, index);
    spawn(env, "backup", config, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The line a worker that did not commit prints: its share, `committed: false`.
fn part_done(index: u32, out: &Output) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        out.status.success(),
        "worker {index} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = result_line(&out.stdout)?;
    anyhow::ensure!(line["worker"]["committed"] == false, "worker {index}: {line}");
    anyhow::ensure!(line.get("records").is_none(), "worker {index} reported a whole result: {line}");
    Ok(line)
}

async fn exists(store: &impl ObjectStore, name: &str) -> anyhow::Result<bool> {
    match store.head(&object_store::path::Path::from(name)).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Produces `n` more records, timestamped from `ts`, to every partition of `all` and adds them
/// there with the offsets they get (each partition's records so far are all it holds).
async fn produce_more(
    env: &TestEnv,
    all: &mut BTreeMap<(String, i32), Vec<Record>>,
    n: usize,
    ts: i64,
) -> anyhow::Result<()> {
    for ((topic, p), recs) in all.iter_mut() {
        let more: Vec<Record> = records(topic, *p, n, ts)
            .into_iter()
            .map(|mut r| {
                r.offset += recs.len() as i64;
                r
            })
            .collect();
        produce(env, topic, *p, &more).await?;
        recs.extend(more);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_with_one_killed_and_retried_commit_the_restore_point_of_one_worker()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let topics: Vec<String> = (0..3).map(|t| format!("bw{t}{s}")).collect();
    let produced = fill_topics(&env, &topics, 8, 3_000).await?;
    let total: usize = produced.values().map(Vec::len).sum();

    // The reference: the same topics backed up by one worker.
    let one_prefix = format!("e2e-workers-one-{s}/");
    let one_id = format!("one-{s}");
    let one = run_ok(&env, "backup", &config(&env, &one_prefix, &topics, "")?, &["--backup-id", &one_id])?;
    assert_eq!(one["records"], total);
    assert!(one.get("worker").is_none(), "one worker reports no worker share: {one}");
    let written = objects_under(&store, &format!("{one_prefix}backups/{one_id}/")).await?;
    assert!(!written.iter().any(|o| o.ends_with("/plan.json") || o.contains("/workers/")), "{written:?}");

    // Four workers of one backup, started together.
    let prefix = format!("e2e-workers-{s}/");
    let cfg = config(&env, &prefix, &topics, "")?;
    let id = format!("four-{s}");
    let mut children: Vec<Option<Child>> =
        (0..4).map(|i| spawn_worker(&env, &cfg, &id, 4, i).map(Some)).collect::<anyhow::Result<_>>()?;
    let plan_name = format!("{prefix}backups/{id}/plan.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    let plan = loop {
        if let Ok(got) = store.get(&object_store::path::Path::from(plan_name.as_str())).await {
            break SharedPlan::from_json(&got.bytes().await?, &plan_name, &id)?;
        }
        anyhow::ensure!(Instant::now() < deadline, "no worker published the plan");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((plan.workers, plan.partitions.len()), (4, 24));
    // The worker that planned is killed: it also captured the cluster metadata, which its retry
    // must capture again.
    let killed = plan.planned_by;
    let share = strimzi_backup_operator::backup::workers::share(&plan.partitions, 4, killed);
    assert!(!share.is_empty());
    let mut others = Vec::new();
    for (index, child) in children.iter_mut().enumerate() {
        if index as u32 != killed {
            let child = child.take().ok_or_else(|| anyhow::anyhow!("worker {index} gone"))?;
            others.push((index as u32, waited(child)));
        }
    }
    let mut victim = children[killed as usize].take().ok_or_else(|| anyhow::anyhow!("no worker {killed}"))?;
    let deadline = Instant::now() + Duration::from_secs(300);
    'read: loop {
        for i in &share {
            let p = &plan.partitions[*i];
            let dir = format!("{prefix}backups/{id}/segments/{}/{}/", p.topic, p.partition);
            if !objects_under(&store, &dir).await?.is_empty() {
                break 'read;
            }
        }
        anyhow::ensure!(victim.try_wait()?.is_none(), "worker {killed} ended before it could be killed");
        anyhow::ensure!(Instant::now() < deadline, "worker {killed} never wrote a segment");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::ensure!(victim.try_wait()?.is_none(), "worker {killed} ended before it could be killed");
    sigkill(&mut victim)?;

    // The others finish their shares and stop: the backup is not committed without the killed
    // worker's part, and nothing sees it.
    let mut shares = 0;
    for (index, done) in others {
        let line = part_done(index, &done.await??)?;
        assert_eq!(line["backupId"], id.as_str());
        shares += line["worker"]["partitions"].as_u64().unwrap_or(0);
    }
    assert_eq!(shares as usize, 24 - share.len(), "each partition read by one worker");
    assert!(
        !exists(&store, &format!("{prefix}backups/{id}/manifest.json")).await?,
        "committed without a worker"
    );
    let nothing = run_err(&env, "verify", &cfg, &[])?;
    assert!(nothing.contains("no backup in"), "{nothing}");
    let nothing = run_err(&env, "verify", &cfg, &["--backup-id", &id])?;
    assert!(nothing.contains("not found"), "{nothing}");

    // The killed worker retried alone completes the backup and reports it whole.
    let started = Instant::now();
    let args = worker_args(&id, 4, killed);
    let result = run_ok(&env, "backup", &cfg, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
    eprintln!("the retried worker took {:?}", started.elapsed());
    assert_eq!(result["backupId"], id.as_str());
    assert_eq!(result["records"], total, "what all four wrote: {result}");
    assert_eq!(result["partitions"], 24);
    assert_eq!(result["worker"]["committed"], true);
    assert_eq!(result["worker"]["index"], killed);
    assert_eq!(result["worker"]["partitions"], share.len());
    assert_eq!(result["startedAt"].as_str(), Some(plan.started_at.as_str()), "the plan's start");
    assert!(result["clusterMetadata"].is_object(), "captured by the planning worker: {result}");
    // A retry of any worker now reports the committed backup.
    let again = run_ok(
        &env,
        "backup",
        &cfg,
        &worker_args(&id, 4, (killed + 1) % 4).iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    assert_eq!((again["records"].clone(), again["worker"]["committed"].clone()), (total.into(), true.into()));
    let verified = run_ok(&env, "verify", &cfg, &["--backup-id", &id])?;
    assert_eq!(verified["records"], total);

    // Record for record what one worker backed up: the same offsets, keys, values, headers and
    // timestamps in every partition, read by the independent decoder; the same ranges and groups.
    let (m_one, r_one) = read_backup(&store, &one_prefix, &one_id).await?;
    let (m_four, r_four) = read_backup(&store, &prefix, &id).await?;
    assert_eq!(r_four.len(), 24);
    assert_eq!(r_four, r_one);
    assert_eq!(partition_ranges(&m_four), partition_ranges(&m_one));
    assert_eq!((m_four.totals.records, m_four.totals.partitions), (m_one.totals.records, 24));
    assert_eq!(m_four.cluster_metadata.is_some(), m_one.cluster_metadata.is_some());

    // And it restores to what was produced.
    restores_renamed_to(&env, &prefix, &id, &topics, &produced, "")?;
    Ok(())
}

#[tokio::test]
async fn a_worker_that_never_runs_leaves_nothing_visible_and_its_parts_are_cleaned_up() -> anyhow::Result<()>
{
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let topics = vec![format!("bn{s}")];
    let produced = fill_topics(&env, &topics, 4, 200).await?;
    let prefix = format!("e2e-workers-missing-{s}/");
    let cfg = config(&env, &prefix, &topics, "")?;
    let id = format!("three-of-four-{s}");
    // Workers 0, 1 and 2 of 4; worker 3 never starts.
    let runs: Vec<_> =
        (0..3).map(|i| spawn_worker(&env, &cfg, &id, 4, i).map(waited)).collect::<anyhow::Result<_>>()?;
    let mut read = 0;
    for (index, run) in runs.into_iter().enumerate() {
        read += part_done(index as u32, &run.await??)?["worker"]["partitions"].as_u64().unwrap_or(0);
    }
    assert_eq!(read, 3, "a fourth of the partitions is worker 3's");
    let left = objects_under(&store, &format!("{prefix}backups/{id}/")).await?;
    assert!(left.iter().any(|o| o.ends_with("/plan.json")), "{left:?}");
    assert_eq!(left.iter().filter(|o| o.contains("/workers/")).count(), 3, "{left:?}");
    assert!(!left.iter().any(|o| o.ends_with("manifest.json")), "{left:?}");
    let nothing = run_err(&env, "verify", &cfg, &[])?;
    assert!(nothing.contains("no backup in"), "{nothing}");

    // A worker started with another count does not join the plan.
    let args = worker_args(&id, 2, 1);
    let refused = run_err(&env, "backup", &cfg, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
    assert!(refused.contains("planned for 4 workers"), "{refused}");

    // The next backup is whole on its own and removes the unfinished one's plan, results and
    // segments like any unfinished backup's.
    let next = run_ok(&env, "backup", &config(&env, &prefix, &topics, "orphanGracePeriod: 0s\n")?, &[])?;
    assert_eq!(next["records"], produced.values().map(Vec::len).sum::<usize>());
    assert!(objects_under(&store, &format!("{prefix}backups/{id}/")).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn workers_with_keys_from_a_kms_seal_with_the_one_data_key_of_the_plan() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let topics = vec![format!("bk{s}")];
    let produced = fill_topics(&env, &topics, 6, 300).await?;
    let key = format!("workers-{s}");
    let (kms, _) = crate::kms::new_vault_key(&env, &key)?;
    let prefix = format!("e2e-workers-kms-{s}/");
    let cfg = format!(
        "{}topics:\n  include: [\"{}\"]\nbackup:\n  parallelism: 1\n  encryption:\n    enabled: true\n    kms: {{provider: vaultTransit, keyId: {key}}}\n{kms}",
        base_config(&env, &prefix, None)?,
        topics[0]
    );
    let id = format!("kms-three-{s}");
    let runs: Vec<_> =
        (0..3).map(|i| spawn_worker(&env, &cfg, &id, 3, i).map(waited)).collect::<anyhow::Result<_>>()?;
    let mut whole = Vec::new();
    for (index, run) in runs.into_iter().enumerate() {
        let out = run.await??;
        anyhow::ensure!(out.status.success(), "worker {index}: {}", String::from_utf8_lossy(&out.stderr));
        let line = result_line(&out.stdout)?;
        if line["worker"]["committed"] == true {
            whole.push(line);
        }
    }
    assert!(!whole.is_empty(), "the worker that stored the last part committed");
    let total: usize = produced.values().map(Vec::len).sum();
    assert_eq!(whole[0]["records"], total);

    // One data key for the whole backup: the one the plan carries, wrapped once.
    let plan_name = format!("{prefix}backups/{id}/plan.json");
    let got = store.get(&object_store::path::Path::from(plan_name.as_str())).await?;
    let plan = SharedPlan::from_json(&got.bytes().await?, &plan_name, &id)?;
    let manifest_name = format!("{prefix}backups/{id}/manifest.json");
    let bytes = store.get(&object_store::path::Path::from(manifest_name.as_str())).await?.bytes().await?;
    let manifest = strimzi_backup_operator::format::manifest::Manifest::from_json(&bytes, &manifest_name)?;
    assert_eq!(manifest.encoding.data_keys.len(), 1);
    assert_eq!(plan.data_key.as_ref(), manifest.encoding.data_keys.first());

    // Every worker's segments read back with it.
    let verified = run_ok(&env, "verify", &cfg, &["--backup-id", &id])?;
    assert_eq!(verified["records"], total);
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {t}\n    targetTopic: {t}-restored\n{kms}",
        base_config(&env, &prefix, None)?,
        t = topics[0]
    );
    run_ok(&env, "restore", &restore, &["--backup-id", &id])?;
    for ((topic, p), want) in &produced {
        let got = consume_all(&env, &format!("{topic}-restored"), *p)?;
        assert_eq!(without_offsets(&got), without_offsets(want), "{topic}/{p}");
    }

    // An incremental by three workers again: each partition continues its lineage from the
    // plan, which carries the parent's wrapped key for the segments the restore point keeps.
    let mut all = produced.clone();
    produce_more(&env, &mut all, 50, recent()).await?;
    let next = format!("kms-three-next-{s}");
    let runs: Vec<_> =
        (0..3).map(|i| spawn_worker(&env, &cfg, &next, 3, i).map(waited)).collect::<anyhow::Result<_>>()?;
    let mut committed = 0;
    for (index, run) in runs.into_iter().enumerate() {
        let out = run.await??;
        anyhow::ensure!(out.status.success(), "worker {index}: {}", String::from_utf8_lossy(&out.stderr));
        let line = result_line(&out.stdout)?;
        if line["worker"]["committed"] == true {
            assert_eq!(line["records"], 6 * 50, "only the new records are read: {line}");
            assert_eq!(line["parentId"], id.as_str());
            committed += 1;
        }
    }
    assert!(committed > 0);
    let manifest_name = format!("{prefix}backups/{next}/manifest.json");
    let bytes = store.get(&object_store::path::Path::from(manifest_name.as_str())).await?.bytes().await?;
    let manifest = strimzi_backup_operator::format::manifest::Manifest::from_json(&bytes, &manifest_name)?;
    let keys: Vec<&str> = manifest.encoding.data_keys.iter().map(|k| k.backup_id.as_str()).collect();
    assert_eq!(keys, [id.as_str(), next.as_str()]);
    let verified = run_ok(&env, "verify", &cfg, &["--backup-id", &next])?;
    assert_eq!(verified["records"], all.values().map(Vec::len).sum::<usize>());
    let latest = restore.replace("-restored", "-latest");
    run_ok(&env, "restore", &latest, &["--backup-id", &next])?;
    for ((topic, p), want) in &all {
        let got = consume_all(&env, &format!("{topic}-latest"), *p)?;
        assert_eq!(without_offsets(&got), without_offsets(want), "{topic}/{p}");
    }
    Ok(())
}

/// Incrementals after the full backup, at most, in the test of merging across workers.
const MOST_INCREMENTALS: usize = 12;
/// What the newest manifest of that lineage lists per partition, at most, once a run merged:
/// the merged segment(s), and what runs after the merge added. Without merging it lists one
/// segment per run: 9 or more by then.
const MOST_SEGMENTS_MERGED: usize = 4;

/// Worker `index` of `workers` of backup `id`, given `STRIMZI_BACKUP_MERGE_SEGMENTS` when the
/// test runs with it (`=off` shows the lineage without merging, and the test failing).
fn spawn_merging_worker(
    env: &TestEnv,
    config: &str,
    id: &str,
    workers: u32,
    index: u32,
) -> anyhow::Result<Child> {
    let args = worker_args(id, workers, index);
    let mut cmd = command(env, "backup", config, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
    if let Ok(v) = std::env::var(MERGE_ENV) {
        cmd.env(MERGE_ENV, v);
    }
    Ok(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?)
}

/// Backup segment merging (issue 18 §4) in backups across workers: each incremental run by two
/// worker processes adds a small segment to each of 4 partitions; once a partition's lineage
/// holds enough small ones, the workers merge them (each its share's partitions), the merged
/// segments are the merging backup's own objects, the newest manifest lists few segments per
/// partition, and the newest restore point restores every record once. Run with
/// `STRIMZI_BACKUP_MERGE_SEGMENTS=off` (passed on to the workers) to see it fail: 13 segments
/// per partition after 12 incrementals, no run merging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incrementals_across_two_workers_merge_each_partitions_small_segments() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let merged =
        merge_across_two_workers(&env, &format!("e2e-workers-merge-{s}/"), &format!("bm{s}"), "").await?;
    restores_renamed_to(&env, &merged.prefix, &merged.newest.backup_id, &merged.topics, &merged.records, "")
}

/// The same across two workers with keys from a KMS (OpenBao's Vault transit): every run seals
/// with the one data key of its plan, so a merging worker reads the small segments with the
/// data keys of the backups that wrote them (the parent's wrapped keys, unwrapped by Vault) and
/// seals the merged ones with its run's key. The newest manifest carries a wrapped key for every
/// backup whose segments it lists and no longer those of merged-away ones; `verify` and a
/// restore with the KMS read every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incrementals_across_two_workers_with_vault_keys_merge_with_the_keys_that_sealed_them()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let key = format!("workers-merge-{s}");
    let (kms, token) = crate::kms::new_vault_key(&env, &key)?;
    let encryption =
        format!("  encryption:\n    enabled: true\n    kms: {{provider: vaultTransit, keyId: {key}}}\n{kms}");
    let merged = merge_across_two_workers(
        &env,
        &format!("e2e-workers-merge-kms-{s}/"),
        &format!("bv{s}"),
        &encryption,
    )
    .await?;
    let m = &merged.newest;
    let writers: std::collections::BTreeSet<&str> =
        m.objects().filter_map(|s| backup_of_segment(&s.object)).collect();
    let carried: std::collections::BTreeSet<&str> =
        m.encoding.data_keys.iter().map(|k| k.backup_id.as_str()).collect();
    assert_eq!(writers, carried, "a wrapped key for each backup whose segments are listed, and no other");
    assert!(carried.len() < merged.ids.len(), "merged-away backups' keys are still carried: {carried:?}");

    let verify = format!("{}{kms}", base_config(&env, &merged.prefix, None)?);
    let verified = run_ok(&env, "verify", &verify, &["--backup-id", &m.backup_id])?;
    assert_eq!(verified["problems"], serde_json::json!([]), "{verified}");
    assert_eq!(verified["records"], merged.records.values().map(Vec::len).sum::<usize>());
    restores_renamed_to(&env, &merged.prefix, &m.backup_id, &merged.topics, &merged.records, &kms)?;
    if let Some(dir) = token.parent() {
        std::fs::remove_dir_all(dir).ok();
    }
    Ok(())
}

/// What [`merge_across_two_workers`] leaves to check: the lineage and the records it holds.
struct MergedLineage {
    prefix: String,
    topics: Vec<String>,
    /// Every record produced, by partition.
    records: BTreeMap<(String, i32), Vec<Record>>,
    /// The backups of the lineage, oldest first; the last one merged.
    ids: Vec<String>,
    /// The newest manifest.
    newest: Manifest,
}

/// Incrementals by two workers of topic `topic` (4 partitions) at `prefix`, with `extra` under
/// `backup:` (and after it), until a run merges: checks what each run reads, that the merging
/// run is the newest, that it lists few segments per partition and that every partition lists a
/// merged segment of its own holding several runs' records.
async fn merge_across_two_workers(
    env: &TestEnv,
    prefix: &str,
    topic: &str,
    extra: &str,
) -> anyhow::Result<MergedLineage> {
    let started = Instant::now();
    let store = minio(env)?;
    let s = unique_suffix();
    let topics = vec![topic.to_string()];
    let mut all = fill_topics(env, &topics, 4, 200).await?;
    let cfg = config(env, prefix, &topics, &format!("  mode: incremental\n{extra}"))?;
    let mut ids: Vec<String> = Vec::new();
    let mut merged_by = None;
    for run in 0..=MOST_INCREMENTALS {
        if run > 0 {
            produce_more(env, &mut all, 5, recent() + 1000 * run as i64).await?;
        }
        let id = format!("m{run}-{s}");
        let runs: Vec<_> = (0..2)
            .map(|i| spawn_merging_worker(env, &cfg, &id, 2, i).map(waited))
            .collect::<anyhow::Result<_>>()?;
        let (mut committed, mut merging) = (0, false);
        for (index, done) in runs.into_iter().enumerate() {
            let out = done.await??;
            let log = String::from_utf8_lossy(&out.stderr);
            anyhow::ensure!(out.status.success(), "{id}: worker {index} failed ({}): {log}", out.status);
            let line = result_line(&out.stdout)?;
            if line["worker"]["committed"] == true {
                committed += 1;
                if run > 0 {
                    assert_eq!(line["records"], 4 * 5, "{id}: what the run read, not what it merged: {line}");
                    assert_eq!(line["parentId"], ids[run - 1].as_str(), "{line}");
                }
            }
            merging |= log.contains("merged small segments");
        }
        // Both may find both parts stored and commit: the manifest is written create-only and
        // the second finds the same one there (commit::commit), so one backup either way.
        assert!(committed >= 1, "{id}: no worker committed");
        ids.push(id.clone());
        if merging {
            merged_by = Some(id);
            break;
        }
    }
    let newest = ids.last().cloned().unwrap_or_default();
    let path = object_store::path::Path::from(format!("{prefix}backups/{newest}/manifest.json"));
    let m = Manifest::from_json(&store.get(&path).await?.bytes().await?, path.as_ref())?;
    let listed: Vec<usize> = m.topics[0].partitions.iter().map(|p| p.segments.len()).collect();
    eprintln!(
        "after {} backups of 2 workers: segments per partition {listed:?} at {:?}",
        ids.len(),
        started.elapsed()
    );
    assert!(listed.iter().all(|n| *n <= MOST_SEGMENTS_MERGED), "segments per partition {listed:?}");
    assert_eq!(merged_by.as_deref(), Some(newest.as_str()), "no run merged");

    // Every partition (whichever worker read it) lists a merged segment under the newest
    // backup's id: below where the run read from, holding several runs' records.
    for p in &m.topics[0].partitions {
        let merged: Vec<_> = p
            .segments
            .iter()
            .filter(|s| p.read_from.is_some_and(|r| s.last_offset < r))
            .filter(|s| backup_of_segment(&s.object) == Some(newest.as_str()))
            .collect();
        assert!(
            !merged.is_empty(),
            "partition {}: no merged segment of {newest}: {:?}",
            p.partition,
            p.segments
        );
        assert!(merged.iter().map(|s| s.records).sum::<u64>() > 5, "partition {}: {merged:?}", p.partition);
    }
    Ok(MergedLineage { prefix: prefix.to_string(), topics, records: all, ids, newest: m })
}
