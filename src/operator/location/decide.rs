//! What a `KafkaBackupLocation` reconcile does, decided without I/O: record a finished sync,
//! wait for a running one, start one when due, or wait until it is.

use chrono::{DateTime, Utc};

use crate::api::location::KafkaBackupLocation;
use crate::operator::children::JobState;

/// A sync Job as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncJob {
    pub name: String,
    pub state: JobState,
}

/// The step of one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A sync finished: read its result, mirror it, write status, then delete the Job.
    Record { job: String, state: JobState },
    /// A sync runs: look again soon (its pod may be blocked).
    Running { job: String },
    /// Start a sync Job under this deterministic name.
    Launch { job: String },
    /// Nothing to do before `until`.
    Wait { until: DateTime<Utc> },
}

/// When the next sync is due: at once for a new or changed spec (its `observedGeneration` is
/// behind), else one period after the last successful sync — or after the last attempt, when
/// that failed, so a location that cannot be read is not listed in a loop.
pub fn due(kbl: &KafkaBackupLocation, period_ms: i64, now: DateTime<Utc>) -> DateTime<Utc> {
    let status = kbl.status.clone().unwrap_or_default();
    if status.observed_generation != kbl.metadata.generation {
        return now;
    }
    let last = [status.last_sync_time.as_ref(), status.last_attempt_time.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(crate::time::chrono)
        .max();
    match last {
        Some(t) => t + chrono::Duration::milliseconds(period_ms),
        None => now,
    }
}

/// The name of the sync Job of the slot `due`: two replicas (or a retried reconcile) starting
/// the same sync create one Job.
pub fn job_name(kbl_name: &str, due: DateTime<Utc>) -> String {
    crate::operator::job::child_name(kbl_name, &format!("sync-{}", due.timestamp()))
}

pub fn decide(kbl: &KafkaBackupLocation, jobs: &[SyncJob], period_ms: i64, now: DateTime<Utc>) -> Step {
    if let Some(done) = jobs.iter().find(|j| j.state != JobState::Running) {
        return Step::Record { job: done.name.clone(), state: done.state.clone() };
    }
    if let Some(running) = jobs.first() {
        return Step::Running { job: running.name.clone() };
    }
    let due = due(kbl, period_ms, now);
    if due <= now {
        let name = kbl.metadata.name.clone().unwrap_or_default();
        return Step::Launch { job: job_name(&name, due) };
    }
    Step::Wait { until: due }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::location::{KafkaBackupLocationSpec, KafkaBackupLocationStatus};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    fn kbl(generation: i64, observed: Option<i64>, last: Option<&str>) -> KafkaBackupLocation {
        let mut k = KafkaBackupLocation::new("dr", KafkaBackupLocationSpec::default());
        k.metadata.generation = Some(generation);
        k.status = Some(KafkaBackupLocationStatus {
            observed_generation: observed,
            last_sync_time: last.and_then(crate::time::parse),
            ..Default::default()
        });
        k
    }

    const FIVE_MIN: i64 = 300_000;

    #[test]
    fn a_new_or_changed_location_syncs_at_once_then_every_period() {
        let now = at("2026-12-03T10:00:00Z");
        let first = decide(&kbl(1, None, None), &[], FIVE_MIN, now);
        assert_eq!(first, Step::Launch { job: format!("dr-sync-{}", now.timestamp()) });
        let synced = kbl(1, Some(1), Some("2026-12-03T09:58:00Z"));
        assert_eq!(decide(&synced, &[], FIVE_MIN, now), Step::Wait { until: at("2026-12-03T10:03:00Z") });
        let later = at("2026-12-03T10:03:00Z");
        assert_eq!(
            decide(&synced, &[], FIVE_MIN, later),
            Step::Launch { job: format!("dr-sync-{}", later.timestamp()) }
        );
        // The slot's name comes from when it was due, not from when the reconcile ran.
        let late = at("2026-12-03T10:04:10Z");
        assert_eq!(
            decide(&synced, &[], FIVE_MIN, late),
            Step::Launch { job: format!("dr-sync-{}", later.timestamp()) }
        );
        let changed = kbl(2, Some(1), Some("2026-12-03T09:58:00Z"));
        assert!(matches!(decide(&changed, &[], FIVE_MIN, now), Step::Launch { .. }));
    }

    #[test]
    fn a_failed_sync_waits_a_period_too() {
        let now = at("2026-12-03T10:00:00Z");
        let mut k = kbl(1, Some(1), Some("2026-12-03T08:00:00Z"));
        if let Some(s) = k.status.as_mut() {
            s.last_attempt_time = crate::time::parse("2026-12-03T09:59:00Z");
        }
        assert_eq!(decide(&k, &[], FIVE_MIN, now), Step::Wait { until: at("2026-12-03T10:04:00Z") });
    }

    #[test]
    fn a_finished_job_is_recorded_before_anything_else_and_a_running_one_is_waited_for() {
        let now = at("2026-12-03T10:00:00Z");
        let running = SyncJob { name: "dr-sync-1".into(), state: JobState::Running };
        let failed = SyncJob { name: "dr-sync-0".into(), state: JobState::Failed { reason: "x".into() } };
        assert_eq!(
            decide(&kbl(1, None, None), &[running.clone(), failed.clone()], FIVE_MIN, now),
            Step::Record { job: "dr-sync-0".into(), state: failed.state }
        );
        assert_eq!(
            decide(&kbl(1, None, None), &[running], FIVE_MIN, now),
            Step::Running { job: "dr-sync-1".into() }
        );
    }
}
