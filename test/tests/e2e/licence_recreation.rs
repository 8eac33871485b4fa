//! A `KafkaBackup` re-created after its licence expired keeps protecting data (SPEC §4: "licence
//! expiry never stops an existing schedule from protecting data"), through the real API server,
//! the operator's webhooks and MinIO: encrypted backups under a valid licence; the licence
//! expires; the object is deleted (its stored backups retained) and applied again identically,
//! as a GitOps re-sync does. It must be admitted and go on writing *encrypted* backups — neither
//! refused nor quietly re-applied without encryption — while a new `KafkaBackup` asking for
//! encryption at a fresh location is still refused, naming the field.
//!
//! Encryption is checked on the stored bytes, not the status: the manifest's
//! `encoding.encryptionKeyId` (docs/format.md; the manifest file wraps it as `{"manifest": …}`) and the `encrypted` byte of every segment header
//! (offset 9: `"KBSEG\0"`, version u16, codec u8, encrypted u8), read here without the product's
//! format code.

use std::time::Duration;

use futures::TryStreamExt;
use kube::api::{Api, DeleteParams};
use object_store::{ObjectStore, ObjectStoreExt};
use strimzi_backup_e2e::dataplane::{create_topic, minio, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::licences;
use strimzi_backup_e2e::operator::{Operator, namespace_with_kafka};
use strimzi_backup_e2e::webhook::{self, Registration};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup, KafkaBackupStatus};

/// The AES-256 key (hex) in the Secret `aes`.
const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn completed(s: &KafkaBackupStatus) -> Vec<String> {
    s.backup_history.iter().filter(|b| b.status == BackupRunStatus::Completed).map(|b| b.id.clone()).collect()
}

/// The backup `id` at `prefix` as stored: its manifest's `encryptionKeyId` (`None`: not
/// encrypted) and, per segment, whether its header says encrypted.
async fn stored_encryption(
    env: &strimzi_backup_e2e::env::TestEnv,
    prefix: &str,
    id: &str,
) -> anyhow::Result<(Option<String>, Vec<bool>)> {
    let store = minio(env)?;
    let base = format!("{prefix}backups/{id}/");
    let manifest =
        store.get(&object_store::path::Path::from(format!("{base}manifest.json"))).await?.bytes().await?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest)?;
    let key_id = manifest["manifest"]["encoding"]["encryptionKeyId"].as_str().map(str::to_string);
    let objects: Vec<_> =
        store.list(Some(&object_store::path::Path::from(format!("{base}segments")))).try_collect().await?;
    let mut segments = Vec::new();
    for o in objects.iter().filter(|o| o.location.as_ref().ends_with(".kbseg")) {
        let bytes = store.get(&o.location).await?.bytes().await?;
        anyhow::ensure!(bytes.len() > 9 && bytes.starts_with(b"KBSEG\0"), "{} is not a segment", o.location);
        segments.push(bytes[9] == 1);
    }
    Ok((key_id, segments))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_recreated_after_expiry_keeps_backing_up_encrypted_and_a_new_one_is_refused()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "licence-recreated").await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: aes}}\nstringData: {{key: {KEY_HEX}}}\n"
            ),
        )
        .await?;
    let operator = Operator::start(env, &ns)?;
    let _registration = Registration::new(&cluster, &operator, &ns).await?;
    webhook::answering(&cluster, &ns, &operator).await?;
    let s = unique_suffix();
    let prefix = format!("e2e-recreated-{s}/");
    let topic = format!("kept{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 20, recent())).await?;
    let manifest = licences::encrypted_backup(env, "kept", "aes", &topic, &prefix)?;
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);

    // Under a valid licence: accepted, and an encrypted backup is written.
    licences::install(&cluster, &ns, licences::VALID).await?;
    wait_until(Duration::from_secs(60), "the valid licence to be in effect", || async {
        Ok(cluster.kubectl_apply(&ns, &manifest, &[])?.0.then_some(()))
    })
    .await?;
    let first = wait_until(Duration::from_secs(150), "an encrypted backup", || async {
        Ok(completed(&api.get("kept").await?.status.unwrap_or_default()).first().cloned())
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let (key_id, segments) = stored_encryption(env, &prefix, &first).await?;
    let key_id = key_id.ok_or_else(|| anyhow::anyhow!("backup {first} is not encrypted"))?;
    anyhow::ensure!(!segments.is_empty() && segments.iter().all(|e| *e), "{first}: {segments:?}");

    // The licence expires; the object is deleted (its backups retained) and applied again.
    licences::install(&cluster, &ns, licences::EXPIRED).await?;
    wait_until(Duration::from_secs(60), "the expiry to be seen", || async {
        let m = operator.metric("strimzi_backup_license_info", &["state=\"expired\""]).await?;
        Ok((m == 1.0).then_some(()))
    })
    .await?;
    api.delete("kept", &DeleteParams::default()).await?;
    wait_until(Duration::from_secs(60), "the KafkaBackup to be gone", || async {
        Ok(api.get_opt("kept").await?.is_none().then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let (admitted, text) = cluster.kubectl_apply(&ns, &manifest, &[])?;
    anyhow::ensure!(admitted, "the identical re-apply was refused: {text}");
    assert!(text.contains("keep running"), "the re-apply is admitted with the lapse as a warning: {text}");

    // It keeps backing up, encrypted with the same key, with the lapse as a condition.
    let again = wait_until(Duration::from_secs(150), "a backup of the re-created object", || async {
        let st = api.get("kept").await?.status.unwrap_or_default();
        Ok(completed(&st).first().cloned().map(|id| (id, st)))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let (id, st) = again;
    assert_ne!(id, first, "a new run of the re-created object");
    let (again_key, segments) = stored_encryption(env, &prefix, &id).await?;
    assert_eq!(
        again_key.as_deref(),
        Some(key_id.as_str()),
        "backup {id} must be encrypted with the same key"
    );
    anyhow::ensure!(!segments.is_empty() && segments.iter().all(|e| *e), "{id}: {segments:?}");
    let lapse = st.conditions.iter().find(|c| c.type_ == "LicenseInvalid").cloned().unwrap_or_default();
    assert_eq!(lapse.reason.as_deref(), Some("LicenseExpired"), "{st:?}");
    assert!(st.licensed_settings.is_some(), "{st:?}");

    // A new KafkaBackup asking for encryption at a fresh location is refused, naming the field.
    let fresh = licences::encrypted_backup(env, "fresh", "aes", &topic, &format!("{prefix}fresh/"))?;
    let (admitted, text) = cluster.kubectl_apply(&ns, &fresh, &[])?;
    assert!(!admitted, "a new Enterprise use under an expired licence was admitted: {text}");
    assert!(text.contains("spec.backup.encryption") && text.contains("expired on 2026-01-01"), "{text}");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
