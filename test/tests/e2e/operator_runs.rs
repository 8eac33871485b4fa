//! Backup runs as Kubernetes runs them: a pod deleted through the API in the middle of a backup
//! is replaced by the Job under the same backup id and the run is counted once, with every
//! record; a KafkaBackup deleted and created again under the same name backs up again under ids
//! of its own instead of meeting the ids of the one before.

use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams};
use object_store::ObjectStore;
use strimzi_backup_e2e::dataplane::{create_topic, minio, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, backup_completed, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};

async fn manifests(env: &strimzi_backup_e2e::env::TestEnv, prefix: &str) -> anyhow::Result<Vec<String>> {
    let listed: Vec<_> = minio(env)?
        .list(Some(&object_store::path::Path::from(prefix.trim_end_matches('/'))))
        .try_collect()
        .await?;
    Ok(listed.into_iter().map(|o| o.location.to_string()).filter(|l| l.ends_with("manifest.json")).collect())
}

fn kafka_backup(env: &strimzi_backup_e2e::env::TestEnv, topic: &str, prefix: &str) -> anyhow::Result<String> {
    Ok(format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: once}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  backup: {{segmentSize: 1048576, parallelism: 1}}\n{}",
        minio_storage(env, prefix, "minio-credentials", 2)?
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_pod_deleted_mid_run_is_retried_under_its_id_and_counted_once() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "pod-deleted").await?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("podkill{s}"), format!("e2e-podkill-{s}/"));
    create_topic(env, &topic, 2, &[]).await?;
    for p in 0..2 {
        let recs: Vec<_> = records(&topic, p, 15_000, recent())
            .into_iter()
            .map(|mut r| {
                r.value = Some(bytes::Bytes::from(vec![b'v'; 2048]));
                r
            })
            .collect();
        produce(env, &topic, p, &recs).await?;
    }
    let operator = Operator::start(env, &ns)?;
    cluster.apply_yaml(&ns, &kafka_backup(env, &topic, &prefix)?).await?;

    // Once the first attempt has written a segment, its pod is deleted as `kubectl delete pod`
    // does; the Job starts another.
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let store = minio(env)?;
    let first = wait_until(Duration::from_secs(120), "the first attempt writing segments", || async {
        let listed: Vec<_> = store
            .list(Some(&object_store::path::Path::from(format!("{prefix}backups"))))
            .try_collect()
            .await?;
        if listed.is_empty() {
            return Ok(None);
        }
        let running = pods.list(&ListParams::default().labels("app.kubernetes.io/component=backup")).await?;
        Ok(running.items.into_iter().next())
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    pods.delete(&first.name_any(), &DeleteParams::default()).await?;

    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "once", Duration::from_secs(240))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let attempts =
        pods.list(&ListParams::default().labels("app.kubernetes.io/component=backup")).await?.items;
    assert!(attempts.iter().any(|p| p.name_any() != first.name_any()), "the Job ran a second pod");
    let st = backups.get("once").await?.status.unwrap_or_default();
    assert_eq!(st.backup_history.len(), 1, "one run, recorded once: {:?}", st.backup_history);
    let last = st.last_backup.clone().unwrap_or_default();
    assert_eq!((last.status, last.records), (BackupRunStatus::Completed, Some(30_000)), "{st:?}");
    assert_eq!(manifests(env, &prefix).await?.len(), 1);
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kafkabackup_deleted_and_created_again_backs_up_again() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "recreated").await?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("again{s}"), format!("e2e-again-{s}/"));
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 100, recent())).await?;
    let operator = Operator::start(env, &ns)?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    cluster.apply_yaml(&ns, &kafka_backup(env, &topic, &prefix)?).await?;
    backup_completed(&backups, "once", Duration::from_secs(120))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let first = backups.get("once").await?.status.and_then(|s| s.last_backup).unwrap_or_default();

    // deletionPolicy Retain: the backup stays in storage; the same manifest, under the same name.
    backups.delete("once", &DeleteParams::default()).await?;
    wait_until(Duration::from_secs(60), "the KafkaBackup to be gone", || async {
        Ok(backups.get_opt("once").await?.is_none().then_some(()))
    })
    .await?;
    produce(env, &topic, 0, &records(&topic, 0, 150, recent() + 60_000)[100..]).await?;
    cluster.apply_yaml(&ns, &kafka_backup(env, &topic, &prefix)?).await?;
    let second = wait_until(Duration::from_secs(120), "a backup of the new KafkaBackup", || async {
        let st = backups.get("once").await?.status.unwrap_or_default();
        Ok(st
            .last_backup
            .filter(|b| matches!(b.status, BackupRunStatus::Completed | BackupRunStatus::Failed)))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(second.status, BackupRunStatus::Completed, "{second:?}");
    assert_ne!(second.id, first.id);
    // The new backup continues the lineage the old one left in the same location.
    assert_eq!(second.records, Some(50), "{second:?}");
    assert_eq!(manifests(env, &prefix).await?.len(), 2);
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// A Job's pod that committed its backup and was killed before it could report is retried by the
/// Job under the same id: the retry finds the backup committed and reports it, instead of failing
/// on an id that is "never reused". The earlier attempt is played by a run by hand under the id
/// docs/operator.md gives the run (`<name>-initial-<uid digits>`), as the KafkaBackup's owner,
/// while a Kafka that is not ready yet holds the Job back.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_the_commit_reports_the_committed_backup() -> anyhow::Result<()> {
    use strimzi_backup_e2e::dataplane::{base_config, run_ok};
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "retry-committed").await?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("retried{s}"), format!("e2e-retried-{s}/"));
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 100, recent())).await?;
    strimzi_backup_e2e::operator::ready_kafka(&cluster, &ns, "later", "v1beta2", "").await?;
    let kafkas: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &ns,
        &strimzi_backup_e2e::fixtures::strimzi_resource("v1beta2", "Kafka", "kafkas"),
    );
    let not_ready = serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
    kafkas.patch_status("later", &Default::default(), &kube::api::Patch::Merge(&not_ready)).await?;
    let operator = Operator::start(env, &ns)?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: once}}\nspec:\n  strimziClusterRef: {{name: later}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let kb = backups.get("once").await?;
    let uid = kb.uid().unwrap_or_default();
    let id =
        format!("once-initial-{}", uid.chars().filter(char::is_ascii_hexdigit).take(8).collect::<String>());
    let config = format!(
        "{}topics: {{include: ['{topic}']}}\nowner: {{kind: KafkaBackup, namespace: {ns}, name: once, uid: {uid}}}\n",
        base_config(env, &prefix, None)?
    );
    let earlier = run_ok(env, "backup", &config, &["--backup-id", &id])?;
    assert_eq!(earlier["records"], 100);

    let ready = serde_json::json!({"status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "listeners": [{"name": "plain", "bootstrapServers": env.kafka_bootstrap()}],
    }});
    kafkas.patch_status("later", &Default::default(), &kube::api::Patch::Merge(&ready)).await?;
    let last = wait_until(Duration::from_secs(120), "the run to finish", || async {
        let st = backups.get("once").await?.status.unwrap_or_default();
        Ok(st
            .last_backup
            .filter(|b| matches!(b.status, BackupRunStatus::Completed | BackupRunStatus::Failed)))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(
        (last.id.as_str(), last.status, last.records),
        (id.as_str(), BackupRunStatus::Completed, Some(100)),
        "{last:?}"
    );
    assert_eq!(manifests(env, &prefix).await?.len(), 1);
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
