//! Reading Strimzi's resources from the real apiserver, in either API version Strimzi serves,
//! and resolving them into a connection that really reaches the broker; and Strimzi's real
//! schema at work: what it does not define is pruned, what the operator reads is kept.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use strimzi_backup_e2e::fixtures::Cluster;
use strimzi_backup_e2e::strimzi::{self, StrimziLine};
use strimzi_backup_operator::api::cluster::{
    Authentication, AuthenticationType, ClusterConnection, KafkaUserRef, StrimziClusterRef,
};
use strimzi_backup_operator::kafka::ConnectionAuth;
use strimzi_backup_operator::operator::connection::resolve;
use strimzi_backup_operator::operator::dereference::StrimziApi;

#[tokio::test]
async fn a_strimzi_kafka_and_kafka_user_resolve_to_a_working_connection() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    cluster.install_crd_files(&StrimziLine::Both.files()?).await?;
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
    let applied = cluster.apply_yaml(&ns, &strimzi::kafka_yaml("my-cluster", "v1beta2")).await?;
    let generation = applied.first().and_then(|k| k.metadata.generation).unwrap_or(1);
    let fresh = strimzi.kafka(&ns, "my-cluster").await?;
    let err = resolve(&ns, &by_ref(None), fresh.as_ref(), None).expect_err("no status");
    assert_eq!(err.reason(), "KafkaNotReady");

    // The Cluster Operator's status: listeners pointing at the local broker, Ready.
    let kafkas: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &ns,
        &strimzi_backup_e2e::fixtures::strimzi_resource("v1beta2", "Kafka", "kafkas"),
    );
    let status = strimzi::ready_kafka_status(generation, cluster.env.kafka_bootstrap());
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
    cluster.apply_yaml(&ns, &strimzi::kafka_user_yaml("backup", "v1", "my-cluster")).await?;
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
    // A password never goes to a listener declared without authentication: this Kafka declares
    // only `plain` (none) and `tls` (none), so without listenerName SCRAM has no listener.
    let err = resolve(&ns, &by_ref(Some(scram.clone())), ready.as_ref(), username.as_deref())
        .expect_err("no listener takes SCRAM");
    assert_eq!(err.reason(), "ListenerNotFound");
    assert!(err.to_string().contains("takes this authentication"), "{err}");
    // Named by the user, the listener is used as named.
    let mut named = by_ref(Some(scram));
    if let Some(r) = named.strimzi_cluster_ref.as_mut() {
        r.listener_name = Some("plain".into());
    }
    let job =
        resolve(&ns, &named, ready.as_ref(), username.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(
        matches!(job.kafka.authentication, Some(ConnectionAuth::ScramSha512 { ref username, .. }) if username == "backup-user")
    );
    assert_eq!(job.volumes[0].secret.as_ref().and_then(|s| s.secret_name.as_deref()), Some("backup"));
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// Strimzi's schema (of the line the suite runs with) prunes status fields it does not define —
/// in both versions it serves — and keeps every one the operator reads; the operator reads the
/// Ready `Kafka`'s bootstrap and the `KafkaUser`'s name from what is kept. (The other lines:
/// strimzi_versions.rs, which replaces the CRDs.)
#[tokio::test]
async fn strimzi_s_schema_prunes_undefined_status_fields_and_keeps_what_the_operator_reads()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    cluster.install_crd_files(&StrimziLine::Both.files()?).await?;
    let ns = cluster.namespace("strimzi-prune").await?;
    let bootstrap = cluster.env.kafka_bootstrap();
    let reader = StrimziApi::new(cluster.client.clone());
    for version in ["v1beta2", "v1"] {
        let name = format!("c-{version}");
        let kept =
            strimzi::write_status_with_undefined_fields(&cluster, &ns, &name, version, bootstrap).await?;
        kept.check(&name, bootstrap)?;
        let kafka = reader.kafka(&ns, &name).await?;
        let by_ref = ClusterConnection {
            strimzi_cluster_ref: Some(StrimziClusterRef { name: name.clone(), ..Default::default() }),
            kafka_cluster: None,
            authentication: None,
        };
        let job =
            resolve(&ns, &by_ref, kafka.as_ref(), None).map_err(|e| anyhow::anyhow!("{version}: {e}"))?;
        assert_eq!(job.kafka.bootstrap_servers, bootstrap, "{version}");
        assert_eq!(reader.kafka_user_name(&ns, &name).await?, Some(format!("{name}-user")), "{version}");
    }
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
