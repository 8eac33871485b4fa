//! The operator's Prometheus metrics (SPEC §6), fed from the data plane's results as Jobs
//! finish, plus reconcile counts and durations. One registry for the process: the webhook server
//! registers its own families into it and `/metrics` serves them all.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// A resource the figures are about.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub namespace: String,
    pub name: String,
}

/// A run's outcome (`success`, `failure`, `skipped`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub namespace: String,
    pub name: String,
    pub outcome: String,
}

/// A controller (`kafkabackup`, `kafkarestore`, `kafkaoffsetreset`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

/// A controller's failed reconcile, by reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: String,
    pub reason: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn duration_histogram() -> Histogram {
    // 1 s to about 9 h: backups of a small topic to a large cluster's nightly run.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(1.0, 2.0, 16))
}

fn reconcile_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15))
}

/// Every family the operator reports.
pub struct Metrics {
    pub backup_records: Family<ResourceLabels, Counter>,
    pub backup_bytes: Family<ResourceLabels, Counter>,
    pub backup_duration: Family<ResourceLabels, Histogram, fn() -> Histogram>,
    pub backup_last_success: Family<ResourceLabels, FloatGauge>,
    pub backup_last_failure: Family<ResourceLabels, FloatGauge>,
    pub backup_storage_bytes: Family<ResourceLabels, Gauge>,
    pub backup_lag: Family<ResourceLabels, FloatGauge>,
    pub backups: Family<OutcomeLabels, Counter>,
    pub restore_records: Family<ResourceLabels, Counter>,
    pub restore_bytes: Family<ResourceLabels, Counter>,
    pub restore_duration: Family<ResourceLabels, Histogram, fn() -> Histogram>,
    pub restores: Family<OutcomeLabels, Counter>,
    pub offset_resets: Family<OutcomeLabels, Counter>,
    pub reconciles: Family<ControllerLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Family<ControllerLabels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    /// Creates the families and registers them (counters get the `_total` suffix on the way).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            backup_records: Family::default(),
            backup_bytes: Family::default(),
            backup_duration: Family::new_with_constructor(duration_histogram),
            backup_last_success: Family::default(),
            backup_last_failure: Family::default(),
            backup_storage_bytes: Family::default(),
            backup_lag: Family::default(),
            backups: Family::default(),
            restore_records: Family::default(),
            restore_bytes: Family::default(),
            restore_duration: Family::new_with_constructor(duration_histogram),
            restores: Family::default(),
            offset_resets: Family::default(),
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(reconcile_histogram),
        };
        let r = registry;
        r.register("strimzi_backup_records", "Records backed up", m.backup_records.clone());
        r.register("strimzi_backup_bytes", "Record bytes backed up", m.backup_bytes.clone());
        r.register("strimzi_backup_duration_seconds", "Duration of backup runs", m.backup_duration.clone());
        r.register(
            "strimzi_backup_last_success_timestamp",
            "Unix time of the last successful backup",
            m.backup_last_success.clone(),
        );
        r.register(
            "strimzi_backup_last_failure_timestamp",
            "Unix time of the last failed backup",
            m.backup_last_failure.clone(),
        );
        r.register(
            "strimzi_backup_storage_bytes",
            "Bytes the backups hold in storage",
            m.backup_storage_bytes.clone(),
        );
        r.register(
            "strimzi_backup_lag_seconds",
            "Age of the newest record in the latest successful backup",
            m.backup_lag.clone(),
        );
        r.register("strimzi_backup_backups", "Backup runs by outcome", m.backups.clone());
        r.register("strimzi_restore_records", "Records restored", m.restore_records.clone());
        r.register("strimzi_restore_bytes", "Record bytes restored", m.restore_bytes.clone());
        r.register(
            "strimzi_restore_duration_seconds",
            "Duration of restore runs",
            m.restore_duration.clone(),
        );
        r.register("strimzi_restore_restores", "Restore runs by outcome", m.restores.clone());
        r.register("strimzi_offset_reset", "Offset reset runs by outcome", m.offset_resets.clone());
        r.register("strimzi_backup_reconcile", "Reconciles by controller", m.reconciles.clone());
        r.register(
            "strimzi_backup_reconcile_errors",
            "Failed reconciles by controller and reason",
            m.reconcile_errors.clone(),
        );
        r.register(
            "strimzi_backup_reconcile_duration_seconds",
            "Duration of reconciles",
            m.reconcile_duration.clone(),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_names_are_exposed() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let who = ResourceLabels { namespace: "kafka".into(), name: "nightly".into() };
        m.backup_records.get_or_create(&who).inc_by(42);
        m.backups
            .get_or_create(&OutcomeLabels {
                namespace: "kafka".into(),
                name: "nightly".into(),
                outcome: "success".into(),
            })
            .inc();
        m.backup_duration.get_or_create(&who).observe(12.5);
        m.offset_resets
            .get_or_create(&OutcomeLabels {
                namespace: "kafka".into(),
                name: "r".into(),
                outcome: "success".into(),
            })
            .inc();
        m.backup_storage_bytes.get_or_create(&who).set(1 << 20);
        m.backup_lag.get_or_create(&who).set(61.5);
        let dr = OutcomeLabels { namespace: "kafka".into(), name: "dr".into(), outcome: "failure".into() };
        m.restores.get_or_create(&dr).inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for name in [
            "strimzi_backup_records_total{namespace=\"kafka\",name=\"nightly\"} 42",
            "strimzi_backup_backups_total{namespace=\"kafka\",name=\"nightly\",outcome=\"success\"} 1",
            "strimzi_backup_duration_seconds_count{namespace=\"kafka\",name=\"nightly\"} 1",
            "strimzi_offset_reset_total{",
            "strimzi_backup_storage_bytes{namespace=\"kafka\",name=\"nightly\"} 1048576",
            "strimzi_backup_lag_seconds{namespace=\"kafka\",name=\"nightly\"} 61.5",
            "strimzi_restore_restores_total{namespace=\"kafka\",name=\"dr\",outcome=\"failure\"} 1",
        ] {
            assert!(text.contains(name), "{name} missing in:\n{text}");
        }
    }
}
