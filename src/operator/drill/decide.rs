//! What a `KafkaRestoreDrill` reconcile does, decided without I/O: record a finished drill, wait
//! for a running one, start one when due (the trigger annotation, the cron slot, or the one run
//! of a drill without a schedule), or wait until one is due; and the pure pieces of acting on
//! it — which restore point a drill restores and how a finished drill enters the history.

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use sha2::Digest;

use crate::api::backup::TRIGGER_ANNOTATION;
use crate::api::drill::{DrillRun, KafkaRestoreDrill, KafkaRestoreDrillStatus, RestorePointChoice};
use crate::api::restore_point::KafkaRestorePoint;
use crate::api::schedule::CronSchedule;
use crate::operator::backup::schedule::{self, Due};
use crate::operator::children::JobState;

/// A drill Job as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct DrillJob {
    pub name: String,
    pub state: JobState,
}

/// Why a drill starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Why {
    /// A drill without a schedule runs once.
    Initial,
    /// A new value of the trigger annotation.
    Trigger(String),
    /// The cron slot `at`; `missed` earlier slots were not run.
    Scheduled { at: DateTime<Utc>, missed: u32 },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Initial => write!(f, "first drill (no schedule)"),
            Self::Trigger(v) => write!(f, "{TRIGGER_ANNOTATION}={v}"),
            Self::Scheduled { at, .. } => write!(f, "scheduled for {at}"),
        }
    }
}

/// The step of one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A drill finished: read its result, record it, then delete the Job.
    Record { job: String, state: JobState },
    /// A drill runs: look again soon (its pod may be blocked).
    Running { job: String },
    /// Start a drill Job under this deterministic name. `next` is the schedule's cursor once it
    /// started (unchanged for a trigger).
    Launch { job: String, why: Why, next: Option<DateTime<Utc>> },
    /// Nothing to start. `next` is the next cron slot (None without a schedule); `missed` the
    /// slots skipped as too late (the latest, how many).
    Wait { next: Option<DateTime<Utc>>, missed: Option<(DateTime<Utc>, u32)> },
}

/// The trigger annotation's value, when set.
pub fn trigger(krd: &KafkaRestoreDrill) -> Option<&String> {
    krd.annotations().get(TRIGGER_ANNOTATION).filter(|v| !v.is_empty())
}

/// Job name of the drill for trigger value `value`: of this object alone (its uid), a valid name
/// part whatever the value, the same on every replica.
pub fn trigger_job(krd: &KafkaRestoreDrill, value: &str) -> String {
    let seed = format!("{}/{value}", krd.uid().unwrap_or_default());
    let hash = hex::encode(&sha2::Sha256::digest(seed.as_bytes())[..4]);
    crate::operator::job::child_name(&krd.name_any(), &format!("drill-trigger-{hash}"))
}

/// Job name of the one drill of a drill without a schedule.
pub fn initial_job(krd: &KafkaRestoreDrill) -> String {
    let uid: String = krd.uid().unwrap_or_default().chars().filter(char::is_ascii_hexdigit).take(8).collect();
    crate::operator::job::child_name(&krd.name_any(), &format!("drill-initial-{uid}"))
}

/// Job name of the drill of cron slot `at` (Unix seconds of the slot).
pub fn scheduled_job(krd: &KafkaRestoreDrill, at: DateTime<Utc>) -> String {
    crate::operator::job::child_name(&krd.name_any(), &format!("drill-{}", at.timestamp()))
}

/// Whether trigger `value` (Job `job`) was handled: its value recorded in `lastTrigger`, or its
/// Job running or recorded (a status written before `lastTrigger` existed).
fn handled(status: &KafkaRestoreDrillStatus, value: &str, job: &str) -> bool {
    status.last_trigger.as_deref() == Some(value)
        || status.active_job.as_deref() == Some(job)
        || status.last_verification.as_ref().and_then(|r| r.job.as_deref()) == Some(job)
        || status.history.iter().any(|r| r.job.as_deref() == Some(job))
}

pub fn decide(krd: &KafkaRestoreDrill, jobs: &[DrillJob], now: DateTime<Utc>) -> Step {
    if let Some(done) = jobs.iter().find(|j| j.state != JobState::Running) {
        return Step::Record { job: done.name.clone(), state: done.state.clone() };
    }
    if let Some(running) = jobs.first() {
        return Step::Running { job: running.name.clone() };
    }
    let status = krd.status.clone().unwrap_or_default();
    let cursor = status.next_schedule_time.as_ref().and_then(crate::time::chrono);
    if let Some(value) = trigger(krd) {
        let job = trigger_job(krd, value);
        if !handled(&status, value, &job) {
            return Step::Launch { job, why: Why::Trigger(value.clone()), next: cursor };
        }
    }
    let Some(spec) = &krd.spec.schedule else {
        let never_ran =
            status.last_verification.is_none() && status.history.is_empty() && status.active_job.is_none();
        if never_ran {
            return Step::Launch { job: initial_job(krd), why: Why::Initial, next: None };
        }
        return Step::Wait { next: None, missed: None };
    };
    // An invalid schedule is held by the validation before this.
    let Ok(cron) = CronSchedule::parse(&spec.as_backup_schedule()) else {
        return Step::Wait { next: None, missed: None };
    };
    if spec.suspend {
        // The cursor follows the clock while suspended, so resuming does not catch up.
        return Step::Wait { next: cron.next_after(now), missed: None };
    }
    let created = krd.creation_timestamp().and_then(|t| crate::time::chrono(&t)).unwrap_or(now);
    match schedule::due(&cron, cursor, created, now) {
        Due::Later { at } => Step::Wait { next: Some(at), missed: None },
        Due::Never => Step::Wait { next: None, missed: None },
        Due::Missed { latest, missed, next } => Step::Wait { next, missed: Some((latest, missed)) },
        Due::Run { scheduled, missed, next } => Step::Launch {
            job: scheduled_job(krd, scheduled),
            why: Why::Scheduled { at: scheduled, missed },
            next,
        },
    }
}

/// When a restore point was cut, for "newest": its completion, else its capture.
fn cut(point: &KafkaRestorePoint) -> f64 {
    crate::time::unix_seconds(&point.spec.completed_at)
        .or_else(|| crate::time::unix_seconds(&point.spec.captured_at))
        .unwrap_or(f64::MIN)
}

/// The restore point a drill restores. `Newest`: the latest cut (ties by name, so every replica
/// picks the same). `Sampled`: one of those never drilled when there are any, else one of all,
/// chosen by `seed` — the operator seeds it with the Job name, so a retried launch picks the
/// same point and successive drills spread over the kept ones.
pub fn pick(
    points: &[KafkaRestorePoint],
    choice: RestorePointChoice,
    seed: &str,
) -> Option<KafkaRestorePoint> {
    let mut sorted: Vec<&KafkaRestorePoint> = points.iter().collect();
    sorted.sort_by(|a, b| cut(a).total_cmp(&cut(b)).then_with(|| a.name_any().cmp(&b.name_any())));
    match choice {
        RestorePointChoice::Newest => sorted.last().map(|p| (*p).clone()),
        RestorePointChoice::Sampled => {
            let fresh: Vec<&KafkaRestorePoint> = sorted
                .iter()
                .copied()
                .filter(|p| p.status.as_ref().and_then(|s| s.verification.as_ref()).is_none())
                .collect();
            let pool = if fresh.is_empty() { sorted } else { fresh };
            if pool.is_empty() {
                return None;
            }
            let digest = sha2::Sha256::digest(seed.as_bytes());
            let n = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]));
            let i = usize::try_from(n % pool.len() as u64).unwrap_or(0);
            Some(pool[i].clone())
        }
    }
}

/// Records `run` as the last drill: `lastVerification` in full, the history newest first without
/// the mismatches (at most `limit`), `lastSuccessTime` when it passed.
pub fn enter(status: &mut KafkaRestoreDrillStatus, run: DrillRun, limit: i32) {
    let passed = run.result == crate::api::restore_point::VerificationResult::Passed;
    if passed {
        status.last_success_time = run.completion_time.clone().or_else(|| Some(crate::time::now()));
    }
    let mut entry = run.clone();
    entry.first_mismatches.clear();
    // A Job recorded twice (a status write lost after the first) is one entry.
    status.history.retain(|r| r.job.is_none() || r.job != entry.job);
    status.history.insert(0, entry);
    status.history.truncate(usize::try_from(limit.max(1)).unwrap_or(1));
    status.last_verification = Some(run);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::drill::{DrillSchedule, KafkaRestoreDrillSpec, LocalRef};
    use crate::api::restore_point::VerificationResult;
    use crate::api::restore_point::{KafkaRestorePointSpec, KafkaRestorePointStatus, Verification};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    fn drill(schedule: Option<&str>) -> KafkaRestoreDrill {
        let mut d = KafkaRestoreDrill::new(
            "nightly",
            KafkaRestoreDrillSpec {
                backup_ref: Some(LocalRef { name: "orders".into() }),
                schedule: schedule.map(|c| DrillSchedule {
                    cron: c.into(),
                    timezone: "UTC".into(),
                    suspend: false,
                }),
                ..Default::default()
            },
        );
        d.metadata.uid = Some("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d".into());
        d.metadata.creation_timestamp = crate::time::kube(at("2026-12-03T09:30:00Z"));
        d
    }

    fn with_status(
        mut d: KafkaRestoreDrill,
        f: impl FnOnce(&mut KafkaRestoreDrillStatus),
    ) -> KafkaRestoreDrill {
        let mut s = d.status.take().unwrap_or_default();
        f(&mut s);
        d.status = Some(s);
        d
    }

    fn ran(job: &str) -> DrillRun {
        DrillRun { job: Some(job.into()), result: VerificationResult::Passed, ..Default::default() }
    }

    fn triggered(mut d: KafkaRestoreDrill, value: &str) -> KafkaRestoreDrill {
        d.metadata.annotations = Some([(TRIGGER_ANNOTATION.to_string(), value.to_string())].into());
        d
    }

    #[test]
    fn without_a_schedule_a_drill_runs_once_and_again_for_each_new_trigger_value() {
        let now = at("2026-12-03T10:00:00Z");
        let d = drill(None);
        assert_eq!(
            decide(&d, &[], now),
            Step::Launch { job: "nightly-drill-initial-0a1b2c3d".into(), why: Why::Initial, next: None }
        );
        let done = with_status(d, |s| s.last_verification = Some(ran("nightly-drill-initial-0a1b2c3d")));
        assert_eq!(decide(&done, &[], now), Step::Wait { next: None, missed: None });
        let t = triggered(done, "now");
        let job = trigger_job(&t, "now");
        assert!(job.starts_with("nightly-drill-trigger-"), "{job}");
        assert_eq!(
            decide(&t, &[], now),
            Step::Launch { job: job.clone(), why: Why::Trigger("now".into()), next: None }
        );
        // Running, then recorded: the same value never starts a second drill.
        let active = with_status(t.clone(), |s| s.active_job = Some(job.clone()));
        assert_eq!(decide(&active, &[], now), Step::Wait { next: None, missed: None });
        let recorded = with_status(t, |s| s.history = vec![ran(&job)]);
        assert_eq!(decide(&recorded, &[], now), Step::Wait { next: None, missed: None });
        assert_ne!(trigger_job(&recorded, "again"), job);
        // Its run pushed out of a short history by later drills: `lastTrigger` still holds it.
        let forgotten = with_status(recorded, |s| {
            s.history = vec![ran("nightly-drill-1764756000")];
            s.last_verification = Some(ran("nightly-drill-1764756000"));
            s.last_trigger = Some("now".into());
        });
        assert_eq!(decide(&forgotten, &[], now), Step::Wait { next: None, missed: None });
    }

    #[test]
    fn a_schedule_runs_each_slot_once_named_for_the_slot_and_skips_late_ones() {
        let hourly = drill(Some("0 * * * *"));
        // Created 09:30: the first slot is 10:00.
        assert_eq!(
            decide(&hourly, &[], at("2026-12-03T09:40:00Z")),
            Step::Wait { next: Some(at("2026-12-03T10:00:00Z")), missed: None }
        );
        let cursor =
            with_status(hourly, |s| s.next_schedule_time = crate::time::kube(at("2026-12-03T10:00:00Z")));
        let slot = at("2026-12-03T10:00:00Z");
        assert_eq!(
            decide(&cursor, &[], at("2026-12-03T10:02:00Z")),
            Step::Launch {
                job: format!("nightly-drill-{}", slot.timestamp()),
                why: Why::Scheduled { at: slot, missed: 0 },
                next: Some(at("2026-12-03T11:00:00Z")),
            }
        );
        // Back after the starting deadline: skipped, the cursor moves on.
        assert_eq!(
            decide(&cursor, &[], at("2026-12-03T10:20:00Z")),
            Step::Wait { next: Some(at("2026-12-03T11:00:00Z")), missed: Some((slot, 1)) }
        );
        let suspended =
            with_status(drill(Some("0 * * * *")), |s| s.next_schedule_time = crate::time::kube(slot));
        let mut suspended = suspended;
        if let Some(s) = suspended.spec.schedule.as_mut() {
            s.suspend = true;
        }
        assert_eq!(
            decide(&suspended, &[], at("2026-12-03T10:02:00Z")),
            Step::Wait { next: Some(at("2026-12-03T11:00:00Z")), missed: None }
        );
        // A trigger on a scheduled drill runs at once and leaves the cursor as it is.
        let t = triggered(cursor, "now");
        assert!(matches!(
            decide(&t, &[], at("2026-12-03T09:50:00Z")),
            Step::Launch { why: Why::Trigger(_), next: Some(n), .. } if n == slot
        ));
    }

    #[test]
    fn a_finished_job_is_recorded_first_and_a_running_one_waited_for() {
        let now = at("2026-12-03T10:00:00Z");
        let running = DrillJob { name: "nightly-drill-2".into(), state: JobState::Running };
        let failed =
            DrillJob { name: "nightly-drill-1".into(), state: JobState::Failed { reason: "x".into() } };
        assert_eq!(
            decide(&drill(None), &[running.clone(), failed.clone()], now),
            Step::Record { job: failed.name, state: failed.state }
        );
        assert_eq!(decide(&drill(None), &[running], now), Step::Running { job: "nightly-drill-2".into() });
    }

    fn point(name: &str, completed: &str, verified: bool) -> KafkaRestorePoint {
        let mut p = KafkaRestorePoint::new(
            name,
            KafkaRestorePointSpec {
                completed_at: completed.into(),
                captured_at: completed.into(),
                ..Default::default()
            },
        );
        if verified {
            p.status = Some(KafkaRestorePointStatus {
                verification: Some(Verification { result: VerificationResult::Passed, ..Default::default() }),
            });
        }
        p
    }

    #[test]
    fn newest_is_the_latest_cut_and_sampled_prefers_points_never_drilled() {
        let points = vec![
            point("b", "2026-12-02T02:05:00.000Z", true),
            point("c", "2026-12-03T02:05:00.000Z", true),
            point("a", "2026-12-01T02:05:00.000Z", false),
        ];
        let name = |p: Option<KafkaRestorePoint>| p.map(|p| p.name_any());
        assert_eq!(name(pick(&points, RestorePointChoice::Newest, "x")).as_deref(), Some("c"));
        // Only `a` was never drilled: every seed picks it.
        for seed in ["j1", "j2", "j3", "j4"] {
            assert_eq!(name(pick(&points, RestorePointChoice::Sampled, seed)).as_deref(), Some("a"));
        }
        // All drilled: any of them, the same for the same seed, and over many seeds each one.
        let all: Vec<KafkaRestorePoint> =
            points.iter().map(|p| point(&p.name_any(), &p.spec.completed_at, true)).collect();
        assert_eq!(
            pick(&all, RestorePointChoice::Sampled, "s"),
            pick(&all, RestorePointChoice::Sampled, "s")
        );
        let seen: std::collections::BTreeSet<String> = (0..64)
            .filter_map(|i| name(pick(&all, RestorePointChoice::Sampled, &format!("seed{i}"))))
            .collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(pick(&[], RestorePointChoice::Newest, "x"), None);
        assert_eq!(pick(&[], RestorePointChoice::Sampled, "x"), None);
    }

    #[test]
    fn the_history_is_newest_first_capped_and_without_mismatches() {
        let mut status = KafkaRestoreDrillStatus::default();
        for i in 0..4 {
            let mut run = ran(&format!("j{i}"));
            run.result = if i == 3 { VerificationResult::Failed } else { VerificationResult::Passed };
            run.completion_time = crate::time::kube(at("2026-12-03T10:00:00Z") + chrono::Duration::hours(i));
            run.first_mismatches = vec![crate::api::drill::Mismatch {
                topic: "t".into(),
                partition: 0,
                offset: Some(i),
                restored_offset: None,
                what: "value".into(),
            }];
            enter(&mut status, run, 3);
        }
        let jobs: Vec<_> = status.history.iter().filter_map(|r| r.job.clone()).collect();
        assert_eq!(jobs, ["j3", "j2", "j1"]);
        assert!(status.history.iter().all(|r| r.first_mismatches.is_empty()));
        assert_eq!(status.last_verification.as_ref().map(|r| r.first_mismatches.len()), Some(1));
        // The last success is the last passed drill's, not the failed one after it.
        assert_eq!(status.last_success_time, crate::time::kube(at("2026-12-03T12:00:00Z")));
        // The same Job recorded twice is one entry.
        enter(&mut status, ran("j3"), 3);
        assert_eq!(status.history.len(), 3);
        assert_eq!(status.history[1].job.as_deref(), Some("j2"));
    }
}
