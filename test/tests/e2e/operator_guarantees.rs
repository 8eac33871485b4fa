//! What the operator promises around every run (SPEC §6), read from a real run rather than from
//! the code that produces it: each object it creates carries the recommended labels; a run that
//! starts, a spec the rules refuse and a cluster it cannot reach each leave an Event; and the
//! metrics of a backup equal what the backup itself wrote (records, bytes from its manifest),
//! with its duration, last success and failure, and lag.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::Resource;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use object_store::ObjectStoreExt;
use strimzi_backup_e2e::dataplane::{create_topic, minio, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{
    Operator, backup_completed, event, finished_run, free_port, minio_storage, namespace_with_kafka,
};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::offset_reset::KafkaOffsetReset;
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};

/// The labels of Kubernetes' recommended set every object the operator creates must carry.
fn check_labels(kind: &str, name: &str, labels: &BTreeMap<String, String>) -> Result<(), String> {
    let want = [
        ("app.kubernetes.io/name", Some("strimzi-backup")),
        ("app.kubernetes.io/part-of", Some("strimzi-backup")),
        ("app.kubernetes.io/managed-by", Some("strimzi-backup-operator")),
        ("app.kubernetes.io/instance", None),
        ("app.kubernetes.io/component", None),
    ];
    for (key, value) in want {
        match (labels.get(key), value) {
            (None, _) => return Err(format!("{kind} {name} lacks label {key}: {labels:?}")),
            (Some(got), Some(v)) if got != v => return Err(format!("{kind} {name}: {key}={got}, not {v}")),
            _ => {}
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn created_objects_are_labelled_runs_leave_events_and_metrics_match_the_backup() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "guarantees").await?;
    let s = unique_suffix();
    let (topic, group, prefix) = (format!("gt{s}"), format!("gt-group-{s}"), format!("e2e-gt-{s}/"));
    create_topic(env, &topic, 2, &[]).await?;
    let base = recent();
    for p in 0..2 {
        produce(env, &topic, p, &records(&topic, p, 300, base)).await?;
    }
    strimzi_backup_e2e::dataplane::commit(env, &group, &topic, 0, 120)?;
    let started = chrono::Utc::now().timestamp() as f64;
    let operator = Operator::start(env, &ns)?;

    // A backup: Started and Completed Events, metrics equal to what its manifest holds.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  consumerGroups: {{include: ['{group}']}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "orders", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let started_event = event(&cluster, &ns, "BackupStarted", Duration::from_secs(10)).await?;
    assert_eq!(started_event.type_.as_deref(), Some("Normal"));
    assert!(started_event.message.unwrap_or_default().contains("first run"));
    let id =
        backups.get("orders").await?.status.and_then(|s| s.last_backup).map(|b| b.id).unwrap_or_default();
    let manifest_path = object_store::path::Path::from(format!("{prefix}backups/{id}/manifest.json"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&minio(env)?.get(&manifest_path).await?.bytes().await?)?;
    let totals = &manifest["manifest"]["totals"];
    let name = ["name=\"orders\""];
    let metric = |m: &'static str| operator.metric(m, &name);
    assert_eq!(metric("strimzi_backup_records_total").await?, 600.0);
    assert_eq!(totals["records"], 600);
    assert_eq!(metric("strimzi_backup_bytes_total").await?, totals["rawBytes"].as_f64().unwrap_or(-1.0));
    assert!(
        metric("strimzi_backup_storage_bytes").await? >= totals["storedBytes"].as_f64().unwrap_or(f64::MAX)
    );
    assert_eq!(metric("strimzi_backup_duration_seconds_count").await?, 1.0);
    let took = metric("strimzi_backup_duration_seconds_sum").await?;
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(took > 0.0 && took < now - started, "duration {took}");
    let success = metric("strimzi_backup_last_success_timestamp").await?;
    assert!(success >= started && success <= now + 1.0, "last success {success} not in [{started}, {now}]");
    // Lag: the age of the newest record backed up (timestamps base..base+299 ms) when it succeeded.
    let lag = metric("strimzi_backup_lag_seconds").await?;
    let expected = success - (base + 299) as f64 / 1e3;
    assert!((lag - expected).abs() < 1.0, "lag {lag}, expected about {expected}");
    assert_eq!(
        operator.metric("strimzi_backup_backups_total", &["name=\"orders\"", "outcome=\"success\""]).await?,
        1.0
    );

    // A cluster that cannot be reached: the run fails with a Warning naming the address.
    let nowhere = format!("127.0.0.1:{}", free_port()?);
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: unreachable}}\nspec:\n  kafkaCluster: {{bootstrapServers: '{nowhere}'}}\n  job: {{backoffLimit: 0}}\n{}",
                minio_storage(env, &format!("{prefix}unreachable/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    let failed = event(&cluster, &ns, "BackupFailed", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    let message = failed.message.unwrap_or_default();
    assert!(message.contains(&nowhere), "the Event names the unreachable cluster: {message}");
    let unreachable = ["name=\"unreachable\""];
    let failure = operator.metric("strimzi_backup_last_failure_timestamp", &unreachable).await?;
    assert!(failure >= success, "last failure {failure}");
    assert_eq!(operator.metric("strimzi_backup_last_success_timestamp", &unreachable).await?, 0.0);
    assert_eq!(
        operator
            .metric("strimzi_backup_backups_total", &["name=\"unreachable\"", "outcome=\"failure\""])
            .await?,
        1.0
    );
    // The status follows the Event.
    wait_until(Duration::from_secs(30), "the failed run in the status", || async {
        let st = backups.get("unreachable").await?.status.unwrap_or_default();
        Ok(st.last_backup.filter(|b| b.status == BackupRunStatus::Failed))
    })
    .await?;

    // A spec the rules refuse: a Warning naming the field, and no Job.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: misconfigured}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  schedule: {{cron: '0 25 * * *'}}\n{}",
                minio_storage(env, &format!("{prefix}misconfigured/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    let invalid = event(&cluster, &ns, "InvalidSpec", Duration::from_secs(30)).await?;
    assert_eq!(invalid.type_.as_deref(), Some("Warning"));
    assert!(invalid.message.unwrap_or_default().contains("spec.schedule.cron"));

    // A restore with a rollback snapshot and an offset reset: Jobs and ConfigMaps of their own.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: back}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: orders}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {topic}-back}}]\n  consumerGroups:\n    mapping: [{{sourceGroup: {group}, targetGroup: {group}-back}}]\n  rollback: {{enabled: true}}\n---\napiVersion: kafkabackup.com/v1alpha1\nkind: KafkaOffsetReset\nmetadata: {{name: rewind}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  consumerGroups: ['{group}']\n  resetStrategy: to-earliest\n"
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let restore =
        finished_run(&restores, "back", Duration::from_secs(180), |r| r.status.as_ref()?.phase).await?;
    assert_eq!(
        restore.status.as_ref().and_then(|s| s.phase),
        Some(RunPhase::Completed),
        "{:?}",
        restore.status
    );
    let resets: Api<KafkaOffsetReset> = Api::namespaced(cluster.client.clone(), &ns);
    let reset =
        finished_run(&resets, "rewind", Duration::from_secs(120), |r| r.status.as_ref()?.phase).await?;
    assert_eq!(reset.status.as_ref().and_then(|s| s.phase), Some(RunPhase::Completed), "{:?}", reset.status);
    assert!(event(&cluster, &ns, "RestoreStarted", Duration::from_secs(5)).await.is_ok());
    assert!(event(&cluster, &ns, "OffsetResetStarted", Duration::from_secs(5)).await.is_ok());

    // Every object in the namespace that the test did not write itself comes from the operator
    // (or from Kubernetes for it): each carries the labels.
    let ours = ["minio-credentials", "kube-root-ca.crt"];
    let mut problems = Vec::new();
    let mut seen = BTreeMap::<&str, usize>::new();
    macro_rules! check {
        ($kind:ty) => {{
            let api: Api<$kind> = Api::namespaced(cluster.client.clone(), &ns);
            for o in api.list(&ListParams::default()).await?.items {
                if ours.contains(&o.name_any().as_str()) {
                    continue;
                }
                *seen.entry(<$kind>::KIND).or_default() += 1;
                if let Err(e) = check_labels(<$kind>::KIND, &o.name_any(), o.labels()) {
                    problems.push(e);
                }
            }
        }};
    }
    check!(Job);
    check!(Pod);
    check!(ConfigMap);
    check!(Secret);
    assert!(problems.is_empty(), "{problems:#?}");
    // What this run must have created: five Jobs (two backups, a restore's plan and its run, a
    // reset), their pods, and the snapshots of the rollback and of the reset.
    assert_eq!(seen.get("Job"), Some(&5), "{seen:?}");
    assert!(seen.get("Pod").copied().unwrap_or(0) >= 4, "{seen:?}");
    assert!(seen.get("ConfigMap").copied().unwrap_or(0) >= 2, "{seen:?}");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
