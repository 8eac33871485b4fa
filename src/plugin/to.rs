//! `restore --to TIME`: the point in time to restore up to, written in one of three ways.
//! - an RFC 3339 time (`2026-12-03T01:30:00Z`, any offset): that instant;
//! - `now` or `-2h`, `-1h30m`, `-90s`: the clock of the machine running the plugin, minus that —
//!   resolved here to an absolute time, so the restore does not move with the clock;
//! - `end-2h`: two hours before the end of the backup (`pointInTime.offsetFromEnd`), resolved by
//!   the operator against the backup it restores.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use strimzi_backup_operator::api::duration::parse_millis;
use strimzi_backup_operator::api::restore::PointInTime;

/// `--to` as the `pointInTime` of a `KafkaRestore`.
pub fn parse(text: &str, now: DateTime<Utc>) -> Result<PointInTime, String> {
    let text = text.trim();
    let at = |t: DateTime<Utc>| PointInTime {
        timestamp: Some(t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        offset_from_end: None,
    };
    if text == "now" {
        return Ok(at(now));
    }
    if let Some(before_end) = text.strip_prefix("end-") {
        parse_millis(before_end)?;
        return Ok(PointInTime { timestamp: None, offset_from_end: Some(before_end.to_string()) });
    }
    if let Some(ago) = text.strip_prefix('-') {
        let ms = parse_millis(ago)?;
        return Ok(at(now - Duration::milliseconds(ms)));
    }
    DateTime::parse_from_rfc3339(text).map(|t| at(t.with_timezone(&Utc))).map_err(|e| {
        format!("--to {text:?}: {e}; write an RFC 3339 time (2026-12-03T01:30:00Z), `now`, `-2h` (before now) or `end-2h` (before the end of the backup)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z").expect("a time").with_timezone(&Utc)
    }

    fn ts(text: &str) -> Option<String> {
        parse(text, now()).expect("parses").timestamp
    }

    #[test]
    fn absolute_times_are_normalised_to_utc_milliseconds() {
        assert_eq!(ts("2026-12-03T01:30:00+01:00").as_deref(), Some("2026-12-03T00:30:00.000Z"));
        assert_eq!(ts("2026-12-03T01:30:00.123456Z").as_deref(), Some("2026-12-03T01:30:00.123Z"));
    }

    #[test]
    fn relative_times_count_back_from_now() {
        assert_eq!(ts("-2h").as_deref(), Some("2026-12-03T10:00:00.000Z"));
        assert_eq!(ts("-1h30m").as_deref(), Some("2026-12-03T10:30:00.000Z"));
        assert_eq!(ts("now").as_deref(), Some("2026-12-03T12:00:00.000Z"));
    }

    #[test]
    fn end_offsets_are_left_to_the_operator() {
        let p = parse("end-2h", now()).expect("parses");
        assert_eq!((p.timestamp, p.offset_from_end.as_deref()), (None, Some("2h")));
    }

    #[test]
    fn anything_else_is_refused_with_the_forms_accepted() {
        let e = parse("yesterday", now()).expect_err("refused");
        assert!(e.contains("RFC 3339") && e.contains("-2h"), "{e}");
        assert!(parse("-2 hours", now()).is_err());
        assert!(parse("end-", now()).is_err());
    }
}
