//! `erase`: the right to be forgotten at a storage location (what `KafkaDataErasure` Jobs run).
//!
//! Every kept restore point (every committed manifest, every lineage) is searched for records of
//! the selected topics that the selection matches ([`select`]). Each segment holding any is
//! written anew without them — new objects beside the original, same codec and encryption
//! ([`split`]: the kept records form pieces, the removed offsets an `Erased` gap) — and recorded
//! in the erasure's journal ([`journal`]) before anything lists it. Then each affected restore
//! point gets its next manifest revision ([`revise`]), written over `manifest.json` in one PUT:
//! the commit point, so a reader sees the old restore point or the new one, whole. Last, the
//! segments no manifest lists any more are deleted. A run killed at any step and started again
//! with the same erasure id reuses what the journal holds and finishes the job; the location is
//! searched again until no manifest lists a segment with a selected record (a backup committed
//! meanwhile is rewritten too).
//!
//! Encrypted backups are read with the key access a restore has — the key from a Secret, or the
//! data keys a KMS unwraps — and each piece is sealed with the key that sealed the segment it
//! replaces ([`keys`]), so the manifests' wrapped data keys stay as they are.
//!
//! The report names restore points and objects, records removed per topic and the SHA-256 of
//! each key removed — never a key.

pub mod journal;
pub mod keys;
pub mod live;
pub mod revise;
pub mod select;
pub mod split;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

use crate::api::storage::StorageSpec;
use crate::format::codec::{Codec, EncryptionKey};
use crate::format::manifest::{Gap, GapReason, Layout, Manifest, SegmentEntry};
use crate::format::record::Record;
use crate::format::segment::{DEFAULT_BLOCK_BYTES, SegmentWriter};
use crate::storage::Storage;
use crate::verify::CheckedSegment;

use journal::{Journal, Phase};
use revise::Replacement;
use select::{HeaderSelector, KeySources, Selection, TimeRange};
use split::{Action, Splitter};

/// Searches of the location before the run gives up (each finds what backups committed while
/// the one before ran; two are usual).
const MAX_ROUNDS: usize = 8;
/// Multipart part size of a piece (S3's minimum is 5 MiB).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Clean segments recorded between two journal writes.
const CLEAN_PER_SAVE: usize = 200;
/// Test hook: `segments` aborts the process once every piece is written and journaled (before
/// any manifest), `manifest` right after the first manifest revision is committed — as a kill
/// would, to prove a rerun finishes the job.
pub const CRASH_ENV: &str = "STRIMZI_BACKUP_TEST_ERASE_CRASH_AFTER";

/// What `erase` is told. Holds no secret: keys come from mounted files or the config the
/// operator renders into a Secret.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EraseConfig {
    pub storage: StorageSpec,
    /// Names the erasure (its journal, its objects); run again with the same id to resume.
    #[serde(default)]
    pub erasure_id: String,
    /// Topics whose records are searched (exact names).
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub keys: KeySources,
    /// Headers a record must carry (all of them) to be erased.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_range: Option<TimeRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_file: Option<PathBuf>,
    /// The KMS that wraps the data keys of backups encrypted with keys from a KMS
    /// (`backup.encryption.kms`), its Secrets as mounted files: as a restore reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<crate::kms::KmsAccess>,
    #[serde(default = "filesystem_root")]
    pub filesystem_root: PathBuf,
    /// Also write a tombstone per key to the live topics (compacted ones; [`live`]).
    #[serde(default)]
    pub also_live_topics: bool,
    /// The live cluster, with `alsoLiveTopics` only (the operator's rendered connection: paths
    /// of mounted files, never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<crate::kafka::KafkaConnection>,
}

fn filesystem_root() -> PathBuf {
    PathBuf::from(crate::storage::FILESYSTEM_MOUNT)
}

/// One restore point the erasure gave a new revision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisedPoint {
    pub backup_id: String,
    pub revision: u32,
}

/// Records removed from one topic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRemoved {
    pub topic: String,
    pub records: u64,
}

/// One segment written anew.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RewrittenObject {
    pub original: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pieces: Vec<String>,
    pub removed: u64,
}

/// The erasure report: what was rewritten and removed, the digests of the keys removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EraseReport {
    pub erasure_id: String,
    pub location: String,
    /// Restore points rewritten, with the revision this erasure committed.
    pub restore_points: Vec<RevisedPoint>,
    /// Segments read (of the selected topics, every kept restore point).
    pub segments_read: u64,
    /// Segments that held selected records and were written anew.
    pub segments_rewritten: u64,
    /// New segment objects written in their place.
    pub segments_written: u64,
    /// Superseded segments deleted.
    pub segments_deleted: u64,
    pub records_removed: u64,
    pub topics: Vec<TopicRemoved>,
    /// SHA-256 (hex) of each distinct key removed.
    pub key_digests: Vec<String>,
    /// Keys the selection named.
    pub keys_selected: u64,
    /// Why superseded segments are still at the location (run again with the same id); absent
    /// when the erasure is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_pending: Option<String>,
    /// What was done on the live topics (`alsoLiveTopics`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live_topics: Vec<live::LiveTopic>,
    /// The restore points this erasure revised, summarised as their `KafkaRestorePoint`s show
    /// them (the operator updates those at once; left out of the termination message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revised: Vec<crate::api::restore_point::KafkaRestorePointSpec>,
    /// Every segment rewritten (left out of the termination message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewritten: Vec<RewrittenObject>,
}

impl EraseReport {
    /// Small enough for a termination message (4 KiB): counts, at most 10 restore points and
    /// 10 key digests.
    pub fn summary(&self) -> Self {
        Self {
            restore_points: self.restore_points.iter().take(10).cloned().collect(),
            key_digests: self.key_digests.iter().take(10).cloned().collect(),
            rewritten: Vec::new(),
            revised: Vec::new(),
            ..self.clone()
        }
    }

    fn from_journal(journal: &Journal, location: &str, keys_selected: usize) -> Self {
        let mut topics: BTreeMap<String, u64> = BTreeMap::new();
        let mut digests = BTreeSet::new();
        let mut report = Self {
            erasure_id: journal.erasure_id.clone(),
            location: location.into(),
            restore_points: journal
                .committed
                .iter()
                .map(|(id, r)| RevisedPoint { backup_id: id.clone(), revision: *r })
                .collect(),
            segments_read: (journal.rewritten.len() + journal.clean.len()) as u64,
            segments_rewritten: journal.rewritten.len() as u64,
            segments_deleted: journal.deleted,
            keys_selected: keys_selected as u64,
            ..Default::default()
        };
        for (original, r) in &journal.rewritten {
            report.segments_written += r.pieces.len() as u64;
            report.records_removed += r.removed;
            select::add_counts(&mut topics, &r.topic, r.removed);
            digests.extend(r.key_digests.iter().cloned());
            report.rewritten.push(RewrittenObject {
                original: original.clone(),
                pieces: r.pieces.iter().map(|p| p.object.clone()).collect(),
                removed: r.removed,
            });
        }
        report.topics = topics.into_iter().map(|(topic, records)| TopicRemoved { topic, records }).collect();
        report.key_digests = digests.into_iter().collect();
        report
    }
}

/// An erasure id names objects: letters, digits, `-`, `_` and `.` (not first), at most 128.
pub fn erasure_id_problem(id: &str) -> Option<String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > 128 || !id.chars().all(ok) || id.starts_with('.') {
        return Some(format!(
            "erasureId: `{id}` must be 1 to 128 letters, digits, `-`, `_` or `.` (not first), as it names objects"
        ));
    }
    None
}

fn crash_point(at: &str) {
    if std::env::var(CRASH_ENV).is_ok_and(|v| v == at) {
        tracing::error!(at, "test hook {CRASH_ENV}: aborting as a kill would");
        std::process::abort();
    }
}

/// The codec to write a piece with: the original's, at the product's default level (the level
/// is not stored in a segment; it does not change what a reader reads).
fn writing_codec(codec: Codec) -> Codec {
    match codec {
        Codec::Zstd { .. } => Codec::Zstd { level: 3 },
        Codec::Gzip { .. } => Codec::Gzip { level: 6 },
        other => other,
    }
}

pub async fn run(cfg: &EraseConfig) -> anyhow::Result<EraseReport> {
    if let Some(problem) = erasure_id_problem(&cfg.erasure_id) {
        anyhow::bail!(problem);
    }
    let selection = Selection::new(&cfg.topics, &cfg.keys, &cfg.headers, cfg.time_range.as_ref())?;
    let storage = crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    // The encryption keys of the backups (not the record keys the selection names).
    let encryption = crate::kms::KeySource::new(cfg.encryption_key_file.as_deref(), cfg.kms.as_ref())?;
    journal::lock(&storage, &cfg.erasure_id).await?;
    let result = erase(&storage, &cfg.erasure_id, &selection, &encryption).await;
    if let Err(e) = journal::unlock(&storage, &cfg.erasure_id).await {
        tracing::warn!(error = %format!("{e:#}"), "could not release the erasure lock; it expires by itself");
    }
    let mut report = result?;
    // Every restore point a revision of this erasure now describes, as a restore point shows it.
    let scan = crate::catalog::scan(&storage).await?;
    report.revised = scan
        .manifests
        .iter()
        .filter(|m| m.revision.as_ref().is_some_and(|r| r.erasures.iter().any(|e| e == &cfg.erasure_id)))
        .map(|m| crate::restore_points::summarize(m, None))
        .collect();
    // The live topics after the backups: tombstones are idempotent, so a rerun does it again.
    if cfg.also_live_topics {
        let kafka = cfg.kafka.as_ref().context("alsoLiveTopics needs the kafka connection in the config")?;
        anyhow::ensure!(
            selection.key_count() > 0,
            "alsoLiveTopics erases by key (a tombstone per key): give keys"
        );
        report.live_topics = live::erase(kafka, &cfg.topics, selection.keys()).await?;
    }
    Ok(report)
}

/// The erasure at an opened location (the lock held).
pub async fn erase(
    storage: &Storage,
    erasure_id: &str,
    selection: &Selection,
    encryption: &crate::kms::KeySource,
) -> anyhow::Result<EraseReport> {
    let mut journal = match Journal::load(storage, erasure_id).await? {
        Some(j) => {
            anyhow::ensure!(
                j.selection == selection.digest,
                "erasure {erasure_id} was started at {} with another selection (topics, keys, headers or time \
                 range): a rerun must select the same; give a new erasure id for another selection",
                storage.location
            );
            tracing::info!(erasure = erasure_id, phase = ?j.phase, rewritten = j.rewritten.len(),
                committed = j.committed.len(), "resuming from the journal");
            j
        }
        None => Journal::new(erasure_id, &selection.digest),
    };
    let own_suffix = format!(".{erasure_id}.kbseg");
    for round in 0.. {
        anyhow::ensure!(
            round < MAX_ROUNDS,
            "{}: new restore points with selected records kept appearing while erasing ({MAX_ROUNDS} rounds); \
             run the erasure again when no backup of the location runs",
            storage.location
        );
        let scan = crate::catalog::scan(storage).await?;
        // 1. Every segment of a selected topic not read yet, once however many manifests list it.
        let mut candidates: BTreeMap<String, (SegmentEntry, String, i32, Option<EncryptionKey>)> =
            BTreeMap::new();
        for m in &scan.manifests {
            let mut manifest_key = None;
            for t in m.topics.iter().filter(|t| selection.topics.contains(&t.name)) {
                for p in &t.partitions {
                    for s in &p.segments {
                        let o = &s.object;
                        if journal.rewritten.contains_key(o)
                            || journal.clean.contains(o)
                            || o.ends_with(&own_suffix)
                            || candidates.contains_key(o)
                        {
                            continue;
                        }
                        if manifest_key.is_none() {
                            manifest_key = Some(keys::for_restore_point(encryption, m).await?);
                        }
                        let k = manifest_key.clone().flatten();
                        candidates.insert(o.clone(), (s.clone(), t.name.clone(), p.partition, k));
                    }
                }
            }
        }
        let mut unsaved = 0usize;
        let mut last_save = std::time::Instant::now();
        let found = !candidates.is_empty();
        if found && journal.phase != Phase::Rewriting {
            journal.phase = Phase::Rewriting;
        }
        for (object, (entry, topic, partition, k)) in candidates {
            match rewrite_segment(storage, &entry, &topic, partition, k, selection, erasure_id).await? {
                Some(replacement) => {
                    tracing::info!(segment = %object, removed = replacement.removed,
                        pieces = replacement.pieces.len(), "segment written anew without the selected records");
                    journal.rewritten.insert(object, replacement);
                    unsaved += 1;
                }
                None => {
                    journal.clean.insert(object);
                    unsaved += 1;
                }
            }
            // A replacement is journaled before any manifest lists it; clean segments only
            // now and then (a rerun reads them again otherwise, nothing worse).
            if journal.rewritten.len() + journal.clean.len() > 0
                && (unsaved >= CLEAN_PER_SAVE || last_save.elapsed() > std::time::Duration::from_secs(15))
            {
                journal.save(storage).await?;
                journal::lock(storage, erasure_id).await?;
                (unsaved, last_save) = (0, std::time::Instant::now());
            }
        }
        journal.phase = Phase::Committing;
        journal.save(storage).await?;
        if found {
            crash_point("segments");
        }
        // 2. The commit points: each manifest listing a rewritten segment gets its next revision.
        let mut revised = 0usize;
        for m in &scan.manifests {
            let Some(next) = revise::revise(m, &journal.rewritten, erasure_id) else { continue };
            commit(storage, m, &next).await?;
            let revision = next.revision_number();
            mark(storage, erasure_id, &m.backup_id, revision).await?;
            journal.committed.insert(m.backup_id.clone(), revision);
            journal.save(storage).await?;
            tracing::info!(backup = %m.backup_id, revision, "restore point committed without the selected records");
            revised += 1;
            crash_point("manifest");
        }
        // A revision committed by a run killed before it journaled it.
        for m in &scan.manifests {
            let ours = m.revision.as_ref().is_some_and(|r| r.erasures.iter().any(|e| e == erasure_id));
            if ours && !journal.committed.contains_key(&m.backup_id) {
                mark(storage, erasure_id, &m.backup_id, m.revision_number()).await?;
                journal.committed.insert(m.backup_id.clone(), m.revision_number());
                journal.save(storage).await?;
            }
        }
        if !found && revised == 0 {
            break;
        }
    }
    // 3. The superseded segments, once no manifest lists them.
    journal.phase = Phase::Deleting;
    journal.save(storage).await?;
    let pending = delete_superseded(storage, &mut journal).await?;
    journal.phase = if pending.is_some() { Phase::Deleting } else { Phase::Done };
    journal.save(storage).await?;
    let mut report = EraseReport::from_journal(&journal, &storage.location, selection.key_count());
    report.deletion_pending = pending;
    tracing::info!(
        erasure = erasure_id,
        restore_points = report.restore_points.len(),
        records = report.records_removed,
        rewritten = report.segments_rewritten,
        deleted = report.segments_deleted,
        pending = report.deletion_pending.is_some(),
        "erasure finished"
    );
    Ok(report)
}

/// Writes `next` over the manifest `current` was read from: one PUT, the commit point. The
/// manifest is read again first, so a change since the scan (another writer) is never undone.
async fn commit(storage: &Storage, current: &Manifest, next: &Manifest) -> anyhow::Result<()> {
    let name = storage.layout.manifest(&current.backup_id);
    let now = crate::catalog::manifest(storage, &current.backup_id)
        .await
        .with_context(|| format!("reading {name} again before its new revision"))?;
    anyhow::ensure!(
        now == *current,
        "{name} changed while the erasure ran (another writer): run the erasure again"
    );
    storage
        .store
        .put(&object_store::path::Path::from(name.as_str()), PutPayload::from(next.to_json()?))
        .await
        .with_context(|| format!("writing {name}"))?;
    storage.sync(&name).await.with_context(|| format!("flushing {name} to disk"))?;
    Ok(())
}

/// The marker `sync` finds a revised restore point by ([`Layout::erasure_revised`]).
async fn mark(storage: &Storage, erasure_id: &str, backup_id: &str, revision: u32) -> anyhow::Result<()> {
    let name = storage.layout.erasure_revised(erasure_id, backup_id, revision);
    storage
        .store
        .put(&object_store::path::Path::from(name.as_str()), PutPayload::from_static(b""))
        .await
        .with_context(|| format!("writing {name}"))?;
    Ok(())
}

/// Deletes the originals no manifest lists any more. Returns why some stay, if they do: a
/// manifest this build cannot read (it may list them), a running restore reading a revised
/// restore point (its old manifest lists them), a manifest committed after the last search.
async fn delete_superseded(storage: &Storage, journal: &mut Journal) -> anyhow::Result<Option<String>> {
    let scan = crate::catalog::scan(storage).await?;
    if !scan.unreadable.is_empty() {
        let names: Vec<&str> = scan.unreadable.iter().map(|(o, _)| o.as_str()).take(3).collect();
        return Ok(Some(format!(
            "manifests this build cannot read are at the location ({}): the superseded segments stay while \
             they may list them; upgrade the operator and run the erasure again",
            names.join(", ")
        )));
    }
    let leased = crate::lease::leased(storage).await?;
    let mut reading: Vec<&str> =
        journal.committed.keys().filter(|id| leased.contains(*id)).map(String::as_str).collect();
    reading.sort();
    if !reading.is_empty() {
        return Ok(Some(format!(
            "running restores read restore point(s) {} from before the erasure: the superseded segments stay \
             until they finished; run the erasure again (same id) then",
            reading.join(", ")
        )));
    }
    let referenced = scan.referenced();
    let still: Vec<&str> =
        journal.rewritten.keys().filter(|o| referenced.contains(o.as_str())).map(String::as_str).collect();
    if let Some(first) = still.first() {
        return Ok(Some(format!(
            "{} superseded segment(s) are listed by a manifest committed after the last search (e.g. {first}): \
             run the erasure again (same id)",
            still.len()
        )));
    }
    for original in journal.rewritten.keys() {
        match storage.store.delete(&object_store::path::Path::from(original.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("deleting {original}"))),
        }
    }
    journal.deleted = journal.rewritten.len() as u64;
    Ok(None)
}

/// A piece being written and uploaded.
struct Piece {
    writer: SegmentWriter,
    upload: WriteMultipart,
    object: String,
}

impl Piece {
    async fn start(
        storage: &Storage,
        object: String,
        codec: Codec,
        key: Option<EncryptionKey>,
    ) -> anyhow::Result<Self> {
        let path = object_store::path::Path::from(object.as_str());
        let upload = storage
            .store
            .put_multipart(&path)
            .await
            .with_context(|| format!("starting upload of {object}"))?;
        Ok(Self {
            writer: SegmentWriter::new(codec, key, DEFAULT_BLOCK_BYTES)?,
            upload: WriteMultipart::new_with_chunk_size(upload, PART_BYTES),
            object,
        })
    }

    async fn push(&mut self, record: &Record) -> anyhow::Result<()> {
        self.writer.push(record)?;
        if self.writer.ready_len() >= PART_BYTES {
            self.upload.wait_for_capacity(2).await.with_context(|| format!("uploading {}", self.object))?;
            let ready = self.writer.take_ready();
            self.upload.write(&ready);
        }
        Ok(())
    }

    async fn finish(self, storage: &Storage) -> anyhow::Result<SegmentEntry> {
        let (rest, summary) = self.writer.finish()?;
        let mut upload = self.upload;
        upload.write(&rest);
        let uploaded = crate::storage::Uploaded { sha256: &summary.sha256, bytes: summary.stored_bytes };
        storage.complete_upload(upload, &self.object, uploaded).await?;
        storage.sync(&self.object).await.with_context(|| format!("flushing {} to disk", self.object))?;
        Ok(SegmentEntry::new(self.object, &summary))
    }
}

/// Reads `entry` (checked against its manifest entry, like a restore reads it) and, when it
/// holds a selected record, writes its kept records anew as pieces beside it. `None`: nothing
/// selected, nothing written.
async fn rewrite_segment(
    storage: &Storage,
    entry: &SegmentEntry,
    topic: &str,
    partition: i32,
    key: Option<EncryptionKey>,
    selection: &Selection,
    erasure_id: &str,
) -> anyhow::Result<Option<Replacement>> {
    // The key that sealed this segment (of a restore point's ring, its own backup's data key):
    // it reads the segment and seals the pieces.
    let key = keys::for_segment(key, &entry.object)?;
    let mut segment = CheckedSegment::open(storage, entry, key.clone()).await.map_err(anyhow::Error::msg)?;
    let mut any = false;
    'read: while let Some(block) = segment.next_block().await.map_err(anyhow::Error::msg)? {
        for r in block.records()? {
            if selection.matches(&r) {
                any = true;
                break 'read;
            }
        }
    }
    if !any {
        return Ok(None);
    }
    let mut segment = CheckedSegment::open(storage, entry, key.clone()).await.map_err(anyhow::Error::msg)?;
    let (codec, encrypted) = segment.encoding();
    let (codec, key) = (writing_codec(codec), key.filter(|_| encrypted));
    let mut splitter = Splitter::new(entry.first_offset);
    let mut open: Option<Piece> = None;
    let mut replacement = Replacement {
        topic: topic.into(),
        partition,
        original: entry.clone(),
        pieces: Vec::new(),
        gaps: Vec::new(),
        removed: 0,
        key_digests: BTreeSet::new(),
    };
    while let Some(block) = segment.next_block().await.map_err(anyhow::Error::msg)? {
        for r in block.records()? {
            let erase = selection.matches(&r);
            if erase && let Some(k) = &r.key {
                replacement.key_digests.insert(select::key_digest(k));
            }
            for action in splitter.offer(r.offset, erase) {
                apply(storage, action, &mut open, &mut replacement, r.offset, entry, erasure_id, codec, &key)
                    .await?;
            }
            if !erase {
                open.as_mut().context("a kept record without a piece open")?.push(&r).await?;
            }
        }
    }
    for action in splitter.finish(entry.last_offset) {
        apply(
            storage,
            action,
            &mut open,
            &mut replacement,
            entry.last_offset,
            entry,
            erasure_id,
            codec,
            &key,
        )
        .await?;
    }
    replacement.removed = splitter.removed();
    Ok(Some(replacement))
}

#[allow(clippy::too_many_arguments)]
async fn apply(
    storage: &Storage,
    action: Action,
    open: &mut Option<Piece>,
    replacement: &mut Replacement,
    offset: i64,
    entry: &SegmentEntry,
    erasure_id: &str,
    codec: Codec,
    key: &Option<EncryptionKey>,
) -> anyhow::Result<()> {
    match action {
        Action::StartPiece => {
            let object = Layout::erased_segment(&entry.object, erasure_id, offset);
            keys::check_piece(&entry.object, &object)?;
            *open = Some(Piece::start(storage, object, codec, key.clone()).await?);
        }
        Action::EndPiece => {
            let piece = open.take().context("a piece ended that was not open")?;
            replacement.pieces.push(piece.finish(storage).await?);
        }
        Action::Gap { from, to } => replacement.gaps.push(Gap { from, to, reason: GapReason::Erased }),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::format::record::TimestampType;

    fn key(seed: u8) -> EncryptionKey {
        EncryptionKey::from_secret(&[seed; 32]).expect("key")
    }

    fn record(offset: i64) -> Record {
        Record {
            offset,
            timestamp: 1_000 + offset,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from(if offset % 3 == 0 { "alice" } else { "bob" })),
            value: Some(Bytes::from(format!("value-{offset}"))),
            headers: Vec::new(),
        }
    }

    async fn all_records(
        storage: &Storage,
        entry: &SegmentEntry,
        key: EncryptionKey,
    ) -> Result<Vec<Record>, String> {
        let mut segment = CheckedSegment::open(storage, entry, Some(key)).await?;
        let mut out = Vec::new();
        while let Some(block) = segment.next_block().await? {
            out.extend(block.records().map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    /// A segment of backup b-1 found through the incremental restore point b-2 (whose key ring's
    /// own key is b-2's data key) is rewritten sealed with b-1's data key: the key its manifest
    /// entries (`dataKeys`) already wrap, and the one every reader picks by the object's path.
    #[tokio::test]
    async fn pieces_are_sealed_with_the_data_key_of_the_backup_they_live_under() {
        let storage = Storage {
            store: Arc::new(object_store::memory::InMemory::new()),
            layout: Layout::new("p"),
            location: "memory://p".into(),
            local_root: None,
        };
        let (one, two) = (key(1), key(2));
        let records: Vec<Record> = (0..12).map(record).collect();
        let mut writer = SegmentWriter::new(Codec::None, Some(one.clone()), 256).expect("writer");
        for r in &records {
            writer.push(r).expect("push");
        }
        let (bytes, summary) = writer.finish().expect("finish");
        let object = "p/backups/b-1/segments/t/0/00000000000000000000.kbseg".to_string();
        storage
            .store
            .put(&object_store::path::Path::from(object.as_str()), PutPayload::from(bytes))
            .await
            .expect("put");
        let entry = SegmentEntry::new(object, &summary);
        let ring = EncryptionKey::ring(
            &two,
            "lineage",
            BTreeMap::from([("b-1".to_string(), one.clone()), ("b-2".to_string(), two.clone())]),
        );
        let selection =
            Selection::from_parts(&["t".into()], HashSet::from([Bytes::from_static(b"alice")]), &[], None)
                .expect("selection");
        let replacement = rewrite_segment(&storage, &entry, "t", 0, Some(ring), &selection, "kde-1")
            .await
            .expect("rewritten")
            .expect("alice's records were there");
        assert_eq!(replacement.removed, 4);
        let mut kept = Vec::new();
        for piece in &replacement.pieces {
            assert!(piece.object.starts_with("p/backups/b-1/segments/t/0/"), "{}", piece.object);
            kept.extend(all_records(&storage, piece, one.clone()).await.expect("b-1's data key opens it"));
            let err = all_records(&storage, piece, two.clone()).await.expect_err("not b-2's key");
            assert!(err.contains("wrong encryption key"), "{err}");
        }
        let want: Vec<Record> = records.into_iter().filter(|r| r.offset % 3 != 0).collect();
        assert_eq!(kept, want, "every other record, byte for byte");
    }
}
