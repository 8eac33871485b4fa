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
        filesystem_root: PathBuf::from(FILESYSTEM_MOUNT),
        snapshot_offsets: spec.rollback.as_ref().is_some_and(|r| r.enabled),
        schema_registry: None,
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
}
