//! Cron schedules as users write them — standard 5-field cron (minute hour day-of-month month
//! day-of-week) or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly` — read in an IANA time
//! zone, evaluated with the `cron` crate.
//!
//! The `cron` crate reads 6 or 7 fields starting with seconds and numbers the days of the week
//! 1-7 from Sunday, where standard cron numbers them 0-7 from Sunday (7 is Sunday again). The
//! standard expression is converted: seconds `0` are prepended and the day-of-week field is
//! expanded into the crate's numbering, so `1-5` means Monday to Friday as everywhere else.
//! Accepted in each field: `*`, numbers, names (`JAN`, `MON`), ranges `a-b`, steps `*/n` and
//! `a-b/n`, lists `a,b`. An expression that restricts both day-of-month and day-of-week is
//! refused: cron implementations disagree on whether it means either or both.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::backup::Schedule;
use super::validation::FieldError;

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    schedule: cron::Schedule,
    timezone: Tz,
}

const CRON: &str = "spec.schedule.cron";
const TIMEZONE: &str = "spec.schedule.timezone";
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One day-of-week item of standard cron (a number 0-7 or a name) as 0-6 from Sunday.
fn day(item: &str) -> Result<u32, String> {
    let lower = item.to_ascii_lowercase();
    if let Some(i) = DAYS.iter().position(|d| *d == lower) {
        return Ok(i as u32);
    }
    match item.parse::<u32>() {
        Ok(n @ 0..=7) => Ok(n % 7),
        _ => Err(format!("day of week `{item}` is not 0-7 or SUN-SAT")),
    }
}

/// The standard day-of-week field as the `cron` crate's list (1-7 from Sunday).
fn day_of_week_field(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok("*".into());
    }
    let mut days = [false; 7];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                (r, s.parse::<usize>().ok().filter(|s| *s > 0).ok_or(format!("bad step in `{part}`"))?)
            }
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => {
                    // `5-7` and `FRI-SUN` end on Sunday: the end closes the week, not wraps to 0.
                    let (a, b) = (day(a)?, if b == "7" { 7 } else { day(b)? });
                    let b = if b == 0 && a > 0 { 7 } else { b };
                    if a > b {
                        return Err(format!("day-of-week range `{r}` goes backwards"));
                    }
                    (a, b)
                }
                None if step > 1 => (day(r)?, 6),
                None => (day(r)?, day(r)?),
            },
        };
        for d in (from..=to).step_by(step) {
            days[(d % 7) as usize] = true;
        }
    }
    if days.iter().all(|d| *d) {
        return Ok("*".into());
    }
    Ok(days
        .iter()
        .enumerate()
        .filter(|(_, on)| **on)
        .map(|(i, _)| (i + 1).to_string())
        .collect::<Vec<_>>()
        .join(","))
}

/// The `cron` crate's expression for a standard one.
fn convert(expression: &str) -> Result<String, String> {
    let expression = expression.trim();
    if expression.starts_with('@') {
        return Ok(expression.to_string());
    }
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields[..] else {
        return Err(format!(
            "`{expression}` has {} fields; write 5 (minute hour day-of-month month day-of-week), e.g. `0 2 * * *`",
            fields.len()
        ));
    };
    let restricted = |f: &str| f != "*" && f != "?";
    if restricted(dom) && restricted(dow) {
        return Err(format!(
            "`{expression}` restricts both day-of-month ({dom}) and day-of-week ({dow}); restrict one of them"
        ));
    }
    Ok(format!("0 {minute} {hour} {dom} {month} {}", day_of_week_field(dow)?))
}

impl CronSchedule {
    /// Parses a schedule; every problem is returned, each naming its field.
    pub fn parse(spec: &Schedule) -> Result<Self, Vec<FieldError>> {
        let mut problems = Vec::new();
        let timezone = spec
            .timezone
            .parse::<Tz>()
            .map_err(|_| {
                problems.push(FieldError::new(
                    TIMEZONE,
                    format!(
                        "`{}` is not an IANA time zone; use a name like UTC or Europe/Berlin",
                        spec.timezone
                    ),
                ))
            })
            .ok();
        let schedule = convert(&spec.cron)
            .and_then(|c| {
                c.parse::<cron::Schedule>()
                    .map_err(|e| format!("`{}` is not a valid schedule: {e}", spec.cron))
            })
            .map_err(|message| problems.push(FieldError::new(CRON, message)))
            .ok();
        match (schedule, timezone) {
            (Some(schedule), Some(timezone)) if problems.is_empty() => Ok(Self { schedule, timezone }),
            _ => Err(problems),
        }
    }

    /// The first run strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&t.with_timezone(&self.timezone)).next().map(|n| n.with_timezone(&Utc))
    }

    /// The latest run at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.timezone);
        if self.schedule.includes(local) {
            return Some(t);
        }
        self.schedule.after(&local).next_back().map(|p| p.with_timezone(&Utc))
    }

    /// The longest gap between consecutive runs from the next run over the coming week, and over
    /// at least the next two gaps: what "the time between two runs" means to the alerts ("no
    /// successful backup within two intervals", `strimzi_backup_schedule_interval_seconds`) and to
    /// the retention warning. The longest, not the next: `0 2 * * 1-5` runs nightly but not at the
    /// weekend, so Friday's backup is 72 h old when Monday's runs, whatever the day it is asked on.
    /// Monthly and yearly schedules have no two runs in a week: their next two gaps count. None
    /// when the schedule has fewer than two more runs.
    pub fn longest_gap(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        let first = self.next_after(now)?;
        let (mut previous, mut longest, mut gaps) = (first, None::<chrono::Duration>, 0u32);
        while gaps < GAP_WALK_LIMIT && (gaps < 2 || previous - first < GAP_HORIZON) {
            let Some(next) = self.next_after(previous) else { break };
            longest = longest.max(Some(next - previous));
            (previous, gaps) = (next, gaps + 1);
        }
        longest
    }
}

/// How far ahead [`CronSchedule::longest_gap`] looks: a week holds every gap of a schedule that
/// repeats weekly.
const GAP_HORIZON: chrono::Duration = chrono::Duration::days(7);
/// At most this many gaps are looked at: a week of a schedule that runs every minute.
const GAP_WALK_LIMIT: u32 = 7 * 24 * 60;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn schedule(cron: &str, timezone: &str) -> Result<CronSchedule, Vec<FieldError>> {
        CronSchedule::parse(&Schedule { cron: cron.into(), timezone: timezone.into(), ..Default::default() })
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().expect("valid time")
    }

    #[test]
    fn standard_day_numbers_mean_what_they_mean_everywhere() {
        // 2026-11-21 is a Saturday.
        let weekdays = schedule("30 2 * * 1-5", "UTC").expect("parses");
        assert_eq!(weekdays.next_after(utc(2026, 11, 21, 0, 0)), Some(utc(2026, 11, 23, 2, 30)), "Monday");
        let sunday = schedule("0 0 * * 0", "UTC").expect("parses");
        assert_eq!(sunday.next_after(utc(2026, 11, 21, 0, 0)), Some(utc(2026, 11, 22, 0, 0)));
        let weekend = schedule("0 0 * * 6-7", "UTC").expect("parses");
        assert_eq!(weekend.next_after(utc(2026, 11, 21, 0, 0)), Some(utc(2026, 11, 22, 0, 0)));
        assert_eq!(day_of_week_field("MON-FRI").as_deref(), Ok("2,3,4,5,6"));
        assert_eq!(day_of_week_field("*/2").as_deref(), Ok("1,3,5,7"));
        assert_eq!(day_of_week_field("0-7").as_deref(), Ok("*"));
    }

    #[test]
    fn time_zones_are_honoured() {
        let berlin = schedule("0 2 * * *", "Europe/Berlin").expect("parses");
        // 02:00 in Berlin in winter is 01:00 UTC.
        assert_eq!(berlin.next_after(utc(2026, 11, 21, 12, 0)), Some(utc(2026, 11, 22, 1, 0)));
        let every_minute = schedule("* * * * *", "UTC").expect("parses");
        assert_eq!(
            every_minute.latest_at_or_before(utc(2026, 11, 21, 12, 0)),
            Some(utc(2026, 11, 21, 12, 0))
        );
        let daily = schedule("@daily", "UTC").expect("parses");
        assert_eq!(daily.latest_at_or_before(utc(2026, 11, 21, 12, 0)), Some(utc(2026, 11, 21, 0, 0)));
    }

    #[test]
    fn problems_name_the_field_and_come_together() {
        let errors = schedule("0 2 * *", "Mars/Olympus").expect_err("two problems");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].path, "spec.schedule.timezone");
        assert_eq!(errors[1].path, "spec.schedule.cron");
        assert!(errors[1].message.contains("has 4 fields"));
        let both = schedule("0 2 1 * MON", "UTC").expect_err("ambiguous");
        assert!(both[0].message.contains("restrict one of them"));
        let bad = schedule("61 * * * *", "UTC").expect_err("minute");
        assert!(bad[0].message.contains("not a valid schedule"), "{bad:?}");
    }

    fn cron(expression: &str, timezone: &str) -> CronSchedule {
        schedule(expression, timezone).expect("parses")
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).single().expect("time")
    }

    #[test]
    fn the_gap_between_runs_is_the_longest_of_the_coming_week() {
        // Saturday 2026-11-21.
        assert_eq!(cron("0 * * * *", "UTC").longest_gap(at(10, 20)), Some(chrono::Duration::hours(1)));
        assert_eq!(cron("*/15 * * * *", "UTC").longest_gap(at(10, 20)), Some(chrono::Duration::minutes(15)));
        assert_eq!(cron("0 2 * * *", "UTC").longest_gap(at(10, 20)), Some(chrono::Duration::days(1)));
        // Weeknights: the weekend's gap, Friday 02:00 to Monday 02:00, whatever the day now.
        let weeknights = cron("0 2 * * 1-5", "UTC");
        for day in 0..7 {
            assert_eq!(
                weeknights.longest_gap(at(10, 20) + chrono::Duration::days(day)),
                Some(chrono::Duration::days(3))
            );
        }
        assert_eq!(cron("@weekly", "UTC").longest_gap(at(10, 20)), Some(chrono::Duration::weeks(1)));
        // Monthly: the next two gaps, December 1 to January 1 to February 1.
        assert_eq!(cron("0 3 1 * *", "UTC").longest_gap(at(10, 20)), Some(chrono::Duration::days(31)));
        // Local time: the night the clocks go back (Berlin, 2026-10-25) lasts 25 hours.
        let berlin = cron("0 2 * * *", "Europe/Berlin");
        let before = Utc.with_ymd_and_hms(2026, 10, 21, 12, 0, 0).single().expect("time");
        assert_eq!(berlin.longest_gap(before), Some(chrono::Duration::hours(25)));
    }

    #[test]
    fn a_schedule_every_minute_has_one_minute_gaps() {
        // The walk is bounded by GAP_WALK_LIMIT occurrences (a week of minutes), not by time.
        assert_eq!(cron("* * * * *", "UTC").longest_gap(at(10, 20)), Some(chrono::Duration::minutes(1)));
    }
}
