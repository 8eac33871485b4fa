//! The Strimzi resources a backup stores (`backup.strimziResources`): the `KafkaTopic`s and
//! `KafkaUser`s of the backed-up `Kafka` (docs/strimzi-resources.md).
//!
//! The backup Job has no Kubernetes rights, so the operator reads them, strips them
//! ([`crate::format::strimzi_resources::strip`]) and hands them to the Job as a gzip-compressed
//! file in a ConfigMap of their own (mounted at [`MOUNT_DIR`]), with the SHA-256 of the
//! uncompressed object in the run's config ([`StrimziResourcesInput`]). The Job checks it, stores
//! it as `backups/<id>/strimzi-resources.json` before the manifest, and the manifest names it:
//! the manifest stays the only commit point, and the object of a backup that never committed is
//! deleted with that backup's other objects by the orphan cleanup of a later backup.
//!
//! A continuous backup (`crate::backup::continuous`) is handed a ConfigMap the operator refreshes
//! while the process runs (the kubelet updates the mounted file in place): its config names the
//! file and no hash, and each iteration reads the file as it is then and hashes what it read.

use std::path::PathBuf;

use anyhow::Context;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::format::strimzi_resources::{StrimziResources, StrimziResourcesRef};

/// Where the operator mounts the ConfigMap holding the object.
pub const MOUNT_DIR: &str = "/etc/strimzi-backup/strimzi-resources";
/// The ConfigMap's key (and the file's name): the object, gzip-compressed.
pub const FILE_NAME: &str = "strimzi-resources.json.gz";

/// The Strimzi resources the operator read for this run, as the run's config names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrimziResourcesInput {
    /// The gzip-compressed object ([`MOUNT_DIR`]/[`FILE_NAME`] in a Job).
    pub file: PathBuf,
    /// SHA-256 of the uncompressed object, lowercase hex. Absent for a continuous backup: its
    /// file changes while the process runs, and each iteration stores what it reads then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The uncompressed object in `compressed`, checked against `sha256`.
pub fn unpack(compressed: &[u8], sha256: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = crate::format::strimzi_resources::gunzip(compressed)
        .with_context(|| format!("{what}: not gzip-compressed as the operator writes it"))?;
    anyhow::ensure!(
        hex::encode(Sha256::digest(&bytes)) == sha256,
        "{what}: its SHA-256 is not the one the run's config names (the ConfigMap was changed after the \
         operator wrote it, or belongs to another run): the run is retried by a new Job"
    );
    Ok(bytes)
}

/// Stores the object the operator handed over under the backup; returns the manifest's
/// reference (`None` when the run was given none).
pub async fn store(
    cfg: &super::BackupConfig,
    storage: &crate::storage::Storage,
    backup_id: &str,
) -> anyhow::Result<Option<StrimziResourcesRef>> {
    let Some(input) = &cfg.strimzi_resources else { return Ok(None) };
    let what = input.file.display().to_string();
    let compressed = tokio::fs::read(&input.file).await.with_context(|| format!("reading {what}"))?;
    let bytes = match &input.sha256 {
        Some(sha256) => unpack(&compressed, sha256, &what)?,
        None => crate::format::strimzi_resources::gunzip(&compressed)
            .with_context(|| format!("{what}: not gzip-compressed as the operator writes it"))?,
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let name = storage.layout.strimzi_resources(backup_id);
    let parsed = StrimziResources::parse(&bytes, &what)?;
    let (again, reference) = parsed.to_object(name.clone())?;
    // The reference is of the bytes stored, which are the bytes the operator wrote: its
    // serialization is this build's, and a difference would only be a different build.
    let reference = match again == bytes {
        true => reference,
        false => StrimziResourcesRef { sha256, ..reference },
    };
    let path = object_store::path::Path::from(name.as_str());
    storage.store.put(&path, PutPayload::from(bytes)).await.with_context(|| format!("writing {name}"))?;
    storage.sync(&name).await.with_context(|| format!("flushing {name} to disk"))?;
    tracing::info!(
        kafka_topics = reference.kafka_topics,
        kafka_users = reference.kafka_users,
        "Strimzi resources stored"
    );
    Ok(Some(reference))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn what_the_operator_packs_unpacks_only_unchanged() {
        let bytes = br#"{"resourcesVersion":1}"#.to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).expect("gzip");
        let packed = gz.finish().expect("gzip");
        let sha = hex::encode(Sha256::digest(&bytes));
        assert_eq!(unpack(&packed, &sha, "f").expect("unpacks"), bytes);
        let err = unpack(&packed, &"0".repeat(64), "f").expect_err("another sha");
        assert!(err.to_string().contains("SHA-256"), "{err}");
        assert!(unpack(&bytes, &sha, "f").is_err(), "not compressed");
    }
}
