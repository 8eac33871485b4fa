//! The config a restore Job runs with, rendered from the `KafkaRestore` and what the operator
//! resolved: the target connection (file paths only), the storage the backups are in (the
//! referenced `KafkaBackup`'s, or `source.storage`), the backup id, and the restore id — the
//! `KafkaRestore`'s uid, so a retried Job resumes the same restore instead of starting another.

use std::path::PathBuf;

use crate::api::restore::KafkaRestoreSpec;
use crate::api::storage::StorageSpec;
use crate::kafka::KafkaConnection;
use crate::restore::RestoreConfig;
use crate::storage::FILESYSTEM_MOUNT;

/// The target registry of a restore (`spec.restore.schemaRegistry`), its Secrets added to
/// `access` as mounted files: the config names only their paths.
pub fn schema_registry(
    spec: &KafkaRestoreSpec,
    access: &mut crate::operator::storage_access::StorageAccess,
) -> Option<crate::schema_registry::RegistryRestore> {
    spec.restore.schema_registry.as_ref().map(|sr| crate::operator::schema_registry::restore(sr, access))
}

/// Where the masking hash key (`spec.masking.hashKeySecret`) is mounted in the restore Job.
pub const MASKING_KEY_FILE: &str = "/etc/strimzi-backup/masking/key";

/// The masking the Job applies (`spec.masking`), its hash key Secret added to `access` as a
/// mounted file: the config, the Job's env and args, the log and the status name only the path.
pub fn masking(
    spec: &KafkaRestoreSpec,
    access: &mut crate::operator::storage_access::StorageAccess,
) -> Option<crate::restore::masking::MaskingConfig> {
    use k8s_openapi::api::core::v1::{KeyToPath, SecretVolumeSource, Volume, VolumeMount};
    let masking = spec.masking.as_ref()?;
    let hash_key_file = masking.hash_key_secret.as_ref().map(|secret| {
        let (dir, file) = MASKING_KEY_FILE.rsplit_once('/').unwrap_or(("/", MASKING_KEY_FILE));
        access.volumes.push(Volume {
            name: "masking-key".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.name.clone()),
                items: Some(vec![KeyToPath { key: secret.key.clone(), path: file.into(), mode: None }]),
                default_mode: Some(0o440),
                optional: Some(false),
            }),
            ..Default::default()
        });
        access.mounts.push(VolumeMount {
            name: "masking-key".into(),
            mount_path: dir.into(),
            read_only: Some(true),
            ..Default::default()
        });
        PathBuf::from(MASKING_KEY_FILE)
    });
    Some(crate::restore::masking::MaskingConfig {
        rules: masking.rules.clone(),
        on_parse_error: masking.on_parse_error,
        hash_key_file,
    })
}

pub fn render(
    spec: &KafkaRestoreSpec,
    uid: &str,
    kafka: KafkaConnection,
    storage: StorageSpec,
    encryption_key_file: Option<PathBuf>,
) -> RestoreConfig {
    let backup_id = spec
        .backup_ref
        .as_ref()
        .and_then(|r| r.backup_id.clone())
        .or_else(|| spec.source.as_ref().and_then(|s| s.backup_id.clone()));
    RestoreConfig {
        restore_id: Some(uid.to_string()),
        kafka,
        storage,
        backup_id,
        point_in_time: spec.point_in_time.clone(),
        topics: spec.topics.clone(),
        topic_mapping: spec.topic_mapping.clone(),
        consumer_groups: spec.consumer_groups.clone(),
        // The registry goes to the data plane as `schemaRegistry`, its Secrets as files.
        restore: crate::api::restore::RestoreSettings { schema_registry: None, ..spec.restore.clone() },
        encryption_key_file,
        // Set by the controller with the source backup's KMS settings, its Secrets mounted.
        kms: None,
        filesystem_root: PathBuf::from(FILESYSTEM_MOUNT),
        snapshot_offsets: spec.rollback.as_ref().is_some_and(|r| r.enabled),
        schema_registry: None,
        // Rendered by [`masking`], which mounts its key.
        masking: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dr_restore_from_storage_resumes_under_its_uid() {
        let spec: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'dr:9092'}\nsource:\n  storage: {type: s3, s3: {bucket: b, region: r}}\n  backupId: nightly-29390400\npointInTime: {timestamp: '2026-02-13T01:30:00.000Z'}\ntopicMapping: [{sourceTopic: orders, targetTopic: orders-dr}]\n",
        )
        .expect("spec");
        let storage = spec.source.as_ref().map(|s| s.storage.clone()).unwrap_or_default();
        let kafka = KafkaConnection { bootstrap_servers: "dr:9092".into(), ..Default::default() };
        let config = render(&spec, "6f1c2a4e-0d1f", kafka, storage, None);
        assert_eq!(config.restore_id.as_deref(), Some("6f1c2a4e-0d1f"));
        assert_eq!(config.backup_id.as_deref(), Some("nightly-29390400"));
        assert_eq!(config.target_topic("orders"), "orders-dr");
        let yaml = serde_yaml_ng::to_string(&config).expect("yaml");
        let back: RestoreConfig = serde_yaml_ng::from_str(&yaml).expect("the data plane reads it");
        assert_eq!(back.point_in_time, spec.point_in_time);
    }

    #[test]
    fn the_target_registry_is_rendered_once_with_its_token_as_a_mounted_file() {
        let spec: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'dr:9092'}\nbackupRef: {name: nightly}\nrestore: {schemaRegistry: {url: 'http://dr-sr:8081', authentication: {type: bearer, tokenSecret: {name: sr-token, key: token}}, rewriteSchemaIds: true}}\n",
        )
        .expect("spec");
        let mut access = crate::operator::storage_access::StorageAccess::default();
        let kafka = KafkaConnection { bootstrap_servers: "dr:9092".into(), ..Default::default() };
        let mut config = render(&spec, "uid", kafka, StorageSpec::default(), None);
        config.schema_registry = schema_registry(&spec, &mut access);
        let yaml = serde_yaml_ng::to_string(&config).expect("yaml");
        let back: RestoreConfig = serde_yaml_ng::from_str(&yaml).expect("the data plane reads it");
        let sr = back.schema_registry.expect("schemaRegistry in the config");
        assert!(sr.rewrite_schema_ids);
        assert_eq!(sr.connection.url, "http://dr-sr:8081");
        assert!(back.restore.schema_registry.is_none(), "the spec's references are not passed on: {yaml}");
        assert!(yaml.contains("tokenFile: /etc/strimzi-backup/schema-registry/token/token"), "{yaml}");
        assert!(!yaml.contains("sr-token"), "{yaml}");
        assert_eq!(access.volumes.len(), 1);
    }

    #[test]
    fn the_masking_hash_key_is_a_mounted_file_and_never_in_the_config() {
        let spec: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'dev:9092'}\nbackupRef: {name: nightly}\nmasking:\n  hashKeySecret: {name: mask-key, key: hmac}\n  onParseError: skip\n  rules: [{target: value, jsonPath: '$.email', action: hash}]\n",
        )
        .expect("spec");
        let mut access = crate::operator::storage_access::StorageAccess::default();
        let kafka = KafkaConnection { bootstrap_servers: "dev:9092".into(), ..Default::default() };
        let mut config = render(&spec, "uid", kafka, StorageSpec::default(), None);
        config.masking = masking(&spec, &mut access);
        let yaml = serde_yaml_ng::to_string(&config).expect("yaml");
        let back: RestoreConfig = serde_yaml_ng::from_str(&yaml).expect("the data plane reads it");
        let m = back.masking.expect("masking in the config");
        assert_eq!(m.hash_key_file.as_deref(), Some(std::path::Path::new(MASKING_KEY_FILE)));
        assert_eq!(m.on_parse_error, crate::api::masking::OnParseError::Skip);
        assert!(!yaml.contains("mask-key") && !yaml.contains("hmac"), "{yaml}");
        let volume = access.volumes[0].secret.as_ref().expect("a Secret volume");
        assert_eq!(volume.secret_name.as_deref(), Some("mask-key"));
        assert!(access.env.is_empty(), "never an environment variable");
    }
}
