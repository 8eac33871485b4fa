//! `KafkaBackup`: a backup policy — what to back up, where, when, and for how long (SPEC §2.2,
//! §2.3). One object runs once, or on a cron schedule.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::ClusterConnection;
use super::condition::Condition;
use super::selection::{Selection, TopicSelection};
use super::storage::StorageSpec;
use super::template::JobOptions;

/// Most runs kept in `status.backupHistory`; older ones are in storage and the Events.
pub const BACKUP_HISTORY_LIMIT: usize = 20;

/// Annotation that runs a backup on demand: set it to a new value (e.g. `now`, a timestamp).
/// The handled value is echoed in `status.lastTrigger`, so one value fires once.
pub const TRIGGER_ANNOTATION: &str = "kafkabackup.com/trigger";

/// Backs up Kafka topics and consumer-group offsets to object storage, once or on a schedule.
// Several `printcolumn(..)` entries look alike to clippy; each is one column.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kafkabackup.com",
    version = "v1alpha1",
    kind = "KafkaBackup",
    plural = "kafkabackups",
    singular = "kafkabackup",
    shortname = "kb",
    category = "strimzi-backup",
    namespaced,
    status = "KafkaBackupStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "KafkaBackup backs up Kafka topics and consumer-group offsets to object storage, once or on a cron schedule, and prunes old backups by its retention policy.",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".spec.strimziClusterRef.name",
        description = "Strimzi Kafka cluster backed up"
    ),
    printcolumn(
        name = "Bootstrap",
        type_ = "string",
        json_path = ".spec.kafkaCluster.bootstrapServers",
        priority = 1,
        description = "Bootstrap servers of a non-Strimzi cluster"
    ),
    printcolumn(
        name = "Schedule",
        type_ = "string",
        json_path = ".spec.schedule.cron",
        description = "Cron schedule (empty: runs once)"
    ),
    printcolumn(
        name = "Last Backup",
        type_ = "date",
        json_path = ".status.lastBackup.completionTime",
        description = "Completion time of the last backup"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#,
        description = "Reason of the Ready condition"
    ),
    printcolumn(
        name = "Size",
        type_ = "integer",
        json_path = ".status.storageBytes",
        description = "Bytes stored by all retained backups"
    ),
    printcolumn(
        name = "Next Backup",
        // A date column shows ages; a time in the future would print as <invalid>.
        type_ = "string",
        json_path = ".status.nextScheduledBackup",
        priority = 1,
        description = "Next scheduled run"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = super::cluster::exactly_one_cluster())]
pub struct KafkaBackupSpec {
    /// Cluster to back up.
    #[serde(flatten)]
    pub cluster: ClusterConnection,
    /// Topics to back up.
    #[serde(default)]
    pub topics: TopicSelection,
    /// Consumer groups whose committed offsets are stored with the data.
    #[serde(default)]
    pub consumer_groups: Selection,
    /// Where backups are written.
    pub storage: StorageSpec,
    /// How records are written.
    #[serde(default)]
    pub backup: BackupSettings,
    /// When to run. Without a schedule the backup runs once, plus on every new value of the
    /// `kafkabackup.com/trigger` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Which backups to keep. Without it every backup is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// What happens to stored backups when this resource is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// A Schema Registry whose subjects, versions, ids, compatibility and modes are stored with
    /// each backup (`schema-registry.json`), so a restore can re-register the schemas its records
    /// name (docs/schema-registry.md). A registry that cannot be read fails the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<super::schema_registry::SchemaRegistryBackupSpec>,
    /// Who may restore this backup (Enterprise, licence feature `restore-policy`): present, a
    /// restore needs the user's `restore` verb on this `KafkaBackup` (Kubernetes RBAC: the
    /// ClusterRole `strimzi-backup-restorer`), and the clusters and approval it allows.
    /// Enforced even after the licence lapses (docs/enterprise.md "Restore access policy").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_policy: Option<super::restore_policy::RestorePolicy>,
    /// Resources, template and Job settings of the backup Jobs.
    #[serde(flatten)]
    pub job_options: JobOptions,
}

/// Record compression in segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Zstandard: the best ratio for Kafka payloads at good speed.
    #[default]
    Zstd,
    /// LZ4: fastest, lower ratio.
    Lz4,
    /// No compression (already-compressed or encrypted payloads).
    None,
    /// gzip (DEFLATE): what every tool reads; slower than zstd for a lower ratio. Levels 1-9.
    Gzip,
    /// Snappy (raw block format): fast, a lower ratio than zstd; it has no levels.
    Snappy,
}

/// Full, incremental or continuous backups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackupMode {
    /// Continue from the end offsets of the previous completed backup (chained to it).
    #[default]
    Incremental,
    /// Everything from the earliest available offset.
    Full,
    /// A long-running pod (a Deployment the operator owns) commits an incremental restore point
    /// every `commitInterval`, for a recovery point objective of seconds (docs/continuous-backup.md).
    /// Takes the place of `schedule`.
    Continuous,
}

/// The shortest `backup.commitInterval` of a continuous backup, in seconds: below it the fixed
/// cost of each restore point (a plan, the cluster metadata, a read of the location for
/// retention) is most of the work.
pub const MIN_COMMIT_INTERVAL_SECONDS: i64 = 10;

/// `backup.commitInterval` when absent.
pub const DEFAULT_COMMIT_INTERVAL: &str = "60s";

/// Settings of the backup data plane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSettings {
    /// Segment compression, block by block: `zstd` (best ratio at good speed), `lz4` or `snappy`
    /// (faster, lower ratio), `gzip` (slowest, for policies that ask for it) or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// Compression level (zstd: 1-22; lz4: 1-12; gzip: 1-9; ignored for snappy, which has no
    /// levels, and for none).
    #[serde(default = "default_compression_level")]
    #[schemars(range(min = 1, max = 22))]
    pub compression_level: i32,
    /// At-rest encryption with AES-256-GCM (Enterprise edition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Segment size in bytes before a new segment object is started.
    #[serde(default = "default_segment_size")]
    #[schemars(range(min = 1_048_576, max = 4_294_967_296_i64))]
    pub segment_size: i64,
    /// Partitions backed up concurrently (in each worker pod, with `workers`).
    #[serde(default = "default_parallelism")]
    #[schemars(range(min = 1, max = 256))]
    pub parallelism: i32,
    /// Pods one backup runs across (issue 18 §3). With more than one the run is an Indexed Job
    /// of that many pods: the partitions are split between them by expected bytes, each writes
    /// its own segments, and the restore point is committed once, after every worker succeeded;
    /// a worker that fails is retried alone (`job.backoffLimit` is then per worker). Each pod
    /// gets the Job's `resources`. At most 64: every worker plans the whole backup
    /// (one round of ListOffsets for every partition) and keeps its own Kafka and storage
    /// connections, so beyond that the brokers answer more planning than the workers gain, and
    /// a backup that needs more pods needs fewer, bigger ones (`parallelism`, `resources`).
    #[serde(default = "default_workers")]
    #[schemars(range(min = 1, max = MAX_WORKERS))]
    pub workers: i32,
    /// Incremental (default), full, or continuous (a restore point every `commitInterval`).
    #[serde(default)]
    pub mode: BackupMode,
    /// With mode `continuous`: how often a restore point is committed (default `60s`, at least
    /// `10s`), the recovery point objective when all is well. A duration such as `30s` or `2m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([1-9][0-9]*(ms|s|m|h))+$"))]
    pub commit_interval: Option<String>,
    /// How long a partition may go without a record, while its cut is not reached, before the
    /// backup fails naming it (a stalled or unreachable broker, a rolling restart that does not
    /// end). Only the broker's own end of the partition at the cut ends a partition: a backup
    /// never commits short of its cut. A duration such as `5m` or `1h`.
    #[serde(default = "default_stall_timeout")]
    #[schemars(regex(pattern = r"^([1-9][0-9]*(ms|s|m|h))+$"))]
    pub stall_timeout: String,
    /// Back up the cluster's ACLs, client quotas and SCRAM users' mechanisms with each backup
    /// (Kafka never reveals SCRAM credentials: those are not in any backup). A part the cluster
    /// refuses to show (no `Describe` on the cluster; quotas over TLS or SASL) is recorded as
    /// not captured, with why, in the backup and its result.
    #[serde(default = "default_cluster_metadata")]
    pub cluster_metadata: bool,
    /// Back up the Strimzi `KafkaTopic` and `KafkaUser` resources of the cluster (labelled
    /// `strimzi.io/cluster: <name>` in the `Kafka`'s namespace) with each backup, as declared:
    /// spec, labels and annotations, no status. Needs `strimziClusterRef`. `KafkaUser`s hold
    /// references to Secrets, never passwords; Secrets are never backed up
    /// (docs/strimzi-resources.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strimzi_resources: bool,
}

fn default_cluster_metadata() -> bool {
    true
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            compression: Compression::default(),
            compression_level: default_compression_level(),
            encryption: None,
            segment_size: default_segment_size(),
            parallelism: default_parallelism(),
            workers: default_workers(),
            mode: BackupMode::default(),
            commit_interval: None,
            stall_timeout: default_stall_timeout(),
            cluster_metadata: default_cluster_metadata(),
            strimzi_resources: false,
        }
    }
}

fn default_stall_timeout() -> String {
    "5m".into()
}

fn default_compression_level() -> i32 {
    3
}

fn default_segment_size() -> i64 {
    256 * 1024 * 1024
}

fn default_parallelism() -> i32 {
    4
}

/// The most pods one backup may run across (`backup.workers`); why, on the field.
pub const MAX_WORKERS: i32 = 64;

fn default_workers() -> i32 {
    1
}

/// At-rest encryption of segments and manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || has(self.keySecret) != has(self.kms)")
    .message("encryption.enabled needs exactly one of keySecret (the Secret key holding the AES-256 key) and kms (a KMS key wrapping each backup's data key)"))]
pub struct Encryption {
    /// Encrypt backups.
    #[serde(default)]
    pub enabled: bool,
    /// Secret key holding the 256-bit key (32 raw bytes, or 64 hex / 44 base64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_secret: Option<super::cluster::SecretKeyRef>,
    /// Envelope encryption instead of `keySecret`: a fresh data key per backup, wrapped by a key
    /// in AWS KMS or Vault/OpenBao transit (Enterprise feature `kms`; docs/enterprise.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<super::kms::KmsSpec>,
}

/// What to do when a scheduled run is due while the previous one still runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConcurrencyPolicy {
    /// Skip the new run and record that it was skipped.
    #[default]
    Forbid,
    /// Stop the running backup (it leaves no visible backup) and start the new one.
    Replace,
}

/// Cron schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// Standard 5-field cron expression (minute hour day-of-month month day-of-week), e.g.
    /// `0 2 * * *` for 02:00 daily.
    #[schemars(length(min = 9))]
    pub cron: String,
    /// IANA time zone the cron expression is read in, e.g. `Europe/Berlin`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Pause scheduling; a running backup finishes.
    #[serde(default)]
    pub suspend: bool,
    /// What to do when a run is due while the previous one still runs.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
}

fn default_timezone() -> String {
    "UTC".into()
}

/// Retention policy. A backup is pruned when it is beyond `maxBackups` or older than `maxAge`;
/// the newest completed backup, one a restore is reading, and the parent of a kept incremental
/// backup are never pruned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.maxBackups) || has(self.maxAge)")
    .message("retention needs at least one bound: set maxBackups, maxAge, or both"))]
pub struct Retention {
    /// Number of completed backups to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_backups: Option<i32>,
    /// Maximum age of a backup: a number and a unit, `h` (hours), `d` (days) or `w` (weeks),
    /// e.g. `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]*[hdw]$"))]
    pub max_age: Option<String>,
    /// Prune after each scheduled run.
    #[serde(default = "prune_on_schedule")]
    pub prune_on_schedule: bool,
}

fn prune_on_schedule() -> bool {
    true
}

/// What deleting the `KafkaBackup` does to its stored backups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the stored backups (they stay restorable with `KafkaRestore.spec.source`).
    #[default]
    Retain,
    /// Delete the stored backups with the resource.
    Delete,
}

/// Observed state of a `KafkaBackup`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBackupStatus {
    /// `Ready` and others, in Strimzi's shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The most recent backup run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<BackupRecord>,
    /// Recent runs, newest first (as many as `maxItems`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = BACKUP_HISTORY_LIMIT))]
    pub backup_history: Vec<BackupRecord>,
    /// When the next scheduled run is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_scheduled_backup: Option<Time>,
    /// Name of the Job of the run in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_job: Option<String>,
    /// Completed backups currently in storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_count: Option<i64>,
    /// Bytes in storage across those backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_bytes: Option<i64>,
    /// The last handled value of the `kafkabackup.com/trigger` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trigger: Option<String>,
    /// The window a point-in-time restore can target, across the kept restore points.
    #[serde(flatten)]
    pub recoverability: super::location::Recoverability,
    /// Fingerprint of the Enterprise settings (e.g. `backup.encryption`) last accepted under a
    /// valid licence. When the licence lapses, settings with this fingerprint keep running (the
    /// `LicenseInvalid` condition warns); new or changed ones wait for a valid licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensed_settings: Option<String>,
}

/// Outcome of one backup run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BackupRunStatus {
    #[default]
    Running,
    Completed,
    Failed,
    /// A scheduled run that was not started (previous run still active, `Forbid`).
    Skipped,
}

/// One backup run as seen in status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    /// Backup id in storage (e.g. `backup-20260213-020000`).
    pub id: String,
    /// Run outcome.
    pub status: BackupRunStatus,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Bytes written to storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Records backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<i64>,
    /// Topics in the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics_backed_up: Option<i32>,
    /// Partitions in the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions_backed_up: Option<i32>,
    /// Timestamp of the oldest record in the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_timestamp: Option<Time>,
    /// Timestamp of the newest record in the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_timestamp: Option<Time>,
    /// Why the run failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `KafkaTopic`s stored with the backup (`backup.strimziResources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_topics_backed_up: Option<i32>,
    /// `KafkaUser`s stored with the backup (`backup.strimziResources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_users_backed_up: Option<i32>,
    /// Schema Registry subjects stored with the backup (`spec.schemaRegistry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_subjects: Option<i32>,
    /// Schema Registry versions stored with the backup, soft-deleted ones included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_versions: Option<i32>,
    /// The cluster metadata stored with the backup (`backup.clusterMetadata`): what was
    /// captured, and what was not and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_metadata: Option<CapturedMetadata>,
    /// Pods the backup ran across (`backup.workers`), when more than one; `records` and
    /// `sizeBytes` are still the whole backup's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<i32>,
}

/// What a backup stored of the cluster's metadata. A part the cluster refused (no `Describe` on
/// the cluster, quotas over a TLS or SASL connection) does not fail the backup: it is listed in
/// `notCaptured`, and a restore asking for it is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapturedMetadata {
    /// ACL bindings stored (absent: not captured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acls: Option<i32>,
    /// Client quota entities stored (absent: not captured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<i32>,
    /// SCRAM users whose mechanisms were stored (absent: not captured). Kafka never reveals
    /// the credentials themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scram_users: Option<i32>,
    /// Each part not captured, with why (`quotas: ...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_captured: Vec<String>,
}

impl CapturedMetadata {
    /// The status form of the manifest's reference to the metadata object.
    pub fn from_ref(r: &crate::format::metadata::MetadataRef) -> Self {
        let count = |n: Option<u32>| n.and_then(|n| i32::try_from(n).ok());
        Self {
            acls: count(r.acls),
            quotas: count(r.quotas),
            scram_users: count(r.scram_users),
            not_captured: r.not_captured.iter().map(|n| format!("{}: {}", n.what, n.reason)).collect(),
        }
    }
}
