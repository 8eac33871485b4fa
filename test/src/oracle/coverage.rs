//! A backup's coverage of a partition checked against what the broker itself reports: its
//! watermarks and the records it returns. Computed here, not by the product's
//! `coverage_problems()`.

use anyhow::ensure;

use super::Record;
use super::manifest::{Partition, accounting_problems};

/// Checks a partition of a backup taken of a quiet topic (nothing produced or deleted while it
/// ran): its range is the broker's `[low, high)`, its segments and gaps account for it, every record
/// the broker returns is in a segment at its offset, and the segments hold nothing else.
pub fn check_quiet_partition(
    what: &str,
    p: &Partition,
    decoded: &[Record],
    watermarks: (i64, i64),
    broker_offsets: &[i64],
) -> anyhow::Result<()> {
    let (low, high) = watermarks;
    ensure!(
        (p.start_offset, p.end_offset) == (low, high),
        "{what}: manifest range [{}, {}) but the broker's watermarks are [{low}, {high})",
        p.start_offset,
        p.end_offset
    );
    let problems = accounting_problems(p);
    ensure!(problems.is_empty(), "{what}: {problems:?}");
    let got: Vec<i64> = decoded.iter().map(|r| r.offset).collect();
    ensure!(
        got == broker_offsets,
        "{what}: segments hold offsets {} but the broker returns {}",
        summary(&got),
        summary(broker_offsets)
    );
    for r in decoded {
        ensure!(
            p.segments.iter().any(|s| (s.first_offset..=s.last_offset).contains(&r.offset)),
            "{what}: record {} lies in no listed segment",
            r.offset
        );
    }
    Ok(())
}

fn summary(offsets: &[i64]) -> String {
    match (offsets.first(), offsets.last()) {
        (Some(f), Some(l)) => format!("{} offsets {f}..={l}", offsets.len()),
        _ => "no offsets".into(),
    }
}
