//! `KafkaDataErasure`: the right to be forgotten at a backup location (issue 17 §3). One run per
//! object, spec immutable (like a `KafkaRestore`): its Job runs `erase`, which rewrites every
//! kept restore point of the location without the selected records (`crate::erase`), and, when
//! asked, writes tombstones for the keys to the live compacted topics (`crate::erase::live`).
//!
//! The rules ([`problems`]) are written once here and run by the admission webhook and by the
//! controller (clusters without the webhook). The status carries the erasure report: counts and
//! SHA-256 digests of the keys removed, never a key.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::{ClusterConnection, SecretKeyRef};
use super::condition::Condition;
use super::run::RunPhase;
use super::template::JobOptions;
use super::validation::FieldError;

/// Most restore points, key digests and topics listed in `status.report` (the Job's log has them
/// all); a status object must stay far below etcd's 1.5 MiB.
pub const REPORT_LIST_LIMIT: usize = 50;

/// Erases records by key from every kept restore point of a backup location.
// Several `printcolumn(..)` entries look alike to clippy; each is one column.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kafkabackup.com",
    version = "v1alpha1",
    kind = "KafkaDataErasure",
    plural = "kafkadataerasures",
    singular = "kafkadataerasure",
    shortname = "kde",
    category = "strimzi-backup",
    namespaced,
    status = "KafkaDataErasureStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "KafkaDataErasure removes the records with given keys (optionally narrowed by headers and a time range) from every kept restore point of a backup location: the right to be forgotten. One run per object; the spec is immutable.",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Pending, Running, Completed or Failed"
    ),
    printcolumn(
        name = "Restore Points",
        type_ = "integer",
        json_path = ".status.report.restorePointsRewritten",
        description = "Restore points rewritten"
    ),
    printcolumn(
        name = "Records Removed",
        type_ = "integer",
        json_path = ".status.report.recordsRemoved",
        description = "Records removed from the backups"
    ),
    printcolumn(
        name = "Live Topics",
        type_ = "boolean",
        json_path = ".spec.alsoLiveTopics",
        priority = 1,
        description = "Whether the live topics were asked for too"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.backupRef) != has(self.locationRef)")
    .message("set exactly one of spec.backupRef (a KafkaBackup) or spec.locationRef (a KafkaBackupLocation)"))]
#[x_kube(validation = Rule::new("self == oldSelf")
    .message("spec is immutable: a KafkaDataErasure is one run; create a new KafkaDataErasure instead"))]
pub struct KafkaDataErasureSpec {
    /// The `KafkaBackup` (same namespace) whose location is erased: its storage, credentials and
    /// encryption key. Mutually exclusive with `locationRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_ref: Option<ErasureSourceRef>,
    /// The `KafkaBackupLocation` (same namespace) whose location is erased. Mutually exclusive
    /// with `backupRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_ref: Option<ErasureSourceRef>,
    /// Topics whose records are searched (exact names).
    #[schemars(length(min = 1), inner(length(min = 1)))]
    pub topics: Vec<String>,
    /// The keys whose records are erased (exact bytes). Give keys, headers, or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<ErasureKeys>,
    /// Headers a record must carry, all of them (name and value compared as exact bytes), to be
    /// erased.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ErasureHeader>,
    /// Only records whose timestamp lies in `[from, to)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_range: Option<ErasureTimeRange>,
    /// Also erase the keys from the live topics of the cluster named by `strimziClusterRef` or
    /// `kafkaCluster`: a tombstone per key on compacted topics (compaction then removes the
    /// key's records); delete-policy topics are reported as not possible (Kafka deletes records
    /// only by offset, everything before it). Default false: the live topics are never touched.
    #[serde(default)]
    pub also_live_topics: bool,
    /// The live cluster, with `alsoLiveTopics` only.
    #[serde(flatten)]
    pub cluster: ClusterConnection,
    /// Resources, template and Job settings of the erasure Job.
    #[serde(flatten)]
    pub job_options: JobOptions,
}

/// An object in the erasure's own namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureSourceRef {
    /// Name of the object, in the erasure's namespace.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A key of a ConfigMap in the erasure's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key within the ConfigMap.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// Where the keys come from: inline, and files of one key per line (UTF-8, a trailing `\r`
/// dropped, empty lines skipped) in Secrets or ConfigMaps, mounted into the Job as files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureKeys {
    /// Keys as UTF-8 text. They are stored in this object: for personal data prefer a Secret
    /// (`secretKeyRefs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Keys as base64, for keys that are not text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base64_values: Vec<String>,
    /// Secret keys holding one key per line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_key_refs: Vec<SecretKeyRef>,
    /// ConfigMap keys holding one key per line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_map_key_refs: Vec<ConfigMapKeyRef>,
}

impl ErasureKeys {
    /// Whether any key source is given.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
            && self.base64_values.is_empty()
            && self.secret_key_refs.is_empty()
            && self.config_map_key_refs.is_empty()
    }
}

/// A header a record must carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureHeader {
    /// Header name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Header value (UTF-8).
    pub value: String,
}

/// A time range of record timestamps; either end may be open.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureTimeRange {
    /// RFC 3339; records at or after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// RFC 3339; records before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Observed state of a `KafkaDataErasure`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaDataErasureStatus {
    /// `Ready` and others, in Strimzi's shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// Name of the erasure Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// The erasure's id at the location (its journal and new objects are named by it): stable
    /// for this object, so a Job killed and run again resumes the same erasure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure_id: Option<String>,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// What the erasure did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ErasureReportStatus>,
}

/// The erasure report: what was rewritten and removed; digests of the keys, never the keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureReportStatus {
    /// Restore points given a new manifest revision without the records.
    pub restore_points_rewritten: i64,
    /// The restore points rewritten, with their new revision (as many as `maxItems`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = REPORT_LIST_LIMIT))]
    pub restore_points: Vec<RevisedRestorePoint>,
    /// Segment objects read.
    pub objects_read: i64,
    /// Segment objects that held selected records and were written anew.
    pub objects_rewritten: i64,
    /// New segment objects written in their place.
    pub objects_written: i64,
    /// Superseded segment objects deleted.
    pub objects_deleted: i64,
    /// Records removed from the backups, all topics.
    pub records_removed: i64,
    /// Records removed per topic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = REPORT_LIST_LIMIT))]
    pub topics: Vec<TopicRecordsRemoved>,
    /// Keys the selection named.
    pub keys_selected: i64,
    /// SHA-256 (lowercase hex) of each distinct key removed (as many as `maxItems`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = REPORT_LIST_LIMIT))]
    pub key_digests: Vec<String>,
    /// What was done on the live topics (`alsoLiveTopics`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = REPORT_LIST_LIMIT))]
    pub live_topics: Vec<LiveTopicStatus>,
}

/// A restore point the erasure rewrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisedRestorePoint {
    /// The backup id of the restore point.
    pub backup_id: String,
    /// Its manifest revision committed by this erasure.
    pub revision: i64,
}

/// Records removed from one topic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicRecordsRemoved {
    /// Topic.
    pub topic: String,
    /// Records removed.
    pub records: i64,
}

/// What the erasure did on one live topic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveTopicStatus {
    /// Topic.
    pub topic: String,
    /// `Tombstoned`: a tombstone per key was produced (compaction removes the key's records);
    /// `NotPossible`: Kafka offers no way to remove single records of this topic.
    pub action: String,
    /// Tombstones produced.
    #[serde(default)]
    pub tombstones: i64,
    /// What Kafka allows here and why.
    pub message: String,
}

/// The rules of an erasure spec, for the webhook and the controller alike: each problem names
/// its field. (Structure — exactly one of `backupRef` and `locationRef` — is a CEL rule too.)
pub fn problems(spec: &KafkaDataErasureSpec) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if spec.backup_ref.is_some() == spec.location_ref.is_some() {
        problems.push(FieldError::new(
            "spec.backupRef",
            "set exactly one of spec.backupRef (a KafkaBackup) or spec.locationRef (a KafkaBackupLocation)",
        ));
    }
    if spec.topics.is_empty() {
        problems.push(FieldError::new("spec.topics", "name at least one topic whose records are erased"));
    }
    for (i, t) in spec.topics.iter().enumerate() {
        if t.is_empty() {
            problems.push(FieldError::new(format!("spec.topics[{i}]"), "a topic name cannot be empty"));
        }
    }
    let keys = spec.keys.clone().unwrap_or_default();
    if keys.is_empty() && spec.headers.is_empty() {
        problems.push(FieldError::new(
            "spec.keys",
            "give keys (values, base64Values, secretKeyRefs or configMapKeyRefs) or headers to select records by; an erasure never selects whole topics",
        ));
    }
    for (i, v) in keys.base64_values.iter().enumerate() {
        use base64::Engine;
        if let Err(e) = base64::engine::general_purpose::STANDARD.decode(v.trim()) {
            problems
                .push(FieldError::new(format!("spec.keys.base64Values[{i}]"), format!("not base64: {e}")));
        }
    }
    let mut bounds = [None, None];
    if let Some(range) = &spec.time_range {
        for (slot, (field, value)) in [("from", &range.from), ("to", &range.to)].into_iter().enumerate() {
            let Some(value) = value else { continue };
            match chrono::DateTime::parse_from_rfc3339(value) {
                Ok(t) => bounds[slot] = Some(t),
                Err(e) => problems.push(FieldError::new(
                    format!("spec.timeRange.{field}"),
                    format!("`{value}` is not an RFC 3339 time ({e}); write e.g. 2026-02-13T01:30:00Z"),
                )),
            }
        }
    }
    if let [Some(from), Some(to)] = bounds
        && from >= to
    {
        problems.push(FieldError::new("spec.timeRange", "`from` must be before `to`"));
    }
    let has_cluster = spec.cluster.strimzi_cluster_ref.is_some() || spec.cluster.kafka_cluster.is_some();
    if spec.cluster.strimzi_cluster_ref.is_some() && spec.cluster.kafka_cluster.is_some() {
        problems.push(FieldError::new(
            "spec.strimziClusterRef",
            "set at most one of spec.strimziClusterRef or spec.kafkaCluster",
        ));
    }
    if spec.also_live_topics {
        if !has_cluster {
            problems.push(FieldError::new(
                "spec.alsoLiveTopics",
                "erasing from the live topics needs their cluster: set spec.strimziClusterRef or spec.kafkaCluster",
            ));
        }
        if keys.is_empty() {
            problems.push(FieldError::new(
                "spec.alsoLiveTopics",
                "the live topics are erased by key (a tombstone per key): give spec.keys",
            ));
        }
        if !spec.headers.is_empty() || spec.time_range.is_some() {
            problems.push(FieldError::new(
                "spec.alsoLiveTopics",
                "a tombstone removes every record of its key, so spec.headers and spec.timeRange cannot narrow an erasure of the live topics; erase the backups alone, or select by keys only",
            ));
        }
    } else if has_cluster || spec.cluster.authentication.is_some() {
        problems.push(FieldError::new(
            "spec.strimziClusterRef",
            "a cluster is used only with spec.alsoLiveTopics: true; remove it, or set alsoLiveTopics",
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> KafkaDataErasureSpec {
        serde_yaml_ng::from_str(yaml).expect("spec")
    }

    fn paths(spec: &KafkaDataErasureSpec) -> Vec<String> {
        problems(spec).into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn a_spec_by_keys_on_a_backup_or_a_location_is_valid() {
        assert!(paths(&spec("backupRef: {name: orders}\ntopics: [t]\nkeys: {values: [alice]}")).is_empty());
        let from_secret = "locationRef: {name: loc}\ntopics: [t]\nkeys: {secretKeyRefs: [{name: gdpr, key: keys.txt}]}\n\
            headers: [{name: tenant, value: a}]\ntimeRange: {from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z'}";
        assert!(paths(&spec(from_secret)).is_empty());
        let live = "backupRef: {name: b}\ntopics: [t]\nkeys: {values: [k]}\nalsoLiveTopics: true\nstrimziClusterRef: {name: c}";
        assert!(paths(&spec(live)).is_empty());
    }

    #[test]
    fn each_problem_names_its_field() {
        assert_eq!(paths(&spec("topics: [t]\nkeys: {values: [k]}")), ["spec.backupRef"]);
        assert_eq!(
            paths(&spec("backupRef: {name: b}\nlocationRef: {name: l}\ntopics: [t]\nkeys: {values: [k]}")),
            ["spec.backupRef"]
        );
        assert_eq!(paths(&spec("backupRef: {name: b}\ntopics: []\nkeys: {values: [k]}")), ["spec.topics"]);
        assert_eq!(paths(&spec("backupRef: {name: b}\ntopics: [t]")), ["spec.keys"]);
        assert_eq!(
            paths(&spec("backupRef: {name: b}\ntopics: [t]\nkeys: {base64Values: ['!!']}")),
            ["spec.keys.base64Values[0]"]
        );
        assert_eq!(
            paths(&spec(
                "backupRef: {name: b}\ntopics: [t]\nkeys: {values: [k]}\ntimeRange: {from: yesterday}"
            )),
            ["spec.timeRange.from"]
        );
        let backwards = "backupRef: {name: b}\ntopics: [t]\nkeys: {values: [k]}\n\
            timeRange: {from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z'}";
        assert_eq!(paths(&spec(backwards)), ["spec.timeRange"]);
    }

    #[test]
    fn the_live_topics_need_a_cluster_and_keys_only_and_a_cluster_needs_the_live_topics() {
        let no_cluster = "backupRef: {name: b}\ntopics: [t]\nkeys: {values: [k]}\nalsoLiveTopics: true";
        assert_eq!(paths(&spec(no_cluster)), ["spec.alsoLiveTopics"]);
        let narrowed = "backupRef: {name: b}\ntopics: [t]\nkeys: {values: [k]}\nalsoLiveTopics: true\n\
            kafkaCluster: {bootstrapServers: 'k:9092'}\nheaders: [{name: h, value: v}]";
        let p = problems(&spec(narrowed));
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("tombstone removes every record of its key"), "{p:?}");
        let unused = "backupRef: {name: b}\ntopics: [t]\nkeys: {values: [k]}\nkafkaCluster: {bootstrapServers: 'k:9092'}";
        assert_eq!(paths(&spec(unused)), ["spec.strimziClusterRef"]);
    }

    #[test]
    fn the_crd_is_namespaced_with_its_short_name_and_an_immutable_spec() {
        use kube::CustomResourceExt;
        let crd = KafkaDataErasure::crd();
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.short_names, Some(vec!["kde".to_string()]));
        let json = serde_json::to_string(&crd).expect("json");
        assert!(json.contains("self == oldSelf"), "immutable");
        assert!(json.contains("has(self.backupRef) != has(self.locationRef)"));
    }
}
