//! `KafkaBackupLocation`: a storage location whose backups the operator lists into
//! `KafkaRestorePoint` objects (issue 15 §1). What a disaster-recovery cluster needs to see —
//! and restore — the backups another cluster wrote, without the `KafkaBackup` that wrote them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::Condition;
use super::storage::StorageSpec;
use super::template::JobOptions;

/// Lists the backups committed at a storage location and keeps one read-only `KafkaRestorePoint`
/// per restore point in sync.
// Several `printcolumn(..)` entries look alike to clippy; each is one column.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kafkabackup.com",
    version = "v1alpha1",
    kind = "KafkaBackupLocation",
    plural = "kafkabackuplocations",
    singular = "kafkabackuplocation",
    shortname = "kbl",
    category = "strimzi-backup",
    namespaced,
    status = "KafkaBackupLocationStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "KafkaBackupLocation makes the backups at a storage location visible in this namespace: the operator lists them every syncPeriod and keeps one read-only KafkaRestorePoint per restore point, restorable with KafkaRestore.spec.restorePointRef.",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".spec.storage.type",
        description = "Storage backend"
    ),
    printcolumn(
        name = "Restore Points",
        type_ = "integer",
        json_path = ".status.restorePoints",
        description = "Restore points at the location"
    ),
    printcolumn(
        name = "Last Sync",
        type_ = "date",
        json_path = ".status.lastSyncTime",
        description = "When the location was last listed"
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
pub struct KafkaBackupLocationSpec {
    /// Where the backups are: the same block as `KafkaBackup.spec.storage`, with the prefix
    /// (filesystem: path) exactly as the writer used it. A `KafkaBackup` without a prefix writes
    /// under `<namespace>/<name>/`.
    pub storage: StorageSpec,
    /// How often the location is listed for new and pruned restore points: a duration such as
    /// `5m` or `1h` (at least `30s`). Manifests never change once written, so each sync reads only
    /// the ones it has not seen.
    #[serde(default = "default_sync_period")]
    #[schemars(regex(pattern = r"^([1-9][0-9]*(s|m|h))+$"))]
    pub sync_period: String,
    /// `ReadOnly` (default): nothing done through this object writes to the location (a
    /// filesystem volume is mounted read-only), so another cluster's backups are safe from it.
    /// `ReadWrite`: restore drills of its restore points also record their evidence at the
    /// location, where every cluster that syncs it sees it. Restores from its restore points
    /// write their lease and resume state under `restores/` in either mode.
    #[serde(default)]
    pub access_mode: AccessMode,
    /// How the backups at this location are encrypted: the writing `KafkaBackup`'s
    /// `spec.backup.encryption` (`keySecret` with a Secret of this namespace holding the same
    /// key, or the same `kms` settings). Restores of this location's restore points read the
    /// backups with it; listing them needs no key. Reading backups never needs a licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<super::backup::Encryption>,
    /// Resources, template and Job settings of the sync Jobs.
    #[serde(flatten)]
    pub job_options: JobOptions,
}

/// Whether the operator may write to a location it lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AccessMode {
    /// List and read only.
    #[default]
    ReadOnly,
    /// Also record restore-drill evidence at the location.
    ReadWrite,
}

/// The reasons of a `KafkaBackupLocation`'s `Ready` condition. The strings are a contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocationReason {
    /// The spec breaks a rule the webhook checks too (the webhook was bypassed or absent).
    InvalidSpec,
    /// The first sync is running.
    Syncing,
    /// The last sync listed the location; its restore points are in the namespace.
    Synced,
    /// The last sync failed (storage unreachable, credentials refused); the restore points of
    /// the sync before stay, and it is retried at the next period.
    SyncFailed,
    /// The sync Job's pod cannot start (missing Secret or key, image pull).
    JobPodBlocked,
}

impl LocationReason {
    /// Every reason, for tests that hold the strings to their contract.
    pub const ALL: [LocationReason; 5] =
        [Self::InvalidSpec, Self::Syncing, Self::Synced, Self::SyncFailed, Self::JobPodBlocked];
}

impl super::condition::ReadyReason for LocationReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSpec => "InvalidSpec",
            Self::Syncing => "Syncing",
            Self::Synced => "Synced",
            Self::SyncFailed => "SyncFailed",
            Self::JobPodBlocked => "JobPodBlocked",
        }
    }
    fn is_ready(self) -> bool {
        self == Self::Synced
    }
}

/// The default `syncPeriod`.
pub const DEFAULT_SYNC_PERIOD: &str = "5m";

fn default_sync_period() -> String {
    DEFAULT_SYNC_PERIOD.into()
}

/// The recoverability of a set of restore points: what a point-in-time restore can target.
/// Shared by `KafkaBackup` and `KafkaBackupLocation` status. RFC 3339 with milliseconds (a
/// Kubernetes `Time` keeps seconds only, and a point in time is a millisecond).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recoverability {
    /// The earliest millisecond a point-in-time restore can target: the oldest record timestamp
    /// any kept restore point holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_recoverability_point: Option<String>,
    /// The latest millisecond a point-in-time restore can target: the newest restore point's
    /// capture time (its cut), or its newest record's timestamp when that is later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_recoverability_point: Option<String>,
    /// When the newest restore point was committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup: Option<String>,
}

/// Observed state of a `KafkaBackupLocation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBackupLocationStatus {
    /// `Ready` and others, in Strimzi's shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the location was last listed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// When the last sync ended, successful or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_time: Option<Time>,
    /// When the next sync is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sync_time: Option<Time>,
    /// Restore points at the location (one `KafkaRestorePoint` each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_points: Option<i64>,
    /// Manifests at the location this build cannot read (damaged or newer), by object name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// Bytes stored by the restore points (each object counted once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_bytes: Option<i64>,
    /// The window a point-in-time restore from this location can target.
    #[serde(flatten)]
    pub recoverability: Recoverability,
    /// Name of the sync Job in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_job: Option<String>,
}
