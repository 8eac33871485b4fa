//! A backup run as the operator will run it: the Job built by `operator::job` from the resolved
//! connection, the storage credentials Secret and the rendered config in a ConfigMap, run by the
//! real job controller and the pod harness, read back from its termination message into status.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Api, ListParams, PostParams};
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackupSpec, KafkaBackupStatus};
use strimzi_backup_operator::backup::BackupResult;
use strimzi_backup_operator::operator::backup::{outcome, run_config};
use strimzi_backup_operator::operator::connection::resolve;
use strimzi_backup_operator::operator::job::{self, JobRequest};
use strimzi_backup_operator::operator::storage_access::StorageAccess;

const IMAGE: &str = "quay.io/strimzi-backup/strimzi-backup-operator:dev";

#[tokio::test]
async fn a_backup_job_built_by_the_operator_runs_and_reports_into_status() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = cluster.namespace("backup-job").await?;
    let s = unique_suffix();
    let topic = format!("bj{s}");
    create_topic(env, &topic, 2, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 120, recent())).await?;
    produce(env, &topic, 1, &records(&topic, 1, 80, recent())).await?;

    // The user's objects: storage credentials in a Secret, a KafkaBackup spec referring to it.
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "minio-credentials"},
        "stringData": {"id": env.get("MINIO_ACCESS_KEY")?, "secret": env.get("MINIO_SECRET_KEY")?},
    }))?;
    Api::<Secret>::namespaced(cluster.client.clone(), &ns).create(&PostParams::default(), &secret).await?;
    let spec: KafkaBackupSpec = serde_yaml_ng::from_str(&format!(
        "kafkaCluster: {{bootstrapServers: '{}'}}\ntopics: {{include: ['{topic}']}}\nstorage:\n  type: s3\n  s3:\n    bucket: {}\n    region: {}\n    endpoint: '{}'\n    forcePathStyle: true\n    prefix: e2e-backup-job-{s}/\n    credentialsSecret: {{name: minio-credentials, accessKeyIdKey: id, secretAccessKeyKey: secret}}\n",
        env.kafka_bootstrap(),
        env.get("MINIO_BUCKET")?,
        env.get("MINIO_REGION")?,
        env.get("MINIO_ENDPOINT")?,
    ))?;

    // What the controller will do: resolve, render, build, apply.
    let connection = resolve(&ns, &spec.cluster, None, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let access = StorageAccess::for_storage(&spec.storage);
    let run = run_config::Run { backup_id: format!("nightly-{s}"), scheduled: true, ..Default::default() };
    let config = run_config::render(&spec, spec.storage.clone(), connection.kafka.clone(), &run);
    let name = format!("nightly-{s}");
    let config_map: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "data": {job::CONFIG_FILE: run_config::to_yaml(&config)?},
    }))?;
    let config_maps = Api::<ConfigMap>::namespaced(cluster.client.clone(), &ns);
    let created_cm = config_maps.create(&PostParams::default(), &config_map).await?;
    let request = JobRequest {
        name: name.clone(),
        namespace: ns.clone(),
        // Owned by the ConfigMap here (the KafkaBackup in the operator), so it has an owner.
        owner: OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: name.clone(),
            uid: created_cm.metadata.uid.clone().unwrap_or_default(),
            ..Default::default()
        },
        labels: job::labels("backup", "nightly", None),
        image: IMAGE.into(),
        subcommand: "backup".into(),
        config_map: name.clone(),
        connection,
        env: access.env,
        volumes: access.volumes,
        mounts: access.mounts,
        options: spec.job_options.clone(),
        workers: spec.backup.workers,
    };
    let built = job::build(&request);
    let jobs = Api::<Job>::namespaced(cluster.client.clone(), &ns);
    jobs.create(&PostParams::default(), &built).await?;
    // A second replica (or a restart) builds the same name: the apiserver refuses the duplicate.
    let again = jobs.create(&PostParams::default(), &job::build(&request)).await;
    assert!(matches!(again, Err(kube::Error::Api(ref e)) if e.code == 409), "{again:?}");

    let done = wait_until(Duration::from_secs(120), "the backup Job to finish", || async {
        let j = jobs.get(&name).await?;
        let finished = j
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True");
        Ok(finished.map(|c| c.type_))
    })
    .await?;
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), &ns);
    let pod = pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no pod"))?;
    let message = pod
        .status
        .and_then(|s| s.container_statuses)
        .and_then(|c| c.into_iter().next())
        .and_then(|c| c.state)
        .and_then(|s| s.terminated)
        .and_then(|t| t.message)
        .unwrap_or_default();
    assert_eq!(done, "Complete", "termination message: {message}");
    assert!(!message.contains(env.get("MINIO_SECRET_KEY")?), "no secret in the result");

    let result: BackupResult = serde_json::from_str(&message)?;
    assert_eq!((result.records, result.partitions), (200, 2));
    assert_eq!(result.backup_id, format!("nightly-{s}"));
    let mut status = KafkaBackupStatus::default();
    outcome::completed(&mut status, &result, Time(k8s_openapi::jiff::Timestamp::now()));
    assert_eq!(status.last_backup.as_ref().map(|b| b.status), Some(BackupRunStatus::Completed));
    assert_eq!(status.backup_count, Some(1));
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
