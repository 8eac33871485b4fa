//! The erasure's journal and lock at the location (`erasures/<id>/journal.json`,
//! `erasures/lock.json`): what a run rewrote and committed so far, so a run killed at any point
//! and started again with the same erasure id finishes the job without writing a segment twice or
//! losing one; and one erasure at a time per location, so two never overwrite each other's
//! manifest revisions.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::revise::Replacement;
use crate::storage::Storage;

/// Version of the journal's layout; a reader refuses another.
pub const JOURNAL_VERSION: u16 = 1;

/// How long a lock holds without being renewed (a run renews it with every journal write).
pub const LOCK_TTL: chrono::Duration = chrono::Duration::minutes(30);

/// Where an erasure stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Reading segments and writing the pieces of those with selected records.
    #[default]
    Rewriting,
    /// Writing the manifests' new revisions (the commit points).
    Committing,
    /// Every restore point committed; deleting the superseded segments.
    Deleting,
    /// Nothing left to do.
    Done,
}

/// The journal: replacements are recorded before any manifest lists them, so a rerun reuses
/// them instead of writing other objects.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub journal_version: u16,
    pub erasure_id: String,
    /// The selection's digest ([`super::select::Selection::digest`]): a rerun must select the same.
    pub selection: String,
    pub started_at: String,
    pub phase: Phase,
    /// Original segment object → what it became.
    #[serde(default)]
    pub rewritten: BTreeMap<String, Replacement>,
    /// Segments read that hold no selected record (not read again by a rerun).
    #[serde(default)]
    pub clean: BTreeSet<String>,
    /// Backup id → the revision this erasure committed.
    #[serde(default)]
    pub committed: BTreeMap<String, u32>,
    /// Superseded segments deleted.
    #[serde(default)]
    pub deleted: u64,
}

impl Journal {
    pub fn new(erasure_id: &str, selection: &str) -> Self {
        Self {
            journal_version: JOURNAL_VERSION,
            erasure_id: erasure_id.into(),
            selection: selection.into(),
            started_at: crate::format::rfc3339(chrono::Utc::now()),
            ..Default::default()
        }
    }

    /// The journal of `erasure_id` at the location, if a run left one.
    pub async fn load(storage: &Storage, erasure_id: &str) -> anyhow::Result<Option<Self>> {
        let name = storage.layout.erasure_journal(erasure_id);
        let bytes = match storage.store.get(&object_store::path::Path::from(name.as_str())).await {
            Ok(got) => got.bytes().await.with_context(|| format!("reading {name}"))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {name}"))),
        };
        let journal: Self =
            serde_json::from_slice(&bytes).with_context(|| format!("{name}: does not parse"))?;
        anyhow::ensure!(
            journal.journal_version == JOURNAL_VERSION,
            "{name}: journal version {} is not supported by this build (it reads {JOURNAL_VERSION})",
            journal.journal_version
        );
        Ok(Some(journal))
    }

    /// Writes the journal (one PUT: a reader sees the old or the new one whole) and makes it
    /// durable.
    pub async fn save(&self, storage: &Storage) -> anyhow::Result<()> {
        let name = storage.layout.erasure_journal(&self.erasure_id);
        let body = serde_json::to_vec_pretty(self)?;
        storage
            .store
            .put(&object_store::path::Path::from(name.as_str()), PutPayload::from(body))
            .await
            .with_context(|| format!("writing {name}"))?;
        storage.sync(&name).await.with_context(|| format!("flushing {name} to disk"))?;
        Ok(())
    }
}

/// The lock's content.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lock {
    erasure_id: String,
    expires_at: String,
}

/// Takes (or renews) the location's erasure lock for `erasure_id`: refused while another
/// erasure's lock holds; an expired one, or our own left by a killed run, is taken over.
pub async fn lock(storage: &Storage, erasure_id: &str) -> anyhow::Result<()> {
    let name = storage.layout.erasure_lock();
    let path = object_store::path::Path::from(name.as_str());
    let body = || {
        let lock = Lock {
            erasure_id: erasure_id.into(),
            expires_at: crate::format::rfc3339(chrono::Utc::now() + LOCK_TTL),
        };
        serde_json::to_vec(&lock).map(PutPayload::from)
    };
    let create = PutOptions { mode: PutMode::Create, ..Default::default() };
    match storage.store.put_opts(&path, body()?, create).await {
        Ok(_) => return Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("writing {name}"))),
    }
    let held = storage.read_whole(&name).await?;
    if let Ok(lock) = serde_json::from_slice::<Lock>(&held) {
        let expired = chrono::DateTime::parse_from_rfc3339(&lock.expires_at)
            .map(|t| t.to_utc() < chrono::Utc::now())
            .unwrap_or(true);
        anyhow::ensure!(
            lock.erasure_id == erasure_id || expired,
            "erasure {} is running at {} (its lock {name} holds until {}): one erasure at a time; run this \
             one again once it finished",
            lock.erasure_id,
            storage.location,
            lock.expires_at
        );
    }
    storage.store.put(&path, body()?).await.with_context(|| format!("writing {name}"))?;
    Ok(())
}

/// Releases the lock (when it is still ours).
pub async fn unlock(storage: &Storage, erasure_id: &str) -> anyhow::Result<()> {
    let name = storage.layout.erasure_lock();
    let path = object_store::path::Path::from(name.as_str());
    match storage.read_whole(&name).await {
        Ok(held) if serde_json::from_slice::<Lock>(&held).is_ok_and(|l| l.erasure_id == erasure_id) => {
            match storage.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(anyhow::Error::new(e).context(format!("deleting {name}"))),
            }
        }
        _ => Ok(()),
    }
}
