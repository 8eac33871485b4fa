//! `restore.topicCreation: strimzi`: every topic the restore creates is declared as a Strimzi
//! `KafkaTopic`, so the (unidirectional) Topic Operator manages it from then on
//! (docs/strimzi-topics.md).
//!
//! The data plane creates the topic through the Admin API exactly as `auto` does and reports, per
//! created topic, its partitions, replication factor and every dynamic config it ends with
//! ([`crate::restore::result::TopicOutcome`]). The operator — the Job's ServiceAccount has no
//! Kubernetes rights — turns that into `KafkaTopic`s in the `Kafka`'s namespace:
//!
//! - [`check`], when the plan Job is done and before the restore Job writes anything: an existing
//!   `KafkaTopic` for a topic the restore creates that declares anything else (or the
//!   `KafkaTopic` kind not served at all) refuses the restore, naming the field and the fix.
//! - [`declare`], when the restore Job is done and before the restore is `Completed`: creates
//!   each one that is missing; one that exists and agrees exactly (created by an earlier attempt,
//!   or declared beforehand) is left as it is.
//!
//! The `KafkaTopic` carries no owner reference: deleting the `KafkaRestore` must never make the
//! garbage collector delete the `KafkaTopic`, which the Topic Operator would follow by deleting
//! the restored topic. After creating it the operator never changes or deletes it.

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, ObjectMeta, PostParams};
use serde_json::{Value, json};
use sha2::Digest;

use crate::api::restore::{KafkaRestore, TopicCreation};
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::restore::RestoreResult;
use crate::restore::result::TopicAction;

/// The kind, in Strimzi's group `kafka.strimzi.io`, read and created in the newest version the
/// cluster serves (`v1`, else `v1beta2`; [`crate::strimzi`]).
pub const KIND: &str = "KafkaTopic";

/// Annotation naming the `KafkaRestore` (`<namespace>/<name>`) that declared the topic.
pub const RESTORED_BY: &str = "kafkabackup.com/restored-by";

/// Where the `KafkaTopic`s of a `topicCreation: strimzi` restore go: the `Kafka`'s namespace and
/// name (`strimzi.io/cluster`). `None` for any other restore.
pub fn target(kr: &KafkaRestore) -> Option<(String, String)> {
    if kr.spec.restore.topic_creation != TopicCreation::Strimzi {
        return None;
    }
    let r = kr.spec.cluster.strimzi_cluster_ref.as_ref()?;
    let ns = r.namespace.clone().or_else(|| kr.namespace()).unwrap_or_default();
    Some((ns, r.name.clone()))
}

/// One topic as its `KafkaTopic` declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub topic: String,
    pub partitions: i32,
    pub replicas: i32,
    pub config: BTreeMap<String, String>,
}

/// The topics a restore result says were (in a plan: will be) created, as their `KafkaTopic`s
/// declare them; an error when the result does not carry what a declaration needs.
pub fn desired(r: &RestoreResult) -> std::result::Result<Vec<Desired>, String> {
    if r.topics.is_empty() && r.restored_topics > 0 {
        return Err(format!(
            "the Job's per-topic result is gone (its pod's log could not be read, only its termination \
             summary), so the {} restored topics cannot be declared as KafkaTopics: run the restore again \
             as a new KafkaRestore",
            r.restored_topics
        ));
    }
    r.topics
        .iter()
        .filter(|t| t.action == TopicAction::Create)
        .map(|t| {
            let replicas = t.replication_factor.ok_or_else(|| {
                format!(
                    "the result of topic {} carries no replication factor (a data plane older than the \
                     operator?): its KafkaTopic cannot be declared",
                    t.target
                )
            })?;
            Ok(Desired {
                topic: t.target.clone(),
                partitions: t.partitions,
                replicas,
                config: t.configs.clone(),
            })
        })
        .collect()
}

/// The `KafkaTopic`'s name: the topic's own when it is a valid object name, else the topic
/// lower-cased with every other character a `-`, and 8 hex digits of its SHA-256 (the topic then
/// goes in `spec.topicName`). Deterministic: a retried restore finds what it created.
pub fn resource_name(topic: &str) -> String {
    if crate::restore_points::is_dns_subdomain(topic) {
        return topic.to_string();
    }
    let readable: String = topic
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.') => c,
            _ => '-',
        })
        .collect();
    let readable = readable.trim_matches(['-', '.']);
    let hash = hex::encode(&sha2::Sha256::digest(topic.as_bytes())[..4]);
    match readable.is_empty() {
        true => format!("topic-{hash}"),
        false => format!("{readable}-{hash}"),
    }
}

/// The topic a `KafkaTopic` declares: `spec.topicName`, else its name.
fn declared_topic(kt: &DynamicObject) -> String {
    kt.data.pointer("/spec/topicName").and_then(Value::as_str).map_or_else(|| kt.name_any(), str::to_string)
}

fn cluster_label(kt: &DynamicObject) -> Option<&str> {
    kt.labels().get("strimzi.io/cluster").map(String::as_str)
}

/// A config value as the Topic Operator hands it to Kafka: strings as they are, numbers and
/// booleans printed, lists joined with commas.
fn config_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(config_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Every field in which `kt` declares something else than the restored topic has, by its path.
pub fn disagreements(kt: &DynamicObject, d: &Desired) -> Vec<String> {
    let mut out = Vec::new();
    let restored = "the restored topic has";
    for (field, want) in [("partitions", d.partitions), ("replicas", d.replicas)] {
        match kt.data.pointer(&format!("/spec/{field}")) {
            Some(v) if v.as_i64() == Some(i64::from(want)) => {}
            Some(v) => out.push(format!("spec.{field} is {v}, {restored} {want}")),
            None => out.push(format!("spec.{field} is not set, {restored} {want}")),
        }
    }
    let empty = serde_json::Map::new();
    let have = kt.data.pointer("/spec/config").and_then(Value::as_object).unwrap_or(&empty);
    for (key, want) in &d.config {
        match have.get(key).map(config_text) {
            Some(v) if &v == want => {}
            Some(v) => out.push(format!("spec.config.{key} is {v}, {restored} {want}")),
            None => out.push(format!("spec.config.{key} is not set, {restored} {want}")),
        }
    }
    for (key, v) in have.iter().filter(|(k, _)| !d.config.contains_key(*k)) {
        out.push(format!("spec.config.{key} is {}, the restored topic does not set it", config_text(v)));
    }
    out
}

/// What is to be done for each desired topic, given the `KafkaTopic`s of the namespace: the
/// names to create, and every problem (a `KafkaTopic` for the topic, or under the name the
/// restore would use, that declares anything else).
pub fn compare(
    existing: &[DynamicObject],
    namespace: &str,
    cluster: &str,
    desired: &[Desired],
) -> (Vec<Desired>, Vec<String>) {
    let fix = "change or delete that KafkaTopic, or restore under another name with spec.topicMapping";
    let mut missing = Vec::new();
    let mut problems = Vec::new();
    for d in desired {
        let name = resource_name(&d.topic);
        let same_topic =
            existing.iter().find(|kt| cluster_label(kt) == Some(cluster) && declared_topic(kt) == d.topic);
        let same_name = existing.iter().find(|kt| kt.name_any() == name);
        match (same_topic, same_name) {
            (Some(kt), _) => {
                let wrong = disagreements(kt, d);
                if !wrong.is_empty() {
                    problems.push(format!(
                        "KafkaTopic {namespace}/{} already declares topic {} of Kafka {cluster}, and not as \
                         restored: {}; {fix}",
                        kt.name_any(),
                        d.topic,
                        wrong.join(", ")
                    ));
                }
            }
            (None, Some(kt)) => problems.push(format!(
                "KafkaTopic {namespace}/{name}, the name the restore gives the KafkaTopic of topic {}, already \
                 exists for topic {} of Kafka {}: {fix}",
                d.topic,
                declared_topic(kt),
                cluster_label(kt).unwrap_or("(no strimzi.io/cluster label)")
            )),
            (None, None) => missing.push(d.clone()),
        }
    }
    (missing, problems)
}

/// The `KafkaTopic` declaring `d`, in `resource`'s version.
pub fn object(
    kr: &KafkaRestore,
    resource: &ApiResource,
    namespace: &str,
    cluster: &str,
    d: &Desired,
) -> DynamicObject {
    let name = resource_name(&d.topic);
    let mut spec = json!({
        "partitions": d.partitions,
        "replicas": d.replicas,
        "config": d.config,
    });
    if name != d.topic {
        spec["topicName"] = json!(d.topic);
    }
    let mut obj = DynamicObject::new(&name, resource).within(namespace).data(json!({ "spec": spec }));
    obj.metadata = ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_string()),
        labels: Some(crate::operator::job::labels("restored-topic", &kr.name_any(), Some(cluster))),
        annotations: Some(BTreeMap::from([(
            RESTORED_BY.to_string(),
            format!("{}/{}", kr.namespace().unwrap_or_default(), kr.name_any()),
        )])),
        ..Default::default()
    };
    obj
}

/// The `KafkaTopic` API in the version served, or why there is none.
async fn api(
    ctx: &Context,
    namespace: &str,
) -> Result<std::result::Result<(Api<DynamicObject>, ApiResource), String>> {
    let served =
        ctx.strimzi.served(crate::strimzi::TTL).await.map_err(Error::read("Strimzi's API versions"))?;
    let resource = match served.resource(KIND) {
        Some(r) => r.clone(),
        // Installed since the last discovery? Ask again before refusing.
        None => match ctx.strimzi.served(std::time::Duration::ZERO).await {
            Ok(s) => match s.resource(KIND) {
                Some(r) => r.clone(),
                None => {
                    return Ok(Err(
                        "spec.restore.topicCreation is strimzi but the cluster does not serve Strimzi's KafkaTopic \
                         (kafka.strimzi.io v1 or v1beta2): install Strimzi's CRDs, or use topicCreation auto"
                            .into(),
                    ));
                }
            },
            Err(e) => return Err(Error::read("Strimzi's API versions")(e)),
        },
    };
    Ok(Ok((Api::namespaced_with(ctx.client.clone(), namespace, &resource), resource)))
}

async fn list(api: &Api<DynamicObject>, namespace: &str) -> Result<Vec<DynamicObject>> {
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(Error::read(format!("the KafkaTopics of namespace {namespace}")))?
        .items)
}

/// Before anything is written (the plan is done): `Err` with the refusal when the restore
/// cannot declare the topics it would create.
pub async fn check(
    ctx: &Context,
    kr: &KafkaRestore,
    plan: &RestoreResult,
) -> Result<std::result::Result<(), String>> {
    let Some((namespace, cluster)) = target(kr) else { return Ok(Ok(())) };
    let desired = match desired(plan) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let (api, _) = match api(ctx, &namespace).await? {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    if desired.is_empty() {
        return Ok(Ok(()));
    }
    let (_, problems) = compare(&list(&api, &namespace).await?, &namespace, &cluster, &desired);
    Ok(if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) })
}

/// Once restored, before `Completed`: creates the `KafkaTopic` of every created topic that has
/// none. `Ok` with the names created now; `Err` with why the topics cannot be declared as
/// restored.
pub async fn declare(
    ctx: &Context,
    kr: &KafkaRestore,
    restored: &RestoreResult,
) -> Result<std::result::Result<Vec<String>, String>> {
    let Some((namespace, cluster)) = target(kr) else { return Ok(Ok(Vec::new())) };
    let desired = match desired(restored) {
        Ok(d) if d.is_empty() => return Ok(Ok(Vec::new())),
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let (api, resource) = match api(ctx, &namespace).await? {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let (missing, problems) = compare(&list(&api, &namespace).await?, &namespace, &cluster, &desired);
    if !problems.is_empty() {
        return Ok(Err(problems.join("; ")));
    }
    let mut created = Vec::new();
    for d in &missing {
        let obj = object(kr, &resource, &namespace, &cluster, d);
        let name = obj.name_any();
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => {
                tracing::info!(namespace = %namespace, kafka_topic = %name, topic = %d.topic, "declared the restored topic as a KafkaTopic");
                created.push(name);
            }
            // Created since the list (another replica): compared again at the next reconcile.
            Err(kube::Error::Api(s)) if s.code == 409 => {
                return Err(Error::Waiting(format!(
                    "KafkaTopic {namespace}/{name} appeared while being created"
                )));
            }
            Err(e) => return Err(Error::write(format!("KafkaTopic {namespace}/{name}"))(e)),
        }
    }
    Ok(Ok(created))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::result::TopicOutcome;

    fn resource() -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("kafka.strimzi.io", "v1", KIND),
            "kafkatopics",
        )
    }

    fn desired_orders() -> Desired {
        Desired {
            topic: "orders-dr".into(),
            partitions: 3,
            replicas: 1,
            config: BTreeMap::from([
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("retention.ms".to_string(), "86400000".to_string()),
            ]),
        }
    }

    fn kafka_topic(name: &str, cluster: &str, spec: Value) -> DynamicObject {
        let mut kt = DynamicObject::new(name, &resource()).within("kafka").data(json!({ "spec": spec }));
        kt.metadata.labels = Some(BTreeMap::from([("strimzi.io/cluster".to_string(), cluster.to_string())]));
        kt
    }

    #[test]
    fn names_are_the_topics_own_when_valid_else_readable_and_hashed() {
        assert_eq!(resource_name("orders-dr"), "orders-dr");
        assert_eq!(resource_name("orders.v2"), "orders.v2");
        let odd = resource_name("Orders_DR");
        assert!(odd.starts_with("orders-dr-") && odd.len() == "orders-dr-".len() + 8, "{odd}");
        assert_ne!(resource_name("Orders_DR"), resource_name("orders_dr"));
        assert!(crate::restore_points::is_dns_subdomain(&resource_name("__x__")));
        assert!(resource_name("___").starts_with("topic-"));
    }

    #[test]
    fn the_object_declares_exactly_the_restored_topic() {
        let kr: KafkaRestore = serde_yaml_ng::from_str(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {name: dr, namespace: team}\nspec:\n  strimziClusterRef: {name: my-cluster, namespace: kafka}\n  backupRef: {name: b}\n  restore: {topicCreation: strimzi}\n",
        )
        .expect("restore");
        assert_eq!(target(&kr), Some(("kafka".to_string(), "my-cluster".to_string())));
        let mut d = desired_orders();
        d.topic = "Orders_DR".into();
        let obj = object(&kr, &resource(), "kafka", "my-cluster", &d);
        assert_eq!(obj.metadata.namespace.as_deref(), Some("kafka"));
        assert_eq!(obj.labels().get("strimzi.io/cluster").map(String::as_str), Some("my-cluster"));
        assert_eq!(obj.annotations().get(RESTORED_BY).map(String::as_str), Some("team/dr"));
        assert!(obj.metadata.owner_references.is_none());
        assert_eq!(obj.data["spec"]["topicName"], "Orders_DR");
        assert_eq!(obj.data["spec"]["partitions"], 3);
        assert_eq!(obj.data["spec"]["replicas"], 1);
        assert_eq!(obj.data["spec"]["config"]["retention.ms"], "86400000");
        // A valid name needs no topicName.
        let plain = object(&kr, &resource(), "kafka", "my-cluster", &desired_orders());
        assert!(plain.data["spec"].get("topicName").is_none());
    }

    #[test]
    fn an_agreeing_kafka_topic_is_adopted_and_a_disagreeing_one_named_field_by_field() {
        let d = desired_orders();
        let same = kafka_topic(
            "orders-dr",
            "my-cluster",
            json!({"partitions": 3, "replicas": 1, "config": {"cleanup.policy": "compact", "retention.ms": 86400000}}),
        );
        let (missing, problems) = compare(&[same], "kafka", "my-cluster", std::slice::from_ref(&d));
        assert!(missing.is_empty() && problems.is_empty(), "{problems:?}");

        let other = kafka_topic(
            "orders-dr",
            "my-cluster",
            json!({"partitions": 6, "config": {"retention.ms": "1000", "segment.bytes": 1024}}),
        );
        let (_, problems) = compare(&[other], "kafka", "my-cluster", std::slice::from_ref(&d));
        assert_eq!(problems.len(), 1, "{problems:?}");
        for part in [
            "KafkaTopic kafka/orders-dr already declares topic orders-dr of Kafka my-cluster",
            "spec.partitions is 6, the restored topic has 3",
            "spec.replicas is not set, the restored topic has 1",
            "spec.config.cleanup.policy is not set, the restored topic has compact",
            "spec.config.retention.ms is 1000, the restored topic has 86400000",
            "spec.config.segment.bytes is 1024, the restored topic does not set it",
            "spec.topicMapping",
        ] {
            assert!(problems[0].contains(part), "{part}: {}", problems[0]);
        }

        // Another cluster's KafkaTopic under the name the restore needs.
        let taken = kafka_topic("orders-dr", "other-cluster", json!({"partitions": 3, "replicas": 1}));
        let (missing, problems) = compare(&[taken], "kafka", "my-cluster", std::slice::from_ref(&d));
        assert!(missing.is_empty());
        assert!(
            problems[0].contains("already exists for topic orders-dr of Kafka other-cluster"),
            "{problems:?}"
        );

        // Nothing there: created.
        let (missing, problems) = compare(&[], "kafka", "my-cluster", std::slice::from_ref(&d));
        assert_eq!((missing, problems.len()), (vec![d], 0));
    }

    #[test]
    fn only_created_topics_are_declared_and_a_summary_is_not_enough() {
        let outcome = |target: &str, action| TopicOutcome {
            source: "orders".into(),
            target: target.into(),
            action,
            partitions: 3,
            records: 9,
            bytes: 9,
            replication_factor: Some(1),
            configs: BTreeMap::from([("retention.ms".to_string(), "5".to_string())]),
        };
        let r = RestoreResult {
            restored_topics: 2,
            topics: vec![outcome("new", TopicAction::Create), outcome("old", TopicAction::Append)],
            ..Default::default()
        };
        let d = desired(&r).expect("declarable");
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].topic.as_str(), d[0].partitions, d[0].replicas), ("new", 3, 1));
        let summary = RestoreResult { restored_topics: 2, ..Default::default() };
        assert!(desired(&summary).expect_err("no topics").contains("cannot be declared"));
    }
}
