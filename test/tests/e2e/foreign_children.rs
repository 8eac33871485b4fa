//! A run's children have predictable names (`<restore>-plan`, `<restore>-restore`,
//! `<backup>-<time>`), so anyone
//! who may create a ConfigMap or a Job in the namespace could plant one before the run starts.
//! The operator adopts an existing child only when it carries the resource's owner reference
//! (uid); otherwise the resource shows `ForeignObject` naming the object, and nothing runs until
//! it is gone (issue 14 §2).

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::restore::KafkaRestore;

#[tokio::test(flavor = "multi_thread")]
async fn a_planted_config_map_under_a_run_s_name_is_never_adopted() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "foreign").await?;
    let s = unique_suffix();
    let prefix = format!("e2e-foreign-{s}/");
    // Planted before the KafkaRestore exists, under the name its run takes first (its plan's).
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let planted: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "dr-plan"},
        "data": {"config.yaml": "kafka: {bootstrapServers: 'attacker.example:9092'}\n"},
    }))?;
    config_maps.create(&PostParams::default(), &planted).await?;
    let operator = Operator::start(env, &ns)?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: dr}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  source:\n{}  consumerGroups: {{restore: false}}\n",
                minio_storage(env, &prefix, "minio-credentials", 4)?
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let message =
        wait_until(Duration::from_secs(60), "the restore to show the foreign ConfigMap", || async {
            let kr = restores.get("dr").await?;
            let ready = kr.status.unwrap_or_default().conditions.into_iter().find(|c| c.type_ == "Ready");
            Ok(ready
                .filter(|c| c.reason.as_deref() == Some("ForeignObject"))
                .map(|c| c.message.unwrap_or_default()))
        })
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    assert!(message.contains("ConfigMap dr-plan") && message.contains("never adopts"), "{message}");
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    assert!(jobs.get_opt("dr-plan").await?.is_none(), "no Job runs the planted config");
    let kept = config_maps.get("dr-plan").await?;
    assert!(kept.data.unwrap_or_default()["config.yaml"].contains("attacker.example"), "left as it was");

    // Once it is gone, the run starts with a ConfigMap and a Job of its own.
    config_maps.delete("dr-plan", &DeleteParams::default()).await?;
    let uid = restores.get("dr").await?.metadata.uid.unwrap_or_default();
    let job = wait_until(Duration::from_secs(120), "the restore's own Job", || async {
        Ok(jobs.get_opt("dr-plan").await?)
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert!(job.metadata.owner_references.unwrap_or_default().iter().any(|o| o.uid == uid));
    let own = config_maps.get("dr-plan").await?;
    assert!(own.metadata.owner_references.unwrap_or_default().iter().any(|o| o.uid == uid));
    Ok(())
}
