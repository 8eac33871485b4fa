//! The backups at one storage location, as backup, restore, verify and retention see them: only
//! backups with a manifest exist, the latest is the one completed last, and an incremental backup
//! is read together with the chain of parents it continues.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;

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

/// Every committed backup under the storage prefix (one manifest read each).
pub async fn all(storage: &Storage) -> anyhow::Result<Vec<Manifest>> {
    let dir = object_store::path::Path::from(storage.layout.backups_dir().trim_end_matches('/'));
    let objects: Vec<_> = storage
        .store
        .list(Some(&dir))
        .try_collect()
        .await
        .with_context(|| format!("listing the backups in {}", storage.location))?;
    let mut manifests = Vec::new();
    for meta in objects {
        let name = meta.location.to_string();
        if let Some(id) = storage.layout.backup_id_of_manifest(&name) {
            manifests.push(manifest(storage, id).await?);
        }
    }
    Ok(manifests)
}

/// The newest committed backup under the storage prefix, other than `except`.
pub async fn latest(storage: &Storage, except: &str) -> anyhow::Result<Option<Manifest>> {
    Ok(newest(all(storage).await?.iter().filter(|m| m.backup_id != except)).cloned())
}

/// The backup completed last.
fn newest<'a>(manifests: impl Iterator<Item = &'a Manifest>) -> Option<&'a Manifest> {
    manifests.max_by(|a, b| a.completed_at.cmp(&b.completed_at))
}

/// Deletes a backup: the manifest first, so it is gone for every reader at once and a failure
/// half-way leaves only invisible objects (which [`remove_orphans`] finishes later).
pub async fn delete(storage: &Storage, id: &str) -> anyhow::Result<()> {
    let manifest = object_store::path::Path::from(storage.layout.manifest(id));
    match storage.store.delete(&manifest).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("deleting {manifest}"))),
    }
    let dir = object_store::path::Path::from(format!("{}{id}", storage.layout.backups_dir()));
    delete_under(storage, &dir).await.with_context(|| format!("deleting the objects of backup {id}"))
}

/// Deletes every backup at the location (a `KafkaBackup` with `deletionPolicy: Delete` being
/// deleted), newest first so that an interruption leaves only complete chains behind, then the
/// objects of unfinished backups. Returns the ids deleted.
pub async fn delete_all(storage: &Storage) -> anyhow::Result<Vec<String>> {
    let mut manifests = all(storage).await?;
    manifests.sort_by(|a, b| b.completed_at.cmp(&a.completed_at));
    let mut deleted = Vec::new();
    for m in manifests {
        delete(storage, &m.backup_id).await?;
        tracing::info!(backup = %m.backup_id, "deleted");
        deleted.push(m.backup_id);
    }
    deleted.extend(remove_orphans(storage, chrono::Duration::zero()).await?);
    Ok(deleted)
}

/// Deletes every object under `dir`.
async fn delete_under(storage: &Storage, dir: &object_store::path::Path) -> object_store::Result<()> {
    let locations = storage.store.list(Some(dir)).map_ok(|o| o.location).boxed();
    storage.store.delete_stream(locations).try_collect::<Vec<_>>().await.map(|_| ())
}

/// The named backup, or the latest when no id is given.
pub async fn resolve(storage: &Storage, id: Option<&str>) -> anyhow::Result<Manifest> {
    match id {
        Some(id) => manifest(storage, id).await,
        None => latest(storage, "").await?.with_context(|| format!("no backup in {}", storage.location)),
    }
}

/// The backup (or the latest) and every backup it continues, oldest first.
pub async fn chain(storage: &Storage, id: Option<&str>) -> anyhow::Result<Vec<Manifest>> {
    // Finding the latest reads every manifest already: its parents come from those, not again
    // from storage.
    let mut known: HashMap<String, Manifest> = HashMap::new();
    let last = match id {
        Some(id) => manifest(storage, id).await?,
        None => {
            known = all(storage).await?.into_iter().map(|m| (m.backup_id.clone(), m)).collect();
            newest(known.values()).cloned().with_context(|| format!("no backup in {}", storage.location))?
        }
    };
    let mut chain = vec![last];
    while let Some(parent) = chain.last().and_then(|m| m.parent_id.clone()) {
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

/// Deletes what killed or failed backups left behind: objects under a backup id that never got
/// its manifest. Only once nothing was written there for `grace`, so a backup still running
/// (another Job writing to the same prefix) is never touched. Returns the ids cleaned.
pub async fn remove_orphans(storage: &Storage, grace: chrono::Duration) -> anyhow::Result<Vec<String>> {
    let dir = object_store::path::Path::from(storage.layout.backups_dir().trim_end_matches('/'));
    let listing = storage
        .store
        .list_with_delimiter(Some(&dir))
        .await
        .with_context(|| format!("listing the backups in {}", storage.location))?;
    let cutoff = chrono::Utc::now() - grace;
    let mut removed = Vec::new();
    for prefix in listing.common_prefixes {
        let Some(id) = prefix.filename().map(str::to_string) else { continue };
        let manifest = object_store::path::Path::from(storage.layout.manifest(&id));
        match storage.store.head(&manifest).await {
            Ok(_) => continue,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("checking {manifest}"))),
        }
        let objects: Vec<_> = storage.store.list(Some(&prefix)).try_collect().await?;
        if objects.iter().any(|o| o.last_modified > cutoff) {
            continue;
        }
        delete_under(storage, &prefix)
            .await
            .with_context(|| format!("deleting the unfinished backup {id}"))?;
        tracing::info!(backup = %id, "deleted the objects of an unfinished backup (no manifest)");
        removed.push(id);
    }
    Ok(removed)
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
