//! One storage location, one owner. Two writers at one location (two `KafkaBackup`s of two
//! namespaces with the same bucket and prefix, or a CLI run beside one) would prune and delete
//! each other's backups, so the first writer records itself in `<prefix>owner.json` and every
//! other writer is refused before it writes anything. Taking a location over is deliberate
//! (`takeOverLocation`). Readers — restore, verify — need no ownership: a DR cluster restores
//! from a location it does not own.
//!
//! The marker is created with a create-only write, so two first writers cannot both win; a
//! location that already holds backups from before markers existed is claimed by its next writer.

use anyhow::Context;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::storage::Storage;

/// Who writes a location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// `KafkaBackup` for the operator's Jobs, `cli` for runs by hand.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The owning object's uid (informational: a `KafkaBackup` deleted and created again under
    /// the same name is the same owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl Owner {
    /// A run by hand that names no owner.
    pub fn cli() -> Self {
        Self { kind: "cli".into(), namespace: None, name: "cli".into(), uid: None }
    }

    /// The same owner (kind, namespace and name; the uid is informational).
    pub fn same(&self, other: &Owner) -> bool {
        (&self.kind, &self.namespace, &self.name) == (&other.kind, &other.namespace, &other.name)
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name)?,
            None => write!(f, "{} {}", self.kind, self.name)?,
        }
        if let Some(uid) = &self.uid {
            write!(f, " (uid {uid})")?;
        }
        Ok(())
    }
}

/// The stored marker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub owner: Owner,
    /// The Kafka cluster the owner backed up when it claimed the location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// RFC 3339.
    pub claimed_at: String,
}

/// Makes sure `me` owns the location, claiming it when nobody does (or, with `take_over`, when
/// somebody else does); refuses otherwise, naming the owner and how to take over.
pub async fn claim(
    storage: &Storage,
    me: &Owner,
    cluster_id: Option<&str>,
    take_over: bool,
) -> anyhow::Result<()> {
    let path = object_store::path::Path::from(storage.layout.owner());
    let marker = Marker {
        owner: me.clone(),
        cluster_id: cluster_id.map(str::to_string),
        claimed_at: crate::format::rfc3339(chrono::Utc::now()),
    };
    let body = serde_json::to_vec_pretty(&marker)?;
    // Two rounds at most: a marker that appears between our read and our create is read again.
    for _ in 0..2 {
        match read(storage).await? {
            Some(current) if current.owner.same(me) => return Ok(()),
            Some(current) if !take_over => anyhow::bail!(
                "{} belongs to {} (claimed {}{}): another writer there would prune and delete its \
                 backups. Give this backup a storage prefix of its own, or take the location over \
                 deliberately: annotate the KafkaBackup kafkabackup.com/take-over-location=true \
                 (takeOverLocation: true in a config file)",
                storage.location,
                current.owner,
                current.claimed_at,
                current.cluster_id.as_deref().map(|c| format!(", cluster {c}")).unwrap_or_default()
            ),
            Some(current) => {
                tracing::warn!(location = %storage.location, previous = %current.owner, owner = %me,
                    "taking the location over: its previous owner's runs will be refused from now on");
                storage
                    .store
                    .put(&path, PutPayload::from(body.clone()))
                    .await
                    .with_context(|| format!("writing {path}"))?;
                return Ok(());
            }
            None => {
                let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
                match storage.store.put_opts(&path, PutPayload::from(body.clone()), opts).await {
                    Ok(_) => {
                        storage
                            .sync(path.as_ref())
                            .await
                            .with_context(|| format!("flushing {path} to disk"))?;
                        tracing::info!(location = %storage.location, owner = %me, "claimed the location");
                        return Ok(());
                    }
                    // Somebody claimed it in between (or our own retried write landed): look again.
                    Err(object_store::Error::AlreadyExists { .. }) => continue,
                    Err(e) => return Err(anyhow::Error::new(e).context(format!("creating {path}"))),
                }
            }
        }
    }
    anyhow::bail!(
        "{}: the owner marker {path} keeps changing; is another writer claiming it?",
        storage.location
    )
}

/// The location's marker, if it has one.
pub async fn read(storage: &Storage) -> anyhow::Result<Option<Marker>> {
    let path = object_store::path::Path::from(storage.layout.owner());
    let bytes = match storage.store.get(&path).await {
        Ok(found) => found.bytes().await.with_context(|| format!("reading {path}"))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {path}"))),
    };
    let marker = serde_json::from_slice(&bytes).with_context(|| {
        format!("{path} is not an owner marker of this product: remove it if nothing else owns the location")
    })?;
    Ok(Some(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb(ns: &str, name: &str, uid: &str) -> Owner {
        Owner {
            kind: "KafkaBackup".into(),
            namespace: Some(ns.into()),
            name: name.into(),
            uid: Some(uid.into()),
        }
    }

    #[test]
    fn an_owner_is_its_kind_namespace_and_name() {
        assert!(kb("a", "nightly", "u1").same(&kb("a", "nightly", "u2")), "recreated under the same name");
        assert!(!kb("a", "nightly", "u1").same(&kb("b", "nightly", "u1")), "another namespace");
        assert!(!Owner::cli().same(&kb("a", "cli", "u")));
        assert_eq!(kb("a", "nightly", "u1").to_string(), "KafkaBackup a/nightly (uid u1)");
    }
}
