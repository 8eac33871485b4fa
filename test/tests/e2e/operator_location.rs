//! Storage locations and drift as the operator shows them (issue 12 §1, §3, §6): KafkaBackups
//! without a prefix each get their own `<namespace>/<name>/`; a KafkaBackup given another's
//! location is refused naming the owner until annotated to take it over; a topic recreated
//! between two backups is a `LineageBroken` Warning Event; a restore whose records are older than
//! the target's retention raises it and says so (`RetentionRaised`, `status.restore`).

use std::time::Duration;

use futures::TryStreamExt;
use kube::api::{Api, Patch, PatchParams};
use object_store::ObjectStore;
use strimzi_backup_e2e::broker::PrivateBroker;
use strimzi_backup_e2e::dataplane::{
    consume_all, create_topic, delete_topic, minio, produce, recent, records,
};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{
    Operator, backup_completed, event, finished_run, namespace_with_kafka, ready_kafka,
};
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};

async fn objects_under(env: &strimzi_backup_e2e::env::TestEnv, prefix: &str) -> anyhow::Result<Vec<String>> {
    let listed: Vec<_> = minio(env)?
        .list(Some(&object_store::path::Path::from(prefix.trim_end_matches('/'))))
        .try_collect()
        .await?;
    Ok(listed.into_iter().map(|o| o.location.to_string()).collect())
}

/// A MinIO `storage:` block with no prefix unless one is given.
fn storage(env: &strimzi_backup_e2e::env::TestEnv, prefix: Option<&str>) -> anyhow::Result<String> {
    Ok(format!(
        "  storage:\n    type: s3\n    s3:\n      bucket: {}\n      region: {}\n      endpoint: '{}'\n      forcePathStyle: true\n{}      credentialsSecret: {{name: minio-credentials, accessKeyIdKey: id, secretAccessKeyKey: secret}}\n",
        env.get("MINIO_BUCKET")?,
        env.get("MINIO_REGION")?,
        env.get("MINIO_ENDPOINT")?,
        prefix.map(|p| format!("      prefix: {p}\n")).unwrap_or_default(),
    ))
}

fn backup_yaml(name: &str, topic: &str, storage: &str) -> String {
    format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{storage}"
    )
}

async fn trigger(api: &Api<KafkaBackup>, name: &str, value: &str) -> anyhow::Result<()> {
    let patch = serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// The `Ready` condition's reason and message once its reason is one of `reasons`.
async fn ready_reason(
    api: &Api<KafkaBackup>,
    name: &str,
    reasons: &[&str],
) -> anyhow::Result<(String, String)> {
    wait_until(Duration::from_secs(180), &format!("{name} Ready with one of {reasons:?}"), || async {
        let st = api.get(name).await?.status.unwrap_or_default();
        Ok(st
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.reason.as_deref().is_some_and(|r| reasons.contains(&r)))
            .map(|c| (c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default())))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kafka_backup_owns_its_location_and_takes_another_only_when_told() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let (ns_a, ns_b) =
        (namespace_with_kafka(&cluster, "loc-a").await?, namespace_with_kafka(&cluster, "loc-b").await?);
    let topic = format!("loc{}", unique_suffix());
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 50, recent())).await?;
    let operator = Operator::start_watching(
        env,
        &ns_a,
        &format!("{ns_a},{ns_b}"),
        strimzi_backup_e2e::dataplane::binary(),
    )?;
    let (api_a, api_b): (Api<KafkaBackup>, Api<KafkaBackup>) =
        (Api::namespaced(cluster.client.clone(), &ns_a), Api::namespaced(cluster.client.clone(), &ns_b));

    // Two KafkaBackups named alike in two namespaces, the same bucket, no prefix.
    cluster.apply_yaml(&ns_a, &backup_yaml("orders", &topic, &storage(env, None)?)).await?;
    cluster.apply_yaml(&ns_b, &backup_yaml("orders", &topic, &storage(env, None)?)).await?;
    for api in [&api_a, &api_b] {
        backup_completed(api, "orders", Duration::from_secs(180))
            .await
            .map_err(|e| e.context(operator.log_text()))?;
    }
    for ns in [&ns_a, &ns_b] {
        let objects = objects_under(env, &format!("{ns}/orders/")).await?;
        assert!(objects.iter().any(|o| o.ends_with("/owner.json")), "{ns}: {objects:?}");
        assert_eq!(objects.iter().filter(|o| o.ends_with("/manifest.json")).count(), 1, "{ns}: {objects:?}");
    }

    // A KafkaBackup pointed at the other's location is refused, naming the owner and the way out.
    let taken = format!("{ns_a}/orders/");
    cluster.apply_yaml(&ns_b, &backup_yaml("intruder", &topic, &storage(env, Some(&taken))?)).await?;
    let (reason, message) = ready_reason(&api_b, "intruder", &["BackupFailed", "BackupCompleted"]).await?;
    assert_eq!(reason, "BackupFailed", "{message}");
    assert!(message.contains(&format!("belongs to KafkaBackup {ns_a}/orders")), "{message}");
    assert!(message.contains("take-over-location"), "{message}");
    assert_eq!(objects_under(env, &taken).await?.iter().filter(|o| o.ends_with("/manifest.json")).count(), 1);

    // Annotated, it takes the location over; the previous owner is refused from then on.
    let take = serde_json::json!({"metadata": {"annotations": {
        "kafkabackup.com/take-over-location": "true", "kafkabackup.com/trigger": "take"}}});
    api_b.patch("intruder", &PatchParams::default(), &Patch::Merge(&take)).await?;
    let (reason, message) = ready_reason(&api_b, "intruder", &["BackupCompleted"]).await?;
    assert_eq!(reason, "BackupCompleted", "{message}");
    trigger(&api_a, "orders", "after-take-over").await?;
    let (reason, message) = ready_reason(&api_a, "orders", &["BackupFailed"]).await?;
    assert!(message.contains(&format!("belongs to KafkaBackup {ns_b}/intruder")), "{reason}: {message}");
    // The operator lives in ns_a: the other namespace goes first, while it can still remove its
    // finalizers there.
    for ns in [&ns_b, &ns_a] {
        cluster.delete_namespace(ns).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recreated_topic_and_a_retention_raise_are_warning_events() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "loc-ev").await?;
    let topic = format!("ev{}", unique_suffix());
    const DAY: i64 = 86_400_000;
    // Three days old: kept by the source (a week), older than the DR cluster's one day.
    let aged = records(&topic, 0, 100, chrono::Utc::now().timestamp_millis() - 3 * DAY);
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &aged).await?;
    let operator = Operator::start(env, &ns)?;
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    cluster.apply_yaml(&ns, &backup_yaml("orders", &topic, &storage(env, None)?)).await?;
    backup_completed(&api, "orders", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let first =
        api.get("orders").await?.status.unwrap_or_default().last_backup.map(|b| b.id).unwrap_or_default();

    // The topic deleted and recreated with other records: the next backup reads it in full and
    // says why.
    delete_topic(env, &topic).await?;
    create_topic(env, &topic, 1, &[]).await?;
    let newer = records(&topic, 0, 150, recent());
    produce(env, &topic, 0, &newer).await?;
    trigger(&api, "orders", "recreated").await?;
    let lineage = event(&cluster, &ns, "LineageBroken", Duration::from_secs(30))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(lineage.type_.as_deref(), Some("Warning"));
    let note = lineage.message.unwrap_or_default();
    assert!(note.contains(&format!("{topic}/0")) && note.contains("TopicRecreated"), "{note}");

    // A DR cluster keeping records one day: the first backup's records (three days old) restored
    // there keep a raised retention, in status and a Warning Event.
    let dr = PrivateBroker::start_with(env, &[("log.retention.hours", "24")])?;
    ready_kafka(&cluster, &ns, "dr", "v1beta2", dr.env.kafka_bootstrap()).await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: aged}}\nspec:\n  strimziClusterRef: {{name: dr}}\n  backupRef: {{name: orders, backupId: {first}}}\n"
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let run = finished_run(&restores, "aged", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let st = run.status.unwrap_or_default();
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    let raised = st.restore.clone().unwrap_or_default().retention_adjusted;
    assert_eq!(raised.len(), 1, "{st:?}");
    assert_eq!((raised[0].topic.as_str(), raised[0].retention_ms), (topic.as_str(), DAY));
    assert!(raised[0].applied_ms > 3 * DAY, "{raised:?}");
    let warning = event(&cluster, &ns, "RetentionRaised", Duration::from_secs(30)).await?;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    assert!(warning.message.unwrap_or_default().contains(&topic));
    assert_eq!(consume_all(&dr.env, &topic, 0)?.len(), aged.len(), "the aged records, restored");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
