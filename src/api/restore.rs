//! `KafkaRestore`: one restore run (SPEC §2.4) — from a `KafkaBackup` or straight from storage,
//! optionally to a point in time, renamed, into any cluster. One-shot like a Job: the spec is
//! immutable once created.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::ClusterConnection;
use super::condition::Condition;
use super::selection::Selection;
use super::storage::StorageSpec;
use super::template::JobOptions;

/// Restores topics and consumer-group offsets from a backup into a Kafka cluster.
// Several `printcolumn(..)` entries look alike to clippy; each is one column.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kafkabackup.com",
    version = "v1alpha1",
    kind = "KafkaRestore",
    plural = "kafkarestores",
    singular = "kafkarestore",
    shortname = "kr",
    category = "strimzi-backup",
    namespaced,
    status = "KafkaRestoreStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "KafkaRestore restores topics and consumer-group offsets from a backup into a Kafka cluster, optionally to a point in time and under new names. One run per object; the spec is immutable.",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Pending, Planned, Running, Completed or Failed"
    ),
    printcolumn(
        name = "Plan",
        type_ = "string",
        json_path = ".status.plan.hash",
        priority = 1,
        description = "Hash of the restore plan (approve with kafkabackup.com/approve=<hash>)"
    ),
    printcolumn(
        name = "Backup",
        type_ = "string",
        json_path = ".spec.backupRef.name",
        description = "KafkaBackup restored from"
    ),
    printcolumn(
        name = "Backup Id",
        type_ = "string",
        json_path = ".status.restore.backupId",
        priority = 1,
        description = "Backup id restored"
    ),
    printcolumn(
        name = "Point In Time",
        type_ = "string",
        json_path = ".spec.pointInTime.timestamp",
        description = "Restore records up to this time"
    ),
    printcolumn(
        name = "Progress",
        type_ = "integer",
        json_path = ".status.progress.percent",
        description = "Percent of records restored"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = super::cluster::exactly_one_cluster())]
#[x_kube(validation = Rule::new("[has(self.backupRef), has(self.source), has(self.restorePointRef)].filter(x, x).size() == 1")
    .message("set exactly one of spec.backupRef (a KafkaBackup), spec.restorePointRef (a KafkaRestorePoint) or spec.source (a storage location, when no KafkaBackup exists)"))]
#[x_kube(validation = Rule::new("self == oldSelf")
    .message("spec is immutable: a KafkaRestore is one run; create a new KafkaRestore instead"))]
pub struct KafkaRestoreSpec {
    /// Target cluster to restore into.
    #[serde(flatten)]
    pub cluster: ClusterConnection,
    /// Restore from the backups of a `KafkaBackup`. Mutually exclusive with `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_ref: Option<BackupRef>,
    /// Restore straight from storage, when no `KafkaBackup` object exists (disaster recovery).
    /// Mutually exclusive with `backupRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<RestoreSource>,
    /// Restore one `KafkaRestorePoint` of this namespace (`kubectl get krp`): the backup it
    /// names, at the location of the `KafkaBackup` or `KafkaBackupLocation` that lists it.
    /// Mutually exclusive with `backupRef` and `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_point_ref: Option<RestorePointRef>,
    /// Restore only records up to this point. Without it everything in the backup is restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time: Option<PointInTime>,
    /// Subset of the backed-up topics to restore.
    #[serde(default)]
    pub topics: Selection,
    /// Topics restored under another name; each target topic once. A list keyed by
    /// `targetTopic`: the API server refuses a second mapping into the same target, at any length
    /// (a CEL rule comparing every pair would cap the list at a few hundred entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["targetTopic"]))]
    pub topic_mapping: Vec<TopicMapping>,
    /// Consumer-group offsets to restore, translated to the offsets of the restored records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_groups: Option<RestoreConsumerGroups>,
    /// How topics are created and written.
    #[serde(default)]
    pub restore: RestoreSettings,
    /// Snapshot the target groups' offsets first, so a `KafkaOffsetReset` with
    /// `resetStrategy: to-snapshot` can undo the offset part of the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Mask keys, values and headers of the restored records (Enterprise, licence feature
    /// `masking`): JSON fields or whole values redacted, replaced or hashed with a key from a
    /// Secret, headers dropped. Without it every record is restored exactly as backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masking: Option<super::masking::MaskingSpec>,
    /// Resources, template and Job settings of the restore Job.
    #[serde(flatten)]
    pub job_options: JobOptions,
}

/// Reference to a `KafkaBackup` and optionally one of its backups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRef {
    /// Name of the `KafkaBackup`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the `KafkaBackup`; defaults to this resource's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Backup id to restore; the latest completed backup when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
}

/// Reference to a `KafkaRestorePoint` in the restore's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointRef {
    /// Name of the `KafkaRestorePoint`.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A storage location to restore from without a `KafkaBackup` object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSource {
    /// Where the backups are (the same block as `KafkaBackup.spec.storage`).
    pub storage: StorageSpec,
    /// Backup id to restore; the latest completed backup at that location when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
}

/// Point-in-time target: exactly one of `timestamp` and `offsetFromEnd`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.timestamp) != has(self.offsetFromEnd)")
    .message("pointInTime needs exactly one of timestamp or offsetFromEnd"))]
pub struct PointInTime {
    /// RFC 3339 time, millisecond precision, e.g. `2026-02-13T01:30:00.000Z`: records with a
    /// timestamp at or before it are restored, nothing after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Duration before the end of the backup, e.g. `2h`, `30m`, `1d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h|d))+$"))]
    pub offset_from_end: Option<String>,
}

/// Restore a topic under another name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicMapping {
    /// Topic name in the backup.
    #[schemars(length(min = 1, max = 249))]
    pub source_topic: String,
    /// Topic name in the target cluster.
    #[schemars(length(min = 1, max = 249))]
    pub target_topic: String,
    /// Restore into this many partitions instead of the backup's count (repartitioning). Each
    /// record goes where Kafka's default partitioner puts it: `murmur2(key)` modulo the count
    /// for keyed records (every record of a key lands in one partition, in its order), and
    /// keyless records in turn. Committed consumer offsets then cannot be translated one to one:
    /// each group starts every target partition at the first record there it had not consumed.
    /// A target topic that already exists must have exactly this many partitions. Omitted or
    /// equal to the backup's count: partitions are restored one to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub partitions: Option<i32>,
}

/// Which consumer-group offsets to restore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreConsumerGroups {
    /// Restore the offsets of backed-up groups.
    #[serde(default = "restore_groups")]
    pub restore: bool,
    /// Regexes of groups to restore (full match); all backed-up groups when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Groups restored under another name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapping: Vec<GroupMapping>,
}

impl Default for RestoreConsumerGroups {
    fn default() -> Self {
        Self { restore: restore_groups(), include: None, mapping: Vec::new() }
    }
}

fn restore_groups() -> bool {
    true
}

/// Restore a group's offsets under another group name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMapping {
    /// Group id in the backup.
    #[schemars(length(min = 1))]
    pub source_group: String,
    /// Group id in the target cluster.
    #[schemars(length(min = 1))]
    pub target_group: String,
}

/// Whether missing topics are created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TopicCreation {
    /// Create missing topics with the partition count and configs stored in the backup.
    #[default]
    Auto,
    /// Topics must exist (e.g. managed as Strimzi `KafkaTopic`s); a missing one fails the run.
    Manual,
    /// Create missing topics as `auto` does, and declare each as a Strimzi `KafkaTopic` (in the
    /// `Kafka`'s namespace, label `strimzi.io/cluster`) with exactly the topic's partitions,
    /// replicas and configs, so the Topic Operator manages it from then on. Needs
    /// `strimziClusterRef`; an existing `KafkaTopic` for the name that disagrees is refused
    /// before anything is written (docs/strimzi-topics.md).
    Strimzi,
}

/// What to do with a target topic that already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExistingTopicPolicy {
    /// Fail before writing anything.
    #[default]
    Fail,
    /// Append the restored records after the existing ones.
    Append,
    /// Delete the topic's records first, then restore.
    Overwrite,
}

/// Restore behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSettings {
    /// Create missing topics (`auto`), create them and declare each as a Strimzi `KafkaTopic`
    /// (`strimzi`, needs `strimziClusterRef`), or require them (`manual`).
    #[serde(default)]
    pub topic_creation: TopicCreation,
    /// What to do when a target topic exists.
    #[serde(default)]
    pub existing_topic_policy: ExistingTopicPolicy,
    /// Partitions restored concurrently (in each worker pod, with `workers`).
    #[serde(default = "default_parallelism")]
    #[schemars(range(min = 1, max = 256))]
    pub parallelism: i32,
    /// Pods one restore runs across (issue 18 §3): raise it when one pod's network, CPU or
    /// producer cannot write the backup as fast as the target cluster takes it. With more than
    /// one the run is an Indexed Job of that many pods: worker 0 plans (claims, creates or empties
    /// the target topics, registers schemas), the partitions are split between the workers by
    /// the bytes the backup holds (a topic restored into another partition count is one
    /// worker's), each writes its share through its own transactional producer, and worker 0
    /// finishes once every worker succeeded: consumer-group offsets are committed once, after all
    /// workers. A worker that fails is retried alone (`job.backoffLimit` is then per worker).
    /// Each pod gets the Job's `resources`. Ignored with `dryRun` (one pod plans). At most 64.
    #[serde(default = "default_workers")]
    #[schemars(range(min = 1, max = super::backup::MAX_WORKERS))]
    pub workers: i32,
    /// Report what would be restored (topics, partitions, records, offset translations) in
    /// status and write nothing: the plan (`status.plan`) is the result.
    #[serde(default)]
    pub dry_run: bool,
    /// Whether the restore starts once its plan is in `status.plan` (`Automatic`), or waits
    /// until the object is annotated `kafkabackup.com/approve=<status.plan.hash>` (`Manual`).
    #[serde(default)]
    pub approval: Approval,
    /// Which records of each partition are restored: `restorePoint` (default) what Kafka held
    /// at the backup's cut, each partition from its log start then; `allRetained` also the
    /// older records that earlier backups of the same lineage still keep at the location, from
    /// before the source's retention deleted them.
    #[serde(default)]
    pub scope: RestoreScope,
    /// Cluster metadata stored with the backup to restore into the target as well: its ACLs
    /// (topic names mapped by `topicMapping`) and client quotas. SCRAM users cannot be restored:
    /// Kafka never reveals their credentials, so the backup holds only their mechanisms.
    #[serde(default, skip_serializing_if = "RestoreMetadata::is_none")]
    pub metadata: RestoreMetadata,
    /// Recreate the Strimzi `KafkaTopic`s and `KafkaUser`s stored with the backup
    /// (`backup.strimziResources`) in a namespace of the target, for the target's `Kafka`:
    /// topic renames of `topicMapping` applied, topics the restore does not select skipped, an
    /// identical existing resource left alone and a different one refused before anything is
    /// written. Needs `strimziClusterRef`; not with `topicCreation: strimzi`
    /// (docs/strimzi-resources.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strimzi_resources: Option<RestoreStrimziResources>,
    /// Re-register the backup's Schema Registry schemas (stored with `spec.schemaRegistry` of
    /// the `KafkaBackup`) in this registry before any record is written: references first, with
    /// the original ids where the target keeps them; the ids that changed are reported in
    /// `status.restore.schemaRegistry` (docs/schema-registry.md). A backup without schemas is
    /// refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<super::schema_registry::SchemaRegistryRestoreSpec>,
}

/// Where and which backed-up Strimzi resources a restore recreates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStrimziResources {
    /// Namespace to create them in; default the `Kafka`'s (`strimziClusterRef.namespace`, else
    /// the restore's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// The `strimzi.io/cluster` label they get; default `strimziClusterRef.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cluster: Option<String>,
    /// Which kinds; default both.
    #[serde(default = "all_strimzi_kinds")]
    pub kinds: Vec<StrimziKind>,
}

/// A Strimzi kind a restore can recreate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum StrimziKind {
    /// The backed-up `KafkaTopic`s of the topics the restore selects, renamed by `topicMapping`.
    KafkaTopic,
    /// The backed-up `KafkaUser`s (their literal topic ACLs renamed by `topicMapping`).
    KafkaUser,
}

fn all_strimzi_kinds() -> Vec<StrimziKind> {
    vec![StrimziKind::KafkaTopic, StrimziKind::KafkaUser]
}

/// Which cluster metadata of the backup a restore writes into the target cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreMetadata {
    /// Create the backed-up ACL bindings. A `LITERAL` topic ACL of a topic in `topicMapping`
    /// names the target topic; a `PREFIXED` one is created unchanged (the result lists those
    /// whose prefix matches a mapped topic). The restore's user needs `Alter` on the cluster.
    #[serde(default)]
    pub acls: bool,
    /// Set the backed-up client quotas (user, client-id, ip and their defaults); values the
    /// target has for other keys stay. Read and written over PLAINTEXT connections only.
    #[serde(default)]
    pub quotas: bool,
}

impl RestoreMetadata {
    /// Nothing of the metadata is restored (the default).
    pub fn is_none(&self) -> bool {
        !self.acls && !self.quotas
    }
}

/// Who lets a planned restore write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Approval {
    /// The restore starts as soon as its plan is in status.
    #[default]
    Automatic,
    /// The restore waits in phase `Planned` until annotated with the plan's hash.
    Manual,
}

/// The annotation that approves a `Manual` restore: its value must be `status.plan.hash`.
pub const APPROVE_ANNOTATION: &str = "kafkabackup.com/approve";

/// Which records of each partition a restore writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RestoreScope {
    /// What Kafka held at the backup's cut: each partition from its log start then.
    #[default]
    RestorePoint,
    /// Also older records of the same lineage that kept backups still hold.
    AllRetained,
}

impl Default for RestoreSettings {
    fn default() -> Self {
        Self {
            topic_creation: TopicCreation::default(),
            existing_topic_policy: ExistingTopicPolicy::default(),
            parallelism: default_parallelism(),
            workers: default_workers(),
            dry_run: false,
            approval: Approval::default(),
            scope: RestoreScope::default(),
            metadata: RestoreMetadata::default(),
            strimzi_resources: None,
            schema_registry: None,
        }
    }
}

fn default_parallelism() -> i32 {
    4
}

fn default_workers() -> i32 {
    1
}

/// Offset snapshot before restoring.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// Take the snapshot.
    #[serde(default)]
    pub enabled: bool,
}

/// Where the run is: shared by every one-shot kind, and re-exported here where it began.
pub use super::run::RunPhase;

/// Observed state of a `KafkaRestore`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRestoreStatus {
    /// `Ready` and others, in Strimzi's shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// Name of the restore Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// What the restore will do, computed by a dry run before anything is written (phase
    /// `Planned`); the restore Job then restores exactly this backup to this point in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RestorePlan>,
    /// Result of the run (final once `phase` is Completed or Failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreResult>,
    /// Live progress while running; with `restore.workers`, every worker's together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RestoreProgress>,
    /// The offset snapshot taken before restoring (`rollback.enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_snapshot: Option<OffsetSnapshotRef>,
}

/// What a restore did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreResult {
    /// Backup id restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Topics restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_topics: Option<i32>,
    /// Partitions restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_partitions: Option<i32>,
    /// Records written to the target cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_records: Option<i64>,
    /// Bytes of record data written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_bytes: Option<i64>,
    /// The requested point in time, resolved to an absolute time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_target: Option<Time>,
    /// Timestamp of the newest record actually restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_point_in_time: Option<Time>,
    /// Consumer groups whose offsets were restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_groups_restored: Option<i32>,
    /// Topics the restore created whose `retention.ms` it raised: their restored records were
    /// already older than the topic's retention and would have been deleted at the broker's next
    /// check. Lower it again once those records may go.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retention_adjusted: Vec<RetentionAdjustment>,
    /// When the restored consumer-group offsets were captured: the start of the backup that read
    /// them — for a point-in-time restore the last backup started at or before that time, so
    /// consumers resume where they were then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_groups_captured_at: Option<Time>,
    /// The backed-up Strimzi resources recreated (`restore.strimziResources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strimzi_resources: Option<StrimziResourcesRestored>,
    /// What was re-registered in the target Schema Registry (`restore.schemaRegistry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<SchemaRegistryRestored>,
    /// Pods the restore ran across (`restore.workers`), when more than one; the figures above
    /// are still the whole restore's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<i32>,
}

/// What a restore re-registered in the target Schema Registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRegistryRestored {
    /// Subjects of the backup.
    pub subjects: i32,
    /// Versions of the backup, soft-deleted ones included.
    pub versions: i32,
    /// Versions this run registered.
    pub registered: i32,
    /// Versions the target already had (an earlier attempt, or the same schema there before).
    pub already_present: i32,
    /// Every schema id kept its number. When false, records name the old ids unless
    /// `rewriteSchemaIds` rewrote them.
    pub ids_kept: bool,
    /// Schema ids that changed (the Job's result lists the first 50, old -> new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_change_count: Option<i32>,
    /// Why ids could not be kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids_note: Option<String>,
    /// Restored keys and values had their schema id prefix rewritten to the new ids.
    #[serde(default)]
    pub rewrite_schema_ids: bool,
    /// Settings (compatibility, mode) the target refused, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings_not_restored: Vec<String>,
}

/// What a restore did with the backed-up Strimzi resources.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StrimziResourcesRestored {
    /// `KafkaTopic`s created.
    pub kafka_topics_created: i32,
    /// `KafkaUser`s created.
    pub kafka_users_created: i32,
    /// Identical ones already there, left alone.
    pub unchanged: i32,
    /// Not recreated: `KafkaTopic`s of topics the restore does not select, and kinds not asked for.
    pub skipped: i32,
}

/// A created topic whose retention a restore raised so its restored records are not deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionAdjustment {
    /// The target topic.
    pub topic: String,
    /// The retention it would have had: the backed-up `retention.ms`, else the target brokers'
    /// default.
    pub retention_ms: i64,
    /// What it got: long enough that the oldest restored record is kept for that retention from
    /// the end of the restore.
    pub applied_ms: i64,
}

/// Progress of a running restore: with `restore.workers`, every worker's together (each worker
/// pod's latest figures added up; a worker that finished counts its whole share).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    /// Percent of records restored.
    #[schemars(range(min = 0, max = 100))]
    pub percent: i32,
    /// Records restored so far.
    pub records_restored: i64,
    /// Bytes of record data restored so far (keys, values and headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_restored: Option<i64>,
    /// Estimated completion time at the current rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_completion: Option<Time>,
}

/// Most topics listed in a plan; `topicCount` and the totals always cover all of them.
pub const PLAN_TOPICS_LISTED: usize = 200;
/// Most consumer-group names listed in a plan; `consumerGroups.count` covers all of them.
pub const PLAN_GROUPS_LISTED: usize = 50;

/// What a restore will do, from its dry run: shown before anything is written, approved by its
/// `hash`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlan {
    /// First 16 hex digits of the SHA-256 of the plan's canonical JSON (every field below but
    /// `estimatedDurationSeconds`, `computedAt` and `jobName`): the value of the approval
    /// annotation `kafkabackup.com/approve`.
    pub hash: String,
    /// The backup the restore reads (resolved: never "latest").
    pub backup_id: String,
    /// The point in time restored to, resolved to an absolute time (RFC 3339, milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time: Option<String>,
    /// Per target topic, sorted by target name (at most 200 listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<PlannedTopic>,
    /// Topics restored in all.
    pub topic_count: i32,
    /// Consumer groups whose offsets the restore translates.
    #[serde(default)]
    pub consumer_groups: PlannedGroups,
    /// Records written in all.
    pub records: i64,
    /// Bytes of record data written in all.
    pub bytes: i64,
    /// Estimated time to restore, at the throughput measured in docs/benchmarks.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_duration_seconds: Option<i64>,
    /// When the plan was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_at: Option<Time>,
    /// The Job that computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
}

/// One target topic of a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedTopic {
    /// The topic in the backup.
    pub source: String,
    /// The topic written in the target cluster.
    pub target: String,
    /// `create` (missing: created), `append` (exists: records after its own) or `overwrite`
    /// (exists: its records deleted first).
    pub action: String,
    /// Partitions restored.
    pub partitions: i32,
    /// Records written.
    pub records: i64,
    /// Bytes of record data written (keys, values, headers).
    pub bytes: i64,
}

/// The consumer groups of a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedGroups {
    /// Groups whose offsets are translated and committed.
    pub count: i32,
    /// Their names in the target cluster, sorted (at most 50 listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// Where an offset snapshot is kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OffsetSnapshotRef {
    /// ConfigMap holding the snapshot (pass it as `snapshotRef` of a `KafkaOffsetReset`).
    pub config_map: String,
    /// When it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<Time>,
    /// Groups in the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<i32>,
}
