//! The cluster-wide proxy (why the CSV says `proxy-aware: "true"`): on OpenShift, OLM puts
//! `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` on the operator's Deployment, and object storage is
//! often reachable only through that proxy. The operator hands the variables to its Jobs, whose
//! storage client sends every request through the proxy.
//!
//! Here the storage endpoint's host name does not resolve at all; the only way to MinIO is the
//! proxy (a plain TCP forwarder: an HTTP proxy receives absolute-form requests, which MinIO
//! accepts as they are). The backup completes, and the proxy saw the connections.

use std::time::Duration;

use kube::api::Api;
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, namespace_with_kafka};
use strimzi_backup_e2e::proxy::Proxy;
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::condition::ConditionStatus;

#[tokio::test(flavor = "multi_thread")]
async fn jobs_reach_object_storage_through_the_operators_proxy() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "proxy").await?;
    let minio = env.get("MINIO_ENDPOINT")?.trim_start_matches("http://").to_string();
    let proxy = Proxy::start(&minio).await?;
    let port = minio.rsplit(':').next().unwrap_or("9000");
    // `.invalid` never resolves (RFC 6761): without the proxy the Job cannot reach storage.
    let endpoint = format!("http://minio.proxy-only.invalid:{port}");
    let operator = Operator::start_with_env(
        env,
        &ns,
        // MinIO speaks http, so HTTP_PROXY is the variable that matters. HTTPS_PROXY is left out:
        // this operator reads a kubeconfig, and kube's kubeconfig loader would send the API
        // server's traffic to HTTPS_PROXY (in a pod, the in-cluster config does not).
        &[("HTTP_PROXY", &proxy.url()), ("NO_PROXY", "127.0.0.1,localhost")],
    )?;

    let s = unique_suffix();
    let topic = format!("proxied{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 40, recent())).await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: proxied}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  storage:\n    type: s3\n    s3:\n      bucket: {}\n      region: {}\n      endpoint: '{endpoint}'\n      forcePathStyle: true\n      prefix: e2e-proxy-{s}/\n      credentialsSecret: {{name: minio-credentials, accessKeyIdKey: id, secretAccessKeyKey: secret}}\n  job: {{backoffLimit: 0}}\n",
                env.get("MINIO_BUCKET")?,
                env.get("MINIO_REGION")?,
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let st = wait_until(Duration::from_secs(180), "the proxied backup finished", || async {
        let st = backups.get("proxied").await?.status.unwrap_or_default();
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        Ok(ready
            .filter(|c| c.reason.as_deref() != Some("BackupRunning") && c.status != ConditionStatus::Unknown)
            .map(|c| (c, st.clone())))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let (ready, status) = st;
    assert_eq!(
        (ready.status, ready.reason.as_deref()),
        (ConditionStatus::True, Some("BackupCompleted")),
        "{ready:?}\n{status:?}"
    );
    assert_eq!(status.last_backup.and_then(|b| b.records), Some(40));
    assert!(proxy.accepted() > 0, "no connection went through the proxy");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
