//! `KafkaRestorePoint`: one committed backup at a storage location, as the operator read it from
//! its manifest (issue 15 §1). Written only by the operator — users get read access — and kept
//! in sync with the location: created when a backup commits, deleted when it is pruned. Its
//! spec is the manifest's facts and never changes; its status carries what restore drills found.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Label on every `KafkaRestorePoint`: the `KafkaBackup` or `KafkaBackupLocation` that lists it.
pub const SOURCE_LABEL: &str = "kafkabackup.com/source";
/// Label on every `KafkaRestorePoint`: `KafkaBackup` or `KafkaBackupLocation`.
pub const SOURCE_KIND_LABEL: &str = "kafkabackup.com/source-kind";
/// Most gaps listed per topic; the count says how many there are in all.
pub const GAPS_LISTED_PER_TOPIC: usize = 20;

/// A restore point: one backup committed at a storage location, readable as a catalog entry.
// Several `printcolumn(..)` entries look alike to clippy; each is one column.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kafkabackup.com",
    version = "v1alpha1",
    kind = "KafkaRestorePoint",
    plural = "kafkarestorepoints",
    singular = "kafkarestorepoint",
    shortname = "krp",
    category = "strimzi-backup",
    namespaced,
    status = "KafkaRestorePointStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "KafkaRestorePoint is one backup committed at a storage location, as the operator read it from its manifest: topics, partitions, records, bytes, the time range a restore can target, gaps and lineage. Written by the operator only; restore it with KafkaRestore.spec.restorePointRef.",
    printcolumn(name = "Backup", type_ = "string", json_path = ".spec.backupId", description = "Backup id"),
    printcolumn(
        name = "Source",
        type_ = "string",
        json_path = ".spec.source.name",
        priority = 1,
        description = "KafkaBackup or KafkaBackupLocation that lists it"
    ),
    printcolumn(
        name = "Topics",
        type_ = "integer",
        json_path = ".spec.totals.topics",
        description = "Topics"
    ),
    printcolumn(
        name = "From",
        type_ = "string",
        json_path = ".spec.restorableFrom",
        description = "Oldest record a restore can write"
    ),
    printcolumn(
        name = "To",
        type_ = "string",
        json_path = ".spec.restorableTo",
        description = "Newest record a restore can write"
    ),
    printcolumn(
        name = "Size",
        type_ = "integer",
        json_path = ".spec.totals.storedBytes",
        description = "Bytes stored (with the segments earlier backups wrote)"
    ),
    printcolumn(
        name = "Verified",
        type_ = "string",
        json_path = ".status.verification.result",
        description = "Result of the last restore drill"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf || (has(self.revision) && (!has(oldSelf.revision) || self.revision > oldSelf.revision))")
    .message("a KafkaRestorePoint's spec is what its manifest holds: it changes only with a newer revision of the manifest (a data erasure)"))]
pub struct KafkaRestorePointSpec {
    /// Backup id at the location.
    pub backup_id: String,
    /// The object that lists this restore point (same namespace).
    pub source: RestorePointSource,
    /// The `KafkaBackup` that wrote it, as recorded at the location (`owner.json`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Kafka cluster id of the source cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Manifest format version.
    pub format_version: i32,
    /// The manifest's revision when a data erasure rewrote the restore point (1, 2, ...);
    /// absent while it is as its backup committed it. The spec follows the newest revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i32>,
    /// When the backup took its cut (RFC 3339): the restore point holds what Kafka held then.
    pub captured_at: String,
    /// When its manifest was committed (RFC 3339).
    pub completed_at: String,
    /// Timestamp of the oldest record a restore can write (RFC 3339, milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restorable_from: Option<String>,
    /// Timestamp of the newest record a restore can write (RFC 3339, milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restorable_to: Option<String>,
    /// Segment compression (`zstd`, `lz4`, `gzip`, `snappy`, `none`).
    pub compression: String,
    /// Whether the segments are encrypted (the key id, never the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_id: Option<String>,
    /// Where the restore point's partitions began and which broke off from the backup before.
    #[serde(default)]
    pub lineage: Lineage,
    /// Totals over the restore point.
    pub totals: RestorePointTotals,
    /// Per topic: partitions, records, bytes, time range and gaps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<TopicSummary>,
    /// Consumer groups whose offsets it holds.
    #[serde(default)]
    pub consumer_groups: i32,
}

/// The object that lists a restore point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointSource {
    /// `KafkaBackup` or `KafkaBackupLocation`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// Lineage of a restore point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    /// The backup this one continues, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Backups whose full reads began the lineages of its partitions, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub started_by: Vec<String>,
    /// Partitions that started over although the backup before held them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaks: Vec<LineageBreakSummary>,
}

/// A partition that started a new lineage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineageBreakSummary {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// `TopicRecreated`, `ClusterChanged`, `OffsetsRegressed`, `RecordsExpired`,
    /// `EncryptionChanged` or `UnverifiedParent` (docs/format.md).
    pub reason: String,
}

/// Totals over a restore point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointTotals {
    /// Topics.
    pub topics: i32,
    /// Partitions.
    pub partitions: i32,
    /// Records.
    pub records: i64,
    /// Record bytes, uncompressed.
    pub raw_bytes: i64,
    /// Bytes stored, compressed (and encrypted).
    pub stored_bytes: i64,
}

/// One topic of a restore point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicSummary {
    /// Topic name in the backup.
    pub name: String,
    /// Partitions held (the topic's partition count).
    pub partitions: i32,
    /// Records.
    pub records: i64,
    /// Bytes stored.
    pub bytes: i64,
    /// Oldest record timestamp (RFC 3339, milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<String>,
    /// Newest record timestamp (RFC 3339, milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<String>,
    /// Offset ranges without records (retention, compaction, a deleted topic), at most 20
    /// listed; `gapCount` counts them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<GapSummary>,
    /// Gaps in all.
    #[serde(default)]
    pub gap_count: i32,
}

/// Offsets `[from, to)` of a partition without records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GapSummary {
    /// Partition.
    pub partition: i32,
    /// First offset without a record.
    pub from: i64,
    /// First offset after the gap.
    pub to: i64,
    /// `RetentionDeleted`, `NotReturned` or `TopicDeleted` (docs/format.md).
    pub reason: String,
}

/// What restore drills found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRestorePointStatus {
    /// The last restore drill of this restore point; absent until one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// Result of a restore drill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum VerificationResult {
    /// Every record restored and read back equal to the backup.
    Passed,
    /// A record differed or was missing, or the restore failed.
    #[default]
    Failed,
}

/// Evidence of one restore drill.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// `Passed` or `Failed`.
    pub result: VerificationResult,
    /// The drill that ran (`namespace/name` of its resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<String>,
    /// When the drill started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Records restored and compared.
    #[serde(default)]
    pub records: i64,
    /// Records that differed or were missing.
    #[serde(default)]
    pub mismatches: i64,
    /// Time to restore, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<f64>,
    /// The first mismatch or the error, naming topic, partition and offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
