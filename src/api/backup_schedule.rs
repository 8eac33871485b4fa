//! `KafkaBackupSchedule`: one backup policy over many Strimzi clusters (issue 16 §1, PRD §3.3).
//! Its `clusterSelector` picks Strimzi `Kafka` resources by label; the operator owns one
//! `KafkaBackup` per selected cluster, made from `backupTemplate` and `schedule`, and the
//! `KafkaBackup` controller runs the backups. This module is the API and what is pure about it:
//! the owned `KafkaBackup`'s name, storage prefix, spec and labels ([`owned_backup`]), so the
//! controller, its tests and the docs agree on them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backup::{BackupRecord, BackupSettings, DeletionPolicy, KafkaBackupSpec, Retention, Schedule};
use super::cluster::{ClusterConnection, StrimziClusterRef};
use super::condition::Condition;
use super::location::Recoverability;
use super::selection::{Selection, TopicSelection};
use super::storage::{StorageSpec, StorageType};
use super::template::JobOptions;

/// Label on every `KafkaBackup` a schedule owns: the schedule's uid (always a valid label
/// value, unlike a long name), what the controller lists them by.
pub const SCHEDULE_UID_LABEL: &str = "kafkabackup.com/schedule-uid";
/// Label with the schedule's name, for `kubectl get kb -l kafkabackup.com/schedule=<name>`
/// (left out when the name is longer than a label value may be).
pub const SCHEDULE_LABEL: &str = "kafkabackup.com/schedule";
/// Label saying whether the cluster of an owned `KafkaBackup` is selected now: `"true"`, or
/// `"false"` once it left the selection (its schedule is then suspended, its backups kept).
pub const SELECTED_LABEL: &str = "kafkabackup.com/selected";
/// Annotation with the `<namespace>/<name>` of the `Kafka` an owned `KafkaBackup` backs up:
/// how the controller knows the cluster of a `KafkaBackup` whose `Kafka` is gone.
pub const CLUSTER_ANNOTATION: &str = "kafkabackup.com/cluster";

/// Backs up every Strimzi Kafka cluster its selector matches, each with a KafkaBackup of its own.
// Several `printcolumn(..)` entries look alike to clippy; each is one column.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kafkabackup.com",
    version = "v1alpha1",
    kind = "KafkaBackupSchedule",
    plural = "kafkabackupschedules",
    singular = "kafkabackupschedule",
    shortname = "kbs",
    category = "strimzi-backup",
    namespaced,
    status = "KafkaBackupScheduleStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "KafkaBackupSchedule backs up every Strimzi Kafka cluster its clusterSelector matches: the operator keeps one KafkaBackup per selected cluster, made from backupTemplate and schedule, each writing under a prefix of its own; a cluster that leaves the selection has its KafkaBackup suspended, its backups kept.",
    printcolumn(
        name = "Schedule",
        type_ = "string",
        json_path = ".spec.schedule.cron",
        description = "Cron schedule of every owned KafkaBackup"
    ),
    printcolumn(
        name = "Selected",
        type_ = "integer",
        json_path = ".status.selectedClusters",
        description = "Clusters selected now"
    ),
    printcolumn(
        name = "Backups",
        type_ = "integer",
        json_path = ".status.backups",
        description = "KafkaBackups owned (selected and suspended)"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#,
        description = "Reason of the Ready condition"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBackupScheduleSpec {
    /// Which Strimzi `Kafka` resources are backed up: a label selector (`matchLabels`,
    /// `matchExpressions`) over the `Kafka` resources in the namespaces `namespaceSelector`
    /// allows. An empty selector (`{}`) selects every `Kafka` there.
    pub cluster_selector: LabelSelector,
    /// In which namespaces `Kafka` resources are selected. Default: this resource's namespace
    /// only. A `Kafka` in another namespace is backed up only when it allows this namespace with
    /// the annotation `kafkabackup.com/allow-from-namespaces` (its owner's opt-in); the operator
    /// must watch that namespace too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelector>,
    /// When every owned `KafkaBackup` runs: its `spec.schedule`. `suspend: true` suspends them
    /// all.
    pub schedule: Schedule,
    /// The spec of every owned `KafkaBackup`, without the cluster (which the selector picks)
    /// and the schedule (above). The storage prefix (filesystem: path) gets
    /// `<Kafka namespace>/<Kafka name>/` appended per cluster, so the clusters' backups never
    /// share a location; without a prefix it is `<namespace>/<name>/<Kafka namespace>/<Kafka name>/`.
    /// A change here is applied to every owned `KafkaBackup`.
    pub backup_template: BackupTemplate,
}

/// Namespaces whose `Kafka` resources a schedule selects, by name: reading Namespace labels
/// would need a cluster-wide grant that an install watching a few namespaces does not have.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Every namespace the operator watches. Overrides `matchNames`.
    #[serde(default)]
    pub any: bool,
    /// These namespaces (include this resource's own to keep it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_names: Vec<String>,
}

/// A `KafkaBackup` spec without the cluster and the schedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.strimziClusterRef) && !has(self.kafkaCluster)")
    .message("spec.backupTemplate names no cluster: each KafkaBackup gets the cluster spec.clusterSelector selects; remove strimziClusterRef/kafkaCluster (set listenerName here for the listener)"))]
pub struct BackupTemplate {
    /// Not allowed here: the cluster of each owned `KafkaBackup` is the `Kafka` selected.
    /// `authentication` is used as set (its `kafkaUserRef` names a `KafkaUser` in this
    /// namespace).
    #[serde(flatten)]
    pub cluster: ClusterConnection,
    /// The listener of each selected `Kafka` to use (`strimziClusterRef.listenerName` of the
    /// owned `KafkaBackup`s). Default: chosen by the authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_name: Option<String>,
    /// Topics to back up.
    #[serde(default)]
    pub topics: TopicSelection,
    /// Consumer groups whose committed offsets are stored with the data.
    #[serde(default)]
    pub consumer_groups: Selection,
    /// Where backups are written; the prefix gets `<Kafka namespace>/<Kafka name>/` appended
    /// per cluster.
    pub storage: StorageSpec,
    /// How records are written.
    #[serde(default)]
    pub backup: BackupSettings,
    /// Which backups to keep, per cluster. Without it every backup is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// What happens to a cluster's stored backups when its `KafkaBackup` is deleted — which
    /// deleting this schedule does (its `KafkaBackup`s are owned by it). `Retain` (default)
    /// keeps them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// A Schema Registry stored with every cluster's backups (`KafkaBackup.spec.schemaRegistry`):
    /// the same registry for each selected cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<super::schema_registry::SchemaRegistryBackupSpec>,
    /// Who may restore each cluster's backups (Enterprise, licence feature `restore-policy`), as
    /// `KafkaBackup.spec.restorePolicy`: copied into every `KafkaBackup` of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_policy: Option<super::restore_policy::RestorePolicy>,
    /// Resources, template and Job settings of the backup Jobs.
    #[serde(flatten)]
    pub job_options: JobOptions,
}

/// The reasons of a `KafkaBackupSchedule`'s `Ready` condition. The strings are a contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScheduleReason {
    /// The spec breaks a rule the webhook checks too (the webhook was bypassed or absent).
    InvalidSpec,
    /// Every selected cluster has its `KafkaBackup` with the current template.
    BackupsScheduled,
    /// No `Kafka` matches the selector (or Strimzi is not installed).
    NoClustersSelected,
    /// A `KafkaBackup` under an owned backup's name exists and is not this schedule's.
    ForeignObject,
}

impl ScheduleReason {
    /// Every reason, for tests that hold the strings to their contract.
    pub const ALL: [ScheduleReason; 4] =
        [Self::InvalidSpec, Self::BackupsScheduled, Self::NoClustersSelected, Self::ForeignObject];
}

impl super::condition::ReadyReason for ScheduleReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSpec => "InvalidSpec",
            Self::BackupsScheduled => "BackupsScheduled",
            Self::NoClustersSelected => "NoClustersSelected",
            Self::ForeignObject => "ForeignObject",
        }
    }
    fn is_ready(self) -> bool {
        self == Self::BackupsScheduled
    }
}

/// Observed state of a `KafkaBackupSchedule`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBackupScheduleStatus {
    /// `Ready` and others, in Strimzi's shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Clusters selected now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_clusters: Option<i32>,
    /// `KafkaBackup`s owned, selected or suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<i32>,
    /// Every cluster selected now or backed up before, by namespace and name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ScheduledCluster>,
}

/// One cluster of a schedule and its `KafkaBackup`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledCluster {
    /// Namespace of the `Kafka`.
    pub namespace: String,
    /// Name of the `Kafka`.
    pub name: String,
    /// The `KafkaBackup` (in this namespace) that backs it up.
    pub backup: String,
    /// Whether the selector selects it now. A cluster no longer selected (label changed,
    /// `Kafka` deleted, opt-in withdrawn) keeps its `KafkaBackup` suspended, with its backups.
    pub selected: bool,
    /// Why it is not backed up, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The reason of the `KafkaBackup`'s `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_status: Option<String>,
    /// The `KafkaBackup`'s most recent run (its `status.lastBackup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<BackupRecord>,
    /// The window a point-in-time restore of this cluster can target (from the `KafkaBackup`).
    #[serde(flatten)]
    pub recoverability: Recoverability,
}

/// A Strimzi `Kafka` as a schedule sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct KafkaId {
    pub namespace: String,
    pub name: String,
}

impl KafkaId {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), name: name.into() }
    }

    /// `<namespace>/<name>`, the value of [`CLUSTER_ANNOTATION`].
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Reads [`CLUSTER_ANNOTATION`].
    pub fn parse(key: &str) -> Option<Self> {
        let (namespace, name) = key.split_once('/')?;
        (!namespace.is_empty() && !name.is_empty()).then(|| Self::new(namespace, name))
    }
}

/// Most characters of an owned `KafkaBackup`'s name: a label value (`app.kubernetes.io/instance`)
/// and the base of its Job names.
pub const MAX_BACKUP_NAME: usize = 63;

/// The owned `KafkaBackup`'s name for `kafka`: `<schedule>-<kafka>` for a `Kafka` in the
/// schedule's namespace, `<schedule>-<kafka namespace>-<kafka>-<hash>` for one elsewhere (the
/// hash keeps `a-b`/`c` and `a`/`b-c` apart); cut to [`MAX_BACKUP_NAME`] with a hash of the
/// whole when longer. Deterministic: a restarted operator finds its `KafkaBackup`s again.
pub fn backup_name(schedule: &str, schedule_namespace: &str, kafka: &KafkaId) -> String {
    let full = if kafka.namespace == schedule_namespace {
        format!("{schedule}-{}", kafka.name)
    } else {
        format!("{schedule}-{}-{}-{}", kafka.namespace, kafka.name, short_hash(&kafka.key(), 3))
    };
    if full.len() <= MAX_BACKUP_NAME {
        return full;
    }
    let hash = short_hash(&format!("{schedule_namespace}/{schedule}/{}", kafka.key()), 4);
    let keep = MAX_BACKUP_NAME - hash.len() - 1;
    let cut = (0..=keep).rev().find(|i| full.is_char_boundary(*i)).unwrap_or(0);
    format!("{}-{hash}", full[..cut].trim_end_matches(['-', '.']))
}

fn short_hash(text: &str, bytes: usize) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..bytes])
}

/// The template's storage with the cluster's own prefix (filesystem: path):
/// `<template prefix><kafka namespace>/<kafka name>/`, the template's prefix defaulting to
/// `<schedule namespace>/<schedule name>/` as a `KafkaBackup`'s does (`/` is the bucket root).
pub fn cluster_storage(
    storage: &StorageSpec,
    schedule_namespace: &str,
    schedule: &str,
    kafka: &KafkaId,
) -> StorageSpec {
    let mut out = storage.clone();
    let prefix = match out.type_ {
        StorageType::S3 => out.s3.as_mut().map(|s| &mut s.prefix),
        StorageType::Azure => out.azure.as_mut().map(|s| &mut s.prefix),
        StorageType::Gcs => out.gcs.as_mut().map(|s| &mut s.prefix),
        StorageType::Filesystem => out.filesystem.as_mut().map(|s| &mut s.path),
    };
    if let Some(prefix) = prefix {
        let base = match prefix.as_deref() {
            None | Some("") => format!("{schedule_namespace}/{schedule}/"),
            Some(p) => match p.trim_start_matches('/') {
                "" => String::new(),
                p if p.ends_with('/') => p.to_string(),
                p => format!("{p}/"),
            },
        };
        *prefix = Some(format!("{base}{}/{}/", kafka.namespace, kafka.name));
    }
    out
}

/// The spec of the `KafkaBackup` that backs up `kafka` for `kbs`; `selected: false` suspends
/// its schedule (a cluster that left the selection keeps its `KafkaBackup` and backups).
pub fn owned_spec(kbs: &KafkaBackupSchedule, kafka: &KafkaId, selected: bool) -> KafkaBackupSpec {
    let namespace = kbs.metadata.namespace.clone().unwrap_or_default();
    let name = kbs.metadata.name.clone().unwrap_or_default();
    let t = &kbs.spec.backup_template;
    let mut schedule = kbs.spec.schedule.clone();
    schedule.suspend = schedule.suspend || !selected;
    KafkaBackupSpec {
        cluster: ClusterConnection {
            strimzi_cluster_ref: Some(StrimziClusterRef {
                name: kafka.name.clone(),
                namespace: (kafka.namespace != namespace).then(|| kafka.namespace.clone()),
                listener_name: t.listener_name.clone(),
            }),
            kafka_cluster: None,
            authentication: t.cluster.authentication.clone(),
        },
        topics: t.topics.clone(),
        consumer_groups: t.consumer_groups.clone(),
        storage: cluster_storage(&t.storage, &namespace, &name, kafka),
        backup: t.backup.clone(),
        schedule: Some(schedule),
        retention: t.retention.clone(),
        deletion_policy: t.deletion_policy,
        schema_registry: t.schema_registry.clone(),
        restore_policy: t.restore_policy.clone(),
        job_options: t.job_options.clone(),
    }
}

/// The labels of an owned `KafkaBackup` (SPEC §6 labels, plus the schedule's).
pub fn owned_labels(
    kbs: &KafkaBackupSchedule,
    kafka: &KafkaId,
    backup: &str,
    selected: bool,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "kafkabackup".to_string()),
        ("app.kubernetes.io/instance".to_string(), backup.to_string()),
        ("app.kubernetes.io/part-of".to_string(), "strimzi-backup".to_string()),
        ("app.kubernetes.io/managed-by".to_string(), "strimzi-backup-operator".to_string()),
        (SCHEDULE_UID_LABEL.to_string(), kbs.metadata.uid.clone().unwrap_or_default()),
        (SELECTED_LABEL.to_string(), selected.to_string()),
    ]);
    let name = kbs.metadata.name.clone().unwrap_or_default();
    if name.len() <= 63 {
        labels.insert(SCHEDULE_LABEL.into(), name);
    }
    if kafka.name.len() <= 63 {
        labels.insert("strimzi.io/cluster".into(), kafka.name.clone());
    }
    labels
}

pub mod rules;

#[cfg(test)]
#[path = "backup_schedule/tests.rs"]
mod tests;
