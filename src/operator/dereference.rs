//! The "dereference" step of a reconcile: reading what a resource refers to — a Strimzi `Kafka`
//! and a `KafkaUser` — and nothing else. Strimzi serves `kafka.strimzi.io/v1` since 0.49 and
//! `v1beta2` before (and alongside, for a while); both are read, the newer first, so the
//! operator works with either Strimzi.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

use super::connection::{StrimziKafka, StrimziKafkaStatus};

/// API versions of Strimzi's resources, newest first.
const STRIMZI_VERSIONS: [&str; 2] = ["v1", "v1beta2"];

fn resource(version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("kafka.strimzi.io", version, kind), plural)
}

/// Reads a Strimzi resource in whichever version the cluster serves; `None` when it does not
/// exist (or Strimzi's CRDs are not installed).
async fn get_strimzi(
    client: &kube::Client,
    namespace: &str,
    kind: &str,
    plural: &str,
    name: &str,
) -> Result<Option<DynamicObject>, kube::Error> {
    for version in STRIMZI_VERSIONS {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &resource(version, kind, plural));
        if let Some(found) = api.get_opt(name).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The `Kafka` resource `namespace/name`, if it exists.
pub async fn strimzi_kafka(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<StrimziKafka>, kube::Error> {
    let Some(kafka) = get_strimzi(client, namespace, "Kafka", "kafkas", name).await? else { return Ok(None) };
    // A status that does not parse is treated like no status yet: not ready.
    let status =
        kafka.data.get("status").and_then(|s| serde_json::from_value::<StrimziKafkaStatus>(s.clone()).ok());
    Ok(Some(StrimziKafka { name: name.to_string(), namespace: namespace.to_string(), status }))
}

/// The SASL user name of a `KafkaUser`: its `status.username` (what the User Operator created),
/// or its name when it has no status yet.
pub async fn kafka_user_name(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, kube::Error> {
    let Some(user) = get_strimzi(client, namespace, "KafkaUser", "kafkausers", name).await? else {
        return Ok(None);
    };
    Ok(Some(
        user.data
            .get("status")
            .and_then(|s| s.get("username"))
            .and_then(|u| u.as_str())
            .unwrap_or(name)
            .to_string(),
    ))
}

/// Dereferences what `spec` names (the Strimzi `Kafka`, the `KafkaUser`) and resolves the
/// connection a Job in `namespace` gets. The outer error is the API server failing (retry); the
/// inner one is the user's to fix (condition, Event, wait).
pub async fn connection(
    client: &kube::Client,
    namespace: &str,
    spec: &crate::api::cluster::ClusterConnection,
) -> Result<Result<super::connection::JobConnection, super::connection::ConnectionError>, kube::Error> {
    let kafka = match &spec.strimzi_cluster_ref {
        Some(r) => strimzi_kafka(client, r.namespace.as_deref().unwrap_or(namespace), &r.name).await?,
        None => None,
    };
    let user = match spec.authentication.as_ref().and_then(|a| a.kafka_user_ref.as_ref()) {
        Some(u) => kafka_user_name(client, namespace, &u.name).await?,
        None => None,
    };
    Ok(super::connection::resolve(namespace, spec, kafka.as_ref(), user.as_deref()))
}
