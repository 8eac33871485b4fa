//! The config an `erase` Job runs with, rendered from the `KafkaDataErasure`: the location, the
//! erasure id (stable per object: a retried or killed Job resumes the same erasure), the
//! selection — keys from Secrets and ConfigMaps as mounted files only, never in the config, an
//! argument or the environment — and, for `alsoLiveTopics`, the connection (file paths only).

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, KeyToPath, SecretVolumeSource, Volume, VolumeMount};

use crate::api::erasure::KafkaDataErasureSpec;
use crate::api::storage::StorageSpec;
use crate::erase::EraseConfig;
use crate::erase::select::{HeaderSelector, KeySources, TimeRange};
use crate::kafka::KafkaConnection;
use crate::operator::storage_access::StorageAccess;

/// Where the key files are mounted: `<KEYS_DIR>/secret-<i>/keys`, `<KEYS_DIR>/configmap-<i>/keys`.
pub const KEYS_DIR: &str = "/etc/strimzi-backup/erasure-keys";
const KEYS_FILE: &str = "keys";

/// The erasure id of the object with `uid`: the same for every Job of it, so a rerun resumes.
pub fn erasure_id(uid: &str) -> String {
    format!("kde-{uid}")
}

/// Mounts each Secret and ConfigMap key of `spec.keys` into the Job through `access` and
/// returns the files the data plane reads.
pub fn key_files(spec: &KafkaDataErasureSpec, access: &mut StorageAccess) -> Vec<PathBuf> {
    let Some(keys) = &spec.keys else { return Vec::new() };
    let mut files = Vec::new();
    let mut mount = |volume: Volume, access: &mut StorageAccess| {
        let dir = format!("{KEYS_DIR}/{}", volume.name);
        access.mounts.push(VolumeMount {
            name: volume.name.clone(),
            mount_path: dir.clone(),
            read_only: Some(true),
            ..Default::default()
        });
        access.volumes.push(volume);
        files.push(PathBuf::from(format!("{dir}/{KEYS_FILE}")));
    };
    let item = |key: &str| Some(vec![KeyToPath { key: key.into(), path: KEYS_FILE.into(), mode: None }]);
    for (i, s) in keys.secret_key_refs.iter().enumerate() {
        let volume = Volume {
            name: format!("erasure-keys-secret-{i}"),
            secret: Some(SecretVolumeSource {
                secret_name: Some(s.name.clone()),
                items: item(&s.key),
                default_mode: Some(0o440),
                optional: Some(false),
            }),
            ..Default::default()
        };
        mount(volume, access);
    }
    for (i, c) in keys.config_map_key_refs.iter().enumerate() {
        let volume = Volume {
            name: format!("erasure-keys-configmap-{i}"),
            config_map: Some(ConfigMapVolumeSource {
                name: c.name.clone(),
                items: item(&c.key),
                optional: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        mount(volume, access);
    }
    files
}

/// The `erase` config of `spec` at `storage`, with the key files already mounted and the
/// encryption key file, if any.
pub fn render(
    spec: &KafkaDataErasureSpec,
    uid: &str,
    storage: StorageSpec,
    key_files: Vec<PathBuf>,
    encryption_key_file: Option<PathBuf>,
    kafka: KafkaConnection,
) -> EraseConfig {
    let keys = spec.keys.clone().unwrap_or_default();
    EraseConfig {
        storage,
        erasure_id: erasure_id(uid),
        topics: spec.topics.clone(),
        keys: KeySources { values: keys.values, base64_values: keys.base64_values, files: key_files },
        headers: spec
            .headers
            .iter()
            .map(|h| HeaderSelector { name: h.name.clone(), value: h.value.clone() })
            .collect(),
        time_range: spec.time_range.as_ref().map(|r| TimeRange { from: r.from.clone(), to: r.to.clone() }),
        encryption_key_file,
        also_live_topics: spec.also_live_topics,
        kafka: spec.also_live_topics.then_some(kafka),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_a_secret_are_a_mounted_file_and_never_in_the_config() {
        let spec: KafkaDataErasureSpec = serde_yaml_ng::from_str(
            "backupRef: {name: b}\ntopics: [orders]\nkeys: {values: [inline], secretKeyRefs: [{name: gdpr-keys, key: list}], configMapKeyRefs: [{name: cm, key: k}]}\n",
        )
        .expect("spec");
        let mut access = StorageAccess::default();
        let files = key_files(&spec, &mut access);
        assert_eq!(
            files,
            [
                PathBuf::from("/etc/strimzi-backup/erasure-keys/erasure-keys-secret-0/keys"),
                PathBuf::from("/etc/strimzi-backup/erasure-keys/erasure-keys-configmap-0/keys")
            ]
        );
        let secret = access.volumes[0].secret.as_ref().expect("a Secret volume");
        assert_eq!(secret.secret_name.as_deref(), Some("gdpr-keys"));
        assert_eq!(access.volumes[1].config_map.as_ref().map(|c| c.name.as_str()), Some("cm"));
        assert!(access.env.is_empty(), "no key in the environment");
        let config = render(&spec, "u-1", StorageSpec::default(), files, None, KafkaConnection::default());
        assert_eq!(config.erasure_id, "kde-u-1");
        assert!(config.kafka.is_none(), "no cluster without alsoLiveTopics");
        let yaml = serde_yaml_ng::to_string(&config).expect("yaml");
        assert!(!yaml.contains("gdpr-keys") && !yaml.contains("list\n"), "{yaml}");
        let back: EraseConfig = serde_yaml_ng::from_str(&yaml).expect("the data plane reads it");
        assert_eq!(back.keys.values, ["inline"]);
        assert_eq!(back.keys.files.len(), 2);
        assert_eq!(
            crate::erase::erasure_id_problem(&erasure_id("5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716")),
            None
        );
    }
}
