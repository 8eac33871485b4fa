//! Leases of running restores, kept at the location they read
//! (`<prefix>restores/<restore-id>/lease.json`, and `workers/<index>/lease.json` under it for
//! each other worker of a restore across workers): while a restore reads a backup, retention,
//! orphan cleanup and `delete` leave that backup alone — for every restore, also one run by hand
//! or from `source.storage` in another cluster, which the operator of the location knows nothing
//! of. A lease is renewed while the restore runs and ends with it; one whose restore died
//! expires by itself.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::storage::Storage;

/// How long a lease holds without renewal: long enough to ride out a storage outage of the
/// restore (renewals are retried for five minutes) and clocks a few minutes apart.
pub const TTL: Duration = Duration::from_secs(15 * 60);
/// How often a running restore renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(60);

/// What a lease says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub restore_id: String,
    /// The backup the restore reads (with a version 1 chain, the last of it).
    pub backup_id: String,
    /// Older backups whose segments it reads too (`scope: allRetained`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    /// RFC 3339; the lease no longer holds after it.
    pub expires_at: String,
}

impl Lease {
    fn holds(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.expires_at).is_ok_and(|t| t > now)
    }
}

fn path(storage: &Storage, restore_id: &str) -> object_store::path::Path {
    object_store::path::Path::from(storage.layout.restore_lease(restore_id))
}

async fn write(
    storage: &Storage,
    at: &object_store::path::Path,
    restore_id: &str,
    backup_id: &str,
    also: &[String],
) -> anyhow::Result<()> {
    let lease = Lease {
        restore_id: restore_id.into(),
        backup_id: backup_id.into(),
        also: also.to_vec(),
        expires_at: crate::format::rfc3339(chrono::Utc::now() + TTL),
    };
    storage
        .store
        .put(at, PutPayload::from(serde_json::to_vec(&lease)?))
        .await
        .with_context(|| format!("writing the restore lease {at}"))?;
    Ok(())
}

/// A lease held while it lives: renewed in the background, removed when dropped via [`Held::release`].
pub struct Held {
    storage: Storage,
    at: object_store::path::Path,
    renewal: tokio::task::JoinHandle<()>,
}

/// Takes a lease on `backup_id` (and the older backups `also`) for the restore `restore_id` and
/// keeps renewing it.
pub async fn take(
    storage: &Storage,
    restore_id: &str,
    backup_id: &str,
    also: &[String],
) -> anyhow::Result<Held> {
    take_at(storage, path(storage, restore_id), restore_id, backup_id, also).await
}

/// [`take`] for worker `index` of a restore across workers, beside worker 0's lease.
pub async fn take_worker(
    storage: &Storage,
    restore_id: &str,
    index: u32,
    backup_id: &str,
    also: &[String],
) -> anyhow::Result<Held> {
    let at = object_store::path::Path::from(storage.layout.restore_worker_lease(restore_id, index));
    take_at(storage, at, restore_id, backup_id, also).await
}

async fn take_at(
    storage: &Storage,
    at: object_store::path::Path,
    restore_id: &str,
    backup_id: &str,
    also: &[String],
) -> anyhow::Result<Held> {
    write(storage, &at, restore_id, backup_id, also).await?;
    let renewal = tokio::spawn({
        let (storage, at, restore_id, backup_id, also) =
            (storage.clone(), at.clone(), restore_id.to_string(), backup_id.to_string(), also.to_vec());
        async move {
            let mut tick = tokio::time::interval(RENEW_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = write(&storage, &at, &restore_id, &backup_id, &also).await {
                    tracing::warn!(error = %format!("{e:#}"), "could not renew the restore lease; retrying");
                }
            }
        }
    });
    Ok(Held { storage: storage.clone(), at, renewal })
}

impl Held {
    /// Ends the lease (the restore finished, or failed and will be retried under a new lease).
    pub async fn release(self) {
        self.renewal.abort();
        if let Err(e) = self.storage.store.delete(&self.at).await {
            tracing::warn!(error = %e, "could not remove the restore lease; it expires by itself");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// The backups that restores hold a live lease on.
pub async fn leased(storage: &Storage) -> anyhow::Result<HashSet<String>> {
    let dir = object_store::path::Path::from(storage.layout.restores_dir().trim_end_matches('/'));
    let objects: Vec<_> = storage
        .store
        .list(Some(&dir))
        .try_collect()
        .await
        .with_context(|| format!("listing the restore leases in {}", storage.location))?;
    let now = chrono::Utc::now();
    let mut out = HashSet::new();
    for meta in objects.into_iter().filter(|o| o.location.as_ref().ends_with("/lease.json")) {
        let bytes = match storage.store.get(&meta.location).await {
            Ok(found) => found.bytes().await?,
            // Released between the listing and now.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", meta.location))),
        };
        match serde_json::from_slice::<Lease>(&bytes) {
            Ok(lease) if lease.holds(now) => {
                out.insert(lease.backup_id);
                out.extend(lease.also);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(object = %meta.location, error = %e, "not a restore lease; ignored"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_holds_until_it_expires() {
        let now = chrono::Utc::now();
        let lease = |at: chrono::DateTime<chrono::Utc>| Lease {
            restore_id: "r".into(),
            backup_id: "b".into(),
            also: Vec::new(),
            expires_at: crate::format::rfc3339(at),
        };
        assert!(lease(now + chrono::Duration::seconds(5)).holds(now));
        assert!(!lease(now - chrono::Duration::seconds(5)).holds(now));
        assert!(!Lease { expires_at: "soon".into(), ..lease(now) }.holds(now), "unreadable: not held");
    }

    #[tokio::test]
    async fn a_worker_lease_protects_the_backup_by_itself_until_released() -> anyhow::Result<()> {
        let storage = Storage::in_memory("prod");
        let worker = take_worker(&storage, "r1", 2, "b7", &["b6".to_string()]).await?;
        assert_eq!(storage.layout.restore_worker_lease("r1", 2), "prod/restores/r1/workers/2/lease.json");
        // Worker 0's lease is absent (down, waiting for its retry): the worker's own holds.
        assert_eq!(leased(&storage).await?, HashSet::from(["b7".to_string(), "b6".to_string()]));
        worker.release().await;
        assert!(leased(&storage).await?.is_empty(), "released");
        Ok(())
    }
}
