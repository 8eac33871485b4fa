//! The `KafkaBackup` reconcile against a fake API server ([`fixtures`]): for an object and the
//! world it finds, the exact calls it makes, in order — reads, children, Events, status. The
//! plan's branches are table-tested in `plan/tests.rs`; these prove that observe and act carry a
//! plan to the API as they should (what is read, what is created with which name, labels and
//! owner, when the status is written), without the environment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use sha2::Digest;

use super::controller::reconcile;
use crate::api::backup::{KafkaBackup, TRIGGER_ANNOTATION};
use crate::api::schedule::CronSchedule;
use crate::operator::error::Error;
use crate::operator::fixtures::{self, Call, ready};

const NS: &str = "kafka";
/// The finalizer, spelled out: objects in clusters carry it, so its name is part of the API.
const FINALIZER: &str = "kafkabackup.com/cleanup";
const UID: &str = "0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011";
const KB: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkabackups/nightly";
const JOBS: &str = "/apis/batch/v1/namespaces/kafka/jobs";
const CONFIG_MAPS: &str = "/api/v1/namespaces/kafka/configmaps";
const POINTS: &str = "/apis/kafkabackup.com/v1alpha1/namespaces/kafka/kafkarestorepoints";

/// The restore points a run is told it knows (none yet), read right before its config is made.
fn list_points() -> Call {
    Call::list(
        POINTS,
        "kafkabackup.com/source-kind=KafkaBackup,kafkabackup.com/source=nightly",
        "KafkaRestorePoint",
        vec![],
    )
}
/// How a backup's Jobs are listed.
const SELECTOR: &str = "app.kubernetes.io/instance=nightly,app.kubernetes.io/component=backup";
/// The one run of a backup without a schedule: `initial-` and the uid's first 8 hex digits.
const INITIAL: &str = "nightly-initial-0f1e2d3c";
const BOOTSTRAP: &str = "my-cluster-kafka-bootstrap.kafka.svc:9092";
/// Every year: never due while a test runs (but on New Year's midnight).
const YEARLY: &str = "0 0 1 1 *";

/// `nightly` in `kafka`, finalized, created now, with `spec` added to a minimal one (a direct
/// bootstrap address: no Strimzi read).
fn backup(spec: &str) -> KafkaBackup {
    let spec = serde_yaml_ng::from_str(&format!(
        "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nstorage: {{type: s3, s3: {{bucket: b, region: r}}}}\n{spec}"
    ))
    .expect("spec");
    let mut kb = KafkaBackup::new("nightly", spec);
    kb.metadata.namespace = Some(NS.into());
    kb.metadata.uid = Some(UID.into());
    kb.metadata.generation = Some(2);
    kb.metadata.creation_timestamp = crate::time::kube(Utc::now());
    kb.metadata.finalizers = Some(vec![FINALIZER.into()]);
    kb
}

fn object(kb: &KafkaBackup) -> Value {
    serde_json::to_value(kb).expect("KafkaBackup as JSON")
}

/// The reconcile of `kb` against `calls`.
async fn run(kb: KafkaBackup, calls: Vec<Call>) -> Result<Action, Error> {
    let (ctx, server) = fixtures::context();
    server.run(calls, reconcile(Arc::new(kb), ctx)).await
}

fn list_jobs(items: Vec<Value>) -> Call {
    Call::list(JOBS, SELECTOR, "Job", items)
}

/// Asserts a child is `nightly`'s: its name, the labels of `component`, a controller owner
/// reference to this uid.
fn owned(body: &Value, name: &str, component: &str) {
    fixtures::assert_owned(body, NS, name, "KafkaBackup", "nightly", UID, component);
}

/// The Job name of trigger value `value` on this object: `trigger-` and the first 4 bytes of
/// SHA-256 of `<uid>/<value>`, in hex (docs/operator.md), computed here on its own.
fn trigger_job(value: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{UID}/{value}").as_bytes());
    format!("nightly-trigger-{}", hex::encode(&digest[..4]))
}

/// The next run of `cron` after `t`, at second precision as the status holds it.
fn next_run(cron: &str, t: DateTime<Utc>) -> String {
    let schedule: crate::api::backup::Schedule =
        serde_yaml_ng::from_str(&format!("cron: '{cron}'")).expect("schedule");
    let next = CronSchedule::parse(&schedule).expect("cron").next_after(t).expect("a next run");
    next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Asserts `action` requeues at `at` (RFC 3339), give or take the reconcile's own clock read
/// between `before` and `after`, plus the 200 ms margin the controller adds.
fn requeues_at(action: &Action, at: &str, before: DateTime<Utc>, after: DateTime<Utc>) {
    let at = DateTime::parse_from_rfc3339(at).expect("time").with_timezone(&Utc);
    let delay = fixtures::requeue_after(action).unwrap_or_else(|| panic!("a requeue, not {action:?}"));
    let margin = std::time::Duration::from_millis(200);
    let earliest = (at - after).to_std().expect("in the future") + margin;
    let latest = (at - before).to_std().expect("in the future") + margin;
    assert!(
        earliest <= delay && delay <= latest,
        "requeue after {delay:?}, not within {earliest:?}..={latest:?}"
    );
}

#[tokio::test]
async fn a_new_kafka_backup_gets_its_finalizer_and_nothing_else_happens() {
    let mut kb = backup("");
    kb.metadata.finalizers = None;
    // The API server reads a missing list as null, which the patch's `test` expects.
    let mut stored = object(&kb);
    stored["metadata"]["finalizers"] = Value::Null;
    let calls = vec![Call::patch(KB, stored).body(|b| {
        let add = json!({"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]});
        assert!(b.as_array().is_some_and(|ops| ops.contains(&add)), "the patch adds {FINALIZER} alone: {b}");
    })];
    assert_eq!(run(kb, calls).await.expect("reconcile"), Action::await_change());
}

#[tokio::test]
async fn an_invalid_schedule_is_reported_as_invalid_spec_and_nothing_is_read_or_started() {
    let kb = backup("schedule: {cron: 'every night at two'}");
    let calls = vec![
        Call::event(NS, "Warning", "InvalidSpec"),
        Call::apply_status(KB, object(&kb)).body(|b| {
            assert_eq!(ready(b), ("False".into(), "InvalidSpec".into()));
            assert_eq!(b["status"]["observedGeneration"], 2);
            assert!(b["status"]["lastBackup"].is_null() && b["status"]["activeJob"].is_null());
        }),
    ];
    assert_eq!(run(kb, calls).await.expect("reconcile"), Action::await_change());
}

#[tokio::test]
async fn a_backup_without_schedule_starts_its_first_run_on_the_strimzi_cluster_it_names() {
    let kb = backup("");
    let mut kb = {
        let mut spec = kb.spec.clone();
        spec.cluster = serde_yaml_ng::from_str("strimziClusterRef: {name: my-cluster}").expect("ref");
        spec.storage = serde_yaml_ng::from_str(
            "{type: s3, s3: {bucket: b, region: r, credentialsSecret: {name: s3-creds}}}",
        )
        .expect("storage");
        KafkaBackup { spec, ..kb }
    };
    kb.metadata.generation = Some(1);
    let mut calls = vec![list_jobs(vec![])];
    calls.extend(fixtures::strimzi_discovery());
    calls.extend([
        fixtures::ready_kafka(NS, "my-cluster", BOOTSTRAP),
        list_points(),
        Call::create(CONFIG_MAPS).body(|b| {
            owned(b, INITIAL, "backup");
            assert_eq!(b["metadata"]["labels"]["strimzi.io/cluster"], "my-cluster");
            let config = b["data"]["config.yaml"].as_str().expect("the run's config");
            assert!(config.contains(BOOTSTRAP), "the listener's address in the config: {config}");
        }),
        Call::create(JOBS).body(|b| {
            owned(b, INITIAL, "backup");
            assert_eq!(b["metadata"]["annotations"]["kafkabackup.com/backup-id"], INITIAL);
            let pod = &b["spec"]["template"]["spec"];
            let container = &pod["containers"][0];
            assert_eq!(container["image"], fixtures::IMAGE);
            let text = b.to_string();
            assert!(text.contains("\"s3-creds\""), "the credentials by Secret reference: {text}");
            assert!(
                pod["volumes"].as_array().into_iter().flatten().any(|v| v["configMap"]["name"] == INITIAL),
                "the run's ConfigMap mounted: {}",
                pod["volumes"]
            );
        }),
        Call::event(NS, "Normal", "BackupStarted"),
        Call::apply_status(KB, object(&kb)).body(|b| {
            let s = &b["status"];
            assert_eq!(s["activeJob"], INITIAL);
            assert_eq!(
                (&s["lastBackup"]["id"], &s["lastBackup"]["status"]),
                (&json!(INITIAL), &json!("Running"))
            );
            assert_eq!(ready(b), ("True".into(), "BackupRunning".into()));
            assert_eq!(s["observedGeneration"], 1);
        }),
    ]);
    assert_eq!(run(kb, calls).await.expect("reconcile"), Action::await_change());
}

/// The data plane's result line for backup `id`.
fn result(id: &str) -> String {
    format!(
        r#"{{"backupId": "{id}", "location": "s3://b/", "startedAt": "2026-11-21T10:00:00.000Z", "completedAt": "2026-11-21T10:03:00.000Z", "sizeBytes": 1024, "rawBytes": 4096, "records": 40, "topics": 1, "partitions": 3, "consumerGroups": 0, "backupCount": 7, "storageBytes": 7168}}"#
    )
}

/// `nightly` whose initial run is active in status, and that run's Job, completed.
fn initial_run_finished() -> (KafkaBackup, Value) {
    let mut kb = backup("");
    kb.status = serde_json::from_value(json!({"activeJob": INITIAL, "observedGeneration": 2,
        "lastBackup": {"id": INITIAL, "status": "Running", "startTime": "2026-11-21T10:00:00Z"}}))
    .expect("status");
    let mut done = fixtures::job(
        NS,
        INITIAL,
        fixtures::labels("nightly", "backup"),
        vec![fixtures::owner("KafkaBackup", "nightly", UID)],
        fixtures::finished("Complete", "2026-11-21T10:00:00Z"),
    );
    done["metadata"]["annotations"] = json!({"kafkabackup.com/backup-id": INITIAL});
    (kb, done)
}

#[tokio::test]
async fn a_finished_run_is_recorded_completed_with_its_figures_and_its_job_marked_recorded() {
    let (kb, done) = initial_run_finished();
    let log = format!("INFO backing up\n{}\nINFO done\n", result(INITIAL));
    let mut calls = vec![list_jobs(vec![done.clone()])];
    calls.extend(fixtures::job_output(NS, INITIAL, &log));
    calls.extend([
        Call::event(NS, "Normal", "BackupCompleted"),
        Call::apply_status(KB, object(&kb)).body(|b| {
            let s = &b["status"];
            let last = &s["lastBackup"];
            assert_eq!((&last["id"], &last["status"]), (&json!(INITIAL), &json!("Completed")));
            assert_eq!(
                (&last["records"], &last["sizeBytes"], &last["partitionsBackedUp"], &last["topicsBackedUp"]),
                (&json!(40), &json!(1024), &json!(3), &json!(1))
            );
            assert_eq!(last["completionTime"], "2026-11-21T10:03:00Z");
            assert_eq!((&s["backupCount"], &s["storageBytes"]), (&json!(7), &json!(7168)));
            assert!(s["activeJob"].is_null(), "no run active: {s}");
            assert_eq!(ready(b), ("True".into(), "BackupCompleted".into()));
        }),
        Call::patch(format!("{JOBS}/{INITIAL}"), done).body(|b| {
            assert_eq!(b, &json!({"metadata": {"annotations": {"kafkabackup.com/recorded": "true"}}}));
        }),
    ]);
    assert_eq!(run(kb, calls).await.expect("reconcile"), Action::await_change());
}

/// The uid of the Indexed Job of the tests of runs across workers.
const INDEXED_UID: &str = "9a8b7c6d-0000-4000-8000-000000000001";

/// `initial_run_finished` as an Indexed Job (a run across workers), finished with `status`.
fn indexed_run_finished(status: Value) -> (KafkaBackup, Value) {
    let (kb, mut done) = initial_run_finished();
    done["metadata"]["uid"] = json!(INDEXED_UID);
    done["spec"]["completionMode"] = json!("Indexed");
    done["status"] = status;
    (kb, done)
}

/// A worker pod of that Job: index, phase, created at 10:`minute`, exit code and termination
/// message.
fn worker_pod(name: &str, index: u32, phase: &str, minute: u32, exit: i32, message: &str) -> Value {
    let mut pod = fixtures::pod(NS, INITIAL, message);
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["creationTimestamp"] = json!(format!("2026-11-21T10:{minute:02}:00Z"));
    pod["metadata"]["annotations"] = json!({"batch.kubernetes.io/job-completion-index": index.to_string()});
    pod["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "batch/v1", "kind": "Job", "name": INITIAL, "uid": INDEXED_UID}]);
    pod["status"]["phase"] = json!(phase);
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] = json!(exit);
    pod
}

#[tokio::test]
async fn a_run_across_workers_is_recorded_from_the_worker_that_committed_not_the_first_that_succeeded() {
    let (kb, done) = indexed_run_finished(fixtures::finished("Complete", "2026-11-21T10:00:00Z"));
    // Worker 0 and 2 stored their shares; worker 1 was killed, and its retry committed.
    let share = |i: u32| {
        format!(
            r#"{{"backupId":"{INITIAL}","worker":{{"index":{i},"workers":3,"partitions":1,"records":10,"bytes":100,"committed":false}}}}"#
        )
    };
    let pods = vec![
        worker_pod("w-0", 0, "Succeeded", 0, 0, &share(0)),
        worker_pod("w-1-a", 1, "Failed", 0, 137, ""),
        worker_pod("w-2", 2, "Succeeded", 0, 0, &share(2)),
        worker_pod("w-1-b", 1, "Succeeded", 2, 0, &result(INITIAL)),
    ];
    let mut calls = vec![list_jobs(vec![done.clone()])];
    calls.extend([
        Call::list("/api/v1/namespaces/kafka/pods", &format!("job-name={INITIAL}"), "Pod", pods),
        // Only the committing worker's log is read: its termination message is the whole result.
        Call::log("/api/v1/namespaces/kafka/pods/w-1-b/log", &format!("INFO commit\n{}\n", result(INITIAL))),
        Call::event(NS, "Normal", "BackupCompleted"),
        Call::apply_status(KB, object(&kb)).body(|b| {
            let last = &b["status"]["lastBackup"];
            assert_eq!((&last["status"], &last["records"]), (&json!("Completed"), &json!(40)), "{last}");
        }),
        Call::patch(format!("{JOBS}/{INITIAL}"), done),
    ]);
    assert_eq!(run(kb, calls).await.expect("reconcile"), Action::await_change());
}

#[tokio::test]
async fn a_run_across_workers_that_failed_says_why_in_the_words_of_the_worker_that_failed_it() {
    let mut status = fixtures::finished("Failed", "2026-11-21T10:00:00Z");
    status["failedIndexes"] = json!("1");
    let (kb, done) = indexed_run_finished(status);
    // Worker 1 failed twice for the same reason; the Job controller then stopped worker 0, whose
    // pod is the newest (a retry of its own): not the one that says why.
    let pods = vec![
        worker_pod("w-1-a", 1, "Failed", 0, 1, "error: storage s3://b/ unreachable: connection refused"),
        worker_pod("w-0", 0, "Failed", 2, 143, "INFO reading orders/0\n"),
        worker_pod("w-1-b", 1, "Failed", 1, 1, "error: storage s3://b/ unreachable: timed out"),
    ];
    let mut calls = vec![list_jobs(vec![done.clone()])];
    calls.extend([
        Call::list("/api/v1/namespaces/kafka/pods", &format!("job-name={INITIAL}"), "Pod", pods),
        Call::log(
            "/api/v1/namespaces/kafka/pods/w-1-b/log",
            "INFO reading\nerror: storage s3://b/ unreachable\n",
        ),
        Call::event(NS, "Warning", "BackupFailed"),
        Call::apply_status(KB, object(&kb)).body(|b| {
            let last = &b["status"]["lastBackup"];
            assert_eq!(
                (&last["status"], &last["message"]),
                (&json!("Failed"), &json!("storage s3://b/ unreachable: timed out")),
                "{last}"
            );
        }),
        Call::patch(format!("{JOBS}/{INITIAL}"), done),
    ]);
    assert_eq!(run(kb, calls).await.expect("reconcile"), Action::await_change());
}

#[tokio::test]
async fn a_finished_run_mirrors_the_restore_points_it_reports_and_shows_their_window() {
    let (kb, done) = initial_run_finished();
    let mut result: Value = serde_json::from_str(&result(INITIAL)).expect("result");
    let manifest = json!({
        "formatVersion": 2, "backupId": INITIAL, "startedAt": "2026-11-21T10:00:00.000Z",
        "completedAt": "2026-11-21T10:03:00.000Z", "encoding": {"compression": "zstd"},
        "topics": [{"name": "orders", "partitionCount": 1, "replicationFactor": 1, "partitions": [{
            "partition": 0, "startOffset": 0, "endOffset": 40, "segments": [{
                "object": "b/0.kbseg", "firstOffset": 0, "lastOffset": 39, "records": 40, "offsetsSkipped": 0,
                "minTimestamp": 1_795_000_000_000_i64, "maxTimestamp": 1_795_000_100_000_i64,
                "rawBytes": 4096, "storedBytes": 1024, "sha256": "00"}]}]}],
        "totals": {"records": 40, "rawBytes": 4096, "storedBytes": 1024, "topics": 1, "partitions": 1}
    });
    let summary =
        crate::restore_points::summarize(&serde_json::from_value(manifest).expect("manifest"), None);
    result["restorePoints"] =
        json!({"location": "s3://b/", "present": [INITIAL], "added": [summary], "complete": true});
    let log = format!("{result}\n");
    let mut calls = vec![list_jobs(vec![done.clone()])];
    calls.extend(fixtures::job_output(NS, INITIAL, &log));
    calls.extend([
        Call::event(NS, "Normal", "BackupCompleted"),
        list_points(),
        Call::create(POINTS).body(|b| {
            assert_eq!(b["metadata"]["name"], INITIAL, "the run's id starts with the KafkaBackup's name");
            assert_eq!(b["spec"]["source"], json!({"kind": "KafkaBackup", "name": "nightly"}));
            assert_eq!(b["spec"]["totals"]["records"], 40);
            let owner = &b["metadata"]["ownerReferences"][0];
            assert_eq!((&owner["kind"], &owner["uid"]), (&json!("KafkaBackup"), &json!(UID)), "owned: {b}");
        }),
        Call::apply_status(KB, object(&kb)).body(|b| {
            let s = &b["status"];
            assert_eq!(s["firstRecoverabilityPoint"], "2026-11-18T11:06:40.000Z");
            assert_eq!(s["lastRecoverabilityPoint"], "2026-11-21T10:00:00.000Z");
            assert_eq!(s["lastSuccessfulBackup"], "2026-11-21T10:03:00.000Z");
        }),
        Call::patch(format!("{JOBS}/{INITIAL}"), done),
    ]);
    assert_eq!(run(kb, calls).await.expect("reconcile"), Action::await_change());
}

#[tokio::test]
async fn a_job_planted_under_the_runs_name_is_refused_as_foreign_and_nothing_is_recorded() {
    let kb = backup("");
    // Same name and labels, no owner reference: made by someone else.
    let planted = fixtures::job(NS, INITIAL, fixtures::labels("nightly", "backup"), vec![], json!({}));
    let calls = vec![
        list_jobs(vec![planted.clone()]),
        list_points(),
        Call::create(CONFIG_MAPS).body(|b| owned(b, INITIAL, "backup")),
        Call::create_conflict(JOBS).body(|b| owned(b, INITIAL, "backup")),
        Call::get(format!("{JOBS}/{INITIAL}"), planted),
    ];
    let error = run(kb, calls).await.expect_err("a foreign Job is refused");
    assert_eq!(error.reason(), "ForeignObject");
    assert!(error.to_string().contains(&format!("Job {INITIAL}")), "names the Job: {error}");
}

#[tokio::test]
async fn a_suspended_schedule_starts_nothing_even_when_due_and_moves_its_cursor_on() {
    // The cursor says a run was due a minute ago: without suspend it would start.
    let due = Utc::now() - chrono::Duration::minutes(1);
    let mut kb = backup("schedule: {cron: '* * * * *', suspend: true}");
    kb.status = serde_json::from_value(json!({"observedGeneration": 2,
        "nextScheduledBackup": due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}))
    .expect("status");
    let before = Utc::now();
    let expected_next = Arc::new(Mutex::new(String::new()));
    let seen_next = expected_next.clone();
    let calls = vec![
        list_jobs(vec![]),
        Call::apply_status(KB, object(&kb)).body(move |b| {
            let s = &b["status"];
            assert!(s["activeJob"].is_null() && s["lastBackup"].is_null(), "nothing started: {s}");
            assert_eq!(ready(b), ("True".into(), "Scheduled".into()));
            let next = s["nextScheduledBackup"].as_str().expect("the cursor").to_string();
            assert!(next > due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "moved on: {next}");
            *seen_next.lock().expect("lock") = next;
        }),
    ];
    let action = run(kb, calls).await.expect("reconcile");
    let after = Utc::now();
    let next = expected_next.lock().expect("lock").clone();
    assert!(
        [next_run("* * * * *", before), next_run("* * * * *", after)].contains(&next),
        "the cursor is the next minute: {next}"
    );
    requeues_at(&action, &next, before, after);
}

#[tokio::test]
async fn a_schedule_not_yet_due_starts_nothing_and_requeues_at_its_next_time() {
    let kb = backup(&format!("schedule: {{cron: '{YEARLY}'}}"));
    let before = Utc::now();
    let next = next_run(YEARLY, before);
    let expected = next.clone();
    let calls = vec![
        list_jobs(vec![]),
        Call::apply_status(KB, object(&kb)).body(move |b| {
            let s = &b["status"];
            assert_eq!(s["nextScheduledBackup"], expected);
            assert!(s["activeJob"].is_null() && s["lastBackup"].is_null(), "nothing started: {s}");
            assert_eq!(ready(b), ("True".into(), "Scheduled".into()));
        }),
    ];
    let action = run(kb, calls).await.expect("reconcile");
    requeues_at(&action, &next, before, Utc::now());
}

#[tokio::test]
async fn a_trigger_annotation_starts_one_run_and_the_same_value_never_a_second() {
    let mut kb = backup(&format!("schedule: {{cron: '{YEARLY}'}}"));
    kb.metadata.annotations = Some([(TRIGGER_ANNOTATION.to_string(), "release-42".to_string())].into());
    let job = trigger_job("release-42");
    let applied = Arc::new(Mutex::new(Value::Null));
    let keep = applied.clone();
    let (cm_name, job_name) = (job.clone(), job.clone());
    let calls = vec![
        list_jobs(vec![]),
        list_points(),
        Call::create(CONFIG_MAPS).body(move |b| owned(b, &cm_name, "backup")),
        Call::create(JOBS).body(move |b| owned(b, &job_name, "backup")),
        Call::event(NS, "Normal", "BackupStarted"),
        Call::apply_status(KB, object(&kb)).body(move |b| {
            *keep.lock().expect("lock") = b["status"].clone();
        }),
    ];
    run(kb.clone(), calls).await.expect("reconcile");
    let status = applied.lock().expect("lock").clone();
    assert_eq!(status["lastTrigger"], "release-42");
    assert_eq!((&status["activeJob"], &status["lastBackup"]["id"]), (&json!(job), &json!(job)));

    // The next reconcile reads what was written and finds the Job running: nothing new, and
    // nothing to write.
    kb.status = Some(serde_json::from_value(status).expect("the applied status"));
    let running = fixtures::job(
        NS,
        &job,
        fixtures::labels("nightly", "backup"),
        vec![fixtures::owner("KafkaBackup", "nightly", UID)],
        // Its pod is up (ready): nothing about it to read.
        json!({"startTime": "2026-11-21T10:00:00Z", "active": 1, "ready": 1}),
    );
    let action = run(kb, vec![list_jobs(vec![running])]).await.expect("second reconcile");
    assert!(fixtures::requeue_after(&action).is_some(), "looks again at the next scheduled time");
}

#[tokio::test]
async fn a_due_scheduled_run_starts_under_its_slots_name_keeping_the_backups_restores_read() {
    // Every hour at this minute: the slot at or before now is this minute's whatever the clock
    // does while the test runs, and the next one is an hour away.
    let now = Utc::now();
    let slot = now.timestamp() / 60 * 60;
    let cron = format!("{} * * * *", chrono::Timelike::minute(&now));
    let mut kb = backup(&format!("schedule: {{cron: '{cron}'}}"));
    let at = |secs: i64| {
        DateTime::from_timestamp(secs, 0).expect("time").to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    kb.status = serde_json::from_value(json!({"observedGeneration": 2, "nextScheduledBackup": at(slot)}))
        .expect("status");
    let job = format!("nightly-{}", slot / 60);
    // A restore still reading an older backup of this KafkaBackup, and one that finished.
    let restore = |name: &str, phase: &str, id: &str| {
        json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestore",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"kafkaCluster": {"bootstrapServers": "k:9092"}, "backupRef": {"name": "nightly"}},
            "status": {"phase": phase, "restore": {"backupId": id}}})
    };
    let (cm_job, job_job, status_job) = (job.clone(), job.clone(), job.clone());
    let next = at(slot + 3600);
    let calls = vec![
        list_jobs(vec![]),
        Call::list_all(
            "/apis/kafkabackup.com/v1alpha1/kafkarestores",
            "KafkaRestore",
            vec![
                restore("dr", "Running", "nightly-29000001"),
                restore("old", "Completed", "nightly-29000002"),
            ],
        ),
        list_points(),
        Call::create(CONFIG_MAPS).body(move |b| {
            owned(b, &cm_job, "backup");
            let config = b["data"]["config.yaml"].as_str().expect("the run's config");
            assert!(config.contains("nightly-29000001"), "the running restore's backup is kept: {config}");
            assert!(!config.contains("nightly-29000002"), "a finished restore keeps nothing: {config}");
        }),
        Call::create(JOBS).body(move |b| owned(b, &job_job, "backup")),
        Call::event(NS, "Normal", "BackupStarted"),
        Call::apply_status(KB, object(&kb)).body(move |b| {
            let s = &b["status"];
            assert_eq!((&s["activeJob"], &s["lastBackup"]["id"]), (&json!(status_job), &json!(status_job)));
            assert_eq!(s["nextScheduledBackup"], next, "the cursor moves to the next slot");
        }),
    ];
    let action = run(kb, calls).await.expect("reconcile");
    assert!(fixtures::requeue_after(&action).is_some_and(|d| d > Duration::from_secs(3000)), "{action:?}");
}

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/kafka/deployments/nightly-continuous";
const CONTINUOUS_CONFIG: &str = "/api/v1/namespaces/kafka/configmaps/nightly-continuous";
/// The `backup.strimziResources` ConfigMap of a continuous backup.
const STRIMZI_CM: &str = "/api/v1/namespaces/kafka/configmaps/nightly-continuous-strimzi";

/// The Deployment as the API server has it, with `available` replicas.
fn deployment(available: i32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nightly-continuous", "namespace": NS, "generation": 1},
        "spec": {"selector": {}, "template": {}},
        "status": {"observedGeneration": 1, "availableReplicas": available}})
}

fn continuous_calls(
    kb: &KafkaBackup,
    available: i32,
    reason: &'static str,
    status: &'static str,
) -> Vec<Call> {
    vec![
        list_jobs(vec![]),
        Call::patch(
            CONTINUOUS_CONFIG,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nightly-continuous"}}),
        )
        .check(|s| {
            assert_eq!(s.param("fieldManager"), Some("strimzi-backup-operator"), "server-side apply");
            owned(&s.body, "nightly-continuous", "continuous-backup");
            let config = s.body["data"]["config.yaml"].as_str().expect("the config");
            assert!(config.contains("mode: continuous"), "{config}");
            assert!(!config.contains("knownRestorePoints"), "nothing that changes per reconcile: {config}");
        }),
        Call::patch(DEPLOYMENT, deployment(available)).check(|s| {
            assert_eq!(s.param("fieldManager"), Some("strimzi-backup-operator"), "server-side apply");
            owned(&s.body, "nightly-continuous", "continuous-backup");
            let spec = &s.body["spec"];
            assert_eq!((&spec["replicas"], &spec["strategy"]["type"]), (&json!(1), &json!("Recreate")));
            assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
            let volumes = spec["template"]["spec"]["volumes"].to_string();
            assert!(volumes.contains("nightly-continuous"), "its ConfigMap mounted: {volumes}");
        }),
        Call::get_absent(STRIMZI_CM),
        list_pods(vec![]),
        Call::apply_status(KB, object(kb)).body(move |b| {
            assert_eq!(ready(b), (status.into(), reason.into()));
            assert!(b["status"]["activeJob"].is_null() && b["status"]["nextScheduledBackup"].is_null());
        }),
    ]
}

/// `strimziResources` turned off while the continuous backup runs: once the Deployment no longer
/// mounts it, the ConfigMap that held them is deleted, not left until the mode changes.
#[tokio::test]
async fn turning_strimzi_resources_off_deletes_their_config_map_after_the_deployment_is_applied() {
    let kb = backup("backup: {mode: continuous, commitInterval: 10s}");
    let held = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "nightly-continuous-strimzi", "namespace": NS}});
    let mut calls = continuous_applied();
    calls.pop();
    calls.extend([
        Call::get(STRIMZI_CM, held),
        Call::delete(STRIMZI_CM),
        list_pods(vec![]),
        Call::apply_status(KB, object(&kb)),
    ]);
    run(kb, calls).await.expect("reconcile");
}

#[tokio::test]
async fn a_continuous_backup_applies_its_deployment_and_is_ready_while_it_has_an_available_pod() {
    let kb = backup("backup: {mode: continuous, commitInterval: 10s}");
    let calls = continuous_calls(&kb, 0, "ContinuousBackupNotRunning", "False");
    let action = run(kb.clone(), calls).await.expect("reconcile");
    assert_eq!(fixtures::requeue_after(&action), Some(Duration::from_secs(10)), "no watch: look again soon");
    let calls = continuous_calls(&kb, 1, "ContinuousBackupRunning", "True");
    let action = run(kb, calls).await.expect("reconcile");
    assert_eq!(fixtures::requeue_after(&action), Some(Duration::from_secs(10)), "each commit recorded soon");
}

const PODS: &str = "/api/v1/namespaces/kafka/pods";
const POD: &str = "nightly-continuous-5d8f7c-x2k9q";
const SYNC: &str = "nightly-continuous-sync";

/// How the Deployment's pods are listed, answered with `items`.
fn list_pods(items: Vec<Value>) -> Call {
    Call::list(
        PODS,
        "app.kubernetes.io/instance=nightly,app.kubernetes.io/component=continuous-backup",
        "Pod",
        items,
    )
}

/// The Deployment's running pod, controlled by its ReplicaSet.
fn continuous_pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": POD, "namespace": NS, "creationTimestamp": "2026-11-21T09:59:00Z",
            "labels": {"app.kubernetes.io/instance": "nightly", "app.kubernetes.io/component": "continuous-backup",
                "pod-template-hash": "5d8f7c"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "nightly-continuous-5d8f7c",
                "uid": "rs", "controller": true}]},
        "status": {"phase": "Running"}})
}

/// The summary of restore point `id` committed `at` seconds past 10:00.
fn summary(id: &str, at: u32) -> Value {
    let manifest = json!({
        "formatVersion": 2, "backupId": id, "startedAt": format!("2026-11-21T10:00:{:02}.000Z", at - 1),
        "completedAt": format!("2026-11-21T10:00:{at:02}.000Z"), "encoding": {"compression": "zstd"},
        "topics": [], "totals": {"records": 0, "rawBytes": 0, "storedBytes": 0, "topics": 0, "partitions": 0}
    });
    let summary =
        crate::restore_points::summarize(&serde_json::from_value(manifest).expect("manifest"), None);
    serde_json::to_value(summary).expect("summary as JSON")
}

/// The result line the continuous process prints for commit `id` at `at` seconds past 10:00.
/// `kb` with the commit `c1` (10:00:10) recorded in its status by an earlier look.
fn recorded_c1(kb: &mut KafkaBackup) {
    let mut status = crate::api::backup::KafkaBackupStatus::default();
    super::outcome::completed(
        &mut status,
        &serde_json::from_str(&commit_line("c1", 10, &[], &[])).expect("c1"),
        crate::time::now(),
    );
    kb.status = Some(status);
}

fn commit_line(id: &str, at: u32, added: &[&str], present: &[&str]) -> String {
    let mut line: Value = serde_json::from_str(&result(id)).expect("result");
    line["startedAt"] = json!(format!("2026-11-21T10:00:{:02}.000Z", at - 1));
    line["completedAt"] = json!(format!("2026-11-21T10:00:{at:02}.000Z"));
    line["restorePoints"] = json!({"location": "s3://b/", "present": present, "complete": true,
        "added": added.iter().map(|a| summary(a, at)).collect::<Vec<_>>()});
    line.to_string()
}

/// A restore point of `nightly` as the operator created it, for backup `id`.
fn point(id: &str) -> Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestorePoint",
        "metadata": {"name": format!("nightly-{id}"), "namespace": NS,
            "labels": {"kafkabackup.com/source": "nightly", "kafkabackup.com/source-kind": "KafkaBackup"},
            "ownerReferences": [fixtures::owner("KafkaBackup", "nightly", UID)]},
        "spec": serde_json::to_value(crate::api::restore_point::KafkaRestorePointSpec {
            source: crate::api::restore_point::RestorePointSource { kind: "KafkaBackup".into(), name: "nightly".into() },
            ..serde_json::from_value(summary(id, 5)).expect("a spec")
        }).expect("spec as JSON")})
}

/// The calls up to the Deployment as it runs with an available pod.
fn continuous_applied() -> Vec<Call> {
    vec![
        list_jobs(vec![]),
        Call::patch(
            CONTINUOUS_CONFIG,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nightly-continuous"}}),
        ),
        Call::patch(DEPLOYMENT, deployment(1)),
        Call::get_absent(STRIMZI_CM),
    ]
}

#[tokio::test]
async fn a_running_continuous_backup_records_the_commits_its_pod_printed_and_mirrors_their_restore_points() {
    let mut kb = backup("backup: {mode: continuous, commitInterval: 10s}");
    // c1 recorded already; c2 and c3 are new (c3 pruned c0, whose restore point goes).
    let log = [
        "2026-11-21T10:00:00Z INFO continuous backup started".to_string(),
        commit_line("c1", 10, &["c0", "c1"], &["c0", "c1"]),
        "2026-11-21T10:00:20Z INFO restore point committed".to_string(),
        commit_line("c2", 20, &["c2"], &["c0", "c1", "c2"]),
        commit_line("c3", 30, &["c3"], &["c1", "c2", "c3"]),
    ]
    .join("\n");
    recorded_c1(&mut kb);
    let mut calls = continuous_applied();
    calls.extend([
        list_pods(vec![continuous_pod()]),
        // The end reaches back to c1, recorded: no longer tail.
        Call::log(format!("{PODS}/{POD}/log"), &log)
            .check(|s| assert_eq!(s.param("tailLines"), Some("40"), "the end of the log only")),
        Call::list(
            POINTS,
            "kafkabackup.com/source-kind=KafkaBackup,kafkabackup.com/source=nightly",
            "KafkaRestorePoint",
            vec![point("c0"), point("c1"), point("c2")],
        ),
        Call::create(POINTS).body(|b| {
            assert_eq!(b["metadata"]["name"], "nightly-c3");
            assert_eq!(b["spec"]["source"], json!({"kind": "KafkaBackup", "name": "nightly"}));
        }),
        Call::delete(format!("{POINTS}/nightly-c0")),
        Call::apply_status(KB, object(&kb)).body(|b| {
            let st = &b["status"];
            assert_eq!(st["lastBackup"]["id"], "c3");
            let history: Vec<&str> = st["backupHistory"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_str())
                .collect();
            assert_eq!(history, ["c3", "c2", "c1"]);
            assert_eq!(st["lastRecoverabilityPoint"], "2026-11-21T10:00:29.000Z", "c3's cut");
            assert_eq!(ready(b), ("True".into(), "ContinuousBackupRunning".into()));
            let message = b["status"]["conditions"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("the newest is c3"), "{message}");
            assert!(st["activeJob"].is_null(), "no gap: no sync");
        }),
    ]);
    let action = run(kb, calls).await.expect("reconcile");
    assert_eq!(fixtures::requeue_after(&action), Some(Duration::from_secs(10)));
}

#[tokio::test]
async fn commits_a_killed_container_printed_after_the_last_look_are_read_from_its_previous_log() {
    let mut kb = backup("backup: {mode: continuous, commitInterval: 10s}");
    recorded_c1(&mut kb);
    // Restarted at 10:00:25, after c1 was recorded: c2 is only in the previous instance's log.
    let mut pod = continuous_pod();
    pod["status"]["containerStatuses"] = json!([{"name": "backup", "image": "", "imageID": "", "ready": true,
        "restartCount": 1, "state": {"running": {"startedAt": "2026-11-21T10:00:25Z"}}}]);
    let previous =
        [commit_line("c1", 10, &["c1"], &["c1"]), commit_line("c2", 20, &["c2"], &["c1", "c2"])].join("\n");
    let current = commit_line("c3", 30, &["c1", "c2", "c3"], &["c1", "c2", "c3"]);
    let source = "kafkabackup.com/source-kind=KafkaBackup,kafkabackup.com/source=nightly";
    let mut calls = continuous_applied();
    calls.extend([
        list_pods(vec![pod]),
        Call::log(format!("{PODS}/{POD}/log"), &current).check(|s| assert_eq!(s.param("previous"), None)),
        // c3 alone does not reach back to c1: the longer tail, then the previous instance's.
        Call::log(format!("{PODS}/{POD}/log"), &current)
            .check(|s| assert_eq!((s.param("tailLines"), s.param("previous")), (Some("500"), None))),
        Call::log(format!("{PODS}/{POD}/log"), &previous)
            .check(|s| assert_eq!(s.param("previous"), Some("true"), "the instance before the restart")),
        Call::list(POINTS, source, "KafkaRestorePoint", vec![point("c1"), point("c2"), point("c3")]),
        Call::apply_status(KB, object(&kb)).body(|b| {
            let history: Vec<&str> = b["status"]["backupHistory"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_str())
                .collect();
            assert_eq!(history, ["c3", "c2", "c1"], "c2 from the previous instance's log");
        }),
    ]);
    run(kb.clone(), calls).await.expect("reconcile");
    // Once a commit of the new instance is recorded, its previous log is not read again.
    let mut status = kb.status.clone().unwrap_or_default();
    super::outcome::completed(&mut status, &serde_json::from_str(&current).expect("c3"), crate::time::now());
    let mut pod = continuous_pod();
    pod["status"]["containerStatuses"] = json!([{"name": "backup", "image": "", "imageID": "", "ready": true,
        "restartCount": 1, "state": {"running": {"startedAt": "2026-11-21T10:00:25Z"}}}]);
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod).expect("pod");
    assert!(!super::continuous::restarted_since_recorded(&pod, &status));
    assert!(super::continuous::restarted_since_recorded(&pod, &Default::default()));
}

#[tokio::test]
async fn restore_points_no_line_describes_are_listed_by_a_sync_job_that_only_creates() {
    // Only c3's line is left in the log: c1 is present at the location, unknown here.
    let kb = backup("backup: {mode: continuous, commitInterval: 10s}");
    let log = commit_line("c3", 30, &["c3"], &["c1", "c2", "c3"]);
    let source = "kafkabackup.com/source-kind=KafkaBackup,kafkabackup.com/source=nightly";
    let mut calls = continuous_applied();
    calls.extend([
        list_pods(vec![continuous_pod()]),
        Call::log(format!("{PODS}/{POD}/log"), &log),
        Call::log(format!("{PODS}/{POD}/log"), &log).check(|s| assert_eq!(s.param("tailLines"), Some("500"))),
        Call::list(POINTS, source, "KafkaRestorePoint", vec![point("c2")]),
        Call::create(POINTS).body(|b| assert_eq!(b["metadata"]["name"], "nightly-c3")),
        Call::list(POINTS, source, "KafkaRestorePoint", vec![point("c2"), point("c3")]),
        Call::create(CONFIG_MAPS).body(|b| {
            owned(b, SYNC, "sync");
            let config = b["data"]["config.yaml"].as_str().unwrap_or_default();
            assert!(config.contains("known:\n- c2\n- c3"), "told what it knows: {config}");
        }),
        Call::create(JOBS).body(|b| {
            owned(b, SYNC, "sync");
            let args = b["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
            assert!(args.contains("sync"), "{args}");
        }),
        Call::apply_status(KB, object(&kb)).body(|b| assert_eq!(b["status"]["activeJob"], SYNC)),
    ]);
    run(kb.clone(), calls).await.expect("reconcile");

    // It listed c1: created; c2 and c3 are left as they are, nothing is deleted.
    let mut kb = kb;
    kb.status =
        Some(crate::api::backup::KafkaBackupStatus { active_job: Some(SYNC.into()), ..Default::default() });
    let done = fixtures::job(
        NS,
        SYNC,
        fixtures::labels("nightly", "sync"),
        vec![fixtures::owner("KafkaBackup", "nightly", UID)],
        fixtures::finished("Complete", "2026-11-21T10:01:00Z"),
    );
    let listed = json!({"location": "s3://b/", "present": ["c1", "c3"], "added": [summary("c1", 10)], "complete": true});
    let mut calls = continuous_applied();
    calls.extend([
        list_pods(vec![continuous_pod()]),
        Call::log(format!("{PODS}/{POD}/log"), ""),
        Call::log(format!("{PODS}/{POD}/log"), ""),
        Call::list(
            JOBS,
            "app.kubernetes.io/instance=nightly,app.kubernetes.io/component=sync",
            "Job",
            vec![done],
        ),
    ]);
    calls.extend(fixtures::job_output(NS, SYNC, &format!("{listed}\n")));
    calls.extend([
        Call::list(POINTS, source, "KafkaRestorePoint", vec![point("c2"), point("c3")]),
        Call::create(POINTS).body(|b| assert_eq!(b["metadata"]["name"], "nightly-c1")),
        Call::list(POINTS, source, "KafkaRestorePoint", vec![point("c1"), point("c2"), point("c3")]),
        Call::delete(format!("{JOBS}/{SYNC}")),
        Call::delete(format!("{CONFIG_MAPS}/{SYNC}")),
        Call::apply_status(KB, object(&kb)).body(|b| {
            assert!(b["status"]["activeJob"].is_null(), "{}", b["status"]);
            assert!(b["status"]["lastRecoverabilityPoint"].is_string(), "{}", b["status"]);
        }),
    ]);
    run(kb, calls).await.expect("reconcile");
}

#[tokio::test]
async fn a_backup_no_longer_continuous_deletes_its_deployment_and_config_then_plans_as_before() {
    let mut kb = backup(&format!("schedule: {{cron: '{YEARLY}'}}"));
    let mut status = crate::api::backup::KafkaBackupStatus::default();
    status.conditions.push(crate::api::condition::Condition::new(
        "Ready",
        crate::api::condition::ConditionStatus::True,
        "ContinuousBackupRunning",
        "",
    ));
    kb.status = Some(status);
    let calls = vec![
        list_jobs(vec![]),
        Call::delete(DEPLOYMENT),
        Call::delete(CONTINUOUS_CONFIG),
        Call::delete(format!("{CONTINUOUS_CONFIG}-strimzi")),
        Call::apply_status(KB, object(&kb))
            .body(|b| assert_eq!(ready(b), ("True".into(), "Scheduled".into()))),
    ];
    run(kb, calls).await.expect("reconcile");
}

#[tokio::test]
async fn a_continuous_backup_hands_its_strimzi_resources_in_a_config_map_refreshed_only_when_they_change() {
    let kb = backup("backup: {mode: continuous, commitInterval: 10s, strimziResources: true}");
    let mut kb = {
        let mut spec = kb.spec.clone();
        spec.cluster = serde_yaml_ng::from_str("strimziClusterRef: {name: my-cluster}").expect("ref");
        KafkaBackup { spec, ..kb }
    };
    kb.metadata.generation = Some(1);
    let strimzi_cm = format!("{CONTINUOUS_CONFIG}-strimzi");
    let users = "/apis/kafka.strimzi.io/v1/namespaces/kafka/kafkausers";
    let alice = json!({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaUser",
        "metadata": {"name": "alice", "namespace": NS, "labels": {"strimzi.io/cluster": "my-cluster"}},
        "spec": {"authentication": {"type": "scram-sha-512"}}});
    let written = Arc::new(Mutex::new(Value::Null));
    let calls = |written: Arc<Mutex<Value>>, held: Value| {
        let mut calls = vec![list_jobs(vec![])];
        calls.extend(fixtures::strimzi_discovery());
        calls.extend([
            fixtures::ready_kafka(NS, "my-cluster", BOOTSTRAP),
            Call::list(users, "strimzi.io/cluster=my-cluster", "KafkaUser", vec![alice.clone()]),
            Call::patch(
                CONTINUOUS_CONFIG,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nightly-continuous"}}),
            )
            .body(|b| {
                let config = b["data"]["config.yaml"].as_str().unwrap_or_default();
                let file = "file: /etc/strimzi-backup/strimzi-resources/strimzi-resources.json.gz";
                assert!(config.contains(file), "the file named: {config}");
                assert!(!config.contains("sha256"), "no hash: the file changes under the pod: {config}");
            }),
        ]);
        if held.is_null() {
            calls.push(Call::get_absent(&strimzi_cm));
            calls.push(Call::patch(&strimzi_cm, json!({"apiVersion": "v1", "kind": "ConfigMap"})).check(
                move |s| {
                    assert_eq!(s.param("fieldManager"), Some("strimzi-backup-operator"), "server-side apply");
                    owned(&s.body, "nightly-continuous-strimzi", "continuous-backup");
                    assert!(s.body["binaryData"]["strimzi-resources.json.gz"].is_string(), "{}", s.body);
                    if let Ok(mut w) = written.lock() {
                        *w = s.body.clone();
                    }
                },
            ));
        } else {
            // The same declarations read again (at another time): not written again.
            calls.push(Call::get(&strimzi_cm, held));
        }
        calls.extend([
            Call::patch(DEPLOYMENT, deployment(1)).body(|b| {
                let pod = &b["spec"]["template"]["spec"];
                let volume = pod["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|v| v["configMap"]["name"] == "nightly-continuous-strimzi")
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(volume["name"], "strimzi-resources", "{}", pod["volumes"]);
                let mount = pod["containers"][0]["volumeMounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| m["name"] == "strimzi-resources")
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(mount["mountPath"], "/etc/strimzi-backup/strimzi-resources");
                assert!(mount["subPath"].is_null(), "a directory, so the kubelet updates it: {mount}");
            }),
            list_pods(vec![]),
            Call::apply_status(KB, object(&kb)),
        ]);
        calls
    };
    run(kb.clone(), calls(written.clone(), Value::Null)).await.expect("reconcile");
    let held = written.lock().map(|w| w.clone()).unwrap_or_default();
    assert!(
        held["metadata"]["annotations"]["kafkabackup.com/strimzi-resources-sha256"].is_string(),
        "{held}"
    );
    let second = calls(written, held);
    run(kb, second).await.expect("reconcile");
}
