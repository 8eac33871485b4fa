//! When a `KafkaBackup` runs, separate from how (CloudNativePG's split of scheduled backup and
//! backup). Pure: given the schedule, the cursor kept in `status.nextScheduledBackup` and the
//! time, it says what is due; the controller acts on it.
//!
//! Missed runs (the operator was down, or a run was due while it was busy): like a CronJob with
//! `startingDeadlineSeconds: 900`. When the operator comes back, only the latest run that was
//! due is considered, and it starts only if it is at most [`STARTING_DEADLINE`] late; older
//! missed runs are never started, and the controller records them as skipped. A backup is a cut
//! at its start, so one late backup covers everything the missed ones would have.

use chrono::{DateTime, Duration, Utc};

use crate::api::schedule::CronSchedule;

/// How late a scheduled run may start.
pub const STARTING_DEADLINE: Duration = Duration::minutes(15);

/// What the schedule says now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing before `at`.
    Later { at: DateTime<Utc> },
    /// The run scheduled for `scheduled` starts now; `missed` earlier runs were not started.
    /// The next run is `next`.
    Run { scheduled: DateTime<Utc>, missed: u32, next: Option<DateTime<Utc>> },
    /// Every due run is past the starting deadline: `missed` runs, the latest at `latest`, are
    /// skipped. The next run is `next`.
    Missed { latest: DateTime<Utc>, missed: u32, next: Option<DateTime<Utc>> },
    /// The expression has no future run.
    Never,
}

/// Decides what is due. `cursor` is the next run recorded in status (None for a new object,
/// whose first run is the first one after `created`).
pub fn due(
    schedule: &CronSchedule,
    cursor: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Due {
    let cursor = match cursor.or_else(|| schedule.next_after(created)) {
        Some(c) => c,
        None => return Due::Never,
    };
    if now < cursor {
        return Due::Later { at: cursor };
    }
    let Some(latest) = schedule.latest_at_or_before(now).filter(|l| *l >= cursor) else {
        return Due::Later { at: cursor };
    };
    // Runs between the cursor and the latest one, which will not run (bounded: a schedule
    // every minute for a year is half a million, so count at most a day's worth).
    let mut missed = 0u32;
    let mut t = cursor;
    while t < latest && missed < 1440 {
        missed += 1;
        match schedule.next_after(t) {
            Some(n) => t = n,
            None => break,
        }
    }
    let next = schedule.next_after(now);
    if now - latest <= STARTING_DEADLINE {
        Due::Run { scheduled: latest, missed, next }
    } else {
        Due::Missed { latest, missed: missed + 1, next }
    }
}

/// Job (and backup-id) name part for a scheduled time: minutes since the epoch, as CronJob
/// names its Jobs, so every replica and every restart derives the same name for the same run.
pub fn run_suffix(scheduled: DateTime<Utc>) -> String {
    (scheduled.timestamp() / 60).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backup::Schedule;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).single().expect("time")
    }

    fn hourly() -> CronSchedule {
        CronSchedule::parse(&Schedule {
            cron: "0 * * * *".into(),
            timezone: "UTC".into(),
            ..Default::default()
        })
        .expect("parses")
    }

    #[test]
    fn a_new_object_waits_for_its_first_run() {
        assert_eq!(due(&hourly(), None, at(10, 20), at(10, 21)), Due::Later { at: at(11, 0) });
    }

    #[test]
    fn a_due_run_starts_and_names_the_next() {
        assert_eq!(
            due(&hourly(), Some(at(11, 0)), at(10, 20), at(11, 0)),
            Due::Run { scheduled: at(11, 0), missed: 0, next: Some(at(12, 0)) }
        );
    }

    #[test]
    fn after_an_outage_only_the_latest_run_starts_and_only_if_recent() {
        // Down from 11:00 to 14:10: 11, 12 and 13 were missed, 14:00 is 10 minutes late.
        assert_eq!(
            due(&hourly(), Some(at(11, 0)), at(10, 20), at(14, 10)),
            Due::Run { scheduled: at(14, 0), missed: 3, next: Some(at(15, 0)) }
        );
        // Back at 14:20: even 14:00 is past the deadline.
        assert_eq!(
            due(&hourly(), Some(at(11, 0)), at(10, 20), at(14, 20)),
            Due::Missed { latest: at(14, 0), missed: 4, next: Some(at(15, 0)) }
        );
    }

    #[test]
    fn names_are_the_same_on_every_replica() {
        assert_eq!(run_suffix(at(14, 0)), run_suffix(at(14, 0)));
        assert_ne!(run_suffix(at(14, 0)), run_suffix(at(15, 0)));
    }
}
