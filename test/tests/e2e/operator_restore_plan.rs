//! A `KafkaRestore`'s plan before it writes (issue 15 §3) and `restorePointRef`, end to end: a
//! backup made by the operator; a `Manual` restore that stops in `Planned` with its plan in status
//! while the target topic does not exist, ignores an approval with another hash (saying so),
//! and restores once annotated with the plan's hash; an `Automatic` restore of a
//! `KafkaRestorePoint` of an older backup that plans (a plan Job that finishes before the restore
//! Job exists), then restores that restore point's backup, not the latest.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, Patch, PatchParams};
use strimzi_backup_e2e::dataplane::{
    commit, consume_all, create_topic, partition_count, produce, recent, records, without_offsets,
};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{
    Operator, backup_completed, event, finished_run, minio_storage, namespace_with_kafka,
};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::restore::{KafkaRestore, KafkaRestoreStatus, RunPhase};

/// A namespace with the operator, a topic of `n` records with a group at 10, and a completed
/// backup of it (`orders`); returns the namespace, topic, group, operator and the backup's id.
struct Backed {
    cluster: Cluster,
    ns: String,
    topic: String,
    group: String,
    operator: Operator,
    backup_id: String,
    produced: Vec<strimzi_backup_operator::format::record::Record>,
}

async fn backed_up(prefix: &str, n: usize) -> anyhow::Result<Backed> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, prefix).await?;
    let s = unique_suffix();
    let (topic, group) = (format!("{prefix}{s}-orders"), format!("{prefix}{s}-billing"));
    create_topic(env, &topic, 1, &[]).await?;
    let produced = records(&topic, 0, n, recent());
    produce(env, &topic, 0, &produced).await?;
    commit(env, &group, &topic, 0, 10)?;
    let operator = Operator::start(env, &ns)?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  consumerGroups: {{include: ['{group}']}}\n{}",
                minio_storage(env, &format!("e2e-op-plan-{s}/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "orders", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let st = backups.get("orders").await?.status.unwrap_or_default();
    let backup_id = st
        .backup_history
        .iter()
        .find(|b| b.status == BackupRunStatus::Completed)
        .map(|b| b.id.clone())
        .ok_or_else(|| anyhow::anyhow!("no completed backup in {st:?}"))?;
    Ok(Backed { cluster, ns, topic, group, operator, backup_id, produced })
}

fn ready(st: &KafkaRestoreStatus) -> (String, String) {
    let c = st.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    (c.reason.unwrap_or_default(), c.message.unwrap_or_default())
}

async fn approve(api: &Api<KafkaRestore>, name: &str, value: &str) -> anyhow::Result<()> {
    let patch = serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/approve": value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_restore_waits_planned_writing_nothing_until_annotated_with_its_plans_hash()
-> anyhow::Result<()> {
    let b = backed_up("krm", 200).await?;
    let (cluster, env, ns) = (&b.cluster, &b.cluster.env, &b.ns);
    let target = format!("{}-planned", b.topic);
    cluster
        .apply_yaml(
            ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: careful}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: orders}}\n  topicMapping: [{{sourceTopic: {}, targetTopic: {target}}}]\n  consumerGroups:\n    mapping: [{{sourceGroup: {}, targetGroup: {}-planned}}]\n  restore: {{approval: Manual}}\n",
                b.topic, b.group, b.group
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), ns);
    let planned = wait_until(Duration::from_secs(120), "the restore planned, awaiting approval", || async {
        let st = restores.get("careful").await?.status.unwrap_or_default();
        Ok((st.phase == Some(RunPhase::Planned) && ready(&st).0 == "AwaitingApproval").then_some(st))
    })
    .await
    .map_err(|e| e.context(b.operator.log_text()))?;
    let plan = planned.plan.clone().expect("the plan in status");
    assert_eq!(plan.backup_id, b.backup_id, "{plan:?}");
    assert_eq!((plan.records, plan.topic_count), (200, 1), "{plan:?}");
    assert!(plan.bytes > 0, "{plan:?}");
    let topic = &plan.topics[0];
    assert_eq!(
        (topic.target.as_str(), topic.action.as_str(), topic.partitions),
        (target.as_str(), "create", 1)
    );
    assert_eq!(plan.consumer_groups.names, [format!("{}-planned", b.group)]);
    assert!(plan.hash.len() == 16 && plan.hash.bytes().all(|c| c.is_ascii_hexdigit()), "{}", plan.hash);
    assert!(plan.estimated_duration_seconds.is_some_and(|s| s >= 1), "{plan:?}");
    let (_, message) = ready(&planned);
    let command = format!("kubectl annotate kafkarestore careful kafkabackup.com/approve={}", plan.hash);
    assert!(message.contains(&command), "{message}");
    // Nothing written: the target topic does not exist, and no restore Job was created.
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    assert_eq!(partition_count(env, &target)?, None, "the target topic exists before approval");
    assert!(jobs.get_opt("careful-restore").await?.is_none(), "a restore Job before approval");

    // Another plan's hash: said so, and still nothing runs.
    approve(&restores, "careful", "0000000000000000").await?;
    let refused = wait_until(Duration::from_secs(30), "the wrong approval reported", || async {
        let st = restores.get("careful").await?.status.unwrap_or_default();
        Ok(ready(&st).1.contains("0000000000000000").then_some(st))
    })
    .await
    .map_err(|e| e.context(b.operator.log_text()))?;
    assert_eq!(refused.phase, Some(RunPhase::Planned), "{refused:?}");
    assert_eq!(ready(&refused).0, "AwaitingApproval");
    assert!(ready(&refused).1.contains(&plan.hash), "names the plan's own hash: {:?}", ready(&refused));
    assert_eq!(refused.plan.as_ref().map(|p| &p.hash), Some(&plan.hash), "the same plan");
    assert!(jobs.get_opt("careful-restore").await?.is_none(), "a restore Job on a wrong hash");
    assert_eq!(partition_count(env, &target)?, None, "the target topic exists after a wrong hash");

    // The plan's hash: the restore runs and completes as planned.
    approve(&restores, "careful", &plan.hash).await?;
    let run = finished_run(&restores, "careful", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(b.operator.log_text()))?;
    let st = run.status.unwrap_or_default();
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    let result = st.restore.clone().unwrap_or_default();
    assert_eq!(
        (result.restored_records, result.backup_id.as_deref()),
        (Some(200), Some(b.backup_id.as_str()))
    );
    assert_eq!(st.plan.map(|p| p.hash), Some(plan.hash), "the plan stays in the final status");
    assert_eq!(without_offsets(&consume_all(env, &target, 0)?), without_offsets(&b.produced));
    cluster.delete_namespace(ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_automatic_restore_of_a_restore_point_plans_first_then_restores_that_backup() -> anyhow::Result<()>
{
    let b = backed_up("kra", 150).await?;
    let (cluster, env, ns) = (&b.cluster, &b.cluster.env, &b.ns);
    // A second, newer backup with 50 more records: the restore point names the first, so what is
    // restored is that backup, not the latest.
    let more: Vec<_> = records(&b.topic, 0, 200, recent()).into_iter().skip(150).collect();
    produce(env, &b.topic, 0, &more).await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), ns);
    let trigger = serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": "second"}}});
    backups.patch("orders", &PatchParams::default(), &Patch::Merge(&trigger)).await?;
    wait_until(Duration::from_secs(120), "the second backup", || async {
        let st = backups.get("orders").await?.status.unwrap_or_default();
        Ok((st.backup_history.iter().filter(|h| h.status == BackupRunStatus::Completed).count() == 2)
            .then_some(()))
    })
    .await
    .map_err(|e| e.context(b.operator.log_text()))?;
    // The restore point as the operator's sync writes it for this backup (no sync labels: a
    // sync running in this operator must not take it for one of its own to prune).
    cluster
        .apply_yaml(
            ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestorePoint\nmetadata: {{name: last-night}}\nspec:\n  backupId: {}\n  source: {{kind: KafkaBackup, name: orders}}\n  formatVersion: 2\n  capturedAt: '2026-11-21T01:00:00Z'\n  completedAt: '2026-11-21T01:00:05Z'\n  compression: zstd\n  totals: {{topics: 1, partitions: 1, records: 150, rawBytes: 1, storedBytes: 1}}\n  topics: [{{name: {}, partitions: 1, records: 150, bytes: 1}}]\n",
                b.backup_id, b.topic
            ),
        )
        .await?;
    let target = format!("{}-point", b.topic);
    cluster
        .apply_yaml(
            ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: point}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  restorePointRef: {{name: last-night}}\n  topicMapping: [{{sourceTopic: {}, targetTopic: {target}}}]\n  consumerGroups: {{restore: false}}\n",
                b.topic
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), ns);
    let run = finished_run(&restores, "point", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(b.operator.log_text()))?;
    let st = run.status.unwrap_or_default();
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    let result = st.restore.clone().unwrap_or_default();
    assert_eq!(result.backup_id.as_deref(), Some(b.backup_id.as_str()), "the restore point's backup: {st:?}");
    assert_eq!(result.restored_records, Some(150));
    assert_eq!(without_offsets(&consume_all(env, &target, 0)?), without_offsets(&b.produced));
    // It passed through Planned: the plan is in the final status, announced by an Event, and its
    // Job had finished before the restore Job was created.
    let plan = st.plan.clone().expect("the plan in the final status");
    assert_eq!((plan.backup_id.as_str(), plan.records), (b.backup_id.as_str(), 150));
    assert_eq!(
        plan.topics.first().map(|t| (t.target.as_str(), t.action.as_str())),
        Some((target.as_str(), "create"))
    );
    let planned = event(cluster, ns, "RestorePlanned", Duration::from_secs(10)).await?;
    assert!(planned.message.unwrap_or_default().contains(&plan.hash));
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let plan_job = jobs.get("point-plan").await?;
    let restore_job = jobs.get("point-restore").await?;
    let plan_done = plan_job.status.and_then(|s| s.completion_time).map(|t| t.0);
    let restore_created = restore_job.metadata.creation_timestamp.map(|t| t.0);
    assert!(
        matches!((plan_done, restore_created), (Some(done), Some(created)) if done <= created),
        "the plan Job finished ({plan_done:?}) before the restore Job was created ({restore_created:?})"
    );
    cluster.delete_namespace(ns).await?;
    Ok(())
}
