//! `KafkaRestoreDrill`: a restore drill on its own cron (issue 15 §4). It restores a restore
//! point into scratch topics, reads them back, compares record for record with the backup, times
//! the restore, deletes the scratch topics and records the evidence — in its own status, on the
//! restore point, as an Event and as metrics.
//!
//! A kind of its own rather than a field of `KafkaBackup`: a disaster-recovery cluster drills the
//! restore points of a `KafkaBackupLocation` it only reads, on a target cluster of its own, and
//! one backup may be drilled on several clusters with different budgets.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::ClusterConnection;
use super::condition::Condition;
use super::restore_point::VerificationResult;
use super::selection::Selection;
use super::template::JobOptions;

/// Restores a restore point into scratch topics on a schedule and proves it restores.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kafkabackup.com",
    version = "v1alpha1",
    kind = "KafkaRestoreDrill",
    plural = "kafkarestoredrills",
    singular = "kafkarestoredrill",
    shortname = "krd",
    category = "strimzi-backup",
    namespaced,
    status = "KafkaRestoreDrillStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "KafkaRestoreDrill restores a restore point of a KafkaBackup or KafkaBackupLocation into scratch topics on a cron schedule, compares every record with the backup, measures the time to restore and deletes the scratch topics again.",
    printcolumn(
        name = "Schedule",
        type_ = "string",
        json_path = ".spec.schedule.cron",
        description = "Cron schedule of the drills"
    ),
    printcolumn(
        name = "Restore Point",
        type_ = "string",
        json_path = ".status.lastVerification.restorePoint",
        description = "Restore point of the last drill"
    ),
    printcolumn(
        name = "Result",
        type_ = "string",
        json_path = ".status.lastVerification.result",
        description = "Result of the last drill"
    ),
    printcolumn(
        name = "RTO",
        type_ = "number",
        json_path = ".status.lastVerification.rtoSeconds",
        description = "Seconds the last drill's restore took"
    ),
    printcolumn(
        name = "Last Drill",
        type_ = "date",
        json_path = ".status.lastVerification.completionTime",
        description = "When the last drill ended"
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
#[x_kube(validation = Rule::new("has(self.backupRef) != has(self.locationRef)")
    .message("set exactly one of spec.backupRef (a KafkaBackup) or spec.locationRef (a KafkaBackupLocation)"))]
#[x_kube(validation = Rule::new("has(self.backupRef) || has(self.target)")
    .message("spec.target is required with spec.locationRef: name the cluster the scratch topics are restored into"))]
#[x_kube(validation = Rule::new("!has(self.target) || has(self.target.strimziClusterRef) != has(self.target.kafkaCluster)")
    .message("set exactly one of spec.target.strimziClusterRef or spec.target.kafkaCluster"))]
pub struct KafkaRestoreDrillSpec {
    /// When to drill. Without a schedule the drill runs once, plus on every new value of the
    /// `kafkabackup.com/trigger` annotation (what `kubectl kafkabackup drill` sets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<DrillSchedule>,
    /// Drill the restore points of this `KafkaBackup` (same namespace). Mutually exclusive
    /// with `locationRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_ref: Option<LocalRef>,
    /// Drill the restore points a `KafkaBackupLocation` (same namespace) lists — another
    /// cluster's backups. Mutually exclusive with `backupRef`; needs `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_ref: Option<LocalRef>,
    /// Which restore point each drill restores.
    #[serde(default)]
    pub restore_point: RestorePointChoice,
    /// The cluster the scratch topics are restored into. Default (with `backupRef`): the
    /// backed-up cluster itself — the scratch topics carry `topicPrefix`, and a prefix that could
    /// name a real or backed-up topic is refused before anything is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ClusterConnection>,
    /// Which backed-up topics are drilled. Default: all of them.
    #[serde(default)]
    pub topics: Selection,
    /// Scratch topics are `<topicPrefix><topic>`. Default `drill-<name>-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9._-]{1,100}$"))]
    pub topic_prefix: Option<String>,
    /// Refuse a drill of more records than this (it copies the restore point into the target
    /// cluster for its run). Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_records: Option<i64>,
    /// Partitions restored and compared at once.
    #[serde(default = "default_parallelism")]
    #[schemars(range(min = 1, max = 64))]
    pub parallelism: i32,
    /// Drills kept in `status.history`, newest first.
    #[serde(default = "default_history_limit")]
    #[schemars(range(min = 1, max = 100))]
    pub history_limit: i32,
    /// Resources, template and Job settings of the drill Jobs.
    #[serde(flatten)]
    pub job_options: JobOptions,
}

/// A drill's cron schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillSchedule {
    /// Standard 5-field cron expression (minute hour day-of-month month day-of-week), e.g.
    /// `0 4 * * 0` for 04:00 every Sunday.
    #[schemars(length(min = 9))]
    pub cron: String,
    /// IANA time zone the cron expression is read in, e.g. `Europe/Berlin`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Pause the drills; a running drill finishes.
    #[serde(default)]
    pub suspend: bool,
}

impl DrillSchedule {
    /// The same cron rules as a backup's schedule (one parser, one set of messages).
    pub fn as_backup_schedule(&self) -> super::backup::Schedule {
        super::backup::Schedule {
            cron: self.cron.clone(),
            timezone: self.timezone.clone(),
            suspend: self.suspend,
            concurrency_policy: Default::default(),
        }
    }
}

/// A resource in the drill's own namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalRef {
    /// Name of the object, in the drill's namespace.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Which restore point a drill restores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RestorePointChoice {
    /// The newest restore point: proves what a restore today would get.
    #[default]
    Newest,
    /// One picked at random among the kept restore points, preferring those never drilled:
    /// over time every kept restore point is proven, not only the newest.
    Sampled,
}

fn default_timezone() -> String {
    "UTC".into()
}

fn default_parallelism() -> i32 {
    4
}

fn default_history_limit() -> i32 {
    10
}

/// The scratch-topic prefix of `drill` when the spec sets none.
pub fn default_topic_prefix(drill_name: &str) -> String {
    format!("drill-{drill_name}-")
}

/// What the drills found, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRestoreDrillStatus {
    /// `Ready` is true while the last drill passed.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` of the spec the last recorded drill ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The evidence of the last finished drill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verification: Option<DrillRun>,
    /// When a drill last passed; the alert on drills fires when this is older than two
    /// schedule intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_time: Option<Time>,
    /// When the last drill was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When the next drill is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// The drill Job running now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_job: Option<String>,
    /// The last value of the `kafkabackup.com/trigger` annotation a drill was started for: one
    /// value starts one drill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trigger: Option<String>,
    /// The last drills, newest first (at most `spec.historyLimit`), without their mismatches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<DrillRun>,
}

/// One drill's evidence.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillRun {
    /// The `KafkaRestorePoint` drilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_point: Option<String>,
    /// Its backup id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    /// The drill Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// When the drill started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When it finished: scratch topics compared and deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// `Passed`: every record came back as the backup holds it. `Failed`: a record differed or
    /// was missing, or the drill could not restore.
    pub result: VerificationResult,
    /// Records restored, read back and compared.
    #[serde(default)]
    pub records: i64,
    /// Bytes (keys, values, headers) restored.
    #[serde(default)]
    pub bytes: i64,
    /// Records that differed, were missing or were extra.
    #[serde(default)]
    pub mismatches: i64,
    /// Time to restore (RTO): the restore from reading the manifest to its last commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<f64>,
    /// Records restored per second of the restore (throughput).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_per_second: Option<f64>,
    /// Megabytes (10^6 bytes of keys, values and headers) restored per second of the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mb_per_second: Option<f64>,
    /// The first records that differed, each named by topic, partition and offset (only on
    /// `lastVerification`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_mismatches: Vec<Mismatch>,
    /// What happened, in a sentence: the first mismatch or the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether every scratch topic was deleted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch_topics_deleted: Option<bool>,
}

/// One record that did not come back as the backup holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mismatch {
    /// The backed-up topic (not the scratch topic).
    pub topic: String,
    /// The partition (the same number in the scratch topic).
    pub partition: i32,
    /// The record's offset in the backup; absent for a record the backup does not hold (`extra`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Where the record read back sits in the scratch topic; absent when it is `missing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_offset: Option<i64>,
    /// `missing`, `extra`, or the fields that differ: `key`, `value`, `headers`, `timestamp`
    /// (comma-separated).
    pub what: String,
}

/// The reasons of a `KafkaRestoreDrill`'s `Ready` condition. The strings are a contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DrillReason {
    /// The spec breaks a rule the webhook checks too.
    InvalidSpec,
    /// No drill finished yet; the first is scheduled (or running).
    Scheduled,
    /// The last drill restored every record equal to the backup.
    DrillPassed,
    /// The last drill found a mismatch or could not restore.
    DrillFailed,
    /// The `KafkaBackup` or `KafkaBackupLocation` named is absent, or lists no restore point.
    NoRestorePoint,
    /// The target cluster cannot be resolved (Strimzi `Kafka`, `KafkaUser`, Secrets).
    TargetNotResolved,
    /// The drill Job's pod cannot start (missing Secret or key, image pull).
    JobPodBlocked,
}

impl DrillReason {
    /// Every reason, for tests that hold the strings to their contract.
    pub const ALL: [DrillReason; 7] = [
        Self::InvalidSpec,
        Self::Scheduled,
        Self::DrillPassed,
        Self::DrillFailed,
        Self::NoRestorePoint,
        Self::TargetNotResolved,
        Self::JobPodBlocked,
    ];
}

impl super::condition::ReadyReason for DrillReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSpec => "InvalidSpec",
            Self::Scheduled => "Scheduled",
            Self::DrillPassed => "DrillPassed",
            Self::DrillFailed => "DrillFailed",
            Self::NoRestorePoint => "NoRestorePoint",
            Self::TargetNotResolved => "TargetNotResolved",
            Self::JobPodBlocked => "JobPodBlocked",
        }
    }
    fn is_ready(self) -> bool {
        self == Self::DrillPassed
    }
}
