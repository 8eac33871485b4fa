//! The `KafkaOffsetReset` reconcile against a fake API server ([`fixtures`]), through its public
//! [`reconcile`] only: for an object and the world it finds, the exact calls it makes, in order.
//! They pin what the one-shot lifecycle (`operator::oneshot`) must keep doing for offset resets
//! whatever its internals: what is read, what is created under which name, labels and owner,
//! which Events, and the status written.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::controller::reconcile;
use crate::api::offset_reset::KafkaOffsetReset;
use crate::operator::error::Error;
use crate::operator::fixtures::{self, Call, ready};

const NS: &str = "kafka";
const UID: &str = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716";
const KOR: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkaoffsetresets/rollback";
const JOB: &str = "rollback-offset-reset";
const JOBS: &str = "/apis/batch/v1/namespaces/kafka/jobs";
const CONFIG_MAPS: &str = "/api/v1/namespaces/kafka/configmaps";
/// The snapshot a `to-snapshot` reset rolls back to (a restore's).
const SNAPSHOT: &str = "dr-offset-snapshot";
const BOOTSTRAP: &str = "my-cluster-kafka-bootstrap.kafka.svc:9092";

/// `rollback` in `kafka`, resetting group `g1`, with `spec` added (YAML lines).
fn reset(spec: &str) -> KafkaOffsetReset {
    let spec = serde_yaml_ng::from_str(&format!(
        "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nconsumerGroups: [g1]\n{spec}"
    ))
    .expect("spec");
    let mut kor = KafkaOffsetReset::new("rollback", spec);
    kor.metadata.namespace = Some(NS.into());
    kor.metadata.uid = Some(UID.into());
    kor.metadata.generation = Some(1);
    kor
}

fn object(kor: &KafkaOffsetReset) -> Value {
    serde_json::to_value(kor).expect("KafkaOffsetReset as JSON")
}

async fn run(kor: KafkaOffsetReset, calls: Vec<Call>) -> Result<Action, Error> {
    let (ctx, server) = fixtures::context();
    server.run(calls, reconcile(Arc::new(kor), ctx)).await
}

fn owned(body: &Value, name: &str, component: &str) {
    fixtures::assert_owned(body, NS, name, "KafkaOffsetReset", "rollback", UID, component);
}

/// The snapshot ConfigMap as a restore left it.
fn the_snapshot() -> Call {
    let snapshot =
        json!({"groups": [{"group": "g1", "offsets": [{"topic": "orders", "partition": 0, "offset": 5}]}]});
    Call::get(
        format!("{CONFIG_MAPS}/{SNAPSHOT}"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": SNAPSHOT, "namespace": NS},
            "data": {"snapshot.json": snapshot.to_string()}}),
    )
}

#[tokio::test]
async fn an_invalid_spec_fails_the_reset_for_good_and_creates_no_job() {
    // A time that is not RFC 3339 (the rule CEL cannot check, so the controller checks it).
    let kor = reset("resetStrategy: to-timestamp\nresetTimestamp: 'last tuesday'");
    let calls = vec![
        Call::event(NS, "Warning", "InvalidSpec"),
        Call::apply_status(KOR, object(&kor)).body(|b| {
            assert_eq!(b["status"]["phase"], "Failed");
            assert_eq!(ready(b), ("False".into(), "InvalidSpec".into()));
            assert!(b["status"]["jobName"].is_null(), "no Job: {b}");
        }),
    ];
    assert_eq!(run(kor, calls).await.expect("reconcile"), Action::await_change());
}

#[tokio::test]
async fn a_reset_to_a_snapshot_starts_its_job_on_the_strimzi_cluster_with_the_snapshot_mounted() {
    let mut kor = reset(&format!("resetStrategy: to-snapshot\nsnapshotRef: {SNAPSHOT}"));
    kor.spec.cluster = serde_yaml_ng::from_str("strimziClusterRef: {name: my-cluster}").expect("ref");
    let mut calls = vec![Call::get_absent(format!("{JOBS}/{JOB}"))];
    calls.extend(fixtures::strimzi_discovery());
    calls.extend([
        fixtures::ready_kafka(NS, "my-cluster", BOOTSTRAP),
        the_snapshot(),
        Call::create(CONFIG_MAPS).body(|b| {
            owned(b, JOB, "offset-reset");
            assert_eq!(b["metadata"]["labels"]["strimzi.io/cluster"], "my-cluster");
            let config = b["data"]["config.yaml"].as_str().expect("the run's config");
            assert!(config.contains(BOOTSTRAP), "the listener's address in the config: {config}");
            assert!(config.contains("g1"), "the group in the config: {config}");
        }),
        Call::create(JOBS).body(|b| {
            owned(b, JOB, "offset-reset");
            let pod = &b["spec"]["template"]["spec"];
            assert_eq!(pod["containers"][0]["image"], fixtures::IMAGE);
            let volumes: Vec<&Value> = pod["volumes"].as_array().into_iter().flatten().collect();
            assert!(
                volumes.iter().any(|v| v["configMap"]["name"] == JOB),
                "the run's ConfigMap: {volumes:?}"
            );
            assert!(volumes.iter().any(|v| v["configMap"]["name"] == SNAPSHOT), "the snapshot: {volumes:?}");
        }),
        Call::event(NS, "Normal", "OffsetResetStarted"),
        Call::apply_status(KOR, object(&kor)).body(|b| {
            let s = &b["status"];
            assert_eq!((&s["phase"], &s["jobName"]), (&json!("Running"), &json!(JOB)));
            assert!(s["startTime"].is_string(), "the start is recorded: {s}");
            assert_eq!(ready(b), ("False".into(), "ResetRunning".into()));
            assert_eq!(s["observedGeneration"], 1);
        }),
    ]);
    // Back in 15 s to see whether the new Job's pod could start (a missing Secret changes
    // nothing on the Job, so no watch event would tell).
    assert_eq!(
        run(kor, calls).await.expect("reconcile"),
        Action::requeue(std::time::Duration::from_secs(15))
    );
}

#[tokio::test]
async fn a_reset_to_a_missing_snapshot_waits_pending_and_creates_nothing() {
    let kor = reset(&format!("resetStrategy: to-snapshot\nsnapshotRef: {SNAPSHOT}"));
    let calls = vec![
        Call::get_absent(format!("{JOBS}/{JOB}")),
        Call::get_absent(format!("{CONFIG_MAPS}/{SNAPSHOT}")),
        Call::event(NS, "Warning", "SnapshotNotFound"),
        Call::apply_status(KOR, object(&kor)).body(|b| {
            assert_eq!(b["status"]["phase"], "Pending");
            assert_eq!(ready(b), ("False".into(), "SnapshotNotFound".into()));
        }),
    ];
    assert_eq!(run(kor, calls).await.expect("reconcile"), Action::requeue(Duration::from_secs(30)));
}

/// The data plane's result: `g1` moved from 5 to 0 on orders/0, its offsets from before kept.
fn result() -> String {
    json!({"dryRun": false, "groupsReset": 1, "groupsFailed": 0,
        "groups": [{"group": "g1", "outcome": "Reset", "partitions": [{"topic": "orders", "partition": 0, "previous": 5, "new": 0}]}],
        "snapshot": {"groups": [{"group": "g1", "offsets": [{"topic": "orders", "partition": 0, "offset": 5}]}]}})
    .to_string()
}

/// A Job whose pod is not ready yet is looked at again in 15 s even when nothing is wrong yet:
/// its pod may get stuck later (a missing Secret past the grace), and that changes nothing on the
/// Job, so no watch event would bring the reset back to say so.
#[tokio::test]
async fn a_reset_whose_pod_is_still_starting_is_looked_at_again_in_15_seconds() {
    let mut kor = reset("resetStrategy: to-earliest");
    kor.status = serde_json::from_value(json!({"phase": "Running", "jobName": JOB, "observedGeneration": 1,
        "startTime": "2026-11-21T10:00:00Z"}))
    .expect("status");
    let mut job = fixtures::job(
        NS,
        JOB,
        fixtures::labels("rollback", "offset-reset"),
        vec![fixtures::owner("KafkaOffsetReset", "rollback", UID)],
        json!({"startTime": "2026-11-21T10:00:00Z", "active": 1, "ready": 0}),
    );
    job["metadata"]["uid"] = json!("job-uid");
    let pods = format!("/api/v1/namespaces/{NS}/pods");
    // Just created: pulling its image, not (yet) past the grace of a blocked pod.
    let young = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "rollback-offset-reset-q2", "namespace": NS,
            "creationTimestamp": crate::time::now(),
            "labels": {"batch.kubernetes.io/job-name": JOB},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": JOB, "uid": "job-uid"}]},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "main", "image": "x", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
    let calls = vec![
        Call::get(format!("{JOBS}/{JOB}"), job),
        Call::list(&pods, &format!("batch.kubernetes.io/job-name={JOB}"), "Pod", vec![young]),
    ];
    let action = run(kor, calls).await.expect("reconcile");
    assert_eq!(action, Action::requeue(std::time::Duration::from_secs(15)));
}

#[tokio::test]
async fn a_finished_reset_is_completed_with_each_groups_result_and_a_snapshot_of_the_offsets_before() {
    let mut kor = reset("resetStrategy: to-earliest");
    kor.status = serde_json::from_value(json!({"phase": "Running", "jobName": JOB, "observedGeneration": 1,
        "startTime": "2026-11-21T10:00:00Z"}))
    .expect("status");
    let job = fixtures::job(
        NS,
        JOB,
        fixtures::labels("rollback", "offset-reset"),
        vec![fixtures::owner("KafkaOffsetReset", "rollback", UID)],
        fixtures::finished("Complete", "2026-11-21T10:00:00Z"),
    );
    let mut calls = vec![Call::get(format!("{JOBS}/{JOB}"), job)];
    calls.extend(fixtures::job_output(NS, JOB, &format!("INFO resetting\n{}\n", result())));
    calls.extend([
        Call::create(CONFIG_MAPS).body(|b| {
            owned(b, "rollback-offset-snapshot", "offset-snapshot");
            let snapshot: Value =
                serde_json::from_str(b["data"]["snapshot.json"].as_str().expect("snapshot.json"))
                    .expect("JSON");
            assert_eq!(
                snapshot["groups"][0]["offsets"][0]["offset"], 5,
                "the offsets from before: {snapshot}"
            );
        }),
        Call::event(NS, "Normal", "OffsetResetCompleted"),
        Call::apply_status(KOR, object(&kor)).body(|b| {
            let s = &b["status"];
            assert_eq!((&s["phase"], &s["jobName"]), (&json!("Completed"), &json!(JOB)));
            assert_eq!((&s["groupsReset"], &s["groupsFailed"]), (&json!(1), &json!(0)));
            let change = &s["results"][0]["partitions"][0];
            assert_eq!(
                (&s["results"][0]["group"], &s["results"][0]["outcome"]),
                (&json!("g1"), &json!("Reset"))
            );
            assert_eq!((&change["previousOffset"], &change["newOffset"]), (&json!(5), &json!(0)));
            assert_eq!(s["snapshotRef"], "rollback-offset-snapshot");
            assert_eq!(s["startTime"], "2026-11-21T10:00:00Z");
            assert!(s["completionTime"].is_string() && s["duration"].is_string(), "when it ended: {s}");
            assert_eq!(ready(b), ("True".into(), "OffsetsReset".into()));
        }),
    ]);
    assert_eq!(run(kor, calls).await.expect("reconcile"), Action::await_change());
}

#[tokio::test]
async fn a_config_map_planted_under_the_resets_name_is_refused_as_foreign_and_no_job_runs() {
    let kor = reset("resetStrategy: to-earliest");
    let planted = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": JOB, "namespace": NS}, "data": {"config.yaml": "groups: [everyone]"}});
    let calls = vec![
        Call::get_absent(format!("{JOBS}/{JOB}")),
        Call::create_conflict(CONFIG_MAPS).body(|b| owned(b, JOB, "offset-reset")),
        Call::get(format!("{CONFIG_MAPS}/{JOB}"), planted),
    ];
    let error = run(kor, calls).await.expect_err("a foreign ConfigMap is refused");
    assert_eq!(error.reason(), "ForeignObject");
    assert!(error.to_string().contains(&format!("ConfigMap {JOB}")), "names the ConfigMap: {error}");
}

/// As for restores: the Job the one-shot lifecycle finds under the run's name is the run's only
/// with its owner reference; a planted one is refused, and its result never recorded.
#[tokio::test]
async fn a_job_planted_under_the_resets_name_is_refused_as_foreign_and_nothing_is_recorded() {
    let kor = reset("resetStrategy: to-earliest");
    let planted = fixtures::job(
        NS,
        JOB,
        fixtures::labels("rollback", "offset-reset"),
        vec![],
        fixtures::finished("Complete", "2026-11-21T10:00:00Z"),
    );
    let calls = vec![Call::get(format!("{JOBS}/{JOB}"), planted)];
    let error = run(kor, calls).await.expect_err("a foreign Job is refused");
    assert_eq!(error.reason(), "ForeignObject");
    assert!(error.to_string().contains(&format!("Job {JOB}")), "names the Job: {error}");
}
