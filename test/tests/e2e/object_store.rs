//! The local object stores are real: MinIO (S3), Azurite (Azure Blob) and fake-gcs-server (GCS,
//! built with the XML API writes object_store uses: hack/patches/fake-gcs-server-xml-api.patch).
//! One round trip — put (single and multipart), list, get, delete — runs through object_store,
//! the crate the data plane writes backups with, against each of them.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use strimzi_backup_e2e::dataplane::minio;
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;

/// Azurite as an ordinary account endpoint (`http://127.0.0.1:<port>/devstoreaccount1`, SharedKey
/// with the account key). `with_use_emulator` would ignore the endpoint and read the process-wide
/// `AZURITE_BLOB_STORAGE_URL` instead.
fn azurite(env: &TestEnv) -> anyhow::Result<impl ObjectStore> {
    Ok(MicrosoftAzureBuilder::new()
        .with_endpoint(env.get("AZURITE_ENDPOINT")?.to_string())
        .with_allow_http(true)
        .with_account(env.get("AZURITE_ACCOUNT")?)
        .with_access_key(env.get("AZURITE_KEY")?)
        .with_container_name(env.get("AZURITE_CONTAINER")?)
        .build()?)
}

/// fake-gcs-server checks no credentials. object_store's emulator set-up: a service-account key
/// with `disable_oauth` (no token exchange, an empty bearer token) and the emulator as base URL.
fn fake_gcs(env: &TestEnv) -> anyhow::Result<impl ObjectStore> {
    let key = serde_json::json!({
        "disable_oauth": true, "client_email": "", "private_key": "", "private_key_id": "",
    });
    Ok(GoogleCloudStorageBuilder::new()
        .with_base_url(env.get("FAKE_GCS_ENDPOINT")?)
        .with_service_account_key(key.to_string())
        .with_bucket_name(env.get("FAKE_GCS_BUCKET")?)
        .build()?)
}

const MANIFEST: &[u8] = br#"{"formatVersion":1}"#;

/// What a backup writes: a small manifest and a 12 MiB segment, under a prefix of their own.
struct Objects {
    prefix: Path,
    manifest: Path,
    segment: Path,
    segment_data: Vec<u8>,
}

impl Objects {
    fn new() -> Self {
        let prefix = Path::from(format!("e2e/{}", unique_suffix()));
        Self {
            manifest: prefix.clone().join("manifest.json"),
            segment: prefix.clone().join("segment-000001.bin"),
            segment_data: (0..12 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect(),
            prefix,
        }
    }

    /// Puts the manifest in one request and the segment through a multipart upload (5 MiB parts),
    /// as segments are written.
    async fn write(&self, store: &dyn ObjectStore) -> anyhow::Result<()> {
        store.put(&self.manifest, PutPayload::from_static(MANIFEST)).await?;
        let mut upload =
            WriteMultipart::new_with_chunk_size(store.put_multipart(&self.segment).await?, 5 * 1024 * 1024);
        for chunk in self.segment_data.chunks(1024 * 1024) {
            upload.write(chunk);
        }
        upload.finish().await?;
        Ok(())
    }

    /// Lists both objects with their sizes, reads them back byte for byte, deletes them.
    async fn read_back_and_delete(&self, store: &dyn ObjectStore) -> anyhow::Result<()> {
        let mut listed: Vec<(String, u64)> = store
            .list(Some(&self.prefix))
            .map_ok(|meta| (meta.location.to_string(), meta.size))
            .try_collect()
            .await?;
        listed.sort();
        assert_eq!(
            listed,
            [
                (self.manifest.to_string(), MANIFEST.len() as u64),
                (self.segment.to_string(), self.segment_data.len() as u64)
            ],
            "both objects listed under the prefix with their sizes"
        );

        assert_eq!(store.get(&self.manifest).await?.bytes().await?, Bytes::from_static(MANIFEST));
        assert!(
            store.get(&self.segment).await?.bytes().await? == self.segment_data,
            "segment reads back byte for byte"
        );

        for path in [&self.manifest, &self.segment] {
            store.delete(path).await?;
        }
        assert_eq!(
            store.list(Some(&self.prefix)).try_collect::<Vec<_>>().await?.len(),
            0,
            "nothing left after delete"
        );
        Ok(())
    }
}

/// The whole round trip through object_store.
async fn round_trip(store: &dyn ObjectStore) -> anyhow::Result<()> {
    let objects = Objects::new();
    objects.write(store).await?;
    objects.read_back_and_delete(store).await
}

#[tokio::test]
async fn put_list_get_on_minio() -> anyhow::Result<()> {
    round_trip(&minio(&TestEnv::load()?)?).await
}

#[tokio::test]
async fn put_list_get_on_azurite() -> anyhow::Result<()> {
    round_trip(&azurite(&TestEnv::load()?)?).await
}

#[tokio::test]
async fn put_list_get_on_fake_gcs() -> anyhow::Result<()> {
    round_trip(&fake_gcs(&TestEnv::load()?)?).await
}
