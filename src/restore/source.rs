//! Where restored records come from: each partition's segments across the chain of backups
//! ending at the one restored, the point-in-time target, and the records in offset order,
//! filtered by that target.

use std::collections::VecDeque;

use anyhow::Context;

use crate::api::restore::PointInTime;
use crate::format::codec::EncryptionKey;
use crate::format::manifest::{Manifest, SegmentEntry, TopicEntry};
use crate::format::record::Record;
use crate::storage::Storage;
use crate::verify::CheckedSegment;

/// The newest timestamp the restore may write (milliseconds), if limited.
pub fn target_ms(pit: Option<&PointInTime>, chain: &[Manifest]) -> anyhow::Result<Option<i64>> {
    let Some(pit) = pit else { return Ok(None) };
    if let Some(ts) = &pit.timestamp {
        let t = chrono::DateTime::parse_from_rfc3339(ts).with_context(|| {
            format!("spec.pointInTime.timestamp `{ts}` is not RFC 3339 (e.g. 2026-02-13T01:30:00.000Z)")
        })?;
        return Ok(Some(t.timestamp_millis()));
    }
    if let Some(d) = &pit.offset_from_end {
        let back = crate::api::duration::parse_millis(d)
            .map_err(|e| anyhow::anyhow!("spec.pointInTime.offsetFromEnd: {e}"))?;
        let newest = chain.iter().filter_map(|m| m.totals.newest_timestamp).max().unwrap_or(0);
        return Ok(Some(newest - back));
    }
    Ok(None)
}

/// A backed-up partition across the chain.
#[derive(Clone, Debug)]
pub struct PartitionSource {
    /// The topic as the restored backup recorded it (partition count, configs).
    pub topic: TopicEntry,
    pub partition: i32,
    /// The first offset of the restore point: records before it (in the first segment of a
    /// version 2 lineage, which may begin below the log start at the cut) are not restored.
    pub start_offset: i64,
    /// Segments oldest first, across the chain.
    pub segments: Vec<SegmentEntry>,
}

impl PartitionSource {
    /// Records stored for this partition (before any point-in-time cut).
    pub fn stored_records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }
}

/// Every partition of the restored backup (the last of the chain) with its segments. A version 2
/// manifest lists them all itself, never across a lineage break. For a version 1 chain they come
/// from the whole chain: walking back stops where a parent does not continue the partition (the
/// topic was not backed up then, or its offsets restarted), so older records of another topic
/// that only had the same name are not joined.
pub fn partitions(chain: &[Manifest]) -> Vec<PartitionSource> {
    let Some((last, parents)) = chain.split_last() else { return Vec::new() };
    let mut out = Vec::new();
    if last.self_contained() {
        for topic in &last.topics {
            for p in &topic.partitions {
                out.push(PartitionSource {
                    topic: TopicEntry { partitions: Vec::new(), ..topic.clone() },
                    partition: p.partition,
                    start_offset: p.start_offset,
                    segments: p.segments.clone(),
                });
            }
        }
        return out;
    }
    for topic in &last.topics {
        for p in &topic.partitions {
            let mut segments = p.segments.clone();
            let mut start = p.start_offset;
            for parent in parents.iter().rev() {
                let Some(prev) = parent
                    .topics
                    .iter()
                    .find(|t| t.name == topic.name)
                    .and_then(|t| t.partitions.iter().find(|q| q.partition == p.partition))
                else {
                    break;
                };
                if prev.end_offset > start {
                    break;
                }
                segments.splice(0..0, prev.segments.iter().cloned());
                start = prev.start_offset;
            }
            out.push(PartitionSource {
                topic: TopicEntry { partitions: Vec::new(), ..topic.clone() },
                partition: p.partition,
                start_offset: start,
                segments,
            });
        }
    }
    out
}

/// `scope: allRetained`: extends each partition of a version 2 restore point back through the
/// other backups at the location that hold the same lineage (same cluster, topic id and
/// `lineageStart`), with the segments they list below the restore point's first offset: records
/// the source's retention deleted after those backups ran are restored too, oldest first, and
/// never across a lineage break. Returns the backups drawn from, for the restore's lease.
pub fn extend_retained(sources: &mut [PartitionSource], last: &Manifest, all: &[Manifest]) -> Vec<String> {
    let mut used = std::collections::BTreeSet::new();
    for source in sources.iter_mut() {
        let Some(lineage) =
            last.partition(&source.topic.name, source.partition).and_then(|(_, p)| p.lineage_start.clone())
        else {
            continue;
        };
        let mut known: std::collections::HashSet<String> =
            source.segments.iter().map(|s| s.object.clone()).collect();
        let mut start = source.start_offset;
        let same_cluster = |m: &&Manifest| {
            m.self_contained() && m.backup_id != last.backup_id && m.cluster_id == last.cluster_id
        };
        for m in all.iter().filter(same_cluster) {
            let Some((t, p)) = m.partition(&source.topic.name, source.partition) else { continue };
            if t.topic_id != source.topic.topic_id || p.lineage_start.as_deref() != Some(lineage.as_str()) {
                continue;
            }
            let mut drew = false;
            for seg in p.segments.iter().filter(|s| s.first_offset < source.start_offset) {
                if known.insert(seg.object.clone()) {
                    source.segments.push(seg.clone());
                    drew = true;
                }
            }
            if drew || p.start_offset < start {
                used.insert(m.backup_id.clone());
            }
            start = start.min(p.start_offset);
        }
        source.segments.sort_by_key(|s| s.first_offset);
        source.start_offset = start;
    }
    used.into_iter().collect()
}

/// The records of one partition in offset order from the restore point's first offset, only
/// those at or before the target time.
pub struct RecordSource {
    storage: Storage,
    key: Option<EncryptionKey>,
    target: Option<i64>,
    from: i64,
    segments: VecDeque<SegmentEntry>,
    reader: Option<CheckedSegment>,
    pending: VecDeque<Record>,
    /// Schema ids to rewrite in keys and values ([`Self::rewriting`]).
    schema_ids: Option<std::sync::Arc<crate::schema_registry::rewrite::IdMap>>,
    /// The masking rules of this partition's topic ([`Self::masking`]).
    masking: Option<super::masking::TopicMasker>,
}

impl RecordSource {
    pub fn new(
        storage: Storage,
        key: Option<EncryptionKey>,
        target: Option<i64>,
        source: &PartitionSource,
    ) -> Self {
        let from = source.start_offset;
        // Whole segments newer than the target, or before the restore point, are never downloaded.
        let segments = source
            .segments
            .iter()
            .filter(|s| target.is_none_or(|t| s.min_timestamp <= t) && s.last_offset >= from)
            .cloned()
            .collect();
        Self {
            storage,
            key,
            target,
            from,
            segments,
            reader: None,
            pending: VecDeque::new(),
            schema_ids: None,
            masking: None,
        }
    }

    /// Records come out with their schema id prefixes rewritten through `ids` (`rewriteSchemaIds`).
    /// Rewritten here, where records leave the backup, so what is written and what a resumed run
    /// reads back and compares are the same bytes.
    pub fn rewriting(mut self, ids: Option<std::sync::Arc<crate::schema_registry::rewrite::IdMap>>) -> Self {
        self.schema_ids = ids;
        self
    }

    /// Records come out masked by `masking` (`spec.masking`), after any schema id rewrite; a
    /// record its `onParseError: skip` leaves out never comes out. Masked here for the same
    /// reason as [`Self::rewriting`]: every consumer of the stream (the writer, the read-back of a
    /// resumed run, the repartitioning placement) sees the same masked bytes.
    pub fn masking(mut self, masking: Option<super::masking::TopicMasker>) -> Self {
        self.masking = masking;
        self
    }

    pub async fn next(&mut self) -> anyhow::Result<Option<Record>> {
        loop {
            if let Some(mut r) = self.pending.pop_front() {
                if let Some(ids) = &self.schema_ids {
                    for bytes in [r.key.as_mut(), r.value.as_mut()].into_iter().flatten() {
                        if let Some(new) = ids.rewrite(bytes) {
                            *bytes = new.into();
                        }
                    }
                }
                if let Some(masking) = &self.masking
                    && !masking.apply(&mut r)?
                {
                    continue;
                }
                return Ok(Some(r));
            }
            if let Some(reader) = self.reader.as_mut() {
                match reader.next_block().await.map_err(anyhow::Error::msg)? {
                    Some(block) => {
                        if self.target.is_none_or(|t| block.info.min_timestamp <= t)
                            && block.info.last_offset >= self.from
                        {
                            let (target, from) = (self.target, self.from);
                            self.pending.extend(
                                block
                                    .records()?
                                    .into_iter()
                                    .filter(|r| r.offset >= from && target.is_none_or(|t| r.timestamp <= t)),
                            );
                        }
                        continue;
                    }
                    None => self.reader = None,
                }
            }
            let Some(segment) = self.segments.pop_front() else { return Ok(None) };
            // Checked against the manifest as it streams: a segment that is not the one the
            // backup committed fails the restore, naming it, before its last block is written.
            self.reader = Some(
                CheckedSegment::open(&self.storage, &segment, self.key.clone())
                    .await
                    .map_err(anyhow::Error::msg)?,
            );
        }
    }
}
