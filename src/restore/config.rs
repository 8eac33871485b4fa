//! The configuration of one restore run (rendered by the operator from a `KafkaRestore`, or
//! written by hand). It never holds a secret.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::api::restore::{PointInTime, RestoreConsumerGroups, RestoreSettings, TopicMapping};
use crate::api::selection::Selection;
use crate::api::storage::StorageSpec;
use crate::kafka::KafkaConnection;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreConfig {
    /// Names this restore's resume state; the operator uses the `KafkaRestore`'s uid so a retried
    /// Job resumes. Derived from the backup id and target when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_id: Option<String>,
    /// Target cluster.
    pub kafka: KafkaConnection,
    pub storage: StorageSpec,
    /// Backup to restore; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time: Option<PointInTime>,
    #[serde(default)]
    pub topics: Selection,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topic_mapping: Vec<TopicMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_groups: Option<RestoreConsumerGroups>,
    #[serde(default)]
    pub restore: RestoreSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_file: Option<PathBuf>,
    /// The KMS that wraps the data keys of backups encrypted with keys from a KMS
    /// (`backup.encryption.kms`), its Secrets as mounted files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<crate::kms::KmsAccess>,
    /// Read the target groups' committed offsets before writing anything and report them as
    /// `offsetSnapshot` (`rollback.enabled`): a `to-snapshot` offset reset undoes the offsets.
    #[serde(default)]
    pub snapshot_offsets: bool,
    #[serde(default = "filesystem_root")]
    pub filesystem_root: PathBuf,
    /// The registry to re-register the backup's schemas in, before any record is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<crate::schema_registry::RegistryRestore>,
    /// Masking of the restored records (`spec.masking`), its hash key as a mounted file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masking: Option<super::masking::MaskingConfig>,
}

fn filesystem_root() -> PathBuf {
    PathBuf::from(crate::storage::FILESYSTEM_MOUNT)
}

impl RestoreConfig {
    /// The target name of a backed-up topic.
    pub fn target_topic<'a>(&'a self, source: &'a str) -> &'a str {
        self.topic_mapping
            .iter()
            .find(|m| m.source_topic == source)
            .map_or(source, |m| m.target_topic.as_str())
    }

    /// The partition count asked for a backed-up topic (`topicMapping[].partitions`) and the
    /// field that asks it, if any.
    pub fn target_partitions(&self, source: &str) -> Option<(i32, String)> {
        self.topic_mapping
            .iter()
            .enumerate()
            .find(|(_, m)| m.source_topic == source)
            .and_then(|(i, m)| m.partitions.map(|n| (n, format!("spec.topicMapping[{i}].partitions"))))
    }
}
