//! `status.progress` of a running restore, from the progress lines its pods print
//! (`{"progress": {...}}`, [`crate::restore::run::Progress`]) every few seconds.
//!
//! A restore across `restore.workers` pods prints one line per worker, each about its own
//! share: `recordsRestored`, `bytes` and `recordsExpected` are that worker's, and
//! `recordsExpectedInAll` is the whole restore's (the same in every worker's line). The status
//! is their sum over every worker's newest pod: restored records and bytes added up, the
//! expected records the whole restore's (the sum of the shares seen when no line carries it,
//! as a one-pod restore's line does not), and the percent and the estimated end from those
//! sums. A worker whose pod succeeded counts its whole share whatever its last line said
//! (lines come every 5 s); a worker with no line yet (its pod not started) counts nothing.
//! Pure.

use serde::Deserialize;

use crate::operator::children::last_json_line;
use crate::operator::children::workers::WorkerLog;
use crate::restore::run::{Progress, ProgressLine};

/// The last line of a worker that did not finish the restore: its share, as written.
#[derive(Deserialize)]
struct ShareLine {
    worker: crate::backup::worker_result::WorkerSummary,
}

/// The progress of the whole run from its pods' logs (one for a Job of one pod); `None`
/// before any pod printed a line.
pub fn summed(logs: &[WorkerLog]) -> Option<Progress> {
    let mut sum = Progress::default();
    let mut in_all: Option<u64> = None;
    let mut seen = false;
    for worker in logs {
        let line = last_json_line::<ProgressLine>(&worker.log).map(|l| l.progress);
        let share = match worker.finished {
            true => last_json_line::<ShareLine>(&worker.log).map(|s| s.worker.records),
            false => None,
        };
        let (mut restored, mut expected, bytes) = match &line {
            Some(p) => (p.records_restored, p.records_expected, p.bytes),
            None if share.is_some() => (0, 0, 0),
            None => continue,
        };
        if worker.finished {
            // Its whole share is written.
            restored = restored.max(expected).max(share.unwrap_or(0));
            expected = expected.max(restored);
        }
        seen = true;
        sum.records_restored += restored;
        sum.records_expected += expected;
        sum.bytes += bytes;
        in_all = in_all.max(line.and_then(|p| p.records_expected_in_all));
    }
    if !seen {
        return None;
    }
    sum.records_expected = in_all.unwrap_or(sum.records_expected).max(sum.records_restored);
    sum.percent = (sum.records_restored * 100).checked_div(sum.records_expected).unwrap_or(0).min(99) as u32;
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(restored: u64, expected: u64, bytes: u64, in_all: Option<u64>) -> String {
        let p = Progress {
            records_restored: restored,
            records_expected: expected,
            bytes,
            percent: 0,
            records_expected_in_all: in_all,
        };
        serde_json::to_string(&ProgressLine { progress: p }).expect("json")
    }

    fn worker(index: u32, finished: bool, log: &str) -> WorkerLog {
        WorkerLog { index: Some(index), finished, log: format!("INFO writing\n{log}\nINFO more\n") }
    }

    #[test]
    fn one_pod_is_its_own_line() {
        let logs = [WorkerLog { index: None, finished: false, log: line(250, 1_000, 9, None) }];
        let p = summed(&logs).expect("progress");
        assert_eq!((p.records_restored, p.records_expected, p.bytes, p.percent), (250, 1_000, 9, 25));
        assert_eq!(summed(&[WorkerLog { log: "INFO starting".into(), ..Default::default() }]), None);
    }

    #[test]
    fn workers_add_up_to_the_whole_restore() {
        // 4 workers over 4,000 records: 0 and 2 half way, 1 finished (its last line was 5 s
        // before its end), 3 not started.
        let logs = [
            worker(0, false, &line(500, 1_000, 50, Some(4_000))),
            worker(1, true, &line(700, 1_200, 70, Some(4_000))),
            worker(2, false, &line(400, 800, 40, Some(4_000))),
        ];
        let p = summed(&logs).expect("progress");
        assert_eq!(p.records_restored, 500 + 1_200 + 400, "the finished worker's whole share");
        assert_eq!(p.records_expected, 4_000, "the whole restore's, worker 3's share included");
        assert_eq!((p.bytes, p.percent), (160, 52));
        // Worker 0's line alone said 500 of 1,000: half of its share, an eighth of the restore.
    }

    #[test]
    fn without_the_whole_restores_figure_the_shares_seen_add_up() {
        let logs =
            [worker(0, false, &line(100, 1_000, 1, None)), worker(1, false, &line(300, 1_000, 3, None))];
        let p = summed(&logs).expect("progress");
        assert_eq!((p.records_restored, p.records_expected, p.percent), (400, 2_000, 20));
    }

    #[test]
    fn a_finished_worker_counts_its_share_even_without_a_progress_line() {
        let share = r#"{"restoreId":"r","backupId":"b","worker":{"index":1,"workers":2,"partitions":3,"records":600,"bytes":60,"committed":false}}"#;
        let logs = [worker(0, false, &line(100, 400, 10, Some(1_000))), worker(1, true, share)];
        let p = summed(&logs).expect("progress");
        assert_eq!((p.records_restored, p.records_expected, p.percent), (700, 1_000, 70));
        // Not finished: a share line counts for nothing until its pod succeeded.
        let running = [worker(1, false, share)];
        assert_eq!(summed(&running), None);
    }

    #[test]
    fn every_worker_finished_is_at_most_99_percent() {
        let logs = [
            worker(0, true, &line(10, 500, 1, Some(1_000))),
            worker(1, true, &line(500, 500, 2, Some(1_000))),
        ];
        let p = summed(&logs).expect("progress");
        assert_eq!((p.records_restored, p.records_expected, p.percent), (1_000, 1_000, 99));
    }
}
