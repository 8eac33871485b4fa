//! backup -> verify -> restore through every storage backend besides S3 (backup.rs and restore.rs
//! run on MinIO), against the emulators of the local environment: Azure Blob on Azurite, the
//! filesystem backend on a temporary directory, and GCS on fake-gcs-server as far as that emulator
//! goes. The binary runs the way a Job runs it: the storage block in the config file, credentials
//! only in each cloud's standard environment variables (src/storage.rs), nothing else inherited.
//!
//! fake-gcs-server refuses every upload of the XML API object_store's GCS client writes with
//! (docs/local-environment.md), so on GCS a backup and a restore (which keeps its resume state next
//! to the backups) cannot run; the GCS tests assert exactly that, and run `verify` and a dry-run
//! restore — every read the data plane does — on a backup copied in through the JSON API.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::TryStreamExt;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{ObjectStore, ObjectStoreExt};
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, fake_gcs_upload, minio, partition_count, produce, recent,
    records, run_err_with_env, run_ok, run_ok_with_env, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::manifest::Layout;
use strimzi_backup_operator::format::record::Record;

/// Records per partition of the topic each test backs up.
const RECORDS: [usize; 2] = [300, 200];
const TOTAL: usize = RECORDS[0] + RECORDS[1];

/// A two-partition topic `<tag><suffix>` holding [`RECORDS`] (keys, null keys, tombstones, empty
/// values, headers, explicit timestamps), and those records per partition.
async fn topic_with_records(env: &TestEnv, tag: &str) -> anyhow::Result<(String, Vec<Vec<Record>>)> {
    let topic = format!("{tag}{}", unique_suffix());
    create_topic(env, &topic, RECORDS.len() as i32, &[]).await?;
    let mut want = Vec::new();
    for (p, n) in RECORDS.into_iter().enumerate() {
        let recs = records(&topic, p as i32, n, recent() + p as i64 * 10_000);
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

/// A restore of `topic` into `target`; `extra` adds top-level lines.
fn restore_config(env: &TestEnv, storage: &str, topic: &str, target: &str, extra: &str) -> String {
    config(
        env,
        storage,
        &format!("topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n{extra}"),
    )
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
/// `<topic>-restored` and read every record back field for field. Returns the backup id.
async fn backup_verify_restore(
    env: &TestEnv,
    tag: &str,
    storage: &str,
    vars: &[(&str, &str)],
) -> anyhow::Result<String> {
    let (topic, want) = topic_with_records(env, tag).await?;

    let backup = run_ok_with_env(env, "backup", &backup_config(env, storage, &topic), &[], vars)?;
    assert_eq!(backup["records"], TOTAL, "{backup}");
    assert_eq!((backup["topics"].as_u64(), backup["partitions"].as_u64()), (Some(1), Some(2)), "{backup}");
    let id = backup["backupId"].as_str().context("backup printed no backupId")?.to_string();

    verify_passes(env, storage, vars, &id)?;

    let target = format!("{topic}-restored");
    let restored =
        run_ok_with_env(env, "restore", &restore_config(env, storage, &topic, &target, ""), &[], vars)?;
    assert_eq!(restored["backupId"], id.as_str(), "{restored}");
    assert_eq!(restored["restoredRecords"], TOTAL, "{restored}");
    assert_eq!(restored["restoredPartitions"], 2, "{restored}");
    assert_eq!(restored["topics"][0]["action"], "create", "{restored}");
    for (p, recs) in want.iter().enumerate() {
        let got = consume_all(env, &target, p as i32)?;
        assert_eq!(got.len(), recs.len(), "{target}/{p}: every record once");
        assert_eq!(without_offsets(&got), without_offsets(recs), "{target}/{p}: field for field");
    }
    Ok(id)
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
    let id = backup_verify_restore(&env, "az", &storage, &vars).await?;

    // The backup is in Azurite's container, under the prefix.
    let manifest = Layout::new(&prefix).manifest(&id);
    azurite(&env)?
        .head(&object_store::path::Path::from(manifest.as_str()))
        .await
        .with_context(|| format!("{manifest} is not in Azurite"))?;
    Ok(())
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
    let id = backup_verify_restore(&env, "fs", &storage, &[]).await?;

    // The backup is in the volume, under `path`.
    let manifest = root.join(format!("cluster-{s}")).join(Layout::new("").manifest(&id));
    assert!(manifest.is_file(), "{} is not in the volume", manifest.display());
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// The `storage:` block for fake-gcs-server and the environment of a Job with a mounted key file:
/// a service-account key with `disable_oauth` (object_store sends no token, the emulator checks
/// none) named by `GOOGLE_SERVICE_ACCOUNT`.
fn gcs(env: &TestEnv, prefix: &str, dir: &Path) -> anyhow::Result<(String, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let key = dir.join("service-account.json");
    let json = serde_json::json!({
        "disable_oauth": true, "client_email": "", "private_key": "", "private_key_id": "",
    });
    std::fs::write(&key, json.to_string())?;
    let storage = format!(
        "storage:\n  type: gcs\n  gcs:\n    bucket: {}\n    endpoint: {}\n    prefix: {prefix}\n",
        env.get("FAKE_GCS_BUCKET")?,
        env.get("FAKE_GCS_ENDPOINT")?,
    );
    Ok((storage, key))
}

/// What fake-gcs-server answers to each XML API upload (see list_get_delete_on_fake_gcs in
/// object_store.rs).
fn refused_upload(stderr: &str) -> bool {
    stderr.contains("400 Bad Request") && stderr.contains("invalid uploadType")
}

/// fake-gcs-server, opened directly with the same key.
fn fake_gcs(env: &TestEnv, key: &Path) -> anyhow::Result<impl ObjectStore> {
    Ok(GoogleCloudStorageBuilder::new()
        .with_base_url(env.get("FAKE_GCS_ENDPOINT")?)
        .with_service_account_path(key.display().to_string())
        .with_bucket_name(env.get("FAKE_GCS_BUCKET")?)
        .build()?)
}

/// GCS on fake-gcs-server: a backup stops at its first segment upload, refused by the emulator,
/// and leaves nothing behind. When this fails because the backup succeeded, the emulator takes
/// XML API uploads: run `backup_verify_restore` on GCS like on the other backends instead.
#[tokio::test]
async fn gcs_backup_is_refused_by_fake_gcs_server() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let dir = std::env::temp_dir().join(format!("sbo-e2e-gcs-{s}"));
    let prefix = format!("e2e-backends-{s}/");
    let (storage, key) = gcs(&env, &prefix, &dir)?;
    let key_var = key.display().to_string();
    let vars = [("GOOGLE_SERVICE_ACCOUNT", key_var.as_str())];
    let (topic, _) = topic_with_records(&env, "gcsw").await?;

    let stderr = run_err_with_env(&env, "backup", &backup_config(&env, &storage, &topic), &[], &vars)?;
    assert!(refused_upload(&stderr), "expected fake-gcs-server's refusal of an XML API upload: {stderr}");
    assert!(stderr.contains(&format!("starting upload of {prefix}backups/")), "{stderr}");
    let left: Vec<_> = fake_gcs(&env, &key)?
        .list(Some(&object_store::path::Path::from(prefix.as_str())))
        .try_collect()
        .await?;
    assert!(left.is_empty(), "a refused backup wrote {left:?}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// GCS on fake-gcs-server, everything the emulator allows: a backup made on MinIO is copied byte
/// for byte into the bucket through the JSON API; the data plane's GCS reads then do the rest —
/// `verify` passes, a dry-run restore streams every record of every segment — and a real restore
/// stops at writing its resume state (refused like any XML API upload) before it touches Kafka.
#[tokio::test]
async fn gcs_verify_and_restore_read_a_backup_on_fake_gcs_server() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let dir = std::env::temp_dir().join(format!("sbo-e2e-gcs-{s}"));
    let prefix = format!("e2e-backends-{s}/");
    let (storage, key) = gcs(&env, &prefix, &dir)?;
    let key_var = key.display().to_string();
    let vars = [("GOOGLE_SERVICE_ACCOUNT", key_var.as_str())];
    let (topic, _) = topic_with_records(&env, "gcsr").await?;

    // Backed up to MinIO under the same prefix (the manifest names its segments with it), then
    // copied object for object.
    let on_minio = format!("{}topics:\n  include: [\"{topic}\"]\n", base_config(&env, &prefix, None)?);
    let backup = run_ok(&env, "backup", &on_minio, &[])?;
    let id = backup["backupId"].as_str().context("backup printed no backupId")?.to_string();
    let minio = minio(&env)?;
    let objects: Vec<_> =
        minio.list(Some(&object_store::path::Path::from(prefix.as_str()))).try_collect().await?;
    for meta in &objects {
        let data = minio.get(&meta.location).await?.bytes().await?;
        fake_gcs_upload(&env, meta.location.as_ref(), &data)?;
    }
    assert!(objects.len() > RECORDS.len(), "a manifest and a segment per partition: {objects:?}");

    verify_passes(&env, &storage, &vars, &id)?;

    let target = format!("{topic}-restored");
    let plan = run_ok_with_env(
        &env,
        "restore",
        &restore_config(&env, &storage, &topic, &target, "restore:\n  dryRun: true\n"),
        &[],
        &vars,
    )?;
    assert_eq!(plan["dryRun"], true, "{plan}");
    assert_eq!(plan["backupId"], id.as_str(), "{plan}");
    assert_eq!(plan["restoredRecords"], TOTAL, "{plan}");
    assert_eq!(plan["restoredPartitions"], 2, "{plan}");

    let stderr =
        run_err_with_env(&env, "restore", &restore_config(&env, &storage, &topic, &target, ""), &[], &vars)?;
    assert!(stderr.contains("writing the restore state"), "{stderr}");
    assert!(refused_upload(&stderr), "expected fake-gcs-server's refusal of an XML API upload: {stderr}");
    assert_eq!(partition_count(&env, &target)?, None, "the refused restore created {target}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
