//! The manifest: what a backup holds, written last as the commit point, with a SHA-256 over its
//! own content so a damaged manifest is never taken for a valid one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::segment::SegmentSummary;
use super::{FormatError, MANIFEST_VERSIONS};

/// Object names of a backup under a storage prefix:
///
/// ```text
/// <prefix>backups/<backup-id>/manifest.json
/// <prefix>backups/<backup-id>/segments/<topic>/<partition>/<first-offset, 20 digits>.kbseg
/// <prefix>backups/<backup-id>/plan.json          (the shared plan of a run by several workers)
/// <prefix>backups/<backup-id>/workers/<index>.json  (what one of those workers read)
/// <prefix>restores/<restore-id>/state.json      (resume state of a restore run)
/// <prefix>restores/<restore-id>/lease.json      (its worker 0's lease on the backup it reads)
/// <prefix>restores/<restore-id>/workers/<index>/lease.json  (the lease of another worker)
/// <prefix>verifications/<backup-id>/<drill-id>.json  (a restore drill's evidence, advisory)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    /// `prefix` is used as given, with a `/` added when it lacks one (an empty prefix is the root).
    pub fn new(prefix: &str) -> Self {
        let prefix = prefix.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        Self { prefix }
    }

    /// Where every backup lives (list it to find backups).
    pub fn backups_dir(&self) -> String {
        format!("{}backups/", self.prefix)
    }

    pub fn manifest(&self, backup_id: &str) -> String {
        format!("{}backups/{backup_id}/manifest.json", self.prefix)
    }

    pub fn segment(&self, backup_id: &str, topic: &str, partition: i32, first_offset: i64) -> String {
        format!("{}backups/{backup_id}/segments/{topic}/{partition}/{first_offset:020}.kbseg", self.prefix)
    }

    /// The plan all workers of one backup read by ([`crate::backup::shared_plan`]); written only when a
    /// backup runs in more than one worker, never read by restore, verify or retention.
    pub fn backup_plan(&self, backup_id: &str) -> String {
        format!("{}backups/{backup_id}/plan.json", self.prefix)
    }

    /// Where the workers of one backup leave their results ([`crate::backup::worker_result`]).
    pub fn worker_results_dir(&self, backup_id: &str) -> String {
        format!("{}backups/{backup_id}/workers/", self.prefix)
    }

    /// What worker `index` of backup `backup_id` read.
    pub fn worker_result(&self, backup_id: &str, index: u32) -> String {
        format!("{}{index}.json", self.worker_results_dir(backup_id))
    }

    /// The worker index of a worker result's object name, if it is one.
    pub fn worker_of_result(&self, backup_id: &str, object: &str) -> Option<u32> {
        object.strip_prefix(&self.worker_results_dir(backup_id))?.strip_suffix(".json")?.parse().ok()
    }

    /// The marker of the location's owner ([`crate::location`]).
    pub fn owner(&self) -> String {
        format!("{}owner.json", self.prefix)
    }

    /// Where restores keep their state and leases.
    pub fn restores_dir(&self) -> String {
        format!("{}restores/", self.prefix)
    }

    /// The lease a running restore holds on the backup it reads ([`crate::lease`]).
    pub fn restore_lease(&self, restore_id: &str) -> String {
        format!("{}restores/{restore_id}/lease.json", self.prefix)
    }

    /// The lease worker `index` (not 0) of a restore across workers holds while it reads: each
    /// worker reads for itself, so each renews a lease of its own, and the backup stays leased
    /// while worker 0 is down and waits for its retry.
    pub fn restore_worker_lease(&self, restore_id: &str, index: u32) -> String {
        format!("{}restores/{restore_id}/workers/{index}/lease.json", self.prefix)
    }

    /// Where a restore run keeps what it needs to resume without writing a record twice.
    pub fn restore_state(&self, restore_id: &str) -> String {
        format!("{}restores/{restore_id}/state.json", self.prefix)
    }

    /// Where restore drills leave their evidence (read by sync, never by restore).
    pub fn verifications_dir(&self) -> String {
        format!("{}verifications/", self.prefix)
    }

    /// The evidence drill `drill_id` left of backup `backup_id`.
    pub fn verification(&self, backup_id: &str, drill_id: &str) -> String {
        format!("{}verifications/{backup_id}/{drill_id}.json", self.prefix)
    }

    /// The backup and drill ids of an evidence object's name, if it is one.
    pub fn verification_of<'a>(&self, object: &'a str) -> Option<(&'a str, &'a str)> {
        let (backup, file) = object.strip_prefix(&self.verifications_dir())?.split_once('/')?;
        let drill = file.strip_suffix(".json").filter(|d| !d.is_empty() && !d.contains('/'))?;
        Some((backup, drill)).filter(|(b, _)| !b.is_empty())
    }

    /// The cluster metadata object of a backup ([`super::metadata`]).
    pub fn cluster_metadata(&self, backup_id: &str) -> String {
        format!("{}backups/{backup_id}/{}", self.prefix, super::metadata::OBJECT_NAME)
    }

    /// The Schema Registry object of a backup ([`super::schemas`]).
    pub fn schema_registry(&self, backup_id: &str) -> String {
        format!("{}backups/{backup_id}/{}", self.prefix, super::schemas::OBJECT_NAME)
    }

    /// The Strimzi resources object of a backup ([`super::strimzi_resources`]).
    pub fn strimzi_resources(&self, backup_id: &str) -> String {
        format!("{}backups/{backup_id}/{}", self.prefix, super::strimzi_resources::OBJECT_NAME)
    }

    /// Where data erasures keep their journals and markers ([`crate::erase`]).
    pub fn erasures_dir(&self) -> String {
        format!("{}erasures/", self.prefix)
    }

    /// The journal of erasure `erasure_id`: what it rewrote so far, so a rerun resumes.
    pub fn erasure_journal(&self, erasure_id: &str) -> String {
        format!("{}erasures/{erasure_id}/journal.json", self.prefix)
    }

    /// The lock one running erasure holds on the location (two would overwrite each other's
    /// manifest revisions).
    pub fn erasure_lock(&self) -> String {
        format!("{}erasures/lock.json", self.prefix)
    }

    /// The marker an erasure leaves once it committed revision `revision` of backup `backup_id`:
    /// `sync` finds revised restore points from one listing of `erasures/`, by name alone.
    pub fn erasure_revised(&self, erasure_id: &str, backup_id: &str, revision: u32) -> String {
        format!("{}erasures/{erasure_id}/revised/{backup_id}.{revision}", self.prefix)
    }

    /// The backup id and revision of a marker's name ([`Layout::erasure_revised`]), if it is one.
    pub fn erasure_revised_of<'a>(&self, object: &'a str) -> Option<(&'a str, u32)> {
        let rest = object.strip_prefix(&self.erasures_dir())?;
        let (_, marker) = rest.split_once("/revised/")?;
        let (backup, revision) = marker.rsplit_once('.')?;
        Some((backup, revision.parse().ok()?)).filter(|(b, _)| !b.is_empty() && !b.contains('/'))
    }

    /// The object a data erasure writes for the records of `original` (a segment object) it
    /// keeps from `first_offset` on: beside the original, named by the erasure, so it never
    /// replaces an object a committed manifest lists.
    pub fn erased_segment(original: &str, erasure_id: &str, first_offset: i64) -> String {
        let dir = original.rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{first_offset:020}.{erasure_id}.kbseg")
    }

    /// The backup id of a manifest's object name, if it is one.
    pub fn backup_id_of_manifest<'a>(&self, object: &'a str) -> Option<&'a str> {
        object
            .strip_prefix(&self.backups_dir())?
            .strip_suffix("/manifest.json")
            .filter(|id| !id.contains('/'))
    }
}

/// Why offsets of a partition's range hold no backed-up record, beyond those the segments
/// account for themselves (see [`SegmentSummary::offsets_skipped`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GapReason {
    /// Deleted by the topic's retention before the backup read them.
    RetentionDeleted,
    /// Compacted away, or transaction markers and aborted records at the end of the range.
    NotReturned,
    /// The topic was deleted (or replaced by another of the same name) while the backup read
    /// it: the offsets from where reading stopped to the cut are not in the backup.
    TopicDeleted,
    /// Removed by a data erasure (`strimzi-backup-operator erase`, a `KafkaDataErasure`): the
    /// records there were selected for erasure; the gap runs from the record before the first
    /// erased one to the record after the last, so offsets the broker did not return next to an
    /// erased record count in it. Manifest version 4.
    Erased,
}

/// Why a partition does not continue the lineage of the backup before it (manifest version 2):
/// what that backup holds of the partition is not the same log, so nothing of it is joined to
/// this one, which starts over from the log start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineageBreakReason {
    /// The topic has another topic id: it was deleted and created again under the same name.
    TopicRecreated,
    /// The backup before was taken of another Kafka cluster (another cluster id): a switch to a
    /// DR cluster, or another cluster backing up to the same location.
    ClusterChanged,
    /// The partition's end is below where the backup before stopped: its log went back (an
    /// unclean leader election, a restored or truncated replica).
    OffsetsRegressed,
    /// The topic's retention deleted records the backup before had not reached: they were never
    /// backed up (back up more often than the topic's `retention.ms`).
    RecordsExpired,
    /// The backup before was encrypted with another key, or encrypted where this one is not (or
    /// the other way round): one restore point is read with one key.
    EncryptionChanged,
    /// The backup before was written in manifest version 1, which does not record topic ids:
    /// whether it is the same topic cannot be proven.
    UnverifiedParent,
}

/// A partition that starts a new lineage although the backup before holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineageBreak {
    pub reason: LineageBreakReason,
    /// What was found, in words (ids, offsets).
    pub message: String,
}

/// A range of offsets `[from, to)` without records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    pub from: i64,
    pub to: i64,
    pub reason: GapReason,
}

/// One segment object as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentEntry {
    /// Object name relative to the storage root.
    pub object: String,
    pub first_offset: i64,
    pub last_offset: i64,
    pub records: u64,
    pub offsets_skipped: u64,
    pub min_timestamp: i64,
    pub max_timestamp: i64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub sha256: String,
    /// Version 2: the largest record's key, value and headers together, uncompressed — so a
    /// restore knows before writing whether the target accepts every record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_record_bytes: Option<u64>,
}

impl SegmentEntry {
    pub fn new(object: String, s: &SegmentSummary) -> Self {
        Self {
            object,
            first_offset: s.first_offset,
            last_offset: s.last_offset,
            records: s.records,
            offsets_skipped: s.offsets_skipped,
            min_timestamp: s.min_timestamp,
            max_timestamp: s.max_timestamp,
            raw_bytes: s.raw_bytes,
            stored_bytes: s.stored_bytes,
            sha256: s.sha256.clone(),
            max_record_bytes: Some(s.max_record_bytes),
        }
    }
}

/// The offsets `[startOffset, endOffset)` of one partition this backup covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionEntry {
    pub partition: i32,
    /// First offset covered. Version 2: the partition's log start at the cut (the restore point
    /// holds what Kafka held). Version 1: the parent backup's `endOffset` (incremental) or the
    /// log start.
    pub start_offset: i64,
    /// First offset not covered: the cut (the last stable offset when the backup started).
    pub end_offset: i64,
    /// Version 2: the first offset this backup read itself. Segments and gaps below it were
    /// written by earlier backups of the same lineage (`lineageStart`) and are listed here so
    /// the manifest alone is the restore point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_from: Option<i64>,
    /// Version 2: the backup whose full read began this partition's lineage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage_start: Option<String>,
    /// Version 2: set when the backup before holds this partition but it is not the same log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage_break: Option<LineageBreak>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
}

impl PartitionEntry {
    /// Checks that segments and gaps account for the whole range `[startOffset, endOffset)`:
    /// the first begins at the start, the last ends at the end, none overlap. Offsets between two
    /// of them are offsets the broker did not return (compaction, transaction markers). Returns
    /// what is wrong, empty for a sound partition.
    pub fn coverage_problems(&self) -> Vec<String> {
        let mut items: Vec<(i64, i64, String)> = self
            .segments
            .iter()
            .map(|s| (s.first_offset, s.last_offset + 1, s.object.clone()))
            .chain(self.gaps.iter().map(|g| (g.from, g.to, format!("gap {:?}", g.reason))))
            .collect();
        items.sort();
        let mut problems = Vec::new();
        let (start, end) = (self.start_offset, self.end_offset);
        match (items.first(), items.last()) {
            (None, _) | (_, None) => {
                if start < end {
                    problems.push(format!("offsets [{start}, {end}) have no segment and no gap"));
                }
            }
            (Some(first), Some(last)) => {
                // Version 2 lists whole inherited segments: the first may begin below the log
                // start at the cut (its records before it are not part of the restore point),
                // but not end there.
                if first.0 > start {
                    problems.push(format!(
                        "offsets [{start}, {}) before {} are not accounted for",
                        first.0, first.2
                    ));
                } else if first.1 <= start && start < end {
                    problems
                        .push(format!("{} ends at {}, before the range starts at {start}", first.2, first.1));
                }
                if last.1 != end {
                    problems.push(format!("{} ends at {}, the range at {end}", last.2, last.1));
                }
            }
        }
        for w in items.windows(2) {
            if w[1].0 < w[0].1 {
                problems.push(format!("{} and {} overlap at offset {}", w[0].2, w[1].2, w[1].0));
            }
        }
        problems
    }
}

/// A topic as it was: enough to recreate it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicEntry {
    pub name: String,
    pub partition_count: i32,
    pub replication_factor: i32,
    /// Version 2: Kafka's topic id (base64) of the topic that was read, which tells it from a
    /// topic created later under the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Topic-level configs that were set explicitly (not broker defaults).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionEntry>,
}

/// A consumer group's committed offset of one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

/// The committed offsets of one consumer group when the backup started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupEntry {
    pub group: String,
    pub offsets: Vec<CommittedOffset>,
}

/// How segments were written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encoding {
    /// `zstd`, `lz4`, `gzip`, `snappy` or `none`.
    pub compression: String,
    /// Id of the AES-256-GCM key (SHA-256 prefix), when encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_id: Option<String>,
    /// Version 4: the wrapped data keys of every backup whose segments this manifest lists,
    /// when the backup's keys come from a KMS (`encryptionKeyId` then names the wrapping key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_keys: Vec<super::data_keys::DataKeyEntry>,
}

/// Totals over the backup, for status and retention without reading segments. Version 2: over
/// the whole restore point (every segment listed); what the backup itself wrote is `written`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub records: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub topics: u32,
    pub partitions: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_timestamp: Option<i64>,
}

impl Totals {
    /// Adds one segment's records, bytes and time range: how a backup's commit and an erasure's
    /// revision both total the segments a restore point lists.
    pub fn count(&mut self, s: &SegmentEntry) {
        self.records += s.records;
        self.raw_bytes += s.raw_bytes;
        self.stored_bytes += s.stored_bytes;
        self.oldest_timestamp =
            Some(self.oldest_timestamp.map_or(s.min_timestamp, |t| t.min(s.min_timestamp)));
        self.newest_timestamp =
            Some(self.newest_timestamp.map_or(s.max_timestamp, |t| t.max(s.max_timestamp)));
    }
}

/// The manifest of one backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format_version: u16,
    pub backup_id: String,
    /// The backup this one continues (incremental), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    pub completed_at: String,
    /// Kafka cluster id of the source cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    pub encoding: Encoding,
    pub topics: Vec<TopicEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_groups: Vec<GroupEntry>,
    pub totals: Totals,
    /// Version 2: what this backup wrote itself (the rest of the restore point was written by
    /// earlier backups of its lineages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<Written>,
    /// The cluster metadata object (ACLs, quotas, SCRAM users) this backup wrote before its
    /// manifest; absent when the backup did not capture it (`backup.clusterMetadata: false`, or
    /// written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_metadata: Option<super::metadata::MetadataRef>,
    /// The Schema Registry object (subjects, versions, ids, compatibility, modes) this backup
    /// wrote before its manifest; absent when the backup names no `schemaRegistry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<super::schemas::SchemasRef>,
    /// The Strimzi resources object (`KafkaTopic`s, `KafkaUser`s) this backup wrote before its
    /// manifest; absent unless `backup.strimziResources` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strimzi_resources: Option<super::strimzi_resources::StrimziResourcesRef>,
    /// Version 4: set when a data erasure rewrote this restore point ([`crate::erase`]): its
    /// revision number (the manifest as the backup committed it is revision 0) and the erasures
    /// applied, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
}

/// Which version of a restore point a manifest is: a data erasure replaces `manifest.json` with
/// the next revision (one atomic write), so there is only ever one current manifest per backup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// 1 for the first rewrite, one more for each later one.
    pub number: u32,
    /// The erasure ids that rewrote it, in the order they did.
    pub erasures: Vec<String>,
}

/// Records and bytes one backup wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    pub records: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub segments: u64,
}

impl Manifest {
    /// Whether this manifest alone is the restore point (version 2), or it is read together with
    /// the chain of parents it continues (version 1).
    pub fn self_contained(&self) -> bool {
        self.format_version >= 2
    }

    /// Every object the restore point needs (its segments, also those earlier backups wrote).
    pub fn objects(&self) -> impl Iterator<Item = &SegmentEntry> {
        self.topics.iter().flat_map(|t| &t.partitions).flat_map(|p| &p.segments)
    }

    /// The partition of a topic, if the backup holds it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<(&TopicEntry, &PartitionEntry)> {
        let t = self.topics.iter().find(|t| t.name == topic)?;
        Some((t, t.partitions.iter().find(|p| p.partition == partition)?))
    }

    /// The lowest format version that can hold this manifest: 4 once a data erasure rewrote it
    /// (a revision, or an `Erased` gap — also inherited by a later backup of the lineage), so a
    /// build that does not know erasures refuses it by version instead of misreading it.
    pub fn required_version(&self) -> u16 {
        let erased = self.revision.is_some()
            || self
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .flat_map(|p| &p.gaps)
                .any(|g| g.reason == GapReason::Erased);
        // Wrapped data keys (`encoding.dataKeys`, keys from a KMS) need version 4 for the same
        // reason: a build without them would see a checksum mismatch, not a version to upgrade for.
        let kms = !self.encoding.data_keys.is_empty();
        if erased || kms { super::MANIFEST_VERSION_ERASED } else { 1 }
    }

    /// The revision number (0: as the backup committed it).
    pub fn revision_number(&self) -> u32 {
        self.revision.as_ref().map_or(0, |r| r.number)
    }
}

/// The versions this build reads, as prose: `1, 2 and 3`.
fn version_list() -> String {
    let names = MANIFEST_VERSIONS.map(|v| v.to_string());
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// The stored form: the manifest and the SHA-256 of its canonical JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    manifest: Manifest,
    sha256: String,
}

impl Manifest {
    /// The bytes of `manifest.json`.
    /// The format version written is at least [`Manifest::required_version`].
    pub fn to_json(&self) -> Result<Vec<u8>, FormatError> {
        let mut manifest = self.clone();
        manifest.format_version = manifest.format_version.max(manifest.required_version());
        let canonical =
            serde_json::to_vec(&manifest).map_err(|e| FormatError::Invalid(format!("manifest: {e}")))?;
        let stored = Stored { manifest, sha256: hex::encode(Sha256::digest(&canonical)) };
        serde_json::to_vec_pretty(&stored).map_err(|e| FormatError::Invalid(format!("manifest: {e}")))
    }

    /// Parses `manifest.json`, checking format version and checksum.
    pub fn from_json(bytes: &[u8], object: &str) -> Result<Self, FormatError> {
        let version = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.pointer("/manifest/formatVersion").and_then(serde_json::Value::as_u64));
        match version {
            Some(v) if MANIFEST_VERSIONS.iter().any(|known| u64::from(*known) == v) => {}
            Some(v) => {
                return Err(FormatError::UnsupportedVersion {
                    object: object.into(),
                    found: u16::try_from(v).unwrap_or(u16::MAX),
                    supported: version_list(),
                });
            }
            None => {
                return Err(FormatError::Corrupted {
                    object: object.into(),
                    byte_offset: 0,
                    detail: "not a manifest (no manifest.formatVersion)".into(),
                });
            }
        }
        let stored: Stored = serde_json::from_slice(bytes).map_err(|e| FormatError::Corrupted {
            object: object.into(),
            byte_offset: 0,
            detail: format!("manifest does not parse: {e}"),
        })?;
        let canonical = serde_json::to_vec(&stored.manifest)
            .map_err(|e| FormatError::Invalid(format!("manifest: {e}")))?;
        if hex::encode(Sha256::digest(&canonical)) != stored.sha256 {
            return Err(FormatError::Corrupted {
                object: object.into(),
                byte_offset: 0,
                detail: "manifest checksum mismatch".into(),
            });
        }
        Ok(stored.manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::MANIFEST_VERSION;

    fn manifest() -> Manifest {
        let layout = Layout::new("prod/orders");
        Manifest {
            format_version: MANIFEST_VERSION,
            backup_id: "backup-20260213-020000".into(),
            parent_id: Some("backup-20260212-020000".into()),
            started_at: "2026-02-13T02:00:00Z".into(),
            completed_at: "2026-02-13T02:15:23Z".into(),
            cluster_id: Some("q1Sh-9_ISia_zwGINzRvyQ".into()),
            encoding: Encoding { compression: "zstd".into(), encryption_key_id: None, data_keys: Vec::new() },
            topics: vec![TopicEntry {
                name: "orders".into(),
                partition_count: 1,
                replication_factor: 3,
                topic_id: Some("kX2pPbGJQ2q0Y6pX0S1w2A".into()),
                configs: BTreeMap::from([("cleanup.policy".into(), "compact".into())]),
                partitions: vec![PartitionEntry {
                    partition: 0,
                    start_offset: 100,
                    end_offset: 300,
                    read_from: Some(100),
                    lineage_start: Some("backup-20260213-020000".into()),
                    lineage_break: None,
                    segments: vec![
                        SegmentEntry {
                            object: layout.segment("backup-20260213-020000", "orders", 0, 110),
                            first_offset: 110,
                            last_offset: 199,
                            records: 80,
                            offsets_skipped: 10,
                            min_timestamp: 1,
                            max_timestamp: 2,
                            raw_bytes: 10,
                            stored_bytes: 5,
                            sha256: "00".into(),
                            max_record_bytes: None,
                        },
                        SegmentEntry {
                            object: layout.segment("backup-20260213-020000", "orders", 0, 205),
                            first_offset: 205,
                            last_offset: 298,
                            records: 94,
                            offsets_skipped: 0,
                            min_timestamp: 3,
                            max_timestamp: 4,
                            raw_bytes: 10,
                            stored_bytes: 5,
                            sha256: "01".into(),
                            max_record_bytes: None,
                        },
                    ],
                    gaps: vec![Gap { from: 100, to: 110, reason: GapReason::RetentionDeleted }],
                }],
            }],
            consumer_groups: vec![GroupEntry {
                group: "order-processor".into(),
                offsets: vec![CommittedOffset {
                    topic: "orders".into(),
                    partition: 0,
                    offset: 250,
                    metadata: None,
                }],
            }],
            totals: Totals::default(),
            written: None,
            cluster_metadata: None,
            schema_registry: None,
            strimzi_resources: None,
            revision: None,
        }
    }

    #[test]
    fn round_trips_and_detects_tampering() {
        let m = manifest();
        let json = m.to_json().expect("json");
        assert_eq!(Manifest::from_json(&json, "m.json").expect("parses"), m);
        let tampered = String::from_utf8(json).expect("utf8").replace("\"offset\": 250", "\"offset\": 251");
        let err = Manifest::from_json(tampered.as_bytes(), "m.json").expect_err("tampered");
        assert!(
            err.to_string().contains("m.json: corrupted") && err.to_string().contains("checksum"),
            "{err}"
        );
    }

    #[test]
    fn newer_format_versions_are_refused_by_name() {
        let json = String::from_utf8(manifest().to_json().expect("json"))
            .expect("utf8")
            .replace(&format!("\"formatVersion\": {MANIFEST_VERSION}"), "\"formatVersion\": 7");
        let err = Manifest::from_json(json.as_bytes(), "m.json").expect_err("version");
        assert!(err.to_string().contains("format version 7 is not supported"), "{err}");
        assert!(err.to_string().contains("reads versions 1, 2, 3 and 4"), "{err}");
    }

    #[test]
    fn offsets_of_a_partition_are_accounted_for() {
        let mut p = manifest().topics[0].partitions[0].clone();
        // 100..110 retention gap, 110..=199 segment, 200..205 skipped, 205..=298 segment, 299 missing.
        assert_eq!(
            p.coverage_problems(),
            [format!("{} ends at 299, the range at 300", p.segments[1].object)]
        );
        p.gaps.push(Gap { from: 299, to: 300, reason: GapReason::NotReturned });
        assert!(p.coverage_problems().is_empty());
        p.gaps.push(Gap { from: 150, to: 160, reason: GapReason::RetentionDeleted });
        assert_eq!(p.coverage_problems().len(), 1, "a gap inside a segment overlaps it");
    }

    #[test]
    fn layout_names_objects() {
        let l = Layout::new("prod/orders");
        assert_eq!(l.manifest("b1"), "prod/orders/backups/b1/manifest.json");
        assert_eq!(
            l.segment("b1", "t.x", 3, 42),
            "prod/orders/backups/b1/segments/t.x/3/00000000000000000042.kbseg"
        );
        assert_eq!(l.backup_id_of_manifest("prod/orders/backups/b1/manifest.json"), Some("b1"));
        assert_eq!(l.backup_id_of_manifest("prod/orders/backups/b1/x/manifest.json"), None);
        assert_eq!(Layout::new("").manifest("b"), "backups/b/manifest.json");
        assert_eq!(Layout::new("/p/").backups_dir(), "p/backups/");
        assert_eq!(l.verification("b1", "d1"), "prod/orders/verifications/b1/d1.json");
        assert_eq!(l.verification_of("prod/orders/verifications/b1/d1.json"), Some(("b1", "d1")));
        assert_eq!(l.verification_of("prod/orders/verifications/b1/x/d1.json"), None);
        assert_eq!(l.verification_of("prod/orders/verifications/b1/.json"), None);
        assert_eq!(
            Layout::erased_segment(&l.segment("b1", "t", 0, 5), "e1", 7),
            "prod/orders/backups/b1/segments/t/0/00000000000000000007.e1.kbseg"
        );
        let marker = l.erasure_revised("e1", "b.1", 2);
        assert_eq!(marker, "prod/orders/erasures/e1/revised/b.1.2");
        assert_eq!(l.erasure_revised_of(&marker), Some(("b.1", 2)));
        assert_eq!(l.erasure_revised_of("prod/orders/erasures/e1/journal.json"), None);
    }
}
