//! What a restore run reports, and what it did to each target topic: the types that the run
//! ([`run`](super::run)), the resume state ([`state`](super::state)) and the topic preparation
//! ([`topics`](super::topics)) all speak. Its room: plain data; it imports only the format's
//! committed offsets, the offset-reset snapshot and the API's retention adjustment, and no
//! sibling module — which is what keeps `run → topics → state` from closing into a cycle
//! (before, `state` imported the result from `run` and `topics` the action from `state`).

use serde::{Deserialize, Serialize};

use crate::api::restore::RetentionAdjustment;
use crate::format::manifest::CommittedOffset;

/// What the restore did to a target topic before writing to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopicAction {
    /// Created with the backed-up partition count and configs.
    Create,
    /// Existed; records are appended after its own.
    Append,
    /// Existed; its records were deleted first.
    Overwrite,
}

/// What a restore reports (stdout, the termination message, and the resume state once done).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreResult {
    pub restore_id: String,
    pub backup_id: String,
    #[serde(default)]
    pub dry_run: bool,
    pub start_time: String,
    pub completion_time: String,
    pub restored_topics: u32,
    pub restored_partitions: u32,
    /// Records of the backup now in the target cluster (in a dry run: that would be).
    pub restored_records: i64,
    pub restored_bytes: u64,
    /// The requested point in time, resolved to an absolute time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_target: Option<String>,
    /// Timestamp of the newest record restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_point_in_time: Option<String>,
    pub consumer_groups_restored: u32,
    /// When the consumer-group offsets restored were captured (the start of the backup that read
    /// them: for a point in time, the last backup started at or before it), and by which backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_groups_captured_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_groups_backup_id: Option<String>,
    /// Created topics whose `retention.ms` was raised so the restored records are not deleted
    /// (they were older than the topic's retention).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retention_adjusted: Vec<RetentionAdjustment>,
    /// Per topic: what happened to it and how many records it got.
    #[serde(default)]
    pub topics: Vec<TopicOutcome>,
    /// Per consumer group: its offsets in the target, and whether they were committed.
    #[serde(default)]
    pub consumer_groups: Vec<GroupOutcome>,
    /// The target groups' offsets from before the restore (`snapshotOffsets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_snapshot: Option<crate::offset_reset::Snapshot>,
    /// The backup's cluster metadata: what was restored of it (`restore.metadata`) and what
    /// cannot be (SCRAM users). Absent when the backup holds none and none was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataOutcome>,
    /// What was re-registered in the target Schema Registry, and the schema ids that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<super::schemas::SchemaRegistryOutcome>,
    /// `restore.strimziResources`: the backup's Strimzi resources object, for the operator to
    /// recreate (the object itself only in the log's result line, not in the summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strimzi_resources: Option<super::strimzi_resources::StrimziResourcesHandoff>,
    /// `spec.masking`: records masked, left out (`onParseError: skip`) and written unmasked
    /// (`pass`). `restoredRecords` counts what was written; skipped records are not in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masking: Option<super::masking::MaskingReport>,
    /// Milliseconds from the start of the run until every target topic was decided, created or
    /// emptied and its start offsets read, before the first record is written: what a large
    /// partition count costs up front (`make bench` reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_ms: Option<u64>,
    /// Worker 0's share when the restore ran in several workers (`restore.workers`), which
    /// finished it: the figures above are every worker's. Absent with one worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<crate::backup::worker_result::WorkerSummary>,
}

/// What a restore did with the backup's cluster metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataOutcome {
    /// ACL bindings created (in a dry run: that would be); absent when not asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acls_restored: Option<u32>,
    /// Of those, `LITERAL` topic ACLs that name a target topic of `topicMapping` instead of
    /// the backed-up one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub acls_renamed: u32,
    /// Quota entities set (in a dry run: that would be); absent when not asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas_restored: Option<u32>,
    /// SCRAM users the backup lists, none of them restored: Kafka never reveals credentials.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scram_users_not_restored: u32,
    /// What needs a person's attention: the SCRAM users, `PREFIXED` ACLs matching mapped
    /// topics (created unchanged), bindings this build cannot create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicOutcome {
    pub source: String,
    pub target: String,
    pub action: TopicAction,
    pub partitions: i32,
    pub records: i64,
    /// Bytes of record data (keys, values, headers) it got; what a plan (dry run) reports per
    /// topic.
    #[serde(default)]
    pub bytes: u64,
    /// A created topic's replication factor (the backed-up one, capped at the target's brokers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,
    /// A created topic's dynamic configs once restored, every one (in a plan: as they will be,
    /// before any retention raise): what a `topicCreation: strimzi` restore declares in its
    /// `KafkaTopic`. Empty for a topic that existed.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub configs: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupOutcome {
    pub group: String,
    pub target_group: String,
    /// Committed (or, in a dry run, planned) offsets in the target cluster.
    pub offsets: Vec<CommittedOffset>,
    pub committed: bool,
    /// Why the offsets were not committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RestoreResult {
    /// The result without the per-topic and per-group lists, small enough for a termination
    /// message (Kubernetes keeps 4 KiB).
    pub fn summary(&self) -> Self {
        Self {
            topics: Vec::new(),
            consumer_groups: Vec::new(),
            offset_snapshot: None,
            metadata: self.metadata.clone().map(|mut m| {
                m.notes.truncate(5);
                m
            }),
            retention_adjusted: self.retention_adjusted.iter().take(10).cloned().collect(),
            schema_registry: self.schema_registry.clone().map(|mut s| {
                s.id_changes.truncate(10);
                s.settings_not_restored.truncate(5);
                s
            }),
            strimzi_resources: self.strimzi_resources.clone().map(|mut s| {
                s.gzip_base64 = None;
                s
            }),
            ..self.clone()
        }
    }
}
