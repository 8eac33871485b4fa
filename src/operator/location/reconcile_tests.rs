//! The `KafkaBackupLocation` reconcile against a fake API server ([`fixtures`]), through its
//! public [`reconcile`] only: the exact calls for a new location, a finished sync (restore points
//! created and pruned, status, the Job and its ConfigMap deleted), a failed one, and the drills'
//! evidence a sync found written into restore points (and the drills they show told to the next).

use std::sync::Arc;

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::controller::reconcile;
use crate::api::location::KafkaBackupLocation;
use crate::operator::error::Error;
use crate::operator::fixtures::{self, Call, ready};

const NS: &str = "dr";
const UID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const KBL: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/dr/kafkabackuplocations/prod";
const JOBS: &str = "/apis/batch/v1/namespaces/dr/jobs";
const CONFIG_MAPS: &str = "/api/v1/namespaces/dr/configmaps";
const POINTS: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/dr/kafkarestorepoints";
const SYNC_JOBS: &str = "app.kubernetes.io/instance=prod,app.kubernetes.io/component=sync";
const SOURCE: &str = "kafkabackup.com/source-kind=KafkaBackupLocation,kafkabackup.com/source=prod";

fn location(status: Value) -> KafkaBackupLocation {
    let mut kbl: KafkaBackupLocation = serde_json::from_value(json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackupLocation",
        "metadata": {"name": "prod", "namespace": NS, "uid": UID, "generation": 1},
        "spec": {"storage": {"type": "s3", "s3": {"bucket": "backups", "region": "eu", "prefix": "prod/",
                 "credentialsSecret": {"name": "s3"}}}},
    }))
    .expect("location");
    kbl.status = serde_json::from_value(status).expect("status");
    kbl
}

fn object(kbl: &KafkaBackupLocation) -> Value {
    serde_json::to_value(kbl).expect("as JSON")
}

async fn run(kbl: KafkaBackupLocation, calls: Vec<Call>) -> Result<Action, Error> {
    let (ctx, server) = fixtures::context();
    server.run(calls, reconcile(Arc::new(kbl), ctx)).await
}

/// A restore point of `prod` as the operator created it.
fn point(id: &str) -> Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestorePoint",
        "metadata": {"name": format!("prod-{id}"), "namespace": NS,
            "labels": {"kafkabackup.com/source": "prod", "kafkabackup.com/source-kind": "KafkaBackupLocation"},
            "ownerReferences": [fixtures::owner("KafkaBackupLocation", "prod", UID)]},
        "spec": {"backupId": id, "source": {"kind": "KafkaBackupLocation", "name": "prod"}, "formatVersion": 2,
            "capturedAt": "2026-12-01T02:00:00.000Z", "completedAt": "2026-12-01T02:05:00.000Z",
            "restorableFrom": "2026-11-30T00:00:00.000Z", "restorableTo": "2026-12-01T01:59:00.000Z",
            "compression": "zstd", "totals": {"topics": 1, "partitions": 1, "records": 10, "rawBytes": 100, "storedBytes": 40}}})
}

#[tokio::test]
async fn a_new_location_starts_a_read_only_sync_job_told_what_it_knows() {
    let kbl = location(json!(null));
    let calls = vec![
        Call::list(JOBS, SYNC_JOBS, "Job", vec![]),
        Call::list(POINTS, SOURCE, "KafkaRestorePoint", vec![]),
        Call::create(CONFIG_MAPS).body(|b| {
            let config = b["data"]["config.yaml"].as_str().unwrap_or_default();
            assert!(config.contains("prefix: prod/") && !config.contains("known"), "{config}");
            assert!(b["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("prod-sync-")), "{b}");
        }),
        Call::create(JOBS).body(|b| {
            assert_eq!(b["metadata"]["annotations"]["kafkabackup.com/generation"], "1");
            let pod = &b["spec"]["template"]["spec"];
            assert_eq!(pod["containers"][0]["args"][0], "sync", "{pod}");
            // The storage credentials by reference only.
            let env = pod["containers"][0]["env"].to_string();
            assert!(env.contains("secretKeyRef") && env.contains("\"s3\""), "{env}");
        }),
        Call::apply_status(KBL, object(&kbl)).body(|b| {
            assert_eq!(ready(b), ("False".into(), "Syncing".into()));
            assert!(b["status"]["activeJob"].as_str().is_some_and(|j| j.starts_with("prod-sync-")), "{b}");
            assert!(b["status"]["observedGeneration"].is_null(), "observed once a sync of it ends: {b}");
        }),
    ];
    let action = run(kbl, calls).await.expect("reconcile");
    assert_eq!(fixtures::requeue_after(&action), Some(crate::operator::children::STARTING_RECHECK));
}

#[tokio::test]
async fn a_finished_sync_creates_the_new_restore_points_deletes_the_pruned_and_its_job() {
    let kbl = location(json!({"observedGeneration": 1, "activeJob": "prod-sync-1"}));
    let mut job = fixtures::job(
        NS,
        "prod-sync-1",
        fixtures::labels("prod", "sync"),
        vec![fixtures::owner("KafkaBackupLocation", "prod", UID)],
        fixtures::finished("Complete", "2026-12-01T03:00:00Z"),
    );
    job["metadata"]["annotations"] = json!({"kafkabackup.com/generation": "1"});
    let added = crate::restore_points::summarize(
        &serde_json::from_value(json!({
            "formatVersion": 2, "backupId": "b3", "startedAt": "2026-12-02T02:00:00.000Z",
            "completedAt": "2026-12-02T02:05:00.000Z", "encoding": {"compression": "zstd"},
            "topics": [], "totals": {"records": 0, "rawBytes": 0, "storedBytes": 0, "topics": 0, "partitions": 0}
        }))
        .expect("manifest"),
        Some("prod/nightly".into()),
    );
    let result = json!({"location": "s3://backups/prod/", "present": ["b2", "b3"], "added": [added], "complete": true});
    let mut calls = vec![Call::list(JOBS, SYNC_JOBS, "Job", vec![job])];
    calls.extend(fixtures::job_output(NS, "prod-sync-1", &format!("{result}\n")));
    calls.extend([
        Call::list(POINTS, SOURCE, "KafkaRestorePoint", vec![point("b1"), point("b2")]),
        Call::create(POINTS).body(|b| {
            assert_eq!(b["metadata"]["name"], "prod-b3");
            assert_eq!(b["spec"]["source"], json!({"kind": "KafkaBackupLocation", "name": "prod"}));
            assert_eq!(b["spec"]["owner"], "prod/nightly");
            assert_eq!(b["metadata"]["labels"]["kafkabackup.com/source"], "prod");
        }),
        Call::delete(format!("{POINTS}/prod-b1")),
        Call::event(NS, "Normal", "RestorePointsSynced"),
        Call::apply_status(KBL, object(&kbl)).body(|b| {
            let st = &b["status"];
            assert_eq!(ready(b), ("True".into(), "Synced".into()));
            assert_eq!(st["restorePoints"], 2);
            assert_eq!(st["observedGeneration"], 1);
            assert!(st["activeJob"].is_null() && st["lastSyncTime"].is_string(), "{st}");
            // b2 holds records from 2026-11-30; b3, the newest, was cut on 2026-12-02.
            assert_eq!(st["firstRecoverabilityPoint"], "2026-11-30T00:00:00.000Z");
            assert_eq!(st["lastRecoverabilityPoint"], "2026-12-02T02:00:00.000Z");
            assert_eq!(st["lastSuccessfulBackup"], "2026-12-02T02:05:00.000Z");
        }),
        Call::delete(format!("{JOBS}/prod-sync-1")),
        Call::delete(format!("{CONFIG_MAPS}/prod-sync-1")),
    ]);
    run(kbl, calls).await.expect("reconcile");
}

#[tokio::test]
async fn a_failed_sync_keeps_the_restore_points_and_says_why() {
    let kbl = location(json!({"observedGeneration": 1, "lastSyncTime": "2026-12-01T00:00:00Z"}));
    let job = fixtures::job(
        NS,
        "prod-sync-2",
        fixtures::labels("prod", "sync"),
        vec![fixtures::owner("KafkaBackupLocation", "prod", UID)],
        fixtures::finished("Failed", "2026-12-01T03:00:00Z"),
    );
    let mut calls = vec![Call::list(JOBS, SYNC_JOBS, "Job", vec![job])];
    // The data plane's error is its termination message.
    let why = "error: listing the backups in s3://backups/prod/: access denied";
    let pods = format!("/api/v1/namespaces/{NS}/pods");
    calls.extend([
        Call::list(&pods, "job-name=prod-sync-2", "Pod", vec![fixtures::pod(NS, "prod-sync-2", why)]),
        Call::log(format!("{pods}/prod-sync-2-pod/log"), &format!("{why}\n")),
    ]);
    calls.extend([
        Call::event(NS, "Warning", "SyncFailed"),
        Call::apply_status(KBL, object(&kbl)).body(|b| {
            assert_eq!(ready(b), ("False".into(), "SyncFailed".into()));
            let message = b["status"]["conditions"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("access denied"), "{message}");
            assert_eq!(b["status"]["lastSyncTime"], "2026-12-01T00:00:00Z", "the last good sync stays");
        }),
        Call::delete(format!("{JOBS}/prod-sync-2")),
        Call::delete(format!("{CONFIG_MAPS}/prod-sync-2")),
    ]);
    run(kbl, calls).await.expect("reconcile");
}

/// A drill's evidence as a sync reports it for one backup.
fn evidence(drill: &str, completed: &str, result: &str) -> Value {
    json!({"result": result, "drill": drill, "startTime": "2026-12-02T01:00:00Z", "completionTime": completed,
        "records": 465, "mismatches": 0, "rtoSeconds": 12.5})
}

#[tokio::test]
async fn a_finished_sync_writes_drill_evidence_into_restore_points_showing_none_or_an_older_one() {
    let kbl = location(json!({"observedGeneration": 1, "activeJob": "prod-sync-3"}));
    let mut job = fixtures::job(
        NS,
        "prod-sync-3",
        fixtures::labels("prod", "sync"),
        vec![fixtures::owner("KafkaBackupLocation", "prod", UID)],
        fixtures::finished("Complete", "2026-12-03T03:00:00Z"),
    );
    job["metadata"]["annotations"] = json!({"kafkabackup.com/generation": "1"});
    let added = crate::restore_points::summarize(
        &serde_json::from_value(json!({
            "formatVersion": 2, "backupId": "b3", "startedAt": "2026-12-02T02:00:00.000Z",
            "completedAt": "2026-12-02T02:05:00.000Z", "encoding": {"compression": "zstd"},
            "topics": [], "totals": {"records": 0, "rawBytes": 0, "storedBytes": 0, "topics": 0, "partitions": 0}
        }))
        .expect("manifest"),
        None,
    );
    // b1 shows no verification, b2 a newer one than its evidence, b3 is new.
    let mut b2 = point("b2");
    b2["status"] = json!({"verification": evidence("dr/krd-later", "2026-12-03T01:00:00Z", "Passed")});
    let result = json!({"location": "s3://backups/prod/", "present": ["b1", "b2", "b3"], "added": [added],
        "complete": true, "verifications": {
            "b1": evidence("d-b1", "2026-12-02T01:05:00Z", "Failed"),
            "b2": evidence("d-b2", "2026-12-02T01:05:00Z", "Failed"),
            "b3": evidence("d-b3", "2026-12-02T03:05:00Z", "Passed")}});
    let mut calls = vec![Call::list(JOBS, SYNC_JOBS, "Job", vec![job])];
    calls.extend(fixtures::job_output(NS, "prod-sync-3", &format!("{result}\n")));
    calls.extend([
        Call::list(POINTS, SOURCE, "KafkaRestorePoint", vec![point("b1"), b2]),
        Call::create(POINTS).body(|b| assert_eq!(b["metadata"]["name"], "prod-b3")),
        // Right after its creation, the new restore point shows its evidence.
        Call::apply_status(&format!("{POINTS}/prod-b3"), point("b3")).body(|b| {
            assert_eq!(b["status"]["verification"]["drill"], "d-b3", "{b}");
            assert_eq!(b["status"]["verification"]["result"], "Passed");
            assert_eq!(b["status"]["verification"]["rtoSeconds"], 12.5);
        }),
        Call::apply_status(&format!("{POINTS}/prod-b1"), point("b1")).body(|b| {
            assert_eq!(b["status"]["verification"]["drill"], "d-b1", "{b}");
            assert_eq!(b["status"]["verification"]["result"], "Failed");
            assert_eq!(b["status"]["verification"]["records"], 465);
        }),
        // b2 keeps its newer verification: no write.
        Call::event(NS, "Normal", "RestorePointsSynced"),
        Call::apply_status(KBL, object(&kbl)).body(|b| assert_eq!(b["status"]["restorePoints"], 3)),
        Call::delete(format!("{JOBS}/prod-sync-3")),
        Call::delete(format!("{CONFIG_MAPS}/prod-sync-3")),
    ]);
    run(kbl, calls).await.expect("reconcile");
}

#[tokio::test]
async fn a_sync_is_told_which_drill_each_restore_point_shows() {
    let kbl = location(json!({"observedGeneration": 1, "lastSyncTime": "2026-12-01T00:00:00Z"}));
    let mut b2 = point("b2");
    b2["status"] = json!({"verification": evidence("d-b2", "2026-12-03T01:00:00Z", "Passed")});
    let calls = vec![
        Call::list(JOBS, SYNC_JOBS, "Job", vec![]),
        Call::list(POINTS, SOURCE, "KafkaRestorePoint", vec![point("b1"), b2]),
        Call::create(CONFIG_MAPS).body(|b| {
            let config: Value =
                serde_yaml_ng::from_str(b["data"]["config.yaml"].as_str().unwrap_or_default()).expect("yaml");
            assert_eq!(config["known"], json!(["b1", "b2"]));
            assert_eq!(config["verified"], json!({"b2": "d-b2"}), "{config}");
        }),
        Call::create(JOBS),
        Call::apply_status(KBL, object(&kbl)),
    ];
    run(kbl, calls).await.expect("reconcile");
}
