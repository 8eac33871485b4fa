//! `sync-bench`: how fast restore points are seen (issue 15 §1), on the local environment (run
//! by `make bench`). Prints figures; asserts nothing about speed, only that every restore point
//! was found.
//!
//! `--points` manifests (each 4 topics × 6 partitions × 2 segments, as a small production
//! backup's manifest) are written to a MinIO prefix. Then:
//! 1. the data plane's `sync` (the build given by `--operator`): cold (nothing known: every
//!    manifest read and summarised) and incremental (all but `--new` known: those get a HEAD, the
//!    new ones a GET) — wall time and peak RSS of the process; then again with a drill's
//!    evidence (`verifications/<id>/<drill>.json`) for every restore point: cold (every newest
//!    evidence read) and incremental (the cluster shows every drill: one listing, no reads);
//! 2. the operator end to end: a `KafkaBackupLocation` created in a fresh namespace until its
//!    status counts every restore point (a sync Job through the pod harness, then one
//!    `KafkaRestorePoint` per backup written to the API server), then `--new` more manifests
//!    until the next sync has them.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use kube::api::Api;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use strimzi_backup_e2e::dataplane::{base_config, minio};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::location::KafkaBackupLocation;
use strimzi_backup_operator::format::manifest::{
    Encoding, Layout, Manifest, PartitionEntry, SegmentEntry, TopicEntry, Totals,
};

#[derive(Debug, Parser)]
struct Cli {
    /// The operator binary (data plane and operator).
    #[arg(long, default_value = "target/release/strimzi-backup-operator")]
    operator: PathBuf,
    /// Restore points at the location.
    #[arg(long, default_value_t = 1000)]
    points: usize,
    /// Restore points added for the incremental syncs.
    #[arg(long, default_value_t = 10)]
    new: usize,
    /// Only the data plane's figures (no operator end to end).
    #[arg(long)]
    data_plane_only: bool,
}

/// A drill's evidence for each restore point `ids` (what `recordEvidence` writes).
async fn write_evidence(
    store: &object_store::aws::AmazonS3,
    prefix: &str,
    ids: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let layout = Layout::new(prefix);
    futures::stream::iter(ids)
        .map(|i| {
            let id = format!("bench-{i:06}");
            let path = object_store::path::Path::from(layout.verification(&id, &format!("drill-{i:06}")));
            let body = serde_json::json!({"evidenceVersion": 1, "drillId": format!("drill-{i:06}"), "backupId": id,
                "topics": ["orders-0", "orders-1", "orders-2", "orders-3"],
                "startTime": "2026-12-03T02:10:00.000Z", "completionTime": "2026-12-03T02:11:02.412Z",
                "restoreSeconds": 48.3, "records": 48000, "bytes": 49152000, "recordsPerSecond": 993.8,
                "mbPerSecond": 1.0, "mismatches": 0, "firstMismatches": [], "result": "Passed",
                "message": "48000 records of 4 topics restored in 48.3 s, read back and equal to the backup",
                "scratchTopicsDeleted": true});
            async move {
                store.put(&path, PutPayload::from(body.to_string())).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

fn manifest(layout: &Layout, i: usize) -> Manifest {
    let id = format!("bench-{i:06}");
    let base = 1_790_000_000_000 + i as i64 * 3_600_000;
    let topics = (0..4)
        .map(|t| {
            let name = format!("orders-{t}");
            let partitions = (0..6)
                .map(|p| PartitionEntry {
                    partition: p,
                    start_offset: 0,
                    end_offset: 2_000,
                    read_from: Some(1_000),
                    lineage_start: Some("bench-000000".into()),
                    lineage_break: None,
                    segments: (0..2)
                        .map(|s| SegmentEntry {
                            object: layout.segment(&id, &name, p, s * 1_000),
                            first_offset: s * 1_000,
                            last_offset: s * 1_000 + 999,
                            records: 1_000,
                            offsets_skipped: 0,
                            min_timestamp: base + s * 1_000,
                            max_timestamp: base + s * 1_000 + 999,
                            raw_bytes: 1_024_000,
                            stored_bytes: 300_000,
                            sha256: "0".repeat(64),
                            max_record_bytes: Some(1_100),
                        })
                        .collect(),
                    gaps: vec![],
                })
                .collect();
            TopicEntry {
                name,
                partition_count: 6,
                replication_factor: 3,
                topic_id: Some("kX2pPbGJQ2q0Y6pX0S1w2A".into()),
                configs: Default::default(),
                partitions,
            }
        })
        .collect();
    let at = |ms: i64| strimzi_backup_operator::format::millis_to_rfc3339(ms).unwrap_or_default();
    Manifest {
        format_version: 2,
        backup_id: id,
        parent_id: (i > 0).then(|| format!("bench-{:06}", i - 1)),
        started_at: at(base + 3_000),
        completed_at: at(base + 60_000),
        cluster_id: Some("bench-cluster".into()),
        encoding: Encoding { compression: "zstd".into(), encryption_key_id: None, data_keys: Vec::new() },
        topics,
        consumer_groups: vec![],
        totals: Totals::default(),
        written: None,
        cluster_metadata: None,
        schema_registry: None,
        strimzi_resources: None,
        revision: None,
    }
}

async fn write_manifests(
    store: &object_store::aws::AmazonS3,
    prefix: &str,
    ids: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let layout = Layout::new(prefix);
    futures::stream::iter(ids)
        .map(|i| {
            let m = manifest(&layout, i);
            let path = object_store::path::Path::from(layout.manifest(&m.backup_id));
            async move {
                let body = m.to_json()?;
                store.put(&path, PutPayload::from(body)).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Runs `sync` with `known` ids (and `extra` config); returns wall seconds, peak RSS (MiB),
/// present and added counts, and how many verifications it reported.
fn run_sync(
    cli: &Cli,
    cluster: &Cluster,
    prefix: &str,
    known: &[String],
    extra: &str,
) -> anyhow::Result<(f64, f64, usize, usize, usize)> {
    let env = &cluster.env;
    let mut config = format!("{}{extra}", base_config(env, prefix, None)?);
    if !known.is_empty() {
        config.push_str("known:\n");
    }
    for id in known {
        config.push_str(&format!("  - {id}\n"));
    }
    let dir = std::env::temp_dir().join(format!("sync-bench-{}", unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("config.yaml");
    std::fs::write(&file, config)?;
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("maxrss-kib %M")
        .arg(&cli.operator)
        .args(["sync", "--config"])
        .arg(&file)
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", env.get("MINIO_ACCESS_KEY")?)
        .env("AWS_SECRET_ACCESS_KEY", env.get("MINIO_SECRET_KEY")?)
        .env("STRIMZI_BACKUP_LOG_LEVEL", "warn")
        .output()
        .context("running sync under /usr/bin/time")?;
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(out.status.success(), "sync failed: {stderr}");
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss-kib "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    let result = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    let count = |k: &str| result[k].as_array().map(Vec::len).unwrap_or(0);
    let verifications = result["verifications"].as_object().map_or(0, |v| v.len());
    Ok((wall, rss, count("present"), count("added"), verifications))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cluster = Cluster::connect().await?;
    let store = minio(&cluster.env)?;
    let prefix = format!("bench-sync-{}/", unique_suffix());
    let (n, new) = (cli.points, cli.new);
    let started = Instant::now();
    write_manifests(&store, &prefix, 0..n).await?;
    println!(
        "== restore point sync: {n} manifests (4 topics x 6 partitions x 2 segments each) at s3://…/{prefix}"
    );
    println!("  written in {:.1} s", started.elapsed().as_secs_f64());

    let (wall, rss, present, added, _) = run_sync(&cli, &cluster, &prefix, &[], "")?;
    anyhow::ensure!(present == n && added == n, "cold sync found {present} present, {added} added, not {n}");
    println!("  data plane, cold (all {n} read and summarised): {wall:.2} s wall, {rss:.0} MiB peak RSS");
    write_manifests(&store, &prefix, n..n + new).await?;
    let known: Vec<String> = (0..n).map(|i| format!("bench-{i:06}")).collect();
    let (wall, rss, present, added, _) = run_sync(&cli, &cluster, &prefix, &known, "")?;
    anyhow::ensure!(present == n + new && added == new, "incremental sync: {present} present, {added} added");
    println!(
        "  data plane, incremental ({n} known: HEAD each; {new} new: read): {wall:.2} s wall, {rss:.0} MiB peak RSS"
    );
    // A drill's evidence for every restore point (the most there can be to read).
    write_evidence(&store, &prefix, 0..n + new).await?;
    let (wall, rss, _, added, verified) = run_sync(&cli, &cluster, &prefix, &[], "")?;
    anyhow::ensure!(
        added == n + new && verified == n + new,
        "cold sync with evidence: {verified} verifications"
    );
    println!(
        "  data plane, cold with evidence ({} evidence objects listed once and read): {wall:.2} s wall, {rss:.0} MiB peak RSS",
        n + new
    );
    let shown: String = (0..n + new).map(|i| format!("  bench-{i:06}: drill-{i:06}\n")).collect();
    let (wall, rss, _, _, verified) =
        run_sync(&cli, &cluster, &prefix, &known, &format!("verified:\n{shown}"))?;
    anyhow::ensure!(verified == 0, "incremental sync with evidence shown: {verified} verifications");
    println!(
        "  data plane, incremental with evidence (every drill shown: listed, none read): {wall:.2} s wall, {rss:.0} MiB peak RSS"
    );
    if cli.data_plane_only {
        return remove(&store, &prefix).await;
    }
    // The operator's figures are without evidence, as before it existed.
    remove(&store, &format!("{prefix}verifications/")).await?;

    // The operator end to end.
    let ns = namespace_with_kafka(&cluster, "sync-bench").await?;
    let operator = Operator::start_binary(&cluster.env, &ns, cli.operator.clone())?;
    let started = Instant::now();
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackupLocation\nmetadata: {{name: bench}}\nspec:\n  syncPeriod: 30s\n{}",
                minio_storage(&cluster.env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let locations: Api<KafkaBackupLocation> = Api::namespaced(cluster.client.clone(), &ns);
    let count = |want: usize| {
        let locations = locations.clone();
        async move {
            let st = locations.get("bench").await?.status.unwrap_or_default();
            anyhow::Ok((st.restore_points == Some(want as i64)).then_some(()))
        }
    };
    wait_until(Duration::from_secs(300), "every restore point in the namespace", || count(n + new))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    println!(
        "  operator, first sync (Job + {} KafkaRestorePoints created): {:.1} s from creating the location",
        n + new,
        started.elapsed().as_secs_f64()
    );
    write_manifests(&store, &prefix, n + new..n + 2 * new).await?;
    let started = Instant::now();
    wait_until(Duration::from_secs(120), "the next sync", || count(n + 2 * new))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    println!(
        "  operator, next sync ({new} new; syncPeriod 30s, so up to 30 s of it is waiting for the period): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The location object only reads; deleting it deletes its restore points, not these.
    remove(&store, &prefix).await
}

/// Removes the objects written under `prefix`.
async fn remove(store: &object_store::aws::AmazonS3, prefix: &str) -> anyhow::Result<()> {
    let objects: Vec<_> =
        store.list(Some(&object_store::path::Path::from(prefix.trim_end_matches('/')))).try_collect().await?;
    for o in objects {
        store.delete(&o.location).await?;
    }
    Ok(())
}
