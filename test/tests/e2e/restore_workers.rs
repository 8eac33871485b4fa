//! One restore across several worker processes (`restore --workers N --worker-index I`, issue 18
//! §3), at the process level: worker 0 plans and finishes, every worker writes its share through
//! its own transactional producer, a worker SIGKILLed mid-write and retried alone resumes without
//! a duplicate, and the consumer-group offsets are committed once, only after every worker's share
//! is written. A restore of "latest" stays on the backup worker 0 resolved.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use strimzi_backup_e2e::dataplane::{
    base_config, commit, committed, consume_all, fill_topics, minio, produce, read_backup, recent, records,
    restore_share, result_line, run_ok, sigkill, spawn, waited, watermarks, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;

/// A restore of `topics` into `<topic>-<suffix>`, group `group` restored as `<group>-<suffix>`.
fn restore_config(
    env: &TestEnv,
    prefix: &str,
    topics: &[String],
    group: &str,
    suffix: &str,
) -> anyhow::Result<String> {
    let mapping: String =
        topics.iter().map(|t| format!("  - sourceTopic: {t}\n    targetTopic: {t}-{suffix}\n")).collect();
    Ok(format!(
        "{}topicMapping:\n{mapping}consumerGroups:\n  mapping:\n    - sourceGroup: {group}\n      targetGroup: {group}-{suffix}\nrestore:\n  parallelism: 1\n",
        base_config(env, prefix, None)?
    ))
}

fn worker_args<'a>(
    restore_id: &'a str,
    workers: &'a str,
    index: &'a str,
    backup: Option<&'a str>,
) -> Vec<&'a str> {
    let mut args = vec!["--restore-id", restore_id, "--workers", workers, "--worker-index", index];
    if let Some(id) = backup {
        args.extend(["--backup-id", id]);
    }
    args
}

/// The last line of a worker that must have succeeded.
fn line_of(index: usize, out: &Output) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        out.status.success(),
        "worker {index} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    result_line(&out.stdout)
}

/// Waits until worker 0 recorded where every target partition starts; returns the state.
async fn planned(
    store: &impl object_store::ObjectStore,
    prefix: &str,
    restore_id: &str,
    worker_0: &tokio::task::JoinHandle<std::io::Result<Output>>,
) -> anyhow::Result<serde_json::Value> {
    let state = format!("{prefix}restores/{restore_id}/state.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(got) = store.get(&object_store::path::Path::from(state.as_str())).await {
            let state: serde_json::Value = serde_json::from_slice(&got.bytes().await?)?;
            if state["starts"].as_object().is_some_and(|s| !s.is_empty()) {
                return Ok(state);
            }
        }
        anyhow::ensure!(!worker_0.is_finished(), "worker 0 ended before it planned");
        anyhow::ensure!(Instant::now() < deadline, "worker 0 never planned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every partition's committed offset of `group` on `<topic>-<suffix>`.
fn group_offsets(
    env: &TestEnv,
    group: &str,
    topics: &[String],
    suffix: &str,
) -> anyhow::Result<BTreeMap<(String, i32), Option<i64>>> {
    let mut out = BTreeMap::new();
    for t in topics {
        for p in 0..8 {
            out.insert(
                (t.clone(), p),
                committed(env, &format!("{group}-{suffix}"), &format!("{t}-{suffix}"), p)?,
            );
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_one_killed_mid_write_restore_every_record_once_and_commit_offsets_once()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let topics: Vec<String> = (0..3).map(|t| format!("rw{t}{s}")).collect();
    let produced = fill_topics(&env, &topics, 8, 3_000).await?;
    let total: usize = produced.values().map(Vec::len).sum();
    // The group consumed part of each partition, all of one.
    let group = format!("rwg{s}");
    for (i, t) in topics.iter().enumerate() {
        for p in 0..8 {
            let at = if i == 0 && p == 0 { 3_000 } else { 100 * i64::from(p) + 7 };
            commit(&env, &group, t, p, at)?;
        }
    }
    let prefix = format!("e2e-restore-workers-{s}/");
    let include = topics.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
    let backup_cfg = format!(
        "{}topics:\n  include: [{include}]\nconsumerGroups:\n  include: [\"{group}\"]\nbackup:\n  segmentSize: 1048576\n",
        base_config(&env, &prefix, None)?
    );
    let backup_id = format!("b-{s}");
    let backed = run_ok(&env, "backup", &backup_cfg, &["--backup-id", &backup_id])?;
    assert_eq!(backed["records"], total);

    // The reference: one worker restores the backup into other names.
    let one = run_ok(
        &env,
        "restore",
        &restore_config(&env, &prefix, &topics, &group, "one")?,
        &["--backup-id", &backup_id, "--restore-id", &format!("one-{s}")],
    )?;
    assert_eq!(one["restoredRecords"], total);
    assert!(one.get("worker").is_none(), "one worker reports no share: {one}");
    let want_offsets = group_offsets(&env, &group, &topics, "one")?;
    assert!(want_offsets.values().all(Option::is_some), "{want_offsets:?}");

    // Four workers, started together; worker 1 is killed once it has written to its share.
    let cfg = restore_config(&env, &prefix, &topics, &group, "four")?;
    let restore_id = format!("four-{s}");
    let (manifest, _) = read_backup(&store, &prefix, &backup_id).await?;
    let victim = 1u32;
    let victims = restore_share(&manifest, 4, victim);
    assert!(!victims.is_empty());
    let mut children = Vec::new();
    for index in 0..4 {
        let index = index.to_string();
        children.push(Some(spawn(
            &env,
            "restore",
            &cfg,
            &worker_args(&restore_id, "4", &index, Some(&backup_id)),
        )?));
    }
    let mut killed = children[victim as usize].take().ok_or_else(|| anyhow::anyhow!("no worker {victim}"))?;
    let worker_0 = children[0].take().ok_or_else(|| anyhow::anyhow!("no worker 0"))?;
    let worker_0 = waited(worker_0);
    // The target topics exist once worker 0 recorded their starts.
    planned(&store, &prefix, &restore_id, &worker_0).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    'written: loop {
        for (t, p) in &victims {
            if watermarks(&env, &format!("{t}-four"), *p).is_ok_and(|(_, high)| high > 0) {
                break 'written;
            }
        }
        if killed.try_wait()?.is_some() {
            let out = killed.wait_with_output()?;
            anyhow::bail!(
                "worker {victim} ended ({}) before it could be killed: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        anyhow::ensure!(Instant::now() < deadline, "worker {victim} never wrote");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::ensure!(killed.try_wait()?.is_none(), "worker {victim} ended before it could be killed");
    sigkill(&mut killed)?;
    for index in [2usize, 3] {
        let child = children[index].take().ok_or_else(|| anyhow::anyhow!("no worker {index}"))?;
        let line = line_of(index, &waited(child).await??)?;
        assert_eq!(line["worker"]["committed"], false, "{line}");
        assert!(line.get("restoredRecords").is_none(), "worker {index} reported a whole result: {line}");
        assert_eq!(line["restoreId"], restore_id.as_str());
    }
    // Each worker leased the backup for itself while it read: the killed one's lease is still
    // there (it expires by itself), the finished ones released theirs.
    let lease = |index: usize| format!("{prefix}restores/{restore_id}/workers/{index}/lease.json");
    let held = store.get(&object_store::path::Path::from(lease(victim as usize))).await?;
    let held: serde_json::Value = serde_json::from_slice(&held.bytes().await?)?;
    assert_eq!(held["backupId"], backup_id.as_str(), "{held}");
    for index in [2usize, 3] {
        assert!(
            store.head(&object_store::path::Path::from(lease(index))).await.is_err(),
            "worker {index} kept its lease after its share"
        );
    }
    // Worker 0 has written its share and waits: with worker 1's share missing, no offset of the
    // group is committed on the restored topics yet.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!worker_0.is_finished(), "worker 0 finished without worker {victim}'s share");
    let early = group_offsets(&env, &group, &topics, "four")?;
    assert!(early.values().all(Option::is_none), "offsets committed while a worker was missing: {early:?}");

    // Worker 1 retried alone resumes its share; then worker 0 finishes the restore.
    let started = Instant::now();
    let index = victim.to_string();
    let retried = run_ok(&env, "restore", &cfg, &worker_args(&restore_id, "4", &index, Some(&backup_id)))?;
    eprintln!("the retried worker took {:?}", started.elapsed());
    assert_eq!(retried["worker"]["index"], victim);
    assert_eq!(retried["worker"]["partitions"], victims.len());
    assert!(
        store.head(&object_store::path::Path::from(lease(victim as usize))).await.is_err(),
        "the retried worker kept its lease"
    );
    let whole = line_of(0, &worker_0.await??)?;
    assert_eq!(whole["restoredRecords"], total, "{whole}");
    assert_eq!(whole["restoredPartitions"], 24);
    assert_eq!(
        (whole["worker"]["workers"].clone(), whole["worker"]["committed"].clone()),
        (4.into(), true.into())
    );
    assert_eq!(whole["consumerGroupsRestored"], 1);

    // Every record once, compared by content with what was produced; the same offsets as one
    // worker's restore of the same backup.
    for ((topic, p), want) in &produced {
        let got = consume_all(&env, &format!("{topic}-four"), *p)?;
        assert_eq!(without_offsets(&got), without_offsets(want), "{topic}/{p}");
    }
    // The offsets themselves may differ: a killed worker's open transaction was aborted, and its
    // records still take offsets before the rewritten ones. What must agree is where consumers
    // resume: the same records follow each committed offset.
    let got_offsets = group_offsets(&env, &group, &topics, "four")?;
    for ((topic, p), want) in &want_offsets {
        let after = |suffix: &str, at: Option<i64>| -> anyhow::Result<Vec<_>> {
            let all = consume_all(&env, &format!("{topic}-{suffix}"), *p)?;
            let at = at.ok_or_else(|| anyhow::anyhow!("{topic}-{suffix}/{p}: no committed offset"))?;
            let next: Vec<_> = all.into_iter().filter(|r| r.offset >= at).collect();
            Ok(without_offsets(&next))
        };
        let got = got_offsets.get(&(topic.clone(), *p)).copied().flatten();
        assert_eq!(after("four", got)?, after("one", *want)?, "{topic}/{p}: {got:?} against {want:?}");
    }
    // A rerun of any worker now reports the finished restore and writes nothing.
    let ends = |env: &TestEnv| -> anyhow::Result<Vec<i64>> {
        produced.keys().map(|(t, p)| Ok(watermarks(env, &format!("{t}-four"), *p)?.1)).collect()
    };
    let before = ends(&env)?;
    let again = run_ok(&env, "restore", &cfg, &worker_args(&restore_id, "4", "2", Some(&backup_id)))?;
    assert_eq!(again["restoredRecords"], total);
    assert_eq!(ends(&env)?, before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_of_latest_stays_on_the_backup_worker_0_planned() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let topics = vec![format!("rwl{s}")];
    let produced = fill_topics(&env, &topics, 4, 200).await?;
    let group = format!("rwlg{s}");
    commit(&env, &group, &topics[0], 0, 50)?;
    let prefix = format!("e2e-restore-workers-latest-{s}/");
    let backup_cfg =
        format!("{}topics:\n  include: [\"{}\"]\n", base_config(&env, &prefix, None)?, topics[0]);
    let first = format!("first-{s}");
    run_ok(&env, "backup", &backup_cfg, &["--backup-id", &first])?;

    let cfg = restore_config(&env, &prefix, &topics, &group, "latest")?;
    let restore_id = format!("latest-{s}");
    let worker_0 = spawn(&env, "restore", &cfg, &worker_args(&restore_id, "3", "0", None))?;
    let worker_0 = waited(worker_0);
    // Once worker 0 has recorded its plan, a newer backup lands.
    let state = planned(&store, &prefix, &restore_id, &worker_0).await?;
    assert_eq!(state["backupId"], first.as_str());
    produce(&env, &topics[0], 0, &records(&topics[0], 0, 30, recent())).await?;
    let second = format!("second-{s}");
    run_ok(&env, "backup", &backup_cfg, &["--backup-id", &second])?;
    for index in ["1", "2"] {
        let line = run_ok(&env, "restore", &cfg, &worker_args(&restore_id, "3", index, None))?;
        assert_eq!(line["backupId"], first.as_str(), "worker {index}: {line}");
    }
    let whole = line_of(0, &worker_0.await??)?;
    assert_eq!(whole["backupId"], first.as_str());
    assert_eq!(whole["restoredRecords"], 800, "the first backup's records only: {whole}");
    for ((topic, p), want) in &produced {
        let got = consume_all(&env, &format!("{topic}-latest"), *p)?;
        assert_eq!(without_offsets(&got), without_offsets(want), "{topic}/{p}");
    }
    Ok(())
}

/// A topic restored into another partition count is one worker's unit: three workers restore it
/// beside a topic restored one to one, and every target partition holds what a one-worker restore
/// of the same backup puts there, in the same order, with the group resuming at the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repartitioned_topic_is_written_by_one_worker_as_one_worker_would() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let topics: Vec<String> = (0..2).map(|t| format!("rwr{t}{s}")).collect();
    fill_topics(&env, &topics, 4, 300).await?;
    let group = format!("rwrg{s}");
    for t in &topics {
        for p in 0..4 {
            commit(&env, &group, t, p, 40 * i64::from(p) + 5)?;
        }
    }
    let prefix = format!("e2e-restore-workers-repartition-{s}/");
    let backup_cfg = format!(
        "{}topics:\n  include: [\"{}\", \"{}\"]\nconsumerGroups:\n  include: [\"{group}\"]\n",
        base_config(&env, &prefix, None)?,
        topics[0],
        topics[1]
    );
    let backup_id = format!("b-{s}");
    run_ok(&env, "backup", &backup_cfg, &["--backup-id", &backup_id])?;
    // The first topic into 3 partitions, the second one to one.
    let config = |suffix: &str| -> anyhow::Result<String> {
        Ok(restore_config(&env, &prefix, &topics, &group, suffix)?.replacen(
            &format!("    targetTopic: {}-{suffix}\n", topics[0]),
            &format!("    targetTopic: {}-{suffix}\n    partitions: 3\n", topics[0]),
            1,
        ))
    };
    let one = run_ok(
        &env,
        "restore",
        &config("one")?,
        &["--backup-id", &backup_id, "--restore-id", &format!("one-{s}")],
    )?;
    let restore_id = format!("three-{s}");
    let cfg = config("three")?;
    let mut children = Vec::new();
    for index in ["0", "1", "2"] {
        children.push(waited(spawn(
            &env,
            "restore",
            &cfg,
            &worker_args(&restore_id, "3", index, Some(&backup_id)),
        )?));
    }
    let mut lines = Vec::new();
    for (index, child) in children.into_iter().enumerate() {
        lines.push(line_of(index, &child.await??)?);
    }
    let whole = &lines[0];
    assert_eq!(
        (whole["restoredRecords"].clone(), whole["restoredPartitions"].clone()),
        (one["restoredRecords"].clone(), one["restoredPartitions"].clone()),
        "{whole}"
    );
    // The repartitioned topic went to one worker as a whole: its 3 target partitions in one
    // worker's stored result.
    let store = minio(&env)?;
    let mut holders = Vec::new();
    for index in 0..3 {
        let name = format!("{prefix}restores/{restore_id}/workers/{index}.json");
        let got = store.get(&object_store::path::Path::from(name.as_str())).await?;
        let result: serde_json::Value = serde_json::from_slice(&got.bytes().await?)?;
        let outcomes = result["outcomes"].as_array().cloned().unwrap_or_default();
        let held = outcomes.iter().filter(|o| o["sourceTopic"] == topics[0].as_str()).count();
        if held > 0 {
            holders.push((index, held));
        }
    }
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert_eq!(holders[0].1, 3, "{holders:?}");
    for (topic, partitions) in [(&topics[0], 3), (&topics[1], 4)] {
        for p in 0..partitions {
            let read = |suffix: &str| -> anyhow::Result<(Vec<_>, Vec<_>)> {
                let all = consume_all(&env, &format!("{topic}-{suffix}"), p)?;
                let at = committed(&env, &format!("{group}-{suffix}"), &format!("{topic}-{suffix}"), p)?
                    .ok_or_else(|| anyhow::anyhow!("{topic}-{suffix}/{p}: no committed offset"))?;
                let next = all.iter().filter(|r| r.offset >= at).cloned().collect::<Vec<_>>();
                Ok((without_offsets(&all), without_offsets(&next)))
            };
            assert_eq!(read("three")?, read("one")?, "{topic}/{p}");
        }
    }
    Ok(())
}
