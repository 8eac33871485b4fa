//! Reading a scratch partition back as a consumer of the restored topic would: `read_committed`,
//! from its log start to the high watermark taken once the restore completed.

use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;

use crate::format::record::Record;
use crate::kafka::DataPlaneContext;

/// The broker silent this long while a scratch partition is read back fails the drill.
const STALL: Duration = Duration::from_secs(2 * 60);

pub struct ScratchReader {
    consumer: StreamConsumer<DataPlaneContext>,
    name: String,
    /// The high watermark: records at or past it are not the restore's.
    end: i64,
    done: bool,
}

impl ScratchReader {
    pub async fn open(
        client: &ClientConfig,
        group: String,
        topic: &str,
        partition: i32,
    ) -> anyhow::Result<Self> {
        let probe: crate::kafka::Reader =
            client.create_with_context(DataPlaneContext).context("creating the Kafka client")?;
        let name = format!("{topic}/{partition}");
        let (t, p) = (topic.to_string(), partition);
        let (low, high) =
            tokio::task::spawn_blocking(move || probe.fetch_watermarks(&t, p, Duration::from_secs(30)))
                .await?
                .with_context(|| format!("reading the watermarks of the scratch partition {name}"))?;
        let consumer = crate::kafka::partition_reader(client, group, topic, partition, low)?;
        Ok(Self { consumer, name, end: high, done: low >= high })
    }

    /// The next record, or `None` at the end of the partition.
    pub async fn next(&mut self) -> anyhow::Result<Option<Record>> {
        if self.done {
            return Ok(None);
        }
        match tokio::time::timeout(STALL, self.consumer.recv()).await {
            Ok(Ok(msg)) => {
                let record = crate::kafka::to_record(&msg);
                // Nothing is written to a scratch topic after the restore; past its end is not
                // the restore's.
                self.done = record.offset >= self.end;
                Ok((!self.done).then_some(record))
            }
            Ok(Err(KafkaError::PartitionEOF(_))) => {
                self.done = true;
                Ok(None)
            }
            Ok(Err(e)) => {
                Err(anyhow::Error::new(e)
                    .context(format!("reading the scratch partition {} back", self.name)))
            }
            Err(_) => anyhow::bail!(
                "{}: no answer from the cluster for {} s while reading the scratch partition back",
                self.name,
                STALL.as_secs()
            ),
        }
    }
}
