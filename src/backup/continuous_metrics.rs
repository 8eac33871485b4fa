//! What a continuous backup ([`super::continuous`]) tells Prometheus: when it last committed,
//! how many of its iterations failed, and per partition how far the newest restore point is
//! behind the log, in records and seconds. Served on the process's own port (`/metrics`,
//! `/readyz` once a restore point is committed, `/healthz`) by the operator's HTTP router.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: String,
}

/// Why an iteration committed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Another writer holds the place of the parent's child ([`super::fence::Fenced`]).
    Fenced,
    /// Kafka, storage or anything else; retried after a backoff.
    Error,
}

impl FailureKind {
    fn label(self) -> &'static str {
        match self {
            Self::Fenced => "fenced",
            Self::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub kind: String,
}

/// The continuous backup's metrics and the readiness it reports.
#[derive(Clone)]
pub struct ContinuousMetrics {
    pub registry: Arc<Registry>,
    pub ready: Arc<AtomicBool>,
    last_commit: FloatGauge,
    last_cut: FloatGauge,
    commits: Counter,
    failures: Family<FailureLabels, Counter>,
    lag_records: Family<PartitionLabels, Gauge>,
    lag_seconds: Family<PartitionLabels, FloatGauge>,
    manifests_read: Counter,
    manifests_cached_bytes: Gauge,
}

impl Default for ContinuousMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The variables naming the `KafkaBackup` a continuous pod backs up (its Deployment sets them):
/// every series carries them as `namespace` and `name`, like the operator's own per-resource
/// series, so one alert rule groups both `by (namespace, name)`.
pub const NAMESPACE_VARIABLE: &str = "STRIMZI_BACKUP_KAFKABACKUP_NAMESPACE";
pub const NAME_VARIABLE: &str = "STRIMZI_BACKUP_KAFKABACKUP_NAME";

impl ContinuousMetrics {
    /// Metrics labelled with the `KafkaBackup` the environment names (empty when run by hand).
    pub fn new() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Self::of(&var(NAMESPACE_VARIABLE), &var(NAME_VARIABLE))
    }

    /// Metrics labelled `namespace`, `name`.
    pub fn of(namespace: &str, name: &str) -> Self {
        let labels = [
            (std::borrow::Cow::Borrowed("namespace"), std::borrow::Cow::Owned(namespace.to_string())),
            (std::borrow::Cow::Borrowed("name"), std::borrow::Cow::Owned(name.to_string())),
        ];
        let mut registry = Registry::with_prefix_and_labels("strimzi_backup_continuous", labels.into_iter());
        let last_commit = FloatGauge::default();
        registry.register(
            "last_commit_timestamp_seconds",
            "When the newest restore point of this continuous backup was committed (Unix time); the RPO is now minus this",
            last_commit.clone(),
        );
        let last_cut = FloatGauge::default();
        registry.register(
            "last_cut_timestamp_seconds",
            "When the newest committed restore point's cut was taken (Unix time): it holds every record written before",
            last_cut.clone(),
        );
        let commits = Counter::default();
        registry.register("commits", "Restore points this process committed", commits.clone());
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "failures",
            "Iterations that committed nothing: fenced (another writer holds the lineage) or error (retried after a backoff)",
            failures.clone(),
        );
        let lag_records = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "lag_records",
            "Records in the partition (up to its last stable offset) not yet in a committed restore point",
            lag_records.clone(),
        );
        let lag_seconds = Family::<PartitionLabels, FloatGauge>::default();
        registry.register(
            "lag_seconds",
            "Upper bound of the age of the oldest record of the partition not yet in a committed restore point (0 when none)",
            lag_seconds.clone(),
        );
        let manifests_read = Counter::default();
        registry.register(
            "manifests_read",
            "Manifests read from storage (GETs): about one an iteration, its own; those read before and unchanged come from memory",
            manifests_read.clone(),
        );
        let manifests_cached_bytes = Gauge::default();
        registry.register(
            "manifests_cached_bytes",
            "Stored bytes of the manifests kept in memory between iterations (at most 64 MiB)",
            manifests_cached_bytes.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ready: Arc::new(AtomicBool::new(false)),
            last_commit,
            last_cut,
            commits,
            failures,
            lag_records,
            lag_seconds,
            manifests_read,
            manifests_cached_bytes,
        }
    }

    /// A restore point committed at `completed` whose cut was taken at `cut` (Unix seconds).
    pub fn committed(&self, completed: f64, cut: f64) {
        self.last_commit.set(completed);
        self.last_cut.set(cut);
        self.commits.inc();
        self.ready.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The manifest cache's totals after an iteration: `reads` GETs since the start, `held`
    /// stored bytes kept ([`crate::catalog::ManifestCache`]).
    pub fn manifests(&self, reads: u64, held: u64) {
        self.manifests_read.inc_by(reads.saturating_sub(self.manifests_read.get()));
        self.manifests_cached_bytes.set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    pub fn failed(&self, kind: FailureKind) {
        self.failures.get_or_create(&FailureLabels { kind: kind.label().into() }).inc();
    }

    /// The lag of every partition of the newest restore point: `ends` are what it holds (the
    /// end offsets of its cut, taken at `cut`, Unix seconds), `logs` the partitions' last stable
    /// offsets now. Records past the cut were written after it, so they are at most `now - cut`
    /// old. Partitions no longer in the restore point are forgotten.
    pub fn lag(
        &self,
        ends: &BTreeMap<(String, i32), i64>,
        logs: &BTreeMap<(String, i32), i64>,
        cut: f64,
        now: f64,
    ) {
        self.lag_records.clear();
        self.lag_seconds.clear();
        for ((topic, partition), (records, seconds)) in lag(ends, logs, cut, now) {
            let labels = PartitionLabels { topic, partition: partition.to_string() };
            self.lag_records.get_or_create(&labels).set(records);
            self.lag_seconds.get_or_create(&labels).set(seconds);
        }
    }

    /// The text `/metrics` serves.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Records and seconds behind per partition (see [`ContinuousMetrics::lag`]). Pure.
pub fn lag(
    ends: &BTreeMap<(String, i32), i64>,
    logs: &BTreeMap<(String, i32), i64>,
    cut: f64,
    now: f64,
) -> BTreeMap<(String, i32), (i64, f64)> {
    ends.iter()
        .map(|(key, end)| {
            let behind = logs.get(key).map_or(0, |log| (log - end).max(0));
            let seconds = if behind > 0 { (now - cut).max(0.0) } else { 0.0 };
            (key.clone(), (behind, seconds))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_what_the_log_holds_past_the_cut_and_at_most_as_old_as_the_cut() {
        let key = |p: i32| ("t".to_string(), p);
        let ends = BTreeMap::from([(key(0), 100), (key(1), 50), (key(2), 7)]);
        let logs = BTreeMap::from([(key(0), 130), (key(1), 50), (key(2), 3)]);
        let lag = lag(&ends, &logs, 1_000.0, 1_012.5);
        assert_eq!(lag[&key(0)], (30, 12.5));
        assert_eq!(lag[&key(1)], (0, 0.0), "caught up: no age");
        assert_eq!(lag[&key(2)], (0, 0.0), "a log that went back is not negative lag");
    }

    #[test]
    fn the_metrics_read_as_prometheus_text() {
        let m = ContinuousMetrics::of("kafka", "orders");
        let ends = BTreeMap::from([(("orders".to_string(), 3), 10)]);
        let logs = BTreeMap::from([(("orders".to_string(), 3), 25)]);
        m.committed(1_700_000_000.0, 1_699_999_990.0);
        m.lag(&ends, &logs, 1_699_999_990.0, 1_700_000_004.0);
        m.failed(FailureKind::Fenced);
        m.manifests(40, 9_000);
        m.manifests(41, 9_500);
        let text = m.encode();
        for want in [
            "strimzi_backup_continuous_last_commit_timestamp_seconds{namespace=\"kafka\",name=\"orders\"} 1700000000.0",
            "strimzi_backup_continuous_commits_total{namespace=\"kafka\",name=\"orders\"} 1",
            "strimzi_backup_continuous_failures_total{namespace=\"kafka\",name=\"orders\",kind=\"fenced\"} 1",
            "strimzi_backup_continuous_manifests_read_total{namespace=\"kafka\",name=\"orders\"} 41",
            "strimzi_backup_continuous_manifests_cached_bytes{namespace=\"kafka\",name=\"orders\"} 9500",
            "strimzi_backup_continuous_lag_records{namespace=\"kafka\",name=\"orders\",topic=\"orders\",partition=\"3\"} 15",
            "strimzi_backup_continuous_lag_seconds{namespace=\"kafka\",name=\"orders\",topic=\"orders\",partition=\"3\"} 14.0",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
        assert!(m.ready.load(std::sync::atomic::Ordering::Relaxed));
    }
}
