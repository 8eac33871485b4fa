//! `backup.strimziResources` (issue 16 §2): the `KafkaTopic`s and `KafkaUser`s of the backed-up
//! `Kafka` stored with the backup (docs/strimzi-resources.md).
//!
//! Through the real operator, against the real API server (Strimzi's own KafkaTopic and KafkaUser
//! CRDs), broker and MinIO: a `Kafka` with three `KafkaTopic`s and two `KafkaUser`s (one with an
//! ACL authorization spec), plus a `KafkaTopic` of another cluster that must not be taken; a
//! `KafkaBackup` with `strimziResources: true` counts them in its status, and the object the
//! manifest names holds exactly their declarations (spec, labels, annotations; no status, uid,
//! resourceVersion, managedFields, last-applied). The rules refuse it without a Strimzi cluster, and
//! a restore of the backed-up KafkaTopics together with `topicCreation: strimzi`.

use std::time::Duration;

use anyhow::Context;
use kube::api::{Api, DynamicObject, ListParams};
use object_store::ObjectStoreExt;
use serde_json::{Value, json};
use strimzi_backup_e2e::dataplane::{create_topic, minio};
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::{Cluster, strimzi_resource, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, finished_run, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};
use strimzi_backup_operator::format::manifest::Manifest;
use strimzi_backup_operator::format::strimzi_resources::{LAST_APPLIED, StrimziResources};

/// Strimzi's KafkaTopic CRD (hack/strimzi-topic-crd.sh), installed.
async fn install_kafka_topic_crd(cluster: &Cluster) -> anyhow::Result<()> {
    let out = std::process::Command::new(workspace_root().join("hack/strimzi-topic-crd.sh"))
        .current_dir(workspace_root())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "hack/strimzi-topic-crd.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("STRIMZI_TOPIC_CRD="))
        .context("hack/strimzi-topic-crd.sh printed no STRIMZI_TOPIC_CRD")?;
    cluster.install_crd_dir(std::path::Path::new(dir)).await?;
    Ok(())
}

/// What a resource declares, as the backup must keep it.
fn declared(o: &DynamicObject) -> Value {
    let mut annotations = o.metadata.annotations.clone().unwrap_or_default();
    annotations.remove(LAST_APPLIED);
    let mut metadata = json!({"name": o.metadata.name, "labels": o.metadata.labels});
    if !annotations.is_empty() {
        metadata["annotations"] = json!(annotations);
    }
    json!({
        "apiVersion": o.types.as_ref().map(|t| t.api_version.clone()),
        "kind": o.types.as_ref().map(|t| t.kind.clone()),
        "metadata": metadata,
        "spec": o.data["spec"],
    })
}

/// The declarations of this test's resources of `kind` for `my-cluster`, by name.
async fn listed(
    cluster: &Cluster,
    ns: &str,
    s: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> anyhow::Result<Vec<Value>> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), ns, &strimzi_resource(version, kind, plural));
    let mut items: Vec<DynamicObject> = api
        .list(&ListParams::default().labels("strimzi.io/cluster=my-cluster"))
        .await?
        .items
        .into_iter()
        .filter(|o| o.metadata.name.as_deref().is_some_and(|n| n.starts_with(&format!("sr{s}-"))))
        .collect();
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(items.iter().map(declared).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_stores_the_kafka_topics_and_kafka_users_of_its_cluster_as_declared() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    install_kafka_topic_crd(&cluster).await?;
    let ns = namespace_with_kafka(&cluster, "sr").await?;
    let s = unique_suffix();
    let topics = [format!("sr{s}-orders"), format!("sr{s}-payments"), format!("sr{s}-audit")];
    for (i, t) in topics.iter().enumerate() {
        create_topic(env, t, 1, &[]).await?;
        cluster
            .apply_yaml(
                &ns,
                &format!(
                    "apiVersion: kafka.strimzi.io/v1\nkind: KafkaTopic\nmetadata:\n  name: {t}\n  labels: {{strimzi.io/cluster: my-cluster, team: t{i}}}\n  annotations: {{{LAST_APPLIED}: '{{}}', owner: team-{i}}}\nspec:\n  partitions: {}\n  replicas: 1\n  config: {{retention.ms: 86400000, cleanup.policy: delete}}\n",
                    i + 1
                ),
            )
            .await?;
    }
    // Another cluster's: not backed up.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafka.strimzi.io/v1\nkind: KafkaTopic\nmetadata: {{name: sr{s}-other, labels: {{strimzi.io/cluster: other-cluster}}}}\nspec: {{partitions: 1, replicas: 1}}\n"
            ),
        )
        .await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaUser\nmetadata: {{name: sr{s}-alice, labels: {{strimzi.io/cluster: my-cluster}}}}\nspec:\n  authentication: {{type: scram-sha-512}}\n  authorization:\n    type: simple\n    acls:\n      - resource: {{type: topic, name: sr{s}-orders, patternType: literal}}\n        operations: [Read, Describe]\n      - resource: {{type: group, name: sr{s}-, patternType: prefix}}\n        operations: [Read]\n---\napiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaUser\nmetadata: {{name: sr{s}-bob, labels: {{strimzi.io/cluster: my-cluster}}}}\nspec:\n  authentication: {{type: tls}}\n"
            ),
        )
        .await?;

    let operator = Operator::start(env, &ns)?;
    let prefix = format!("e2e-sr-{s}/");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: declared}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['sr{s}-.*']}}\n  backup: {{strimziResources: true}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let run = wait_until(Duration::from_secs(120), "the backup", || async {
        let st = backups.get("declared").await?.status.unwrap_or_default();
        Ok(st.backup_history.into_iter().find(|b| b.status != BackupRunStatus::Running))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(run.status, BackupRunStatus::Completed, "{run:?}\n{}", operator.log_text());
    assert_eq!((run.kafka_topics_backed_up, run.kafka_users_backed_up), (Some(3), Some(2)), "{run:?}");

    // The object the manifest names, against the resources as the API server has them.
    let store = minio(env)?;
    let manifest_path = object_store::path::Path::from(format!("{prefix}backups/{}/manifest.json", run.id));
    let manifest =
        Manifest::from_json(&store.get(&manifest_path).await?.bytes().await?, manifest_path.as_ref())?;
    let reference = manifest.strimzi_resources.context("the manifest names no Strimzi resources")?;
    assert_eq!(reference.object, format!("{prefix}backups/{}/strimzi-resources.json", run.id));
    let bytes = store.get(&object_store::path::Path::from(reference.object.as_str())).await?.bytes().await?;
    let stored = StrimziResources::from_object(&bytes, &reference)?;
    assert_eq!((stored.namespace.as_str(), stored.cluster.as_str()), (ns.as_str(), "my-cluster"));

    let text = String::from_utf8_lossy(&bytes);
    for absent in ["status", "uid", "resourceVersion", "managedFields", "creationTimestamp", LAST_APPLIED] {
        assert!(!text.contains(&format!("\"{absent}\"")), "{absent} in the object: {text}");
    }
    // Read in the version the operator discovered as newest (v1 for both with these CRDs).
    let topics_now = listed(&cluster, &ns, &s, "v1", "KafkaTopic", "kafkatopics").await?;
    assert_eq!(stored.kafka_topics, topics_now, "{text}");
    let user_version = stored.kafka_users[0]["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("kafka.strimzi.io/");
    let users_now = listed(&cluster, &ns, &s, user_version, "KafkaUser", "kafkausers").await?;
    assert_eq!(stored.kafka_users, users_now, "{text}");
    let alice = &stored.kafka_users[0];
    assert_eq!(alice["spec"]["authorization"]["acls"][1]["resource"]["patternType"], "prefix");
    assert!(!text.to_lowercase().contains("password"), "no password: {text}");

    // Backed-up KafkaTopics and topicCreation strimzi at once: an invalid spec naming the field.
    cluster
        .apply_yaml(
            &ns,
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {name: both}\nspec:\n  strimziClusterRef: {name: my-cluster}\n  backupRef: {name: declared}\n  restore: {topicCreation: strimzi, strimziResources: {}}\n",
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let st = finished_run(&restores, "both", Duration::from_secs(60), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?
        .status
        .unwrap_or_default();
    assert_eq!(st.phase, Some(RunPhase::Failed), "{st:?}");
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").context("Ready")?;
    assert_eq!(ready.reason.as_deref(), Some("InvalidSpec"), "{ready:?}");
    let message = ready.message.clone().unwrap_or_default();
    assert!(
        message.contains("spec.restore.strimziResources.kinds") && message.contains("topicCreation"),
        "{message}"
    );

    // Without a Strimzi cluster the backup cannot run: the field is named.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: plain}}\nspec:\n  kafkaCluster: {{bootstrapServers: '{}'}}\n  backup: {{strimziResources: true}}\n{}",
                env.kafka_bootstrap(),
                minio_storage(env, &format!("e2e-sr-plain-{s}/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    let message = wait_until(Duration::from_secs(60), "the backup's InvalidSpec", || async {
        let st = backups.get("plain").await?.status.unwrap_or_default();
        Ok(st
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.reason.as_deref() == Some("InvalidSpec"))
            .and_then(|c| c.message.clone()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert!(
        message.contains("spec.backup.strimziResources") && message.contains("spec.strimziClusterRef"),
        "{message}"
    );
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
