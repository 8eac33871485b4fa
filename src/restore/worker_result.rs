//! What one worker of a restore wrote (`restores/<id>/workers/<index>.json`), and the line a
//! worker prints when it did not finish the restore itself (`restore.workers`, issue 18 §3).
//!
//! A worker stores its result once its last transaction is committed and its partitions' ends
//! are confirmed, so a result present means that worker's share is whole: a retried worker whose
//! result exists reads nothing back and writes nothing again, and worker 0 finishes the restore
//! (retention, consumer-group offsets, metadata) only once every worker's result is there. The
//! outcomes hold what the offsets translation and the result need; a restore in one worker
//! writes no result (its state alone is as before).

use serde::{Deserialize, Serialize};

use super::partition::PartitionOutcome;
use crate::backup::worker_result::{WorkerSummary, check_result, get_json, put_json};
use crate::storage::Storage;

/// Layout version of a restore worker result written by this build.
pub const RESULT_VERSION: u16 = 1;

/// One worker's share of a restore, written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerResult {
    pub result_version: u16,
    pub restore_id: String,
    pub backup_id: String,
    pub index: u32,
    pub workers: u32,
    /// Its target partitions, named by source topic (as the run names outcomes).
    pub outcomes: Vec<WrittenPartition>,
}

/// One target partition as a worker left it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenPartition {
    pub source_topic: String,
    pub partition: i32,
    pub outcome: PartitionOutcome,
}

impl WorkerResult {
    /// This worker's line in an output: its share and what it restored.
    pub fn summary(&self, finished: bool) -> WorkerSummary {
        WorkerSummary {
            index: self.index,
            workers: self.workers,
            partitions: u32::try_from(self.outcomes.len()).unwrap_or(u32::MAX),
            records: self.outcomes.iter().map(|w| u64::try_from(w.outcome.records).unwrap_or(0)).sum(),
            bytes: self.outcomes.iter().map(|w| w.outcome.bytes).sum(),
            committed: finished,
        }
    }

    /// The outcomes as the run handles them.
    pub fn into_outcomes(self) -> Vec<(String, i32, PartitionOutcome)> {
        self.outcomes.into_iter().map(|w| (w.source_topic, w.partition, w.outcome)).collect()
    }
}

/// What a worker other than 0 prints as its last line: its share is written, the restore is
/// finished by worker 0 once every share is. Not a [`super::RestoreResult`] (it lacks its
/// required fields), so a reader tells the two apart by parsing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerLine {
    pub restore_id: String,
    pub backup_id: String,
    pub worker: WorkerSummary,
}

/// `<prefix>restores/<id>/workers/<index>.json`, beside the restore's state.
fn name(storage: &Storage, restore_id: &str, index: u32) -> String {
    let state = storage.layout.restore_state(restore_id);
    let dir = state.strip_suffix("state.json").unwrap_or(&state);
    format!("{dir}workers/{index}.json")
}

/// Stores a worker's result (after its last commit and its ends confirmed).
pub async fn write(storage: &Storage, result: &WorkerResult) -> anyhow::Result<()> {
    put_json(storage, &name(storage, &result.restore_id, result.index), result).await
}

/// Worker `index`'s result, if it stored one.
pub async fn read(storage: &Storage, restore_id: &str, index: u32) -> anyhow::Result<Option<WorkerResult>> {
    let name = name(storage, restore_id, index);
    let Some(result) = get_json::<WorkerResult>(storage, &name).await? else { return Ok(None) };
    check_result(
        &name,
        (result.result_version, RESULT_VERSION),
        (&result.restore_id, result.index),
        (restore_id, index),
        "restore",
    )?;
    Ok(Some(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Storage {
        Storage::in_memory("prod")
    }

    #[tokio::test]
    async fn a_result_reads_back_with_its_translated_offsets() {
        let storage = memory();
        assert_eq!(name(&storage, "r1", 3), "prod/restores/r1/workers/3.json");
        let outcome = PartitionOutcome {
            records: 10,
            written: 4,
            bytes: 100,
            translated: [(5, 7), (9, 11)].into(),
            at_end: vec![12],
            end: 11,
            ..Default::default()
        };
        let result = WorkerResult {
            result_version: RESULT_VERSION,
            restore_id: "r1".into(),
            backup_id: "b1".into(),
            index: 3,
            workers: 4,
            outcomes: vec![WrittenPartition { source_topic: "t".into(), partition: 2, outcome }],
        };
        write(&storage, &result).await.expect("written");
        assert_eq!(read(&storage, "r1", 3).await.expect("read"), Some(result.clone()));
        assert_eq!(read(&storage, "r1", 2).await.expect("read"), None);
        assert_eq!(result.summary(false).records, 10);
    }

    #[test]
    fn a_part_done_line_is_not_a_whole_result() {
        let share = WorkerResult {
            result_version: RESULT_VERSION,
            restore_id: "r".into(),
            backup_id: "b".into(),
            index: 1,
            workers: 4,
            outcomes: Vec::new(),
        };
        let line = WorkerLine { restore_id: "r".into(), backup_id: "b".into(), worker: share.summary(false) };
        let json = serde_json::to_string(&line).expect("json");
        assert!(serde_json::from_str::<super::super::RestoreResult>(&json).is_err(), "{json}");
    }
}
