//! KafkaBackupSchedule: one backup policy for every Strimzi Kafka cluster its selector matches (issue 16 §1).
//!
//! The operator process against the real API server: three Strimzi `Kafka` resources (Ready,
//! their plain listener the local broker), a schedule selecting them by label. It must own one
//! `KafkaBackup` per cluster with a prefix of its own, whose backups (run by the `KafkaBackup`
//! controller, in MinIO) complete; a label removed suspends that cluster's `KafkaBackup` and
//! keeps its backups, the label back resumes it; a template change reaches all three; the
//! status lists the clusters with their last backup.

use std::time::Duration;

use futures::TryStreamExt;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use object_store::ObjectStore;
use strimzi_backup_e2e::dataplane::{create_topic, minio, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, strimzi_resource, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{
    Operator, backup_completed, minio_storage, namespace_with_kafka, ready_kafka,
};
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::backup_schedule::{KafkaBackupSchedule, SELECTED_LABEL};

const CLUSTERS: [&str; 3] = ["my-cluster", "second", "third"];

async fn manifests(env: &strimzi_backup_e2e::env::TestEnv, prefix: &str) -> anyhow::Result<usize> {
    let store = minio(env)?;
    let listed: Vec<_> =
        store.list(Some(&object_store::path::Path::from(prefix.trim_end_matches('/')))).try_collect().await?;
    Ok(listed.iter().filter(|o| o.location.as_ref().ends_with("manifest.json")).count())
}

fn prefix_of(kb: &KafkaBackup) -> String {
    kb.spec.storage.s3.as_ref().and_then(|s| s.prefix.clone()).unwrap_or_default()
}

fn suspended(kb: &KafkaBackup) -> bool {
    kb.spec.schedule.as_ref().is_some_and(|s| s.suspend)
}

async fn label_kafka(kafkas: &Api<DynamicObject>, name: &str, value: Option<&str>) -> anyhow::Result<()> {
    let patch = serde_json::json!({"metadata": {"labels": {"backup": value}}});
    kafkas.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_backs_up_every_selected_cluster_suspends_one_that_leaves_and_rolls_out_its_template()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "kbs").await?;
    for name in &CLUSTERS[1..] {
        ready_kafka(&cluster, &ns, name, "v1beta2", env.kafka_bootstrap()).await?;
    }
    let kafkas: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), &ns, &strimzi_resource("v1beta2", "Kafka", "kafkas"));
    for name in CLUSTERS {
        label_kafka(&kafkas, name, Some("nightly")).await?;
    }
    // A Kafka the selector does not match gets nothing.
    ready_kafka(&cluster, &ns, "unlabelled", "v1beta2", env.kafka_bootstrap()).await?;
    let s = unique_suffix();
    let topic = format!("kbs{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 50, recent())).await?;

    let operator = Operator::start(env, &ns)?;
    let prefix = format!("e2e-kbs-{s}/");
    // A schedule that does not fire during the test: each backup runs on the trigger annotation.
    let yaml = format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackupSchedule\nmetadata: {{name: nightly}}\nspec:\n  clusterSelector: {{matchLabels: {{backup: nightly}}}}\n  schedule: {{cron: '0 3 1 1 *'}}\n  backupTemplate:\n    topics: {{include: ['{topic}']}}\n{}    backup: {{mode: full}}\n    job: {{backoffLimit: 1}}\n",
        minio_storage(env, &prefix, "minio-credentials", 4)?
    );
    cluster.apply_yaml(&ns, &yaml).await?;
    let schedules: Api<KafkaBackupSchedule> = Api::namespaced(cluster.client.clone(), &ns);
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let uid = schedules.get("nightly").await?.uid().unwrap_or_default();

    // One KafkaBackup per selected cluster, owned by the schedule, each under its own prefix.
    let names: Vec<String> = CLUSTERS.iter().map(|c| format!("nightly-{c}")).collect();
    let owned = wait_until(Duration::from_secs(60), "three owned KafkaBackups", || async {
        let mut found = Vec::new();
        for name in &names {
            match backups.get_opt(name).await? {
                Some(kb) => found.push(kb),
                None => return Ok(None),
            }
        }
        Ok(Some(found))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let mut prefixes = Vec::new();
    for (kb, kafka) in owned.iter().zip(CLUSTERS) {
        let owner =
            kb.owner_references().iter().find(|o| o.controller == Some(true)).cloned().unwrap_or_default();
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("KafkaBackupSchedule", uid.as_str()),
            "{kb:?}"
        );
        assert_eq!(kb.spec.cluster.strimzi_cluster_ref.as_ref().map(|r| r.name.as_str()), Some(kafka));
        assert_eq!(prefix_of(kb), format!("{prefix}{ns}/{kafka}/"));
        assert!(!suspended(kb));
        assert_eq!(kb.labels().get(SELECTED_LABEL).map(String::as_str), Some("true"));
        prefixes.push(prefix_of(kb));
    }
    prefixes.dedup();
    assert_eq!(prefixes.len(), 3, "distinct locations: {prefixes:?}");
    assert!(
        backups.get_opt("nightly-unlabelled").await?.is_none(),
        "an unselected Kafka gets no KafkaBackup"
    );

    // A backup of each cluster, run by the KafkaBackup controller.
    let trigger = serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": "first"}}});
    for name in &names {
        backups.patch(name, &PatchParams::default(), &Patch::Merge(&trigger)).await?;
    }
    for name in &names {
        backup_completed(&backups, name, Duration::from_secs(180))
            .await
            .map_err(|e| e.context(operator.log_text()))?;
    }
    for p in &prefixes {
        assert_eq!(manifests(env, p).await?, 1, "one backup at {p}");
    }
    // The schedule's status lists the three, with their last backup.
    let st = wait_until(
        Duration::from_secs(60),
        "the clusters' last backups in the schedule's status",
        || async {
            let st = schedules.get("nightly").await?.status.unwrap_or_default();
            let all = st.clusters.len() == 3
                && st.clusters.iter().all(|c| {
                    c.selected && c.last_backup.as_ref().is_some_and(|b| b.completion_time.is_some())
                });
            Ok(all.then_some(st))
        },
    )
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    assert_eq!(ready.reason.as_deref(), Some("BackupsScheduled"), "{ready:?}");
    assert_eq!((st.selected_clusters, st.backups, st.observed_generation), (Some(3), Some(3), Some(1)));
    let listed: Vec<(&str, &str)> =
        st.clusters.iter().map(|c| (c.name.as_str(), c.backup.as_str())).collect();
    assert_eq!(
        listed,
        [("my-cluster", "nightly-my-cluster"), ("second", "nightly-second"), ("third", "nightly-third")]
    );
    assert!(st.clusters.iter().all(|c| c.recoverability.last_successful_backup.is_some()), "{st:?}");

    // The label removed: that cluster's KafkaBackup is suspended, not deleted; its backup stays.
    label_kafka(&kafkas, "third", None).await?;
    let third = wait_until(Duration::from_secs(30), "nightly-third suspended", || async {
        let kb = backups.get("nightly-third").await?;
        Ok(suspended(&kb).then_some(kb))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(third.labels().get(SELECTED_LABEL).map(String::as_str), Some("false"));
    assert_eq!(prefix_of(&third), prefixes[2], "same location");
    assert_eq!(manifests(env, &prefixes[2]).await?, 1, "its backup kept");
    assert!(!suspended(&backups.get("nightly-my-cluster").await?), "the others keep running");
    let st = wait_until(Duration::from_secs(30), "third listed as not selected", || async {
        let st = schedules.get("nightly").await?.status.unwrap_or_default();
        Ok(st.clusters.iter().any(|c| c.name == "third" && !c.selected).then_some(st))
    })
    .await?;
    assert_eq!((st.selected_clusters, st.backups), (Some(2), Some(3)));
    let entry = st.clusters.iter().find(|c| c.name == "third").cloned().unwrap_or_default();
    assert!(entry.message.as_deref().is_some_and(|m| m.contains("suspended")), "{entry:?}");
    assert!(entry.last_backup.is_some(), "its last backup still listed: {entry:?}");

    // The label back: resumed.
    label_kafka(&kafkas, "third", Some("nightly")).await?;
    wait_until(Duration::from_secs(30), "nightly-third resumed", || async {
        let kb = backups.get("nightly-third").await?;
        Ok((!suspended(&kb) && kb.labels().get(SELECTED_LABEL).map(String::as_str) == Some("true"))
            .then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;

    // A template change reaches every owned KafkaBackup.
    let change = serde_json::json!({"spec": {"backupTemplate": {"retention": {"maxBackups": 4}}}});
    schedules.patch("nightly", &PatchParams::default(), &Patch::Merge(&change)).await?;
    wait_until(Duration::from_secs(30), "maxBackups 4 on all three", || async {
        let mut all = true;
        for name in &names {
            let kb = backups.get(name).await?;
            all &= kb.spec.retention.as_ref().and_then(|r| r.max_backups) == Some(4);
        }
        Ok(all.then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let st = wait_until(Duration::from_secs(30), "generation 2 observed", || async {
        let st = schedules.get("nightly").await?.status.unwrap_or_default();
        Ok((st.observed_generation == Some(2)).then_some(st))
    })
    .await?;
    assert_eq!(st.selected_clusters, Some(3));
    // A second backup of a cluster after the rollout still writes to its own location.
    let again = serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": "second"}}});
    backups.patch("nightly-second", &PatchParams::default(), &Patch::Merge(&again)).await?;
    wait_until(Duration::from_secs(180), "a second backup of nightly-second", || async {
        Ok((manifests(env, &prefixes[1]).await? == 2).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(manifests(env, &prefixes[0]).await?, 1);

    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// The API server itself refuses a template that names a cluster (CEL in the CRD), naming the
/// field and the fix, with or without the webhook.
#[tokio::test]
async fn a_template_that_names_a_cluster_is_refused_by_the_api_server() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    cluster.install_crds().await?;
    let ns = cluster.namespace("kbs-cel").await?;
    let yaml = "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackupSchedule\nmetadata: {name: bad}\nspec:\n  clusterSelector: {}\n  schedule: {cron: '0 2 * * *'}\n  backupTemplate:\n    strimziClusterRef: {name: my-cluster}\n    storage: {type: filesystem, filesystem: {claimName: backups}}\n";
    let refused = cluster.apply_yaml(&ns, yaml).await;
    let message =
        format!("{:#}", refused.err().ok_or_else(|| anyhow::anyhow!("the API server accepted it"))?);
    assert!(message.contains("spec.backupTemplate names no cluster"), "{message}");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
