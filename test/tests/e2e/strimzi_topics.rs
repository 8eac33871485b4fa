//! Restores the Strimzi Topic Operator owns (restore.topicCreation: strimzi) and the cluster's KafkaTopic/KafkaUser CRs in a backup (issue 16 §2).
//!
//! Through the real operator, against the real API server (with Strimzi's own KafkaTopic CRD,
//! hack/strimzi-topic-crd.sh), broker and MinIO: a topic with three partitions and non-default
//! configs is backed up and restored under a name that is no valid object name; the KafkaTopic
//! the restore declares and the topic the broker describes are read back and must agree exactly
//! (partitions, replication factor, every dynamic config). A KafkaTopic that already declares a
//! target topic otherwise refuses the restore before it writes anything, and `strimzi` on a
//! cluster reached by bootstrap address is an invalid spec naming the field.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use kube::api::{Api, DynamicObject, ListParams};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::Value;
use strimzi_backup_e2e::dataplane::{create_topic, partition_count, produce, recent, records, topic_configs};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::{Cluster, strimzi_resource, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{
    Operator, finished_run, install_kafka_topic_crd, minio_storage, namespace_with_kafka,
};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::restore::{KafkaRestore, KafkaRestoreStatus, RunPhase};

/// Partitions and replication factor of a topic as the broker's metadata has them.
fn described(env: &TestEnv, topic: &str) -> anyhow::Result<(i64, i64)> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", env.kafka_bootstrap()).create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let t = metadata.topics().first().context("no topic metadata")?;
    anyhow::ensure!(t.error().is_none(), "topic {topic}: {:?}", t.error());
    let rf = t.partitions().first().map_or(0, |p| p.replicas().len());
    anyhow::ensure!(t.partitions().iter().all(|p| p.replicas().len() == rf), "uneven replication");
    Ok((t.partitions().len() as i64, rf as i64))
}

async fn finished(api: &Api<KafkaRestore>, name: &str, op: &Operator) -> anyhow::Result<KafkaRestoreStatus> {
    let run = finished_run(api, name, Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(op.log_text()))?;
    Ok(run.status.unwrap_or_default())
}

fn ready_message(st: &KafkaRestoreStatus) -> String {
    st.conditions.iter().find(|c| c.type_ == "Ready").and_then(|c| c.message.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_declares_each_created_topic_as_a_kafka_topic_that_agrees_with_it_exactly()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    install_kafka_topic_crd(&cluster).await?;
    let ns = namespace_with_kafka(&cluster, "kt").await?;
    let s = unique_suffix();
    let topic = format!("kt{s}-orders");
    let backed_up_configs = [
        ("retention.ms", "86400000"),
        ("cleanup.policy", "compact"),
        ("max.message.bytes", "2097152"),
        ("min.compaction.lag.ms", "60000"),
        ("segment.bytes", "10485760"),
    ];
    create_topic(env, &topic, 3, &backed_up_configs).await?;
    for p in 0..3 {
        // Compacted: every record has a key.
        let mut recs = records(&topic, p, 40, recent());
        for (i, r) in recs.iter_mut().enumerate() {
            r.key.get_or_insert_with(|| bytes::Bytes::from(format!("k{p}-{i}")));
        }
        produce(env, &topic, p, &recs).await?;
    }
    let operator = Operator::start(env, &ns)?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &format!("e2e-kt-{s}/"), "minio-credentials", 2)?
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

    // Renamed to a topic name that is no valid object name: the KafkaTopic carries it in
    // spec.topicName.
    let renamed = format!("KT{s}_Orders_DR");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: dr}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: orders}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {renamed}}}]\n  restore: {{topicCreation: strimzi}}\n"
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let st = finished(&restores, "dr", &operator).await?;
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}\n{}", operator.log_text());
    assert_eq!(st.restore.as_ref().and_then(|r| r.restored_records), Some(120), "{st:?}");

    // The KafkaTopic, read in the version the Topic Operator of this line reads (v1).
    let kts: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &ns,
        &strimzi_resource("v1", "KafkaTopic", "kafkatopics"),
    );
    let all = kts.list(&ListParams::default()).await?.items;
    let kt = all
        .iter()
        .find(|k| k.data.pointer("/spec/topicName").and_then(Value::as_str) == Some(renamed.as_str()))
        .with_context(|| format!("no KafkaTopic declares {renamed}: {all:?}"))?;
    let name = kt.metadata.name.clone().unwrap_or_default();
    assert!(name.starts_with(&format!("kt{s}-orders-dr-")), "{name}");
    assert_eq!(
        kt.metadata.labels.as_ref().and_then(|l| l.get("strimzi.io/cluster")).map(String::as_str),
        Some("my-cluster")
    );
    assert!(
        kt.metadata.owner_references.as_ref().is_none_or(Vec::is_empty),
        "no owner: deleting the restore must not delete the topic"
    );
    let spec = &kt.data["spec"];
    let declared: BTreeMap<String, String> = spec["config"]
        .as_object()
        .context("spec.config")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();

    // The topic as the broker has it.
    let (partitions, replicas) = described(env, &renamed)?;
    let configs = topic_configs(env, &renamed).await?;
    assert_eq!((spec["partitions"].as_i64(), spec["replicas"].as_i64()), (Some(partitions), Some(replicas)));
    assert_eq!(partitions, 3);
    assert_eq!(declared, configs, "the KafkaTopic's spec.config and the topic's dynamic configs");
    for (k, v) in backed_up_configs {
        assert_eq!(configs.get(k).map(String::as_str), Some(v), "{k} restored: {configs:?}");
    }
    let event =
        strimzi_backup_e2e::operator::event(&cluster, &ns, "KafkaTopicsCreated", Duration::from_secs(10))
            .await?;
    assert!(event.message.as_deref().unwrap_or_default().contains(&name), "{event:?}");

    // A KafkaTopic that already declares a target topic otherwise: refused before any write.
    let taken = format!("kt{s}-orders-taken");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafka.strimzi.io/v1\nkind: KafkaTopic\nmetadata: {{name: {taken}, labels: {{strimzi.io/cluster: my-cluster}}}}\nspec:\n  partitions: 6\n  replicas: 1\n  config: {{retention.ms: 1000}}\n"
            ),
        )
        .await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: taken}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: orders}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {taken}}}]\n  restore: {{topicCreation: strimzi}}\n"
            ),
        )
        .await?;
    let st = finished(&restores, "taken", &operator).await?;
    assert_eq!(st.phase, Some(RunPhase::Failed), "{st:?}");
    let message = ready_message(&st);
    for part in [
        "refused before anything was written",
        &format!("KafkaTopic {ns}/{taken} already declares topic {taken}"),
        "spec.partitions is 6, the restored topic has 3",
        "spec.config.retention.ms is 1000, the restored topic has 86400000",
        "spec.config.cleanup.policy is not set, the restored topic has compact",
        "spec.topicMapping",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert_eq!(partition_count(env, &taken)?, None, "nothing written: the topic was not created");
    assert!(st.plan.is_none(), "refused at the plan: {st:?}");

    // `strimzi` with a cluster reached by bootstrap address: an invalid spec naming the field.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: plain}}\nspec:\n  kafkaCluster: {{bootstrapServers: '{}'}}\n  backupRef: {{name: orders}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {topic}-plain}}]\n  restore: {{topicCreation: strimzi}}\n",
                env.kafka_bootstrap()
            ),
        )
        .await?;
    let st = finished(&restores, "plain", &operator).await?;
    assert_eq!(st.phase, Some(RunPhase::Failed), "{st:?}");
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").context("Ready")?;
    assert_eq!(ready.reason.as_deref(), Some("InvalidSpec"));
    let message = ready.message.clone().unwrap_or_default();
    assert!(
        message.contains("spec.restore.topicCreation") && message.contains("spec.strimziClusterRef"),
        "{message}"
    );
    assert_eq!(partition_count(env, &format!("{topic}-plain"))?, None);
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
