//! What one worker of a backup read (`backups/<id>/workers/<index>.json`), and the line a
//! worker prints when it did not commit the backup itself.
//!
//! A worker writes its result once all its partitions are written, so a result present means
//! that worker's part is whole: a retried worker whose result exists reads nothing again, and the
//! backup can be committed as soon as every worker's result is there ([`super::commit`]). Like
//! the shared plan, results are never read by restore, verify or retention.

use anyhow::Context;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::format::manifest::{PartitionEntry, Written};
use crate::format::metadata::MetadataRef;
use crate::format::schemas::SchemasRef;
use crate::format::strimzi_resources::StrimziResourcesRef;
use crate::storage::Storage;

/// Layout version of a worker result written by this build.
pub const RESULT_VERSION: u16 = 1;

/// One worker's part of a backup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerResult {
    pub result_version: u16,
    pub backup_id: String,
    pub index: u32,
    pub workers: u32,
    /// When its last partition was done (RFC 3339); the manifest's `completedAt` is the latest
    /// of all workers', so every worker that commits writes the same manifest.
    pub completed_at: String,
    /// Its partitions as the manifest lists them.
    pub partitions: Vec<ReadPartition>,
    /// What it wrote itself.
    pub written: Written,
    /// The objects beside the segments, captured by the worker that made the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_metadata: Option<MetadataRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<SchemasRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strimzi_resources: Option<StrimziResourcesRef>,
}

/// A partition as read, with its topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadPartition {
    pub topic: String,
    #[serde(flatten)]
    pub entry: PartitionEntry,
}

impl WorkerResult {
    /// This worker's line in a result: its share and what it wrote.
    pub fn summary(&self, committed: bool) -> WorkerSummary {
        WorkerSummary {
            index: self.index,
            workers: self.workers,
            partitions: u32::try_from(self.partitions.len()).unwrap_or(u32::MAX),
            records: self.written.records,
            bytes: self.written.stored_bytes,
            committed,
        }
    }
}

/// One worker's share of a backup run by several, as its output reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSummary {
    pub index: u32,
    pub workers: u32,
    /// Partitions it read.
    pub partitions: u32,
    /// Records and stored bytes it wrote.
    pub records: u64,
    pub bytes: u64,
    /// Whether this worker committed the backup (or found it committed): then its output is
    /// the whole [`super::BackupResult`].
    pub committed: bool,
}

/// What a worker that did not commit prints as its last line: the backup is not committed yet
/// (other workers still read), its own part is done. Not a [`super::BackupResult`] (it lacks
/// its required fields), so a reader tells the two apart by parsing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerLine {
    pub backup_id: String,
    pub worker: WorkerSummary,
}

/// Stores `value` as JSON at `name`, flushed to disk on a filesystem location: a worker's result,
/// of a backup or of a restore ([`crate::restore::worker_result`]).
pub async fn put_json(storage: &Storage, name: &str, value: &impl Serialize) -> anyhow::Result<()> {
    let body = serde_json::to_vec_pretty(value)?;
    storage
        .store
        .put(&object_store::path::Path::from(name), PutPayload::from(body))
        .await
        .with_context(|| format!("writing {name}"))?;
    storage.sync(name).await.with_context(|| format!("flushing {name} to disk"))
}

/// The JSON object `name` read as a `T`; `None` when there is none.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    storage: &Storage,
    name: &str,
) -> anyhow::Result<Option<T>> {
    let got = match storage.store.get(&object_store::path::Path::from(name)).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {name}"))),
    };
    let bytes = got.bytes().await.with_context(|| format!("reading {name}"))?;
    Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("{name} does not parse"))?))
}

/// Checks a worker result read back from `name`: of the layout version this build writes
/// (`version`: found, wanted) and of worker `want.1` of the `what` (backup or restore) `want.0`
/// (`found`: what it says).
pub fn check_result(
    name: &str,
    version: (u16, u16),
    found: (&str, u32),
    want: (&str, u32),
    what: &str,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        version.0 == version.1,
        "{name}: result version {} is not the one this build writes ({})",
        version.0,
        version.1
    );
    anyhow::ensure!(found == want, "{name} holds the result of worker {} of {what} {}", found.1, found.0);
    Ok(())
}

/// Stores a worker's result (after every segment it lists is written).
pub async fn write(storage: &Storage, result: &WorkerResult) -> anyhow::Result<()> {
    put_json(storage, &storage.layout.worker_result(&result.backup_id, result.index), result).await
}

/// Worker `index`'s result, if it wrote one.
pub async fn read(storage: &Storage, backup_id: &str, index: u32) -> anyhow::Result<Option<WorkerResult>> {
    let name = storage.layout.worker_result(backup_id, index);
    let Some(result) = get_json::<WorkerResult>(storage, &name).await? else { return Ok(None) };
    check_result(
        &name,
        (result.result_version, RESULT_VERSION),
        (&result.backup_id, result.index),
        (backup_id, index),
        "backup",
    )?;
    Ok(Some(result))
}

/// The indexes of the workers whose results are stored, in order.
pub async fn present(storage: &Storage, backup_id: &str) -> anyhow::Result<Vec<u32>> {
    let dir = storage.layout.worker_results_dir(backup_id);
    let listed: Vec<_> = storage
        .store
        .list(Some(&object_store::path::Path::from(dir.trim_end_matches('/'))))
        .try_collect()
        .await
        .with_context(|| format!("listing {dir}"))?;
    let mut indexes: Vec<u32> = listed
        .iter()
        .filter_map(|o| storage.layout.worker_of_result(backup_id, o.location.as_ref()))
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    Ok(indexes)
}

#[cfg(test)]
mod tests {
    use crate::format::manifest::Layout;

    #[test]
    fn results_are_named_by_worker_and_never_taken_for_a_manifest() {
        let layout = Layout::new("prod");
        let name = layout.worker_result("b1", 3);
        assert_eq!(name, "prod/backups/b1/workers/3.json");
        assert_eq!(layout.worker_of_result("b1", &name), Some(3));
        assert_eq!(layout.worker_of_result("b2", &name), None, "another backup's");
        assert_eq!(layout.worker_of_result("b1", "prod/backups/b1/workers/x.json"), None);
        for object in [name.as_str(), &layout.backup_plan("b1")] {
            assert_eq!(layout.backup_id_of_manifest(object), None, "{object}");
        }
    }

    #[test]
    fn a_part_done_line_is_not_a_whole_result() {
        let line = super::WorkerLine {
            backup_id: "b1".into(),
            worker: super::WorkerSummary {
                index: 1,
                workers: 4,
                partitions: 6,
                records: 10,
                bytes: 100,
                committed: false,
            },
        };
        let json = serde_json::to_string(&line).expect("json");
        assert!(serde_json::from_str::<crate::backup::BackupResult>(&json).is_err(), "{json}");
        assert_eq!(serde_json::from_str::<super::WorkerLine>(&json).expect("reads back"), line);
    }
}
