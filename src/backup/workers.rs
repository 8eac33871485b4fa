//! Which partitions each worker of a backup reads, when one backup runs in several pods
//! (`backup.workers`, issue 18 §3).
//!
//! Every worker computes the assignment itself from the one plan of the run, so it must come
//! out the same in each: it depends only on the plan, never on the order partitions were
//! listed in or on the worker asking. Partitions are spread by the bytes they are expected to
//! hold, not by topic name, so one busy topic does not land on one pod: the largest go first,
//! each to the worker with the fewest bytes so far (longest-processing-time first, within 4/3 of
//! the best possible spread).

use super::plan::PartitionPlan;
use crate::format::manifest::SegmentEntry;

/// Bytes per offset assumed for a partition of which nothing was backed up before, in a topic
/// of which nothing was either: only the offset counts then decide.
const UNKNOWN_BYTES_PER_OFFSET: u64 = 1;

/// What the backup expects to read of `plan`: its offsets to read times the bytes per offset
/// its lineage held so far (`fallback` when it holds nothing yet).
pub fn expected_bytes(plan: &PartitionPlan, fallback: u64) -> u64 {
    let offsets = u64::try_from(plan.end.saturating_sub(plan.start)).unwrap_or(0);
    offsets.saturating_mul(bytes_per_offset(plan).unwrap_or(fallback))
}

/// Raw bytes per offset over the segments the lineage already holds, if any.
fn bytes_per_offset(plan: &PartitionPlan) -> Option<u64> {
    rate(plan.lineage.segments.iter())
}

/// Each topic's bytes per offset over its partitions that have a lineage: the estimate for a
/// partition of the topic that has none (a partition added since the last backup).
fn topic_fallback(plans: &[PartitionPlan], topic: &str) -> u64 {
    rate(plans.iter().filter(|p| p.topic == topic).flat_map(|p| p.lineage.segments.iter()))
        .unwrap_or(UNKNOWN_BYTES_PER_OFFSET)
}

/// Raw bytes per offset spanned over `segments` (at least 1), `None` over none.
fn rate<'a>(segments: impl Iterator<Item = &'a SegmentEntry>) -> Option<u64> {
    let (bytes, offsets) = segments.fold((0u64, 0u64), |(b, o), s| {
        let span = u64::try_from(s.last_offset.saturating_sub(s.first_offset).saturating_add(1)).unwrap_or(0);
        (b.saturating_add(s.raw_bytes), o.saturating_add(span))
    });
    bytes.checked_div(offsets).map(|r| r.max(1))
}

/// The partitions (indexes into `plans`) worker `index` of `workers` reads. Workers past the
/// number of partitions get none.
pub fn share(plans: &[PartitionPlan], workers: u32, index: u32) -> Vec<usize> {
    assign(plans, workers).into_iter().nth(index as usize).unwrap_or_default()
}

/// Every worker's partitions, by worker index; each partition in exactly one.
pub fn assign(plans: &[PartitionPlan], workers: u32) -> Vec<Vec<usize>> {
    let weighed: Vec<(u64, (&str, i32))> = plans
        .iter()
        .map(|p| (expected_bytes(p, topic_fallback(plans, &p.topic)), (p.topic.as_str(), p.partition)))
        .collect();
    balance(&weighed, workers)
}

/// Spreads units of work over `workers` by their bytes: the largest first, each to the worker
/// with the fewest bytes so far (the lowest index among equals), equal sizes taken in the order
/// of their keys, so the order the units came in never counts. Returns each worker's units
/// (indexes into `units`, ascending); workers past the number of units get none. Shared by a
/// backup's partitions and a restore's units ([`crate::restore::workers`]).
pub fn balance<K: Ord>(units: &[(u64, K)], workers: u32) -> Vec<Vec<usize>> {
    let workers = workers.max(1) as usize;
    let mut weighted: Vec<(u64, usize)> =
        units.iter().enumerate().map(|(i, (bytes, _))| (*bytes, i)).collect();
    weighted.sort_by(|(a, i), (b, j)| b.cmp(a).then_with(|| units[*i].1.cmp(&units[*j].1)));
    let mut load = vec![0u64; workers];
    let mut shares = vec![Vec::new(); workers];
    for (bytes, i) in weighted {
        let w = (0..workers).min_by_key(|w| (load[*w], *w)).unwrap_or(0);
        load[w] = load[w].saturating_add(bytes);
        shares[w].push(i);
    }
    for s in &mut shares {
        s.sort_unstable();
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(topic: &str, partition: i32, offsets: i64, bytes_per_offset: Option<u64>) -> PartitionPlan {
        let mut p = PartitionPlan {
            topic: topic.into(),
            topic_id: format!("{topic}-id"),
            partition,
            log_start: 0,
            start: 100,
            end: 100 + offsets,
            lineage: Default::default(),
        };
        if let Some(b) = bytes_per_offset {
            p.lineage.segments.push(SegmentEntry {
                object: format!("backups/a/segments/{topic}/{partition}/0.kbseg"),
                first_offset: 0,
                last_offset: 99,
                records: 100,
                offsets_skipped: 0,
                min_timestamp: 0,
                max_timestamp: 0,
                raw_bytes: 100 * b,
                stored_bytes: 100 * b,
                sha256: String::new(),
                max_record_bytes: None,
            });
        }
        p
    }

    fn loads(plans: &[PartitionPlan], shares: &[Vec<usize>]) -> Vec<u64> {
        shares
            .iter()
            .map(|s| {
                s.iter().map(|i| expected_bytes(&plans[*i], topic_fallback(plans, &plans[*i].topic))).sum()
            })
            .collect()
    }

    #[test]
    fn every_partition_goes_to_exactly_one_worker() {
        let plans: Vec<_> =
            (0..24).map(|p| plan(&format!("t{}", p % 5), p, 10 + i64::from(p), Some(100))).collect();
        let shares = assign(&plans, 4);
        let mut all: Vec<usize> = shares.concat();
        all.sort_unstable();
        assert_eq!(all, (0..24).collect::<Vec<_>>());
        assert!(shares.iter().all(|s| !s.is_empty()));
    }

    #[test]
    fn one_busy_topic_is_spread_by_bytes_not_by_name() {
        // Topic "big" holds 10 KiB records, "small" 10 B: by name or count, "big" would sit on
        // one worker; by bytes its partitions spread over both.
        let mut plans: Vec<_> = (0..4).map(|p| plan("big", p, 1000, Some(10_240))).collect();
        plans.extend((0..4).map(|p| plan("small", p, 1000, Some(10))));
        let shares = assign(&plans, 2);
        let l = loads(&plans, &shares);
        assert_eq!(l[0], l[1], "{shares:?}");
        for s in &shares {
            assert_eq!(s.iter().filter(|i| plans[**i].topic == "big").count(), 2, "{shares:?}");
        }
    }

    #[test]
    fn the_spread_is_within_the_largest_partition_of_even() {
        let plans: Vec<_> = (0..37)
            .map(|p| plan("t", p, 100 + i64::from(p * p % 91), Some(u64::from(p as u32 % 7 + 1) * 50)))
            .collect();
        let shares = assign(&plans, 5);
        let l = loads(&plans, &shares);
        let largest = plans.iter().map(|p| expected_bytes(p, 1)).max().unwrap_or(0);
        let (min, max) = (l.iter().min().copied().unwrap_or(0), l.iter().max().copied().unwrap_or(0));
        assert!(max - min <= largest, "{l:?}, largest partition {largest}");
    }

    #[test]
    fn the_assignment_does_not_depend_on_the_order_of_the_plan() {
        let plans: Vec<_> = (0..12).map(|p| plan(&format!("t{}", p % 3), p / 3, 50, Some(8))).collect();
        let mut reversed = plans.clone();
        reversed.reverse();
        let by_name = |plans: &[PartitionPlan], shares: Vec<Vec<usize>>| -> Vec<Vec<(String, i32)>> {
            shares
                .into_iter()
                .map(|s| {
                    let mut names: Vec<_> =
                        s.iter().map(|i| (plans[*i].topic.clone(), plans[*i].partition)).collect();
                    names.sort();
                    names
                })
                .collect()
        };
        assert_eq!(by_name(&plans, assign(&plans, 3)), by_name(&reversed, assign(&reversed, 3)));
    }

    #[test]
    fn a_new_partition_is_weighed_like_the_rest_of_its_topic() {
        let plans = vec![plan("t", 0, 100, Some(1000)), plan("t", 1, 100, None)];
        assert_eq!(expected_bytes(&plans[1], topic_fallback(&plans, "t")), 100 * 1000);
        // Nothing known at all: offsets decide.
        assert_eq!(expected_bytes(&plan("u", 0, 7, None), topic_fallback(&[], "u")), 7);
    }

    #[test]
    fn more_workers_than_partitions_leaves_the_rest_idle() {
        let plans = vec![plan("t", 0, 10, None), plan("t", 1, 10, None)];
        assert_eq!(share(&plans, 4, 3), Vec::<usize>::new());
        assert_eq!(share(&plans, 4, 0).len() + share(&plans, 4, 1).len(), 2);
        assert_eq!(assign(&plans, 0).len(), 1, "zero workers is one");
    }
}
