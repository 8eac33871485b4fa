//! Restoring one partition: its records streamed from the segments, the ones an earlier run
//! already wrote found again in the target (and proven to be the restore's own), the rest
//! produced in order with their original timestamps, every acknowledged offset checked to follow
//! the restore's previous record, and the target offset of every committed consumer offset worked
//! out on the way.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};

use super::source::{PartitionSource, RecordSource};
use super::target::{TargetReader, same_record};
use super::writer::Writer;
use crate::format::codec::EncryptionKey;
use crate::format::record::Record;
use crate::refusal::Refusal;
use crate::storage::Storage;

/// A delivery not acknowledged for this long means the target cluster is unreachable: the run
/// stops, and a rerun resumes. The producer gives up on a record sooner (the transaction timeout
/// of [`super::writer`]); this only bounds the wait should its report never come.
pub(super) const STALL: Duration = Duration::from_secs(10 * 60);

/// Deliveries awaited per partition before the next record is sent: bounds memory and keeps the
/// producer's queue shared fairly between partitions.
pub(super) const MAX_IN_FLIGHT: usize = 5_000;

/// What every partition of a run shares.
pub struct PartitionContext {
    pub storage: Storage,
    pub key: Option<EncryptionKey>,
    /// Newest timestamp to restore (point in time), if limited.
    pub target: Option<i64>,
    /// `None` in a dry run: records are counted, nothing is written.
    pub writer: Option<Arc<Writer>>,
    /// The target cluster, for reading partitions back.
    pub client: ClientConfig,
    pub restore_id: String,
    /// Schema ids to rewrite in record keys and values (`rewriteSchemaIds`, ids not kept).
    pub schema_ids: Option<Arc<crate::schema_registry::rewrite::IdMap>>,
    /// The masking rules (`spec.masking`), applied as records leave the backup.
    pub masking: Option<Arc<super::masking::Masker>>,
    pub records: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
}

/// One partition to restore.
pub struct PartitionJob {
    pub source: PartitionSource,
    pub target_topic: String,
    /// Where the target partition stood before this restore wrote to it.
    pub start: i64,
    /// An earlier run of this restore may have written to the partition: what is there from
    /// `start` on is read back and must be this restore's own records, in order.
    pub resumed: bool,
    /// The target topic is compacted: its cleaner may have removed restored records (ones whose
    /// key a later restored record has) before a resumed run reads them back.
    pub compacted: bool,
    /// Committed consumer offsets (source offsets) to translate, ascending.
    pub committed: Vec<i64>,
}

/// What one partition's restore did; a worker of a restore across several stores it
/// ([`super::worker_result`]) for worker 0 to translate offsets and report.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionOutcome {
    /// Records of the backup restored to this partition (including those an earlier run wrote).
    pub records: i64,
    /// Records written by this run.
    pub written: i64,
    pub bytes: u64,
    /// Newest timestamp restored.
    pub newest_timestamp: Option<i64>,
    /// Oldest timestamp restored.
    pub oldest_timestamp: Option<i64>,
    /// Source committed offset -> target offset: consumers resume at the first restored record at
    /// or after the one they would have read next.
    pub translated: BTreeMap<i64, i64>,
    /// Committed offsets past the last restored record: they translate to [`Self::end`].
    pub at_end: Vec<i64>,
    /// Where the partition must end once the run's last transaction is committed: after the
    /// last record of the restore and the marker of its transaction. Anything beyond was written
    /// by someone else.
    pub end: i64,
}

pub(super) fn to_future_record<'a>(
    topic: &'a str,
    partition: i32,
    r: &'a Record,
) -> FutureRecord<'a, [u8], [u8]> {
    let mut rec: FutureRecord<'a, [u8], [u8]> =
        FutureRecord::to(topic).partition(partition).timestamp(r.timestamp);
    if !r.headers.is_empty() {
        let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
        for h in &r.headers {
            headers = headers.insert(KafkaHeader { key: &h.key, value: h.value.as_deref() });
        }
        rec = rec.headers(headers);
    }
    if let Some(k) = &r.key {
        rec = rec.key(&k[..]);
    }
    if let Some(v) = &r.value {
        rec = rec.payload(&v[..]);
    }
    rec
}

/// A record sent and not yet acknowledged.
pub(super) struct InFlight {
    /// The transaction it went into.
    pub(super) txn: u64,
    /// Committed offsets that translate to where it lands.
    pub(super) translates: Vec<i64>,
    pub(super) delivery: DeliveryFuture,
}

/// One partition's restore under way: the backup's records in order, where the restore's own
/// records sit in the target, and the consumer offsets waiting for a target offset.
pub(super) struct Partition<'c> {
    pub(super) ctx: &'c PartitionContext,
    pub(super) name: String,
    pub(super) outcome: PartitionOutcome,
    pub(super) committed: std::iter::Peekable<std::vec::IntoIter<i64>>,
    /// Committed offsets at or before the record being handled: they translate to its target offset.
    pub(super) pending: Vec<i64>,
    /// Records of the backup handled so far.
    pub(super) index: i64,
    /// Where the next record of this run must land when nothing of the restore is in the
    /// partition after `start` yet.
    pub(super) first: i64,
    /// The restore's last record in the partition and its transaction.
    pub(super) last: Option<(i64, u64)>,
}

impl Partition<'_> {
    /// Accounts for the next record of the backup.
    pub(super) fn take(&mut self, record: &Record) {
        while let Some(c) = self.committed.next_if(|c| *c <= record.offset) {
            self.pending.push(c);
        }
        let o = &mut self.outcome;
        o.newest_timestamp = Some(o.newest_timestamp.map_or(record.timestamp, |t| t.max(record.timestamp)));
        o.oldest_timestamp = Some(o.oldest_timestamp.map_or(record.timestamp, |t| t.min(record.timestamp)));
        o.bytes += record.payload_len() as u64;
        self.ctx.records.fetch_add(1, Ordering::Relaxed);
        self.ctx.bytes.fetch_add(record.payload_len() as u64, Ordering::Relaxed);
        self.index += 1;
    }

    /// What the partition's restore did, once every record is settled; `start` is where the
    /// target partition stood before the restore.
    pub(super) fn finish(self, start: i64) -> PartitionOutcome {
        let mut outcome = self.outcome;
        outcome.at_end = self.pending.into_iter().chain(self.committed).collect();
        outcome.end = match (&self.ctx.writer, self.last) {
            (None, _) => start + self.index,
            (Some(_), Some((at, _))) => at + 2,
            (Some(_), None) => self.first,
        };
        outcome.records = self.index;
        outcome
    }

    /// The record just taken is at `offset` in the target.
    pub(super) fn place(&mut self, translates: Vec<i64>, offset: i64) {
        for c in translates {
            self.outcome.translated.insert(c, offset);
        }
    }

    /// Waits for the oldest delivery and checks that it landed right after the restore's previous
    /// record — one offset further, or two when a commit marker lies between — so that nothing
    /// else sits between the restore's records.
    pub(super) async fn settle(&mut self, sent: InFlight) -> anyhow::Result<()> {
        let name = &self.name;
        let offset = match tokio::time::timeout(STALL, sent.delivery).await {
            Err(_) => anyhow::bail!(
                "{name}: no record acknowledged for {} minutes: the target cluster is unreachable; run the \
                 restore again (it resumes) once it is back",
                STALL.as_secs() / 60
            ),
            Ok(Ok(Ok(d))) => d.offset,
            Ok(Ok(Err((e, _)))) => return Err(anyhow::Error::new(e).context(format!("{name}: producing"))),
            Ok(Err(_)) => anyhow::bail!("{name}: the producer went away before a delivery was reported"),
        };
        let expected = self.last.map_or(self.first, |(at, txn)| at + 1 + i64::from(sent.txn != txn));
        if offset != expected {
            return Err(Refusal::target_changed(format!(
                "{name}: a restored record landed at offset {offset} where offset {expected} was due: {} hold \
                 records this restore did not write; something else is writing to the target partition. \
                 Stop other producers to it and restore again under a new KafkaRestore (or another \
                 target topic)",
                if offset > expected {
                    format!("offsets {expected} to {}", offset - 1)
                } else {
                    "the offsets before it".to_string()
                }
            ))
            .into());
        }
        self.place(sent.translates, offset);
        self.last = Some((offset, sent.txn));
        Ok(())
    }
}

/// Reads back what an earlier run of this restore left in the partition, matching it record for
/// record against the backup, and returns where the next record must land. Anything that is not
/// the backup's next record (tolerating records a compacted topic's cleaner removed) refuses the
/// run: counting it as the restore's own would skip as many records of the backup.
async fn prove_resumed(
    p: &mut Partition<'_>,
    source: &mut RecordSource,
    job: &PartitionJob,
) -> anyhow::Result<i64> {
    let ctx = p.ctx;
    let mut reader =
        TargetReader::open(&ctx.client, &ctx.restore_id, &job.target_topic, job.source.partition, job.start)?;
    while let Some(found) = reader.next().await? {
        loop {
            let Some(record) =
                source.next().await.with_context(|| format!("reading the backup of {}", p.name))?
            else {
                return Err(Refusal::target_changed(format!(
                    "{}: offset {} holds a record this restore did not write (all {} records it restores \
                     are there before it); something else wrote to the target partition. Restore again \
                     under a new KafkaRestore (or another target topic)",
                    p.name, found.offset, p.index
                ))
                .into());
            };
            p.take(&record);
            if same_record(&record, &found) {
                let translates = std::mem::take(&mut p.pending);
                p.place(translates, found.offset);
                break;
            }
            if !job.compacted {
                return Err(Refusal::target_changed(format!(
                    "{}: offset {} holds a record this restore did not write (the backup's record due there \
                     is source offset {}); something else wrote to the target partition since the restore \
                     started. Restore again under a new KafkaRestore (or another target topic)",
                    p.name, found.offset, record.offset
                ))
                .into());
            }
        }
    }
    let next = reader.position()?;
    tracing::info!(partition = %p.name, records = p.index, next, "resuming: the records in the target are this restore's own");
    Ok(next)
}

pub async fn restore_partition(
    ctx: &PartitionContext,
    job: PartitionJob,
) -> anyhow::Result<PartitionOutcome> {
    let partition = job.source.partition;
    let name = format!("{}/{partition}", job.target_topic);
    let mut source = RecordSource::new(ctx.storage.clone(), ctx.key.clone(), ctx.target, &job.source)
        .rewriting(ctx.schema_ids.clone())
        .masking(ctx.masking.as_ref().and_then(|m| m.for_topic(&job.source.topic.name, partition)));
    let mut p = Partition {
        ctx,
        name: name.clone(),
        outcome: PartitionOutcome::default(),
        committed: job.committed.clone().into_iter().peekable(),
        pending: Vec::new(),
        index: 0,
        first: job.start,
        last: None,
    };
    if job.resumed && ctx.writer.is_some() {
        p.first = prove_resumed(&mut p, &mut source, &job).await?;
    }
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    while let Some(record) = source.next().await.with_context(|| format!("reading the backup of {name}"))? {
        let at = job.start + p.index;
        p.take(&record);
        let translates = std::mem::take(&mut p.pending);
        let Some(writer) = &ctx.writer else {
            // A dry run: where the record would land.
            p.place(translates, at);
            continue;
        };
        let mut pending = to_future_record(&job.target_topic, partition, &record);
        loop {
            match writer.send(pending).await? {
                Ok((txn, delivery)) => {
                    in_flight.push_back(InFlight { txn, translates, delivery });
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    pending = back;
                    match in_flight.pop_front() {
                        Some(sent) => p.settle(sent).await?,
                        // The queue is full of other partitions' records: let them drain.
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
                Err((e, _)) => return Err(anyhow::Error::new(e).context(format!("{name}: producing"))),
            }
        }
        if in_flight.len() >= MAX_IN_FLIGHT
            && let Some(sent) = in_flight.pop_front()
        {
            p.settle(sent).await?;
        }
        p.outcome.written += 1;
    }
    while let Some(sent) = in_flight.pop_front() {
        p.settle(sent).await?;
    }
    Ok(p.finish(job.start))
}
