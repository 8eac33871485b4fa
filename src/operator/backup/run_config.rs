//! The config a backup Job runs with, rendered from the `KafkaBackup` and what the operator
//! resolved: the connection (file paths only), the run's deterministic backup id, and — for
//! scheduled runs — the retention policy with the backups running restores read. It goes into a
//! ConfigMap; it never holds a secret.

use std::path::PathBuf;

use crate::api::backup::KafkaBackupSpec;
use crate::backup::BackupConfig;
use crate::kafka::KafkaConnection;
use crate::storage::FILESYSTEM_MOUNT;

/// One run of a `KafkaBackup`.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Deterministic: derived from the schedule slot, the trigger value or the object itself.
    pub backup_id: String,
    /// Scheduled runs prune (when the policy says so); on-demand runs never do.
    pub scheduled: bool,
    /// Backups running restores read.
    pub protected: Vec<String>,
    /// Where the encryption key is mounted, when encryption is on.
    pub encryption_key_file: Option<PathBuf>,
}

pub fn render(spec: &KafkaBackupSpec, kafka: KafkaConnection, run: &Run) -> BackupConfig {
    BackupConfig {
        backup_id: Some(run.backup_id.clone()),
        kafka,
        storage: spec.storage.clone(),
        topics: spec.topics.clone(),
        consumer_groups: spec.consumer_groups.clone(),
        backup: spec.backup.clone(),
        encryption_key_file: run.encryption_key_file.clone(),
        filesystem_root: PathBuf::from(FILESYSTEM_MOUNT),
        retention: spec.retention.clone().filter(|r| run.scheduled && r.prune_on_schedule),
        protected_backups: run.protected.clone(),
        orphan_grace_period: "24h".into(),
    }
}

/// The YAML the ConfigMap holds.
pub fn to_yaml(config: &BackupConfig) -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backup::Retention;

    fn spec() -> KafkaBackupSpec {
        serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nstorage: {type: s3, s3: {bucket: b, region: r}}\nretention: {maxBackups: 3}\n",
        )
        .expect("spec")
    }

    #[test]
    fn only_scheduled_runs_prune_and_the_config_reads_back() {
        let kafka = KafkaConnection { bootstrap_servers: "k:9092".into(), ..Default::default() };
        let scheduled = Run { backup_id: "nightly-29390400".into(), scheduled: true, ..Default::default() };
        let config = render(&spec(), kafka.clone(), &scheduled);
        assert_eq!(config.retention.as_ref().and_then(|r: &Retention| r.max_backups), Some(3));
        let yaml = to_yaml(&config).expect("yaml");
        let back: BackupConfig = serde_yaml_ng::from_str(&yaml).expect("the data plane reads it");
        assert_eq!(back.backup_id.as_deref(), Some("nightly-29390400"));
        assert!(!yaml.to_lowercase().contains("password") && !yaml.contains("secret"), "{yaml}");
        let manual = Run { backup_id: "nightly-manual-1".into(), ..Default::default() };
        assert!(render(&spec(), kafka, &manual).retention.is_none());
    }
}
