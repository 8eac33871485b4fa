//! Continuous backup (issue 18 §4), data plane: `backup` with `backup.mode: continuous` commits
//! a restore point every `commitInterval` while records keep coming, survives SIGKILLs without
//! losing or duplicating a record, stops cleanly on SIGTERM, and two such processes on one
//! location never fork the lineage (the fence of `backup::fence`); a hung broker fails iterations
//! without ending the process, which catches up once the broker answers.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use strimzi_backup_e2e::dataplane::{
    base_config, command, consume_all, create_topic, delete_topic, minio, produce, recent, run_ok, sigkill,
    signal, watermarks, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::{http_get, unique_suffix};
use strimzi_backup_e2e::operator::free_port;
use strimzi_backup_operator::format::record::{Record, TimestampType};

pub(crate) const PARTITIONS: i32 = 3;

/// What a test needs of a committed manifest.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) id: String,
    pub(crate) parent: Option<String>,
    completed_at: String,
    /// End offset per partition: the cut.
    pub(crate) ends: BTreeMap<i32, i64>,
}

pub(crate) async fn points(store: &impl ObjectStore, prefix: &str) -> anyhow::Result<Vec<Point>> {
    let dir = object_store::path::Path::from(format!("{prefix}backups"));
    let listed: Vec<_> = store.list(Some(&dir)).try_collect().await?;
    let mut out = Vec::new();
    for o in listed.into_iter().filter(|o| o.location.as_ref().ends_with("/manifest.json")) {
        let bytes = store.get(&o.location).await?.bytes().await?;
        let stored: serde_json::Value = serde_json::from_slice(&bytes)?;
        let m = &stored["manifest"];
        let ends = m["topics"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["partitions"].as_array().into_iter().flatten())
            .map(|p| (p["partition"].as_i64().unwrap_or(-1) as i32, p["endOffset"].as_i64().unwrap_or(-1)))
            .collect();
        out.push(Point {
            id: m["backupId"].as_str().unwrap_or_default().into(),
            parent: m["parentId"].as_str().map(str::to_string),
            completed_at: m["completedAt"].as_str().unwrap_or_default().into(),
            ends,
        });
    }
    out.sort_by(|a, b| a.completed_at.cmp(&b.completed_at));
    Ok(out)
}

/// The lineage never forks: one root, no restore point with two children, and in commit order
/// each one's parent is the one committed before it.
pub(crate) fn assert_linear(points: &[Point]) {
    let roots: Vec<_> = points.iter().filter(|p| p.parent.is_none()).map(|p| &p.id).collect();
    assert_eq!(roots.len(), 1, "one first backup: {roots:?}");
    let mut parents = BTreeSet::new();
    for p in points.iter().filter_map(|p| p.parent.as_ref()) {
        assert!(parents.insert(p), "restore point {p} has two children: {points:#?}");
    }
    for pair in points.windows(2) {
        assert_eq!(pair[1].parent.as_deref(), Some(pair[0].id.as_str()), "{points:#?}");
    }
}

/// Produces numbered records to every partition, a batch every 200 ms, until stopped; keeps
/// what it produced.
pub(crate) struct Producer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    produced: Arc<Mutex<Vec<Vec<Record>>>>,
}

impl Producer {
    pub(crate) fn start(env: &TestEnv, topic: &str) -> Self {
        Self::start_with(env, topic, "", 40)
    }

    /// [`Producer::start`] with `batch` records per partition every 200 ms, each key and value
    /// starting with `tag` (to tell two producers' records apart).
    pub(crate) fn start_with(env: &TestEnv, topic: &str, tag: &str, batch: i64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let produced = Arc::new(Mutex::new(vec![Vec::new(); PARTITIONS as usize]));
        let task = tokio::spawn({
            let (env, topic, tag, stop, produced) =
                (env.clone(), topic.to_string(), tag.to_string(), stop.clone(), produced.clone());
            async move {
                let base = recent();
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    for p in 0..PARTITIONS {
                        let batch: Vec<Record> = (i..i + batch)
                            .map(|n| Record {
                                offset: n,
                                timestamp: base + n,
                                timestamp_type: TimestampType::CreateTime,
                                key: Some(Bytes::from(format!("{tag}{p}-{n}"))),
                                value: Some(Bytes::from(format!(
                                    "{tag}{p}-{n}-{:0500}",
                                    n * 7 + i64::from(p)
                                ))),
                                headers: Vec::new(),
                            })
                            .collect();
                        produce(&env, &topic, p, &batch).await?;
                        produced.lock().map_err(|_| anyhow::anyhow!("poisoned"))?[p as usize].extend(batch);
                    }
                    i += batch;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(())
            }
        });
        Self { stop, task, produced }
    }

    pub(crate) async fn finish(self) -> anyhow::Result<Vec<Vec<Record>>> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await??;
        let produced = self.produced.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
        Ok(produced)
    }
}

/// A continuous backup of `topic` committing every 10 s; `extra` goes on (lines of `backup:`
/// indented by two, or top-level ones after them).
fn continuous_config(env: &TestEnv, prefix: &str, topic: &str, extra: &str) -> anyhow::Result<String> {
    Ok(format!(
        "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  mode: continuous\n  commitInterval: 10s\n{extra}",
        base_config(env, prefix, None)?
    ))
}

fn continuous(env: &TestEnv, config: &str) -> anyhow::Result<Child> {
    continuous_serving(env, config, "off")
}

/// [`continuous`] serving its metrics on `metrics` (`host:port`).
fn continuous_serving(env: &TestEnv, config: &str, metrics: &str) -> anyhow::Result<Child> {
    Ok(command(env, "backup", config, &[])?
        .env("STRIMZI_BACKUP_METRICS_ADDRESS", metrics)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?)
}

/// Waits until a restore point's cut covers every partition's current end.
pub(crate) async fn until_covered(
    env: &TestEnv,
    store: &impl ObjectStore,
    prefix: &str,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<Point> {
    let mut ends = BTreeMap::new();
    for p in 0..PARTITIONS {
        ends.insert(p, watermarks(env, topic, p)?.1);
    }
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(p) = points(store, prefix).await?.into_iter().rev().find(|p| p.ends == ends) {
            return Ok(p);
        }
        anyhow::ensure!(Instant::now() < deadline, "no restore point covers {ends:?} after {timeout:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn a_continuous_backup_killed_twice_holds_every_record_once_up_to_its_newest_cut() -> anyhow::Result<()>
{
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-continuous-{s}/");
    let topic = format!("cb{s}");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let config = continuous_config(&env, &prefix, &topic, "  segmentSize: 1048576\n")?;
    let metrics = format!("127.0.0.1:{}", free_port()?);
    let started = Instant::now();
    let producer = Producer::start(&env, &topic);
    let mut child = continuous(&env, &config)?;
    for kill in 0..2 {
        // At least one commit of this process, then a kill at a time unrelated to its clock.
        let before = points(&store, &prefix).await?.len();
        let deadline = Instant::now() + Duration::from_secs(90);
        while points(&store, &prefix).await?.len() <= before {
            anyhow::ensure!(Instant::now() < deadline, "no restore point within 90 s (kill {kill})");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_millis(3_000 + 2_300 * kill)).await;
        sigkill(&mut child)?;
        child = continuous_serving(&env, &config, &metrics)?;
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    let produced = producer.finish().await?;
    let newest = until_covered(&env, &store, &prefix, &topic, Duration::from_secs(90)).await?;
    // Its metrics: ready (it committed), the last commit, and no lag once the newest point
    // holds everything (measured every 5 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let (status, text) = http_get(metrics.as_str(), "/metrics").await?;
        assert_eq!(status, 200, "{text}");
        let caught_up = (0..PARTITIONS).all(|p| {
            text.contains(&format!(
                "lag_records{{namespace=\"\",name=\"\",topic=\"{topic}\",partition=\"{p}\"}} 0\n"
            ))
        });
        if caught_up {
            break text;
        }
        anyhow::ensure!(Instant::now() < deadline, "the lag never reached 0:\n{text}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(text.contains("strimzi_backup_continuous_last_commit_timestamp_seconds{"), "{text}");
    assert!(text.contains("strimzi_backup_continuous_commits_total{"), "{text}");
    assert_eq!(http_get(metrics.as_str(), "/readyz").await?.0, 200);
    // SIGTERM: the process stops on its own, at once or after the iteration under way.
    signal(child.id(), libc::SIGTERM)?;
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        anyhow::ensure!(Instant::now() < deadline, "still running 40 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.success(), "exit after SIGTERM: {status}");

    let all = points(&store, &prefix).await?;
    assert!(all.len() >= 4, "a restore point every 10 s over a minute and more: {}", all.len());
    assert_linear(&all);
    // The newest restore point, restored: every record produced, once, byte for byte.
    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n",
        base_config(&env, &prefix, None)?
    );
    run_ok(&env, "restore", &restore, &["--backup-id", &newest.id])?;
    for (p, want) in produced.iter().enumerate() {
        assert_eq!(
            newest.ends[&(p as i32)],
            want.len() as i64,
            "partition {p}: the cut is everything produced"
        );
        let got = without_offsets(&consume_all(&env, &target, p as i32)?);
        assert_eq!(got.len(), want.len(), "partition {p}: record count");
        assert!(got == without_offsets(want), "partition {p}: records differ from those produced");
    }
    eprintln!(
        "continuous: {} restore points, {} records per partition, {:.0} s",
        all.len(),
        produced[0].len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::test]
async fn two_continuous_backups_on_one_location_never_fork_the_lineage() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-continuous-fence-{s}/");
    let topic = format!("cf{s}");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let config = continuous_config(&env, &prefix, &topic, "  segmentSize: 1048576\n")?;
    let producer = Producer::start(&env, &topic);
    // Two writers at once, as during a rolling update or with a pod cut off from the API server.
    let mut one = continuous(&env, &config)?;
    let mut two = continuous(&env, &config)?;
    tokio::time::sleep(Duration::from_secs(45)).await;
    let produced = producer.finish().await?;
    let newest = until_covered(&env, &store, &prefix, &topic, Duration::from_secs(90)).await?;
    sigkill(&mut one)?;
    sigkill(&mut two)?;
    let all = points(&store, &prefix).await?;
    assert!(all.len() >= 3, "restore points: {all:#?}");
    assert_linear(&all);
    // And the lineage is whole: the newest restore point read by the oracle holds every record once.
    let (_, records) = strimzi_backup_e2e::dataplane::read_backup(&store, &prefix, &newest.id).await?;
    for (p, want) in produced.iter().enumerate() {
        let got = records.get(&(topic.clone(), p as i32)).cloned().unwrap_or_default();
        assert!(
            without_offsets(&got) == without_offsets(want),
            "partition {p}: {} of {} records",
            got.len(),
            want.len()
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_continuous_backup_outlives_a_hung_broker_and_then_catches_up() -> anyhow::Result<()> {
    let base = TestEnv::load()?;
    let broker = strimzi_backup_e2e::broker::PrivateBroker::start(&base)?;
    let env = broker.env.clone();
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-continuous-hung-{s}/");
    let topic = format!("ch{s}");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let config = continuous_config(&env, &prefix, &topic, "  clusterMetadata: false\n")?;
    let metrics = format!("127.0.0.1:{}", free_port()?);
    let producer = Producer::start(&env, &topic);
    let mut child = continuous_serving(&env, &config, &metrics)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while points(&store, &prefix).await?.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "no restore point within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The broker hangs for longer than a plan waits (30 s): iterations fail, the process stays.
    // The producer goes on after it, so the last restore point must hold records of after.
    broker.freeze()?;
    tokio::time::sleep(Duration::from_secs(45)).await;
    broker.thaw()?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let produced = producer.finish().await?;
    assert!(child.try_wait()?.is_none(), "the continuous backup exited while the broker hung");
    let (_, text) = http_get(metrics.as_str(), "/metrics").await?;
    assert!(
        text.lines().any(|l| l.starts_with("strimzi_backup_continuous_failures_total{")
            && l.contains("kind=\"error\"")
            && !l.ends_with(" 0")),
        "failed iterations were counted:\n{text}"
    );
    let newest = until_covered(&env, &store, &prefix, &topic, Duration::from_secs(120)).await?;
    sigkill(&mut child)?;
    assert_linear(&points(&store, &prefix).await?);
    let (_, records) = strimzi_backup_e2e::dataplane::read_backup(&store, &prefix, &newest.id).await?;
    for (p, want) in produced.iter().enumerate() {
        let got = records.get(&(topic.clone(), p as i32)).cloned().unwrap_or_default();
        assert!(
            without_offsets(&got) == without_offsets(want),
            "partition {p}: {} of {} records",
            got.len(),
            want.len()
        );
    }
    Ok(())
}

/// The broker crashes (SIGKILL) and restarts under a running continuous backup: iterations
/// fail while it is away, the process stays, and the restore point after the restart holds every
/// record produced before the crash and after the restart, once each.
#[tokio::test]
async fn a_continuous_backup_across_a_broker_crash_and_restart_holds_every_record_once() -> anyhow::Result<()>
{
    let base = TestEnv::load()?;
    let mut broker = strimzi_backup_e2e::broker::PrivateBroker::start(&base)?;
    let env = broker.env.clone();
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-continuous-crash-{s}/");
    let topic = format!("cc{s}");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let config = continuous_config(&env, &prefix, &topic, "  clusterMetadata: false\n")?;
    let before = Producer::start_with(&env, &topic, "before-", 40);
    let mut child = continuous(&env, &config)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while points(&store, &prefix).await?.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "no restore point within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    let before = before.finish().await?;
    let committed = points(&store, &prefix).await?.len();
    broker.crash_and_restart()?;
    let after = Producer::start_with(&env, &topic, "after-", 40);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after = after.finish().await?;
    let newest = until_covered(&env, &store, &prefix, &topic, Duration::from_secs(120)).await?;
    assert!(child.try_wait()?.is_none(), "the continuous backup exited across the broker's restart");
    sigkill(&mut child)?;
    let all = points(&store, &prefix).await?;
    assert!(all.len() > committed, "restore points after the restart: {} then {}", committed, all.len());
    assert_linear(&all);
    let (_, records) = strimzi_backup_e2e::dataplane::read_backup(&store, &prefix, &newest.id).await?;
    for p in 0..PARTITIONS as usize {
        let want: Vec<Record> = before[p].iter().chain(&after[p]).cloned().collect();
        let got = records.get(&(topic.clone(), p as i32)).cloned().unwrap_or_default();
        assert!(
            without_offsets(&got) == without_offsets(&want),
            "partition {p}: {} records backed up, {} produced ({} before the crash)",
            got.len(),
            want.len(),
            before[p].len()
        );
        assert_eq!(got.last().map(|r| r.offset), Some(want.len() as i64 - 1), "partition {p}: offsets");
    }
    eprintln!("broker crash: {} restore points, {} before the crash", all.len(), committed);
    Ok(())
}

/// The `KafkaTopic` names in the Strimzi resources restore point `id` stored, when it stored any.
pub(crate) async fn stored_topics(
    store: &impl ObjectStore,
    prefix: &str,
    id: &str,
) -> anyhow::Result<Option<Vec<String>>> {
    let path = object_store::path::Path::from(format!("{prefix}backups/{id}/manifest.json"));
    let stored: serde_json::Value = serde_json::from_slice(&store.get(&path).await?.bytes().await?)?;
    let Some(object) = stored["manifest"]["strimziResources"]["object"].as_str() else { return Ok(None) };
    let path = object_store::path::Path::from(object);
    let resources: serde_json::Value = serde_json::from_slice(&store.get(&path).await?.bytes().await?)?;
    Ok(Some(
        resources["kafkaTopics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["metadata"]["name"].as_str().map(str::to_string))
            .collect(),
    ))
}

/// Writes the Strimzi resources with `topics` to `file` gzip-compressed, as the kubelet updates
/// a ConfigMap volume: a new file renamed into place.
fn write_strimzi_resources(file: &std::path::Path, topics: &[&str]) -> anyhow::Result<()> {
    use strimzi_backup_operator::format::strimzi_resources::{RESOURCES_VERSION, StrimziResources, gzip};
    let object = StrimziResources {
        resources_version: RESOURCES_VERSION,
        captured_at: "2026-12-04T21:00:00.000Z".into(),
        namespace: "kafka".into(),
        cluster: "my-cluster".into(),
        kafka_topics: topics
            .iter()
            .map(|t| {
                serde_json::json!({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
                    "metadata": {"name": t, "labels": {"strimzi.io/cluster": "my-cluster"}},
                    "spec": {"partitions": 3, "replicas": 1}})
            })
            .collect(),
        kafka_users: Vec::new(),
    };
    let (bytes, _) = object.to_object(String::new())?;
    let next = file.with_extension("next");
    std::fs::write(&next, gzip(&bytes)?)?;
    std::fs::rename(&next, file)?;
    Ok(())
}

#[tokio::test]
async fn a_continuous_backup_stores_the_strimzi_resources_file_as_each_iteration_reads_it()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-continuous-strimzi-{s}/");
    let topic = format!("cs{s}");
    create_topic(&env, &topic, 1, &[]).await?;
    let dir = std::env::temp_dir().join(format!("sbo-e2e-continuous-strimzi-{s}"));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("strimzi-resources.json.gz");
    write_strimzi_resources(&file, &["orders"])?;
    // The file named without a hash, as the operator names a continuous backup's.
    let config = continuous_config(
        &env,
        &prefix,
        &topic,
        &format!("  clusterMetadata: false\nstrimziResources:\n  file: {}\n", file.display()),
    )?;
    let mut child = continuous(&env, &config)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        if let Some(p) = points(&store, &prefix).await?.first() {
            break p.clone();
        }
        anyhow::ensure!(Instant::now() < deadline, "no restore point within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(stored_topics(&store, &prefix, &first.id).await?, Some(vec!["orders".to_string()]));
    // A KafkaTopic declared while the process runs: a later iteration stores it, same process.
    write_strimzi_resources(&file, &["orders", "payments"])?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let later = loop {
        let mut found = None;
        for p in points(&store, &prefix).await? {
            if stored_topics(&store, &prefix, &p.id).await?.is_some_and(|t| t.len() == 2) {
                found = Some((p.id.clone(), stored_topics(&store, &prefix, &p.id).await?));
                break;
            }
        }
        if let Some(found) = found {
            break found;
        }
        anyhow::ensure!(Instant::now() < deadline, "no restore point with the new KafkaTopic within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(child.try_wait()?.is_none(), "the process exited");
    sigkill(&mut child)?;
    assert_eq!(later.1, Some(vec!["orders".to_string(), "payments".to_string()]), "{}", later.0);
    assert_linear(&points(&store, &prefix).await?);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The value of the continuous process's series `name` (no labels of its own) in `/metrics`.
fn series(text: &str, name: &str) -> Option<u64> {
    let prefix = format!("strimzi_backup_continuous_{name}{{");
    let line = text.lines().find(|l| l.starts_with(&prefix))?;
    line.rsplit(' ').next()?.parse::<f64>().ok().map(|v| v as u64)
}

/// The manifest cache (`catalog::ManifestCache`) at a real S3 store: a continuous process reads
/// the restore points already there once, then one manifest an iteration (its own), where it
/// read every retained manifest twice an iteration before. `manifests_read_total` counts the
/// GETs; an entity tag that did not match between MinIO's listing and its GET would make every
/// iteration read everything again and fail this.
#[tokio::test]
async fn a_continuous_backup_reads_each_manifest_once_not_every_iteration() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-continuous-cache-{s}/");
    let topic = format!("cm{s}");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let base = format!(
        "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  segmentSize: 1048576\n  clusterMetadata: false\n",
        base_config(&env, &prefix, None)?
    );
    let producer = Producer::start(&env, &topic);
    // Restore points already at the location: scheduled backups before the continuous one.
    let seeded = 5u64;
    for _ in 0..seeded {
        run_ok(&env, "backup", &format!("{base}  mode: incremental\n"), &[])?;
    }
    let metrics = format!("127.0.0.1:{}", free_port()?);
    let mut child =
        continuous_serving(&env, &format!("{base}  mode: continuous\n  commitInterval: 10s\n"), &metrics)?;
    let scrape = || async {
        let (_, text) = http_get(metrics.as_str(), "/metrics").await?;
        let commits = series(&text, "commits_total").unwrap_or(0);
        let reads = series(&text, "manifests_read_total")
            .ok_or_else(|| anyhow::anyhow!("no manifests_read_total in\n{text}"))?;
        let cached = series(&text, "manifests_cached_bytes").unwrap_or(0);
        anyhow::Ok((commits, reads, cached))
    };
    let until_commits = |n: u64| {
        let scrape = &scrape;
        async move {
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                let last = match scrape().await {
                    Ok(got) if got.0 >= n => return anyhow::Ok(got),
                    Ok(got) => format!("{got:?}"),
                    Err(e) => format!("{e:#}"),
                };
                anyhow::ensure!(Instant::now() < deadline, "not {n} commits within 90 s; last: {last}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let (c1, r1, cached) = until_commits(2).await?;
    // The seeded ones once, then one an iteration (a scrape may fall between an iteration's
    // count and its commit: one more).
    assert!(r1 <= seeded + c1 + 1, "{r1} manifests read for {c1} commits over {seeded} restore points");
    assert!(cached > 0, "nothing kept");
    let (c2, r2, _) = until_commits(c1 + 3).await?;
    let _ = producer.finish().await?;
    sigkill(&mut child)?;
    // Without the cache these iterations read 2 x (seeded + c) each: 14 and more.
    assert!(
        r2 - r1 <= (c2 - c1) + 1,
        "{} manifests read for {} iterations (reads {r1} -> {r2}, commits {c1} -> {c2})",
        r2 - r1,
        c2 - c1
    );
    let all = points(&store, &prefix).await?;
    assert!(all.len() as u64 >= seeded + c2, "every commit a restore point: {}", all.len());
    assert_linear(&all);
    eprintln!(
        "manifest reads: {r1} after {c1} commits, {r2} after {c2}, over {seeded} seeded restore points"
    );
    Ok(())
}

/// A topic deleted and created again under a running continuous backup (drift a user causes
/// without stopping anything): the iterations after it read the new topic from its start as a
/// new lineage, merge its small segments among themselves, never with the old topic's, and the
/// old restore points still restore the old topic. Each topic's records carry their own tag, so
/// a restore that mixed them up could not pass by count alone.
#[tokio::test]
async fn a_topic_recreated_under_a_continuous_backup_is_a_new_lineage_merged_apart_from_the_old()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-continuous-recreated-{s}/");
    let topic = format!("cr{s}");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let config = continuous_config(&env, &prefix, &topic, "  segmentSize: 1048576\n")?;
    let log = std::env::temp_dir().join(format!("e2e-continuous-recreated-{s}.log"));
    let mut child = command(&env, "backup", &config, &[])?
        .env("STRIMZI_BACKUP_METRICS_ADDRESS", "off")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let ran = async {
        // About 100 KB a partition each 10 s: small segments, eight of which merge below 1 MiB.
        let old = Producer::start_with(&env, &topic, "old-", 4);
        tokio::time::sleep(Duration::from_secs(25)).await;
        let old = old.finish().await?;
        let before = until_covered(&env, &store, &prefix, &topic, Duration::from_secs(90)).await?;
        delete_topic(&env, &topic).await?;
        create_topic(&env, &topic, PARTITIONS, &[]).await?;
        let new = Producer::start_with(&env, &topic, "new-", 4);
        let deadline = Instant::now() + Duration::from_secs(300);
        while points(&store, &prefix).await?.iter().filter(|p| p.completed_at > before.completed_at).count()
            < 10
        {
            anyhow::ensure!(Instant::now() < deadline, "not 10 restore points after the recreation in 300 s");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let new = new.finish().await?;
        let newest = until_covered(&env, &store, &prefix, &topic, Duration::from_secs(90)).await?;
        anyhow::Ok((old, before, new, newest))
    }
    .await;
    sigkill(&mut child)?;
    let (old, before, new, newest) = ran.map_err(|e| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        e.context(tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    })?;
    let all = points(&store, &prefix).await?;
    assert_linear(&all);

    // The newest point lists only the new topic's lineage, fewer segments than the restore
    // points that added to it: they were merged.
    let (m, _) = strimzi_backup_e2e::dataplane::read_backup(&store, &prefix, &newest.id).await?;
    let grew =
        all.windows(2).filter(|w| w[0].completed_at >= before.completed_at && w[1].ends != w[0].ends).count();
    for p in &m.topics[0].partitions {
        assert_eq!(p.start_offset, 0, "partition {}: the new topic from its start", p.partition);
        assert!(
            p.segments.len() < grew,
            "partition {}: {} segments listed after {grew} restore points added records: none merged",
            p.partition,
            p.segments.len()
        );
    }
    let report = run_ok(&env, "verify", &config.replace("mode: continuous", "mode: incremental"), &[])?;
    assert_eq!(report["backupId"].as_str(), Some(newest.id.as_str()), "{report}");

    // Each restore point restores its own topic, record for record.
    for (point, produced, target) in
        [(&before, &old, format!("{topic}-old")), (&newest, &new, format!("{topic}-new"))]
    {
        let restore = format!(
            "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n",
            base_config(&env, &prefix, None)?
        );
        run_ok(&env, "restore", &restore, &["--backup-id", &point.id])?;
        for (p, want) in produced.iter().enumerate() {
            let got = without_offsets(&consume_all(&env, &target, p as i32)?);
            assert_eq!(got.len(), want.len(), "{target}/{p}: record count");
            assert!(got == without_offsets(want), "{target}/{p}: records differ from those produced");
        }
    }
    eprintln!(
        "recreated: {} restore points, {} after the recreation added records, segments listed {:?}",
        all.len(),
        grew,
        m.topics[0].partitions.iter().map(|p| p.segments.len()).collect::<Vec<_>>()
    );
    let _ = std::fs::remove_file(&log);
    Ok(())
}
