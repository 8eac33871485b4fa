//! Continuous backup (issue 18 §4): one long-running process commits a restore point every
//! `commitInterval`, each an ordinary incremental backup of the one before ([`super::run`]):
//! same lineage, `read_committed` cut, exact records, manifest as the commit point, retention
//! and orphan cleanup after each commit. Nothing is kept between iterations but the location
//! itself, so a restart (a killed pod, a rolling update, a broker restart) continues from the
//! newest committed restore point: what an iteration read and did not commit is read again by
//! the next one, what it committed is never read again. The one thing carried over is a cache
//! of the manifests already read ([`crate::catalog::ManifestCache`], at most
//! [`crate::catalog::cache::LONG_RUNNING_BUDGET`] of them): each iteration still lists the
//! location at plan time and after its commit, but GETs only the manifests that are new or
//! rewritten since, about one an iteration (its own) instead of every retained one twice.
//!
//! Every run is fenced ([`super::fence`]): a second process on the same location (an old pod
//! still running during a rollout, one cut off from the API server) can never commit a second
//! child of the same restore point; the loser's iteration commits nothing and the next plans
//! from the newest restore point.
//!
//! After each commit the iteration's [`super::BackupResult`] is printed on stdout as one JSON
//! line, exactly the result line a backup Job prints: the operator reads the pod's log and
//! records each line as it records a finished Job (`crate::operator::backup::continuous_status`).
//! Each iteration is told, as its known restore points, the ids the previous line reported
//! present (none for the first after a start), so a line lists as `added` only the restore points
//! that are new since the line before — the first one after a start lists them all — and
//! `present` names every one.
//!
//! An iteration that fails (Kafka or storage away) is logged, counted and tried again after a
//! backoff that grows to [`MAX_BACKOFF`]; the process never exits on it. On SIGTERM the
//! iteration under way gets [`FINISH_GRACE`] to commit, then is abandoned: its segments, never
//! named by a manifest, are an orphan that a later backup's cleanup removes.
//!
//! docs/continuous-backup.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::BackupConfig;
use super::continuous_metrics::{ContinuousMetrics, FailureKind};
use crate::api::backup::{DEFAULT_COMMIT_INTERVAL, MIN_COMMIT_INTERVAL_SECONDS};

/// The shortest commit interval ([`MIN_COMMIT_INTERVAL_SECONDS`], why there).
pub const MIN_INTERVAL: Duration = Duration::from_secs(MIN_COMMIT_INTERVAL_SECONDS.unsigned_abs());
/// The longest wait after failed iterations.
pub const MAX_BACKOFF: Duration = Duration::from_secs(120);
/// How long an iteration under way may take to commit after SIGTERM (the pod's grace period
/// is longer).
pub const FINISH_GRACE: Duration = Duration::from_secs(20);
/// How often the partitions' lag is measured between commits.
const LAG_EVERY: Duration = Duration::from_secs(5);

/// How the continuous process runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub commit_interval: Duration,
    /// Where `/metrics`, `/readyz` and `/healthz` are served (none: not served).
    pub metrics: Option<SocketAddr>,
}

/// `commitInterval` as a duration ([`DEFAULT_COMMIT_INTERVAL`] when absent), refusing one
/// below [`MIN_INTERVAL`].
pub fn interval(text: Option<&str>) -> anyhow::Result<Duration> {
    let text = text.unwrap_or(DEFAULT_COMMIT_INTERVAL);
    let ms = crate::api::duration::parse_millis(text)
        .map_err(|e| anyhow::anyhow!("commitInterval `{text}`: {e}"))?;
    let interval = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    anyhow::ensure!(
        interval >= MIN_INTERVAL,
        "commitInterval `{text}` is below {} s: every restore point costs a plan and a read of the location",
        MIN_INTERVAL.as_secs()
    );
    Ok(interval)
}

/// The wait after `failures` failed iterations in a row: 5 s, doubling, at most [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(10);
    (Duration::from_secs(5) * 2u32.pow(exp)).min(MAX_BACKOFF)
}

/// Where the metrics are served unless `STRIMZI_BACKUP_METRICS_ADDRESS` says otherwise.
pub const METRICS_ADDRESS: &str = "0.0.0.0:9091";

/// What `backup` runs when its config says `backup.mode: continuous`: the loop until SIGTERM
/// (or Ctrl-C), with the interval from `backup.commitInterval` and metrics on
/// `STRIMZI_BACKUP_METRICS_ADDRESS` (default [`METRICS_ADDRESS`]; `off` serves none).
pub async fn main(cfg: BackupConfig) -> anyhow::Result<()> {
    let commit_interval = interval(cfg.backup.commit_interval.as_deref())?;
    let address = std::env::var("STRIMZI_BACKUP_METRICS_ADDRESS").unwrap_or_else(|_| METRICS_ADDRESS.into());
    let metrics = match address.as_str() {
        "off" | "" => None,
        a => Some(a.parse().with_context(|| format!("STRIMZI_BACKUP_METRICS_ADDRESS `{a}`"))?),
    };
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        terminated().await;
        tracing::info!("SIGTERM: stopping after the iteration under way");
        let _ = stop.send(true);
    });
    run(&cfg, Options { commit_interval, metrics }, stopped).await
}

async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs until `stop` turns true. Returns an error only for what no retry can change (a config
/// that cannot work).
pub async fn run(cfg: &BackupConfig, opts: Options, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let metrics = ContinuousMetrics::new();
    if let Some(addr) = opts.metrics {
        // A port taken is reported, not fatal: the backup matters more than its metrics.
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                let router = crate::operator::http::router(crate::operator::http::Probe {
                    registry: metrics.registry.clone(),
                    ready: metrics.ready.clone(),
                });
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, router).await {
                        tracing::error!(error = %e, "the metrics endpoint stopped");
                    }
                });
            }
            Err(e) => {
                tracing::error!(address = %addr, error = %e, "cannot serve the metrics; backing up without")
            }
        }
    }
    // Fails here, before any iteration, on what retrying cannot mend.
    crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    cfg.kafka.client_config().map_err(anyhow::Error::msg)?;
    let (newest, newest_rx) = watch::channel::<Option<Committed>>(None);
    // The manifests read so far, shared by every iteration and the lag (see the module).
    let manifests = crate::catalog::ManifestCache::with_budget(crate::catalog::cache::LONG_RUNNING_BUDGET);
    let lag = tokio::spawn(measure_lag(
        BackupConfig { manifests: manifests.clone(), ..cfg.clone() },
        metrics.clone(),
        newest_rx,
    ));
    let mut failures = 0u32;
    tracing::info!(interval_s = opts.commit_interval.as_secs(), "continuous backup started");
    let mut next = tokio::time::Instant::now();
    // The restore points the previous result line reported present: the next line's `added`
    // is what is new since then (the first line after a start lists them all).
    let mut reported: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let started = tokio::time::Instant::now();
        let mut iteration = cfg.clone();
        // A fresh id from the start time for every restore point, each continuing the newest.
        iteration.backup_id = None;
        iteration.backup.mode = crate::api::backup::BackupMode::Incremental;
        iteration.fence_lineage = true;
        iteration.known_restore_points = Some(reported.clone());
        iteration.manifests = manifests.clone();
        let mut attempt = pin!(super::run::run(&iteration));
        let (result, stopping) = tokio::select! {
            r = &mut attempt => (r, false),
            _ = stop.wait_for(|s| *s) => {
                tracing::info!(grace_s = FINISH_GRACE.as_secs(), "stopping: letting the iteration under way commit");
                match tokio::time::timeout(FINISH_GRACE, &mut attempt).await {
                    Ok(r) => (r, true),
                    Err(_) => {
                        tracing::warn!("stopping: the iteration under way is abandoned; it committed nothing and its segments are left for cleanup");
                        break;
                    }
                }
            }
        };
        let (reads, (_, held)) = (manifests.reads(), manifests.held());
        metrics.manifests(reads, held);
        match result {
            Ok(r) => {
                failures = 0;
                let unix = |t: &str| {
                    chrono::DateTime::parse_from_rfc3339(t).map_or(0.0, |t| t.timestamp_millis() as f64 / 1e3)
                };
                metrics.committed(unix(&r.completed_at), unix(&r.started_at));
                tracing::info!(backup = %r.backup_id, parent = ?r.parent_id, records = r.records,
                    took_ms = started.elapsed().as_millis() as u64, "restore point committed");
                let _ =
                    newest.send(Some(Committed { backup_id: r.backup_id.clone(), cut: unix(&r.started_at) }));
                print_result(&r);
                if let Some(points) = r.inventory.as_ref().and_then(|i| i.restore_points.as_ref()) {
                    reported = points.present.clone();
                }
                next = started + opts.commit_interval;
            }
            Err(e) if super::fence::is_fenced(&e) => {
                metrics.failed(FailureKind::Fenced);
                tracing::warn!(error = %format!("{e:#}"), "another writer continues this lineage; planning again from the newest restore point");
                next = started + opts.commit_interval;
            }
            Err(e) => {
                failures += 1;
                metrics.failed(FailureKind::Error);
                let wait = backoff(failures);
                tracing::warn!(error = %format!("{e:#}"), failures, retry_in_s = wait.as_secs(),
                    "this iteration committed nothing; trying again");
                next = tokio::time::Instant::now() + wait;
            }
        }
        if stopping {
            break;
        }
    }
    lag.abort();
    tracing::info!("continuous backup stopped");
    Ok(())
}

/// Prints `result` as one JSON line on stdout, as a backup Job prints its result: what the
/// operator reads back from the pod's log. One `write` of the whole line, so a line is never
/// split by another writer.
fn print_result(result: &super::BackupResult) {
    use std::io::Write;
    match serde_json::to_string(result) {
        Ok(json) => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(format!("{json}\n").as_bytes()).and_then(|()| out.flush()) {
                tracing::warn!(error = %e, "cannot print the result line; the operator sees this commit in a later line");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot render the result line"),
    }
}

/// An offset per topic and partition.
type Offsets = BTreeMap<(String, i32), i64>;

/// The newest restore point this process committed.
#[derive(Clone, Debug)]
struct Committed {
    backup_id: String,
    /// When its cut was taken (Unix seconds).
    cut: f64,
}

/// Every [`LAG_EVERY`], the lag of the newest committed restore point's partitions against
/// their last stable offsets (one round of ListOffsets). Failures only leave the gauges as
/// they were.
async fn measure_lag(
    cfg: BackupConfig,
    metrics: ContinuousMetrics,
    mut newest: watch::Receiver<Option<Committed>>,
) {
    let mut ends: Option<(Committed, Offsets)> = None;
    let mut tick = tokio::time::interval(LAG_EVERY);
    loop {
        tick.tick().await;
        let now = newest.borrow_and_update().clone();
        let Some(now) = now else { continue };
        if ends.as_ref().is_none_or(|(c, _)| c.backup_id != now.backup_id) {
            match committed_ends(&cfg, &now.backup_id).await {
                Ok(e) => ends = Some((now, e)),
                Err(e) => {
                    tracing::debug!(error = %format!("{e:#}"), "reading the newest restore point for its lag");
                    continue;
                }
            }
        }
        let Some((committed, held)) = &ends else { continue };
        match log_ends(&cfg, held.keys().cloned().collect()).await {
            Ok(logs) => {
                let unix_now = chrono::Utc::now().timestamp_millis() as f64 / 1e3;
                metrics.lag(held, &logs, committed.cut, unix_now);
            }
            Err(e) => tracing::debug!(error = %format!("{e:#}"), "measuring the partitions' lag"),
        }
    }
}

/// The end offset of every partition of restore point `backup_id`: from the manifest its
/// iteration read back after the commit, when kept (no rewrite moves a cut), else read.
async fn committed_ends(cfg: &BackupConfig, backup_id: &str) -> anyhow::Result<Offsets> {
    let storage = crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    let manifest = match cfg.manifests.peek(&storage.layout.manifest(backup_id)) {
        Some(kept) => kept,
        None => std::sync::Arc::new(crate::catalog::manifest(&storage, backup_id).await?),
    };
    Ok(manifest
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| ((t.name.clone(), p.partition), p.end_offset)))
        .collect())
}

/// The last stable offset of each of `partitions` now.
async fn log_ends(cfg: &BackupConfig, partitions: Vec<(String, i32)>) -> anyhow::Result<Offsets> {
    let client = cfg.kafka.client_config().map_err(anyhow::Error::msg)?;
    tokio::task::spawn_blocking(move || {
        let reader: crate::kafka::Reader = client
            .clone()
            .set("isolation.level", "read_committed")
            .create_with_context(crate::kafka::DataPlaneContext)
            .context("creating the Kafka client")?;
        let found = crate::watermarks::batched(&reader, &partitions, Duration::from_secs(10))?;
        Ok(found.into_iter().map(|(k, (_, end))| (k, end)).collect())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_default_to_a_minute_and_are_at_least_ten_seconds() {
        assert_eq!(interval(None).expect("default"), Duration::from_secs(60));
        assert_eq!(interval(Some("10s")).expect("10s"), Duration::from_secs(10));
        assert_eq!(interval(Some("2m")).expect("2m"), Duration::from_secs(120));
        let short = interval(Some("9s")).expect_err("too short");
        assert!(format!("{short:#}").contains("below 10 s"), "{short:#}");
        assert!(interval(Some("soon")).is_err());
    }

    #[test]
    fn the_backoff_doubles_from_five_seconds_to_two_minutes() {
        let waits: Vec<u64> = (1..=7).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 120, 120]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
