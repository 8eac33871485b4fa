//! `KafkaOffsetReset`: one consumer-group offset reset run (SPEC §2.5). One-shot; the spec is
//! immutable once created. The offsets before the reset are kept for rollback.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::ClusterConnection;
use super::condition::Condition;
use super::run::RunPhase;
use super::template::JobOptions;

/// Most groups listed in `status.results`; a status object must stay far below etcd's 1.5 MiB.
pub const GROUP_RESULTS_LIMIT: usize = 100;
/// Most partitions listed per group in `status.results[].partitions`.
pub const PARTITION_CHANGES_LIMIT: usize = 100;

/// Resets committed offsets of consumer groups.
// Several `printcolumn(..)` entries look alike to clippy; each is one column.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kafkabackup.com",
    version = "v1alpha1",
    kind = "KafkaOffsetReset",
    plural = "kafkaoffsetresets",
    singular = "kafkaoffsetreset",
    shortname = "kor",
    category = "strimzi-backup",
    namespaced,
    status = "KafkaOffsetResetStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "KafkaOffsetReset resets the committed offsets of consumer groups (to earliest, latest, a timestamp, an offset, by a shift, or back to a snapshot). One run per object; the spec is immutable.",
    printcolumn(
        name = "Strategy",
        type_ = "string",
        json_path = ".spec.resetStrategy",
        description = "Reset strategy"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Pending, Running, Completed or Failed"
    ),
    printcolumn(
        name = "Groups Reset",
        type_ = "integer",
        json_path = ".status.groupsReset",
        description = "Groups whose offsets were reset"
    ),
    printcolumn(
        name = "Groups Failed",
        type_ = "integer",
        json_path = ".status.groupsFailed",
        priority = 1,
        description = "Groups skipped or failed"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = super::cluster::exactly_one_cluster())]
#[x_kube(validation = Rule::new("self.resetStrategy != 'to-timestamp' || has(self.resetTimestamp)")
    .message("resetStrategy to-timestamp needs resetTimestamp (RFC 3339, e.g. 2026-02-13T01:30:00Z)"))]
#[x_kube(validation = Rule::new("self.resetStrategy != 'to-offset' || has(self.resetOffset)")
    .message("resetStrategy to-offset needs resetOffset"))]
#[x_kube(validation = Rule::new("self.resetStrategy != 'shift-by' || has(self.shiftBy)")
    .message("resetStrategy shift-by needs shiftBy (negative moves back)"))]
#[x_kube(validation = Rule::new("self.resetStrategy != 'to-snapshot' || has(self.snapshotRef)")
    .message("resetStrategy to-snapshot needs snapshotRef (the ConfigMap named in a KafkaRestore's or KafkaOffsetReset's status)"))]
#[x_kube(validation = Rule::new("self == oldSelf")
    .message("spec is immutable: a KafkaOffsetReset is one run; create a new KafkaOffsetReset instead"))]
pub struct KafkaOffsetResetSpec {
    /// Cluster of the consumer groups.
    #[serde(flatten)]
    pub cluster: ClusterConnection,
    /// Consumer group ids to reset.
    #[schemars(length(min = 1), inner(length(min = 1)))]
    pub consumer_groups: Vec<String>,
    /// Topics whose offsets are reset; all topics the group has committed offsets for when
    /// omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
    /// Where to move the offsets.
    pub reset_strategy: ResetStrategy,
    /// RFC 3339 time for `to-timestamp`: each partition moves to the first offset at or after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_timestamp: Option<String>,
    /// Offset for `to-offset` (applied to every selected partition, clamped to the partition's
    /// range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub reset_offset: Option<i64>,
    /// Offset delta for `shift-by`; negative moves back (clamped to the partition's range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_by: Option<i64>,
    /// ConfigMap holding an offset snapshot, for `to-snapshot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_ref: Option<String>,
    /// Groups reset concurrently.
    #[serde(default = "default_parallelism")]
    #[schemars(range(min = 1, max = 100))]
    pub parallelism: i32,
    /// Compute and report the planned offsets in status without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Resources, template and Job settings of the reset Job.
    #[serde(flatten)]
    pub job_options: JobOptions,
}

fn default_parallelism() -> i32 {
    10
}

/// Where offsets are moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ResetStrategy {
    /// The earliest available offset of each partition.
    #[default]
    ToEarliest,
    /// The high watermark of each partition (skip everything not yet consumed).
    ToLatest,
    /// The first offset at or after `resetTimestamp`.
    ToTimestamp,
    /// `resetOffset`.
    ToOffset,
    /// The current offset plus `shiftBy`.
    ShiftBy,
    /// The offsets recorded in the snapshot `snapshotRef` (rollback).
    ToSnapshot,
}

/// Observed state of a `KafkaOffsetReset`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaOffsetResetStatus {
    /// `Ready` and others, in Strimzi's shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// Name of the reset Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Groups reset (or, in a dry run, that would be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_reset: Option<i32>,
    /// Groups skipped (active members) or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_failed: Option<i32>,
    /// Run time, e.g. `2m30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Per-group results (as many as `maxItems`; the Job's termination message has
    /// the full list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = GROUP_RESULTS_LIMIT))]
    pub results: Vec<GroupResetResult>,
    /// ConfigMap holding the offsets from before the reset, for `to-snapshot` rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_ref: Option<String>,
}

/// Outcome for one group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GroupResetOutcome {
    /// Offsets committed.
    #[default]
    Reset,
    /// Dry run: offsets computed, nothing committed.
    Planned,
    /// Not touched, e.g. the group has active members.
    Skipped,
    /// The reset failed.
    Failed,
}

/// Result of resetting one group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupResetResult {
    /// Consumer group id.
    pub group: String,
    /// What happened.
    pub outcome: GroupResetOutcome,
    /// Why a group was skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Old and new offset per partition (as many as `maxItems`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = PARTITION_CHANGES_LIMIT))]
    pub partitions: Vec<PartitionOffsetChange>,
}

/// An offset move of one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionOffsetChange {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset before the reset (absent when the group had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_offset: Option<i64>,
    /// Offset after the reset.
    pub new_offset: i64,
}
