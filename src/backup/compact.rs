//! Which of a partition's inherited segments a backup merges (pure; the I/O is [`super::merge`]).
//!
//! A self-contained manifest (format version 2 and later) lists every segment of a partition's
//! lineage, and every incremental adds one segment per partition that received records. A
//! continuous backup runs an incremental every few seconds, so without merging its manifests
//! grow without bound (about 0.45 KB per busy partition per iteration), and with them the cost of
//! every iteration, which writes the newest manifest and reads it back as the next one's parent.
//!
//! The policy is size-tiered, as in an LSM tree, so that it bounds both what a manifest lists and
//! what merging rewrites:
//!
//! - A segment's **tier** says how many factors of [`FAN_IN`] (K) it is below `segmentSize`
//!   (S): tier t holds segments of `S/K^(t+1)` to `S/K^t` raw bytes. Segments of `S/K` or more
//!   (tier 0) are large enough and never merged.
//! - A **stretch** at level t is a run of consecutive segments of tier t or smaller (never across
//!   a lineage's start, nor a gap other than offsets the broker did not return: those are not
//!   records, and a segment accounts for them itself as `offsetsSkipped`).
//! - A stretch holding K segments of tier t is merged (from its start, as far as this run's
//!   budget goes): its output holds at least `S/K^t` bytes, so it is of a larger tier than any
//!   of its inputs. Each record is therefore rewritten at most once per tier: about
//!   `log_K(S / smallest segment)` times (4 at S = 256 MiB for 10 KB segments).
//! - With no stretch left to merge, each stretch holds fewer than K segments of its own tier: a
//!   lineage of steady traffic lists at most K−1 segments per tier plus its large ones. Sizes
//!   that alternate between tiers could keep more; a stretch of K² small segments is therefore
//!   merged whatever their tiers, so no partition lists more than about K² small segments per
//!   run of large ones.
//! - Outputs are split evenly at most S each: `ceil(sum / S)` segments of `sum / n` bytes, so a
//!   merge leaves no small remainder behind.
//! - A **budget** of raw bytes per partition and run (S) bounds the time merging adds to a run,
//!   so a continuous backup's recovery point objective stays near its `commitInterval`; what is
//!   not merged now is merged by a later run. A merge larger than the whole budget still runs,
//!   alone, so every merge is done eventually.
//!
//! Smaller tiers are merged first: they are the cheapest and shorten the list most.

use std::ops::Range;

/// K: how many segments of one tier make a merge, and the factor between tiers.
pub const FAN_IN: usize = 8;

/// One inherited segment as the policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Encoded record bytes (what `segmentSize` measures).
    pub raw_bytes: u64,
    /// Whether it may be merged with the segment before it: false for the first, and after a
    /// gap whose reason is not `NotReturned` (retention, a deleted topic, an erasure).
    pub joins_previous: bool,
}

/// The policy's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// K ([`FAN_IN`]).
    pub fan_in: usize,
    /// S: the backup's `segmentSize`.
    pub segment_bytes: u64,
    /// Raw bytes one partition may merge in one run.
    pub budget_bytes: u64,
}

impl Policy {
    /// The policy of a backup writing segments of `segment_bytes`.
    pub fn new(segment_bytes: u64) -> Self {
        Self { fan_in: FAN_IN, segment_bytes: segment_bytes.max(1), budget_bytes: segment_bytes.max(1) }
    }

    /// The tier of a segment of `raw` bytes: `None` for a large one (`S/K` or more), never
    /// merged; else t ≥ 1 with `S/K^(t+1) <= raw < S/K^t`.
    pub fn tier(&self, raw: u64) -> Option<u32> {
        let k = self.fan_in.max(2) as u64;
        if raw.saturating_mul(k) >= self.segment_bytes {
            return None;
        }
        let (mut upper, mut t) = (self.segment_bytes, 0u32);
        while upper / k > 0 && raw < upper / k {
            upper /= k;
            t += 1;
        }
        Some(t.max(1))
    }
}

/// One merge: the consecutive candidates `range`, rewritten into `outputs` segments of about
/// `target_bytes` raw bytes each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merge {
    pub range: Range<usize>,
    pub outputs: usize,
    pub target_bytes: u64,
}

/// The merges of one run over a partition's inherited segments (oldest first); disjoint, in
/// no particular order.
pub fn plan(items: &[Candidate], policy: &Policy) -> Vec<Merge> {
    let k = policy.fan_in.max(2);
    let tiers: Vec<Option<u32>> = items.iter().map(|c| policy.tier(c.raw_bytes)).collect();
    let Some(max_tier) = tiers.iter().flatten().max().copied() else { return Vec::new() };
    let mut taken = vec![false; items.len()];
    let mut merges = Vec::new();
    let mut spent = 0u64;
    for level in (1..=max_tier).rev() {
        let in_level = |i: usize, taken: &[bool]| !taken[i] && tiers[i].is_some_and(|t| t >= level);
        let mut i = 0;
        while i < items.len() {
            if !in_level(i, &taken) {
                i += 1;
                continue;
            }
            let mut end = i + 1;
            while end < items.len() && in_level(end, &taken) && items[end].joins_previous {
                end += 1;
            }
            let mut from = i;
            while let Some(range) = group(items, &tiers, from..end, level, k, policy.budget_bytes, spent) {
                let sum: u64 = items[range.clone()].iter().map(|c| c.raw_bytes).sum();
                spent += sum;
                let outputs = sum.div_ceil(policy.segment_bytes).max(1);
                taken[range.clone()].iter_mut().for_each(|t| *t = true);
                from = range.end;
                merges.push(Merge {
                    range,
                    outputs: usize::try_from(outputs).unwrap_or(usize::MAX),
                    target_bytes: sum.div_ceil(outputs),
                });
            }
            i = end;
        }
    }
    merges
}

/// The group a merge at `level` takes from the start of `stretch`: the shortest prefix with K
/// segments of that tier (or K² segments at level 1, whatever their tiers), extended as far as
/// the budget goes; `None` when there is none, or it does not fit what is left of the budget
/// (unless it is the run's first merge).
fn group(
    items: &[Candidate],
    tiers: &[Option<u32>],
    stretch: Range<usize>,
    level: u32,
    k: usize,
    budget: u64,
    spent: u64,
) -> Option<Range<usize>> {
    let mut of_level = 0;
    let mut end = None;
    for i in stretch.clone() {
        of_level += usize::from(tiers[i] == Some(level));
        if of_level >= k || (level == 1 && i + 1 - stretch.start >= k * k) {
            end = Some(i + 1);
            break;
        }
    }
    let mut end = end?;
    let mut sum: u64 = items[stretch.start..end].iter().map(|c| c.raw_bytes).sum();
    if spent > 0 && spent + sum > budget {
        return None;
    }
    while end < stretch.end && spent + sum + items[end].raw_bytes <= budget {
        sum += items[end].raw_bytes;
        end += 1;
    }
    Some(stretch.start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 256 << 20;

    fn small(raw: u64) -> Candidate {
        Candidate { raw_bytes: raw, joins_previous: true }
    }

    fn policy() -> Policy {
        Policy::new(S)
    }

    #[test]
    fn tiers_are_factors_of_k_below_the_segment_size() {
        let p = policy();
        assert_eq!(p.tier(S), None);
        assert_eq!(p.tier(S / 8), None, "S/K and more is large enough");
        assert_eq!(p.tier(S / 8 - 1), Some(1));
        assert_eq!(p.tier(S / 64), Some(1));
        assert_eq!(p.tier(S / 64 - 1), Some(2));
        assert_eq!(p.tier(10_000), Some(4), "10 KB at 256 MiB");
        assert_eq!(p.tier(0), Some(9));
    }

    #[test]
    fn k_segments_of_one_tier_merge_and_fewer_do_not() {
        let p = policy();
        assert!(plan(&[small(10_000); 7], &p).is_empty());
        let merges = plan(&[small(10_000); 8], &p);
        assert_eq!(merges, [Merge { range: 0..8, outputs: 1, target_bytes: 80_000 }]);
        // The whole stretch goes while the budget lasts.
        assert_eq!(plan(&[small(10_000); 30], &p)[0].range, 0..30);
    }

    #[test]
    fn large_segments_breaks_and_gaps_split_stretches() {
        let p = policy();
        let mut items = vec![small(10_000); 8];
        items[4].joins_previous = false;
        assert!(plan(&items, &p).is_empty(), "a retention gap between the 4th and 5th");
        let mut items = vec![small(10_000); 8];
        items.insert(3, small(S / 4));
        assert!(plan(&items, &p).is_empty(), "a large segment between them");
        assert!(plan(&vec![small(S / 4); 20], &p).is_empty(), "large ones are never rewritten");
    }

    #[test]
    fn smaller_segments_between_ones_of_a_tier_go_with_them() {
        // Tier-2 segments with tiny ones (tier 4) between: one merge at level 2 takes them all.
        let p = policy();
        let mut items = Vec::new();
        for _ in 0..8 {
            items.push(small(S / 100));
            items.extend([small(10_000); 3]);
        }
        let merges = plan(&items, &p);
        assert_eq!(merges.len(), 1, "{merges:?}");
        assert_eq!(merges[0].range.start, 0);
        assert!(merges[0].range.end >= 29);
    }

    #[test]
    fn the_budget_bounds_a_run_but_never_stops_the_first_merge() {
        let p = Policy { budget_bytes: 100_000, ..policy() };
        // Two stretches of 8 × 10 KB split by a break: only the first fits the budget.
        let mut items = vec![small(10_000); 16];
        items[8].joins_previous = false;
        let merges = plan(&items, &p);
        assert_eq!(merges.len(), 1);
        assert_eq!(merges[0].range, 0..8);
        // A merge larger than the budget still runs when it is the first.
        let p = Policy { budget_bytes: 1, ..policy() };
        assert_eq!(plan(&[small(10_000); 8], &p).len(), 1);
    }

    #[test]
    fn outputs_are_split_evenly_at_most_the_segment_size() {
        let p = Policy { segment_bytes: 1000, budget_bytes: 10_000, fan_in: 2 };
        // Tier 1 at K=2 is [250, 500): two of 400 → one output of 800.
        assert_eq!(plan(&[small(400), small(400)], &p)[0].outputs, 1);
        // Five of 400 = 2000 → two of 1000.
        let m = &plan(&[small(400); 5], &p)[0];
        assert_eq!((m.outputs, m.target_bytes), (2, 1000));
    }

    /// What a lineage goes through: one small segment per run, merged as the policy says, for
    /// thousands of runs. Its list stays short, and no byte is rewritten more than once per tier.
    fn simulate(sizes: impl Iterator<Item = u64>, p: &Policy) -> (usize, f64, usize) {
        // (raw bytes, times its bytes were rewritten)
        let mut lineage: Vec<(u64, u32)> = Vec::new();
        let (mut longest, mut written, mut appended) = (0, 0u64, 0u64);
        for size in sizes {
            let items: Vec<Candidate> = lineage
                .iter()
                .enumerate()
                .map(|(i, s)| Candidate { raw_bytes: s.0, joins_previous: i > 0 })
                .collect();
            let mut merges = plan(&items, p);
            merges.sort_by_key(|m| std::cmp::Reverse(m.range.start));
            for m in merges {
                let sum: u64 = lineage[m.range.clone()].iter().map(|s| s.0).sum();
                let rewrites = lineage[m.range.clone()].iter().map(|s| s.1).max().unwrap_or(0) + 1;
                written += sum;
                let outs = (0..m.outputs).map(|_| (sum / m.outputs as u64, rewrites));
                lineage.splice(m.range, outs);
            }
            longest = longest.max(lineage.len());
            lineage.push((size, 0));
            appended += size;
        }
        let most = lineage.iter().map(|s| s.1 as usize).max().unwrap_or(0);
        (longest, written as f64 / appended as f64, most)
    }

    #[test]
    fn a_steady_lineage_lists_few_segments_and_rewrites_each_byte_a_few_times() {
        let p = policy();
        // 10 KB a run for 100,000 runs (a 10 s interval for 11 days): 1 GB.
        let (longest, amplification, most) = simulate(std::iter::repeat_n(10_000, 100_000), &p);
        eprintln!("steady: longest {longest}, amplification {amplification:.2}, most rewrites {most}");
        let tiers = 4;
        assert!(longest <= (FAN_IN - 1) * tiers + 1 + 1_000_000_000 / (S / 8) as usize, "{longest}");
        assert!(amplification <= tiers as f64, "{amplification}");
        assert!(most <= tiers, "a byte rewritten {most} times");
    }

    #[test]
    fn an_irregular_lineage_stays_bounded_too() {
        let p = policy();
        // Sizes that alternate between tiers (bursts and quiet runs), a deterministic mix.
        let sizes = (0u64..50_000).map(|i| match (i * 7919) % 11 {
            0 => 3_000_000,
            1 | 2 => 400_000,
            3..=5 => 40_000,
            _ => 900,
        });
        let (longest, amplification, most) = simulate(sizes, &p);
        eprintln!("irregular: longest {longest}, amplification {amplification:.2}, most rewrites {most}");
        let large = 50_000 * 500_000 / (S / 8) as usize;
        assert!(longest <= FAN_IN * FAN_IN + large + FAN_IN * 6, "{longest}");
        assert!(amplification <= 6.0, "{amplification}");
    }
}
