//! `backup.strimziResources`: the operator — the backup Job's ServiceAccount has no Kubernetes
//! rights — reads the `KafkaTopic`s and `KafkaUser`s labelled `strimzi.io/cluster: <Kafka>` in
//! the `Kafka`'s namespace when it starts a run, strips them to what they declare
//! ([`crate::format::strimzi_resources::strip`]) and hands the object to the Job through a
//! ConfigMap of its own, gzip-compressed (a ConfigMap holds 1 MiB; thousands of `KafkaTopic`s
//! compress to far less). The run's config names only the file and the object's SHA-256
//! ([`crate::backup::strimzi_resources`]); the Job stores it and the manifest names it.
//!
//! The ConfigMap is owned by the Job: it goes when the Job is deleted, and a run never reads
//! another run's.
//!
//! A continuous backup ([`super::continuous`]) has one ConfigMap, `<kafkabackup>-continuous-strimzi`,
//! owned by the `KafkaBackup` and written again at a reconcile only when what it holds changed
//! ([`CONTENT_ANNOTATION`]: the read time aside). Its pod mounts it as a directory, so the kubelet
//! updates the file in place without restarting the pod, and its config names the file without a
//! hash ([`continuous_input`]): a new `KafkaTopic` must not roll the pod, and each iteration
//! stores the file as it reads it.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject, ListParams, ObjectMeta};
use kube::{Resource, ResourceExt};
use sha2::Digest;

use crate::api::backup::KafkaBackup;
use crate::backup::strimzi_resources::{FILE_NAME, MOUNT_DIR, StrimziResourcesInput};
use crate::format::strimzi_resources::{RESOURCES_VERSION, StrimziResources, sort, strip};
use crate::operator::children;
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::storage_access::StorageAccess;

/// The kinds backed up, in `kafka.strimzi.io`.
pub const KINDS: [&str; 2] = ["KafkaTopic", "KafkaUser"];

/// Most compressed bytes handed to a Job: below a ConfigMap's 1 MiB, with room for its metadata.
pub const MAX_COMPRESSED: usize = 900 * 1024;

/// The volume the object is mounted from.
const VOLUME: &str = "strimzi-resources";

/// The object read for one run: its gzip-compressed bytes and what the config names.
pub struct Packed {
    pub compressed: Vec<u8>,
    pub input: StrimziResourcesInput,
    pub kafka_topics: usize,
    pub kafka_users: usize,
    /// SHA-256 of the object without its read time: the same for the same declarations.
    pub content_sha256: String,
}

/// On a continuous backup's ConfigMap: [`Packed::content_sha256`] of what it holds.
pub const CONTENT_ANNOTATION: &str = "kafkabackup.com/strimzi-resources-sha256";

/// The ConfigMap of a run's Strimzi resources.
pub fn config_map_name(job: &str) -> String {
    format!("{job}-strimzi")
}

/// The `Kafka` whose resources a `KafkaBackup` backs up (namespace, name), when it asks to.
pub fn source(kb: &KafkaBackup) -> Option<(String, String)> {
    if !kb.spec.backup.strimzi_resources {
        return None;
    }
    let r = kb.spec.cluster.strimzi_cluster_ref.as_ref()?;
    Some((r.namespace.clone().or_else(|| kb.namespace()).unwrap_or_default(), r.name.clone()))
}

/// The object for the listed resources, packed; `Err` with the refusal when it is too large for a
/// ConfigMap even compressed.
pub fn pack(
    namespace: &str,
    cluster: &str,
    captured_at: String,
    topics: &[serde_json::Value],
    users: &[serde_json::Value],
) -> std::result::Result<Packed, String> {
    let mut kafka_topics: Vec<_> = topics.iter().map(strip).collect();
    let mut kafka_users: Vec<_> = users.iter().map(strip).collect();
    sort(&mut kafka_topics);
    sort(&mut kafka_users);
    let object = StrimziResources {
        resources_version: RESOURCES_VERSION,
        captured_at,
        namespace: namespace.to_string(),
        cluster: cluster.to_string(),
        kafka_topics,
        kafka_users,
    };
    let (bytes, reference) = object.to_object(String::new()).map_err(|e| e.to_string())?;
    let compressed = crate::format::strimzi_resources::gzip(&bytes).map_err(|e| e.to_string())?;
    if compressed.len() > MAX_COMPRESSED {
        return Err(format!(
            "the {} KafkaTopics and {} KafkaUsers of Kafka {namespace}/{cluster} are {} bytes compressed, more \
             than the {MAX_COMPRESSED} a ConfigMap can hand to the backup Job: set backup.strimziResources false \
             and keep them in Git",
            object.kafka_topics.len(),
            object.kafka_users.len(),
            compressed.len()
        ));
    }
    debug_assert_eq!(reference.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    let timeless = StrimziResources { captured_at: String::new(), ..object.clone() };
    let content = serde_json::to_vec(&timeless).map_err(|e| e.to_string())?;
    Ok(Packed {
        compressed,
        input: StrimziResourcesInput {
            file: format!("{MOUNT_DIR}/{FILE_NAME}").into(),
            sha256: Some(reference.sha256),
        },
        kafka_topics: object.kafka_topics.len(),
        kafka_users: object.kafka_users.len(),
        content_sha256: hex::encode(sha2::Sha256::digest(&content)),
    })
}

/// Lists `kind` labelled for `cluster` in `namespace`; empty when Strimzi does not serve it.
async fn list(ctx: &Context, kind: &str, namespace: &str, cluster: &str) -> Result<Vec<serde_json::Value>> {
    let served =
        ctx.strimzi.served(crate::strimzi::TTL).await.map_err(Error::read("Strimzi's API versions"))?;
    let Some(resource) = served.resource(kind) else {
        tracing::warn!(kind, "the cluster does not serve Strimzi's {kind}: none backed up");
        return Ok(Vec::new());
    };
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, resource);
    let params = ListParams::default().labels(&format!("strimzi.io/cluster={cluster}"));
    let items = api
        .list(&params)
        .await
        .map_err(Error::read(format!("the {kind}s of Kafka {namespace}/{cluster}")))?
        .items;
    items
        .into_iter()
        .map(|o| serde_json::to_value(&o).map_err(|e| Error::Render(format!("{kind}: {e}"))))
        .collect()
}

/// Reads and packs the resources of `kb`'s `Kafka`; `None` unless it asks for them.
pub async fn read(ctx: &Context, kb: &KafkaBackup) -> Result<Option<std::result::Result<Packed, String>>> {
    let Some((namespace, cluster)) = source(kb) else { return Ok(None) };
    let topics = list(ctx, KINDS[0], &namespace, &cluster).await?;
    let users = list(ctx, KINDS[1], &namespace, &cluster).await?;
    let now = crate::format::rfc3339(chrono::Utc::now());
    Ok(Some(pack(&namespace, &cluster, now, &topics, &users)))
}

/// Adds the volume and mount the Job reads the object from.
pub fn mount(access: &mut StorageAccess, job: &str) {
    access.volumes.push(Volume {
        name: VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map_name(job),
            optional: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    });
    access.mounts.push(VolumeMount {
        name: VOLUME.into(),
        mount_path: MOUNT_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    });
}

/// Creates the ConfigMap the Job mounts, owned by the Job, unless it exists (the Job's pod waits
/// for it to mount).
pub async fn hand_over(ctx: &Context, kb: &KafkaBackup, job: &Job, packed: &Packed) -> Result<()> {
    let namespace = kb.namespace().unwrap_or_default();
    let owner = OwnerReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: job.name_any(),
        uid: job.uid().unwrap_or_default(),
        ..Default::default()
    };
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(config_map_name(&job.name_any())),
            namespace: Some(namespace.clone()),
            labels: job.metadata.labels.clone(),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        binary_data: Some(BTreeMap::from([(FILE_NAME.to_string(), ByteString(packed.compressed.clone()))])),
        ..Default::default()
    };
    children::ensure_config_map(&ctx.client, &namespace, &cm).await?;
    Ok(())
}

/// What a continuous backup's config names: the mounted file, no hash (the file changes while
/// the process runs; each iteration hashes what it reads).
pub fn continuous_input() -> StrimziResourcesInput {
    StrimziResourcesInput { file: format!("{MOUNT_DIR}/{FILE_NAME}").into(), sha256: None }
}

/// Writes `packed` into the continuous backup's ConfigMap `name` (owned by `kb`, labelled
/// `labels`) unless it holds the same declarations already; true when it wrote.
pub async fn refresh(
    ctx: &Context,
    kb: &KafkaBackup,
    name: &str,
    labels: &BTreeMap<String, String>,
    packed: &Packed,
) -> Result<bool> {
    let namespace = kb.namespace().unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing = api.get_opt(name).await.map_err(Error::read(format!("ConfigMap {name}")))?;
    let held = existing.as_ref().and_then(|c| c.annotations().get(CONTENT_ANNOTATION).cloned());
    if held.as_deref() == Some(packed.content_sha256.as_str()) {
        return Ok(false);
    }
    let owner = kb
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Render(format!("{} has no uid yet", kb.name_any())))?;
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace),
            labels: Some(labels.clone()),
            annotations: Some(BTreeMap::from([(
                CONTENT_ANNOTATION.to_string(),
                packed.content_sha256.clone(),
            )])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        binary_data: Some(BTreeMap::from([(FILE_NAME.to_string(), ByteString(packed.compressed.clone()))])),
        ..Default::default()
    };
    api.patch(
        name,
        &kube::api::PatchParams::apply(crate::operator::context::MANAGER).force(),
        &kube::api::Patch::Apply(&cm),
    )
    .await
    .map_err(Error::write(format!("ConfigMap {name}")))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_packed_object_unpacks_to_the_stripped_resources_sorted() {
        let topic = |name: &str| {
            json!({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
                "metadata": {"name": name, "uid": "u", "labels": {"strimzi.io/cluster": "c"}},
                "spec": {"partitions": 1}, "status": {"topicName": name}})
        };
        let user = json!({"kind": "KafkaUser", "metadata": {"name": "alice"},
            "spec": {"authentication": {"type": "scram-sha-512"}}});
        let p = pack("kafka", "c", "t".into(), &[topic("b"), topic("a")], &[user]).expect("packs");
        assert_eq!((p.kafka_topics, p.kafka_users), (2, 1));
        let bytes = crate::backup::strimzi_resources::unpack(
            &p.compressed,
            p.input.sha256.as_deref().unwrap_or_default(),
            "x",
        )
        .expect("unpacks");
        let back = StrimziResources::parse(&bytes, "x").expect("parses");
        assert_eq!(back.kafka_topics[0]["metadata"]["name"], "a");
        assert!(back.kafka_topics[0].get("status").is_none());
        assert!(back.kafka_topics[0]["metadata"].get("uid").is_none());
        assert_eq!(
            p.input.file.to_str(),
            Some("/etc/strimzi-backup/strimzi-resources/strimzi-resources.json.gz")
        );
    }

    #[test]
    fn the_content_hash_ignores_when_they_were_read_and_follows_what_they_declare() {
        let topic =
            |name: &str| json!({"kind": "KafkaTopic", "metadata": {"name": name}, "spec": {"partitions": 1}});
        let one = pack("kafka", "c", "t1".into(), &[topic("a")], &[]).expect("packs");
        let later = pack("kafka", "c", "t2".into(), &[topic("a")], &[]).expect("packs");
        let more = pack("kafka", "c", "t2".into(), &[topic("a"), topic("b")], &[]).expect("packs");
        assert_eq!(one.content_sha256, later.content_sha256);
        assert_ne!(one.input.sha256, later.input.sha256, "the object itself says when");
        assert_ne!(one.content_sha256, more.content_sha256);
        assert_eq!(continuous_input().sha256, None);
        assert_eq!(continuous_input().file, one.input.file);
    }

    #[test]
    fn thousands_of_topics_fit_a_config_map() {
        let topics: Vec<_> = (0..5000)
            .map(|i| {
                json!({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
                    "metadata": {"name": format!("team-{}-events-{i}", i % 40),
                        "labels": {"strimzi.io/cluster": "my-cluster"}},
                    "spec": {"partitions": 12, "replicas": 3,
                        "config": {"retention.ms": 604800000, "min.insync.replicas": 2, "cleanup.policy": "delete"}}})
            })
            .collect();
        let p = pack("kafka", "my-cluster", "t".into(), &topics, &[]).expect("fits");
        assert!(p.compressed.len() < MAX_COMPRESSED / 4, "{}", p.compressed.len());
    }
}
