//! The `KafkaRestore` and `KafkaOffsetReset` controllers end to end: a backup made by the
//! operator, restored to a point in time into a renamed topic with the consumer group translated
//! (checked by a real consumer), with a rollback snapshot; the same storage restored again with
//! no `KafkaBackup` object (disaster recovery); offsets reset by strategy, dry run, and rolled
//! back to the snapshot — all through Jobs the operator creates; a restore that meets a record
//! it did not write fails `TargetChanged` without its Job retrying.

use std::time::Duration;

use kube::api::Api;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use strimzi_backup_e2e::dataplane::{
    commit, committed, consume_all, create_topic, produce, recent, records, without_offsets,
};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, finished_run, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::offset_reset::{
    GroupResetOutcome, KafkaOffsetReset, KafkaOffsetResetStatus,
};
use strimzi_backup_operator::api::restore::{KafkaRestore, KafkaRestoreStatus, RunPhase};

async fn finished_restore(
    api: &Api<KafkaRestore>,
    name: &str,
    op: &Operator,
) -> anyhow::Result<KafkaRestoreStatus> {
    let run = finished_run(api, name, Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(op.log_text()))?;
    Ok(run.status.unwrap_or_default())
}

async fn finished_reset(
    api: &Api<KafkaOffsetReset>,
    name: &str,
    op: &Operator,
) -> anyhow::Result<KafkaOffsetResetStatus> {
    let run = finished_run(api, name, Duration::from_secs(120), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(op.log_text()))?;
    Ok(run.status.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn point_in_time_restore_renamed_with_groups_then_disaster_recovery_from_storage() -> anyhow::Result<()>
{
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "kr").await?;
    let s = unique_suffix();
    let (topic, group) = (format!("kr{s}-orders"), format!("kr{s}-billing"));
    create_topic(env, &topic, 1, &[]).await?;
    let base = recent();
    let mut produced = records(&topic, 0, 300, base);
    produce(env, &topic, 0, &produced).await?;
    commit(env, &group, &topic, 0, 150)?;
    let operator = Operator::start(env, &ns)?;
    let prefix = format!("e2e-op-kr-{s}/");
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
    wait_until(Duration::from_secs(120), "the backup", || async {
        let st = backups.get("orders").await?.status.unwrap_or_default();
        Ok(st.backup_history.iter().any(|b| b.status == BackupRunStatus::Completed).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;

    // The point in time: after that backup, before 100 more records and a group further on,
    // which a second backup (by trigger) captures.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let later: Vec<_> = records(&topic, 0, 400, t + 1_000).into_iter().skip(300).collect();
    produce(env, &topic, 0, &later).await?;
    produced.extend(later);
    commit(env, &group, &topic, 0, 350)?;
    let trigger = serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": "second"}}});
    backups.patch("orders", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&trigger)).await?;
    let second = wait_until(Duration::from_secs(120), "the second backup", || async {
        let st = backups.get("orders").await?.status.unwrap_or_default();
        let done: Vec<String> = st
            .backup_history
            .iter()
            .filter(|b| b.status == BackupRunStatus::Completed)
            .map(|b| b.id.clone())
            .collect();
        Ok((done.len() == 2).then(|| done[0].clone()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;

    // PITR at t (records 0..=299) of the latest backup, renamed, the group translated from where
    // it was at t (150, captured by the first backup; not 350).
    let pit = strimzi_backup_operator::format::millis_to_rfc3339(t).unwrap_or_default();
    let renamed = format!("{topic}-pitr");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: pitr}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: orders}}\n  pointInTime: {{timestamp: '{pit}'}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {renamed}}}]\n  consumerGroups:\n    mapping: [{{sourceGroup: {group}, targetGroup: {group}-pitr}}]\n  rollback: {{enabled: true}}\n"
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let st = finished_restore(&restores, "pitr", &operator).await?;
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    let result = st.restore.clone().unwrap_or_default();
    assert_eq!(result.restored_records, Some(300), "{st:?}");
    assert_eq!(result.consumer_groups_restored, Some(1));
    assert_eq!(result.backup_id.as_deref(), Some(second.as_str()), "latest completed, resolved");
    assert!(result.consumer_groups_captured_at.is_some(), "{st:?}");
    let snapshot = st.offset_snapshot.clone().expect("rollback snapshot recorded");
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    assert!(cms.get(&snapshot.config_map).await?.data.unwrap_or_default().contains_key("snapshot.json"));
    assert_eq!(without_offsets(&consume_all(env, &renamed, 0)?), without_offsets(&produced[..300]));
    assert_eq!(committed(env, &format!("{group}-pitr"), &renamed, 0)?, Some(150));
    // A real consumer of the translated group resumes at record 150.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("group.id", format!("{group}-pitr"))
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[&renamed])?;
    let first = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await??;
    assert_eq!(first.offset(), 150);
    assert_eq!(first.timestamp().to_millis(), Some(base + 150));
    // librdkafka's destroy waits for every message handed out: the message goes first.
    drop(first);
    drop(consumer);
    assert!(operator.metric("strimzi_restore_restores_total", &["outcome=\"success\""]).await? >= 1.0);
    assert!(operator.metric("strimzi_restore_records_total", &["name=\"pitr\""]).await? >= 300.0);

    // Disaster recovery: no KafkaBackup, only the storage location.
    backups.delete("orders", &Default::default()).await?;
    let dr = format!("{topic}-dr");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: dr}}\nspec:\n  kafkaCluster: {{bootstrapServers: '{}'}}\n  source:\n{}  topicMapping: [{{sourceTopic: {topic}, targetTopic: {dr}}}]\n  consumerGroups: {{restore: false}}\n",
                env.kafka_bootstrap(),
                minio_storage(env, &prefix, "minio-credentials", 4)?
            ),
        )
        .await?;
    let st = finished_restore(&restores, "dr", &operator).await?;
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    assert_eq!(st.restore.and_then(|r| r.restored_records), Some(400));
    assert_eq!(without_offsets(&consume_all(env, &dr, 0)?), without_offsets(&produced));
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn offset_resets_by_strategy_dry_run_and_rollback_to_the_snapshot() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "kor").await?;
    let s = unique_suffix();
    let (topic, group) = (format!("kor{s}"), format!("kor{s}-app"));
    create_topic(env, &topic, 2, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 100, recent())).await?;
    produce(env, &topic, 1, &records(&topic, 1, 60, recent())).await?;
    commit(env, &group, &topic, 0, 40)?;
    commit(env, &group, &topic, 1, 30)?;
    let operator = Operator::start(env, &ns)?;
    let api: Api<KafkaOffsetReset> = Api::namespaced(cluster.client.clone(), &ns);
    let reset = |name: &str, body: &str| {
        format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaOffsetReset\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  consumerGroups: ['{group}']\n  topics: ['{topic}']\n{body}"
        )
    };

    // Dry run: planned offsets in status, nothing changed.
    cluster.apply_yaml(&ns, &reset("plan", "  resetStrategy: to-earliest\n  dryRun: true\n")).await?;
    let st = finished_reset(&api, "plan", &operator).await?;
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    assert_eq!(st.results[0].outcome, GroupResetOutcome::Planned);
    assert!(st.results[0].partitions.iter().all(|p| p.new_offset == 0));
    assert_eq!(st.snapshot_ref, None, "a dry run keeps no snapshot");
    assert_eq!(committed(env, &group, &topic, 0)?, Some(40));

    // Shift back by 10, for real: the offsets from before are kept.
    cluster.apply_yaml(&ns, &reset("shift", "  resetStrategy: shift-by\n  shiftBy: -10\n")).await?;
    let st = finished_reset(&api, "shift", &operator).await?;
    assert_eq!((st.phase, st.groups_reset), (Some(RunPhase::Completed), Some(1)), "{st:?}");
    assert_eq!(
        (committed(env, &group, &topic, 0)?, committed(env, &group, &topic, 1)?),
        (Some(30), Some(20))
    );
    let snapshot = st.snapshot_ref.clone().expect("snapshot ConfigMap");
    assert!(st.duration.is_some());

    // To latest, then roll back to the snapshot taken before the shift.
    cluster.apply_yaml(&ns, &reset("latest", "  resetStrategy: to-latest\n")).await?;
    finished_reset(&api, "latest", &operator).await?;
    assert_eq!(
        (committed(env, &group, &topic, 0)?, committed(env, &group, &topic, 1)?),
        (Some(100), Some(60))
    );
    cluster
        .apply_yaml(
            &ns,
            &reset("rollback", &format!("  resetStrategy: to-snapshot\n  snapshotRef: {snapshot}\n")),
        )
        .await?;
    let st = finished_reset(&api, "rollback", &operator).await?;
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    assert_eq!(
        (committed(env, &group, &topic, 0)?, committed(env, &group, &topic, 1)?),
        (Some(40), Some(30))
    );
    assert!(operator.metric("strimzi_offset_reset_total", &["outcome=\"success\""]).await? >= 4.0);
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_meeting_a_foreign_record_fails_target_changed_and_is_not_retried() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "krtc").await?;
    let s = unique_suffix();
    let topic = format!("tc{s}");
    create_topic(env, &topic, 1, &[]).await?;
    let n = 60_000;
    let recs: Vec<_> = records(&topic, 0, n, recent())
        .into_iter()
        .map(|mut r| {
            r.value = Some(bytes::Bytes::from(vec![b'v'; 1024]));
            r
        })
        .collect();
    produce(env, &topic, 0, &recs).await?;
    let operator = Operator::start(env, &ns)?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &format!("e2e-op-tc-{s}/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    strimzi_backup_e2e::operator::backup_completed(&backups, "orders", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;

    let target = format!("{topic}-target");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: moved}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: orders}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\n"
            ),
        )
        .await?;
    // Once the Job's pod writes, it is frozen while another producer writes one record to the
    // target partition, then let go.
    let probe: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("isolation.level", "read_uncommitted")
        .create()?;
    let pids = wait_until(Duration::from_secs(180), "the restore pod writing", || async {
        let hw = probe.fetch_watermarks(&target, 0, Duration::from_millis(100)).map_or(0, |w| w.1);
        let pids = strimzi_backup_e2e::procfs::pod_processes("moved-restore-");
        if hw > 0 && !pids.is_empty() {
            for pid in &pids {
                strimzi_backup_e2e::dataplane::signal(*pid, libc::SIGSTOP)?;
            }
            let hw = probe.fetch_watermarks(&target, 0, Duration::from_secs(5)).map_or(0, |w| w.1);
            anyhow::ensure!(
                hw < n as i64,
                "frozen after the restore wrote everything ({hw}); nothing proven"
            );
            return Ok(Some(pids));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(None)
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let mut foreign = records(&target, 0, 1, recent());
    foreign[0].value = Some(bytes::Bytes::from_static(b"written by someone else"));
    produce(env, &target, 0, &foreign).await?;
    for pid in &pids {
        strimzi_backup_e2e::dataplane::signal(*pid, libc::SIGCONT)?;
    }

    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let st = finished_restore(&restores, "moved", &operator).await?;
    assert_eq!(st.phase, Some(RunPhase::Failed), "never Completed: {st:?}");
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    assert_eq!(ready.reason.as_deref(), Some("TargetChanged"), "{ready:?}");
    let message = ready.message.unwrap_or_default();
    assert!(message.contains(&format!("{target}/0")) && message.contains("offset"), "{message}");
    // The Job did not retry what would be refused again: one pod, failed by its policy.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let listed = pods.list(&kube::api::ListParams::default().labels("job-name=moved-restore")).await?;
    assert_eq!(listed.items.len(), 1, "no retry");
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(cluster.client.clone(), &ns);
    let job = jobs.get("moved-restore").await?;
    let failed = job.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        failed.iter().any(|c| c.type_ == "Failed" && c.reason.as_deref() == Some("PodFailurePolicy")),
        "{failed:?}"
    );
    let event =
        strimzi_backup_e2e::operator::event(&cluster, &ns, "TargetChanged", Duration::from_secs(10)).await?;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    Ok(())
}
