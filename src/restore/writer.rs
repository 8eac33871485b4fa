//! The restore's one producer: transactional, under a transactional id of its own per restore.
//!
//! Starting it fences every earlier producer of the same restore: Kafka bumps the id's epoch, so
//! a previous attempt that is still alive somewhere (a pod on a partitioned node, a process that
//! was stopped and continues) can no longer write a single record, and whatever transaction it
//! left open is aborted before this attempt reads or writes anything. Records become visible to
//! `read_committed` consumers when a transaction commits — every [`COMMIT_INTERVAL`] and at the
//! end — and each commit leaves one marker offset in every partition it wrote to, which
//! [`super::partition`] accounts for.
//!
//! Partitions send concurrently; a commit waits until no send is under way and stops new ones
//! while it runs (`open`: shared by sends, taken exclusively by a commit).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use tokio::sync::{RwLock, watch};

use crate::kafka::DataPlaneContext;

/// How often the records written so far are committed: what `read_committed` consumers of a
/// target see while a restore runs, and at most what an interrupted attempt leaves behind as an
/// aborted transaction.
pub const COMMIT_INTERVAL: Duration = Duration::from_secs(5);

/// How long a transaction may stay open without the coordinator aborting it, and how long a
/// record may wait for its acknowledgement (librdkafka wants the second no longer than the
/// first). Below the brokers' default `transaction.max.timeout.ms` (15 minutes); a target that
/// does not answer for longer fails the run, and the rerun resumes.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(300);

/// Waits of the transactional calls themselves (init, commit, abort).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The transactional id of a restore: fixed per restore id, so each attempt fences the ones
/// before it. Clusters with ACLs need `Write` and `Describe` on transactional ids with this
/// prefix for the restore's user (docs/data-plane.md). A restore across several workers gives
/// each its own (`-w<index>`): a worker fences its own earlier attempts, never another worker.
pub fn transactional_id(restore_id: &str, slot: super::workers::Slot) -> String {
    match slot.workers > 1 {
        true => format!("strimzi-backup-restore-{restore_id}-w{}", slot.index),
        false => format!("strimzi-backup-restore-{restore_id}"),
    }
}

pub struct Writer {
    producer: FutureProducer<DataPlaneContext>,
    /// The number of the open transaction.
    open: RwLock<u64>,
    /// Why a periodic commit failed: no further record is sent into a broken transaction.
    failed: std::sync::Mutex<Option<String>>,
}

/// A send: the transaction the record went into, or the record back when the queue is full.
pub type Sent<'a> = Result<(u64, DeliveryFuture), (KafkaError, FutureRecord<'a, [u8], [u8]>)>;

impl Writer {
    /// Creates the producer, fences earlier attempts of the same restore and opens the first
    /// transaction. `queue_bytes` bounds the records queued and not yet acknowledged (the memory
    /// budget's share of the partitions restored at once, [`crate::budget::restore_queue_bytes`]).
    pub async fn start(
        client: &ClientConfig,
        restore_id: &str,
        slot: super::workers::Slot,
        queue_bytes: usize,
    ) -> anyhow::Result<Arc<Self>> {
        let id = transactional_id(restore_id, slot);
        let mut config = client.clone();
        let timeout = TRANSACTION_TIMEOUT.as_millis().to_string();
        config
            .set("transactional.id", &id)
            .set("transaction.timeout.ms", &timeout)
            .set("message.timeout.ms", &timeout)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("linger.ms", "20")
            .set("compression.type", "lz4")
            // The memory bound of the producer side: records queued and not yet acknowledged.
            .set("queue.buffering.max.kbytes", (queue_bytes / 1024).max(1).to_string())
            // Records as large as any topic allows; batches stay at batch.size.
            .set("message.max.bytes", "67108864");
        let producer: FutureProducer<DataPlaneContext> =
            config.create_with_context(DataPlaneContext).context("creating the Kafka producer")?;
        let p = producer.clone();
        tokio::task::spawn_blocking(move || p.init_transactions(CALL_TIMEOUT)).await?.with_context(|| {
            format!(
                "starting the restore's transactional producer ({}); a cluster with ACLs must allow \
                     Write and Describe on transactional ids with the prefix strimzi-backup-restore-",
                id
            )
        })?;
        producer.begin_transaction().context("beginning a transaction")?;
        Ok(Arc::new(Self { producer, open: RwLock::new(0), failed: std::sync::Mutex::new(None) }))
    }

    /// Hands one record to the producer within the open transaction.
    pub async fn send<'a>(&self, record: FutureRecord<'a, [u8], [u8]>) -> anyhow::Result<Sent<'a>> {
        let open = self.open.read().await;
        if let Some(why) = self.failed.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            anyhow::bail!("committing the restored records: {why}");
        }
        Ok(self.producer.send_result(record).map(|delivery| (*open, delivery)))
    }

    /// Commits the open transaction and, unless this is the last, opens the next.
    async fn commit(&self, last: bool) -> anyhow::Result<()> {
        let mut open = self.open.write().await;
        let p = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            p.commit_transaction(CALL_TIMEOUT)?;
            if !last {
                p.begin_transaction()?;
            }
            Ok::<_, KafkaError>(())
        })
        .await?
        .context("committing the restored records")?;
        *open += 1;
        Ok(())
    }

    /// Commits every [`COMMIT_INTERVAL`] until stopped; a failed commit stops further sends.
    pub fn commit_periodically(self: &Arc<Self>) -> Committer {
        let (stop, mut stopped) = watch::channel(false);
        let writer = self.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(COMMIT_INTERVAL) => {}
                    _ = stopped.changed() => return,
                }
                if let Err(e) = writer.commit(false).await {
                    tracing::warn!(error = %format!("{e:#}"), "a periodic commit of the restore failed");
                    *writer.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{e:#}"));
                    return;
                }
            }
        });
        Committer { stop, task }
    }

    /// Commits what is left: every record sent is then visible and final.
    pub async fn finish(&self, committer: Committer) -> anyhow::Result<()> {
        committer.stop().await;
        if let Some(why) = self.failed.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            anyhow::bail!("committing the restored records: {why}");
        }
        self.commit(true).await
    }

    /// Aborts the open transaction after a failure, so `read_committed` readers of the target are
    /// not held back until the coordinator's timeout; the rerun would abort it anyway.
    pub async fn abandon(&self, committer: Committer) {
        committer.stop().await;
        let _open = self.open.write().await;
        let p = self.producer.clone();
        match tokio::task::spawn_blocking(move || p.abort_transaction(Duration::from_secs(30))).await {
            Ok(Ok(())) => tracing::info!("the restore's open transaction was aborted"),
            Ok(Err(e)) => tracing::debug!(error = %e, "aborting the open transaction"),
            Err(e) => tracing::debug!(error = %e, "aborting the open transaction"),
        }
    }
}

/// The periodic commits of a [`Writer`].
pub struct Committer {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Committer {
    /// Stops after the commit under way, if any.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::workers::Slot;

    #[test]
    fn one_worker_keeps_the_restores_transactional_id_and_each_of_several_has_its_own() {
        assert_eq!(super::transactional_id("r1", Slot::ALONE), "strimzi-backup-restore-r1");
        assert_eq!(
            super::transactional_id("r1", Slot { index: 2, workers: 4 }),
            "strimzi-backup-restore-r1-w2"
        );
    }
}
