//! `operator-bench`: the operator's footprint and reconcile latency on the local environment
//! (run by `make bench`). Prints figures; asserts nothing about speed.
//!
//! 1. Footprint: the operator (the build given by `--operator`, normally the release build)
//!    watching a fresh namespace: RSS and CPU while idle with no objects (the baseline), then
//!    with `--objects` scheduled `KafkaBackup`s (a yearly schedule, so they reconcile and wait):
//!    the time until every one is reconciled, peak RSS, and RSS and CPU while idle with them.
//! 2. Latency, on `--runs` run-once `KafkaBackup`s of a small topic, each Job really running
//!    a backup: create → the Job exists, and Job complete → the status says Completed, as this
//!    process sees them through watches.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix};
use strimzi_backup_e2e::operator::Operator;
use strimzi_backup_e2e::procfs::{cpu_seconds, status_mib};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};

#[derive(Debug, Parser)]
struct Cli {
    /// The operator binary to measure.
    #[arg(long, default_value = "target/release/strimzi-backup-operator")]
    operator: PathBuf,
    /// Scheduled KafkaBackups for the footprint.
    #[arg(long, default_value_t = 1000)]
    objects: usize,
    /// Run-once KafkaBackups for the latency.
    #[arg(long, default_value_t = 40)]
    runs: usize,
    /// Seconds each idle measurement lasts.
    #[arg(long, default_value_t = 30)]
    idle_seconds: u64,
}

/// RSS (MiB) at the end and CPU share (% of one core) over `seconds` of idling.
async fn idle(pid: u32, seconds: u64) -> anyhow::Result<(f64, f64)> {
    let cpu0 = cpu_seconds(pid)?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = (cpu_seconds(pid)? - cpu0) / seconds as f64 * 100.0;
    Ok((status_mib(pid, "VmRSS:")?, cpu))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "  {name:<34} n={:<4} p50 {:>7.0} ms  p99 {:>7.0} ms  max {:>7.0} ms",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

fn backup_yaml(name: &str, bootstrap: &str, topic: &str, storage: &str, schedule: Option<&str>) -> String {
    let schedule = schedule.map(|c| format!("  schedule: {{cron: '{c}'}}\n")).unwrap_or_default();
    format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: {name}}}\nspec:\n  kafkaCluster: {{bootstrapServers: '{bootstrap}'}}\n  topics: {{include: ['{topic}']}}\n{storage}{schedule}"
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let client: Client = cluster.client.clone();
    cluster.install_crds().await?;
    let ns = cluster.namespace("bench-operator").await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: minio-credentials}}\nstringData: {{id: '{}', secret: '{}'}}\n",
                env.get("MINIO_ACCESS_KEY")?,
                env.get("MINIO_SECRET_KEY")?
            ),
        )
        .await?;
    let s = unique_suffix();
    let topic = format!("bench-op-{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 100, recent())).await?;
    let storage = strimzi_backup_e2e::operator::minio_storage(
        env,
        &format!("bench-operator-{s}/"),
        "minio-credentials",
        2,
    )?;
    let program = std::fs::canonicalize(&cli.operator)
        .with_context(|| format!("{} (build it: cargo build --release)", cli.operator.display()))?;
    let operator = Operator::start_binary(env, &ns, program.clone())?;
    let pid = operator.pid();
    tokio::time::sleep(Duration::from_secs(3)).await;

    println!("operator footprint ({}), namespace {ns}", program.display());
    let (rss0, cpu0) = idle(pid, cli.idle_seconds).await?;
    println!("  idle, no objects (baseline):        RSS {rss0:6.1} MiB  CPU {cpu0:5.2} % of a core");

    let api: Api<KafkaBackup> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    for i in 0..cli.objects {
        let kb: KafkaBackup = serde_yaml_ng::from_str(&backup_yaml(
            &format!("kb-{i:04}"),
            env.kafka_bootstrap(),
            &topic,
            &storage,
            Some("0 3 1 1 *"),
        ))?;
        api.create(&PostParams::default(), &kb).await?;
    }
    let created = started.elapsed();
    loop {
        let list = api.list(&ListParams::default()).await?;
        let done = list
            .items
            .iter()
            .filter(|k| k.status.as_ref().and_then(|s| s.observed_generation).is_some())
            .count();
        if done >= cli.objects {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "only {done} of {} reconciled",
            cli.objects
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let settled = started.elapsed();
    let peak = status_mib(pid, "VmHWM:")?;
    let (rss1, cpu1) = idle(pid, cli.idle_seconds).await?;
    println!(
        "  {} KafkaBackups: created in {:.1} s, all reconciled after {:.1} s; peak RSS {peak:.1} MiB",
        cli.objects,
        created.as_secs_f64(),
        settled.as_secs_f64()
    );
    println!("  idle with them:                     RSS {rss1:6.1} MiB  CPU {cpu1:5.2} % of a core");
    println!(
        "  target: RSS < 50 MiB with 1000 objects: {}",
        if rss1 < 50.0 && peak < 50.0 { "met" } else { "NOT met" }
    );

    // Latency: watch Jobs and KafkaBackups, note when each step is first seen.
    let seen_job: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let job_done: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let status_done: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let watch_jobs = tokio::spawn({
        let (seen_job, job_done) = (seen_job.clone(), job_done.clone());
        async move {
            let mut stream = watcher(jobs, watcher::Config::default()).applied_objects().boxed();
            while let Some(Ok(job)) = stream.next().await {
                let now = Instant::now();
                let owner = job.owner_references().first().map(|o| o.name.clone()).unwrap_or_default();
                seen_job.lock().unwrap_or_else(|p| p.into_inner()).entry(owner.clone()).or_insert(now);
                let complete = job
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Complete" && c.status == "True"));
                if complete {
                    job_done.lock().unwrap_or_else(|p| p.into_inner()).entry(owner).or_insert(now);
                }
            }
        }
    });
    let watch_status = tokio::spawn({
        let (api, status_done) = (api.clone(), status_done.clone());
        async move {
            let mut stream = watcher(api, watcher::Config::default()).applied_objects().boxed();
            while let Some(Ok(kb)) = stream.next().await {
                let completed = kb
                    .status
                    .as_ref()
                    .and_then(|s| s.last_backup.as_ref())
                    .is_some_and(|b| b.status == BackupRunStatus::Completed);
                if completed {
                    status_done
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(kb.name_any())
                        .or_insert_with(Instant::now);
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut created_at = HashMap::new();
    for i in 0..cli.runs {
        let name = format!("run-{i:03}");
        let kb: KafkaBackup =
            serde_yaml_ng::from_str(&backup_yaml(&name, env.kafka_bootstrap(), &topic, &storage, None))?;
        let t = Instant::now();
        api.create(&PostParams::default(), &kb).await?;
        created_at.insert(name, t);
        // One at a time-ish, as users create them: the Jobs' pods share the 2 cores.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = status_done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|k| k.starts_with("run-"))
            .count();
        if done >= cli.runs {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {done} of {} runs completed", cli.runs);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    watch_jobs.abort();
    watch_status.abort();
    let (seen_job, job_done, status_done) = (
        seen_job.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        job_done.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        status_done.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    );
    let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1000.0;
    let to_job: Vec<f64> =
        created_at.iter().filter_map(|(n, t)| seen_job.get(n).map(|j| ms(*t, *j))).collect();
    let to_status: Vec<f64> =
        created_at.keys().filter_map(|n| Some(ms(*job_done.get(n)?, *status_done.get(n)?))).collect();
    println!(
        "reconcile latency ({} run-once backups, each Job a real backup; with the {} objects above)",
        cli.runs, cli.objects
    );
    summary("create -> Job exists", to_job.clone());
    summary("Job complete -> status Completed", to_status.clone());
    let p99 = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        percentile(&v, 99.0)
    };
    println!(
        "  target: p99 < 1 s: {}",
        if p99(to_job) < 1000.0 && p99(to_status) < 1000.0 { "met" } else { "NOT met" }
    );
    let final_rss = status_mib(pid, "VmRSS:")?;
    let peak = status_mib(pid, "VmHWM:")?;
    println!("  operator RSS after the runs {final_rss:.1} MiB, peak {peak:.1} MiB");
    // The KafkaBackups go while the operator runs, so it removes their cleanup finalizers;
    // deleting the namespace after the operator stopped would leave them all Terminating.
    api.delete_collection(&kube::api::DeleteParams::default(), &kube::api::ListParams::default()).await?;
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut left = api.list(&kube::api::ListParams::default()).await?.items;
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        left = api.list(&kube::api::ListParams::default()).await?.items;
    }
    // Whatever the operator did not get to (all Retain: nothing in storage to clean up).
    for kb in left {
        let unblock = serde_json::json!({"metadata": {"finalizers": null}});
        let patch = kube::api::Patch::Merge(&unblock);
        api.patch(&kb.name_any(), &kube::api::PatchParams::default(), &patch).await?;
    }
    drop(operator);
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
