//! Restoring a topic into another partition count (`topicMapping[].partitions`).
//!
//! **Placement.** Every record goes where Kafka's default partitioner would put it: a keyed
//! record (an empty key is a key) to `toPositive(murmur2(key)) % partitions`, exactly as the
//! Java client's `BuiltInPartitioner.partitionForKey` does, so producers that keep writing to
//! the restored topic put each key where its restored records are. A keyless record has no place
//! of its own (the Java client sticks to a partition per batch, which no rerun could repeat):
//! keyless records go round-robin, the i-th keyless record of the merged stream below to
//! partition `i % partitions`.
//!
//! **Order.** The source partitions of the topic are read together and merged by
//! `(timestamp, source partition, source offset)` of each partition's next record — a k-way merge
//! that only ever takes the head of a partition, so every source partition's records stay in
//! their order, whatever their timestamps. A key lived in one source partition (the default
//! partitioner) and lands in one target partition: its records keep their order. Records of
//! a key spread over several source partitions (a custom partitioner) are interleaved by time.
//!
//! **Retries.** The merged stream, and so each target partition's sequence of records, depends
//! only on the backup, the point in time and the partition count: a rerun produces the same
//! sequence for every target partition. A resumed run therefore proves what an earlier attempt
//! left exactly as [`partition`](super::partition) does for a one-to-one restore — for each
//! target partition it reads back from where the restore started it and matches the records
//! there, one by one, with the partition's expected sequence, then writes the rest after them;
//! anything else there refuses the run (`TargetChanged`). The source is read once per topic
//! (not once per target partition): one task routes the merged stream to all target partitions,
//! proving each while its read-back lasts and writing it after.
//!
//! **Consumer offsets.** A committed offset names a position in one source partition; after
//! repartitioning, a target partition interleaves records of several source partitions, so no
//! target offset stands for "everything before was consumed". The restore keeps at-least-once
//! and never skips a record: for each group and target partition, the committed offset is the
//! target offset of the first record placed there that the group had not consumed in its
//! source partition (source offset at or after the group's committed offset there; every record of
//! a source partition where the group committed nothing counts as unconsumed), or the
//! partition's end when the group had consumed all of them. Records the group had consumed that
//! sit after that first unconsumed one are delivered again. A group with no committed offset on
//! any partition of the topic gets none on the restored topic.
//!
//! Pure parts ([`murmur2`], [`Placement`], [`starts_for`]) are unit-tested here; the rest is
//! I/O and is tested end to end (`test/tests/e2e/repartition.rs`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::partition::{
    InFlight, MAX_IN_FLIGHT, Partition, PartitionContext, PartitionJob, PartitionOutcome, restore_partition,
    to_future_record,
};
use super::source::{PartitionSource, RecordSource};
use super::target::{TargetReader, same_record};
use crate::format::manifest::GroupEntry;
use crate::format::record::Record;
use crate::refusal::Refusal;

/// Kafka's `Utils.murmur2`: the 32-bit MurmurHash2 with Kafka's seed, as the Java client's
/// default partitioner hashes keys (and librdkafka's `murmur2` partitioners).
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747b28c ^ (data.len() as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner gives a key: `toPositive(murmur2(key)) % partitions`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Where each record of the merged stream goes, in stream order: keyed records by their key,
/// keyless ones round-robin.
#[derive(Clone, Debug)]
pub struct Placement {
    partitions: i32,
    keyless: u64,
}

impl Placement {
    pub fn new(partitions: i32) -> Self {
        Self { partitions: partitions.max(1), keyless: 0 }
    }

    /// The target partition of the stream's next record.
    pub fn next(&mut self, key: Option<&[u8]>) -> i32 {
        match key {
            Some(k) => partition_for_key(k, self.partitions),
            None => {
                let at = (self.keyless % self.partitions as u64) as i32;
                self.keyless += 1;
                at
            }
        }
    }
}

/// One group's committed offsets on the source partitions of a repartitioned topic.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupStart {
    pub group: String,
    /// Source partition -> committed (source) offset.
    pub committed: BTreeMap<i32, i64>,
    /// The metadata of its commits, carried to the target commits (the first found).
    pub metadata: Option<String>,
}

/// The selected groups with a committed offset on `topic` (selection applied by the caller).
pub fn starts_for<'a>(groups: impl IntoIterator<Item = &'a GroupEntry>, topic: &str) -> Vec<GroupStart> {
    groups
        .into_iter()
        .filter_map(|g| {
            let on: Vec<_> = g.offsets.iter().filter(|o| o.topic == topic).collect();
            (!on.is_empty()).then(|| GroupStart {
                group: g.group.clone(),
                committed: on.iter().map(|o| (o.partition, o.offset)).collect(),
                metadata: on.iter().find_map(|o| o.metadata.clone()),
            })
        })
        .collect()
}

/// A topic to restore into another partition count.
pub struct RepartitionJob {
    /// Every backed-up partition of the topic.
    pub sources: Vec<PartitionSource>,
    pub target_topic: String,
    pub partitions: i32,
    /// Where each target partition stood before this restore wrote to it (index = partition).
    pub starts: Vec<i64>,
    /// An earlier run may have written: what is in the target is read back and proven first.
    pub resumed: bool,
    pub compacted: bool,
    /// The groups whose offsets move to the restored topic.
    pub groups: Vec<GroupStart>,
}

/// Either kind of work a restore hands its tasks.
pub enum Work {
    /// One partition restored one to one.
    Partition(PartitionJob),
    /// A whole topic restored into another partition count.
    Topic(RepartitionJob),
}

impl Work {
    /// Runs it; the outcomes are per target partition, named by the source topic.
    pub async fn run(self, ctx: &PartitionContext) -> anyhow::Result<Vec<(String, i32, PartitionOutcome)>> {
        match self {
            Work::Partition(job) => {
                let (topic, partition) = (job.source.topic.name.clone(), job.source.partition);
                Ok(vec![(topic, partition, restore_partition(ctx, job).await?)])
            }
            Work::Topic(job) => {
                let topic = job.sources.first().map(|s| s.topic.name.clone()).unwrap_or_default();
                let outcomes = restore_topic(ctx, job).await?;
                Ok(outcomes.into_iter().enumerate().map(|(p, o)| (topic.clone(), p as i32, o)).collect())
            }
        }
    }
}

/// The source partitions' records merged into one stream by `(timestamp, partition, offset)` of
/// each partition's next record.
struct Merge {
    /// Each source partition's number, name (`topic/partition`, for errors) and records.
    sources: Vec<(i32, String, RecordSource)>,
    heads: Vec<Option<Record>>,
    order: BinaryHeap<Reverse<(i64, i32, i64, usize)>>,
}

impl Merge {
    async fn open(ctx: &PartitionContext, sources: &[PartitionSource]) -> anyhow::Result<Self> {
        let mut merge = Self { sources: Vec::new(), heads: Vec::new(), order: BinaryHeap::new() };
        for s in sources {
            // Masked as it leaves the backup: records are placed by the masked key, the one
            // consumers and later producers of the restored topic see.
            let source = RecordSource::new(ctx.storage.clone(), ctx.key.clone(), ctx.target, s)
                .rewriting(ctx.schema_ids.clone())
                .masking(ctx.masking.as_ref().and_then(|m| m.for_topic(&s.topic.name, s.partition)));
            merge.sources.push((s.partition, format!("{}/{}", s.topic.name, s.partition), source));
            merge.heads.push(None);
            merge.refill(merge.sources.len() - 1).await?;
        }
        Ok(merge)
    }

    async fn refill(&mut self, i: usize) -> anyhow::Result<()> {
        let (partition, name, source) = &mut self.sources[i];
        let partition = *partition;
        let next = source.next().await.with_context(|| format!("reading the backup of {name}"))?;
        if let Some(r) = &next {
            self.order.push(Reverse((r.timestamp, partition, r.offset, i)));
        }
        self.heads[i] = next;
        Ok(())
    }

    /// The next record and its source partition.
    async fn next(&mut self) -> anyhow::Result<Option<(i32, Record)>> {
        let Some(Reverse((_, partition, _, i))) = self.order.pop() else { return Ok(None) };
        let record = self.heads[i].take().context("merge: a partition's head went missing")?;
        self.refill(i).await?;
        Ok(Some((partition, record)))
    }
}

/// A target partition being read back on a resumed run.
struct Proof {
    reader: TargetReader,
    /// A record read back and not matched yet (a compacted topic's cleaner removed the backup
    /// records before it).
    found: Option<Record>,
}

/// How a record of the expected sequence compares with what was read back.
enum Proved {
    /// It is in the target at this offset.
    At(i64),
    /// Not there, and the next record read back is a later one: the cleaner removed it.
    Removed,
    /// The read-back ended: the record, and the rest of the partition's sequence, are still to
    /// write, from this offset.
    End(i64),
}

impl Proof {
    async fn check(&mut self, p: &Partition<'_>, record: &Record, compacted: bool) -> anyhow::Result<Proved> {
        let found = match self.found.take() {
            Some(f) => Some(f),
            None => self.reader.next().await?,
        };
        let Some(found) = found else { return Ok(Proved::End(self.reader.position()?)) };
        if same_record(record, &found) {
            return Ok(Proved::At(found.offset));
        }
        if compacted {
            self.found = Some(found);
            return Ok(Proved::Removed);
        }
        Err(Refusal::target_changed(format!(
            "{}: offset {} holds a record this restore did not write (the backup's record due there is \
             source offset {} of the repartitioned topic); something else wrote to the target partition \
             since the restore started. Restore again under a new KafkaRestore (or another target topic)",
            p.name, found.offset, record.offset
        ))
        .into())
    }

    /// The merged stream ended while this partition was still read back: nothing may follow.
    async fn end(mut self, p: &Partition<'_>) -> anyhow::Result<i64> {
        let extra = match self.found.take() {
            Some(f) => Some(f),
            None => self.reader.next().await?,
        };
        if let Some(found) = extra {
            return Err(Refusal::target_changed(format!(
                "{}: offset {} holds a record this restore did not write (all {} records it restores \
                 there are before it); something else wrote to the target partition. Restore again under \
                 a new KafkaRestore (or another target topic)",
                p.name, found.offset, p.index
            ))
            .into());
        }
        self.reader.position()
    }
}

/// Restores one topic into `job.partitions` partitions; the outcomes are indexed by target
/// partition. The keys of each outcome's `translated` are indices into `job.groups` (not source
/// offsets): the group's committed offset on that partition; [`group_offsets`] reads them.
pub async fn restore_topic(
    ctx: &PartitionContext,
    job: RepartitionJob,
) -> anyhow::Result<Vec<PartitionOutcome>> {
    let n = usize::try_from(job.partitions).unwrap_or(0).max(1);
    anyhow::ensure!(
        job.starts.len() == n,
        "{}: {} partitions to restore but {} recorded starts; the restore state is damaged",
        job.target_topic,
        n,
        job.starts.len()
    );
    let mut parts: Vec<Partition<'_>> = (0..n)
        .map(|t| Partition {
            ctx,
            name: format!("{}/{t}", job.target_topic),
            outcome: PartitionOutcome::default(),
            committed: Vec::new().into_iter().peekable(),
            pending: Vec::new(),
            index: 0,
            first: job.starts[t],
            last: None,
        })
        .collect();
    let mut proofs: Vec<Option<Proof>> = Vec::with_capacity(n);
    for (t, start) in job.starts.iter().enumerate() {
        proofs.push(match job.resumed && ctx.writer.is_some() {
            true => Some(Proof {
                reader: TargetReader::open(
                    &ctx.client,
                    &ctx.restore_id,
                    &job.target_topic,
                    t as i32,
                    *start,
                )?,
                found: None,
            }),
            false => None,
        });
    }
    let mut merge = Merge::open(ctx, &job.sources).await?;
    let mut placement = Placement::new(job.partitions);
    // Which group has its offset on which target partition already.
    let mut placed_for: Vec<Vec<bool>> = vec![vec![false; n]; job.groups.len()];
    let mut in_flight: VecDeque<(usize, InFlight)> = VecDeque::new();
    while let Some((source_partition, record)) = merge.next().await? {
        let t = usize::try_from(placement.next(record.key.as_deref())).unwrap_or(0);
        let p = &mut parts[t];
        for (g, start) in job.groups.iter().enumerate() {
            let unconsumed = start.committed.get(&source_partition).is_none_or(|c| record.offset >= *c);
            if unconsumed && !placed_for[g][t] {
                placed_for[g][t] = true;
                p.pending.push(g as i64);
            }
        }
        let at = job.starts[t] + p.index;
        p.take(&record);
        if let Some(proof) = proofs[t].as_mut() {
            match proof.check(p, &record, job.compacted).await? {
                Proved::At(offset) => {
                    let translates = std::mem::take(&mut p.pending);
                    p.place(translates, offset);
                    continue;
                }
                // Its groups' offsets go to the next record found.
                Proved::Removed => continue,
                Proved::End(next) => {
                    tracing::info!(partition = %p.name, records = p.index - 1, next,
                        "resuming: the records in the target are this restore's own");
                    p.first = next;
                    proofs[t] = None;
                }
            }
        }
        let translates = std::mem::take(&mut p.pending);
        let Some(writer) = &ctx.writer else {
            // A dry run: where the record would land.
            p.place(translates, at);
            continue;
        };
        let mut pending = to_future_record(&job.target_topic, t as i32, &record);
        loop {
            match writer.send(pending).await? {
                Ok((txn, delivery)) => {
                    in_flight.push_back((t, InFlight { txn, translates, delivery }));
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    pending = back;
                    match in_flight.pop_front() {
                        Some((s, sent)) => parts[s].settle(sent).await?,
                        None => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                    }
                }
                Err((e, _)) => {
                    return Err(anyhow::Error::new(e).context(format!("{}/{t}: producing", job.target_topic)));
                }
            }
        }
        if in_flight.len() >= MAX_IN_FLIGHT
            && let Some((s, sent)) = in_flight.pop_front()
        {
            parts[s].settle(sent).await?;
        }
        parts[t].outcome.written += 1;
    }
    while let Some((s, sent)) = in_flight.pop_front() {
        parts[s].settle(sent).await?;
    }
    for (t, proof) in proofs.into_iter().enumerate() {
        if let Some(proof) = proof {
            let next = proof.end(&parts[t]).await?;
            tracing::info!(partition = %parts[t].name, records = parts[t].index, next,
                "resuming: the records in the target are this restore's own, and all of them");
            parts[t].first = next;
        }
    }
    let records: Vec<i64> = parts.iter().map(|p| p.index).collect();
    let done = if ctx.writer.is_some() { "restored" } else { "planned" };
    tracing::info!(topic = %job.target_topic, partitions = n, ?records, "repartitioned topic {done}");
    Ok(parts.into_iter().zip(&job.starts).map(|(p, start)| p.finish(*start)).collect())
}

/// The committed offsets of each group on a repartitioned topic, from the topic's outcomes
/// (indexed by target partition): the target offset of the first record there the group had not
/// consumed, or the partition's end.
pub fn group_offsets(
    groups: &[GroupStart],
    outcomes: &[&PartitionOutcome],
) -> Vec<(String, Vec<(i32, i64)>)> {
    groups
        .iter()
        .enumerate()
        .map(|(g, start)| {
            let offsets = outcomes
                .iter()
                .enumerate()
                .map(|(t, o)| (t as i32, o.translated.get(&(g as i64)).copied().unwrap_or(o.end)))
                .collect();
            (start.group.clone(), offsets)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own vectors (`UtilsTest.testMurmur2`) and librdkafka's (`rdmurmur2.c`).
    #[test]
    fn murmur2_is_kafkas() {
        let cases: [(&[u8], i32); 11] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
            (b"string-f-24-chars-length", 124730809),
            (b"string-fo-25-chars-length", 1269511650),
            (b"string-foo-26-chars-length", 119165628),
            (b"string-last-27-chars-length", 1089971754),
            (b"kafka", 0xd067cf64_u32 as i32),
        ];
        for (data, expected) in cases {
            assert_eq!(murmur2(data), expected, "{}", String::from_utf8_lossy(data));
        }
        // Akka's vectors from the Kafka implementation.
        for (s, expected) in
            [("1", -1993445489), ("12", 126087238), ("123", -267702483), ("1234", -1614185708)]
        {
            assert_eq!(murmur2(s.as_bytes()), expected, "{s}");
        }
    }

    #[test]
    fn keys_go_where_kafkas_default_partitioner_puts_them() {
        // toPositive(-973932308) % 5: the sign bit is cleared, not the absolute value taken.
        assert_eq!(partition_for_key(b"21", 5), ((-973932308_i32) & 0x7fff_ffff) % 5);
        assert_eq!(partition_for_key(b"21", 5), 1_173_551_340 % 5);
        for n in 1..10 {
            assert!((0..n).contains(&partition_for_key(b"foobar", n)));
        }
        // An empty key is a key.
        let mut placement = Placement::new(3);
        assert_eq!(placement.next(Some(b"")), partition_for_key(b"", 3));
    }

    #[test]
    fn keyless_records_go_round_robin_and_a_rerun_places_every_record_alike() {
        let keys: Vec<Option<&[u8]>> =
            vec![None, Some(b"a"), None, None, Some(b"b"), None, Some(b"a"), None, None];
        let place = || {
            let mut p = Placement::new(3);
            keys.iter().map(|k| p.next(*k)).collect::<Vec<_>>()
        };
        let first = place();
        assert_eq!(first, place(), "deterministic");
        let keyless: Vec<i32> =
            keys.iter().zip(&first).filter(|(k, _)| k.is_none()).map(|(_, p)| *p).collect();
        assert_eq!(keyless, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(first[1], first[6], "one key, one partition");
    }

    #[test]
    fn groups_take_their_offsets_on_the_topic_only() {
        use crate::format::manifest::CommittedOffset;
        let commit = |topic: &str, partition, offset| CommittedOffset {
            topic: topic.into(),
            partition,
            offset,
            metadata: None,
        };
        let groups = [
            GroupEntry {
                group: "billing".into(),
                offsets: vec![commit("orders", 0, 4), commit("orders", 2, 9)],
            },
            GroupEntry { group: "audit".into(), offsets: vec![commit("payments", 0, 1)] },
        ];
        let starts = starts_for(&groups, "orders");
        assert_eq!(starts.len(), 1, "audit has nothing on orders");
        assert_eq!(starts[0].committed, BTreeMap::from([(0, 4), (2, 9)]));
        let o = |translated: &[(i64, i64)], end| PartitionOutcome {
            translated: translated.iter().copied().collect(),
            end,
            ..Default::default()
        };
        let (a, b) = (o(&[(0, 17)], 40), o(&[], 33));
        assert_eq!(group_offsets(&starts, &[&a, &b]), vec![("billing".to_string(), vec![(0, 17), (1, 33)])]);
    }
}
