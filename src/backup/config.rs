//! The configuration of one backup run. The operator renders it into a ConfigMap from the
//! `KafkaBackup` spec; by hand it is a YAML or JSON file. It never holds a secret.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::api::backup::{BackupSettings, Retention};
use crate::api::selection::{Selection, TopicSelection};
use crate::api::storage::StorageSpec;
use crate::kafka::KafkaConnection;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupConfig {
    /// Id of the backup to write; the operator derives it from the run so a retried Job writes
    /// the same backup. Generated from the start time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    pub kafka: KafkaConnection,
    pub storage: StorageSpec,
    #[serde(default)]
    pub topics: TopicSelection,
    #[serde(default)]
    pub consumer_groups: Selection,
    #[serde(default)]
    pub backup: BackupSettings,
    /// File with the AES-256 key (when `backup.encryption.enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_file: Option<PathBuf>,
    /// The KMS that wraps the data keys of backups encrypted with keys from a KMS
    /// (`backup.encryption.kms`), its Secrets as mounted files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<crate::kms::KmsAccess>,
    /// Where a `filesystem` storage volume is mounted.
    #[serde(default = "filesystem_root")]
    pub filesystem_root: PathBuf,
    /// Prune old backups after this one (applied when `pruneOnSchedule`; the operator passes it
    /// for scheduled runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Backups retention must not delete (those running restores read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_backups: Vec<String>,
    /// How long the objects of a backup that never got its manifest (killed, failed) are left
    /// alone before a later backup deletes them: long enough that a backup still writing to
    /// the same prefix is never touched. A duration such as `24h`.
    #[serde(default = "orphan_grace_period")]
    pub orphan_grace_period: String,
    /// Who writes this location ([`crate::location`]); a run by hand is `cli`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::location::Owner>,
    /// Take the location over from another owner (deliberately: its runs are refused after).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub take_over_location: bool,
    /// The backup ids the cluster has restore points for. When set, the result lists the restore
    /// points left after this run (`restorePoints`), with summaries of the others: the
    /// `KafkaBackup` mirrors them without a sync Job of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_restore_points: Option<Vec<String>>,
    /// The `KafkaTopic`s and `KafkaUser`s the operator read for this run
    /// (`backup.strimziResources`), stored with the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strimzi_resources: Option<super::strimzi_resources::StrimziResourcesInput>,
    /// The Schema Registry to back up with the records (`spec.schemaRegistry`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<crate::schema_registry::RegistryBackup>,
    /// Claim the place of the parent's one child before the manifest ([`super::fence`]), so two
    /// writers never fork the lineage. Set by the continuous loop for each of its runs
    /// (`backup::continuous`), never read from a file.
    #[serde(skip)]
    pub fence_lineage: bool,
    /// The manifests already read ([`crate::catalog::ManifestCache`]), for the run's parent and
    /// again after its commit: one that keeps nothing for a run from a file; the continuous loop
    /// hands every iteration the same one that keeps them (`backup::continuous`).
    #[serde(skip)]
    pub manifests: crate::catalog::ManifestCache,
}

fn orphan_grace_period() -> String {
    "24h".into()
}

fn filesystem_root() -> PathBuf {
    PathBuf::from(crate::storage::FILESYSTEM_MOUNT)
}
