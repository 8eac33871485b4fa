//! What the `KafkaBackup` reconcile tells Prometheus: the gauges that describe a backup's state,
//! set at every reconcile, and what each recorded or skipped run adds.

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use super::plan::Outcome;
use crate::api::backup::{BackupRunStatus, KafkaBackup, KafkaBackupStatus};
use crate::api::schedule::CronSchedule;
use crate::operator::metrics::{Metrics, OutcomeLabels, ResourceLabels};
use crate::time;

pub fn labels(kb: &KafkaBackup) -> ResourceLabels {
    ResourceLabels { namespace: kb.namespace().unwrap_or_default(), name: kb.name_any() }
}

fn outcome_labels(kb: &KafkaBackup, outcome: &str) -> OutcomeLabels {
    OutcomeLabels {
        namespace: kb.namespace().unwrap_or_default(),
        name: kb.name_any(),
        outcome: outcome.into(),
    }
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1e3
}

/// The gauges of `kb` that describe its state rather than a run, set at every reconcile
/// (`cron`: its schedule, parsed, if it has a valid one):
/// - the schedule's interval, from the spec alone, so that the alert "no successful backup
///   within two intervals" also covers a backup that cannot run (invalid spec, no licence, an
///   unreachable cluster); removed when no schedule is in effect (none, suspended, invalid);
/// - the last success and failure times, from the status' history when it has newer ones than
///   this process recorded: a restarted operator or a new leader reports them (and the alerts
///   on them hold) before the next run finishes.
pub fn state_gauges(
    m: &Metrics,
    kb: &KafkaBackup,
    cron: Option<&CronSchedule>,
    status: &KafkaBackupStatus,
    now: DateTime<Utc>,
) {
    let l = labels(kb);
    m.recoverability(&crate::operator::metrics::SourceLabels::of(kb), &status.recoverability, None);
    let suspended = kb.spec.schedule.as_ref().is_some_and(|s| s.suspend);
    let interval = cron.filter(|_| !suspended).and_then(|cron| cron.longest_gap(now));
    match interval {
        Some(i) => {
            m.backup_schedule_interval.get_or_create(&l).set(i.num_milliseconds() as f64 / 1e3);
        }
        None => {
            m.backup_schedule_interval.remove(&l);
        }
    }
    for (gauge, outcome) in [
        (&m.backup_last_success, BackupRunStatus::Completed),
        (&m.backup_last_failure, BackupRunStatus::Failed),
    ] {
        let newest = status
            .backup_history
            .iter()
            .filter(|r| r.status == outcome)
            .filter_map(|r| r.completion_time.as_ref().and_then(time::chrono))
            .max();
        if let Some(t) = newest.map(seconds) {
            let g = gauge.get_or_create(&l);
            if g.get() < t {
                g.set(t);
            }
        }
    }
}

/// What the runs the plan recorded (at `now`) or skipped add to the metrics.
pub fn runs(m: &Metrics, kb: &KafkaBackup, outcomes: &[Outcome], now: DateTime<Utc>) {
    let l = labels(kb);
    for outcome in outcomes {
        match outcome {
            Outcome::Completed(r) => {
                m.backup_records.get_or_create(&l).inc_by(r.records);
                m.backup_bytes.get_or_create(&l).inc_by(r.raw_bytes);
                if let (Some(a), Some(b)) =
                    (time::unix_seconds(&r.started_at), time::unix_seconds(&r.completed_at))
                {
                    m.backup_duration.get_or_create(&l).observe((b - a).max(0.0));
                }
                m.backup_last_success.get_or_create(&l).set(seconds(now));
                if let Some(newest) = r.newest_timestamp.as_deref().and_then(time::unix_seconds) {
                    m.backup_lag.get_or_create(&l).set((seconds(now) - newest).max(0.0));
                }
                if let Some(inv) = &r.inventory {
                    m.backup_storage_bytes
                        .get_or_create(&l)
                        .set(i64::try_from(inv.storage_bytes).unwrap_or(i64::MAX));
                }
                m.backups.get_or_create(&outcome_labels(kb, "success")).inc();
            }
            Outcome::Failed => {
                m.backup_last_failure.get_or_create(&l).set(seconds(now));
                m.backups.get_or_create(&outcome_labels(kb, "failure")).inc();
            }
            Outcome::Skipped => {
                m.backups.get_or_create(&outcome_labels(kb, "skipped")).inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backup::BackupRecord;
    use chrono::TimeZone;

    fn backup(schedule: &str) -> KafkaBackup {
        let spec = serde_yaml_ng::from_str(&format!(
            "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nstorage: {{type: s3, s3: {{bucket: b, region: r}}}}\n{schedule}"
        ))
        .expect("spec");
        let mut kb = KafkaBackup::new("nightly", spec);
        kb.metadata.namespace = Some("kafka".into());
        kb
    }

    fn run(status: BackupRunStatus, completed: i64) -> BackupRecord {
        let at = Utc.timestamp_opt(completed, 0).single().expect("time");
        BackupRecord {
            id: format!("b{completed}"),
            status,
            completion_time: time::kube(at),
            ..Default::default()
        }
    }

    fn value(family: &prometheus_client::metrics::family::Family<ResourceLabels, FloatGauge>) -> Option<f64> {
        let who = ResourceLabels { namespace: "kafka".into(), name: "nightly".into() };
        family.get(&who).map(|g| g.get())
    }

    /// `state_gauges` as the reconcile calls it.
    fn gauges(m: &Metrics, kb: &KafkaBackup, status: &KafkaBackupStatus, now: DateTime<Utc>) {
        let cron = kb.spec.schedule.as_ref().and_then(|s| CronSchedule::parse(s).ok());
        state_gauges(m, kb, cron.as_ref(), status, now);
    }

    type FloatGauge = prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>;

    #[test]
    fn the_interval_follows_the_schedule_in_effect() {
        let m = Metrics::register(&mut prometheus_client::registry::Registry::default());
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 20, 0).single().expect("time");
        let status = KafkaBackupStatus::default();
        gauges(&m, &backup("schedule: {cron: '0 * * * *'}"), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), Some(3600.0));
        gauges(&m, &backup("schedule: {cron: '0 2 * * 1-5', timezone: Europe/Berlin}"), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), Some(3.0 * 86400.0));
        // Suspended, removed, or no longer valid: nothing is overdue.
        gauges(&m, &backup("schedule: {cron: '0 * * * *', suspend: true}"), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), None);
        gauges(&m, &backup("schedule: {cron: '0 * * * *'}"), &status, now);
        gauges(&m, &backup(""), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), None);
        gauges(&m, &backup("schedule: {cron: '0 * * * *'}"), &status, now);
        gauges(&m, &backup("schedule: {cron: '61 * * * *'}"), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), None);
    }

    #[test]
    fn last_runs_come_from_the_history_when_newer_and_go_with_the_backup() {
        let m = Metrics::register(&mut prometheus_client::registry::Registry::default());
        let kb = backup("schedule: {cron: '0 * * * *'}");
        let now = Utc::now();
        // A new leader: nothing recorded yet, the history has both.
        let status = KafkaBackupStatus {
            backup_history: vec![
                run(BackupRunStatus::Skipped, 1_800_000_400),
                run(BackupRunStatus::Failed, 1_800_000_300),
                run(BackupRunStatus::Completed, 1_800_000_200),
                run(BackupRunStatus::Completed, 1_800_000_100),
            ],
            ..Default::default()
        };
        gauges(&m, &kb, &status, now);
        assert_eq!(value(&m.backup_last_success), Some(1_800_000_200.0));
        assert_eq!(value(&m.backup_last_failure), Some(1_800_000_300.0));
        // What this process recorded later stays.
        m.backup_last_success.get_or_create(&labels(&kb)).set(1_800_000_500.0);
        gauges(&m, &kb, &status, now);
        assert_eq!(value(&m.backup_last_success), Some(1_800_000_500.0));
        // Nothing in the history: nothing is made up.
        let m2 = Metrics::register(&mut prometheus_client::registry::Registry::default());
        gauges(&m2, &kb, &KafkaBackupStatus::default(), now);
        assert_eq!((value(&m2.backup_last_success), value(&m2.backup_last_failure)), (None, None));

        m.backup_storage_bytes.get_or_create(&labels(&kb)).set(7);
        m.backups.get_or_create(&outcome_labels(&kb, "success")).inc();
        m.forget_backup(&labels(&kb));
        assert_eq!(value(&m.backup_last_success), None);
        assert_eq!(value(&m.backup_last_failure), None);
        assert_eq!(value(&m.backup_schedule_interval), None);
        assert!(m.backup_storage_bytes.get(&labels(&kb)).is_none());
        assert!(m.backups.get(&outcome_labels(&kb, "success")).is_some(), "counters stay");
    }
}
