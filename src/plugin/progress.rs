//! What `watch` shows of a running restore, computed from the samples of `status.progress` it
//! has seen (pure; the clock is passed in): a bar, records, records/s and MB/s since the first
//! sample, and the ETA — the operator's `estimatedCompletion` when it gives one, else the
//! remaining records at the observed rate.
//!
//! Drawn by hand rather than with a progress-bar crate: one line, redrawn with `\r` on a
//! terminal and printed once per change otherwise, is all it needs.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::output::human_duration;

/// One reading of `status.progress`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub percent: i64,
    pub records: i64,
    /// `bytesRestored`, when the operator reports it.
    pub bytes: Option<i64>,
    /// `estimatedCompletion`, when the operator gives one.
    pub eta: Option<DateTime<Utc>>,
}

impl Sample {
    /// Reads `status.progress` (absent before the restore runs).
    pub fn read(status: &Value, at: DateTime<Utc>) -> Option<Self> {
        let p = status.get("progress").filter(|p| p.is_object())?;
        Some(Self {
            at,
            percent: p["percent"].as_i64().unwrap_or(0).clamp(0, 100),
            records: p["recordsRestored"].as_i64().unwrap_or(0),
            bytes: p["bytesRestored"].as_i64(),
            eta: p["estimatedCompletion"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
        })
    }
}

/// The line for `latest`, with rates measured from `first` (the first sample of this watch).
pub fn line(first: &Sample, latest: &Sample) -> String {
    const WIDTH: i64 = 20;
    let filled = (latest.percent * WIDTH / 100) as usize;
    let bar = format!("[{}{}]", "#".repeat(filled), "-".repeat(WIDTH as usize - filled));
    let seconds = (latest.at - first.at).num_milliseconds() as f64 / 1000.0;
    let mut out = format!("{bar} {:>3}%  {} records", latest.percent, latest.records);
    let rate = (seconds > 0.0).then(|| (latest.records - first.records) as f64 / seconds);
    if let Some(rate) = rate {
        out.push_str(&format!("  {rate:.0} records/s"));
        if let (Some(a), Some(b)) = (first.bytes, latest.bytes) {
            out.push_str(&format!("  {:.1} MB/s", (b - a) as f64 / 1e6 / seconds));
        }
    }
    let eta = match (latest.eta, rate) {
        (Some(at), _) => Some((at - latest.at).num_seconds().max(0)),
        (None, Some(rate)) if rate > 0.0 && latest.percent > 0 => {
            let total = latest.records as f64 * 100.0 / latest.percent as f64;
            Some(((total - latest.records as f64).max(0.0) / rate).round() as i64)
        }
        _ => None,
    };
    out.push_str(&format!("  ETA {}", eta.map(human_duration).unwrap_or_else(|| "-".into())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("in range")
    }

    #[test]
    fn rates_and_eta_from_the_samples_seen() {
        let first = Sample::read(
            &json!({"progress": {"percent": 10, "recordsRestored": 1000, "bytesRestored": 1_000_000}}),
            at(0),
        )
        .expect("progress");
        let latest = Sample::read(
            &json!({"progress": {"percent": 30, "recordsRestored": 3000, "bytesRestored": 5_000_000}}),
            at(10),
        )
        .expect("progress");
        // 2000 records and 4 MB in 10 s; 7000 records left at 200/s is 35 s.
        assert_eq!(
            line(&first, &latest),
            "[######--------------]  30%  3000 records  200 records/s  0.4 MB/s  ETA 35s"
        );
    }

    #[test]
    fn the_operators_estimate_wins_and_bytes_are_optional() {
        let status = json!({"progress": {"percent": 50, "recordsRestored": 10, "estimatedCompletion": "2027-01-15T08:02:00Z"}});
        let s = Sample::read(
            &status,
            DateTime::parse_from_rfc3339("2027-01-15T08:00:00Z").expect("t").with_timezone(&Utc),
        )
        .expect("progress");
        assert_eq!(line(&s, &s), "[##########----------]  50%  10 records  ETA 2m0s");
        assert_eq!(Sample::read(&json!({"phase": "Pending"}), at(0)), None);
    }
}
