//! The resume state of a restore run, kept next to the backups
//! (`<prefix>restores/<restore-id>/state.json`).
//!
//! Every target partition is written by one transactional producer of the restore (the one
//! worker's, or with `restore.workers` the producer of the one worker whose share it is), in
//! order, and by nobody else while the restore runs. So knowing where a partition stood before the
//! first record was written (`starts`) is enough for a rerun to find what is already there: it
//! fences the earlier attempt (its open transaction is aborted), reads the partition back from
//! the start, `read_committed`, and checks record for record that it is the backup's own, in
//! order. It continues after the last one; anything else there refuses the restore
//! (`TargetChanged`) — never counted as the restore's own.
//!
//! Its room: the storage and the shared [`result`](super::result) types; not [`run`](super::run),
//! which uses it.

use std::collections::BTreeMap;

use anyhow::Context;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::result::RestoreResult;
pub use super::result::TopicAction;
use crate::storage::Storage;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeState {
    pub restore_id: String,
    pub backup_id: String,
    /// Target topics taken over by this restore (written before any of them is touched), so a
    /// rerun does not judge a topic it created itself as "already exists".
    pub claimed: BTreeMap<String, TopicAction>,
    /// The high watermark of every target partition once its topic was ready and before the
    /// first record was written; empty until then.
    pub starts: BTreeMap<String, BTreeMap<i32, i64>>,
    /// The target groups' offsets from before the restore (`snapshotOffsets`), taken once: a
    /// rerun reports this one, not the offsets an interrupted run may have committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<crate::offset_reset::Snapshot>,
    /// Old schema id → new, as registering the backup's schemas left them (`rewriteSchemaIds`):
    /// the workers of a restore across several rewrite records with the ids worker 0 got.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schema_ids: BTreeMap<i32, i32>,
    /// Set when the run completed: a rerun reports it and does nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RestoreResult>,
}

impl ResumeState {
    pub async fn load(storage: &Storage, restore_id: &str) -> anyhow::Result<Option<Self>> {
        let name = storage.layout.restore_state(restore_id);
        match storage.store.get(&object_store::path::Path::from(name.as_str())).await {
            Ok(found) => {
                let bytes = found.bytes().await.with_context(|| format!("reading {name}"))?;
                Ok(Some(
                    serde_json::from_slice(&bytes)
                        .with_context(|| format!("{name} is not a restore state"))?,
                ))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading {name}"))),
        }
    }

    pub async fn save(&self, storage: &Storage) -> anyhow::Result<()> {
        let name = storage.layout.restore_state(&self.restore_id);
        storage
            .store
            .put(
                &object_store::path::Path::from(name.as_str()),
                PutPayload::from(serde_json::to_vec_pretty(self)?),
            )
            .await
            .with_context(|| format!("writing the restore state {name}"))?;
        Ok(())
    }
}
