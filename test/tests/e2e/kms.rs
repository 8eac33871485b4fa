//! e2e: keys from an external KMS (issue 17 §5, licence feature `kms`). The data plane against
//! the real broker, MinIO and the KMS stand-ins env-up starts: moto's AWS KMS API and OpenBao's
//! transit engine. Each backup seals its segments with a data key of its own, wrapped by the KMS
//! key; an incremental restore point reads segments of two backups under two data keys; a
//! rotated transit key still unwraps the older backups; a disabled AWS key stops a restore
//! loudly, naming the key (and nothing is written); Vault's Kubernetes auth logs in with a
//! service account token reviewed by the real API server; a `KafkaDataErasure`'s data plane
//! erases a key from AWS-KMS-encrypted restore points, their wrapped data keys unchanged. Through
//! the operator: the credentials come from a Secret and appear
//! in no Job spec, status or log; the licence (none, without `kms`, expired) gates new use only.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Value, json};
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, minio, produce, recent, records, run_err, run_ok, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::licences;
use strimzi_backup_e2e::operator::{
    Operator, backup_completed, finished_run, minio_storage, namespace_with_kafka,
};
use strimzi_backup_e2e::webhook::{self, Registration};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::erasure::KafkaDataErasure;
use strimzi_backup_operator::api::kms::KmsProvider;
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};
use strimzi_backup_operator::format::manifest::Manifest;
use strimzi_backup_operator::format::record::Record;
use strimzi_backup_operator::kms::{Kms, KmsAccess, VaultTransitAccess};

/// One AWS KMS API call to moto (JSON protocol; moto routes by the Authorization header's
/// credential scope and checks no signature).
pub(crate) fn aws_kms(env: &TestEnv, target: &str, body: Value) -> anyhow::Result<Value> {
    let region = env.get("KMS_AWS_REGION")?;
    let out = std::process::Command::new("curl")
        .args(["-sS", "-X", "POST", "-H", "Content-Type: application/x-amz-json-1.1"])
        .args(["-H", &format!("X-Amz-Target: TrentService.{target}")])
        .args([
            "-H",
            &format!("Authorization: AWS4-HMAC-SHA256 Credential=e2e/20260101/{region}/kms/aws4_request, SignedHeaders=host, Signature=0"),
        ])
        .args(["--data", &body.to_string(), env.get("KMS_AWS_ENDPOINT")?])
        .output()?;
    anyhow::ensure!(out.status.success(), "curl {target}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// One Vault API call to OpenBao with the root token: `method path` with `body`.
fn vault(env: &TestEnv, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-X", method, "-H", &format!("X-Vault-Token: {}", env.get("OPENBAO_TOKEN")?)])
        .args(["--data", &body.to_string(), &format!("{}/v1/{path}", env.get("OPENBAO_ADDR")?)])
        .output()?;
    anyhow::ensure!(out.status.success(), "curl {path}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
}

/// A fresh symmetric key in moto's KMS: its id and ARN.
pub(crate) fn new_aws_key(env: &TestEnv) -> anyhow::Result<(String, String)> {
    let created = aws_kms(env, "CreateKey", json!({"Description": "strimzi-backup e2e"}))?;
    let meta = &created["KeyMetadata"];
    let id = meta["KeyId"].as_str().unwrap_or_default().to_string();
    anyhow::ensure!(!id.is_empty(), "CreateKey answered {created}");
    Ok((id, meta["Arn"].as_str().unwrap_or_default().to_string()))
}

/// The data plane's `kms:` block for moto, with credentials from files (as a mounted Secret
/// gives them) or, with `files: None`, the default credential chain.
pub(crate) fn aws_access(
    env: &TestEnv,
    key: &str,
    files: Option<&std::path::Path>,
) -> anyhow::Result<String> {
    let creds = match files {
        Some(dir) => format!(
            "\n    accessKeyIdFile: {}\n    secretAccessKeyFile: {}",
            dir.join("id").display(),
            dir.join("secret").display()
        ),
        None => String::new(),
    };
    Ok(format!(
        "kms:\n  provider: awsKms\n  keyId: {key}\n  awsKms:\n    region: {}\n    endpoint: {}{creds}\n",
        env.get("KMS_AWS_REGION")?,
        env.get("KMS_AWS_ENDPOINT")?
    ))
}

/// A fresh transit key `key` in OpenBao and the data plane's `kms:` block for it, with the root
/// token in a file of its own (as a mounted Secret gives it): the block and that file.
pub(crate) fn new_vault_key(env: &TestEnv, key: &str) -> anyhow::Result<(String, std::path::PathBuf)> {
    vault(env, "POST", &format!("transit/keys/{key}"), json!({"type": "aes256-gcm96"}))?;
    let dir = std::env::temp_dir().join(format!("sbo-kms-{key}"));
    std::fs::create_dir_all(&dir)?;
    let token = dir.join("token");
    std::fs::write(&token, format!("{}\n", env.get("OPENBAO_TOKEN")?))?;
    Ok((vault_access(env, key, &token)?, token))
}

fn vault_access(env: &TestEnv, key: &str, token_file: &std::path::Path) -> anyhow::Result<String> {
    Ok(format!(
        "kms:\n  provider: vaultTransit\n  keyId: {key}\n  vaultTransit:\n    address: {}\n    tokenFile: {}\n",
        env.get("OPENBAO_ADDR")?,
        token_file.display()
    ))
}

/// `backup.encryption` with a KMS key (the API block; the data plane reaches it by `kms:`).
pub(crate) fn encrypted(provider: &str, key: &str) -> String {
    format!(
        "backup:\n  compression: none\n  encryption:\n    enabled: true\n    kms: {{provider: {provider}, keyId: {key}}}\n"
    )
}

async fn manifest(store: &impl ObjectStore, prefix: &str, id: &str) -> anyhow::Result<(Manifest, Value)> {
    let name = format!("{prefix}backups/{id}/manifest.json");
    let bytes = store.get(&object_store::path::Path::from(name.as_str())).await?.bytes().await?;
    let raw: Value = serde_json::from_slice(&bytes)?;
    Ok((Manifest::from_json(&bytes, &name)?, raw))
}

/// No stored segment holds `secret` in the clear.
async fn no_plaintext(store: &impl ObjectStore, m: &Manifest, secret: &str) -> anyhow::Result<()> {
    for s in m.objects() {
        let data = store.get(&object_store::path::Path::from(s.object.as_str())).await?.bytes().await?;
        anyhow::ensure!(
            !data.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "plaintext in {}",
            s.object
        );
    }
    Ok(())
}

/// Records whose values carry `secret`, so the segments can be searched for it.
fn secret_records(topic: &str, from: i64, n: usize, secret: &str) -> Vec<Record> {
    records(topic, 0, n, recent())
        .into_iter()
        .map(|mut r| {
            r.offset += from;
            r.value = Some(format!("{secret}-{}", r.offset).into());
            r
        })
        .collect()
}

fn restore_config(
    env: &TestEnv,
    prefix: &str,
    topic: &str,
    target: &str,
    kms: &str,
) -> anyhow::Result<String> {
    Ok(format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n{kms}",
        base_config(env, prefix, None)?
    ))
}

#[tokio::test]
async fn aws_kms_wraps_a_data_key_per_backup_and_a_disabled_key_stops_restores_loudly() -> anyhow::Result<()>
{
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-kms-aws-{suffix}/");
    let topic = format!("kmsaws{suffix}");
    let secret = format!("iban-DE44-{suffix}");
    create_topic(&env, &topic, 1, &[]).await?;
    let (key_id, arn) = new_aws_key(&env)?;
    let dir = std::env::temp_dir().join(format!("sbo-kms-{suffix}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("id"), "kms-e2e-id\n")?;
    std::fs::write(dir.join("secret"), "kms-e2e-secret\n")?;
    let backup = |files: Option<&std::path::Path>| -> anyhow::Result<String> {
        Ok(format!(
            "{}topics:\n  include: [\"{topic}\"]\n{}{}",
            base_config(&env, &prefix, None)?,
            encrypted("awsKms", &key_id),
            aws_access(&env, &key_id, files)?
        ))
    };

    let first = secret_records(&topic, 0, 120, &secret);
    produce(&env, &topic, 0, &first).await?;
    let b1 = run_ok(&env, "backup", &backup(Some(&dir))?, &[])?["backupId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let more = secret_records(&topic, 120, 80, &secret);
    produce(&env, &topic, 0, &more).await?;
    // The second run through the default credential chain (here the variables the data plane
    // gets for MinIO; moto takes any credentials): no credentials Secret is needed.
    let b2 =
        run_ok(&env, "backup", &backup(None)?, &[])?["backupId"].as_str().unwrap_or_default().to_string();

    let (m1, raw1) = manifest(&store, &prefix, &b1).await?;
    let (m2, raw2) = manifest(&store, &prefix, &b2).await?;
    assert_eq!(
        (raw1["manifest"]["formatVersion"].as_u64(), raw2["manifest"]["formatVersion"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(m1.encoding.data_keys.len(), 1, "{raw1}");
    assert_eq!(m2.parent_id.as_deref(), Some(b1.as_str()));
    let keys: Vec<&str> = m2.encoding.data_keys.iter().map(|k| k.backup_id.as_str()).collect();
    assert_eq!(keys, [b1.as_str(), b2.as_str()], "the incremental carries both backups' wrapped keys");
    assert_ne!(m2.encoding.data_keys[0].key_id, m2.encoding.data_keys[1].key_id, "a data key per backup");
    assert_ne!(m2.encoding.data_keys[0].wrapped, m2.encoding.data_keys[1].wrapped);
    assert_eq!(m2.encoding.data_keys[0], m1.encoding.data_keys[0], "the parent's entry, unchanged");
    assert_eq!(m2.encoding.data_keys[1].kms_key_id, arn, "KMS names the key by its ARN");
    assert_eq!(
        m1.encoding.encryption_key_id, m2.encoding.encryption_key_id,
        "one lineage: the wrapping key's id"
    );
    assert!(m2.objects().any(|s| s.object.contains(&format!("/backups/{b1}/"))), "b2 reuses b1's segments");
    assert!(m2.objects().any(|s| s.object.contains(&format!("/backups/{b2}/"))));
    no_plaintext(&store, &m2, &secret).await?;
    // The manifest holds no data key in the clear: KMS must unwrap it (moto's Decrypt, bound to
    // the backup id by the encryption context).
    let entry = &m1.encoding.data_keys[0];
    let unwrapped = aws_kms(
        &env,
        "Decrypt",
        json!({"CiphertextBlob": entry.wrapped, "EncryptionContext": {"kafkabackup.com/backup-id": b1}}),
    )?;
    assert!(unwrapped["Plaintext"].is_string(), "{unwrapped}");
    let swapped = aws_kms(
        &env,
        "Decrypt",
        json!({"CiphertextBlob": entry.wrapped, "EncryptionContext": {"kafkabackup.com/backup-id": b2}}),
    )?;
    assert!(swapped["Plaintext"].is_null(), "another backup id does not unwrap it: {swapped}");

    // Restore of the incremental: segments of two backups under two data keys, byte for byte.
    let target = format!("{topic}-restored");
    let kms = aws_access(&env, &key_id, Some(&dir))?;
    run_ok(&env, "verify", &format!("{}{kms}", base_config(&env, &prefix, None)?), &[])?;
    let refused = run_err(&env, "restore", &restore_config(&env, &prefix, &topic, &target, "")?, &[])?;
    assert!(refused.contains("wrapped by awsKms key") && refused.contains(&arn), "{refused}");
    run_ok(&env, "restore", &restore_config(&env, &prefix, &topic, &target, &kms)?, &[])?;
    let mut all = first.clone();
    all.extend(more.iter().cloned());
    assert_eq!(without_offsets(&consume_all(&env, &target, 0)?), without_offsets(&all));

    // The KMS key disabled: no restore can read the backups, and the error names the key.
    aws_kms(&env, "DisableKey", json!({"KeyId": key_id}))?;
    let target2 = format!("{topic}-disabled");
    let refused = run_err(&env, "restore", &restore_config(&env, &prefix, &topic, &target2, &kms)?, &[])?;
    assert!(refused.contains(&arn) && refused.contains("Disabled"), "{refused}");
    assert_eq!(strimzi_backup_e2e::dataplane::partition_count(&env, &target2)?, None, "nothing created");
    let newest = secret_records(&topic, 200, 40, &secret);
    produce(&env, &topic, 0, &newest).await?;
    let stored_before = stored_objects(&store, &prefix).await?;
    let refused = run_err(&env, "backup", &backup(Some(&dir))?, &[])?;
    assert!(
        refused.contains(&key_id) && refused.contains("Disabled"),
        "a new backup cannot wrap its key: {refused}"
    );
    assert_eq!(stored_objects(&store, &prefix).await?, stored_before, "the refused backup wrote nothing");

    // Enabled again: backups and restores work again, the refused run's records included.
    aws_kms(&env, "EnableKey", json!({"KeyId": key_id}))?;
    run_ok(&env, "verify", &format!("{}{kms}", base_config(&env, &prefix, None)?), &[])?;
    run_ok(&env, "backup", &backup(Some(&dir))?, &[])?;
    run_ok(&env, "restore", &restore_config(&env, &prefix, &topic, &target2, &kms)?, &[])?;
    all.extend(newest);
    assert_eq!(without_offsets(&consume_all(&env, &target2, 0)?), without_offsets(&all));
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// The names of every object stored under `prefix`, sorted.
async fn stored_objects(store: &impl ObjectStore, prefix: &str) -> anyhow::Result<Vec<String>> {
    use futures::TryStreamExt;
    let path = object_store::path::Path::from(prefix.trim_end_matches('/'));
    let mut names: Vec<String> =
        store.list(Some(&path)).map_ok(|m| m.location.to_string()).try_collect().await?;
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn vault_transit_keeps_old_backups_readable_after_a_rotation() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-kms-vault-{suffix}/");
    let topic = format!("kmsvault{suffix}");
    let key = format!("backups-{suffix}");
    let secret = format!("ssn-078-05-{suffix}");
    create_topic(&env, &topic, 1, &[]).await?;
    let (kms, token) = new_vault_key(&env, &key)?;
    let backup = format!(
        "{}topics:\n  include: [\"{topic}\"]\n{}{kms}",
        base_config(&env, &prefix, None)?,
        encrypted("vaultTransit", &key)
    );

    let first = secret_records(&topic, 0, 90, &secret);
    produce(&env, &topic, 0, &first).await?;
    // An unreachable Vault fails the run (after its retries) before anything is written.
    let unreachable = backup.replace(env.get("OPENBAO_ADDR")?, "http://127.0.0.1:1");
    let refused = run_err(&env, "backup", &unreachable, &[])?;
    assert!(
        refused.contains(&format!("transit/{key}")) && refused.contains("cannot be reached"),
        "{refused}"
    );
    assert_eq!(stored_objects(&store, &prefix).await?, Vec::<String>::new(), "nothing written");
    let b1 = run_ok(&env, "backup", &backup, &[])?["backupId"].as_str().unwrap_or_default().to_string();
    // Rotate the transit key: new backups wrap with version 2, version 1 still unwraps b1's.
    vault(&env, "POST", &format!("transit/keys/{key}/rotate"), json!({}))?;
    let more = secret_records(&topic, 90, 60, &secret);
    produce(&env, &topic, 0, &more).await?;
    let b2 = run_ok(&env, "backup", &backup, &[])?["backupId"].as_str().unwrap_or_default().to_string();

    let (m2, raw2) = manifest(&store, &prefix, &b2).await?;
    let versions: Vec<(&str, Option<u64>)> =
        m2.encoding.data_keys.iter().map(|k| (k.backup_id.as_str(), k.kms_key_version)).collect();
    assert_eq!(versions, [(b1.as_str(), Some(1)), (b2.as_str(), Some(2))], "{raw2}");
    assert!(m2.encoding.data_keys.iter().all(|k| k.wrapped.starts_with("vault:v") && k.kms_key_id == key));
    no_plaintext(&store, &m2, &secret).await?;

    // After the rotation both the old restore point and the incremental restore byte for byte.
    let mut all = first.clone();
    all.extend(more.iter().cloned());
    let t2 = format!("{topic}-latest");
    run_ok(&env, "restore", &restore_config(&env, &prefix, &topic, &t2, &kms)?, &[])?;
    assert_eq!(without_offsets(&consume_all(&env, &t2, 0)?), without_offsets(&all));
    let t1 = format!("{topic}-first");
    let old = format!("{}backupId: {b1}\n", restore_config(&env, &prefix, &topic, &t1, &kms)?);
    run_ok(&env, "restore", &old, &[])?;
    assert_eq!(without_offsets(&consume_all(&env, &t1, 0)?), without_offsets(&first));

    // Rewrap (the KMS operation): b1's data key wrapped by version 2, the data key unchanged.
    let access = KmsAccess {
        provider: KmsProvider::VaultTransit,
        key_id: key.clone(),
        aws_kms: None,
        vault_transit: Some(VaultTransitAccess {
            address: env.get("OPENBAO_ADDR")?.to_string(),
            mount_path: "transit".into(),
            token_file: Some(token.clone()),
            ..Default::default()
        }),
    };
    let client = Kms::connect(&access).await?;
    let old = m2.encoding.data_keys[0].clone();
    let rewrapped = client.rewrap(&old).await?;
    assert_eq!(rewrapped.kms_key_version, Some(2));
    assert!(rewrapped.wrapped.starts_with("vault:v2:"), "{}", rewrapped.wrapped);

    // Raising min_decryption_version retires version 1: b1's data key as stored can no longer
    // be unwrapped, and the restore says which key refused; the rewrapped one still opens.
    vault(&env, "POST", &format!("transit/keys/{key}/config"), json!({"min_decryption_version": 2}))?;
    let t3 = format!("{topic}-retired");
    let refused = run_err(&env, "restore", &restore_config(&env, &prefix, &topic, &t3, &kms)?, &[])?;
    assert!(refused.contains(&format!("transit/{key}")) && refused.contains("decrypt"), "{refused}");
    assert_eq!(client.unwrap(&rewrapped).await?.id(), old.key_id, "the same data key, rewrapped");
    assert!(client.unwrap(&old).await.is_err());
    if let Some(dir) = token.parent() {
        std::fs::remove_dir_all(dir).ok();
    }
    Ok(())
}

/// Records `from..from + n` of a partition keyed `cust-<i mod 6>` (every 11th null), each value
/// about 800 bytes carrying `secret` (so the stored segments can be searched for it) and a
/// header on every third.
fn customer_records(partition: i32, from: usize, n: usize, secret: &str) -> Vec<Record> {
    let base = recent();
    (from..from + n)
        .map(|i| {
            let mut value = format!("{secret}-{partition}-{i}-").into_bytes();
            value.extend((0..760 + i % 90).map(|j| ((i * 17 + j * 3 + partition as usize) % 251) as u8));
            Record {
                offset: i as i64,
                timestamp: base + i as i64,
                timestamp_type: strimzi_backup_operator::format::record::TimestampType::CreateTime,
                key: (i % 11 != 0).then(|| bytes::Bytes::from(format!("cust-{}", i % 6))),
                value: Some(value.into()),
                headers: match i % 3 {
                    0 => vec![strimzi_backup_operator::format::record::Header {
                        key: "region".into(),
                        value: Some(bytes::Bytes::from(format!("r{}", i % 4))),
                    }],
                    _ => Vec::new(),
                },
            }
        })
        .collect()
}

/// The right to be forgotten on backups sealed with data keys from AWS KMS: an erasure reads
/// each kept restore point as a restore does (the KMS unwraps each backup's data key) and seals
/// the rewritten segments with the data key of the backup they belong to, so the manifests'
/// wrapped keys stay as they were. The incremental backup's id sorts first, so its restore point
/// (whose own data key is not the full backup's) is the one the erasure meets the full backup's
/// segments through. After it no restore of either restore point yields the key, every other
/// record restores byte for byte, `verify` passes and no segment holds a value in the clear;
/// without the KMS settings the erasure is refused naming where they come from.
#[tokio::test]
async fn an_erasure_of_kms_encrypted_backups_keeps_their_wrapped_data_keys_and_every_other_record()
-> anyhow::Result<()> {
    const PARTITIONS: i32 = 2;
    const ERASED: &str = "cust-2";
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-kms-erase-{s}/");
    let topic = format!("kmserase{s}");
    let secret = format!("email-{s}@example.org");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let (key_id, arn) = new_aws_key(&env)?;
    let dir = std::env::temp_dir().join(format!("sbo-kms-erase-{s}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("id"), "kms-e2e-id\n")?;
    std::fs::write(dir.join("secret"), "kms-e2e-secret\n")?;
    let kms = aws_access(&env, &key_id, Some(&dir))?;
    let backup = format!(
        "{}topics:\n  include: [\"{topic}\"]\n{}  segmentSize: 1048576\n{kms}",
        base_config(&env, &prefix, None)?,
        encrypted("awsKms", &key_id)
    );
    let mut produced: std::collections::BTreeMap<i32, Vec<Record>> = std::collections::BTreeMap::new();
    for p in 0..PARTITIONS {
        let recs = customer_records(p, 0, 1500, &secret);
        produce(&env, &topic, p, &recs).await?;
        produced.insert(p, recs);
    }
    let (full, incr) = (format!("b-full-{s}"), format!("a-incr-{s}"));
    run_ok(&env, "backup", &backup, &["--backup-id", &full])?;
    for p in 0..PARTITIONS {
        let recs = customer_records(p, 1500, 400, &secret);
        produce(&env, &topic, p, &recs).await?;
        if let Some(all) = produced.get_mut(&p) {
            all.extend(recs);
        }
    }
    run_ok(&env, "backup", &backup, &["--backup-id", &incr])?;
    let points = [(full.clone(), 1500usize), (incr.clone(), 1900usize)];
    let mut before = Vec::new();
    for (id, _) in &points {
        before.push(manifest(&store, &prefix, id).await?.0);
    }
    assert_eq!(before[1].parent_id.as_deref(), Some(full.as_str()), "the second backup is incremental");
    assert_eq!(before[1].encoding.data_keys.len(), 2, "both backups' wrapped data keys");
    assert!(
        before[1].objects().any(|o| o.object.contains(&format!("/backups/{full}/segments/"))),
        "the incremental restore point lists the full backup's segments"
    );

    let erase = |id: &str, kms: &str| -> anyhow::Result<String> {
        Ok(format!(
            "{}erasureId: {id}\ntopics: [\"{topic}\"]\nkeys: {{values: [\"{ERASED}\"]}}\n{kms}",
            base_config(&env, &prefix, None)?
        ))
    };
    let erased = |r: &Record| r.key.as_deref() == Some(ERASED.as_bytes());
    let report = run_ok(&env, "erase", &erase(&format!("kms-{s}"), &kms)?, &[])?;
    let removed = produced.values().flatten().filter(|r| erased(r)).count();
    assert_eq!(report["recordsRemoved"], removed as u64, "{report}");
    let revised: Vec<&str> = report["restorePoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["backupId"].as_str())
        .collect();
    assert_eq!(revised, [incr.as_str(), full.as_str()], "both restore points revised: {report}");
    assert!(!report.to_string().contains(ERASED), "the report never holds a key");
    // Every piece lives under the backup of the segment it replaces (that id picks its data key).
    for r in report["rewritten"].as_array().into_iter().flatten() {
        let original = r["original"].as_str().unwrap_or_default();
        let dir = original.rsplit_once('/').map_or("", |(d, _)| d);
        for piece in r["pieces"].as_array().into_iter().flatten() {
            assert!(piece.as_str().unwrap_or_default().starts_with(&format!("{dir}/")), "{r}");
        }
    }

    for ((id, cut), was) in points.iter().zip(&before) {
        let (now, _) = manifest(&store, &prefix, id).await?;
        assert_eq!(now.revision_number(), 1, "{id}: a new revision");
        assert_eq!(now.encoding.data_keys, was.encoding.data_keys, "{id}: the wrapped data keys, unchanged");
        assert_eq!(now.encoding.encryption_key_id, was.encoding.encryption_key_id);
        assert_eq!(
            now.encoding.data_keys.iter().filter(|k| k.kms_key_id == arn).count(),
            now.encoding.data_keys.len()
        );
        no_plaintext(&store, &now, &secret).await?;
        let verified = run_ok(
            &env,
            "verify",
            &format!("{}{kms}", base_config(&env, &prefix, None)?),
            &["--backup-id", id],
        )?;
        assert_eq!(verified["problems"], json!([]), "{id}: {verified}");
        let target = format!("{topic}-{}", &id[..1]);
        let restored = run_ok(
            &env,
            "restore",
            &restore_config(&env, &prefix, &topic, &target, &kms)?,
            &["--backup-id", id, "--restore-id", &format!("kmserase-{s}-{}", &id[..1])],
        )?;
        let mut total = 0;
        for p in 0..PARTITIONS {
            let want: Vec<Record> = produced[&p][..*cut].iter().filter(|r| !erased(r)).cloned().collect();
            let got = consume_all(&env, &target, p)?;
            assert!(!got.iter().any(erased), "{id}: a record of the erased key was restored");
            assert_eq!(got.len(), want.len(), "{id} {target}/{p}: records");
            assert!(without_offsets(&got) == without_offsets(&want), "{id} {target}/{p}: not byte for byte");
            total += want.len();
        }
        assert_eq!(restored["restoredRecords"], total as u64, "{restored}");
    }

    // Without the KMS settings an erasure cannot read the restore points and says what to give.
    let refused = run_err(&env, "erase", &erase(&format!("nokms-{s}"), "")?, &[])?;
    assert!(
        refused.contains("wrapped by awsKms key")
            && refused.contains(&arn)
            && refused.contains("spec.backup.encryption")
            && refused.contains("spec.encryption"),
        "{refused}"
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// Through the operator: a `KafkaDataErasure` of a KMS-encrypted `KafkaBackup` and one of a
/// `KafkaBackupLocation` whose `spec.encryption.kms` names the same key both complete, their Jobs
/// mounting the KMS credentials Secret as files (the values in no Job, ConfigMap, status or log);
/// one of a location without `spec.encryption` fails naming that field. Afterwards the restore
/// point, read through the KMS, holds every record but the two erased keys' and its wrapped data
/// keys are unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn through_the_operator_erasures_of_kms_encrypted_backups_mount_the_kms_secret_and_name_a_missing_one()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let store = minio(env)?;
    let ns = namespace_with_kafka(&cluster, "kmskde").await?;
    let s = unique_suffix();
    let topic = format!("kmskde{s}");
    let secret = format!("phone-0151-{s}");
    create_topic(env, &topic, 1, &[]).await?;
    let recs = customer_records(0, 0, 400, &secret);
    produce(env, &topic, 0, &recs).await?;
    let (key_id, _) = new_aws_key(env)?;
    let (id_value, secret_value) = (format!("AKIAKDE{s}"), format!("kde-kms-secret-{s}-never-shown"));
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: kms-credentials}}\nstringData: {{AWS_ACCESS_KEY_ID: {id_value}, AWS_SECRET_ACCESS_KEY: {secret_value}}}\n"
            ),
        )
        .await?;
    licences::install(&cluster, &ns, &licences::issued(&["encryption", "kms", "erasure"], 30)?).await?;
    let operator = Operator::start(env, &ns)?;
    let prefix = format!("e2e-op-kms-kde-{s}/");
    let storage = minio_storage(env, &prefix, "minio-credentials", 2)?;
    let kms_spec = format!(
        "kms: {{provider: awsKms, keyId: {key_id}, awsKms: {{region: {}, endpoint: '{}', credentialsSecret: {{name: kms-credentials}}}}}}",
        env.get("KMS_AWS_REGION")?,
        env.get("KMS_AWS_ENDPOINT")?
    );
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: src}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{storage}  backup:\n    mode: full\n    encryption:\n      enabled: true\n      {kms_spec}\n"
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "src", Duration::from_secs(240))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let id = backups.get("src").await?.status.and_then(|st| st.last_backup).map(|b| b.id).unwrap_or_default();
    let (before, _) = manifest(&store, &prefix, &id).await?;
    assert_eq!(before.encoding.data_keys.len(), 1);
    for (name, encryption) in
        [("dr", format!("  encryption:\n    enabled: true\n    {kms_spec}\n")), ("plain", String::new())]
    {
        cluster
            .apply_yaml(
                &ns,
                &format!(
                    "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackupLocation\nmetadata: {{name: {name}}}\nspec:\n  syncPeriod: 1h\n{storage}{encryption}"
                ),
            )
            .await?;
    }
    let erasure = |name: &str, source: &str, key: &str| {
        format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaDataErasure\nmetadata: {{name: {name}}}\nspec:\n  {source}\n  topics: ['{topic}']\n  keys: {{values: ['{key}']}}\n  job: {{backoffLimit: 0}}\n"
        )
    };
    let erasures: Api<KafkaDataErasure> = Api::namespaced(cluster.client.clone(), &ns);
    let mut statuses = String::new();
    for (name, source, key, removed) in [
        (
            "forget",
            "backupRef: {name: src}",
            "cust-2",
            recs.iter().filter(|r| r.key.as_deref() == Some(b"cust-2")).count(),
        ),
        (
            "forget-dr",
            "locationRef: {name: dr}",
            "cust-4",
            recs.iter().filter(|r| r.key.as_deref() == Some(b"cust-4")).count(),
        ),
    ] {
        cluster.apply_yaml(&ns, &erasure(name, source, key)).await?;
        let run = finished_run(&erasures, name, Duration::from_secs(240), |r| r.status.as_ref()?.phase)
            .await
            .map_err(|e| e.context(operator.log_text()))?;
        let status = run.status.clone().unwrap_or_default();
        assert_eq!(status.phase, Some(RunPhase::Completed), "{name}: {status:?}\n{}", operator.log_text());
        let report = status.report.clone().expect("the report");
        assert_eq!(
            (report.records_removed, report.restore_points_rewritten),
            (removed as i64, 1),
            "{name}: {report:?}"
        );
        statuses.push_str(&serde_json::to_string(&status)?);
    }
    // A location without spec.encryption cannot read the backups: the erasure fails naming it.
    cluster.apply_yaml(&ns, &erasure("forget-plain", "locationRef: {name: plain}", "cust-1")).await?;
    let run = finished_run(&erasures, "forget-plain", Duration::from_secs(240), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let status = run.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Some(RunPhase::Failed), "{status:?}");
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").cloned().expect("Ready");
    let message = ready.message.clone().unwrap_or_default();
    assert!(
        ready.reason.as_deref() == Some("ErasureFailed")
            && message.contains("spec.encryption")
            && message.contains("wrapped by awsKms key"),
        "{ready:?}"
    );
    statuses.push_str(&serde_json::to_string(&status)?);

    // The two erasures' Jobs mount the KMS credentials as files; their values are nowhere else.
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let mut seen = statuses;
    for name in ["forget-erase", "forget-dr-erase"] {
        let job = jobs.get(name).await?;
        seen.push_str(&serde_json::to_string(&job)?);
        let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
        let mounts: Vec<_> = pod.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .filter(|m| m.mount_path.contains("/kms-aws-"))
            .collect();
        assert_eq!(mounts.len(), 2, "{name}: both credential files: {mounts:?}");
        for m in mounts {
            assert_eq!(m.read_only, Some(true), "{m:?}");
            let volume = pod.volumes.iter().flatten().find(|v| v.name == m.name);
            assert_eq!(
                volume.and_then(|v| v.secret.as_ref()).and_then(|s| s.secret_name.as_deref()),
                Some("kms-credentials"),
                "{name}: {m:?}"
            );
        }
    }
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(cluster.client.clone(), &ns);
    seen.push_str(&serde_json::to_string(&config_maps.list(&ListParams::default()).await?.items)?);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    for pod in pods.list(&ListParams::default()).await?.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        seen.push_str(&pods.logs(&name, &LogParams::default()).await.unwrap_or_default());
    }
    seen.push_str(&operator.log_text());
    assert!(seen.contains("/etc/strimzi-backup/kms-aws-secret-access-key"), "the config names the files");
    assert!(!seen.contains(&secret_value) && !seen.contains(&id_value), "a KMS credential leaked");

    // The restore point through the KMS: every record but the erased keys', its data keys as were.
    let (after, _) = manifest(&store, &prefix, &id).await?;
    assert_eq!(after.revision_number(), 2, "one revision per erasure");
    assert_eq!(after.encoding.data_keys, before.encoding.data_keys, "the wrapped data key, unchanged");
    no_plaintext(&store, &after, &secret).await?;
    let dir = std::env::temp_dir().join(format!("sbo-kms-kde-{s}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("id"), "kms-e2e-id\n")?;
    std::fs::write(dir.join("secret"), "kms-e2e-secret\n")?;
    let kms = aws_access(env, &key_id, Some(&dir))?;
    let target = format!("{topic}-kept");
    run_ok(
        env,
        "restore",
        &format!("{}backupId: {id}\n", restore_config(env, &prefix, &topic, &target, &kms)?),
        &[],
    )?;
    let want: Vec<Record> = recs
        .iter()
        .filter(|r| !matches!(r.key.as_deref(), Some(b"cust-2") | Some(b"cust-4")))
        .cloned()
        .collect();
    assert!(without_offsets(&consume_all(env, &target, 0)?) == without_offsets(&want), "not byte for byte");
    std::fs::remove_dir_all(&dir).ok();
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// `kubectl` against the local cluster: its stdout, trimmed.
fn kubectl(cluster: &Cluster, args: &[&str]) -> anyhow::Result<String> {
    let out = cluster.kubectl(args)?;
    anyhow::ensure!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// The PEM of the CA the local API server's certificate is signed by (from the kubeconfig).
fn apiserver_ca(env: &TestEnv) -> anyhow::Result<String> {
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(env.kubeconfig())?)?;
    let file = config["clusters"][0]["cluster"]["certificate-authority"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the kubeconfig names no certificate-authority file"))?;
    Ok(std::fs::read_to_string(file)?)
}

/// The identity chain for Vault: no token anywhere, the data plane logs in with a service
/// account token through Vault's Kubernetes auth method, which OpenBao checks with a real
/// TokenReview against the local API server; a service account the role is not bound to is
/// refused at login, naming the key and the login.
#[tokio::test]
async fn vault_kubernetes_auth_logs_in_with_the_service_account_token() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let store = minio(env)?;
    let ns = cluster.namespace("kms-vault").await?;
    let s = unique_suffix();
    let (topic, key, mount) = (format!("kmsk8s{s}"), format!("k8s-backups-{s}"), format!("k8s-{s}"));
    let prefix = format!("e2e-kms-k8s-{s}/");
    create_topic(env, &topic, 1, &[]).await?;
    let recs = secret_records(&topic, 0, 50, &format!("tax-id-{s}"));
    produce(env, &topic, 0, &recs).await?;

    // The Job's service account (and one the role does not name); OpenBao reviews tokens with
    // the logging-in token itself, so it may create TokenReviews (system:auth-delegator).
    let binding = format!("e2e-kms-vault-{s}");
    for sa in ["kafka-backup", "someone-else"] {
        kubectl(&cluster, &["-n", &ns, "create", "serviceaccount", sa])?;
    }
    kubectl(
        &cluster,
        &[
            "create",
            "clusterrolebinding",
            &binding,
            "--clusterrole=system:auth-delegator",
            &format!("--serviceaccount={ns}:kafka-backup"),
            &format!("--serviceaccount={ns}:someone-else"),
        ],
    )?;
    let dir = std::env::temp_dir().join(format!("sbo-kms-{s}"));
    std::fs::create_dir_all(&dir)?;
    for sa in ["kafka-backup", "someone-else"] {
        std::fs::write(dir.join(sa), kubectl(&cluster, &["-n", &ns, "create", "token", sa])?)?;
    }

    // OpenBao: the auth method at its own mount, a role for kafka-backup allowed exactly
    // encrypt and decrypt with the key.
    vault(env, "POST", &format!("sys/auth/{mount}"), json!({"type": "kubernetes"}))?;
    vault(
        env,
        "POST",
        &format!("auth/{mount}/config"),
        json!({"kubernetes_host": env.get("KUBE_APISERVER")?, "kubernetes_ca_cert": apiserver_ca(env)?, "disable_local_ca_jwt": true}),
    )?;
    vault(env, "POST", &format!("transit/keys/{key}"), json!({}))?;
    let policy = format!(
        "path \"transit/encrypt/{key}\" {{ capabilities = [\"update\"] }}\npath \"transit/decrypt/{key}\" {{ capabilities = [\"update\"] }}"
    );
    vault(env, "PUT", &format!("sys/policies/acl/{key}"), json!({"policy": policy}))?;
    vault(
        env,
        "POST",
        &format!("auth/{mount}/role/kafka-backup"),
        json!({"bound_service_account_names": ["kafka-backup"], "bound_service_account_namespaces": [ns], "token_policies": [key]}),
    )?;

    let kms = |sa: &str| -> anyhow::Result<String> {
        Ok(format!(
            "kms:\n  provider: vaultTransit\n  keyId: {key}\n  vaultTransit:\n    address: {}\n    kubernetesRole: kafka-backup\n    kubernetesMountPath: {mount}\n    serviceAccountTokenFile: {}\n",
            env.get("OPENBAO_ADDR")?,
            dir.join(sa).display()
        ))
    };
    let backup = |sa: &str| -> anyhow::Result<String> {
        Ok(format!(
            "{}topics:\n  include: [\"{topic}\"]\n{}{}",
            base_config(env, &prefix, None)?,
            encrypted("vaultTransit", &key),
            kms(sa)?
        ))
    };
    let refused = run_err(env, "backup", &backup("someone-else")?, &[])?;
    assert!(
        refused.contains(&format!("transit/{key}")) && refused.contains("login") && refused.contains("403"),
        "a service account the role does not name is refused at login: {refused}"
    );
    let id = run_ok(env, "backup", &backup("kafka-backup")?, &[])?["backupId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (m, _) = manifest(&store, &prefix, &id).await?;
    assert_eq!(m.encoding.data_keys.len(), 1);
    assert!(m.encoding.data_keys[0].wrapped.starts_with("vault:v1:"));
    let target = format!("{topic}-restored");
    run_ok(env, "restore", &restore_config(env, &prefix, &topic, &target, &kms("kafka-backup")?)?, &[])?;
    assert_eq!(without_offsets(&consume_all(env, &target, 0)?), without_offsets(&recs));

    kubectl(&cluster, &["delete", "clusterrolebinding", &binding])?;
    cluster.delete_namespace(&ns).await?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_operator_kms_credentials_stay_in_their_secret_and_kms_follows_the_licence()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let store = minio(env)?;
    let ns = namespace_with_kafka(&cluster, "kms").await?;
    let s = unique_suffix();
    let topic = format!("kmsop{s}");
    create_topic(env, &topic, 1, &[]).await?;
    let recs = secret_records(&topic, 0, 60, &format!("pan-4111-{s}"));
    produce(env, &topic, 0, &recs).await?;
    let (key_id, arn) = new_aws_key(env)?;
    let (id_value, secret_value) = (format!("AKIAKMSE2E{s}"), format!("kms-secret-{s}-never-shown"));
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: kms-credentials}}\nstringData: {{AWS_ACCESS_KEY_ID: {id_value}, AWS_SECRET_ACCESS_KEY: {secret_value}}}\n"
            ),
        )
        .await?;
    let operator = Operator::start(env, &ns)?;
    let prefix = format!("e2e-op-kms-{s}/");
    let backup = |name: &str| -> anyhow::Result<String> {
        Ok(format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}  backup:\n    mode: full\n    encryption:\n      enabled: true\n      kms:\n        provider: awsKms\n        keyId: {key_id}\n        awsKms: {{region: {}, endpoint: '{}', credentialsSecret: {{name: kms-credentials}}}}\n",
            minio_storage(env, &format!("{prefix}{name}/"), "minio-credentials", 2)?,
            env.get("KMS_AWS_REGION")?,
            env.get("KMS_AWS_ENDPOINT")?
        ))
    };
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);

    // No webhook and no licence: the controller holds the backup and starts no Job.
    cluster.apply_yaml(&ns, &backup("src")?).await?;
    wait_until(Duration::from_secs(60), "the kms backup held for its licence", || async {
        let st = backups.get("src").await?.status.unwrap_or_default();
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        Ok(ready.filter(|c| c.reason.as_deref() == Some("LicenseInvalid")))
    })
    .await
    .map(|c| assert!(c.message.as_deref().unwrap_or_default().contains("spec.backup.encryption"), "{c:?}"))
    .map_err(|e| e.context(operator.log_text()))?;
    assert!(jobs.list(&ListParams::default()).await?.items.is_empty(), "no Job without a licence");

    // A licence granting encryption and kms: the backup runs, its data key wrapped by the key.
    licences::install(&cluster, &ns, &licences::issued(&["encryption", "kms"], 30)?).await?;
    backup_completed(&backups, "src", Duration::from_secs(240))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let id = backups.get("src").await?.status.and_then(|st| st.last_backup).map(|b| b.id).unwrap_or_default();
    let (m, _) = manifest(&store, &format!("{prefix}src/"), &id).await?;
    assert_eq!(m.encoding.data_keys.len(), 1);
    assert_eq!(m.encoding.data_keys[0].kms_key_id, arn);

    // A restore of it through the operator: byte for byte.
    let restore = |name: &str| {
        format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: src}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {topic}-{name}}}]\n"
        )
    };
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    cluster.apply_yaml(&ns, &restore("back")).await?;
    let run = finished_run(&restores, "back", Duration::from_secs(240), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(
        run.status.as_ref().and_then(|s| s.phase),
        Some(RunPhase::Completed),
        "{run:?}\n{}",
        operator.log_text()
    );
    assert_eq!(without_offsets(&consume_all(env, &format!("{topic}-back"), 0)?), without_offsets(&recs));

    // The credentials are nowhere but in their Secret: not in the Jobs, the statuses, the
    // operator's log or the Jobs' pods' logs; the Jobs mount them as files.
    let mut seen = serde_json::to_string(&backups.get("src").await?.status)?;
    seen.push_str(&serde_json::to_string(&run.status)?);
    let mut kms_mounts = 0;
    for job in jobs.list(&ListParams::default()).await?.items {
        seen.push_str(&serde_json::to_string(&job)?);
        let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
        for c in &pod.containers {
            for m in c.volume_mounts.iter().flatten().filter(|m| m.mount_path.contains("/kms-")) {
                assert_eq!(m.read_only, Some(true), "{m:?}");
                let volume = pod.volumes.iter().flatten().find(|v| v.name == m.name);
                assert_eq!(
                    volume.and_then(|v| v.secret.as_ref()).and_then(|s| s.secret_name.as_deref()),
                    Some("kms-credentials"),
                    "{m:?} comes from the credentials Secret"
                );
                kms_mounts += 1;
            }
        }
    }
    assert!(kms_mounts >= 4, "the backup's and the restore's Jobs mount both keys: {kms_mounts}");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let mut pod_logs = 0;
    for pod in pods.list(&ListParams::default()).await?.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        seen.push_str(&pods.logs(&name, &LogParams::default()).await.unwrap_or_default());
        pod_logs += 1;
    }
    seen.push_str(&operator.log_text());
    assert!(!seen.contains(&secret_value) && !seen.contains(&id_value), "a KMS credential leaked");
    assert!(
        seen.contains("/etc/strimzi-backup/kms-aws-secret-access-key"),
        "the Jobs mount the credentials as files"
    );
    assert!(pod_logs >= 2, "the backup's and the restore's pods were looked at");

    // The webhook: new kms use needs a licence granting `kms`, valid; an expired licence keeps
    // the accepted backup running and its restores working.
    let _registration = Registration::new(&cluster, &operator, &ns).await?;
    webhook::answering(&cluster, &ns, &operator).await?;
    for (token, why) in [
        (licences::VALID.to_string(), "does not grant the `kms` feature"),
        (licences::issued(&["encryption", "kms"], -1)?, "expired"),
    ] {
        licences::install(&cluster, &ns, &token).await?;
        wait_until(Duration::from_secs(60), &format!("a new kms backup refused ({why})"), || async {
            let (ok, text) = cluster.kubectl_apply(&ns, &backup("new")?, &["--dry-run=server"])?;
            Ok((!ok && text.contains("spec.backup.encryption.kms") && text.contains(why)).then_some(()))
        })
        .await?;
    }
    // Expired: the existing backup runs again on demand, and restoring it still works.
    let mut kb = backups.get("src").await?;
    kb.metadata
        .annotations
        .get_or_insert_default()
        .insert("kafkabackup.com/trigger".into(), "after-expiry".into());
    kb.metadata.managed_fields = None;
    backups.replace("src", &Default::default(), &kb).await?;
    wait_until(
        Duration::from_secs(240),
        "a run of the accepted kms backup under the expired licence",
        || async {
            let st = backups.get("src").await?.status.unwrap_or_default();
            Ok(st.last_backup.filter(|b| b.id != id && b.status == BackupRunStatus::Completed))
        },
    )
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    cluster.apply_yaml(&ns, &restore("later")).await?;
    let run =
        finished_run(&restores, "later", Duration::from_secs(240), |r| r.status.as_ref()?.phase).await?;
    assert_eq!(run.status.as_ref().and_then(|s| s.phase), Some(RunPhase::Completed), "{run:?}");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
