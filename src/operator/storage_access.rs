//! How a Job reaches its storage: the credentials Secret of the storage block as the standard
//! variables each cloud's SDK reads (`secretKeyRef`, never a value), a GCS key as a mounted file,
//! a filesystem PersistentVolumeClaim at [`FILESYSTEM_MOUNT`], and an encryption key as a file.
//! Without a credentials Secret nothing is added and the cloud's own identity chain applies
//! (IRSA / EKS Pod Identity, Azure workload identity, GKE Workload Identity).

use k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, KeyToPath, PersistentVolumeClaimVolumeSource, SecretKeySelector,
    SecretVolumeSource, Volume, VolumeMount,
};

use crate::api::cluster::SecretKeyRef;
use crate::api::storage::{StorageSpec, StorageType};
use crate::storage::FILESYSTEM_MOUNT;

/// Where a GCS service-account key is mounted.
pub const GCS_KEY_FILE: &str = "/etc/strimzi-backup/gcs/key.json";
/// Where the encryption key is mounted.
pub const ENCRYPTION_KEY_FILE: &str = "/etc/strimzi-backup/encryption/key";

/// Variables, volumes and mounts that give a Job its storage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StorageAccess {
    pub env: Vec<EnvVar>,
    pub volumes: Vec<Volume>,
    pub mounts: Vec<VolumeMount>,
}

fn from_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl StorageAccess {
    pub(crate) fn mount_secret_file(&mut self, volume: &str, secret: &str, key: &str, file: &str) {
        let (dir, name) = file.rsplit_once('/').unwrap_or(("/", file));
        self.volumes.push(Volume {
            name: volume.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.into()),
                items: Some(vec![KeyToPath { key: key.into(), path: name.into(), mode: None }]),
                default_mode: Some(0o440),
                optional: Some(false),
            }),
            ..Default::default()
        });
        self.mounts.push(VolumeMount {
            name: volume.into(),
            mount_path: dir.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }

    /// What the storage block needs.
    pub fn for_storage(spec: &StorageSpec) -> Self {
        let mut access = Self::default();
        match spec.type_ {
            StorageType::S3 => {
                if let Some(c) = spec.s3.as_ref().and_then(|s| s.credentials_secret.as_ref()) {
                    access.env.push(from_secret("AWS_ACCESS_KEY_ID", &c.name, &c.access_key_id_key));
                    access.env.push(from_secret("AWS_SECRET_ACCESS_KEY", &c.name, &c.secret_access_key_key));
                }
            }
            StorageType::Azure => {
                if let Some(c) = spec.azure.as_ref().and_then(|a| a.credentials_secret.as_ref()) {
                    access.env.push(match &c.sas_token_key {
                        Some(sas) => from_secret("AZURE_STORAGE_SAS_TOKEN", &c.name, sas),
                        None => from_secret("AZURE_STORAGE_ACCOUNT_KEY", &c.name, &c.account_key_key),
                    });
                }
            }
            StorageType::Gcs => {
                if let Some(c) = spec.gcs.as_ref().and_then(|g| g.credentials_secret.as_ref()) {
                    access.mount_secret_file("gcs-key", &c.name, &c.key, GCS_KEY_FILE);
                    access.env.push(EnvVar {
                        name: "GOOGLE_SERVICE_ACCOUNT".into(),
                        value: Some(GCS_KEY_FILE.into()),
                        ..Default::default()
                    });
                }
            }
            StorageType::Filesystem => {
                if let Some(fs) = &spec.filesystem {
                    access.volumes.push(Volume {
                        name: "storage".into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: fs.claim_name.clone(),
                            read_only: Some(false),
                        }),
                        ..Default::default()
                    });
                    access.mounts.push(VolumeMount {
                        name: "storage".into(),
                        mount_path: FILESYSTEM_MOUNT.into(),
                        ..Default::default()
                    });
                }
            }
        }
        access
    }

    /// The same access with the filesystem volume mounted read-only: for Jobs that must never
    /// write to the location (a `KafkaBackupLocation` in `ReadOnly` mode). Object stores are
    /// read-only by what the Job does; a volume can be made so by the kubelet.
    pub fn read_only(mut self) -> Self {
        for v in &mut self.volumes {
            if let Some(pvc) = v.persistent_volume_claim.as_mut() {
                pvc.read_only = Some(true);
            }
        }
        for m in &mut self.mounts {
            if m.mount_path == FILESYSTEM_MOUNT {
                m.read_only = Some(true);
            }
        }
        self
    }

    /// Adds the encryption key as a file; returns its path for the config.
    pub fn with_encryption_key(&mut self, key: &SecretKeyRef) -> &'static str {
        self.mount_secret_file("encryption-key", &key.name, &key.key, ENCRYPTION_KEY_FILE);
        ENCRYPTION_KEY_FILE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::storage::{
        FilesystemStorage, GcsCredentialsSecret, GcsStorage, S3CredentialsSecret, S3Storage,
    };

    #[test]
    fn s3_credentials_are_references_only() {
        let spec = StorageSpec {
            type_: StorageType::S3,
            s3: Some(S3Storage {
                bucket: "b".into(),
                region: "eu-west-1".into(),
                credentials_secret: Some(S3CredentialsSecret {
                    name: "s3-creds".into(),
                    access_key_id_key: "id".into(),
                    secret_access_key_key: "secret".into(),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let access = StorageAccess::for_storage(&spec);
        assert_eq!(access.env.len(), 2);
        for var in &access.env {
            assert_eq!(var.value, None, "no value inline");
            let selector =
                var.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).expect("secretKeyRef");
            assert_eq!(selector.name, "s3-creds");
        }
        assert!(access.volumes.is_empty());
    }

    #[test]
    fn gcs_key_file_filesystem_claim_and_encryption_key() {
        let gcs = StorageSpec {
            type_: StorageType::Gcs,
            gcs: Some(GcsStorage {
                bucket: "b".into(),
                credentials_secret: Some(GcsCredentialsSecret { name: "gcs".into(), key: "sa.json".into() }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut access = StorageAccess::for_storage(&gcs);
        assert_eq!(access.env[0].value.as_deref(), Some(GCS_KEY_FILE));
        assert_eq!(access.mounts[0].mount_path, "/etc/strimzi-backup/gcs");
        let file = access.with_encryption_key(&SecretKeyRef { name: "k".into(), key: "key".into() });
        assert_eq!(file, "/etc/strimzi-backup/encryption/key");
        assert_eq!(access.volumes.len(), 2);

        let fs = StorageSpec {
            type_: StorageType::Filesystem,
            filesystem: Some(FilesystemStorage { claim_name: "backups".into(), path: None }),
            ..Default::default()
        };
        let access = StorageAccess::for_storage(&fs);
        assert_eq!(
            access.volumes[0].persistent_volume_claim.as_ref().map(|p| p.claim_name.as_str()),
            Some("backups")
        );
        assert_eq!(access.mounts[0].mount_path, FILESYSTEM_MOUNT);
        let none = StorageAccess::for_storage(&StorageSpec { type_: StorageType::S3, ..Default::default() });
        assert_eq!(none, StorageAccess::default(), "no Secret: the cloud's identity chain");
    }
}
