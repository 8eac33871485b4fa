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
use strimzi_backup_e2e::fixtures::{Cluster, strimzi_resource, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{
    Operator, finished_run, install_kafka_topic_crd, minio_storage, namespace_with_kafka, ready_kafka,
};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};
use strimzi_backup_operator::format::manifest::Manifest;
use strimzi_backup_operator::format::strimzi_resources::{LAST_APPLIED, StrimziResources};

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

    recreated_in_another_namespace(&cluster, &operator, &ns, &s, &stored, user_version).await?;
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// `restore.strimziResources` from the backup above into another namespace, for another
/// cluster, with one topic renamed to a valid object name and one to a name that is not; the
/// third topic is not selected. Then a restore that finds a differing KafkaUser there is
/// refused at its plan, naming the object and the field.
async fn recreated_in_another_namespace(
    cluster: &Cluster,
    operator: &Operator,
    ns: &str,
    s: &str,
    stored: &StrimziResources,
    user_version: &str,
) -> anyhow::Result<()> {
    let dr = cluster.namespace("srdr").await?;
    let restore = |name: &str, suffix: &str| {
        format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: declared}}\n  topics: {{include: ['sr{s}-orders', 'sr{s}-payments']}}\n  topicMapping:\n    - {{sourceTopic: sr{s}-orders, targetTopic: sr{s}-orders-dr{suffix}}}\n    - {{sourceTopic: sr{s}-payments, targetTopic: sr{s}-Payments_DR{suffix}}}\n  restore: {{strimziResources: {{targetNamespace: {dr}, targetCluster: dr-cluster}}}}\n"
        )
    };
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), ns);
    // The operator writes KafkaUsers (with their ACLs) into the target namespace only for a Kafka
    // there that shares itself with the restore's namespace: first there is none.
    cluster.apply_yaml(ns, &restore("unshared", "-x")).await?;
    let refused = finished_run(&restores, "unshared", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let st = serde_json::to_value(refused.status.unwrap_or_default())?;
    assert_eq!(st["phase"], "Failed", "{st}");
    let message = st.to_string();
    assert!(
        message.contains("spec.restore.strimziResources.targetNamespace")
            && message.contains(strimzi_backup_operator::api::tenancy::ALLOW_ANNOTATION),
        "{message}"
    );
    let users = strimzi_resource(user_version, "KafkaUser", "kafkausers");
    let in_dr: Api<DynamicObject> = Api::namespaced_with(cluster.client.clone(), &dr, &users);
    assert!(in_dr.list(&ListParams::default()).await?.items.is_empty(), "nothing written into {dr}");
    restores.delete("unshared", &Default::default()).await?;
    ready_kafka(cluster, &dr, "dr-cluster", "v1beta2", cluster.env.kafka_bootstrap()).await?;
    let kafkas: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), &dr, &strimzi_resource("v1beta2", "Kafka", "kafkas"));
    let share =
        json!({"metadata": {"annotations": {strimzi_backup_operator::api::tenancy::ALLOW_ANNOTATION: ns}}});
    kafkas.patch("dr-cluster", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&share)).await?;

    cluster.apply_yaml(ns, &restore("recreate", "")).await?;
    let st = finished_run(&restores, "recreate", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?
        .status
        .unwrap_or_default();
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}\n{}", operator.log_text());
    let done = st
        .restore
        .as_ref()
        .and_then(|r| r.strimzi_resources.clone())
        .context("status.restore.strimziResources")?;
    assert_eq!(
        (done.kafka_topics_created, done.kafka_users_created, done.unchanged, done.skipped),
        (2, 2, 0, 1),
        "{done:?}"
    );

    // What the target namespace holds, against the backed-up declarations.
    let topics: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &dr,
        &strimzi_resource("v1", "KafkaTopic", "kafkatopics"),
    );
    let users: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &dr,
        &strimzi_resource(user_version, "KafkaUser", "kafkausers"),
    );
    let in_dr = |o: &DynamicObject| {
        assert!(o.metadata.owner_references.as_ref().is_none_or(Vec::is_empty), "owned: {o:?}");
        let labels = o.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("strimzi.io/cluster").map(String::as_str), Some("dr-cluster"), "{o:?}");
        let annotations = o.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.get("kafkabackup.com/restored-by"), Some(&format!("{ns}/recreate")), "{o:?}");
        (labels, annotations)
    };
    let source_topic = |name: &str| {
        stored.kafka_topics.iter().find(|t| t["metadata"]["name"] == name).cloned().unwrap_or_default()
    };
    let listed_topics = topics.list(&ListParams::default()).await?.items;
    assert_eq!(listed_topics.len(), 2, "{listed_topics:?}");
    let orders = topics.get(&format!("sr{s}-orders-dr")).await?;
    let (labels, annotations) = in_dr(&orders);
    let source = source_topic(&format!("sr{s}-orders"));
    assert_eq!(orders.data["spec"], source["spec"], "kept under a valid name: the spec as declared");
    assert_eq!(labels.get("team").map(String::as_str), Some("t0"));
    assert_eq!(annotations.get("owner").map(String::as_str), Some("team-0"));
    let payments = listed_topics
        .iter()
        .find(|t| t.data["spec"]["topicName"] == format!("sr{s}-Payments_DR"))
        .context("the KafkaTopic of the renamed payments topic, by spec.topicName")?;
    in_dr(payments);
    let name = payments.metadata.name.clone().unwrap_or_default();
    assert!(name.starts_with(&format!("sr{s}-payments-dr-")), "{name}");
    let mut spec = source_topic(&format!("sr{s}-payments"))["spec"].clone();
    spec["topicName"] = json!(format!("sr{s}-Payments_DR"));
    assert_eq!(payments.data["spec"], spec);
    let listed_users = users.list(&ListParams::default()).await?.items;
    assert_eq!(listed_users.len(), 2, "{listed_users:?}");
    for u in &stored.kafka_users {
        let name = u["metadata"]["name"].as_str().unwrap_or_default();
        let got = users.get(name).await?;
        in_dr(&got);
        let mut spec = u["spec"].clone();
        // The literal ACL of the renamed topic names its target; the prefix one is kept.
        if let Some(acl) = spec.pointer_mut("/authorization/acls/0/resource/name") {
            *acl = json!(format!("sr{s}-orders-dr"));
        }
        assert_eq!(got.data["spec"], spec, "{name}");
    }

    // A dry run of the KafkaTopics only, for other target topics: the two to be created, the
    // third topic and the two KafkaUsers not selected, nothing created. (With KafkaUsers it
    // would be refused: alice's literal ACL would name the other target topic.)
    let preview = restore("preview", "3")
        .replace("  restore: {", "  restore: {dryRun: true, ")
        .replace("targetCluster: dr-cluster}", "targetCluster: dr-cluster, kinds: [KafkaTopic]}");
    cluster.apply_yaml(ns, &preview).await?;
    let st = finished_run(&restores, "preview", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?
        .status
        .unwrap_or_default();
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    let would = st.restore.as_ref().and_then(|r| r.strimzi_resources.clone()).context("dry run's counts")?;
    assert_eq!(
        (would.kafka_topics_created, would.kafka_users_created, would.unchanged, would.skipped),
        (2, 0, 0, 3),
        "{would:?}"
    );
    assert_eq!(topics.list(&ListParams::default()).await?.items.len(), 2, "a dry run creates none");

    // A KafkaUser there that declares something else: the next restore is refused at its plan.
    cluster
        .apply_yaml(
            &dr,
            &format!(
                "apiVersion: kafka.strimzi.io/{user_version}\nkind: KafkaUser\nmetadata: {{name: sr{s}-bob, labels: {{strimzi.io/cluster: dr-cluster}}}}\nspec:\n  authentication: {{type: scram-sha-512}}\n"
            ),
        )
        .await?;
    cluster.apply_yaml(ns, &restore("refused", "2")).await?;
    let st = finished_run(&restores, "refused", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?
        .status
        .unwrap_or_default();
    assert_eq!(st.phase, Some(RunPhase::Failed), "{st:?}");
    let message =
        st.conditions.iter().find(|c| c.type_ == "Ready").and_then(|c| c.message.clone()).unwrap_or_default();
    for part in [
        "refused before anything was written".to_string(),
        format!("KafkaUser {dr}/sr{s}-bob already exists"),
        "spec.authentication".to_string(),
    ] {
        assert!(message.contains(&part), "{part}: {message}");
    }
    // Nothing was created: no KafkaTopic of the second restore's topics, no record restored.
    let after = topics.list(&ListParams::default()).await?.items;
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(st.restore.as_ref().and_then(|r| r.restored_records), None, "{st:?}");
    cluster.delete_namespace(&dr).await?;
    Ok(())
}
