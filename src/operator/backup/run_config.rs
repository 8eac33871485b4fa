//! The config a backup Job runs with, rendered from the `KafkaBackup` and what the operator
//! resolved: the connection (file paths only), the run's deterministic backup id, and — for
//! scheduled runs — the retention policy with the backups running restores read. It goes into a
//! ConfigMap; it never holds a secret.

use std::path::PathBuf;

use kube::ResourceExt;

use crate::api::backup::{KafkaBackup, KafkaBackupSpec};
use crate::backup::BackupConfig;
use crate::kafka::KafkaConnection;
use crate::location::Owner;
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
    /// The KMS wrapping each backup's data key (`backup.encryption.kms`), its Secrets mounted.
    pub kms: Option<crate::kms::KmsAccess>,
    /// The `KafkaBackup` that owns the location, and whether it takes the location over.
    pub owner: Option<Owner>,
    pub take_over: bool,
    /// The backup ids the `KafkaBackup`'s restore points hold: the run reports the others.
    pub known_restore_points: Option<Vec<String>>,
    /// The Strimzi resources the operator read for the run (`backup.strimziResources`).
    pub strimzi_resources: Option<crate::backup::strimzi_resources::StrimziResourcesInput>,
    /// The Schema Registry to capture (`spec.schemaRegistry`), its Secrets mounted as files.
    pub schema_registry: Option<crate::schema_registry::RegistryBackup>,
}

/// The annotation that lets a `KafkaBackup` take a storage location over from another owner.
pub const TAKE_OVER_ANNOTATION: &str = "kafkabackup.com/take-over-location";

/// The location owner a `KafkaBackup`'s Jobs write as.
pub fn owner(kb: &KafkaBackup) -> Owner {
    Owner { kind: "KafkaBackup".into(), namespace: kb.namespace(), name: kb.name_any(), uid: kb.uid() }
}

/// Whether the `KafkaBackup` asks to take its location over (`kafkabackup.com/take-over-location:
/// "true"`).
pub fn takes_over(kb: &KafkaBackup) -> bool {
    kb.annotations().get(TAKE_OVER_ANNOTATION).is_some_and(|v| v == "true")
}

/// The storage a `KafkaBackup` writes to: its own, with the default prefix
/// `<namespace>/<name>/` when it sets none.
pub fn storage(kb: &KafkaBackup) -> crate::api::storage::StorageSpec {
    kb.spec.storage.located_for(&kb.namespace().unwrap_or_default(), &kb.name_any())
}

/// The Secret key a `KafkaBackup`'s backups are encrypted with, when encryption is on: what
/// its runs encrypt with and what a restore or drill of them decrypts with.
pub fn encryption_key(kb: &KafkaBackup) -> Option<&crate::api::cluster::SecretKeyRef> {
    kb.spec.backup.encryption.as_ref().filter(|e| e.enabled).and_then(|e| e.key_secret.as_ref())
}

/// The registry a run captures (`spec.schemaRegistry`), its Secrets added to `access` as
/// mounted files: the config names only their paths.
pub fn schema_registry(
    spec: &KafkaBackupSpec,
    access: &mut crate::operator::storage_access::StorageAccess,
) -> Option<crate::schema_registry::RegistryBackup> {
    spec.schema_registry.as_ref().map(|sr| crate::operator::schema_registry::backup(sr, access))
}

pub fn render(
    spec: &KafkaBackupSpec,
    storage: crate::api::storage::StorageSpec,
    kafka: KafkaConnection,
    run: &Run,
) -> BackupConfig {
    BackupConfig {
        backup_id: Some(run.backup_id.clone()),
        kafka,
        storage,
        topics: spec.topics.clone(),
        consumer_groups: spec.consumer_groups.clone(),
        backup: spec.backup.clone(),
        encryption_key_file: run.encryption_key_file.clone(),
        kms: run.kms.clone(),
        filesystem_root: PathBuf::from(FILESYSTEM_MOUNT),
        retention: spec.retention.clone().filter(|r| run.scheduled && r.prune_on_schedule),
        protected_backups: run.protected.clone(),
        orphan_grace_period: "24h".into(),
        owner: run.owner.clone(),
        take_over_location: run.take_over,
        known_restore_points: run.known_restore_points.clone(),
        schema_registry: run.schema_registry.clone(),
        strimzi_resources: run.strimzi_resources.clone(),
        fence_lineage: false,
        manifests: Default::default(),
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
        let config = render(&spec(), spec().storage, kafka.clone(), &scheduled);
        assert_eq!(config.retention.as_ref().and_then(|r: &Retention| r.max_backups), Some(3));
        let yaml = to_yaml(&config).expect("yaml");
        let back: BackupConfig = serde_yaml_ng::from_str(&yaml).expect("the data plane reads it");
        assert_eq!(back.backup_id.as_deref(), Some("nightly-29390400"));
        assert!(!yaml.to_lowercase().contains("password") && !yaml.contains("secret"), "{yaml}");
        let manual = Run { backup_id: "nightly-manual-1".into(), ..Default::default() };
        assert!(render(&spec(), spec().storage, kafka, &manual).retention.is_none());
    }

    #[test]
    fn the_schema_registry_is_rendered_with_its_secrets_as_mounted_files() {
        let spec: KafkaBackupSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nstorage: {type: s3, s3: {bucket: b, region: r}}\nschemaRegistry: {url: 'https://sr:8081', tls: {caSecret: {name: sr-ca, key: ca.crt}}, authentication: {type: basic, username: backup, passwordSecret: {name: sr-creds, key: pw}}, subjects: {include: ['.*-value']}}\n",
        )
        .expect("spec");
        let mut access = crate::operator::storage_access::StorageAccess::for_storage(&spec.storage);
        let run = Run {
            backup_id: "b-1".into(),
            schema_registry: schema_registry(&spec, &mut access),
            ..Default::default()
        };
        let kafka = KafkaConnection { bootstrap_servers: "k:9092".into(), ..Default::default() };
        let yaml = to_yaml(&render(&spec, spec.storage.clone(), kafka, &run)).expect("yaml");
        let back: BackupConfig = serde_yaml_ng::from_str(&yaml).expect("the data plane reads it");
        let sr = back.schema_registry.expect("schemaRegistry in the config");
        assert_eq!(sr.connection.url, "https://sr:8081");
        assert_eq!(sr.subjects.include, [".*-value"]);
        assert!(
            yaml.contains("passwordFile: /etc/strimzi-backup/schema-registry/password/password"),
            "{yaml}"
        );
        assert!(yaml.contains("caFile: /etc/strimzi-backup/schema-registry/ca/ca"), "{yaml}");
        // References stay in the spec: the config has neither the Secrets' names nor their keys.
        assert!(!yaml.contains("sr-creds") && !yaml.contains("sr-ca") && !yaml.contains("pw\n"), "{yaml}");
        let secrets: Vec<_> =
            access.volumes.iter().filter_map(|v| v.secret.as_ref()?.secret_name.clone()).collect();
        assert_eq!(secrets, ["sr-ca", "sr-creds"]);
    }
}
