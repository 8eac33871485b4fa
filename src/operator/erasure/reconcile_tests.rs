//! The `KafkaDataErasure` reconcile against a fake API server ([`fixtures`]), through its public
//! [`reconcile`] only: the licence gate before any Job, then the Job on the KafkaBackup's
//! location with the keys' Secret mounted (never in the config), and the report into the status.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::controller::reconcile;
use crate::api::erasure::KafkaDataErasure;
use crate::license::{Claims, Edition};
use crate::operator::error::Error;
use crate::operator::fixtures::{self, Call, ready};

const NS: &str = "kafka";
const UID: &str = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716";
const KDE: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkadataerasures/forget";
const JOB: &str = "forget-erase";
const JOBS: &str = "/apis/batch/v1/namespaces/kafka/jobs";
const CONFIG_MAPS: &str = "/api/v1/namespaces/kafka/configmaps";
const KB: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkabackups/orders";

fn erasure() -> KafkaDataErasure {
    let spec = serde_yaml_ng::from_str(
        "backupRef: {name: orders}\ntopics: [orders]\nkeys: {values: [inline-key], secretKeyRefs: [{name: gdpr-keys, key: list}]}\n",
    )
    .expect("spec");
    let mut kde = KafkaDataErasure::new("forget", spec);
    kde.metadata.namespace = Some(NS.into());
    kde.metadata.uid = Some(UID.into());
    kde.metadata.generation = Some(1);
    kde
}

fn object(kde: &KafkaDataErasure) -> Value {
    serde_json::to_value(kde).expect("KafkaDataErasure as JSON")
}

fn licence(features: &[&str]) -> Option<String> {
    let now = chrono::Utc::now();
    let claims = Claims {
        id: "lic-1".into(),
        customer: "Example Bank".into(),
        edition: Edition::Enterprise,
        features: features.iter().map(|f| f.to_string()).collect(),
        issued_at: now - chrono::Duration::days(1),
        expires_at: now + chrono::Duration::days(30),
    };
    Some(crate::license::issue(&claims, &crate::license::test_key::SEED).expect("a test licence"))
}

async fn run(kde: KafkaDataErasure, token: Option<String>, calls: Vec<Call>) -> Result<Action, Error> {
    let (ctx, server) = fixtures::context();
    ctx.license.set(token);
    server.run(calls, reconcile(Arc::new(kde), ctx)).await
}

#[tokio::test]
async fn without_a_licence_granting_erasure_nothing_starts_and_ready_says_license_invalid() {
    for token in [None, licence(&["encryption"])] {
        let kde = erasure();
        let calls = vec![
            Call::get_absent(format!("{JOBS}/{JOB}")),
            Call::event(NS, "Warning", "LicenseInvalid"),
            Call::apply_status(KDE, object(&kde)).body(|b| {
                assert_eq!(b["status"]["phase"], "Pending");
                assert_eq!(ready(b), ("False".into(), "LicenseInvalid".into()));
                let message = b["status"]["conditions"][0]["message"].as_str().unwrap_or_default();
                assert!(message.starts_with("spec: "), "names the field: {message}");
            }),
        ];
        assert_eq!(
            run(kde, token, calls).await.expect("reconcile"),
            Action::requeue(Duration::from_secs(30))
        );
    }
}

#[tokio::test]
async fn with_a_licence_the_erase_job_starts_on_the_backups_location_with_the_keys_mounted() {
    let kde = erasure();
    let kb = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup",
        "metadata": {"name": "orders", "namespace": NS},
        "spec": {"kafkaCluster": {"bootstrapServers": "k:9092"},
            "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r", "credentialsSecret": {"name": "s3-creds"}}}}});
    let calls = vec![
        Call::get_absent(format!("{JOBS}/{JOB}")),
        Call::get(KB, kb),
        Call::create(CONFIG_MAPS).body(|b| {
            let config = b["data"]["config.yaml"].as_str().expect("the run's config");
            assert!(config.contains(&format!("erasureId: kde-{UID}")), "{config}");
            assert!(
                config.contains("inline-key") && config.contains("erasure-keys-secret-0/keys"),
                "{config}"
            );
            assert!(
                !config.contains("gdpr-keys"),
                "the Secret is mounted, never named in the config: {config}"
            );
            assert!(config.contains("kafka/orders/"), "the KafkaBackup's location: {config}");
        }),
        Call::create(JOBS).body(|b| {
            let pod = &b["spec"]["template"]["spec"];
            let volumes: Vec<&Value> = pod["volumes"].as_array().into_iter().flatten().collect();
            assert!(volumes.iter().any(|v| v["secret"]["secretName"] == "gdpr-keys"), "{volumes:?}");
            let args = pod["containers"][0]["args"].to_string();
            assert!(args.contains("erase") && !args.contains("inline-key"), "{args}");
        }),
        Call::event(NS, "Normal", "ErasureStarted"),
        Call::apply_status(KDE, object(&kde)).body(|b| {
            let s = &b["status"];
            assert_eq!((&s["phase"], &s["jobName"]), (&json!("Running"), &json!(JOB)));
            assert_eq!(s["erasureId"], format!("kde-{UID}"));
            assert_eq!(ready(b), ("False".into(), "ErasureRunning".into()));
        }),
    ];
    let action = run(kde, licence(&["erasure"]), calls).await.expect("reconcile");
    assert_eq!(action, Action::requeue(Duration::from_secs(15)));
}

/// The config and Job of an erasure whose backups are KMS-encrypted: the KMS settings reach the
/// data plane with each Secret as a mounted file (never named in the config or the arguments).
fn kms_launch_calls(
    kde: &KafkaDataErasure,
    source_path: &str,
    source: Value,
    secret: &'static str,
) -> Vec<Call> {
    vec![
        Call::get_absent(format!("{JOBS}/{JOB}")),
        Call::get(source_path, source),
        Call::create(CONFIG_MAPS).body(move |b| {
            let config = b["data"]["config.yaml"].as_str().expect("the run's config");
            let back: crate::erase::EraseConfig =
                serde_yaml_ng::from_str(config).expect("the data plane reads it");
            let kms = back.kms.expect("the KMS settings");
            assert_eq!(kms.key_id, "alias/backups", "{config}");
            assert!(!config.contains(secret), "the Secret is mounted, never named: {config}");
            assert!(config.contains("/etc/strimzi-backup/kms-"), "{config}");
        }),
        Call::create(JOBS).body(move |b| {
            let pod = &b["spec"]["template"]["spec"];
            let volumes: Vec<&Value> = pod["volumes"].as_array().into_iter().flatten().collect();
            assert!(volumes.iter().any(|v| v["secret"]["secretName"] == secret), "{volumes:?}");
            let args = pod["containers"][0]["args"].to_string();
            assert!(!args.contains(secret), "{args}");
            assert!(!pod["containers"][0]["env"].to_string().contains(secret), "no credential variable");
        }),
        Call::event(NS, "Normal", "ErasureStarted"),
        Call::apply_status(KDE, object(kde)).body(|b| assert_eq!(b["status"]["phase"], "Running")),
    ]
}

#[tokio::test]
async fn a_kms_encrypted_backup_is_erased_with_the_kms_access_its_restores_have() {
    let kde = erasure();
    let kb = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup",
        "metadata": {"name": "orders", "namespace": NS},
        "spec": {"kafkaCluster": {"bootstrapServers": "k:9092"},
            "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r"}},
            "backup": {"encryption": {"enabled": true, "kms": {"provider": "awsKms", "keyId": "alias/backups",
                "awsKms": {"region": "eu-west-1", "credentialsSecret": {"name": "kms-creds"}}}}}}});
    let calls = kms_launch_calls(&kde, KB, kb, "kms-creds");
    run(kde, licence(&["erasure"]), calls).await.expect("reconcile");
}

#[tokio::test]
async fn an_erasure_at_a_location_reads_with_the_locations_spec_encryption() {
    let spec = serde_yaml_ng::from_str("locationRef: {name: dr}\ntopics: [orders]\nkeys: {values: [k]}\n")
        .expect("spec");
    let mut kde = KafkaDataErasure::new("forget", spec);
    kde.metadata.namespace = Some(NS.into());
    kde.metadata.uid = Some(UID.into());
    kde.metadata.generation = Some(1);
    let location = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackupLocation",
        "metadata": {"name": "dr", "namespace": NS},
        "spec": {"storage": {"type": "s3", "s3": {"bucket": "b", "region": "r"}},
            "encryption": {"enabled": true, "kms": {"provider": "vaultTransit", "keyId": "alias/backups",
                "vaultTransit": {"address": "https://vault:8200", "tokenSecret": {"name": "openbao-login", "key": "token"}}}}}});
    let calls = kms_launch_calls(
        &kde,
        "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkabackuplocations/dr",
        location,
        "openbao-login",
    );
    run(kde, licence(&["erasure"]), calls).await.expect("reconcile");
}

#[test]
fn the_status_report_holds_counts_and_digests_never_keys() {
    let report: crate::erase::EraseReport = serde_json::from_value(json!({
        "erasureId": "kde-1", "location": "s3://b/p/",
        "restorePoints": [{"backupId": "a", "revision": 2}, {"backupId": "b", "revision": 1}],
        "segmentsRead": 5, "segmentsRewritten": 3, "segmentsWritten": 4, "segmentsDeleted": 3,
        "recordsRemoved": 7, "topics": [{"topic": "orders", "records": 7}],
        "keyDigests": ["ab"], "keysSelected": 1,
        "liveTopics": [{"topic": "orders", "action": "NotPossible", "tombstones": 0, "message": "not possible: x"}]
    }))
    .expect("a report");
    let s = super::controller::report_status(&report);
    assert_eq!((s.restore_points_rewritten, s.objects_rewritten, s.objects_deleted), (2, 3, 3));
    assert_eq!(
        (s.records_removed, s.key_digests.len(), s.live_topics[0].action.as_str()),
        (7, 1, "NotPossible")
    );
}

/// A restore point of backup `b1` as a location's sync wrote it (`revision` absent: as committed).
fn restore_point(name: &str, backup_id: &str, records: i64, revision: Option<i32>) -> Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestorePoint",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"backupId": backup_id, "source": {"kind": "KafkaBackupLocation", "name": "dr"},
            "owner": "kafka/orders", "formatVersion": 3, "revision": revision,
            "capturedAt": "2026-11-20T10:00:00Z", "completedAt": "2026-11-20T10:01:00Z",
            "compression": "zstd", "lineage": {}, "totals": {"topics": 1, "partitions": 1, "records": records,
                "rawBytes": 10, "storedBytes": 10}}})
}

#[tokio::test]
async fn a_finished_erasure_reports_into_the_status_and_its_restore_points_show_the_new_revision_at_once() {
    let mut kde = erasure();
    kde.status = serde_json::from_value(json!({"phase": "Running", "jobName": JOB, "observedGeneration": 1,
        "erasureId": format!("kde-{UID}"), "startTime": "2026-11-21T10:00:00Z"}))
    .expect("status");
    let job = fixtures::job(
        NS,
        JOB,
        fixtures::labels("forget", "erase"),
        vec![fixtures::owner("KafkaDataErasure", "forget", UID)],
        fixtures::finished("Complete", "2026-11-21T10:00:00Z"),
    );
    let mut revised: Value = restore_point("x", "b1", 90, Some(1))["spec"].clone();
    revised["formatVersion"] = json!(4);
    revised["owner"] = Value::Null;
    let report = json!({"erasureId": format!("kde-{UID}"), "location": "s3://b/kafka/orders/",
        "restorePoints": [{"backupId": "b1", "revision": 1}], "segmentsRead": 3, "segmentsRewritten": 2,
        "segmentsWritten": 2, "segmentsDeleted": 2, "recordsRemoved": 10,
        "topics": [{"topic": "orders", "records": 10}], "keyDigests": ["d1"], "keysSelected": 2,
        "revised": [revised]});
    let mut calls = vec![Call::get(format!("{JOBS}/{JOB}"), job)];
    calls.extend(fixtures::job_output(NS, JOB, &format!("INFO erasing\n{report}\n")));
    calls.extend([
        Call::list_all(
            "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkarestorepoints",
            "KafkaRestorePoint",
            vec![restore_point("dr-b1", "b1", 100, None), restore_point("dr-b2", "b2", 100, None)],
        ),
        Call::patch(
            "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkarestorepoints/dr-b1",
            restore_point("dr-b1", "b1", 90, Some(1)),
        )
        .body(|b| {
            let spec = &b["spec"];
            assert_eq!((&spec["revision"], &spec["totals"]["records"]), (&json!(1), &json!(90)), "{b}");
            assert_eq!(spec["source"]["name"], "dr", "the source stays");
            assert_eq!(spec["owner"], "kafka/orders", "the owner stays");
        }),
        Call::event(NS, "Normal", "ErasureCompleted"),
        Call::apply_status(KDE, object(&kde)).body(|b| {
            let s = &b["status"];
            assert_eq!(s["phase"], "Completed");
            assert_eq!(ready(b), ("True".into(), "DataErased".into()));
            let r = &s["report"];
            assert_eq!((&r["recordsRemoved"], &r["restorePointsRewritten"]), (&json!(10), &json!(1)));
            assert_eq!(r["keyDigests"], json!(["d1"]));
            let message = b["status"]["conditions"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("1 KafkaRestorePoint(s) show the new revision"), "{message}");
        }),
    ]);
    assert_eq!(run(kde, licence(&["erasure"]), calls).await.expect("reconcile"), Action::await_change());
}
