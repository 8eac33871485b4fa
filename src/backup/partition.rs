//! Backing up one partition: read `[start, end)` by direct assignment and write it as segments,
//! each streamed to storage as a multipart upload while it is being filled.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use object_store::{ObjectStoreExt, WriteMultipart};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;

use crate::format::FormatError;
use crate::format::codec::{Codec, EncryptionKey};
use crate::format::manifest::{Gap, GapReason, PartitionEntry, SegmentEntry};
use crate::format::record::Encode;
use crate::format::segment::{DetachedBlock, SealedBlock, SegmentWriter};
use crate::kafka::DataPlaneContext;
use crate::storage::Storage;

use super::plan::PartitionPlan;

/// With no record for this long (at most) and the cut not reached, the broker is asked where the
/// partition's end is, for the log and the error.
const IDLE: Duration = Duration::from_secs(30);

/// What a partition run needs besides its plan.
#[derive(Clone)]
pub struct PartitionContext {
    pub client: ClientConfig,
    pub storage: Storage,
    pub backup_id: String,
    pub codec: Codec,
    pub key: Option<EncryptionKey>,
    pub segment_bytes: u64,
    /// How long a partition may make no progress before the run fails (`backup.stallTimeout`).
    pub stall_timeout: Duration,
    /// Asks whether a partition's topic still exists (it may be deleted during the backup).
    pub admin: Arc<crate::kafka::Admin>,
    /// Progress counters shared by all partitions.
    pub records: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
    /// The keys of the segments a partition's lineage holds, to merge them ([`super::merge`]).
    pub read_keys: Arc<super::merge::ReadKeys>,
    /// What merging did, summed over the run's partitions.
    pub merged: Arc<super::merge::Totals>,
}

/// A segment being written and uploaded. Its buffers come from the partition's memory budget
/// ([`crate::budget::BackupBuffers`]): blocks being compressed at once on blocking threads while
/// the partition's task goes on reading (compression, the heaviest step, then runs beside
/// reading on another core), the multipart part size (S3's minimum is 5 MiB; larger parts mean
/// fewer requests) and the parts uploading while the next one fills.
pub(super) struct OpenSegment {
    buffers: crate::budget::BackupBuffers,
    writer: SegmentWriter,
    upload: WriteMultipart,
    object: String,
    sealing: VecDeque<tokio::task::JoinHandle<Result<SealedBlock, FormatError>>>,
    storage: Storage,
    /// Where the segment starts and what it holds so far: what is read again if its upload is
    /// lost, and taken back from the progress counters then.
    first_offset: i64,
    records: u64,
    payload_bytes: u64,
}

impl OpenSegment {
    async fn start(ctx: &PartitionContext, plan: &PartitionPlan, first_offset: i64) -> anyhow::Result<Self> {
        let object = ctx.storage.layout.segment(&ctx.backup_id, &plan.topic, plan.partition, first_offset);
        Self::create(&ctx.storage, object, first_offset, ctx.codec, ctx.key.clone()).await
    }

    /// A segment `object` starting at `first_offset`, written with `codec` and `key`: how a
    /// backup writes what it reads and what it merges ([`super::merge`]) alike.
    pub(super) async fn create(
        storage: &Storage,
        object: String,
        first_offset: i64,
        codec: Codec,
        key: Option<EncryptionKey>,
    ) -> anyhow::Result<Self> {
        let path = object_store::path::Path::from(object.as_str());
        let upload = storage
            .store
            .put_multipart(&path)
            .await
            .with_context(|| format!("starting upload of {object}"))?;
        let buffers = crate::budget::backup_buffers_for(codec);
        Ok(Self {
            buffers,
            writer: SegmentWriter::new(codec, key, buffers.block_bytes)?,
            upload: WriteMultipart::new_with_chunk_size(upload, buffers.part_bytes),
            object,
            sealing: VecDeque::new(),
            storage: storage.clone(),
            first_offset,
            records: 0,
            payload_bytes: 0,
        })
    }

    /// Encoded record bytes so far (what rotation at `segmentSize` measures).
    pub(super) fn raw_bytes(&self) -> u64 {
        self.writer.raw_bytes()
    }

    /// Appends the oldest block being sealed, in order.
    async fn append_oldest(&mut self) -> anyhow::Result<()> {
        if let Some(handle) = self.sealing.pop_front() {
            let sealed = handle.await.context("sealing a block")??;
            self.writer.append(sealed);
        }
        Ok(())
    }

    /// Encodes the next record into the open block (its one copy, straight from the consumer's
    /// buffer). A block it fills comes back to be handed to [`Self::seal`]: nothing is awaited
    /// here, so the consumed message can be released first.
    pub(super) fn add(&mut self, record: &impl Encode) -> anyhow::Result<Option<DetachedBlock>> {
        self.records += 1;
        self.payload_bytes += record.payload_len() as u64;
        Ok(self.writer.push_detached(record)?)
    }

    /// Seals a full block on a blocking thread (waiting while the budget's blocks are being
    /// sealed) and uploads what is ready.
    pub(super) async fn seal(&mut self, block: Option<DetachedBlock>) -> anyhow::Result<()> {
        if let Some(block) = block {
            if self.sealing.len() >= self.buffers.blocks_in_flight {
                self.append_oldest().await?;
            }
            self.sealing.push_back(tokio::task::spawn_blocking(move || block.seal()));
        }
        self.upload_ready().await
    }

    /// Hands a full part to the upload (without copying it), waiting while the budget's parts
    /// are in flight.
    async fn upload_ready(&mut self) -> anyhow::Result<()> {
        if self.writer.ready_len() >= self.buffers.part_bytes {
            self.upload
                .wait_for_capacity(self.buffers.parts_in_flight)
                .await
                .with_context(|| format!("uploading {}", self.object))?;
            for chunk in self.writer.take_ready_chunks() {
                self.upload.put(chunk);
            }
        }
        Ok(())
    }

    pub(super) async fn finish(mut self) -> anyhow::Result<SegmentEntry> {
        while !self.sealing.is_empty() {
            self.append_oldest().await?;
            self.upload_ready().await?;
        }
        let (rest, summary) = self.writer.finish_chunks()?;
        for chunk in rest {
            self.upload.put(chunk);
        }
        let uploaded = crate::storage::Uploaded { sha256: &summary.sha256, bytes: summary.stored_bytes };
        self.storage.complete_upload(self.upload, &self.object, uploaded).await?;
        self.storage.sync(&self.object).await.with_context(|| format!("flushing {} to disk", self.object))?;
        Ok(SegmentEntry::new(self.object, &summary))
    }
}

type PartitionConsumer = StreamConsumer<DataPlaneContext>;

fn consumer(ctx: &PartitionContext, plan: &PartitionPlan, from: i64) -> anyhow::Result<PartitionConsumer> {
    let group = format!("strimzi-backup-{}", ctx.backup_id);
    crate::kafka::partition_reader(&ctx.client, group, &plan.topic, plan.partition, from)
}

/// Backs up one partition and returns its manifest entry: reads what is new, then merges the
/// small segments its lineage holds where the policy says so ([`super::merge`]).
pub async fn backup_partition(
    ctx: &PartitionContext,
    plan: &PartitionPlan,
) -> anyhow::Result<PartitionEntry> {
    let mut entry = read_partition(ctx, plan).await?;
    let target = super::merge::Target {
        storage: &ctx.storage,
        backup_id: &ctx.backup_id,
        topic: &plan.topic,
        codec: ctx.codec,
        key: ctx.key.clone(),
        segment_bytes: ctx.segment_bytes,
    };
    let merged = super::merge::merge_inherited(&target, &ctx.read_keys, &mut entry, plan.start).await;
    ctx.merged.add(merged);
    Ok(entry)
}

/// Reads the partition from `start` to the cut into new segments; the entry lists them after
/// what the lineage holds.
///
/// Only the broker ends a partition: its end-of-partition once the fetch position reached the
/// cut. Silence is never taken for the end — a stalled broker, a leader moving in a rolling
/// restart or a network partition is waited out for `stall_timeout` without a record, and then
/// the run fails naming the partition, so a backup never commits short of its cut.
async fn read_partition(ctx: &PartitionContext, plan: &PartitionPlan) -> anyhow::Result<PartitionEntry> {
    // The restore point holds the partition from its log start: what the lineage already has
    // below `start`, then what this backup reads.
    let mut entry = PartitionEntry {
        partition: plan.partition,
        start_offset: plan.log_start,
        end_offset: plan.end,
        read_from: Some(plan.start),
        lineage_start: Some(plan.lineage.start.clone()),
        lineage_break: plan.lineage.broken.clone(),
        segments: plan.lineage.segments.clone(),
        gaps: plan.lineage.gaps.clone(),
    };
    if plan.start >= plan.end {
        return Ok(entry);
    }
    let name = format!("{}/{}", plan.topic, plan.partition);
    let mut consumer = consumer(ctx, plan, plan.start)?;
    let mut segment: Option<OpenSegment> = None;
    let mut next = plan.start; // the first offset not yet accounted for
    let mut stall = Stall::new(ctx.stall_timeout);
    let mut redo = Redo { left: REDOS };
    'run: loop {
        loop {
            if next >= entry.end_offset {
                break;
            }
            let received = match tokio::time::timeout(stall.check_every(), consumer.recv()).await {
                Ok(r) => r,
                Err(_) => {
                    // Nothing from the broker for a while: the topic may be gone; else ask where the
                    // partition stands (for the log and the error), and give up only once the budget
                    // is spent.
                    if topic_replaced(ctx, plan).unwrap_or(false) {
                        deleted(&mut entry, segment.take(), next, &name).await?;
                        break;
                    }
                    let broker_end = watermarks(&consumer, plan).map(|(_, high)| high);
                    stall.waited(&name, next, entry.end_offset, broker_end.map_err(|e| format!("{e:#}")))?;
                    if stall.renew_due() {
                        // A client can stay stuck after a broker came back (CI saw librdkafka keep
                        // a stale "unknown partition" for minutes after a frozen broker thawed, the
                        // broker reporting the records there): a fresh one from `next` reads on.
                        tracing::info!(partition = %name, next, "no record for a while: reading on with a new client");
                        read_on_from(&mut consumer, ctx, plan, next)?;
                        stall.renewed();
                    }
                    continue;
                }
            };
            match received {
                Ok(msg) => {
                    stall.progress();
                    let offset = msg.offset();
                    if offset >= entry.end_offset {
                        break;
                    }
                    if segment.is_none() {
                        if offset > next {
                            entry.gaps.push(Gap { from: next, to: offset, reason: GapReason::NotReturned });
                        }
                        segment = Some(OpenSegment::start(ctx, plan, offset).await?);
                    }
                    let (block, payload) = match segment.as_mut() {
                        Some(s) => {
                            let record = crate::kafka::record_ref(&msg);
                            (s.add(&record)?, record.payload_len())
                        }
                        None => (None, 0),
                    };
                    drop(msg);
                    if let Some(s) = segment.as_mut() {
                        s.seal(block).await?;
                    }
                    ctx.records.fetch_add(1, Ordering::Relaxed);
                    ctx.bytes.fetch_add(payload as u64, Ordering::Relaxed);
                    next = offset + 1;
                    // A full segment is closed now rather than when the next record comes: the
                    // same boundaries, and its consumer can be replaced with no message of it held.
                    if segment.as_ref().is_some_and(|s| s.writer.raw_bytes() >= ctx.segment_bytes)
                        && let Some(full) = segment.take()
                        && let Some(from) = redo.close(ctx, full, &mut entry, &name).await?
                    {
                        // Its upload was lost: its records are read again.
                        next = from;
                        read_on_from(&mut consumer, ctx, plan, from)?;
                        stall.progress();
                    }
                }
                Err(KafkaError::PartitionEOF(_)) => {
                    // librdkafka reports the end when its fetch position reached the partition's last
                    // stable offset, after every record before it was handed over. The cut was that
                    // offset at the start and it only grows, so an end at or past the cut means every
                    // offset up to the cut was read (what is left are markers or compacted offsets,
                    // accounted for below). An end below the cut is a partition whose log went back
                    // (a leader that had not caught up, an unclean election): never the end.
                    match watermarks(&consumer, plan) {
                        Ok((_, high)) if high >= entry.end_offset => break,
                        Ok((_, high)) => {
                            tracing::warn!(partition = %name, broker_end = high, cut = entry.end_offset,
                            "the broker reports an end below the cut: waiting for the partition to catch up");
                            stall.behind(&name, next, entry.end_offset, high)?;
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => {
                            stall.waited(&name, next, entry.end_offset, Err(format!("{e:#}")))?;
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
                Err(e) if out_of_range(&e) => {
                    // Retention deleted records ahead of us during the backup: record the loss, go on.
                    let (low, _) = watermarks(&consumer, plan)
                        .with_context(|| format!("{name}: reading offsets after an out-of-range fetch"))?;
                    let low = low.min(entry.end_offset);
                    // A segment never spans a gap: close it at the last record before the loss.
                    if let Some(s) = segment.take() {
                        entry.segments.push(s.finish().await?);
                    }
                    tracing::warn!(partition = %name, from = next, to = low, "records deleted by retention during the backup");
                    entry.gaps.push(Gap { from: next, to: low, reason: GapReason::RetentionDeleted });
                    next = low;
                    stall.progress();
                    read_on_from(&mut consumer, ctx, plan, low)?;
                }
                Err(e) if fatal(&e) => return Err(anyhow::Error::new(e).context(format!("reading {name}"))),
                Err(e) if unknown_topic(&e) && topic_replaced(ctx, plan).unwrap_or(false) => {
                    deleted(&mut entry, segment.take(), next, &name).await?;
                    break;
                }
                Err(e) => {
                    // Timeouts, lost connections, leaders moving: librdkafka retries them itself; they
                    // count against the stall budget like silence does.
                    tracing::warn!(partition = %name, error = %e, "reading: waiting for the broker");
                    stall.waited(&name, next, entry.end_offset, Err(e.to_string()))?;
                }
            }
        }
        if let Some(s) = segment.take()
            && let Some(from) = redo.close(ctx, s, &mut entry, &name).await?
        {
            next = from;
            read_on_from(&mut consumer, ctx, plan, from)?;
            stall.progress();
            continue 'run;
        }
        break;
    }
    // Offsets after the last record up to the cut (transaction markers, compacted records).
    let last_record_end = entry.segments.last().map_or(plan.start, |s| s.last_offset + 1).max(plan.start);
    let tail_from = entry.gaps.iter().map(|g| g.to).chain([last_record_end]).max().unwrap_or(last_record_end);
    if tail_from < entry.end_offset {
        entry.gaps.push(Gap { from: tail_from, to: entry.end_offset, reason: GapReason::NotReturned });
    }
    Ok(entry)
}

/// Times in a row one segment's upload may be lost and written again before the run fails.
const REDOS: u32 = 5;

/// Writes a segment again when its upload was lost (the store dropped it while completing it,
/// [`crate::storage::NotCompleted`]): its records are still in Kafka, so they are read again from
/// its first offset into a new upload of the same object. Any other error fails the run.
struct Redo {
    left: u32,
}

impl Redo {
    /// Finishes `segment` into `entry`; `Some(offset)` to read again from when its upload was
    /// lost. Fails when it is another error or too many were lost in a row.
    async fn close(
        &mut self,
        ctx: &PartitionContext,
        segment: OpenSegment,
        entry: &mut PartitionEntry,
        name: &str,
    ) -> anyhow::Result<Option<i64>> {
        let (first, records, bytes) = (segment.first_offset, segment.records, segment.payload_bytes);
        let e = match segment.finish().await {
            Ok(done) => {
                entry.segments.push(done);
                self.left = REDOS;
                return Ok(None);
            }
            Err(e) => e,
        };
        if e.downcast_ref::<crate::storage::NotCompleted>().is_none() || self.left == 0 {
            return Err(e);
        }
        self.left -= 1;
        tracing::warn!(partition = %name, from = first, error = %format!("{e:#}"),
            "the segment's upload was lost while being completed: reading its records again into a new upload");
        ctx.records.fetch_sub(records, Ordering::Relaxed);
        ctx.bytes.fetch_sub(bytes, Ordering::Relaxed);
        Ok(Some(first))
    }
}

/// Replaces the partition's client by a new one reading from `from`.
fn read_on_from(
    consumer: &mut PartitionConsumer,
    ctx: &PartitionContext,
    plan: &PartitionPlan,
    from: i64,
) -> anyhow::Result<()> {
    let old = std::mem::replace(consumer, self::consumer(ctx, plan, from)?);
    // Closing a client whose broker does not answer can block: not on a runtime thread.
    tokio::task::spawn_blocking(move || drop(old));
    Ok(())
}

/// The partition's log start and last stable offset as the broker reports them now (blocking
/// for at most 10 s; the partition's task runs on a worker thread of its own while it does).
fn watermarks(consumer: &PartitionConsumer, plan: &PartitionPlan) -> anyhow::Result<(i64, i64)> {
    tokio::task::block_in_place(|| {
        consumer.fetch_watermarks(&plan.topic, plan.partition, Duration::from_secs(10))
    })
    .map_err(anyhow::Error::new)
}

/// With no record for this long, the partition's client is replaced by a new one (at most once
/// per period).
const RENEW_AFTER: Duration = Duration::from_secs(20);

/// The time budget of a partition that makes no progress.
struct Stall {
    budget: Duration,
    since: Instant,
    /// When the client was last replaced.
    renewed: Option<Instant>,
}

impl Stall {
    fn new(budget: Duration) -> Self {
        Self { budget, since: Instant::now(), renewed: None }
    }

    /// Whether the client went long enough without a record (since the last record and since
    /// it was last replaced) to be replaced.
    fn renew_due(&self) -> bool {
        let last = self.renewed.map_or(self.since, |r| r.max(self.since));
        last.elapsed() >= RENEW_AFTER
    }

    fn renewed(&mut self) {
        self.renewed = Some(Instant::now());
    }

    /// How long to wait for a record before looking at the partition: often enough that a
    /// short budget is kept to within a third, never more than every 30 s.
    fn check_every(&self) -> Duration {
        (self.budget / 3).clamp(Duration::from_secs(1), IDLE)
    }

    fn progress(&mut self) {
        self.since = Instant::now();
    }

    /// Fails once the partition went without progress for the whole budget.
    fn waited(&self, name: &str, next: i64, cut: i64, broker: Result<i64, String>) -> anyhow::Result<()> {
        let waited = self.since.elapsed();
        let broker = match broker {
            Ok(end) => format!("the broker reports its end at {end}"),
            Err(e) => format!("the broker did not answer: {e}"),
        };
        if waited >= self.budget {
            anyhow::bail!(
                "{name}: no record for {}s while offsets {next} to {cut} were still to be read ({broker}): \
                 the backup stops rather than commit short of its cut. Run it again once the broker \
                 answers, or raise spec.backup.stallTimeout (now {}s)",
                waited.as_secs(),
                self.budget.as_secs()
            );
        }
        tracing::warn!(partition = %name, next, cut, waited_s = waited.as_secs(), budget_s = self.budget.as_secs(),
            "no record from the broker yet ({broker}); still waiting");
        Ok(())
    }

    /// Fails once the broker kept reporting an end below the cut for the whole budget.
    fn behind(&self, name: &str, next: i64, cut: i64, broker_end: i64) -> anyhow::Result<()> {
        if self.since.elapsed() >= self.budget {
            anyhow::bail!(
                "{name}: the broker reports the partition's end at {broker_end}, below the cut {cut} taken \
                 at the start (read up to {next}): its log went back (an unclean leader election or a \
                 truncated replica). The backup stops rather than commit records that are no longer in \
                 Kafka; run it again for a new cut"
            );
        }
        Ok(())
    }
}

/// Whether the partition's topic was deleted (or replaced by another of the same name) since
/// the plan: the broker does not know it, or knows another topic id under its name.
pub fn topic_replaced(ctx: &PartitionContext, plan: &PartitionPlan) -> anyhow::Result<bool> {
    let ids = tokio::task::block_in_place(|| {
        crate::kafka::describe::topic_ids(
            &ctx.admin,
            std::slice::from_ref(&plan.topic),
            Duration::from_secs(10),
        )
    })?;
    Ok(ids.get(&plan.topic) != Some(&crate::kafka::describe::Described::Id(plan.topic_id.clone())))
}

/// Ends a partition whose topic was deleted during the backup: what was read stays (it was the
/// topic's), the rest up to the cut is recorded as a `TopicDeleted` gap.
async fn deleted(
    entry: &mut PartitionEntry,
    open: Option<OpenSegment>,
    next: i64,
    name: &str,
) -> anyhow::Result<()> {
    if let Some(s) = open {
        entry.segments.push(s.finish().await?);
    }
    tracing::warn!(partition = %name, from = next, to = entry.end_offset,
        "the topic was deleted during the backup: the offsets not read are recorded as a TopicDeleted gap");
    if next < entry.end_offset {
        entry.gaps.push(Gap { from: next, to: entry.end_offset, reason: GapReason::TopicDeleted });
    }
    Ok(())
}

fn unknown_topic(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::UnknownTopicId
        )
    )
}

/// Errors no wait can mend: the backup's identity may not read the topic.
fn fatal(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SSL
        )
    )
}

fn out_of_range(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::OffsetOutOfRange) | Some(RDKafkaErrorCode::AutoOffsetReset)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stall(silent: Duration, renewed: Option<Duration>) -> Stall {
        let now = Instant::now();
        Stall {
            budget: Duration::from_secs(300),
            since: now.checked_sub(silent).expect("a past instant"),
            renewed: renewed.map(|ago| now.checked_sub(ago).expect("a past instant")),
        }
    }

    #[test]
    fn a_client_is_replaced_only_after_a_silence_and_then_once_per_period() {
        assert!(!stall(Duration::from_secs(5), None).renew_due(), "a short silence keeps the client");
        assert!(stall(RENEW_AFTER + Duration::from_secs(1), None).renew_due());
        // Replaced 5 s ago, silent for a minute: not again yet.
        assert!(!stall(Duration::from_secs(60), Some(Duration::from_secs(5))).renew_due());
        assert!(stall(Duration::from_secs(60), Some(RENEW_AFTER + Duration::from_secs(1))).renew_due());
        // A record since the last replacement restarts the count from the record.
        assert!(!stall(Duration::from_secs(3), Some(Duration::from_secs(60))).renew_due());
    }
}
