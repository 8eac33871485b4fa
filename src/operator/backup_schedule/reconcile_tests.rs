//! The `KafkaBackupSchedule` reconcile against a fake API server ([`fixtures`]), through its
//! public [`reconcile`] only: the exact calls when clusters start matching (one server-side apply
//! per selected `Kafka`, an Event each, the status listing them), when one leaves the selection
//! (its `KafkaBackup` suspended, not deleted), when nothing changed (no write at all), and for a
//! spec the shared rules refuse (status and Event, then wait for a change).

use std::sync::Arc;

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::controller::reconcile;
use crate::api::backup_schedule::KafkaBackupSchedule;
use crate::operator::error::Error;
use crate::operator::fixtures::{self, Call, ready};

const NS: &str = "ops";
const UID: &str = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
const KBS: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/ops/kafkabackupschedules/nightly";
const KAFKAS: &str = "/apis/kafka.strimzi.io/v1/namespaces/ops/kafkas";
const BACKUPS: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/ops/kafkabackups";
const OWNED: &str = "kafkabackup.com/schedule-uid=0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";

fn schedule(selector: Value, status: Value) -> KafkaBackupSchedule {
    let mut kbs: KafkaBackupSchedule = serde_json::from_value(json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackupSchedule",
        "metadata": {"name": "nightly", "namespace": NS, "uid": UID, "generation": 1},
        "spec": {"clusterSelector": selector, "schedule": {"cron": "0 2 * * *"},
            "backupTemplate": {"storage": {"type": "s3", "s3": {"bucket": "backups", "region": "eu", "prefix": "fleet/"}}}},
    }))
    .expect("schedule");
    kbs.status = serde_json::from_value(status).expect("status");
    kbs
}

fn kafka(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "kafka.strimzi.io/v1", "kind": "Kafka",
        "metadata": {"name": name, "namespace": NS, "labels": labels}, "spec": {}})
}

fn object(kbs: &KafkaBackupSchedule) -> Value {
    serde_json::to_value(kbs).expect("as JSON")
}

async fn run(kbs: KafkaBackupSchedule, calls: Vec<Call>) -> Result<Action, Error> {
    let (ctx, server) = fixtures::context();
    server.run(calls, reconcile(Arc::new(kbs), ctx)).await
}

/// The forced server-side apply of the owned `KafkaBackup` `name`, checked: cluster, suspension,
/// the cluster's own storage prefix, the schedule as controlling owner.
fn apply_backup(name: &'static str, cluster: &'static str, selected: bool) -> Call {
    Call::patch(format!("{BACKUPS}/{name}"), json!({})).check(move |s| {
        assert_eq!(s.param("fieldManager"), Some(crate::operator::context::MANAGER), "field manager");
        assert_eq!(s.param("force"), Some("true"), "the template wins over hand edits");
        let b = &s.body;
        assert_eq!(b["metadata"]["annotations"]["kafkabackup.com/cluster"], format!("{NS}/{cluster}"));
        assert_eq!(b["metadata"]["labels"]["kafkabackup.com/selected"], selected.to_string());
        assert_eq!(b["metadata"]["labels"]["kafkabackup.com/schedule-uid"], UID);
        assert_eq!(b["metadata"]["ownerReferences"][0]["uid"], UID, "{b}");
        assert_eq!(b["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(b["spec"]["strimziClusterRef"]["name"], cluster, "{b}");
        assert_eq!(b["spec"]["storage"]["s3"]["prefix"], format!("fleet/{NS}/{cluster}/"), "{b}");
        assert_eq!(b["spec"]["schedule"]["suspend"].as_bool().unwrap_or(false), !selected, "{b}");
    })
}

#[tokio::test]
async fn each_matching_kafka_gets_its_own_backup_and_an_event() {
    let kbs = schedule(json!({"matchLabels": {"backup": "nightly"}}), json!(null));
    let mut calls = fixtures::strimzi_discovery();
    calls.extend([
        // The API server filters by the selector: what it answers matched.
        Call::list(
            KAFKAS,
            "backup=nightly",
            "Kafka",
            vec![kafka("a", json!({"backup": "nightly"})), kafka("b", json!({"backup": "nightly"}))],
        ),
        Call::list(BACKUPS, OWNED, "KafkaBackup", vec![]),
        Call::get_absent(format!("{BACKUPS}/nightly-a")),
        Call::get_absent(format!("{BACKUPS}/nightly-b")),
        apply_backup("nightly-a", "a", true),
        // Each about its own KafkaBackup: the recorder would fold the second into a series of
        // the first, keeping only the first note.
        Call::event(NS, "Normal", "BackupCreated")
            .body(|e| assert_eq!(e["related"]["name"], "nightly-a", "{e}")),
        apply_backup("nightly-b", "b", true),
        // Each about its own KafkaBackup: the recorder would fold the second into a series of
        // the first, keeping only the first note.
        Call::event(NS, "Normal", "BackupCreated")
            .body(|e| assert_eq!(e["related"]["name"], "nightly-b", "{e}")),
        Call::apply_status(KBS, object(&kbs)).body(|b| {
            assert_eq!(ready(b), ("True".into(), "BackupsScheduled".into()));
            let st = &b["status"];
            assert_eq!((st["selectedClusters"].as_i64(), st["backups"].as_i64()), (Some(2), Some(2)), "{st}");
            let listed: Vec<_> = st["clusters"]
                .as_array()
                .expect("clusters")
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or(""),
                        c["backup"].as_str().unwrap_or(""),
                        c["selected"].as_bool(),
                    )
                })
                .collect();
            assert_eq!(listed, [("a", "nightly-a", Some(true)), ("b", "nightly-b", Some(true))]);
            assert_eq!(st["observedGeneration"], 1);
        }),
    ]);
    run(kbs, calls).await.expect("reconcile");
}

#[tokio::test]
async fn a_kafka_that_leaves_the_selection_keeps_its_backup_suspended() {
    let status = json!({"observedGeneration": 1,
        "clusters": [{"namespace": NS, "name": "a", "backup": "nightly-a", "selected": true}]});
    let kbs = schedule(json!({"matchLabels": {"backup": "nightly"}}), status);
    // What the previous reconcile applied, as the API server keeps it.
    let owned = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup",
        "metadata": {"name": "nightly-a", "namespace": NS,
            "labels": {"kafkabackup.com/schedule-uid": UID, "kafkabackup.com/selected": "true"},
            "annotations": {"kafkabackup.com/cluster": "ops/a"},
            "ownerReferences": [fixtures::owner("KafkaBackupSchedule", "nightly", UID)]},
        "spec": {"strimziClusterRef": {"name": "a"}, "schedule": {"cron": "0 2 * * *"},
            "storage": {"type": "s3", "s3": {"bucket": "backups", "region": "eu", "prefix": "fleet/ops/a/"}}}});
    let mut calls = fixtures::strimzi_discovery();
    calls.extend([
        Call::list(KAFKAS, "backup=nightly", "Kafka", vec![]),
        Call::list(BACKUPS, OWNED, "KafkaBackup", vec![owned]),
        apply_backup("nightly-a", "a", false),
        Call::event(NS, "Normal", "ClusterUnselected"),
        Call::apply_status(KBS, object(&kbs)).body(|b| {
            let st = &b["status"];
            assert_eq!(st["selectedClusters"].as_i64(), Some(0), "{st}");
            assert_eq!(st["backups"].as_i64(), Some(1), "the suspended backup is still owned: {st}");
            assert_eq!(st["clusters"][0]["selected"], false, "{st}");
            assert_eq!(st["clusters"][0]["backup"], "nightly-a", "{st}");
        }),
    ]);
    run(kbs, calls).await.expect("reconcile");
}

#[tokio::test]
async fn a_spec_the_rules_refuse_is_reported_once_and_waits_for_a_change() {
    let kbs = schedule(
        json!({"matchExpressions": [{"key": "backup", "operator": "Exists", "values": ["x"]}]}),
        json!(null),
    );
    let calls = vec![
        Call::event(NS, "Warning", "InvalidSpec"),
        Call::apply_status(KBS, object(&kbs)).body(|b| {
            assert_eq!(ready(b), ("False".into(), "InvalidSpec".into()));
            let message = b["status"]["conditions"][0]["message"].as_str().unwrap_or("");
            assert!(message.contains("clusterSelector"), "names the field: {message}");
        }),
    ];
    let action = run(kbs, calls).await.expect("reconcile");
    assert_eq!(fixtures::requeue_after(&action), None, "waits for the spec to change");
}
