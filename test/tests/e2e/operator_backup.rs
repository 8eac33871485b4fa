//! The `KafkaBackup` controller end to end: the operator process, a Strimzi `Kafka` resource
//! pointing at the real broker, Jobs run by the real job controller and the pod harness, backups
//! in MinIO. A schedule fires every minute and retention prunes; suspend stops the schedule; the
//! trigger annotation runs once per value; an operator killed while a Job runs does not start a
//! second one; a failing backup is NotReady with the reason and an Event; `deletionPolicy:
//! Delete` empties the storage before the resource goes.

use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use object_store::ObjectStore;
use strimzi_backup_e2e::dataplane::{create_topic, minio, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup, KafkaBackupStatus};

async fn manifests(env: &strimzi_backup_e2e::env::TestEnv, prefix: &str) -> anyhow::Result<usize> {
    let store = minio(env)?;
    let listed: Vec<_> =
        store.list(Some(&object_store::path::Path::from(prefix.trim_end_matches('/')))).try_collect().await?;
    Ok(listed.iter().filter(|o| o.location.as_ref().ends_with("manifest.json")).count())
}

async fn status(api: &Api<KafkaBackup>, name: &str) -> anyhow::Result<KafkaBackupStatus> {
    Ok(api.get(name).await?.status.unwrap_or_default())
}

fn completed(s: &KafkaBackupStatus) -> usize {
    s.backup_history.iter().filter(|b| b.status == BackupRunStatus::Completed).count()
}

async fn job_names(cluster: &Cluster, ns: &str, instance: &str) -> anyhow::Result<Vec<String>> {
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let lp = ListParams::default()
        .labels(&format!("app.kubernetes.io/instance={instance},app.kubernetes.io/component=backup"));
    let mut names: Vec<String> = jobs.list(&lp).await?.items.iter().map(|j| j.name_any()).collect();
    names.sort();
    Ok(names)
}

/// Touches `name` (a label, no spec change) and waits until the operator has reconciled a
/// KafkaBackup since: what the test checks next is what that reconcile decided.
async fn reconciled(
    operator: &Operator,
    api: &Api<KafkaBackup>,
    name: &str,
    touch: &str,
) -> anyhow::Result<()> {
    let reconciles = || operator.metric("strimzi_backup_reconcile_total", &["controller=\"kafkabackup\""]);
    let before = reconciles().await?;
    let patch = serde_json::json!({"metadata": {"labels": {"touched": touch}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    wait_until(Duration::from_secs(30), "a reconcile after the touch", || async {
        Ok((reconciles().await? > before).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_fires_prunes_suspends_triggers_once_and_survives_an_operator_crash() -> anyhow::Result<()>
{
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "kb-schedule").await?;
    let s = unique_suffix();
    let topic = format!("sched{s}");
    create_topic(env, &topic, 2, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 300, recent())).await?;
    produce(env, &topic, 1, &records(&topic, 1, 200, recent())).await?;
    let mut operator = Operator::start(env, &ns)?;
    let prefix = format!("e2e-op-sched-{s}/");
    let yaml = format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: nightly}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}  backup: {{mode: full}}\n  schedule: {{cron: '* * * * *'}}\n  retention: {{maxBackups: 1}}\n  job: {{backoffLimit: 1}}\n",
        minio_storage(env, &prefix, "minio-credentials", 2)?
    );
    cluster.apply_yaml(&ns, &yaml).await?;
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);

    // Two scheduled runs (within ~2 minutes); after the second, retention keeps one (full
    // backups: an incremental one would keep its parent).
    let st = wait_until(Duration::from_secs(200), "two scheduled backups", || async {
        let st = status(&api, "nightly").await?;
        Ok((completed(&st) >= 2).then_some(st))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let last = st.last_backup.clone().unwrap_or_default();
    assert_eq!(last.status, BackupRunStatus::Completed, "{st:?}");
    assert_eq!(last.partitions_backed_up, Some(2));
    assert_eq!(st.backup_count, Some(1), "maxBackups 1: {st:?}");
    assert_eq!(manifests(env, &prefix).await?, 1, "retention pruned storage");
    assert!(st.next_scheduled_backup.is_some());
    assert_eq!(st.observed_generation, Some(1));
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    assert_eq!(ready.reason.as_deref(), Some("BackupCompleted"), "{ready:?}");
    // Every Job name is its schedule slot: no two Jobs for one run.
    let scheduled_jobs = job_names(&cluster, &ns, "nightly").await?;
    assert!(scheduled_jobs.iter().all(|j| j.starts_with("nightly-")), "{scheduled_jobs:?}");
    assert!(operator.metric("strimzi_backup_backups_total", &["outcome=\"success\""]).await? >= 2.0);
    assert!(operator.metric("strimzi_backup_records_total", &["name=\"nightly\""]).await? >= 500.0);
    assert!(operator.metric("strimzi_backup_storage_bytes", &["name=\"nightly\""]).await? > 0.0);
    let pruned = wait_until(Duration::from_secs(10), "a BackupsPruned Event", || async {
        let events: Api<Event> = Api::namespaced(cluster.client.clone(), &ns);
        let list = events.list(&ListParams::default()).await?;
        Ok(list.items.into_iter().find(|e| e.reason.as_deref() == Some("BackupsPruned")))
    })
    .await?;
    assert!(pruned.message.unwrap_or_default().contains("deleted 1 backup"));

    // Suspend: no new run in the next minute.
    let patch = serde_json::json!({"spec": {"schedule": {"suspend": true}}});
    api.patch("nightly", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    wait_until(Duration::from_secs(20), "the suspension to be observed", || async {
        Ok((status(&api, "nightly").await?.observed_generation == Some(2)).then_some(()))
    })
    .await?;
    let before = job_names(&cluster, &ns, "nightly").await?;
    // The schedule fires every minute: let the next slot pass, then make sure the operator has
    // reconciled since (a suspended schedule sets no timer of its own).
    let slot = (chrono::Utc::now() + chrono::Duration::minutes(1)).timestamp() / 60 * 60;
    let wait = (slot + 5 - chrono::Utc::now().timestamp()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    reconciled(&operator, &api, "nightly", "after-the-slot").await?;
    assert_eq!(job_names(&cluster, &ns, "nightly").await?, before, "suspended: no new Job");

    // The trigger annotation runs once; the operator is killed while that Job runs.
    let trigger = serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": "now"}}});
    api.patch("nightly", &PatchParams::default(), &Patch::Merge(&trigger)).await?;
    let triggered = wait_until(Duration::from_secs(30), "the triggered Job", || async {
        let names = job_names(&cluster, &ns, "nightly").await?;
        Ok(names.into_iter().find(|n| n.contains("-trigger-")))
    })
    .await?;
    operator.crash_and_restart()?;
    let st = wait_until(Duration::from_secs(120), "the triggered backup recorded", || async {
        let st = status(&api, "nightly").await?;
        Ok(st
            .backup_history
            .iter()
            .any(|b| b.id == triggered && b.status == BackupRunStatus::Completed)
            .then_some(st))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(st.last_trigger.as_deref(), Some("now"));
    // Touch the object: the handled value does not fire again, and the restart made no copy.
    reconciled(&operator, &api, "nightly", "yes").await?;
    let after = job_names(&cluster, &ns, "nightly").await?;
    assert_eq!(after.iter().filter(|n| n.contains("-trigger-")).count(), 1, "{after:?}");
    assert_eq!(after.len(), before.len() + 1, "{after:?} vs {before:?}");
    let st = status(&api, "nightly").await?;
    assert_eq!(st.backup_history.iter().filter(|b| b.id == triggered).count(), 1, "recorded once");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_backup_is_not_ready_with_the_reason_and_delete_policy_empties_storage()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "kb-fail").await?;
    let s = unique_suffix();
    let topic = format!("fail{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 50, recent())).await?;
    cluster
        .apply_yaml(
            &ns,
            "apiVersion: v1\nkind: Secret\nmetadata: {name: wrong-credentials}\nstringData: {id: nobody, secret: wrong-secret-value}\n",
        )
        .await?;
    let operator = Operator::start(env, &ns)?;
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let bad_prefix = format!("e2e-op-fail-{s}/");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: broken}}\nspec:\n  kafkaCluster: {{bootstrapServers: '{}'}}\n  topics: {{include: ['{topic}']}}\n{}  job: {{backoffLimit: 0}}\n",
                env.kafka_bootstrap(),
                minio_storage(env, &bad_prefix, "wrong-credentials", 2)?
            ),
        )
        .await?;
    let st = wait_until(Duration::from_secs(120), "the failed backup", || async {
        let st = status(&api, "broken").await?;
        Ok(st.backup_history.iter().any(|b| b.status == BackupRunStatus::Failed).then_some(st))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    assert_eq!(ready.reason.as_deref(), Some("BackupFailed"), "{ready:?}");
    let message = ready.message.unwrap_or_default();
    assert!(message.contains("broken-initial-") && message.to_lowercase().contains("access"), "{message}");
    assert!(!message.contains("wrong-secret-value"), "no secret in status");
    let event = wait_until(Duration::from_secs(10), "a BackupFailed Event", || async {
        let events: Api<Event> = Api::namespaced(cluster.client.clone(), &ns);
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("BackupFailed")))
    })
    .await?;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(operator.metric("strimzi_backup_backups_total", &["outcome=\"failure\""]).await? >= 1.0);

    // A cron the schema lets through but the rules refuse: Ready=False naming the field, an
    // Event, and no Job (the controller waits for a change).
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: bad-cron}}\nspec:\n  kafkaCluster: {{bootstrapServers: '{}'}}\n{}  schedule: {{cron: '61 * * * *', timezone: Mars/Olympus}}\n",
                env.kafka_bootstrap(),
                minio_storage(env, &bad_prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let invalid = wait_until(Duration::from_secs(30), "the InvalidSpec condition", || async {
        let st = status(&api, "bad-cron").await?;
        Ok(st.conditions.into_iter().find(|c| c.reason.as_deref() == Some("InvalidSpec")))
    })
    .await?;
    let message = invalid.message.unwrap_or_default();
    assert!(
        message.contains("spec.schedule.cron") && message.contains("spec.schedule.timezone"),
        "{message}"
    );
    assert!(job_names(&cluster, &ns, "bad-cron").await?.is_empty());

    // A Kafka that is not ready holds the run back, visibly; when Strimzi marks it ready, the
    // watch on Kafka resources wakes the reconcile (sooner than the 30 s retry).
    cluster.apply_yaml(&ns, &strimzi_backup_e2e::strimzi::kafka_yaml("late-cluster", "v1beta2")).await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: waiting}}\nspec:\n  strimziClusterRef: {{name: late-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &format!("e2e-op-late-{s}/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    wait_until(Duration::from_secs(30), "the KafkaNotReady condition", || async {
        let st = status(&api, "waiting").await?;
        Ok(st.conditions.into_iter().find(|c| c.reason.as_deref() == Some("KafkaNotReady")))
    })
    .await?;
    let kafkas: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &ns,
        &strimzi_backup_e2e::fixtures::strimzi_resource("v1beta2", "Kafka", "kafkas"),
    );
    let ready = serde_json::json!({"status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "listeners": [{"name": "plain", "bootstrapServers": env.kafka_bootstrap()}],
    }});
    kafkas.patch_status("late-cluster", &PatchParams::default(), &Patch::Merge(&ready)).await?;
    wait_until(Duration::from_secs(20), "the backup once the Kafka is ready", || async {
        Ok((completed(&status(&api, "waiting").await?) == 1).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;

    // deletionPolicy Delete: a completed backup, then the resource deleted.
    let prefix = format!("e2e-op-delete-{s}/");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: doomed}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}  deletionPolicy: Delete\n",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    wait_until(Duration::from_secs(120), "the backup to complete", || async {
        Ok((completed(&status(&api, "doomed").await?) == 1).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(manifests(env, &prefix).await?, 1);
    let doomed = api.get("doomed").await?;
    assert!(doomed.finalizers().iter().any(|f| f == "kafkabackup.com/cleanup"));
    api.delete("doomed", &Default::default()).await?;
    wait_until(Duration::from_secs(120), "the KafkaBackup to be gone", || async {
        Ok(api.get_opt("doomed").await?.is_none().then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(manifests(env, &prefix).await?, 0, "the stored backups were deleted first");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
