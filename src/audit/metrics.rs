//! The audit log's Prometheus families, in the operator's registry (served on `/metrics`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// `licensed`, `licence-expired`, `unlicensed`, `not-configured`.
    pub state: String,
}

#[derive(Clone, Debug, Default)]
pub struct AuditMetrics {
    /// `strimzi_backup_audit_queue_depth`: events waiting to be written.
    pub queue_depth: Gauge,
    /// `strimzi_backup_audit_events_written_total`.
    pub written: Counter,
    /// `strimzi_backup_audit_events_dropped_total`: lost to a full queue (each loss is also a
    /// `Gap` row once the database is back).
    pub dropped: Counter,
    /// `strimzi_backup_audit_last_write_success_timestamp_seconds`.
    pub last_success: Gauge<f64, AtomicU64>,
    /// `strimzi_backup_audit_database_up`: 1 after a successful write or connection, 0 after a
    /// failure.
    pub database_up: Gauge,
    /// `strimzi_backup_audit_enabled{state}`: 1 while events are recorded, 0 when not, with why.
    pub enabled: Family<StateLabels, Gauge>,
}

impl AuditMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "strimzi_backup_audit_queue_depth",
            "Audit events waiting in memory to be written to the audit database",
            m.queue_depth.clone(),
        );
        registry.register(
            "strimzi_backup_audit_events_written",
            "Audit events written to the audit database",
            m.written.clone(),
        );
        registry.register(
            "strimzi_backup_audit_events_dropped",
            "Audit events lost because the queue was full (recorded as a Gap row when the database is back)",
            m.dropped.clone(),
        );
        registry.register(
            "strimzi_backup_audit_last_write_success_timestamp_seconds",
            "When the audit database last took a write (Unix seconds)",
            m.last_success.clone(),
        );
        registry.register(
            "strimzi_backup_audit_database_up",
            "Whether the audit database took the last write or connection attempt (1) or not (0)",
            m.database_up.clone(),
        );
        registry.register(
            "strimzi_backup_audit_enabled",
            "Whether audit events are recorded (1) or not (0), by the licence's state",
            m.enabled.clone(),
        );
        m
    }

    /// Shows `state` as the one current state.
    pub fn set_state(&self, state: &str, enabled: bool) {
        self.enabled.clear();
        self.enabled.get_or_create(&StateLabels { state: state.into() }).set(i64::from(enabled));
    }
}
