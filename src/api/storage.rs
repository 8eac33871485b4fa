//! Where backups live (SPEC §2.2 `storage`): one object store per resource, selected by `type`
//! with exactly the matching block filled in.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Object storage backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    /// Amazon S3 or any S3-compatible store (MinIO, Ceph RGW, OpenShift Data Foundation).
    S3,
    /// Azure Blob Storage.
    Azure,
    /// Google Cloud Storage.
    Gcs,
    /// A PersistentVolumeClaim mounted into the Job.
    #[default]
    Filesystem,
}

/// The storage location of backups.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.s3) == (self.type == 's3')")
    .message("storage.s3 must be set when storage.type is s3, and only then"))]
#[x_kube(validation = Rule::new("has(self.azure) == (self.type == 'azure')")
    .message("storage.azure must be set when storage.type is azure, and only then"))]
#[x_kube(validation = Rule::new("has(self.gcs) == (self.type == 'gcs')")
    .message("storage.gcs must be set when storage.type is gcs, and only then"))]
#[x_kube(validation = Rule::new("has(self.filesystem) == (self.type == 'filesystem')")
    .message("storage.filesystem must be set when storage.type is filesystem, and only then"))]
pub struct StorageSpec {
    /// Which backend; the block of the same name must be set and no other.
    #[serde(rename = "type")]
    pub type_: StorageType,
    /// Amazon S3 or S3-compatible storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Storage>,
    /// Azure Blob Storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureStorage>,
    /// Google Cloud Storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GcsStorage>,
    /// A PersistentVolumeClaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FilesystemStorage>,
}

impl StorageSpec {
    /// This storage as a resource `namespace/name` uses it: with `<namespace>/<name>/` as its
    /// prefix (filesystem: path) when none is set, so two resources given the same bucket never
    /// write the same objects. `/` names the bucket's root explicitly.
    pub fn located_for(&self, namespace: &str, name: &str) -> StorageSpec {
        let default = || Some(format!("{namespace}/{name}/"));
        let mut out = self.clone();
        let prefix = match out.type_ {
            StorageType::S3 => out.s3.as_mut().map(|s| &mut s.prefix),
            StorageType::Azure => out.azure.as_mut().map(|s| &mut s.prefix),
            StorageType::Gcs => out.gcs.as_mut().map(|s| &mut s.prefix),
            StorageType::Filesystem => out.filesystem.as_mut().map(|s| &mut s.path),
        };
        if let Some(prefix) = prefix
            && prefix.as_deref().is_none_or(str::is_empty)
        {
            *prefix = default();
        }
        out
    }
}

/// Amazon S3 or an S3-compatible store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Storage {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Region of the bucket, e.g. `eu-west-1` (any value for most S3-compatible stores).
    #[schemars(length(min = 1))]
    pub region: String,
    /// Endpoint URL for S3-compatible stores, e.g. `https://minio.minio.svc:9000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Key prefix under which this resource's backups are stored, e.g. `prod/orders/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Use path-style addressing (`endpoint/bucket/key`), which MinIO and most S3-compatible
    /// stores need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_path_style: Option<bool>,
    /// Secret with the access key pair. Omit to use the environment's credential chain (IRSA,
    /// EKS Pod Identity, instance profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<S3CredentialsSecret>,
}

/// Secret holding S3 access keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3CredentialsSecret {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key holding the access key id.
    #[serde(default = "default_access_key_id_key")]
    pub access_key_id_key: String,
    /// Key holding the secret access key.
    #[serde(default = "default_secret_access_key_key")]
    pub secret_access_key_key: String,
}

fn default_access_key_id_key() -> String {
    "AWS_ACCESS_KEY_ID".into()
}

fn default_secret_access_key_key() -> String {
    "AWS_SECRET_ACCESS_KEY".into()
}

/// Azure Blob Storage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureStorage {
    /// Blob container name.
    #[schemars(length(min = 3, max = 63))]
    pub container: String,
    /// Storage account name.
    #[schemars(length(min = 1))]
    pub storage_account: String,
    /// Blob name prefix under which this resource's backups are stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Blob service endpoint, for sovereign clouds or Azurite, e.g.
    /// `http://azurite:10000/devstoreaccount1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Secret with an account key or SAS token. Omit to use workload identity / managed identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<AzureCredentialsSecret>,
}

/// Secret holding Azure Blob credentials: an account key, or a SAS token when `sasTokenKey` is
/// set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureCredentialsSecret {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key holding the storage account key.
    #[serde(default = "default_account_key_key")]
    pub account_key_key: String,
    /// Key holding a SAS token; when set it is used instead of the account key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas_token_key: Option<String>,
}

fn default_account_key_key() -> String {
    "AZURE_STORAGE_ACCOUNT_KEY".into()
}

/// Google Cloud Storage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcsStorage {
    /// Bucket name.
    #[schemars(length(min = 3, max = 222))]
    pub bucket: String,
    /// Object name prefix under which this resource's backups are stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// API endpoint, for private endpoints or an emulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Secret with a service account key (JSON). Omit to use Workload Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<GcsCredentialsSecret>,
}

/// Secret holding a GCP service account key file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcsCredentialsSecret {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key holding the service account JSON.
    #[serde(default = "default_gcs_key")]
    pub key: String,
}

fn default_gcs_key() -> String {
    "service-account.json".into()
}

/// A PersistentVolumeClaim in the resource's namespace, mounted into the backup/restore Job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilesystemStorage {
    /// Name of the PersistentVolumeClaim. ReadWriteMany lets backups and restores run on any
    /// node at once; ReadWriteOnce works when they never overlap.
    #[schemars(length(min = 1))]
    pub claim_name: String,
    /// Directory inside the volume under which backups are stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(prefix: Option<&str>) -> StorageSpec {
        StorageSpec {
            type_: StorageType::S3,
            s3: Some(S3Storage {
                bucket: "b".into(),
                region: "r".into(),
                prefix: prefix.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_resource_without_a_prefix_writes_under_its_namespace_and_name() {
        let prefix = |spec: StorageSpec| spec.s3.and_then(|s| s.prefix);
        assert_eq!(prefix(s3(None).located_for("kafka", "nightly")).as_deref(), Some("kafka/nightly/"));
        assert_eq!(prefix(s3(Some("")).located_for("kafka", "nightly")).as_deref(), Some("kafka/nightly/"));
        assert_eq!(
            prefix(s3(Some("prod/")).located_for("kafka", "nightly")).as_deref(),
            Some("prod/"),
            "kept"
        );
        assert_eq!(
            prefix(s3(Some("/")).located_for("kafka", "nightly")).as_deref(),
            Some("/"),
            "the root, explicitly"
        );
        let fs = StorageSpec {
            type_: StorageType::Filesystem,
            filesystem: Some(FilesystemStorage { claim_name: "pvc".into(), path: None }),
            ..Default::default()
        };
        assert_eq!(
            fs.located_for("kafka", "nightly").filesystem.and_then(|f| f.path).as_deref(),
            Some("kafka/nightly/")
        );
    }
}
