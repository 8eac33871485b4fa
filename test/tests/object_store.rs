//! The local MinIO is real S3: put (single and multipart), list and get objects through
//! object_store, the crate the data plane writes backups with.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;

fn minio(env: &TestEnv) -> anyhow::Result<impl ObjectStore> {
    Ok(AmazonS3Builder::new()
        .with_endpoint(env.get("MINIO_ENDPOINT")?)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region(env.get("MINIO_REGION")?)
        .with_bucket_name(env.get("MINIO_BUCKET")?)
        .with_access_key_id(env.get("MINIO_ACCESS_KEY")?)
        .with_secret_access_key(env.get("MINIO_SECRET_KEY")?)
        .build()?)
}

#[tokio::test]
async fn put_list_get_on_minio() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let prefix = Path::from(format!("e2e/{}", unique_suffix()));

    let small = prefix.clone().join("manifest.json");
    store.put(&small, PutPayload::from_static(br#"{"formatVersion":1}"#)).await?;

    // 12 MiB through a multipart upload (5 MiB parts), as segments are written.
    let big = prefix.clone().join("segment-000001.bin");
    let data: Vec<u8> = (0..12 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let mut upload = WriteMultipart::new_with_chunk_size(store.put_multipart(&big).await?, 5 * 1024 * 1024);
    for chunk in data.chunks(1024 * 1024) {
        upload.write(chunk);
    }
    upload.finish().await?;

    let mut listed: Vec<(String, u64)> =
        store.list(Some(&prefix)).map_ok(|meta| (meta.location.to_string(), meta.size)).try_collect().await?;
    listed.sort();
    assert_eq!(
        listed,
        [(small.to_string(), 19), (big.to_string(), data.len() as u64)],
        "both objects listed under the prefix with their sizes"
    );

    assert_eq!(store.get(&small).await?.bytes().await?, Bytes::from_static(br#"{"formatVersion":1}"#));
    assert!(store.get(&big).await?.bytes().await? == data, "multipart object reads back byte for byte");

    for path in [&small, &big] {
        store.delete(path).await?;
    }
    assert_eq!(store.list(Some(&prefix)).try_collect::<Vec<_>>().await?.len(), 0);
    Ok(())
}
