//! The manifests a long-running process already read, kept across its backups.
//!
//! A continuous backup ([`crate::backup::continuous`]) reads the location twice an iteration:
//! for its parent at plan time and after its commit for retention, orphan cleanup and the
//! restore points ([`super::scan`]). Each was a listing of `backups/` and a GET per manifest:
//! with thousands of restore points, thousands of GETs every `commitInterval`, for manifests
//! that almost never change. With this cache each scan still lists (one listing: what is there
//! now, whoever wrote or deleted it), but GETs only the manifests it has not read yet or whose
//! object changed since, and forgets the ones no longer listed.
//!
//! An entry is only reused for the very object it was read from: manifests are rewritten in
//! place (a data erasure's revision, `src/erase`; sync and verify paths may too), so a path alone
//! proves nothing. The listing's entity tag identifies the object; a store without one (none of
//! the supported stores, but `object_store` allows it) falls back to size and last-modified
//! time. The listing comes before the GET, so what a GET returns is the listed object or a newer
//! one; an entry is kept only when the GET's tag is the listed one, otherwise it is used for this
//! scan and read again by the next.
//!
//! Each scan lists anew, and the two of an iteration share no listing: the parent must be the
//! newest restore point when the plan is made, and the scan after the commit must see this
//! iteration's manifest and whatever another writer committed, pruned or revised since the plan
//! (retention deletes the segments no listed manifest names, so a manifest missed there could
//! lose its segments). The lineage fence (`backup::fence`) is untouched: it decides by
//! create-only claims and HEADs at commit time, never by what a scan read.
//!
//! The cache holds parsed manifests (shared with the [`super::Scan`]s it answers, not copied),
//! so it is bounded: entries are kept while the manifests' stored sizes sum to at most its
//! budget; a manifest past it is read at each scan, as without a cache. Only a long-running
//! process keeps one ([`LONG_RUNNING_BUDGET`]). Scheduled and one-shot runs go through the same
//! code with a cache that keeps nothing ([`ManifestCache::default`]): what they would keep
//! between their plan and their commit would sit in memory beside the records they read, for
//! one read saved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStoreExt};

use super::{MANIFEST_READS, Scan};
use crate::format::manifest::Manifest;
use crate::storage::Storage;

/// The stored bytes of manifests a long-running process (a continuous backup) keeps: 64 MiB.
/// A parsed manifest takes 0.53-0.62 of its stored JSON (measured on manifests of 80 to 3,000
/// segments: 311-383 bytes a segment in memory against 590-668 stored), so at most about 40 MiB
/// of memory, held beside the records an iteration reads. 1,000 restore points of 64 KB each.
pub const LONG_RUNNING_BUDGET: u64 = 64 << 20;

/// Which object an entry was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Version {
    /// The store's entity tag: changes whenever the object is written.
    Tag(String),
    /// Without a tag: the size and the time of the last write.
    Written { size: u64, at: chrono::DateTime<chrono::Utc> },
}

impl Version {
    fn of(meta: &ObjectMeta) -> Self {
        match &meta.e_tag {
            Some(tag) => Self::Tag(tag.clone()),
            None => Self::Written { size: meta.size, at: meta.last_modified },
        }
    }
}

/// What reading a manifest gave: the manifest, or why this build cannot read it (a damaged or
/// newer manifest reads the same way until its object changes).
#[derive(Clone, Debug)]
enum Read {
    Manifest(Arc<Manifest>),
    Unreadable(String),
}

#[derive(Debug)]
struct Entry {
    version: Version,
    read: Read,
    /// The stored size counted against the budget.
    size: u64,
}

#[derive(Debug, Default)]
struct Entries {
    by_path: HashMap<String, Entry>,
    size: u64,
}

#[derive(Debug)]
struct Inner {
    entries: Mutex<Entries>,
    budget: u64,
    /// Manifest GETs made by this cache's scans.
    reads: AtomicU64,
}

/// Manifests read before, by object (see the module). Cloning shares the cache.
#[derive(Clone, Debug)]
pub struct ManifestCache {
    inner: Arc<Inner>,
}

impl Default for ManifestCache {
    /// A cache that keeps nothing: every scan reads every manifest (a run from a file).
    fn default() -> Self {
        Self::with_budget(0)
    }
}

impl ManifestCache {
    /// A cache keeping manifests whose stored sizes sum to at most `budget` bytes (0: none; every
    /// scan reads every manifest).
    pub fn with_budget(budget: u64) -> Self {
        Self { inner: Arc::new(Inner { entries: Mutex::default(), budget, reads: AtomicU64::new(0) }) }
    }

    /// Manifest GETs this cache's scans made so far (the continuous backup's
    /// `manifests_read_total`).
    pub fn reads(&self) -> u64 {
        self.inner.reads.load(Ordering::Relaxed)
    }

    /// Manifests kept, and their stored bytes.
    pub fn held(&self) -> (usize, u64) {
        let entries = self.lock();
        (entries.by_path.len(), entries.size)
    }

    /// The manifest kept for the object at `path`, whichever version of it was read: for what
    /// no rewrite changes (a continuous backup's lag reads the cut's end offsets of the restore
    /// point it just committed and read back).
    pub fn peek(&self, path: &str) -> Option<Arc<Manifest>> {
        match &self.lock().by_path.get(path)?.read {
            Read::Manifest(m) => Some(m.clone()),
            Read::Unreadable(_) => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave an entry half-written: use what is there.
        self.inner.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every manifest under the storage prefix, in listing order, as [`super::scan`] answers:
    /// one listing, then a GET (16 at a time) only for manifests not read before from the same
    /// object. Unreadable ones are logged and set apart at every scan, never an error; a
    /// storage failure is.
    pub async fn scan(&self, storage: &Storage) -> anyhow::Result<Scan> {
        let dir = object_store::path::Path::from(storage.layout.backups_dir().trim_end_matches('/'));
        let objects: Vec<ObjectMeta> = storage
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .with_context(|| format!("listing the backups in {}", storage.location))?;
        let listed: Vec<(ObjectMeta, String)> = objects
            .into_iter()
            .filter_map(|meta| {
                let id = storage.layout.backup_id_of_manifest(meta.location.as_ref())?.to_string();
                Some((meta, id))
            })
            .collect();
        // What is known already, by position in the listing; the rest is read.
        let mut found: Vec<Option<Read>> = {
            let entries = self.lock();
            listed
                .iter()
                .map(|(meta, _)| {
                    entries
                        .by_path
                        .get(meta.location.as_ref())
                        .filter(|e| e.version == Version::of(meta))
                        .map(|e| e.read.clone())
                })
                .collect()
        };
        let missing: Vec<usize> = (0..listed.len()).filter(|i| found[*i].is_none()).collect();
        let mut reads = futures::stream::iter(missing)
            .map(|i| {
                let (meta, id) = &listed[i];
                async move { (i, read(storage, meta, id).await) }
            })
            .buffered(MANIFEST_READS);
        let mut fresh = Vec::new();
        while let Some((i, read)) = reads.next().await {
            self.inner.reads.fetch_add(1, Ordering::Relaxed);
            let (read, same_object) = read?;
            if same_object {
                fresh.push(i);
            }
            found[i] = Some(read);
        }
        drop(reads);
        self.remember(&listed, &found, &fresh);
        let mut scan = Scan::default();
        for ((meta, _), read) in listed.iter().zip(found) {
            match read {
                Some(Read::Manifest(m)) => scan.manifests.push(m),
                Some(Read::Unreadable(why)) => {
                    let name = meta.location.to_string();
                    tracing::warn!(object = %name, error = %why,
                        "skipping a manifest this build cannot read; it is left as it is");
                    scan.unreadable.push((name, why));
                }
                None => {}
            }
        }
        Ok(scan)
    }

    /// Forgets what is no longer listed, then keeps what was just read (`fresh`, positions in
    /// `listed`) while the budget allows.
    fn remember(&self, listed: &[(ObjectMeta, String)], found: &[Option<Read>], fresh: &[usize]) {
        let mut entries = self.lock();
        let present: std::collections::HashSet<&str> =
            listed.iter().map(|(m, _)| m.location.as_ref()).collect();
        entries.by_path.retain(|path, _| present.contains(path.as_str()));
        entries.size = entries.by_path.values().map(|e| e.size).sum();
        for &i in fresh {
            let (meta, _) = &listed[i];
            let Some(read) = found[i].clone() else { continue };
            if let Some(old) = entries.by_path.remove(meta.location.as_ref()) {
                entries.size -= old.size;
            }
            if entries.size + meta.size > self.inner.budget {
                continue;
            }
            entries.size += meta.size;
            entries.by_path.insert(
                meta.location.to_string(),
                Entry { version: Version::of(meta), read, size: meta.size },
            );
        }
    }
}

/// Reads the manifest `meta` lists (backup `id`): the manifest, or why it is unreadable; and
/// whether the object read is the one listed (its tag the listed tag), so it may be kept.
async fn read(storage: &Storage, meta: &ObjectMeta, id: &str) -> anyhow::Result<(Read, bool)> {
    let name = meta.location.to_string();
    let got = storage
        .store
        .get(&meta.location)
        .await
        .with_context(|| format!("backup {id} not found in {} (no {name})", storage.location))?;
    // Quotes aside: a store may quote the header and not the listing (Azure's blob listing).
    let same_object = match (&meta.e_tag, &got.meta.e_tag) {
        (Some(listed), Some(read)) => listed.trim_matches('"') == read.trim_matches('"'),
        // No tag to compare: the size and time the listing gave are compared next time.
        _ => true,
    };
    let bytes = got.bytes().await.with_context(|| format!("reading {name}"))?;
    let read = match Manifest::from_json(&bytes, &name) {
        Ok(m) => Read::Manifest(Arc::new(m)),
        Err(e) => Read::Unreadable(format!("{:#}", anyhow::Error::new(e))),
    };
    Ok((read, same_object))
}

#[cfg(test)]
mod tests;
