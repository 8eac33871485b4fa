//! `restore.strimziResources`: the `KafkaTopic`s and `KafkaUser`s a backup stored
//! (`backup.strimziResources`, [`crate::format::strimzi_resources`]) recreated in a namespace of
//! the target, for the target's `Kafka` (docs/strimzi-resources.md).
//!
//! What is recreated ([`desired`]):
//! - a `KafkaTopic` only when the restore selects its topic (`spec.topics`), under the target
//!   topic of `topicMapping`: `metadata.name` the renamed topic's object name (as
//!   `topicCreation: strimzi` names it, [`super::strimzi_topics::resource_name`]) and
//!   `spec.topicName` the renamed topic when that name is no valid object name;
//! - every `KafkaUser`, with its `LITERAL` topic ACLs of mapped topics naming the target topic
//!   (a `prefix` ACL is kept as it is, as `restore.metadata.acls` does);
//! - the kinds `kinds` names; the others are counted as skipped.
//!
//! Each gets the label `strimzi.io/cluster: <targetCluster>`, the annotation
//! [`super::strimzi_topics::RESTORED_BY`] and no owner reference: deleting the `KafkaRestore`
//! must never make the garbage collector delete them (the Topic Operator would then delete the
//! topic, the User Operator the user). An existing one of the same name that declares the same
//! (spec and `strimzi.io/cluster`) is left alone; one that declares anything else refuses the
//! restore before anything is written ([`compare`]).

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, ObjectMeta, PostParams};
use serde_json::Value;

use super::strimzi_topics::{RESTORED_BY, resource_name};
use crate::api::restore::{KafkaRestore, StrimziKind, StrimziResourcesRestored};
use crate::format::strimzi_resources::{StrimziResources, name_of, topic_of};
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::restore::RestoreResult;

/// Where and which resources a restore recreates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub namespace: String,
    pub cluster: String,
    pub kinds: Vec<StrimziKind>,
}

/// The restore's target for `restore.strimziResources`; `None` when it does not ask for them
/// (or names no Strimzi cluster, which the rules refuse).
pub fn target(kr: &KafkaRestore) -> Option<Target> {
    let sr = kr.spec.restore.strimzi_resources.as_ref()?;
    let r = kr.spec.cluster.strimzi_cluster_ref.as_ref()?;
    let kafka_ns = r.namespace.clone().or_else(|| kr.namespace()).unwrap_or_default();
    Some(Target {
        namespace: sr.target_namespace.clone().unwrap_or(kafka_ns),
        cluster: sr.target_cluster.clone().unwrap_or_else(|| r.name.clone()),
        kinds: sr.kinds.clone(),
    })
}

/// One resource to recreate.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub kind: StrimziKind,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub spec: Value,
}

/// What [`desired`] found: the resources to recreate and how many were skipped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selected {
    pub desired: Vec<Desired>,
    pub skipped: usize,
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// The resources of `stored` the restore recreates, renamed and relabelled for `target`.
/// `restored` says whether the restore selects a source topic; `rename` maps it to its target.
pub fn desired(
    stored: &StrimziResources,
    target: &Target,
    restored_by: &str,
    restored: impl Fn(&str) -> bool,
    rename: impl Fn(&str) -> String,
) -> Selected {
    let mut out = Selected::default();
    let meta = |r: &Value| {
        let mut labels = string_map(r.pointer("/metadata/labels"));
        labels.insert("strimzi.io/cluster".into(), target.cluster.clone());
        let mut annotations = string_map(r.pointer("/metadata/annotations"));
        annotations.insert(RESTORED_BY.into(), restored_by.to_string());
        (labels, annotations)
    };
    for t in &stored.kafka_topics {
        let topic = topic_of(t);
        if !target.kinds.contains(&StrimziKind::KafkaTopic) || !restored(topic) {
            out.skipped += 1;
            continue;
        }
        let renamed = rename(topic);
        let (labels, annotations) = meta(t);
        let mut spec = t.get("spec").cloned().unwrap_or_else(|| Value::Object(Default::default()));
        // A topic kept under its own name keeps its KafkaTopic's name and spec as they were.
        let name = if renamed == topic {
            name_of(t).to_string()
        } else {
            let name = resource_name(&renamed);
            if let Some(s) = spec.as_object_mut() {
                match name == renamed {
                    true => s.remove("topicName"),
                    false => s.insert("topicName".into(), Value::String(renamed.clone())),
                };
            }
            name
        };
        out.desired.push(Desired { kind: StrimziKind::KafkaTopic, name, labels, annotations, spec });
    }
    for u in &stored.kafka_users {
        if !target.kinds.contains(&StrimziKind::KafkaUser) {
            out.skipped += 1;
            continue;
        }
        let (labels, annotations) = meta(u);
        let mut spec = u.get("spec").cloned().unwrap_or_else(|| Value::Object(Default::default()));
        if let Some(acls) = spec.pointer_mut("/authorization/acls").and_then(Value::as_array_mut) {
            for acl in acls {
                let Some(resource) = acl.get_mut("resource") else { continue };
                let literal_topic = resource.get("type").and_then(Value::as_str) == Some("topic")
                    && resource.get("patternType").and_then(Value::as_str).is_none_or(|p| p == "literal");
                if let Some(name) = resource.get("name").and_then(Value::as_str).filter(|_| literal_topic) {
                    let renamed = rename(name);
                    resource["name"] = Value::String(renamed);
                }
            }
        }
        out.desired.push(Desired {
            kind: StrimziKind::KafkaUser,
            name: name_of(u).to_string(),
            labels,
            annotations,
            spec,
        });
    }
    out
}

/// Every top-level field of the spec in which `existing` declares something else than `d`, and
/// its cluster label when that differs.
pub fn disagreements(existing: &DynamicObject, d: &Desired) -> Vec<String> {
    let mut out = Vec::new();
    let have_cluster = existing.labels().get("strimzi.io/cluster").cloned();
    let want_cluster = d.labels.get("strimzi.io/cluster").cloned();
    if have_cluster != want_cluster {
        out.push(format!(
            "label strimzi.io/cluster is {}, the backup's is {}",
            have_cluster.as_deref().unwrap_or("not set"),
            want_cluster.as_deref().unwrap_or("not set")
        ));
    }
    let empty = serde_json::Map::new();
    let have = existing.data.get("spec").and_then(Value::as_object).unwrap_or(&empty);
    let want = d.spec.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = have.keys().chain(want.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        match (have.get(key), want.get(key)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => out.push(format!("spec.{key} is {a}, the backup's is {b}")),
            (None, Some(b)) => out.push(format!("spec.{key} is not set, the backup's is {b}")),
            (Some(a), None) => out.push(format!("spec.{key} is {a}, the backup's does not set it")),
            (None, None) => {}
        }
    }
    out
}

fn kind_name(kind: StrimziKind) -> &'static str {
    match kind {
        StrimziKind::KafkaTopic => "KafkaTopic",
        StrimziKind::KafkaUser => "KafkaUser",
    }
}

/// Given what the namespace holds of each kind: the resources to create, how many agree already,
/// and every refusal.
pub fn compare(
    existing: &BTreeMap<StrimziKind, Vec<DynamicObject>>,
    namespace: &str,
    desired: &[Desired],
) -> (Vec<Desired>, usize, Vec<String>) {
    let (mut missing, mut unchanged, mut problems) = (Vec::new(), 0, Vec::new());
    for d in desired {
        let found = existing.get(&d.kind).and_then(|list| list.iter().find(|o| o.name_any() == d.name));
        match found {
            None => missing.push(d.clone()),
            Some(o) => match disagreements(o, d) {
                wrong if wrong.is_empty() => unchanged += 1,
                wrong => problems.push(format!(
                    "{} {namespace}/{} already exists and declares something else than the backup: {}; change or \
                     delete it, or restore into another spec.restore.strimziResources.targetNamespace",
                    kind_name(d.kind),
                    d.name,
                    wrong.join(", ")
                )),
            },
        }
    }
    (missing, unchanged, problems)
}

/// The object creating `d` in `resource`'s version.
pub fn object(resource: &ApiResource, namespace: &str, d: &Desired) -> DynamicObject {
    let mut obj =
        DynamicObject::new(&d.name, resource).within(namespace).data(serde_json::json!({ "spec": d.spec }));
    obj.metadata = ObjectMeta {
        name: Some(d.name.clone()),
        namespace: Some(namespace.to_string()),
        labels: Some(d.labels.clone()),
        annotations: Some(d.annotations.clone()),
        ..Default::default()
    };
    obj
}

/// The backup's resources as the restore Job reported them (`restored`: the plan's or the
/// run's result); `Err` when the restore asks for them and the result does not carry them.
pub fn stored(restored: &RestoreResult) -> std::result::Result<StrimziResources, String> {
    match &restored.strimzi_resources {
        Some(handoff) => handoff.unpack(),
        None => Err("the restore Job reported no Strimzi resources (its image may predate \
                     restore.strimziResources)"
            .into()),
    }
}

/// What the target namespace holds against what the restore recreates: the resources to
/// create, with the API of each kind, and the counts so far; `Err` with every refusal.
struct Examined {
    missing: Vec<Desired>,
    apis: BTreeMap<StrimziKind, (Api<DynamicObject>, ApiResource)>,
    done: StrimziResourcesRestored,
}

async fn examine(
    ctx: &Context,
    kr: &KafkaRestore,
    target: &Target,
    stored: &StrimziResources,
) -> Result<std::result::Result<Examined, String>> {
    // Into another namespace only for a Kafka there that shares itself with the restore's (the
    // webhook also checked the user may read it): otherwise anyone who may create a KafkaRestore
    // could have the operator write KafkaUsers, with their ACLs, into any namespace.
    let own = kr.namespace().unwrap_or_default();
    let cross = crate::api::tenancy::restore(&own, &kr.spec)
        .into_iter()
        .find(|c| c.field.starts_with("spec.restore.strimziResources"));
    if let Some(cross) = cross {
        let kafka = ctx
            .strimzi
            .get("Kafka", &cross.namespace, &cross.name)
            .await
            .map_err(Error::read(format!("Kafka {}/{}", cross.namespace, cross.name)))?;
        if !kafka.is_some_and(|k| crate::api::tenancy::allows(k.metadata.annotations.as_ref(), &own)) {
            return Ok(Err(cross.not_allowed(&own, None).to_string()));
        }
    }
    let filter = match kr.spec.topics.filter("spec.topics") {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let mapping: BTreeMap<&str, &str> =
        kr.spec.topic_mapping.iter().map(|m| (m.source_topic.as_str(), m.target_topic.as_str())).collect();
    let restored_by = format!("{}/{}", kr.namespace().unwrap_or_default(), kr.name_any());
    let selected = desired(
        stored,
        target,
        &restored_by,
        |t| filter.matches(t),
        |t| mapping.get(t).map_or_else(|| t.to_string(), |m| m.to_string()),
    );
    let served =
        ctx.strimzi.served(crate::strimzi::TTL).await.map_err(Error::read("Strimzi's API versions"))?;
    let ns = &target.namespace;
    let mut apis = BTreeMap::new();
    let mut existing = BTreeMap::new();
    for kind in target.kinds.iter().copied().filter(|k| selected.desired.iter().any(|d| d.kind == *k)) {
        let Some(resource) = served.resource(kind_name(kind)).cloned() else {
            return Ok(Err(format!(
                "spec.restore.strimziResources restores {}s but the cluster does not serve Strimzi's {} \
                 (kafka.strimzi.io v1 or v1beta2): install Strimzi's CRDs, or leave the kind out of kinds",
                kind_name(kind),
                kind_name(kind)
            )));
        };
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &resource);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(Error::read(format!("the {}s of namespace {ns}", kind_name(kind))))?
            .items;
        existing.insert(kind, list);
        apis.insert(kind, (api, resource));
    }
    let (missing, unchanged, problems) = compare(&existing, ns, &selected.desired);
    if !problems.is_empty() {
        return Ok(Err(problems.join("; ")));
    }
    let done = StrimziResourcesRestored {
        unchanged: i32::try_from(unchanged).unwrap_or(i32::MAX),
        skipped: i32::try_from(selected.skipped).unwrap_or(i32::MAX),
        ..Default::default()
    };
    Ok(Ok(Examined { missing, apis, done }))
}

/// At the plan, before anything is written: what the restore would recreate (the `created`
/// counts: to be created), or `Err` with the refusal when a resource it would recreate exists
/// and declares something else, or the Job could not hand the backup's resources over.
pub async fn check(
    ctx: &Context,
    kr: &KafkaRestore,
    plan: &RestoreResult,
) -> Result<std::result::Result<StrimziResourcesRestored, String>> {
    let Some(target) = target(kr) else { return Ok(Ok(Default::default())) };
    let stored = match stored(plan) {
        Ok(s) => s,
        Err(e) => return Ok(Err(format!("spec.restore.strimziResources: {e}"))),
    };
    Ok(examine(ctx, kr, &target, &stored).await?.map(|Examined { missing, mut done, .. }| {
        let count =
            |kind| i32::try_from(missing.iter().filter(|d| d.kind == kind).count()).unwrap_or(i32::MAX);
        done.kafka_topics_created = count(StrimziKind::KafkaTopic);
        done.kafka_users_created = count(StrimziKind::KafkaUser);
        done
    }))
}

/// Recreates the resources of `stored` for `kr`: `Err` with the refusal when one that exists
/// declares something else (nothing is created then).
pub async fn declare(
    ctx: &Context,
    kr: &KafkaRestore,
    stored: &StrimziResources,
) -> Result<std::result::Result<StrimziResourcesRestored, String>> {
    let Some(target) = target(kr) else { return Ok(Ok(Default::default())) };
    let Examined { missing, apis, mut done } = match examine(ctx, kr, &target, stored).await? {
        Ok(e) => e,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let ns = &target.namespace;
    for d in &missing {
        let Some((api, resource)) = apis.get(&d.kind) else { continue };
        let obj = object(resource, ns, d);
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                return Err(Error::Waiting(format!(
                    "{} {ns}/{} appeared while being created",
                    kind_name(d.kind),
                    d.name
                )));
            }
            Err(e) => return Err(Error::write(format!("{} {ns}/{}", kind_name(d.kind), d.name))(e)),
        }
        match d.kind {
            StrimziKind::KafkaTopic => done.kafka_topics_created += 1,
            StrimziKind::KafkaUser => done.kafka_users_created += 1,
        }
    }
    Ok(Ok(done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::strimzi_resources::RESOURCES_VERSION;
    use serde_json::json;

    fn stored() -> StrimziResources {
        let topic = |name: &str, extra: Value| {
            let mut t = json!({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
                "metadata": {"name": name, "labels": {"strimzi.io/cluster": "src", "team": "a"}},
                "spec": {"partitions": 3, "replicas": 3}});
            if let (Some(spec), Some(extra)) = (t["spec"].as_object_mut(), extra.as_object()) {
                spec.extend(extra.clone());
            }
            t
        };
        StrimziResources {
            resources_version: RESOURCES_VERSION,
            captured_at: "t".into(),
            namespace: "kafka".into(),
            cluster: "src".into(),
            kafka_topics: vec![
                topic("orders", json!({})),
                topic("odd-1a2b3c4d", json!({"topicName": "Odd_Topic"})),
                topic("internal", json!({})),
            ],
            kafka_users: vec![json!({"kind": "KafkaUser", "metadata": {"name": "alice"}, "spec": {
                "authentication": {"type": "scram-sha-512"},
                "authorization": {"type": "simple", "acls": [
                    {"resource": {"type": "topic", "name": "orders", "patternType": "literal"}, "operations": ["Read"]},
                    {"resource": {"type": "topic", "name": "orders", "patternType": "prefix"}, "operations": ["Read"]},
                    {"resource": {"type": "group", "name": "orders"}, "operations": ["Read"]}]}}})],
        }
    }

    fn target(kinds: Vec<StrimziKind>) -> Target {
        Target { namespace: "dr".into(), cluster: "dr-cluster".into(), kinds }
    }

    fn select(kinds: Vec<StrimziKind>) -> Selected {
        desired(
            &stored(),
            &target(kinds),
            "team/r",
            |t| t != "internal",
            |t| match t {
                "orders" => "orders-dr".into(),
                "Odd_Topic" => "orders.v2".into(),
                t => t.into(),
            },
        )
    }

    #[test]
    fn topics_are_renamed_relabelled_and_unselected_ones_skipped() {
        let s = select(vec![StrimziKind::KafkaTopic, StrimziKind::KafkaUser]);
        assert_eq!(s.skipped, 1, "internal is not restored");
        let names: Vec<&str> = s.desired.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["orders-dr", "orders.v2", "alice"]);
        let orders = &s.desired[0];
        assert_eq!(orders.labels["strimzi.io/cluster"], "dr-cluster");
        assert_eq!(orders.labels["team"], "a");
        assert_eq!(orders.annotations[RESTORED_BY], "team/r");
        assert!(orders.spec.get("topicName").is_none(), "a valid name needs none");
        // Renamed to a valid name: the old topicName goes.
        assert!(s.desired[1].spec.get("topicName").is_none(), "{:?}", s.desired[1]);
        // The user's literal topic ACL follows the rename; prefix and group ACLs do not.
        let acls = &s.desired[2].spec["authorization"]["acls"];
        assert_eq!(acls[0]["resource"]["name"], "orders-dr");
        assert_eq!(acls[1]["resource"]["name"], "orders");
        assert_eq!(acls[2]["resource"]["name"], "orders");
        // Users only.
        let users = select(vec![StrimziKind::KafkaUser]);
        assert_eq!((users.desired.len(), users.skipped), (1, 3));
    }

    #[test]
    fn a_topic_renamed_to_an_invalid_object_name_carries_it_in_topic_name() {
        let s = desired(
            &stored(),
            &target(vec![StrimziKind::KafkaTopic]),
            "team/r",
            |_| true,
            |t| match t {
                "orders" => "Orders_DR".into(),
                t => t.into(),
            },
        );
        let orders =
            s.desired.iter().find(|d| d.spec.get("topicName") == Some(&json!("Orders_DR"))).expect("renamed");
        assert!(orders.name.starts_with("orders-dr-"), "{}", orders.name);
        // Not renamed: name and spec as backed up.
        let odd = s.desired.iter().find(|d| d.name == "odd-1a2b3c4d").expect("kept");
        assert_eq!(odd.spec["topicName"], "Odd_Topic");
    }

    #[test]
    fn an_identical_resource_is_left_alone_and_a_different_one_refused_field_by_field() {
        let s = select(vec![StrimziKind::KafkaTopic]);
        let resource = ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("kafka.strimzi.io", "v1", "KafkaTopic"),
            "kafkatopics",
        );
        let same = object(&resource, "dr", &s.desired[0]);
        assert!(same.metadata.owner_references.is_none());
        let mut other = object(&resource, "dr", &s.desired[1]);
        other.data["spec"]["partitions"] = json!(6);
        other.metadata.labels = Some(BTreeMap::from([("strimzi.io/cluster".into(), "x".into())]));
        let existing = BTreeMap::from([(StrimziKind::KafkaTopic, vec![same, other])]);
        let (missing, unchanged, problems) = compare(&existing, "dr", &s.desired);
        assert_eq!((missing.len(), unchanged), (0, 1));
        assert_eq!(problems.len(), 1, "{problems:?}");
        for part in [
            "KafkaTopic dr/orders.v2 already exists",
            "label strimzi.io/cluster is x, the backup's is dr-cluster",
            "spec.partitions is 6, the backup's is 3",
            "targetNamespace",
        ] {
            assert!(problems[0].contains(part), "{part}: {}", problems[0]);
        }
        let (missing, _, problems) = compare(&BTreeMap::new(), "dr", &s.desired);
        assert_eq!((missing.len(), problems.len()), (2, 0));
    }
}
