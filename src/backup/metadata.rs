//! The cluster metadata a backup captures besides the records (`backup.clusterMetadata`, on by
//! default): ACLs, client quotas and the SCRAM users' mechanisms, read when the backup starts and
//! stored as `backups/<id>/cluster-metadata.json` before the manifest that names it.
//!
//! A part the cluster refuses to show (no `Describe` on the cluster, quotas over
//! a TLS or SASL connection) does not fail the backup: it is logged as a warning and recorded as
//! not captured, with the reason, in the object, the manifest and the backup's result — never
//! left out silently. Any other failure (the cluster unreachable, a timeout) fails the backup,
//! which is retried.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use object_store::{ObjectStoreExt, PutPayload};

use crate::format::metadata::{ClusterMetadata, METADATA_VERSION, MetadataRef, NotCaptured, SCRAM_NOTE};
use crate::kafka::acl::MetadataError;

/// How long each description may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the cluster's metadata and stores it under the backup; returns the manifest's reference
/// (`None` when `backup.clusterMetadata` is off).
pub async fn capture(
    cfg: &super::BackupConfig,
    admin: Arc<crate::kafka::Admin>,
    storage: &crate::storage::Storage,
    backup_id: &str,
    captured_at: String,
) -> anyhow::Result<Option<MetadataRef>> {
    if !cfg.backup.cluster_metadata {
        return Ok(None);
    }
    let mut not_captured = Vec::new();
    let acls = {
        let admin = admin.clone();
        part(
            "acls",
            tokio::task::spawn_blocking(move || crate::kafka::acl::describe_all(&admin, TIMEOUT)).await?,
            &mut not_captured,
        )?
    };
    let quotas = {
        let conn = cfg.kafka.clone();
        part(
            "quotas",
            tokio::task::spawn_blocking(move || crate::kafka::quota::describe_all(&conn, TIMEOUT)).await?,
            &mut not_captured,
        )?
    };
    let scram_users = part(
        "scramUsers",
        tokio::task::spawn_blocking(move || crate::kafka::scram::describe_all(&admin, TIMEOUT)).await?,
        &mut not_captured,
    )?;
    let metadata = ClusterMetadata {
        metadata_version: METADATA_VERSION,
        backup_id: backup_id.to_string(),
        captured_at,
        acls,
        quotas,
        scram_users,
        scram_credentials: SCRAM_NOTE.into(),
        not_captured,
    };
    let name = storage.layout.cluster_metadata(backup_id);
    let (bytes, reference) = metadata.to_object(name.clone())?;
    let path = object_store::path::Path::from(name.as_str());
    storage.store.put(&path, PutPayload::from(bytes)).await.with_context(|| format!("writing {name}"))?;
    storage.sync(&name).await.with_context(|| format!("flushing {name} to disk"))?;
    tracing::info!(
        acls = ?reference.acls, quotas = ?reference.quotas, scram_users = ?reference.scram_users,
        not_captured = reference.not_captured.len(), "cluster metadata captured"
    );
    Ok(Some(reference))
}

/// A part as read: the list, or — when the cluster refuses to show it — nothing, recorded in
/// `not_captured`; any other failure is the backup's.
fn part<T>(
    what: &str,
    read: Result<Vec<T>, MetadataError>,
    not_captured: &mut Vec<NotCaptured>,
) -> anyhow::Result<Option<Vec<T>>> {
    match read {
        Ok(list) => Ok(Some(list)),
        Err(e) if e.refused => {
            tracing::warn!(part = what, reason = %e.message, "cluster metadata not captured");
            not_captured.push(NotCaptured { what: what.into(), reason: e.message });
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!("reading the cluster metadata: {}", e.message)),
    }
}
