//! The `KafkaRestoreDrill` reconcile against a fake API server ([`fixtures`]), through its public
//! [`reconcile`] only: the exact calls for a new drill (the source and its restore points read,
//! the drill Job launched with the newest point), a finished drill that found a mismatch (the
//! evidence in status, on the restore point, as an Event and metrics; the Job and ConfigMap
//! deleted), a drill whose pod died without a result, a drill of a missing KafkaBackup, and a
//! scheduled drill waiting for its slot.

use std::sync::Arc;

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::controller::{NOT_STARTED_RETRY, reconcile};
use crate::api::drill::KafkaRestoreDrill;
use crate::operator::context::Context;
use crate::operator::error::Error;
use crate::operator::fixtures::{self, Call, ready};
use crate::operator::metrics::ResourceLabels;

const NS: &str = "kafka";
const UID: &str = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c";
const KB_UID: &str = "0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011";
const KRD: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkarestoredrills/weekly";
const KB: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkabackups/orders";
const JOBS: &str = "/apis/batch/v1/namespaces/kafka/jobs";
const CONFIG_MAPS: &str = "/api/v1/namespaces/kafka/configmaps";
const POINTS: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkarestorepoints";
const DRILL_JOBS: &str = "app.kubernetes.io/instance=weekly,app.kubernetes.io/component=drill";
const SOURCE: &str = "kafkabackup.com/source-kind=KafkaBackup,kafkabackup.com/source=orders";
/// The Job of the drill's one run (no schedule): `drill-initial-` and the uid's first 8 hex digits.
const INITIAL: &str = "weekly-drill-initial-5e4d3c2b";

fn drill(status: Value) -> KafkaRestoreDrill {
    let mut krd: KafkaRestoreDrill = serde_json::from_value(json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestoreDrill",
        "metadata": {"name": "weekly", "namespace": NS, "uid": UID, "generation": 2},
        "spec": {"backupRef": {"name": "orders"}, "maxRecords": 100000},
    }))
    .expect("drill");
    krd.status = serde_json::from_value(status).expect("status");
    krd
}

fn object(krd: &KafkaRestoreDrill) -> Value {
    serde_json::to_value(krd).expect("as JSON")
}

async fn run_with(krd: KafkaRestoreDrill, calls: Vec<Call>) -> (Result<Action, Error>, Arc<Context>) {
    let (ctx, server) = fixtures::context();
    let action = server.run(calls, reconcile(Arc::new(krd), ctx.clone())).await;
    (action, ctx)
}

/// The `KafkaBackup` drilled: a plain cluster, S3 with credentials by Secret.
fn the_backup() -> Call {
    Call::get(
        KB,
        json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup",
            "metadata": {"name": "orders", "namespace": NS, "uid": KB_UID},
            "spec": {"kafkaCluster": {"bootstrapServers": "prod:9092"},
                "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r", "prefix": "orders/",
                    "credentialsSecret": {"name": "s3-creds"}}}}}),
    )
}

/// A restore point of `orders` committed at `completed`.
fn point(id: &str, completed: &str) -> Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestorePoint",
        "metadata": {"name": format!("orders-{id}"), "namespace": NS,
            "labels": {"kafkabackup.com/source": "orders", "kafkabackup.com/source-kind": "KafkaBackup"},
            "ownerReferences": [fixtures::owner("KafkaBackup", "orders", KB_UID)]},
        "spec": {"backupId": id, "source": {"kind": "KafkaBackup", "name": "orders"}, "formatVersion": 2,
            "capturedAt": completed, "completedAt": completed, "compression": "zstd",
            "totals": {"topics": 1, "partitions": 2, "records": 350, "rawBytes": 9000, "storedBytes": 4000}}})
}

#[tokio::test]
async fn a_new_drill_restores_the_newest_restore_point_of_its_backup_into_scratch_topics() {
    let krd = drill(json!(null));
    let calls = vec![
        Call::list(JOBS, DRILL_JOBS, "Job", vec![]),
        the_backup(),
        Call::list(
            POINTS,
            SOURCE,
            "KafkaRestorePoint",
            vec![point("b2", "2026-12-02T02:05:00.000Z"), point("b1", "2026-12-01T02:05:00.000Z")],
        ),
        Call::create(CONFIG_MAPS).body(|b| {
            fixtures::assert_owned(b, NS, INITIAL, "KafkaRestoreDrill", "weekly", UID, "drill");
            let config: Value =
                serde_yaml_ng::from_str(b["data"]["config.yaml"].as_str().unwrap_or_default()).expect("YAML");
            assert_eq!(config["backupId"], "b2", "the newest: {config}");
            assert_eq!(config["drillId"], INITIAL);
            assert_eq!(config["topicPrefix"], "drill-weekly-");
            assert_eq!(config["maxRecords"], 100000);
            assert_eq!(config["recordEvidence"], true, "a KafkaBackup's own location");
            assert_eq!(config["kafka"]["bootstrapServers"], "prod:9092", "the backed-up cluster by default");
            assert_eq!(config["storage"]["s3"]["prefix"], "orders/");
        }),
        Call::create(JOBS).body(|b| {
            fixtures::assert_owned(b, NS, INITIAL, "KafkaRestoreDrill", "weekly", UID, "drill");
            let annotations = &b["metadata"]["annotations"];
            assert_eq!(annotations["kafkabackup.com/restore-point"], "orders-b2");
            assert_eq!(annotations["kafkabackup.com/backup-id"], "b2");
            assert_eq!(annotations["kafkabackup.com/generation"], "2");
            assert_eq!(b["spec"]["backoffLimit"], 0, "a failed drill is not retried");
            let pod = &b["spec"]["template"]["spec"];
            assert_eq!(pod["containers"][0]["args"][0], "drill", "{pod}");
            let env = pod["containers"][0]["env"].to_string();
            assert!(env.contains("secretKeyRef") && env.contains("s3-creds"), "{env}");
        }),
        Call::event(NS, "Normal", "DrillStarted"),
        Call::apply_status(KRD, object(&krd)).body(|b| {
            assert_eq!(ready(b), ("False".into(), "Scheduled".into()));
            assert_eq!(b["status"]["activeJob"], INITIAL);
            assert!(b["status"]["lastScheduleTime"].is_string(), "{b}");
        }),
    ];
    let (action, _) = run_with(krd, calls).await;
    assert_eq!(
        fixtures::requeue_after(&action.expect("reconcile")),
        Some(crate::operator::children::STARTING_RECHECK)
    );
}

/// The finished drill Job `INITIAL`, drilling `orders-b2`, in `state` (`Complete`, `Failed`).
fn finished_job(state: &str) -> Value {
    let mut job = fixtures::job(
        NS,
        INITIAL,
        fixtures::labels("weekly", "drill"),
        vec![fixtures::owner("KafkaRestoreDrill", "weekly", UID)],
        fixtures::finished(state, "2026-12-03T04:00:00Z"),
    );
    job["metadata"]["annotations"] = json!({"kafkabackup.com/restore-point": "orders-b2",
        "kafkabackup.com/backup-id": "b2", "kafkabackup.com/generation": "2"});
    job
}

#[tokio::test]
async fn a_drill_that_found_a_mismatch_is_recorded_everywhere_naming_topic_partition_and_offset() {
    let krd = drill(json!({"activeJob": INITIAL, "lastSuccessTime": "2026-11-26T04:01:00Z",
        "history": [{"job": "weekly-drill-1", "result": "Passed", "records": 300}]}));
    let result = json!({"drillId": INITIAL, "backupId": "b2", "topics": ["orders"],
        "startTime": "2026-12-03T04:00:05.000Z", "completionTime": "2026-12-03T04:00:20.000Z",
        "restoreSeconds": 7.5, "records": 350, "bytes": 9000, "recordsPerSecond": 46.7, "mbPerSecond": 0.0012,
        "mismatches": 2, "firstMismatches": [
            {"topic": "orders", "partition": 1, "offset": 17, "restoredOffset": 17, "what": "value"},
            {"topic": "orders", "partition": 1, "offset": 18, "restoredOffset": 18, "what": "value"}],
        "result": "Failed", "message": "2 of the records read back differ from the backup: orders/1 offset 17: value",
        "scratchTopicsDeleted": true});
    let mut calls = vec![Call::list(JOBS, DRILL_JOBS, "Job", vec![finished_job("Failed")])];
    calls.extend(fixtures::job_output(NS, INITIAL, &format!("INFO drill done\n{result}\n")));
    calls.extend([
        Call::event(NS, "Warning", "DrillFailed"),
        Call::apply_status(&format!("{POINTS}/orders-b2"), point("b2", "2026-12-02T02:05:00.000Z")).body(
            |b| {
                let v = &b["status"]["verification"];
                assert_eq!(v["result"], "Failed");
                assert_eq!(v["drill"], "kafka/weekly");
                assert_eq!((v["records"].as_i64(), v["mismatches"].as_i64()), (Some(350), Some(2)));
                assert_eq!(v["rtoSeconds"], 7.5);
            },
        ),
        Call::apply_status(KRD, object(&krd)).body(|b| {
            let st = &b["status"];
            assert_eq!(ready(b), ("False".into(), "DrillFailed".into()));
            let message = st["conditions"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("topic orders partition 1 offset 17"), "{message}");
            let last = &st["lastVerification"];
            assert_eq!(
                (&last["restorePoint"], &last["backupId"], &last["job"], &last["result"]),
                (&json!("orders-b2"), &json!("b2"), &json!(INITIAL), &json!("Failed"))
            );
            assert_eq!((last["records"].as_i64(), last["mismatches"].as_i64()), (Some(350), Some(2)));
            assert_eq!(last["firstMismatches"][0]["offset"], 17);
            assert_eq!(last["startTime"], "2026-12-03T04:00:05Z");
            assert_eq!(st["history"].as_array().map(Vec::len), Some(2), "{st}");
            assert_eq!(st["history"][0]["job"], INITIAL);
            assert!(st["history"][0]["firstMismatches"].is_null(), "not in the history: {st}");
            assert_eq!(st["lastSuccessTime"], "2026-11-26T04:01:00Z", "the last pass stays");
            assert!(st["activeJob"].is_null(), "{st}");
            assert_eq!(st["observedGeneration"], 2);
        }),
        Call::delete(format!("{JOBS}/{INITIAL}")),
        Call::delete(format!("{CONFIG_MAPS}/{INITIAL}")),
    ]);
    let (action, ctx) = run_with(krd, calls).await;
    action.expect("reconcile");
    let who = ResourceLabels { namespace: NS.into(), name: "weekly".into() };
    let m = &ctx.metrics;
    assert_eq!(m.drill_last_result.get_or_create(&who).get(), 0);
    assert_eq!(m.drill_mismatches.get_or_create(&who).get(), 2);
    assert_eq!(m.drill_last_rto.get_or_create(&who).get(), 7.5);
    let failed = crate::operator::metrics::DrillLabels {
        namespace: NS.into(),
        name: "weekly".into(),
        result: "Failed".into(),
    };
    assert_eq!(m.drills.get_or_create(&failed).get(), 1);
    m.forget_drill(&who);
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("d", "", m.drill_last_result.clone());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    assert!(!text.contains("weekly"), "forgotten: {text}");
}

#[tokio::test]
async fn a_drill_whose_pod_died_without_a_result_failed_with_the_pods_words() {
    let krd = drill(json!({"activeJob": INITIAL}));
    let why = "error: storage s3://b/orders/ unreachable: connection refused";
    let pods = format!("/api/v1/namespaces/{NS}/pods");
    let calls = vec![
        Call::list(JOBS, DRILL_JOBS, "Job", vec![finished_job("Failed")]),
        Call::list(&pods, &format!("job-name={INITIAL}"), "Pod", vec![fixtures::pod(NS, INITIAL, why)]),
        Call::log(format!("{pods}/{INITIAL}-pod/log"), &format!("{why}\n")),
        Call::event(NS, "Warning", "DrillFailed"),
        Call::apply_status(&format!("{POINTS}/orders-b2"), point("b2", "2026-12-02T02:05:00.000Z"))
            .body(|b| assert_eq!(b["status"]["verification"]["result"], "Failed")),
        Call::apply_status(KRD, object(&krd)).body(|b| {
            assert_eq!(ready(b), ("False".into(), "DrillFailed".into()));
            let message = b["status"]["lastVerification"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("connection refused"), "{message}");
            assert_eq!(b["status"]["lastVerification"]["backupId"], "b2");
            assert!(b["status"]["lastSuccessTime"].is_null());
        }),
        Call::delete(format!("{JOBS}/{INITIAL}")),
        Call::delete(format!("{CONFIG_MAPS}/{INITIAL}")),
    ];
    run_with(krd, calls).await.0.expect("reconcile");
}

#[tokio::test]
async fn a_drill_of_a_missing_backup_waits_saying_so() {
    let krd = drill(json!(null));
    let calls = vec![
        Call::list(JOBS, DRILL_JOBS, "Job", vec![]),
        Call::get_absent(KB),
        Call::event(NS, "Warning", "NoRestorePoint"),
        Call::apply_status(KRD, object(&krd)).body(|b| {
            assert_eq!(ready(b), ("False".into(), "NoRestorePoint".into()));
            let message = b["status"]["conditions"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("KafkaBackup kafka/orders not found"), "{message}");
            assert!(b["status"]["activeJob"].is_null());
        }),
    ];
    let (action, _) = run_with(krd, calls).await;
    assert_eq!(fixtures::requeue_after(&action.expect("reconcile")), Some(NOT_STARTED_RETRY));
}

#[tokio::test]
async fn a_scheduled_drill_waits_for_its_slot_and_exports_its_interval() {
    let mut krd = drill(json!(null));
    krd.spec.schedule = Some(crate::api::drill::DrillSchedule {
        cron: "0 4 * * 0".into(),
        timezone: "UTC".into(),
        suspend: false,
    });
    let calls = vec![
        Call::list(JOBS, DRILL_JOBS, "Job", vec![]),
        Call::apply_status(KRD, object(&krd)).body(|b| {
            assert_eq!(ready(b), ("False".into(), "Scheduled".into()));
            let next = b["status"]["nextScheduleTime"].as_str().unwrap_or_default();
            let next = chrono::DateTime::parse_from_rfc3339(next).expect("nextScheduleTime");
            assert_eq!(
                (next.format("%a %H:%M").to_string(), next.to_utc() > chrono::Utc::now()),
                ("Sun 04:00".into(), true)
            );
            assert!(b["status"]["activeJob"].is_null(), "nothing runs before the slot");
        }),
    ];
    let (action, ctx) = run_with(krd, calls).await;
    let after = fixtures::requeue_after(&action.expect("reconcile")).expect("a requeue at the slot");
    assert!(after <= std::time::Duration::from_secs(7 * 86_400 + 1), "{after:?}");
    let who = ResourceLabels { namespace: NS.into(), name: "weekly".into() };
    assert_eq!(ctx.metrics.drill_interval.get_or_create(&who).get(), 7.0 * 86_400.0);
}
