//! What a drill is told (rendered by the operator, or written by hand), and the restore it runs:
//! into `<topicPrefix><topic>`, creating the topics, refusing any that exists, no consumer
//! groups. It never holds a secret.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::api::restore::{
    ExistingTopicPolicy, RestoreConsumerGroups, RestoreSettings, TopicCreation, TopicMapping,
};
use crate::api::selection::Selection;
use crate::api::storage::StorageSpec;
use crate::kafka::KafkaConnection;
use crate::restore::RestoreConfig;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillConfig {
    /// Names the drill; its restore's resume state and lease are `restores/drill-<drillId>/`
    /// at the location (removed when the drill ends). A new id per run when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_id: Option<String>,
    /// The cluster the scratch topics are restored into.
    pub kafka: KafkaConnection,
    pub storage: StorageSpec,
    /// The restore point drilled; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_file: Option<PathBuf>,
    /// The KMS that wraps the data keys of backups encrypted with keys from a KMS
    /// (`backup.encryption.kms`), its Secrets as mounted files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<crate::kms::KmsAccess>,
    /// Which backed-up topics are drilled.
    #[serde(default)]
    pub topics: Selection,
    /// Scratch topics are `<topicPrefix><topic>`; required, so a drill never writes to a
    /// backed-up topic's own name.
    pub topic_prefix: String,
    /// Refuse (before writing anything) a selection holding more records than this: a drill
    /// copies the restore point into the cluster it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_records: Option<u64>,
    /// Partitions restored and compared at once.
    #[serde(default = "parallelism")]
    pub parallelism: i32,
    #[serde(default = "filesystem_root")]
    pub filesystem_root: PathBuf,
    /// Write the result as evidence at the location (`verifications/<backupId>/<drillId>.json`),
    /// where every cluster that syncs the location sees it. Only where the operator may write:
    /// a `KafkaBackup`'s own location, or a `KafkaBackupLocation` with `accessMode: ReadWrite`.
    #[serde(default)]
    pub record_evidence: bool,
}

fn parallelism() -> i32 {
    4
}

fn filesystem_root() -> PathBuf {
    PathBuf::from(crate::storage::FILESYSTEM_MOUNT)
}

/// Kafka's rule for topic names: at most 249 of `[a-zA-Z0-9._-]`.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl DrillConfig {
    /// What is wrong with the settings themselves, before anything is read.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.topic_prefix.is_empty(),
            "topicPrefix is required: scratch topics are named <topicPrefix><topic>, never a backed-up topic's name"
        );
        anyhow::ensure!(
            self.topic_prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "topicPrefix `{}`: use letters, digits, `.`, `_` or `-` (Kafka topic names)",
            self.topic_prefix
        );
        anyhow::ensure!(self.parallelism >= 1, "parallelism must be at least 1");
        // It names objects at the location (`restores/drill-<drillId>/`), checked before any is read.
        if let Some(id) = &self.drill_id {
            anyhow::ensure!(
                !id.is_empty()
                    && id.len() <= 120
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "drillId `{id}`: use 1-120 letters, digits, `-`, `_` or `.`"
            );
        }
        Ok(())
    }

    pub fn scratch_topic(&self, source: &str) -> String {
        format!("{}{source}", self.topic_prefix)
    }

    /// The restore a drill runs: the selected topics into their scratch names, created by the
    /// restore (an existing one refuses it), no consumer-group offsets.
    pub fn restore_config(&self, restore_id: &str, backup_id: &str, topics: &[String]) -> RestoreConfig {
        RestoreConfig {
            masking: None,
            restore_id: Some(restore_id.into()),
            kafka: self.kafka.clone(),
            storage: self.storage.clone(),
            backup_id: Some(backup_id.into()),
            point_in_time: None,
            topics: self.topics.clone(),
            topic_mapping: topics
                .iter()
                .map(|t| TopicMapping {
                    source_topic: t.clone(),
                    target_topic: self.scratch_topic(t),
                    partitions: None,
                })
                .collect(),
            consumer_groups: Some(RestoreConsumerGroups {
                restore: false,
                include: None,
                mapping: Vec::new(),
            }),
            restore: RestoreSettings {
                topic_creation: TopicCreation::Auto,
                existing_topic_policy: ExistingTopicPolicy::Fail,
                parallelism: self.parallelism,
                dry_run: false,
                ..Default::default()
            },
            encryption_key_file: self.encryption_key_file.clone(),
            kms: self.kms.clone(),
            snapshot_offsets: false,
            filesystem_root: self.filesystem_root.clone(),
            schema_registry: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: &str) -> DrillConfig {
        serde_json::from_value(serde_json::json!({
            "kafka": {"bootstrapServers": "k:9092"},
            "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r"}},
            "topicPrefix": prefix,
        }))
        .expect("config")
    }

    #[test]
    fn the_restore_writes_only_scratch_topics_it_creates_and_no_groups() {
        let cfg = config("drill-");
        cfg.check().expect("valid");
        let restore = cfg.restore_config("drill-x", "b1", &["orders".into()]);
        assert_eq!(restore.target_topic("orders"), "drill-orders");
        assert_eq!(restore.restore.existing_topic_policy, ExistingTopicPolicy::Fail);
        assert_eq!(restore.restore.topic_creation, TopicCreation::Auto);
        assert!(!restore.consumer_groups.expect("groups").restore);
        assert_eq!(restore.backup_id.as_deref(), Some("b1"));
    }

    #[test]
    fn an_empty_or_unusable_prefix_or_drill_id_is_refused() {
        assert!(config("").check().is_err());
        assert!(config("a/b").check().is_err());
        assert!(valid_topic_name("drill-orders") && !valid_topic_name(&"x".repeat(250)));
        for bad in ["", "../x", "a/b", "spaces here"] {
            let cfg = DrillConfig { drill_id: Some(bad.into()), ..config("drill-") };
            assert!(cfg.check().is_err(), "drillId {bad:?}");
        }
        let cfg = DrillConfig { drill_id: Some("kb-orders.20261203_0200".into()), ..config("drill-") };
        assert!(cfg.check().is_ok());
    }
}
