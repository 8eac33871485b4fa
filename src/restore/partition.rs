//! Restoring one partition: its records streamed from the segments, the ones an earlier run
//! already wrote skipped, the rest produced in order with their original timestamps, and the
//! target offset of every committed consumer offset worked out on the way.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::source::{PartitionSource, RecordSource};
use crate::format::codec::EncryptionKey;
use crate::format::record::Record;
use crate::kafka::DataPlaneContext;
use crate::storage::Storage;

/// A delivery not acknowledged for this long means the target cluster is unreachable: the run
/// stops (records never time out inside the producer, see `run::producer`), and a rerun resumes.
const STALL: Duration = Duration::from_secs(15 * 60);

/// Deliveries awaited per partition before the next record is sent: bounds memory and keeps the
/// producer's queue shared fairly between partitions.
const MAX_IN_FLIGHT: usize = 5_000;

/// What every partition of a run shares.
pub struct PartitionContext {
    pub storage: Storage,
    pub key: Option<EncryptionKey>,
    /// Newest timestamp to restore (point in time), if limited.
    pub target: Option<i64>,
    /// `None` in a dry run: records are counted, nothing is written.
    pub producer: Option<FutureProducer<DataPlaneContext>>,
    pub records: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
}

/// One partition to restore.
pub struct PartitionJob {
    pub source: PartitionSource,
    pub target_topic: String,
    /// Where the target partition stood before this restore wrote to it.
    pub start: i64,
    /// Records an earlier run of this restore already wrote (its high watermark now minus
    /// `start`).
    pub already: i64,
    /// Committed consumer offsets (source offsets) to translate, ascending.
    pub committed: Vec<i64>,
}

/// What one partition's restore did.
#[derive(Clone, Debug, Default)]
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
}

fn to_future_record<'a>(topic: &'a str, partition: i32, r: &'a Record) -> FutureRecord<'a, [u8], [u8]> {
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

/// Waits for the oldest delivery and checks it landed where this restore expects it: a record
/// at another offset means something else writes to the partition, which would make a resumed run
/// skip the wrong records — so the restore stops.
async fn settle(name: &str, expected: i64, delivery: DeliveryFuture) -> anyhow::Result<()> {
    let Ok(delivered) = tokio::time::timeout(STALL, delivery).await else {
        anyhow::bail!(
            "{name}: no record acknowledged for {} minutes: the target cluster is unreachable; run the \
             restore again (it resumes) once it is back",
            STALL.as_secs() / 60
        );
    };
    match delivered {
        Ok(Ok(d)) if d.offset == expected => Ok(()),
        Ok(Ok(d)) => anyhow::bail!(
            "{name}: a restored record landed at offset {} instead of {expected}: something else is writing \
             to the target topic; stop other producers (or restore under another name) and run again",
            d.offset
        ),
        Ok(Err((e, _))) => Err(anyhow::Error::new(e).context(format!("{name}: producing"))),
        Err(_) => anyhow::bail!("{name}: the producer went away before a delivery was reported"),
    }
}

pub async fn restore_partition(
    ctx: &PartitionContext,
    job: PartitionJob,
) -> anyhow::Result<PartitionOutcome> {
    let partition = job.source.partition;
    let name = format!("{}/{partition}", job.target_topic);
    let mut source = RecordSource::new(ctx.storage.clone(), ctx.key.clone(), ctx.target, &job.source);
    let mut outcome = PartitionOutcome::default();
    let mut committed = job.committed.iter().copied().peekable();
    let mut in_flight: VecDeque<(i64, DeliveryFuture)> = VecDeque::new();
    let mut index = 0i64;
    while let Some(record) = source.next().await.with_context(|| format!("reading the backup of {name}"))? {
        while let Some(c) = committed.next_if(|c| *c <= record.offset) {
            outcome.translated.insert(c, job.start + index);
        }
        outcome.newest_timestamp =
            Some(outcome.newest_timestamp.map_or(record.timestamp, |t| t.max(record.timestamp)));
        outcome.oldest_timestamp =
            Some(outcome.oldest_timestamp.map_or(record.timestamp, |t| t.min(record.timestamp)));
        outcome.bytes += record.payload_len() as u64;
        if index >= job.already
            && let Some(producer) = &ctx.producer
        {
            let expected = job.start + index;
            let mut pending = to_future_record(&job.target_topic, partition, &record);
            loop {
                match producer.send_result(pending) {
                    Ok(delivery) => {
                        in_flight.push_back((expected, delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        pending = back;
                        match in_flight.pop_front() {
                            Some((at, delivery)) => settle(&name, at, delivery).await?,
                            // The queue is full of other partitions' records: let them drain.
                            None => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                    Err((e, _)) => return Err(anyhow::Error::new(e).context(format!("{name}: producing"))),
                }
            }
            if in_flight.len() >= MAX_IN_FLIGHT
                && let Some((at, delivery)) = in_flight.pop_front()
            {
                settle(&name, at, delivery).await?;
            }
            outcome.written += 1;
        }
        ctx.records.fetch_add(1, Ordering::Relaxed);
        ctx.bytes.fetch_add(record.payload_len() as u64, Ordering::Relaxed);
        index += 1;
    }
    for c in committed {
        outcome.translated.insert(c, job.start + index);
    }
    while let Some((at, delivery)) = in_flight.pop_front() {
        settle(&name, at, delivery).await?;
    }
    if job.already > index {
        anyhow::bail!(
            "{name} holds {} records more than this restore writes since it started: something else wrote \
             to it; stop other producers and restore again under a new KafkaRestore",
            job.already - index
        );
    }
    outcome.records = index;
    Ok(outcome)
}
