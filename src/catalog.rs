//! The backups at one storage location, as backup, restore, verify and retention see them: only
//! backups with a manifest exist, the latest is the one completed last. A version 2 manifest is a
//! whole restore point (it lists every segment it needs, some written by earlier backups); a
//! version 1 incremental backup is read together with the chain of parents it continues. So
//! stored objects go only when no kept manifest lists them.
//!
//! A manifest this build cannot read (damaged, or written by a newer version) never stops the
//! others from being used: it is skipped with a warning naming it, and never deleted. Because it
//! may list segments, nothing that is not its own is deleted while it is there either.

pub mod cache;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;

pub use self::cache::ManifestCache;
use crate::format::codec::EncryptionKey;
use crate::format::manifest::Manifest;
use crate::storage::Storage;

/// Reads the manifest of a backup; a backup without one does not exist.
pub async fn manifest(storage: &Storage, id: &str) -> anyhow::Result<Manifest> {
    let name = storage.layout.manifest(id);
    let bytes = storage
        .store
        .get(&object_store::path::Path::from(name.as_str()))
        .await
        .with_context(|| format!("backup {id} not found in {} (no {name})", storage.location))?
        .bytes()
        .await
        .with_context(|| format!("reading {name}"))?;
    Ok(Manifest::from_json(&bytes, &name)?)
}

/// The manifests at a location: those this build reads, and those it cannot.
#[derive(Debug, Default)]
pub struct Scan {
    /// Shared with the [`ManifestCache`] that read them, when it keeps them.
    pub manifests: Vec<Arc<Manifest>>,
    /// Manifest objects that could not be read, with why.
    pub unreadable: Vec<(String, String)>,
}

impl Scan {
    /// Every segment object a readable manifest lists.
    pub fn referenced(&self) -> HashSet<&str> {
        self.manifests.iter().flat_map(|m| m.objects()).map(|s| s.object.as_str()).collect()
    }
}

/// Manifests read at once by [`scan`]: a location with thousands of restore points is read in
/// seconds, not in thousands of round trips one after another.
const MANIFEST_READS: usize = 16;

/// Every manifest under the storage prefix (one read each, in listing order); unreadable ones
/// are logged and set apart, never an error. [`ManifestCache::scan`] with an empty cache that
/// keeps nothing.
pub async fn scan(storage: &Storage) -> anyhow::Result<Scan> {
    ManifestCache::default().scan(storage).await
}

/// Every committed backup this build can read under the storage prefix.
pub async fn all(storage: &Storage) -> anyhow::Result<Vec<Manifest>> {
    // Nothing else holds them (the cache of `scan` keeps none): taken out, not copied.
    Ok(scan(storage).await?.manifests.into_iter().map(Arc::unwrap_or_clone).collect())
}

/// The newest committed backup under the storage prefix, other than `except`.
pub async fn latest(storage: &Storage, except: &str) -> anyhow::Result<Option<Manifest>> {
    latest_in(storage, except, &ManifestCache::default()).await
}

/// [`latest`], reading through `cache`: only the manifests it has not read before.
pub async fn latest_in(
    storage: &Storage,
    except: &str,
    cache: &ManifestCache,
) -> anyhow::Result<Option<Manifest>> {
    let scan = cache.scan(storage).await?;
    Ok(newest(scan.manifests.iter().map(|m| &**m).filter(|m| m.backup_id != except)).cloned())
}

/// The backup completed last.
fn newest<'a>(manifests: impl Iterator<Item = &'a Manifest>) -> Option<&'a Manifest> {
    manifests.max_by(|a, b| a.completed_at.cmp(&b.completed_at))
}

/// Deletes backups (`ids`, all in `scan`): every manifest first, so each is gone for every reader
/// at once, then their drills' evidence (`verifications/<id>/`), then the objects under their ids
/// that no other manifest lists — a later backup may still need their segments. A failure
/// half-way leaves only invisible objects, which [`remove_orphans_in`] finishes later.
pub async fn delete(storage: &Storage, scan: &Scan, ids: &[String]) -> anyhow::Result<()> {
    for id in ids {
        let manifest = object_store::path::Path::from(storage.layout.manifest(id));
        match storage.store.delete(&manifest).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("deleting {manifest}"))),
        }
    }
    // The drills' evidence of a deleted backup goes with it: it is about nothing any more.
    for id in ids {
        let dir = object_store::path::Path::from(format!("{}{id}", storage.layout.verifications_dir()));
        delete_unlisted(storage, &dir, &HashSet::new(), None)
            .await
            .with_context(|| format!("deleting the drills' evidence of backup {id}"))?;
    }
    if !scan.unreadable.is_empty() {
        tracing::warn!(
            unreadable = scan.unreadable.len(),
            "the segments of deleted backups stay while manifests this build cannot read are at the location"
        );
        return Ok(());
    }
    let kept: HashSet<&str> = scan
        .manifests
        .iter()
        .filter(|m| !ids.contains(&m.backup_id))
        .flat_map(|m| m.objects())
        .map(|s| s.object.as_str())
        .collect();
    for id in ids {
        let dir = object_store::path::Path::from(format!("{}{id}", storage.layout.backups_dir()));
        delete_unlisted(storage, &dir, &kept, None)
            .await
            .with_context(|| format!("deleting the objects of backup {id}"))?;
    }
    Ok(())
}

/// Deletes every backup at the location (a `KafkaBackup` with `deletionPolicy: Delete` being
/// deleted), then the objects of unfinished ones. Returns the ids deleted.
pub async fn delete_all(storage: &Storage) -> anyhow::Result<Vec<String>> {
    let scan = scan(storage).await?;
    let leased = crate::lease::leased(storage).await?;
    let mut ids: Vec<String> =
        scan.manifests.iter().map(|m| m.backup_id.clone()).filter(|id| !leased.contains(id)).collect();
    delete(storage, &scan, &ids).await?;
    for id in &ids {
        tracing::info!(backup = %id, "deleted");
    }
    let left: Vec<Arc<Manifest>> =
        scan.manifests.into_iter().filter(|m| leased.contains(&m.backup_id)).collect();
    let after = Scan { manifests: left, unreadable: scan.unreadable };
    ids.extend(remove_orphans_in(storage, &after, chrono::Duration::zero()).await?);
    if !leased.is_empty() {
        let mut busy: Vec<&String> = leased.iter().collect();
        busy.sort();
        anyhow::bail!(
            "{} deleted; kept {} backup(s) that running restores read ({}): run again once they finished \
             (a restore's lease expires {} minutes after it stopped)",
            storage.location,
            busy.len(),
            busy.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            crate::lease::TTL.as_secs() / 60
        );
    }
    Ok(ids)
}

/// Deletes the objects under `dir` that are not in `keep` (and, with `older_than`, only when
/// nothing there was written after it). Returns how many it deleted.
async fn delete_unlisted(
    storage: &Storage,
    dir: &object_store::path::Path,
    keep: &HashSet<&str>,
    older_than: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<usize> {
    let objects: Vec<_> = storage.store.list(Some(dir)).try_collect().await?;
    if older_than.is_some_and(|cutoff| objects.iter().any(|o| o.last_modified > cutoff)) {
        return Ok(0);
    }
    let doomed: Vec<object_store::path::Path> =
        objects.into_iter().map(|o| o.location).filter(|l| !keep.contains(l.as_ref())).collect();
    let n = doomed.len();
    let stream = futures::stream::iter(doomed.into_iter().map(Ok)).boxed();
    storage.store.delete_stream(stream).try_collect::<Vec<_>>().await?;
    Ok(n)
}

/// The named backup, or the latest when no id is given.
pub async fn resolve(storage: &Storage, id: Option<&str>) -> anyhow::Result<Manifest> {
    match id {
        Some(id) => manifest(storage, id).await,
        None => latest(storage, "").await?.with_context(|| format!("no backup in {}", storage.location)),
    }
}

/// The backup (or the latest) and every backup it continues, oldest first: only itself for a
/// version 2 manifest, which is a whole restore point.
pub async fn chain(storage: &Storage, id: Option<&str>) -> anyhow::Result<Vec<Manifest>> {
    chain_among(storage, id, None).await
}

/// [`chain`], taking manifests from `loaded` (every manifest at the location, when the caller
/// read them anyway) instead of reading them again.
pub async fn chain_among(
    storage: &Storage,
    id: Option<&str>,
    loaded: Option<&[Manifest]>,
) -> anyhow::Result<Vec<Manifest>> {
    // Finding the latest reads every manifest already: its parents come from those, not again
    // from storage.
    let mut known: HashMap<String, Manifest> = match loaded {
        Some(all) => all.iter().map(|m| (m.backup_id.clone(), m.clone())).collect(),
        None => HashMap::new(),
    };
    let last = match (id, loaded) {
        (Some(id), _) => match known.remove(id) {
            Some(m) => m,
            None => manifest(storage, id).await?,
        },
        (None, Some(_)) => {
            newest(known.values()).cloned().with_context(|| format!("no backup in {}", storage.location))?
        }
        (None, None) => {
            known = all(storage).await?.into_iter().map(|m| (m.backup_id.clone(), m)).collect();
            newest(known.values()).cloned().with_context(|| format!("no backup in {}", storage.location))?
        }
    };
    let mut chain = vec![last];
    while let Some(parent) = chain.last().filter(|m| !m.self_contained()).and_then(|m| m.parent_id.clone()) {
        if chain.iter().any(|m| m.backup_id == parent) {
            anyhow::bail!("the chain of backup {} loops at {parent}", chain[0].backup_id);
        }
        let m = match known.remove(&parent) {
            Some(m) => m,
            None => manifest(storage, &parent).await.with_context(|| {
                format!(
                    "the chain of backup {} is broken: its parent {parent} is missing",
                    chain[0].backup_id
                )
            })?,
        };
        chain.push(m);
    }
    chain.reverse();
    Ok(chain)
}

/// Deletes what killed or failed backups left behind: objects under a backup id without a
/// manifest that no manifest of `scan` (the location as just read) lists. Only once nothing was
/// written there for `grace`, so a backup still running (another Job writing to the same prefix)
/// is never touched. Returns the ids cleaned.
pub async fn remove_orphans_in(
    storage: &Storage,
    scan: &Scan,
    grace: chrono::Duration,
) -> anyhow::Result<Vec<String>> {
    if !scan.unreadable.is_empty() {
        tracing::warn!(
            unreadable = scan.unreadable.len(),
            "unfinished backups are not cleaned up while manifests this build cannot read are at the location"
        );
        return Ok(Vec::new());
    }
    let committed: HashSet<&str> = scan.manifests.iter().map(|m| m.backup_id.as_str()).collect();
    let referenced = scan.referenced();
    let cutoff = chrono::Utc::now() - grace;
    let mut removed = Vec::new();
    for id in backup_dirs(storage).await? {
        let prefix = object_store::path::Path::from(format!("{}{id}", storage.layout.backups_dir()));
        if committed.contains(id.as_str()) {
            continue;
        }
        let manifest = object_store::path::Path::from(storage.layout.manifest(&id));
        match storage.store.head(&manifest).await {
            Ok(_) => continue,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("checking {manifest}"))),
        }
        let n = delete_unlisted(storage, &prefix, &referenced, Some(cutoff))
            .await
            .with_context(|| format!("deleting the unfinished backup {id}"))?;
        if n > 0 {
            tracing::info!(backup = %id, objects = n, "deleted what an unfinished or pruned backup left (no manifest lists it)");
            removed.push(id);
        }
    }
    remove_orphaned_evidence(storage, &committed, cutoff).await?;
    Ok(removed)
}

/// Deletes the drills' evidence of backups without a manifest (a pruning that stopped half-way),
/// once nothing was written there since `cutoff`.
async fn remove_orphaned_evidence(
    storage: &Storage,
    committed: &HashSet<&str>,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let dir = object_store::path::Path::from(storage.layout.verifications_dir().trim_end_matches('/'));
    let listing = storage
        .store
        .list_with_delimiter(Some(&dir))
        .await
        .with_context(|| format!("listing the drills' evidence in {}", storage.location))?;
    for id in listing.common_prefixes.iter().filter_map(|p| p.filename()) {
        if committed.contains(id) {
            continue;
        }
        let prefix = object_store::path::Path::from(format!("{}{id}", storage.layout.verifications_dir()));
        let n = delete_unlisted(storage, &prefix, &HashSet::new(), Some(cutoff))
            .await
            .with_context(|| format!("deleting the drills' evidence of backup {id}"))?;
        if n > 0 {
            tracing::info!(backup = %id, objects = n, "deleted the drills' evidence of a backup that is gone");
        }
    }
    Ok(())
}

/// The backup ids with objects under the storage prefix (`backups/<id>/`), committed or not: one
/// listing one level deep, whatever the number of segments.
pub async fn backup_dirs(storage: &Storage) -> anyhow::Result<Vec<String>> {
    let dir = object_store::path::Path::from(storage.layout.backups_dir().trim_end_matches('/'));
    let listing = storage
        .store
        .list_with_delimiter(Some(&dir))
        .await
        .with_context(|| format!("listing the backups in {}", storage.location))?;
    Ok(listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_string)).collect())
}

/// Loads the key from its file (the mounted Secret).
pub fn load_key(file: Option<&Path>) -> anyhow::Result<Option<EncryptionKey>> {
    let Some(file) = file else { return Ok(None) };
    let material =
        std::fs::read(file).with_context(|| format!("reading the encryption key {}", file.display()))?;
    Ok(Some(EncryptionKey::from_secret(&material).map_err(anyhow::Error::msg)?))
}

/// The key to read a backup with: none for a plain backup, and for an encrypted one the given key
/// if it is the one the backup was written with (a wrong key is named before anything is read).
pub fn key_for(manifest: &Manifest, key: Option<EncryptionKey>) -> anyhow::Result<Option<EncryptionKey>> {
    match (&manifest.encoding.encryption_key_id, key) {
        (None, _) => Ok(None),
        (Some(id), None) => anyhow::bail!(
            "backup {} is encrypted (key id {id}): give the encryption key it was written with",
            manifest.backup_id
        ),
        (Some(want), Some(key)) if want != key.id() => anyhow::bail!(
            "wrong encryption key: backup {} was encrypted with key id {want}, the given key has id {}",
            manifest.backup_id,
            key.id()
        ),
        (Some(_), Some(key)) => Ok(Some(key)),
    }
}
