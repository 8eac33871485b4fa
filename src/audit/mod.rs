//! The audit log in PostgreSQL (Enterprise, licence feature `audit`; docs/enterprise.md "Audit
//! log"). Every operation is recorded as an [`AuditEvent`] through an [`Audit`] handle that
//! the webhook and the controllers hold: [`Audit::record`] never blocks and never fails — it
//! puts the event in a bounded in-memory queue, and one writer task per process drains it to
//! the database in hash-chained, append-only rows.
//!
//! Read top-down:
//! - [`admission`]: the webhook's validating decisions recorded, with the user. Pure mapping.
//! - [`event`]: what one row says (kind, actor, object, outcome, figures, time). Pure.
//! - [`chain`]: canonical JSON and the SHA-256 chain, its check. Pure.
//! - [`queue`]: the bounded queue; a full one drops the newest and counts them. Pure.
//! - [`from_event`]: the row of an Event the controllers publish (runs, configuration errors). Pure.
//! - [`gate`]: whether the licence lets it record. Pure but for reading the licence.
//! - [`store`]: the database (sqlx): migrations, appending under the chain-head lock, verifying.
//! - [`writer`]: the task: connection from the audit Secret, batches, retries, gap rows,
//!   metrics, Events on the Secret when the database goes away and comes back.
//! - [`metrics`]: the Prometheus families.
//! - [`verify`]: the `verify-audit` command.
//!
//! Its room: `crate::license` and the Kubernetes client; nothing of the operator or the
//! admission decisions, which both use it.

pub mod admission;
pub mod chain;
pub mod event;
pub mod from_event;
pub mod gate;
pub mod metrics;
pub mod queue;
pub mod store;
pub mod verify;
pub mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;

pub use event::{Actor, AuditEvent, EventKind, ObjectRef, Outcome};
pub use metrics::AuditMetrics;

use crate::license::InstalledLicense;
use queue::{Pushed, Queue};

/// `STRIMZI_BACKUP_AUDIT_SECRET`: the Secret in the operator's namespace with the database URL
/// (key `url`, password included) and optionally the CA of its certificate (key `ca.crt`).
/// Unset: no audit log.
pub const SECRET_ENV: &str = "STRIMZI_BACKUP_AUDIT_SECRET";
/// `STRIMZI_BACKUP_AUDIT_QUEUE_SIZE`: events held in memory while the database is slow or away.
pub const QUEUE_ENV: &str = "STRIMZI_BACKUP_AUDIT_QUEUE_SIZE";
/// The Secret's keys.
pub const URL_KEY: &str = "url";
pub const CA_KEY: &str = "ca.crt";
/// Events held by default: about 10 MB at ~1 kB an event.
pub const DEFAULT_QUEUE_SIZE: usize = 10_000;

/// The audit settings of the operator's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSettings {
    pub secret: String,
    pub queue_size: usize,
}

impl AuditSettings {
    /// Reads them through `get`; `None` when no Secret is named (auditing off).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let Some(secret) = get(SECRET_ENV).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let queue_size = match get(QUEUE_ENV).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
            None => DEFAULT_QUEUE_SIZE,
            Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("{QUEUE_ENV}: `{v}` is not a number of events above 0 (default {DEFAULT_QUEUE_SIZE})")
            })?,
        };
        Ok(Some(Self { secret, queue_size }))
    }
}

struct Inner {
    queue: Queue,
    license: InstalledLicense,
    metrics: AuditMetrics,
    /// Which process records (pod name, or host and pid).
    source: String,
    /// Whether the last write or connection attempt failed: the "degraded" state others show.
    database_down: AtomicBool,
}

/// The handle every part of the operator records through; cheap to clone. A handle made by
/// [`Audit::disabled`] (no audit Secret configured) records nothing.
#[derive(Clone, Default)]
pub struct Audit {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").field("configured", &self.inner.is_some()).finish()
    }
}

impl Audit {
    /// Records nothing (no audit database configured).
    pub fn disabled() -> Self {
        Self::default()
    }

    /// A handle whose events wait in a queue of `capacity` for [`writer::run`].
    pub fn new(capacity: usize, license: InstalledLicense, metrics: AuditMetrics) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                queue: Queue::new(capacity),
                license,
                metrics,
                source: identity(),
                database_down: AtomicBool::new(false),
            })),
        }
    }

    /// Records `event`: queued for the writer when the audit log is configured and licensed,
    /// dropped and counted when the queue is full. Never blocks, never fails.
    pub fn record(&self, mut event: AuditEvent) {
        let Some(inner) = &self.inner else { return };
        if !gate::of(&inner.license, Utc::now()).records() {
            return;
        }
        if event.source.is_empty() {
            event.source = inner.source.clone();
        }
        if inner.queue.push(event) == Pushed::Dropped {
            inner.metrics.dropped.inc();
        }
        inner.metrics.queue_depth.set(inner.queue.len() as i64);
    }

    /// Whether an audit database is configured.
    pub fn configured(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether the audit database failed the last write or connection attempt (events are
    /// being held in memory meanwhile).
    pub fn database_down(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.database_down.load(Ordering::Relaxed))
    }

    /// Events waiting to be written.
    pub fn queued(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.queue.len())
    }
}

/// This process in the `source` of its events: the pod name (downward API), else host and pid.
fn identity() -> String {
    std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_the_variable_of_a_bad_queue_size() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(AuditSettings::from_env(env(&[])), Ok(None));
        assert_eq!(
            AuditSettings::from_env(env(&[(SECRET_ENV, "audit-db")])),
            Ok(Some(AuditSettings { secret: "audit-db".into(), queue_size: DEFAULT_QUEUE_SIZE }))
        );
        let bad = AuditSettings::from_env(env(&[(SECRET_ENV, "a"), (QUEUE_ENV, "0")]));
        assert!(bad.is_err_and(|e| e.contains(QUEUE_ENV)));
    }

    #[test]
    fn an_unlicensed_handle_queues_nothing() {
        let audit = Audit::new(4, InstalledLicense::default(), AuditMetrics::default());
        audit.record(AuditEvent::new(EventKind::Other, Outcome::Recorded));
        assert_eq!(audit.queued(), 0);
        Audit::disabled().record(AuditEvent::new(EventKind::Other, Outcome::Recorded));
    }
}
