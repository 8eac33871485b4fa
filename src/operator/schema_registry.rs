//! From a spec's Schema Registry (`KafkaBackup.spec.schemaRegistry`,
//! `KafkaRestore.spec.restore.schemaRegistry`) to what its Job needs: the data plane's
//! [`RegistryConnection`] naming only files, and the Secret volumes that put those files in
//! place. As for Kafka and storage, the operator never reads a Secret's value (it has no `get
//! secrets`): a missing Secret keeps the Job's pod waiting, which the controller reports naming
//! the field (`crate::api::secrets`).

use k8s_openapi::api::core::v1::{KeyToPath, SecretVolumeSource, Volume, VolumeMount};

use super::storage_access::StorageAccess;
use crate::api::cluster::SecretKeyRef;
use crate::api::schema_registry::{
    RegistryAuthenticationType, RegistryConnectionSpec, SchemaRegistryBackupSpec, SchemaRegistryRestoreSpec,
};
use crate::schema_registry::{RegistryAuth, RegistryBackup, RegistryConnection, RegistryRestore};

/// Where the Job finds the registry's secret files: `<MOUNT_ROOT>/<what>/<what>`.
pub const MOUNT_ROOT: &str = "/etc/strimzi-backup/schema-registry";

/// Mounts `key` of its Secret as `<MOUNT_ROOT>/<what>/<what>` and returns that path.
fn mount(access: &mut StorageAccess, what: &str, secret: &SecretKeyRef) -> std::path::PathBuf {
    let volume = format!("schema-registry-{what}");
    let dir = format!("{MOUNT_ROOT}/{what}");
    access.volumes.push(Volume {
        name: volume.clone(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.name.clone()),
            items: Some(vec![KeyToPath { key: secret.key.clone(), path: what.to_string(), mode: None }]),
            default_mode: Some(0o440),
            optional: Some(false),
        }),
        ..Default::default()
    });
    access.mounts.push(VolumeMount {
        name: volume,
        mount_path: dir.clone(),
        read_only: Some(true),
        ..Default::default()
    });
    format!("{dir}/{what}").into()
}

/// The connection the Job is told, its Secrets added to `access`. Incomplete authentication
/// (refused by the spec's rules before any Job) is left out rather than guessed.
pub fn connection(spec: &RegistryConnectionSpec, access: &mut StorageAccess) -> RegistryConnection {
    let ca_file = spec.tls.as_ref().and_then(|t| t.ca_secret.as_ref()).map(|ca| mount(access, "ca", ca));
    let authentication = spec.authentication.as_ref().and_then(|a| match a.type_ {
        RegistryAuthenticationType::Basic => {
            let username = a.username.clone()?;
            let password = a.password_secret.as_ref()?;
            Some(RegistryAuth::Basic { username, password_file: mount(access, "password", password) })
        }
        RegistryAuthenticationType::Bearer => {
            let token = a.token_secret.as_ref()?;
            Some(RegistryAuth::Bearer { token_file: mount(access, "token", token) })
        }
    });
    RegistryConnection { url: spec.url.clone(), ca_file, authentication }
}

/// What a backup Job is told about the registry to capture.
pub fn backup(spec: &SchemaRegistryBackupSpec, access: &mut StorageAccess) -> RegistryBackup {
    RegistryBackup { connection: connection(&spec.connection, access), subjects: spec.subjects.clone() }
}

/// What a restore Job is told about the target registry.
pub fn restore(spec: &SchemaRegistryRestoreSpec, access: &mut StorageAccess) -> RegistryRestore {
    RegistryRestore {
        connection: connection(&spec.connection, access),
        rewrite_schema_ids: spec.rewrite_schema_ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_mounted_files_and_the_config_names_only_paths() {
        let spec: SchemaRegistryBackupSpec = serde_yaml_ng::from_str(
            "url: https://sr:8081\ntls: {caSecret: {name: sr-ca, key: tls.crt}}\nauthentication: {type: basic, username: backup, passwordSecret: {name: sr-creds, key: pw}}\nsubjects: {include: ['.*-value']}",
        )
        .expect("spec");
        let mut access = StorageAccess::default();
        let config = backup(&spec, &mut access);
        assert_eq!(config.connection.url, "https://sr:8081");
        assert_eq!(
            config.connection.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/strimzi-backup/schema-registry/ca/ca"))
        );
        match &config.connection.authentication {
            Some(RegistryAuth::Basic { username, password_file }) => {
                assert_eq!(username, "backup");
                assert_eq!(
                    password_file,
                    std::path::Path::new("/etc/strimzi-backup/schema-registry/password/password")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(config.subjects.include, [".*-value"]);
        let mounted: Vec<(String, String, String)> = access
            .volumes
            .iter()
            .filter_map(|v| {
                let s = v.secret.as_ref()?;
                let item = s.items.as_ref()?.first()?;
                Some((s.secret_name.clone()?, item.key.clone(), item.path.clone()))
            })
            .collect();
        assert_eq!(
            mounted,
            [
                ("sr-ca".to_string(), "tls.crt".to_string(), "ca".to_string()),
                ("sr-creds".to_string(), "pw".to_string(), "password".to_string()),
            ]
        );
        let paths: Vec<&str> = access.mounts.iter().map(|m| m.mount_path.as_str()).collect();
        assert_eq!(
            paths,
            ["/etc/strimzi-backup/schema-registry/ca", "/etc/strimzi-backup/schema-registry/password"]
        );
        assert!(access.env.is_empty(), "no secret travels as an environment variable");
    }

    #[test]
    fn a_bearer_token_is_a_mounted_file_too() {
        let spec: SchemaRegistryRestoreSpec = serde_yaml_ng::from_str(
            "url: http://sr:8081\nauthentication: {type: bearer, tokenSecret: {name: sr-token, key: token}}\nrewriteSchemaIds: true",
        )
        .expect("spec");
        let mut access = StorageAccess::default();
        let config = restore(&spec, &mut access);
        assert!(config.rewrite_schema_ids);
        assert_eq!(
            config.connection.authentication,
            Some(RegistryAuth::Bearer {
                token_file: "/etc/strimzi-backup/schema-registry/token/token".into()
            })
        );
        assert_eq!(access.volumes.len(), 1);
    }
}
