//! A restore across several workers (`restore.workers`, issue 18 §3): which units each writes,
//! and how the workers wait for one another.
//!
//! Worker 0 plans and finishes: claiming, creating and emptying topics, recording where each
//! target partition starts and registering schemas have effects on the target that must happen
//! once, and the resume state already makes them safe to redo when worker 0 is retried. The
//! others wait for that state ([`await_plan`]), write their share and store their result; worker
//! 0 writes its own share, waits for every result ([`await_results`]) and only then adjusts
//! retention, commits the consumer-group offsets (once, from every worker's outcomes) and
//! records the result.
//!
//! Each target partition is written by one worker index only, through its own transactional id
//! ([`super::writer::transactional_id`]): the resume proof of one restore (read back from the
//! recorded start, the restore's own records in order) holds per worker, and a retried worker
//! fences only its own earlier attempt.

use std::future::Future;
use std::time::Duration;

use super::repartition::Work;
use super::state::ResumeState;
use super::worker_result::{self, WorkerResult};
pub use crate::backup::Slot;
use crate::storage::Storage;

/// How long a worker other than 0 waits for worker 0's plan. In a Job a refused plan fails the
/// whole Job (and stops the waiting workers) long before.
pub const PLAN_WAIT: Duration = Duration::from_secs(30 * 60);

/// How long worker 0 waits for the others' results: as long as a Job may run by default.
pub const RESULTS_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The weight and the tie-break key of a unit of work: the bytes its segments hold, and its
/// source topic and partition (-1 for a whole repartitioned topic, which is one unit).
pub fn unit(job: &Work) -> (u64, (String, i32)) {
    let bytes = |s: &super::source::PartitionSource| s.segments.iter().map(|seg| seg.raw_bytes).sum::<u64>();
    match job {
        Work::Partition(p) => (bytes(&p.source), (p.source.topic.name.clone(), p.source.partition)),
        Work::Topic(t) => (
            t.sources.iter().map(bytes).sum(),
            (t.sources.first().map(|s| s.topic.name.clone()).unwrap_or_default(), -1),
        ),
    }
}

/// Which of `units` (indexes) worker `slot` writes: balanced by bytes, the same in every worker
/// whatever the order the units were listed in ([`crate::backup::workers::balance`]).
pub fn share<K: Ord>(units: &[(u64, K)], slot: Slot) -> Vec<usize> {
    crate::backup::workers::balance(units, slot.workers)
        .into_iter()
        .nth(slot.index as usize)
        .unwrap_or_default()
}

/// Backoff of the waits: from `first`, doubling up to `max`, for at most `limit` in all.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub limit: Duration,
}

impl Backoff {
    /// 1 s doubling to 5 s.
    pub const fn waiting(limit: Duration) -> Self {
        Self { first: Duration::from_secs(1), max: Duration::from_secs(5), limit }
    }
}

/// Asks `probe` until it has an answer; `None` once `backoff.limit` has passed without one.
pub async fn poll<T, F, Fut>(backoff: Backoff, mut probe: F) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + backoff.limit;
    let mut pause = backoff.first;
    loop {
        if let Some(found) = probe().await? {
            return Ok(Some(found));
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Ok(None);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(backoff.max);
    }
}

/// The state once worker 0 recorded where every target partition starts (or finished).
pub async fn await_plan(
    storage: &Storage,
    restore_id: &str,
    slot: Slot,
    backoff: Backoff,
) -> anyhow::Result<ResumeState> {
    let planned = poll(backoff, || async {
        let state = ResumeState::load(storage, restore_id).await?;
        Ok(state.filter(|s| !s.starts.is_empty() || s.result.is_some()))
    })
    .await?;
    planned.ok_or_else(|| {
        anyhow::anyhow!(
            "worker {} of restore {restore_id}: worker 0 did not plan the restore within {} min (no restore \
             state recording the target partitions' starts); see worker 0's log",
            slot.index,
            backoff.limit.as_secs() / 60
        )
    })
}

/// Every other worker's result, once all are stored.
pub async fn await_results(
    storage: &Storage,
    restore_id: &str,
    slot: Slot,
    backoff: Backoff,
) -> anyhow::Result<Vec<WorkerResult>> {
    // Results already read are kept between rounds; only the missing ones are asked again.
    let found = std::cell::RefCell::new(vec![None::<WorkerResult>; slot.workers as usize]);
    let all = poll(backoff, || async {
        let mut round = found.take();
        for (index, result) in round.iter_mut().enumerate() {
            let index = index as u32;
            if index != slot.index && result.is_none() {
                *result = worker_result::read(storage, restore_id, index).await?;
            }
        }
        let missing =
            round.iter().enumerate().filter(|(i, r)| *i as u32 != slot.index && r.is_none()).count();
        let all = (missing == 0).then(|| round.iter().flatten().cloned().collect::<Vec<_>>());
        if missing > 0 {
            tracing::debug!(restore = %restore_id, missing, "waiting for the other workers' results");
        }
        found.replace(round);
        Ok(all)
    })
    .await?;
    all.ok_or_else(|| {
        anyhow::anyhow!(
            "restore {restore_id}: not every worker stored its result within {} h",
            backoff.limit.as_secs() / 3600
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(units: &[(u64, (String, i32))], slot: Slot) -> Vec<(String, i32)> {
        let mut names: Vec<_> = share(units, slot).into_iter().map(|i| units[i].1.clone()).collect();
        names.sort();
        names
    }

    #[test]
    fn every_unit_goes_to_one_worker_the_same_in_any_listing_order() {
        let mut units: Vec<(u64, (String, i32))> =
            (0..24).map(|p| (u64::from(p as u32 % 5 + 1) * 1000, (format!("t{}", p % 3), p / 3))).collect();
        // A repartitioned topic: one unit, heavier than any partition.
        units.push((9000, ("r".into(), -1)));
        let workers = 4;
        let all: Vec<Vec<(String, i32)>> =
            (0..workers).map(|index| ids(&units, Slot { index, workers })).collect();
        let mut flat: Vec<_> = all.concat();
        flat.sort();
        let mut expected: Vec<_> = units.iter().map(|u| u.1.clone()).collect();
        expected.sort();
        assert_eq!(flat, expected, "each unit exactly once");
        let mut reversed = units.clone();
        reversed.reverse();
        for index in 0..workers {
            assert_eq!(ids(&reversed, Slot { index, workers }), all[index as usize], "worker {index}");
        }
        // Balanced by bytes: within the largest unit of even.
        let loads: Vec<u64> = (0..workers)
            .map(|index| share(&units, Slot { index, workers }).iter().map(|i| units[*i].0).sum())
            .collect();
        let spread = loads.iter().max().copied().unwrap_or(0) - loads.iter().min().copied().unwrap_or(0);
        assert!(spread <= 9000, "{loads:?}");
    }

    #[tokio::test]
    async fn a_wait_ends_with_the_answer_or_after_its_limit() {
        let quick = Backoff {
            first: Duration::from_millis(5),
            max: Duration::from_millis(20),
            limit: Duration::from_millis(300),
        };
        let mut asked = 0;
        let found = poll(quick, || {
            asked += 1;
            let n = asked;
            async move { Ok((n >= 3).then_some(n)) }
        })
        .await
        .expect("no error");
        assert_eq!(found, Some(3));
        let started = std::time::Instant::now();
        let never: Option<()> = poll(quick, || async { Ok(None) }).await.expect("no error");
        assert_eq!(never, None);
        assert!(started.elapsed() <= Duration::from_secs(2), "bounded: {:?}", started.elapsed());
        // An error ends the wait at once.
        assert!(poll::<(), _, _>(quick, || async { anyhow::bail!("storage down") }).await.is_err());
    }

    #[tokio::test]
    async fn workers_wait_for_worker_0s_starts_and_name_it_when_it_never_comes() {
        let storage = Storage::in_memory("");
        let quick = Backoff {
            first: Duration::from_millis(5),
            max: Duration::from_millis(10),
            limit: Duration::from_millis(100),
        };
        let slot = Slot { index: 2, workers: 4 };
        let mut state = ResumeState { restore_id: "r".into(), backup_id: "b".into(), ..Default::default() };
        // Claimed but not started: not yet.
        state.save(&storage).await.expect("saved");
        let err = await_plan(&storage, "r", slot, quick).await.expect_err("no starts");
        assert!(err.to_string().contains("worker 0"), "{err}");
        state.starts.insert("t".into(), [(0, 5)].into());
        state.save(&storage).await.expect("saved");
        assert_eq!(await_plan(&storage, "r", slot, quick).await.expect("planned").backup_id, "b");
    }
}
