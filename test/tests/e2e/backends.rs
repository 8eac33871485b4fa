//! backup -> verify -> restore through every storage backend besides S3 (backup.rs and restore.rs
//! run on MinIO), against the emulators of the local environment: Azure Blob on Azurite, the
//! filesystem backend on a temporary directory, and GCS on fake-gcs-server (built with the XML API
//! writes object_store uses, hack/patches/fake-gcs-server-xml-api.patch). The binary runs the way
//! a Job runs it: the storage block in the config file, credentials only in each cloud's standard
//! environment variables (src/storage.rs), nothing else inherited. One partition's segment is
//! bigger than two upload parts, so every backend completes a multipart upload of several parts.

use anyhow::Context;
use bytes::Bytes;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use strimzi_backup_e2e::dataplane::{
    consume_all, create_topic, produce, recent, records, run_ok_with_env, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::manifest::Layout;
use strimzi_backup_operator::format::record::{Record, TimestampType};

/// Records per partition of the topic each test backs up, then [`BIG`] more in partition 0.
const RECORDS: [usize; 2] = [300, 200];
/// Records of [`BIG_VALUE`] incompressible bytes at the end of partition 0: its segment is about
/// 20 MiB, several of the 8 MiB parts segments are uploaded in.
const BIG: usize = 80;
const BIG_VALUE: usize = 256 * 1024;
const TOTAL: usize = RECORDS[0] + RECORDS[1] + BIG;
/// The part size of segment uploads (`PART_BYTES` in src/backup/partition.rs).
const PART_BYTES: u64 = 8 * 1024 * 1024;

/// `n` records from `offset` on whose values are pseudo-random bytes (xorshift), which no codec
/// compresses.
fn big_records(offset: usize, n: usize, base_ts: i64) -> Vec<Record> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (offset..offset + n)
        .map(|i| {
            let value: Vec<u8> = (0..BIG_VALUE / 8)
                .flat_map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.to_le_bytes()
                })
                .collect();
            Record {
                offset: i as i64,
                timestamp: base_ts + i as i64,
                timestamp_type: TimestampType::CreateTime,
                key: Some(Bytes::from(format!("big-{i}"))),
                value: Some(Bytes::from(value)),
                headers: Vec::new(),
            }
        })
        .collect()
}

/// A two-partition topic `<tag><suffix>` holding [`RECORDS`] (keys, null keys, tombstones, empty
/// values, headers, explicit timestamps) and [`BIG`] large records in partition 0, and those
/// records per partition.
async fn topic_with_records(env: &TestEnv, tag: &str) -> anyhow::Result<(String, Vec<Vec<Record>>)> {
    let topic = format!("{tag}{}", unique_suffix());
    create_topic(env, &topic, RECORDS.len() as i32, &[]).await?;
    let mut want = Vec::new();
    for (p, n) in RECORDS.into_iter().enumerate() {
        let base_ts = recent() + p as i64 * 10_000;
        let mut recs = records(&topic, p as i32, n, base_ts);
        if p == 0 {
            recs.extend(big_records(n, BIG, base_ts));
        }
        produce(env, &topic, p as i32, &recs).await?;
        want.push(recs);
    }
    Ok((topic, want))
}

/// A data-plane config: the local broker, `storage` (the `storage:` block and any other top-level
/// lines, such as `filesystemRoot`), then `extra`.
fn config(env: &TestEnv, storage: &str, extra: &str) -> String {
    format!("kafka:\n  bootstrapServers: {}\n{storage}{extra}", env.kafka_bootstrap())
}

fn backup_config(env: &TestEnv, storage: &str, topic: &str) -> String {
    config(env, storage, &format!("topics:\n  include: [\"{topic}\"]\n"))
}

/// A restore of `topic` into `target`.
fn restore_config(env: &TestEnv, storage: &str, topic: &str, target: &str) -> String {
    config(env, storage, &format!("topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n"))
}

/// Runs `verify` on the latest backup of `storage`: it must pass, on backup `id` and every record.
fn verify_passes(env: &TestEnv, storage: &str, vars: &[(&str, &str)], id: &str) -> anyhow::Result<()> {
    let report = run_ok_with_env(env, "verify", &config(env, storage, ""), &[], vars)?;
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert_eq!(report["backupId"], id, "{report}");
    assert_eq!(report["records"], TOTAL, "{report}");
    assert!(report["segments"].as_u64() >= Some(RECORDS.len() as u64), "a segment per partition: {report}");
    Ok(())
}

/// The whole round trip on one backend: back the topic up, verify the backup, restore it into
/// `<topic>-restored` and read every record back field for field. Returns the backup id and the
/// topic.
async fn backup_verify_restore(
    env: &TestEnv,
    tag: &str,
    storage: &str,
    vars: &[(&str, &str)],
) -> anyhow::Result<(String, String)> {
    let (topic, want) = topic_with_records(env, tag).await?;

    let backup = run_ok_with_env(env, "backup", &backup_config(env, storage, &topic), &[], vars)?;
    assert_eq!(backup["records"], TOTAL, "{backup}");
    assert_eq!((backup["topics"].as_u64(), backup["partitions"].as_u64()), (Some(1), Some(2)), "{backup}");
    let id = backup["backupId"].as_str().context("backup printed no backupId")?.to_string();

    verify_passes(env, storage, vars, &id)?;

    let target = format!("{topic}-restored");
    let restored =
        run_ok_with_env(env, "restore", &restore_config(env, storage, &topic, &target), &[], vars)?;
    assert_eq!(restored["backupId"], id.as_str(), "{restored}");
    assert_eq!(restored["restoredRecords"], TOTAL, "{restored}");
    assert_eq!(restored["restoredPartitions"], 2, "{restored}");
    assert_eq!(restored["topics"][0]["action"], "create", "{restored}");
    for (p, recs) in want.iter().enumerate() {
        let got = consume_all(env, &target, p as i32)?;
        assert_eq!(got.len(), recs.len(), "{target}/{p}: every record once");
        assert_eq!(without_offsets(&got), without_offsets(recs), "{target}/{p}: field for field");
    }
    Ok((id, topic))
}

/// The backup is in `store` (the backend opened directly, not through the data plane) under
/// `prefix`: its manifest, and partition 0's segment with more bytes than two upload parts.
async fn stored(store: &dyn ObjectStore, prefix: &str, id: &str, topic: &str) -> anyhow::Result<()> {
    let layout = Layout::new(prefix);
    let manifest = layout.manifest(id);
    store.head(&Path::from(manifest.as_str())).await.with_context(|| format!("{manifest} is not stored"))?;
    let segment = layout.segment(id, topic, 0, 0);
    let meta = store
        .head(&Path::from(segment.as_str()))
        .await
        .with_context(|| format!("{segment} is not stored"))?;
    assert!(meta.size > 2 * PART_BYTES, "{segment}: {} bytes, uploaded in more than two parts", meta.size);
    Ok(())
}

/// Azurite's blob container, opened directly (not through the data plane).
fn azurite(env: &TestEnv) -> anyhow::Result<impl ObjectStore> {
    Ok(MicrosoftAzureBuilder::new()
        .with_endpoint(env.get("AZURITE_ENDPOINT")?.to_string())
        .with_allow_http(true)
        .with_account(env.get("AZURITE_ACCOUNT")?)
        .with_access_key(env.get("AZURITE_KEY")?)
        .with_container_name(env.get("AZURITE_CONTAINER")?)
        .build()?)
}

/// Azure Blob on Azurite: `endpoint` is the emulator's account URL (path style, as for a private
/// endpoint or a sovereign cloud), the account key comes from `AZURE_STORAGE_ACCOUNT_KEY`.
#[tokio::test]
async fn azure_blob_on_azurite() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let prefix = format!("e2e-backends-{}/", unique_suffix());
    let storage = format!(
        "storage:\n  type: azure\n  azure:\n    container: {}\n    storageAccount: {}\n    endpoint: {}\n    prefix: {prefix}\n",
        env.get("AZURITE_CONTAINER")?,
        env.get("AZURITE_ACCOUNT")?,
        env.get("AZURITE_ENDPOINT")?,
    );
    let vars = [("AZURE_STORAGE_ACCOUNT_KEY", env.get("AZURITE_KEY")?)];
    let (id, topic) = backup_verify_restore(&env, "az", &storage, &vars).await?;

    stored(&azurite(&env)?, &prefix, &id, &topic).await
}

/// The filesystem backend: `filesystemRoot` stands for the volume's mount point, `path` is the
/// directory inside it.
#[tokio::test]
async fn filesystem() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let root = std::env::temp_dir().join(format!("sbo-e2e-fs-{s}"));
    let storage = format!(
        "storage:\n  type: filesystem\n  filesystem:\n    claimName: backups\n    path: /cluster-{s}\nfilesystemRoot: {}\n",
        root.display()
    );
    let (id, topic) = backup_verify_restore(&env, "fs", &storage, &[]).await?;

    let volume = LocalFileSystem::new_with_prefix(root.join(format!("cluster-{s}")))?;
    stored(&volume, "", &id, &topic).await?;
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// GCS on fake-gcs-server: `endpoint` is the emulator's URL; the credentials are a service-account
/// key in `GOOGLE_SERVICE_ACCOUNT_KEY` with `disable_oauth` (object_store requests no token and
/// the emulator checks none). Segments are written with the XML API's multipart upload, the
/// manifest and the restore state with its object PUT.
#[tokio::test]
async fn gcs_on_fake_gcs_server() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let prefix = format!("e2e-backends-{}/", unique_suffix());
    let storage = format!(
        "storage:\n  type: gcs\n  gcs:\n    bucket: {}\n    endpoint: {}\n    prefix: {prefix}\n",
        env.get("FAKE_GCS_BUCKET")?,
        env.get("FAKE_GCS_ENDPOINT")?,
    );
    let key = serde_json::json!({
        "private_key": "x", "private_key_id": "x", "client_email": "x@x", "disable_oauth": true,
    })
    .to_string();
    let vars = [("GOOGLE_SERVICE_ACCOUNT_KEY", key.as_str())];
    let (id, topic) = backup_verify_restore(&env, "gcs", &storage, &vars).await?;

    let fake_gcs = GoogleCloudStorageBuilder::new()
        .with_base_url(env.get("FAKE_GCS_ENDPOINT")?)
        .with_service_account_key(key)
        .with_bucket_name(env.get("FAKE_GCS_BUCKET")?)
        .build()?;
    stored(&fake_gcs, &prefix, &id, &topic).await
}
