//! The Strimzi resources object of a backup (`backups/<id>/strimzi-resources.json`): the
//! `KafkaTopic` and `KafkaUser` custom resources of the backed-up cluster, as declared when the
//! backup ran (`backup.strimziResources`). Written before the manifest, which names it with its
//! SHA-256 ([`StrimziResourcesRef`]).
//!
//! Each resource is kept as declared — `apiVersion`, `kind`, `metadata.name`, `labels`,
//! `annotations` and `spec` — and nothing the API server or an operator added: no `status`,
//! `managedFields`, `uid`, `resourceVersion`, `generation`, `creationTimestamp`,
//! `ownerReferences`, `finalizers`, nor kubectl's last-applied annotation ([`strip`]). A
//! `KafkaUser`'s spec holds no password (SCRAM passwords and TLS keys live in Secrets the User
//! Operator makes, or that `spec.authentication.password.valueFrom.secretKeyRef` names): the
//! object holds no secret, and Secrets are never backed up.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::FormatError;

/// The object's name relative to the backup's directory.
pub const OBJECT_NAME: &str = "strimzi-resources.json";

/// Version of the object's layout written by this build.
pub const RESOURCES_VERSION: u16 = 1;

/// kubectl's copy of the last applied object: a second, unstripped copy of the resource.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manifest's reference to the Strimzi resources object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrimziResourcesRef {
    /// Object name relative to the storage root.
    pub object: String,
    /// SHA-256 of the object, lowercase hex.
    pub sha256: String,
    /// `KafkaTopic`s held.
    #[serde(default)]
    pub kafka_topics: u32,
    /// `KafkaUser`s held.
    #[serde(default)]
    pub kafka_users: u32,
}

/// The object's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrimziResources {
    pub resources_version: u16,
    /// RFC 3339: when the operator read them (before the backup Job started).
    pub captured_at: String,
    /// The `Kafka` whose resources these are: its namespace and name (`strimzi.io/cluster`).
    pub namespace: String,
    pub cluster: String,
    /// Stripped `KafkaTopic`s ([`strip`]), by name.
    #[serde(default)]
    pub kafka_topics: Vec<Value>,
    /// Stripped `KafkaUser`s ([`strip`]), by name.
    #[serde(default)]
    pub kafka_users: Vec<Value>,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl StrimziResources {
    /// The object's bytes (canonical: what the SHA-256 is of) and the manifest's reference to it
    /// (named `object`).
    pub fn to_object(&self, object: String) -> Result<(Vec<u8>, StrimziResourcesRef), FormatError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| FormatError::Invalid(format!("Strimzi resources: {e}")))?;
        let reference = StrimziResourcesRef {
            object,
            sha256: hex::encode(Sha256::digest(&bytes)),
            kafka_topics: count(self.kafka_topics.len()),
            kafka_users: count(self.kafka_users.len()),
        };
        Ok((bytes, reference))
    }

    /// Parses the object, checking it against the manifest's reference.
    pub fn from_object(bytes: &[u8], reference: &StrimziResourcesRef) -> Result<Self, FormatError> {
        super::parse_side_object(
            bytes,
            &reference.object,
            Some(&reference.sha256),
            |r: &Self| r.resources_version,
            RESOURCES_VERSION,
        )
    }

    /// Parses the object without a reference to check it against (what the operator handed the
    /// backup Job is checked by its own SHA-256 first).
    pub fn parse(bytes: &[u8], object: &str) -> Result<Self, FormatError> {
        super::parse_side_object(bytes, object, None, |r: &Self| r.resources_version, RESOURCES_VERSION)
    }
}

/// A resource as declared: `apiVersion`, `kind`, `metadata` with only `name`, `labels` and
/// `annotations` (without kubectl's last-applied copy), and `spec`. Everything else — `status`,
/// `metadata.namespace` (a restore picks its own), `uid`, `resourceVersion`, `generation`,
/// `creationTimestamp`, `managedFields`, `ownerReferences`, `finalizers` — is the source
/// cluster's, not the declaration.
pub fn strip(resource: &Value) -> Value {
    let mut out = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = resource.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let mut metadata = Map::new();
    if let Some(name) = resource.pointer("/metadata/name") {
        metadata.insert("name".into(), name.clone());
    }
    if let Some(labels) =
        resource.pointer("/metadata/labels").filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
    {
        metadata.insert("labels".into(), labels.clone());
    }
    if let Some(Value::Object(annotations)) = resource.pointer("/metadata/annotations") {
        let kept: Map<String, Value> = annotations
            .iter()
            .filter(|(k, _)| k.as_str() != LAST_APPLIED)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            metadata.insert("annotations".into(), Value::Object(kept));
        }
    }
    out.insert("metadata".into(), Value::Object(metadata));
    if let Some(spec) = resource.get("spec") {
        out.insert("spec".into(), spec.clone());
    }
    Value::Object(out)
}

/// The name of a stripped resource.
pub fn name_of(resource: &Value) -> &str {
    resource.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
}

/// The topic a stripped `KafkaTopic` declares: `spec.topicName`, else its name.
pub fn topic_of(resource: &Value) -> &str {
    resource.pointer("/spec/topicName").and_then(Value::as_str).unwrap_or_else(|| name_of(resource))
}

/// Sorts stripped resources by name: the object is the same for the same declarations, whatever
/// order the API server listed them in.
pub fn sort(resources: &mut [Value]) {
    resources.sort_by(|a, b| name_of(a).cmp(name_of(b)));
}

/// The object gzip-compressed (best compression), as it travels between the operator and a Job:
/// in the backup Job's ConfigMap and in the restore Job's result line.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)?;
    gz.finish()
}

/// What [`gzip`] compressed.
pub fn gunzip(compressed: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(compressed).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listed_topic() -> Value {
        json!({
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaTopic",
            "metadata": {
                "name": "orders",
                "namespace": "kafka",
                "uid": "0b5e",
                "resourceVersion": "42",
                "generation": 3,
                "creationTimestamp": "2026-12-03T02:00:00Z",
                "finalizers": ["strimzi.io/topic-operator"],
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"}],
                "managedFields": [{"manager": "kubectl"}],
                "labels": {"strimzi.io/cluster": "my-cluster", "team": "a"},
                "annotations": {LAST_APPLIED: "{…}", "owner": "team-a"}
            },
            "spec": {"partitions": 3, "replicas": 1, "config": {"retention.ms": 86400000}},
            "status": {"topicName": "orders", "conditions": [{"type": "Ready", "status": "True"}]}
        })
    }

    #[test]
    fn stripping_keeps_the_declaration_and_nothing_the_cluster_added() {
        let s = strip(&listed_topic());
        assert_eq!(
            s,
            json!({
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaTopic",
                "metadata": {
                    "name": "orders",
                    "labels": {"strimzi.io/cluster": "my-cluster", "team": "a"},
                    "annotations": {"owner": "team-a"}
                },
                "spec": {"partitions": 3, "replicas": 1, "config": {"retention.ms": 86400000}}
            })
        );
        // Only last-applied as annotation: no annotations at all.
        let mut only = listed_topic();
        only["metadata"]["annotations"] = json!({LAST_APPLIED: "{}"});
        assert!(strip(&only)["metadata"].get("annotations").is_none());
        assert_eq!(topic_of(&s), "orders");
    }

    #[test]
    fn round_trips_against_its_reference_counts_and_detects_changes() {
        let mut topics = vec![strip(&json!({"metadata": {"name": "b"}})), strip(&listed_topic())];
        sort(&mut topics);
        assert_eq!(name_of(&topics[0]), "b");
        let r = StrimziResources {
            resources_version: RESOURCES_VERSION,
            captured_at: "2026-12-03T02:00:00.000Z".into(),
            namespace: "kafka".into(),
            cluster: "my-cluster".into(),
            kafka_topics: topics,
            kafka_users: vec![json!({"kind": "KafkaUser", "metadata": {"name": "alice"}, "spec": {}})],
        };
        let (bytes, reference) = r.to_object("p/backups/b1/strimzi-resources.json".into()).expect("object");
        assert_eq!((reference.kafka_topics, reference.kafka_users), (2, 1));
        assert_eq!(StrimziResources::from_object(&bytes, &reference).expect("reads"), r);
        let text = String::from_utf8(bytes).expect("utf8");
        let err = StrimziResources::from_object(text.replace("alice", "mallory").as_bytes(), &reference)
            .expect_err("changed");
        assert!(err.to_string().contains("SHA-256"), "{err}");
        let later = text.replace("\"resourcesVersion\": 1", "\"resourcesVersion\": 9");
        let err = StrimziResources::parse(later.as_bytes(), "x").expect_err("newer");
        assert!(err.to_string().contains("version 9"), "{err}");
    }
}
