//! The cluster-wide proxy (why the CSV says `proxy-aware: "true"`): on OpenShift, OLM puts
//! `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` on the operator's Deployment, and object storage is
//! often reachable only through that proxy. The operator hands the variables to its Jobs, whose
//! storage client sends every request through the proxy.
//!
//! Here the storage endpoint's host name does not resolve at all; the only way to MinIO is the
//! proxy (a plain TCP forwarder: an HTTP proxy receives absolute-form requests, which MinIO
//! accepts as they are). The backup completes, and the proxy saw the connections.
//!
//! A proxy that needs credentials (issue 14, least privilege): a password in the operator's
//! proxy variables is refused at start, since copying it into Jobs shows it to anyone who may
//! read Jobs; with `STRIMZI_BACKUP_PROXY_SECRET` the Jobs get the proxy settings by
//! `secretKeyRef` from a Secret, and the password stands in no Job or ConfigMap.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, namespace_with_kafka};
use strimzi_backup_e2e::proxy::Proxy;
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::condition::ConditionStatus;

/// The KafkaBackup `proxied` of `topic`, run once, storing at `prefix` in MinIO reached through
/// `endpoint` (a name only the proxy resolves).
fn proxied_backup(
    env: &strimzi_backup_e2e::env::TestEnv,
    topic: &str,
    endpoint: &str,
    prefix: &str,
) -> anyhow::Result<String> {
    Ok(format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: proxied}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  storage:\n    type: s3\n    s3:\n      bucket: {}\n      region: {}\n      endpoint: '{endpoint}'\n      forcePathStyle: true\n      prefix: {prefix}\n      credentialsSecret: {{name: minio-credentials, accessKeyIdKey: id, secretAccessKeyKey: secret}}\n  job: {{backoffLimit: 0}}\n",
        env.get("MINIO_BUCKET")?,
        env.get("MINIO_REGION")?,
    ))
}

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
    cluster.apply_yaml(&ns, &proxied_backup(env, &topic, &endpoint, &format!("e2e-proxy-{s}/"))?).await?;
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

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_password_reaches_jobs_by_secret_reference_and_stands_in_no_job() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "proxyauth").await?;
    let minio = env.get("MINIO_ENDPOINT")?.trim_start_matches("http://").to_string();
    let password = format!("pw-{}", unique_suffix());
    let proxy = Proxy::start_with_credentials(&minio, "backup", &password).await?;
    let with_password = proxy.url_with("backup", &password);

    // A password in the operator's own proxy variables and no Secret to carry it: refused at
    // start, naming the variable and what to do, never printing the password.
    let mut refused = Operator::start_with_env(env, &ns, &[("HTTP_PROXY", &with_password)])?;
    let log = wait_until(Duration::from_secs(30), "the operator to refuse the proxy password", || {
        let exited = refused.check_running().err().map(|e| e.to_string());
        async move { Ok(exited) }
    })
    .await?;
    assert!(log.contains("HTTP_PROXY carries credentials"), "{log}");
    assert!(log.contains("STRIMZI_BACKUP_PROXY_SECRET") && !log.contains(&password), "{log}");

    // The Secret in the namespace where the runs happen, named in the operator's settings. The
    // operator keeps a (credentialed) proxy variable of its own, which the Jobs must not get.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: corp-proxy}}\nstringData: {{HTTPS_PROXY: '{with_password}', HTTP_PROXY: '{with_password}', NO_PROXY: '127.0.0.1,localhost'}}\n"
            ),
        )
        .await?;
    let operator = Operator::start_with_env(
        env,
        &ns,
        &[("HTTP_PROXY", &with_password), ("STRIMZI_BACKUP_PROXY_SECRET", "corp-proxy")],
    )?;
    let port = minio.rsplit(':').next().unwrap_or("9000");
    let endpoint = format!("http://minio.proxy-only.invalid:{port}");
    let s = unique_suffix();
    let topic = format!("proxyauth{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 30, recent())).await?;
    cluster.apply_yaml(&ns, &proxied_backup(env, &topic, &endpoint, &format!("e2e-proxyauth-{s}/"))?).await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let (ready, status) = wait_until(Duration::from_secs(180), "the proxied backup finished", || async {
        let st = backups.get("proxied").await?.status.unwrap_or_default();
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        Ok(ready
            .filter(|c| c.reason.as_deref() != Some("BackupRunning") && c.status != ConditionStatus::Unknown)
            .map(|c| (c, st.clone())))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(
        (ready.status, ready.reason.as_deref()),
        (ConditionStatus::True, Some("BackupCompleted")),
        "{ready:?}\n{status:?}"
    );
    assert_eq!(status.last_backup.and_then(|b| b.records), Some(30));
    assert!(proxy.accepted() > 0, "no connection went through the proxy");
    assert_eq!(proxy.unauthorized(), 0, "a connection came without the proxy's credentials");

    // Read back what the operator wrote: the password is in no Job and no ConfigMap; the Job
    // names the Secret instead.
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let jobs = jobs.list(&ListParams::default()).await?.items;
    assert!(!jobs.is_empty(), "no Job to read back");
    let written = serde_json::to_string(&(&jobs, config_maps.list(&ListParams::default()).await?.items))?;
    assert!(!written.contains(&password), "the proxy password stands in a Job or ConfigMap");
    let env_of = |j: &Job| {
        j.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|p| p.containers[0].env.clone().unwrap_or_default())
    };
    let https = env_of(&jobs[0]).unwrap_or_default().into_iter().find(|e| e.name == "HTTPS_PROXY");
    let by_ref = https.as_ref().and_then(|e| e.value_from.as_ref()).and_then(|v| v.secret_key_ref.as_ref());
    assert_eq!(
        by_ref.map(|r| (r.name.as_str(), r.key.as_str())),
        Some(("corp-proxy", "HTTPS_PROXY")),
        "{https:?}"
    );
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
