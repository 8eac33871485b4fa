//! Opens the object store a `storage` block describes, through object_store.
//!
//! Credentials never travel in the spec or a config file: the Job gets them from Secrets as the
//! standard environment variables of each cloud (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
//! `AZURE_STORAGE_ACCOUNT_KEY` or `AZURE_STORAGE_SAS_TOKEN`, `GOOGLE_SERVICE_ACCOUNT` naming a
//! mounted key file), and with none of them set each cloud's own chain applies (IRSA / EKS Pod
//! Identity, Azure workload identity, GKE Workload Identity).

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::io::AsyncRead;

use crate::api::storage::{StorageSpec, StorageType};
use crate::format::manifest::Layout;

mod canceled;
mod upload;

pub use upload::{NotCompleted, Uploaded};

/// Where a `filesystem` storage's PersistentVolumeClaim is mounted in the Jobs.
pub const FILESYSTEM_MOUNT: &str = "/var/lib/strimzi-backup/storage";

/// An opened store and the object names of backups in it.
#[derive(Clone, Debug)]
pub struct Storage {
    pub store: Arc<dyn ObjectStore>,
    pub layout: Layout,
    /// Where the backups are, for messages (`s3://bucket/prefix/`); never holds credentials.
    pub location: String,
    /// The directory of a `filesystem` storage, whose writes [`Storage::sync`] makes durable.
    pub local_root: Option<std::path::PathBuf>,
}

impl Storage {
    /// An empty in-memory location under `prefix`, for unit tests of what reads and writes one.
    #[cfg(test)]
    pub fn in_memory(prefix: &str) -> Self {
        Storage {
            store: Arc::new(object_store::memory::InMemory::new()),
            layout: crate::format::manifest::Layout::new(prefix),
            location: "memory".into(),
            local_root: None,
        }
    }

    /// Makes a committed object durable. Object stores are durable once a write is acknowledged;
    /// a filesystem is not until the file and its directory are flushed (object_store's
    /// `LocalFileSystem` renames into place without fsync), so a power loss right after a
    /// manifest was written could leave a manifest pointing at segments that never reached the
    /// disk. Called for every segment before the manifest, and for the manifest and owner marker.
    pub async fn sync(&self, object: &str) -> std::io::Result<()> {
        let Some(root) = &self.local_root else { return Ok(()) };
        let file = root.join(object);
        tokio::task::spawn_blocking(move || {
            std::fs::File::open(&file)?.sync_all()?;
            match file.parent() {
                Some(dir) => std::fs::File::open(dir)?.sync_all(),
                None => Ok(()),
            }
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Reads a small object whole (a manifest, or an object a manifest names beside its
    /// segments), naming it in the error.
    pub async fn read_whole(&self, object: &str) -> anyhow::Result<bytes::Bytes> {
        use anyhow::Context;
        let path = object_store::path::Path::from(object);
        let got = self.store.get(&path).await.with_context(|| format!("reading {object}"))?;
        got.bytes().await.with_context(|| format!("reading {object}"))
    }

    /// Streams an object (a segment is never held whole in memory).
    pub async fn read(&self, object: &str) -> object_store::Result<Pin<Box<dyn AsyncRead + Send>>> {
        let stream = self
            .store
            .get(&object_store::path::Path::from(object))
            .await?
            .into_stream()
            .map_err(std::io::Error::other);
        Ok(Box::pin(tokio_util::io::StreamReader::new(stream)))
    }
}

/// A storage block that cannot be opened; names the field to fix.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct StorageError {
    pub field: &'static str,
    pub message: String,
}

fn error(field: &'static str, message: impl std::fmt::Display) -> StorageError {
    StorageError { field, message: message.to_string() }
}

/// Transient storage errors (throttling, 5xx, connection resets and refusals) are retried with
/// backoff (0.2 s growing to 10 s between attempts) for up to five minutes before an operation
/// fails, so a storage outage shorter than that slows a run down instead of failing it. The
/// budget is time, not a count: fast failures (a refused connection) would use up a count in
/// seconds.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            base: 2.0,
        },
        max_retries: 1000,
        retry_timeout: Duration::from_secs(300),
    }
}

/// The location of `spec` as messages name it (`s3://bucket/prefix`, `pvc://claim/path`), without
/// opening it: what a controller, which never opens storage, writes in status.
pub fn describe(spec: &StorageSpec) -> String {
    match spec.type_ {
        StorageType::S3 => spec.s3.as_ref().map_or_else(
            || "s3 (no spec.storage.s3)".into(),
            |s| format!("s3://{}/{}", s.bucket, s.prefix.as_deref().unwrap_or("")),
        ),
        StorageType::Azure => spec.azure.as_ref().map_or_else(
            || "azure (no spec.storage.azure)".into(),
            |a| {
                format!("azure://{}/{}/{}", a.storage_account, a.container, a.prefix.as_deref().unwrap_or(""))
            },
        ),
        StorageType::Gcs => spec.gcs.as_ref().map_or_else(
            || "gcs (no spec.storage.gcs)".into(),
            |g| format!("gs://{}/{}", g.bucket, g.prefix.as_deref().unwrap_or("")),
        ),
        StorageType::Filesystem => spec.filesystem.as_ref().map_or_else(
            || "filesystem (no spec.storage.filesystem)".into(),
            |f| format!("pvc://{}/{}", f.claim_name, f.path.as_deref().unwrap_or("").trim_start_matches('/')),
        ),
    }
}

/// Opens the store of `spec`. `filesystem_root` is where a `filesystem` volume is mounted
/// ([`FILESYSTEM_MOUNT`] in a Job).
pub fn open(spec: &StorageSpec, filesystem_root: &Path) -> Result<Storage, StorageError> {
    match spec.type_ {
        StorageType::S3 => {
            let s3 = spec.s3.as_ref().ok_or_else(|| error("spec.storage.s3", "required for type s3"))?;
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(&s3.bucket)
                .with_region(&s3.region)
                .with_retry(retry())
                .with_http_connector(canceled::Connector);
            if let Some(endpoint) = &s3.endpoint {
                builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
            }
            if s3_over_tls(s3.endpoint.as_deref()) {
                // TLS already guarantees the body arrives as sent, and every segment's SHA-256 is
                // in the manifest and checked on read: signing the body too hashes every byte a
                // second time here and again at the store (about a fifth of a backup without
                // compression, docs/benchmarks.md). Over plain HTTP the signature is the only check
                // in transit, so the body stays signed there.
                builder = builder.with_unsigned_payload(true);
            }
            if s3.force_path_style == Some(true) {
                builder = builder.with_virtual_hosted_style_request(false);
            }
            let store = builder.build().map_err(|e| error("spec.storage.s3", e))?;
            let prefix = s3.prefix.as_deref().unwrap_or("");
            Ok(storage(Arc::new(store), prefix, format!("s3://{}/{}", s3.bucket, prefix)))
        }
        StorageType::Azure => {
            let az =
                spec.azure.as_ref().ok_or_else(|| error("spec.storage.azure", "required for type azure"))?;
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_account(&az.storage_account)
                .with_container_name(&az.container)
                .with_retry(retry())
                .with_http_connector(canceled::Connector);
            if let Some(endpoint) = &az.endpoint {
                builder =
                    builder.with_endpoint(endpoint.clone()).with_allow_http(endpoint.starts_with("http://"));
            }
            let store = builder.build().map_err(|e| error("spec.storage.azure", e))?;
            let prefix = az.prefix.as_deref().unwrap_or("");
            Ok(storage(
                Arc::new(store),
                prefix,
                format!("azure://{}/{}/{}", az.storage_account, az.container, prefix),
            ))
        }
        StorageType::Gcs => {
            let gcs = spec.gcs.as_ref().ok_or_else(|| error("spec.storage.gcs", "required for type gcs"))?;
            let mut builder = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(&gcs.bucket)
                .with_retry(retry())
                .with_http_connector(canceled::Connector);
            if let Some(endpoint) = &gcs.endpoint {
                builder = builder.with_config(GoogleConfigKey::BaseUrl, endpoint);
            }
            let store = builder.build().map_err(|e| error("spec.storage.gcs", e))?;
            let prefix = gcs.prefix.as_deref().unwrap_or("");
            Ok(storage(Arc::new(store), prefix, format!("gs://{}/{}", gcs.bucket, prefix)))
        }
        StorageType::Filesystem => {
            let fs = spec
                .filesystem
                .as_ref()
                .ok_or_else(|| error("spec.storage.filesystem", "required for type filesystem"))?;
            let sub = fs.path.as_deref().unwrap_or("").trim_start_matches('/');
            if Path::new(sub).components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(error("spec.storage.filesystem.path", "must stay inside the volume (no `..`)"));
            }
            let root = filesystem_root.join(sub);
            std::fs::create_dir_all(&root).map_err(|e| {
                error("spec.storage.filesystem", format!("cannot create {}: {e}", root.display()))
            })?;
            let store = LocalFileSystem::new_with_prefix(&root)
                .map_err(|e| error("spec.storage.filesystem", e))?
                .with_automatic_cleanup(true);
            Ok(Storage {
                local_root: Some(root),
                ..storage(Arc::new(store), "", format!("pvc://{}/{sub}", fs.claim_name))
            })
        }
    }
}

/// Whether requests to an S3 `endpoint` go over TLS: AWS's own endpoints (none given) do.
fn s3_over_tls(endpoint: Option<&str>) -> bool {
    endpoint.is_none_or(|e| e.trim_start().to_ascii_lowercase().starts_with("https://"))
}

fn storage(store: Arc<dyn ObjectStore>, prefix: &str, location: String) -> Storage {
    Storage { store, layout: Layout::new(prefix), location, local_root: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::storage::{FilesystemStorage, S3Storage};

    #[test]
    fn only_bodies_sent_over_tls_go_unsigned() {
        assert!(s3_over_tls(None), "AWS's own endpoints are HTTPS");
        assert!(s3_over_tls(Some("https://s3.example.com")));
        assert!(s3_over_tls(Some("HTTPS://minio.storage:9000")));
        assert!(!s3_over_tls(Some("http://127.0.0.1:9000")));
    }

    #[test]
    fn s3_with_an_endpoint_and_path_style_opens_without_credentials_in_the_spec() {
        let spec = StorageSpec {
            type_: StorageType::S3,
            s3: Some(S3Storage {
                bucket: "backups".into(),
                region: "us-east-1".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                prefix: Some("prod/orders".into()),
                force_path_style: Some(true),
                credentials_secret: None,
            }),
            ..Default::default()
        };
        let s = open(&spec, Path::new("/nonexistent")).expect("opens");
        assert_eq!(s.location, "s3://backups/prod/orders");
        assert_eq!(s.layout.manifest("b"), "prod/orders/backups/b/manifest.json");
    }

    #[test]
    fn a_missing_block_names_the_field() {
        let spec = StorageSpec { type_: StorageType::Azure, ..Default::default() };
        let err = open(&spec, Path::new("/tmp")).expect_err("no azure block");
        assert_eq!(err.to_string(), "spec.storage.azure: required for type azure");
    }

    #[test]
    fn filesystem_stays_inside_its_volume() {
        let dir = std::env::temp_dir().join(format!("sbo-storage-{}", std::process::id()));
        let fs = |path: &str| StorageSpec {
            type_: StorageType::Filesystem,
            filesystem: Some(FilesystemStorage { claim_name: "pvc".into(), path: Some(path.into()) }),
            ..Default::default()
        };
        let s = open(&fs("/cluster-a"), &dir).expect("opens");
        assert_eq!(s.location, "pvc://pvc/cluster-a");
        assert!(dir.join("cluster-a").is_dir());
        let err = open(&fs("../escape"), &dir).expect_err("escape");
        assert_eq!(err.field, "spec.storage.filesystem.path");
        std::fs::remove_dir_all(&dir).ok();
    }
}
