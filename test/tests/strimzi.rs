//! Reading Strimzi's resources from the real apiserver, in either API version Strimzi serves,
//! and resolving them into a connection that really reaches the broker.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::Cluster;
use strimzi_backup_operator::api::cluster::{
    Authentication, AuthenticationType, ClusterConnection, KafkaUserRef, StrimziClusterRef,
};
use strimzi_backup_operator::kafka::ConnectionAuth;
use strimzi_backup_operator::operator::connection::resolve;
use strimzi_backup_operator::operator::dereference::StrimziApi;

#[tokio::test]
async fn a_strimzi_kafka_and_kafka_user_resolve_to_a_working_connection() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    cluster.install_crd_files(&[workspace_root().join("test/fixtures/strimzi-crds.yaml")]).await?;
    let ns = cluster.namespace("strimzi").await?;
    let strimzi = StrimziApi::new(cluster.client.clone());
    let by_ref = |auth: Option<Authentication>| ClusterConnection {
        strimzi_cluster_ref: Some(StrimziClusterRef { name: "my-cluster".into(), ..Default::default() }),
        kafka_cluster: None,
        authentication: auth,
    };

    // Not there yet: a reason, not a crash.
    let missing = strimzi.kafka(&ns, "my-cluster").await?;
    let err = resolve(&ns, &by_ref(None), missing.as_ref(), None).expect_err("missing");
    assert_eq!(err.reason(), "KafkaNotFound");
    assert!(err.to_string().contains(&format!("{ns}/my-cluster")), "{err}");

    // Created through v1beta2 (as older Strimzi does), without status: not ready.
    cluster
        .apply_yaml(&ns, "apiVersion: kafka.strimzi.io/v1beta2\nkind: Kafka\nmetadata: {name: my-cluster}\nspec: {kafka: {replicas: 1}}\n")
        .await?;
    let fresh = strimzi.kafka(&ns, "my-cluster").await?;
    let err = resolve(&ns, &by_ref(None), fresh.as_ref(), None).expect_err("no status");
    assert_eq!(err.reason(), "KafkaNotReady");

    // The Cluster Operator's status: listeners pointing at the local broker, Ready.
    let kafkas: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &ns,
        &strimzi_backup_e2e::fixtures::strimzi_resource("v1beta2", "Kafka", "kafkas"),
    );
    let status = serde_json::json!({"status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "listeners": [{"name": "plain", "bootstrapServers": cluster.env.kafka_bootstrap()}],
    }});
    kafkas.patch_status("my-cluster", &PatchParams::default(), &Patch::Merge(&status)).await?;
    let ready = strimzi.kafka(&ns, "my-cluster").await?;
    let job = resolve(&ns, &by_ref(None), ready.as_ref(), None).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(job.kafka.bootstrap_servers, cluster.env.kafka_bootstrap());
    assert!(job.volumes.is_empty(), "a plain listener needs no CA");
    // The resolved connection reaches the broker.
    let config: ClientConfig = job.kafka.client_config().map_err(anyhow::Error::msg)?;
    let consumer: BaseConsumer = config.create()?;
    let metadata = consumer.fetch_metadata(None, std::time::Duration::from_secs(10))?;
    assert!(!metadata.brokers().is_empty());

    // A SCRAM KafkaUser (served as v1): its status.username is the SASL user name.
    cluster
        .apply_yaml(&ns, "apiVersion: kafka.strimzi.io/v1\nkind: KafkaUser\nmetadata: {name: backup}\nspec: {authentication: {type: scram-sha-512}}\n")
        .await?;
    let users: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &ns,
        &strimzi_backup_e2e::fixtures::strimzi_resource("v1", "KafkaUser", "kafkausers"),
    );
    let user_status = serde_json::json!({"status": {"username": "backup-user", "secret": "backup"}});
    users.patch_status("backup", &PatchParams::default(), &Patch::Merge(&user_status)).await?;
    let username = strimzi.kafka_user_name(&ns, "backup").await?;
    assert_eq!(username.as_deref(), Some("backup-user"));
    let scram = Authentication {
        type_: AuthenticationType::ScramSha512,
        kafka_user_ref: Some(KafkaUserRef { name: "backup".into() }),
        ..Default::default()
    };
    let job = resolve(&ns, &by_ref(Some(scram)), ready.as_ref(), username.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(
        matches!(job.kafka.authentication, Some(ConnectionAuth::ScramSha512 { ref username, .. }) if username == "backup-user")
    );
    assert_eq!(job.volumes[0].secret.as_ref().and_then(|s| s.secret_name.as_deref()), Some("backup"));
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
