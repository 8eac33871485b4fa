//! Merging a partition's small inherited segments into larger ones: the I/O of the policy in
//! [`super::compact`].
//!
//! An incremental lists the segments its lineage already holds below where it reads on
//! (`readFrom`). Those the policy picks are read back — each checked against its manifest entry
//! as a restore checks it ([`crate::verify::CheckedSegment`]: SHA-256, size, block checksums,
//! offsets, counts) — and their records written again, exactly as decoded (offset, timestamp and
//! its type, key, value, headers, nulls kept), into new segments under this backup's own id, with
//! its codec and key, by the same writer a backup reads into ([`super::partition`]). The
//! manifest then lists the merged segments in place of the small ones; offsets the broker did
//! not return between them (`NotReturned` gaps: transaction markers, compacted records) are
//! counted by the merged segment's `offsetsSkipped`, as a backup that had read the range at once
//! would have them; every other gap stays and is never merged across.
//!
//! Nothing older changes: the small segments stay where their backups wrote them, listed by the
//! older manifests, and retention deletes them with the last manifest that lists them. A merged
//! segment is visible only once this backup's manifest (the commit point) lists it: a run killed
//! while merging leaves objects under a backup id without a manifest, which orphan cleanup
//! removes like any other unfinished run's. A merge that fails (a segment unreadable, the store
//! failing) is abandoned with a warning, its outputs deleted, and the small segments listed as
//! before: merging never fails a backup.
//!
//! Memory: merging runs in the partition's task after its read, its consumer closed; it holds
//! one decoded block of the segment being read and the writer's buffers of the partition's
//! budget ([`crate::budget`]), as reading does.

use std::sync::Mutex;

use anyhow::Context;
use object_store::ObjectStoreExt;

use crate::format::codec::{Codec, EncryptionKey};
use crate::format::data_keys::{DataKeyEntry, backup_of_segment};
use crate::format::manifest::{Gap, GapReason, PartitionEntry, SegmentEntry};
use crate::storage::Storage;
use crate::verify::CheckedSegment;

use super::compact::{self, Candidate, Policy};
use super::partition::OpenSegment;

/// A process environment variable that turns merging off (`off`): for benchmarks measuring
/// what it saves (`hack/bench.sh`) and for tests showing what a lineage looks like without it;
/// no resource sets it.
pub const MERGE_ENV: &str = "STRIMZI_BACKUP_MERGE_SEGMENTS";

/// Whether this process merges segments (read once).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var(MERGE_ENV).map_or(true, |v| v.trim() != "off"))
}

/// Where merged segments go: this backup's segments of one topic, as it writes them.
pub struct Target<'a> {
    pub storage: &'a Storage,
    pub backup_id: &'a str,
    pub topic: &'a str,
    pub codec: Codec,
    pub key: Option<EncryptionKey>,
    /// `segmentSize`.
    pub segment_bytes: u64,
}

/// The keys inherited segments are read with. With a key from a Secret every backup of a lineage
/// used it (another key breaks the lineage). With keys from a KMS each backup sealed its segments
/// with its own data key: the parent's manifest carries them wrapped, and those of the segments
/// merged are unwrapped here, each once per run.
pub struct ReadKeys {
    own: Option<EncryptionKey>,
    backup_id: String,
    /// Data keys from a KMS: the parent's wrapped keys and the KMS to unwrap them.
    envelope: Option<(Vec<DataKeyEntry>, Option<crate::kms::KmsAccess>)>,
    /// Unwraps them, each once per run, as restore and verify do.
    unwrapped: crate::kms::KeySource,
}

impl ReadKeys {
    /// `own`: the key this backup seals with; `envelope`: with keys from a KMS, the parent's
    /// wrapped data keys and the KMS settings.
    pub fn new(
        own: Option<EncryptionKey>,
        backup_id: &str,
        envelope: Option<(Vec<DataKeyEntry>, Option<crate::kms::KmsAccess>)>,
    ) -> Self {
        Self { own, backup_id: backup_id.to_string(), envelope, unwrapped: crate::kms::KeySource::default() }
    }

    /// The key segment `object` was sealed with (`None`: the lineage is not encrypted).
    pub async fn for_segment(&self, object: &str) -> anyhow::Result<Option<EncryptionKey>> {
        let Some(own) = &self.own else { return Ok(None) };
        let Some((wrapped, access)) = &self.envelope else { return Ok(Some(own.clone())) };
        let writer = backup_of_segment(object).with_context(|| format!("{object} is under no backup id"))?;
        if writer == self.backup_id {
            return Ok(Some(own.clone()));
        }
        let entry = wrapped
            .iter()
            .find(|k| k.backup_id == writer)
            .with_context(|| format!("no wrapped data key of backup {writer} for {object}"))?;
        let access =
            access.as_ref().context("the KMS settings are needed to read an earlier backup's segments")?;
        Ok(Some(self.unwrapped.unwrap_with(access, entry).await?))
    }
}

/// What merging did in one partition, or summed over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    pub partitions: u64,
    pub segments_in: u64,
    pub segments_out: u64,
    /// Encoded record bytes rewritten.
    pub raw_bytes: u64,
    /// Bytes of the merged segments written.
    pub stored_bytes: u64,
}

/// The run's total, added to by every partition.
#[derive(Debug, Default)]
pub struct Totals(Mutex<Merged>);

impl Totals {
    pub fn add(&self, m: Merged) {
        if m.segments_in == 0 {
            return;
        }
        if let Ok(mut t) = self.0.lock() {
            t.partitions += 1;
            t.segments_in += m.segments_in;
            t.segments_out += m.segments_out;
            t.raw_bytes += m.raw_bytes;
            t.stored_bytes += m.stored_bytes;
        }
    }

    pub fn get(&self) -> Merged {
        self.0.lock().map(|t| *t).unwrap_or_default()
    }
}

/// The policy's view of `segments` (inherited, oldest first): sizes, and where a gap other than
/// `NotReturned` lies between two of them (never merged across).
pub fn candidates(segments: &[SegmentEntry], gaps: &[Gap]) -> Vec<Candidate> {
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let joins_previous = i > 0 && {
                let before = &segments[i - 1];
                before.last_offset < s.first_offset
                    && !gaps.iter().any(|g| {
                        g.reason != GapReason::NotReturned
                            && g.from < s.first_offset
                            && g.to > before.last_offset
                    })
            };
            Candidate { raw_bytes: s.raw_bytes, joins_previous }
        })
        .collect()
}

/// Merges what the policy picks among `entry`'s segments below `read_from` (those its lineage
/// held before this backup), in place. Never fails: a merge that cannot be done is logged and
/// left for a later run.
pub async fn merge_inherited(
    target: &Target<'_>,
    keys: &ReadKeys,
    entry: &mut PartitionEntry,
    read_from: i64,
) -> Merged {
    let mut done = Merged::default();
    if !enabled() {
        return done;
    }
    let inherited = entry.segments.iter().take_while(|s| s.last_offset < read_from).count();
    let mut merges = compact::plan(
        &candidates(&entry.segments[..inherited], &entry.gaps),
        &Policy::new(target.segment_bytes),
    );
    // From the newest, so the positions of those still to do stay put.
    merges.sort_by_key(|m| std::cmp::Reverse(m.range.start));
    for m in merges {
        let inputs = entry.segments[m.range.clone()].to_vec();
        let outputs = match merge(target, keys, entry.partition, &inputs, (m.outputs, m.target_bytes)).await {
            Ok(outputs) => outputs,
            Err(e) => {
                tracing::warn!(topic = %target.topic, partition = entry.partition, segments = inputs.len(),
                    error = %format!("{e:#}"), "could not merge small segments; they stay listed as they are and a later backup tries again");
                break;
            }
        };
        let (from, to) = (inputs[0].first_offset, inputs[inputs.len() - 1].last_offset + 1);
        entry.gaps.retain(|g| !(g.reason == GapReason::NotReturned && g.from >= from && g.to <= to));
        done.segments_in += inputs.len() as u64;
        done.segments_out += outputs.len() as u64;
        done.raw_bytes += outputs.iter().map(|s| s.raw_bytes).sum::<u64>();
        done.stored_bytes += outputs.iter().map(|s| s.stored_bytes).sum::<u64>();
        entry.segments.splice(m.range, outputs);
    }
    if done.segments_in > 0 {
        done.partitions = 1;
        tracing::debug!(topic = %target.topic, partition = entry.partition, segments_in = done.segments_in,
            segments_out = done.segments_out, raw_bytes = done.raw_bytes, "merged small segments");
    }
    done
}

/// Writes the records of `inputs` (consecutive segments of one partition) into `split.0`
/// segments of about `split.1` raw bytes each (the last takes what is left: records re-encoded
/// in larger blocks may take a few bytes more); deletes what it wrote when it fails.
pub async fn merge(
    target: &Target<'_>,
    keys: &ReadKeys,
    partition: i32,
    inputs: &[SegmentEntry],
    split: (usize, u64),
) -> anyhow::Result<Vec<SegmentEntry>> {
    let mut outputs = Vec::new();
    let written = write(target, keys, partition, inputs, split, &mut outputs)
        .await
        .and_then(|()| same_records(inputs, &outputs));
    if let Err(e) = written {
        for s in &outputs {
            let path = object_store::path::Path::from(s.object.as_str());
            if let Err(d) = target.storage.store.delete(&path).await {
                tracing::warn!(object = %s.object, error = %d, "could not delete an abandoned merged segment; it is removed with its backup");
            }
        }
        return Err(e);
    }
    Ok(outputs)
}

async fn write(
    target: &Target<'_>,
    keys: &ReadKeys,
    partition: i32,
    inputs: &[SegmentEntry],
    (wanted, target_bytes): (usize, u64),
    outputs: &mut Vec<SegmentEntry>,
) -> anyhow::Result<()> {
    let mut open: Option<OpenSegment> = None;
    for input in inputs {
        let key = keys.for_segment(&input.object).await?;
        let mut segment =
            CheckedSegment::open(target.storage, input, key).await.map_err(anyhow::Error::msg)?;
        while let Some(block) = segment.next_block().await.map_err(anyhow::Error::msg)? {
            for record in block.records()? {
                let writing = match open.as_mut() {
                    Some(s) => s,
                    None => {
                        let object = target.storage.layout.segment(
                            target.backup_id,
                            target.topic,
                            partition,
                            record.offset,
                        );
                        let key = target.key.clone();
                        open.insert(
                            OpenSegment::create(target.storage, object, record.offset, target.codec, key)
                                .await?,
                        )
                    }
                };
                let full = writing.add(&record)?;
                writing.seal(full).await?;
                if writing.raw_bytes() >= target_bytes
                    && outputs.len() + 1 < wanted
                    && let Some(done) = open.take()
                {
                    outputs.push(done.finish().await?);
                }
            }
        }
    }
    if let Some(last) = open.take() {
        outputs.push(last.finish().await?);
    }
    Ok(())
}

/// The merged segments hold what the small ones held: the same records, from the same first to
/// the same last offset, one after the other.
fn same_records(inputs: &[SegmentEntry], outputs: &[SegmentEntry]) -> anyhow::Result<()> {
    let count = |s: &[SegmentEntry]| s.iter().map(|s| s.records).sum::<u64>();
    let ends = |s: &[SegmentEntry]| (s.first().map(|s| s.first_offset), s.last().map(|s| s.last_offset));
    anyhow::ensure!(
        count(inputs) == count(outputs) && ends(inputs) == ends(outputs),
        "merged segments hold {} records over {:?}, the small ones {} over {:?}",
        count(outputs),
        ends(outputs),
        count(inputs),
        ends(inputs)
    );
    anyhow::ensure!(
        outputs.windows(2).all(|w| w[0].last_offset < w[1].first_offset),
        "merged segments overlap"
    );
    Ok(())
}

#[cfg(test)]
mod tests;
