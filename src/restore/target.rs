//! Reading a target partition back: what a resumed restore finds there, `read_committed` (the
//! records of an aborted attempt are not there to be found), from where the restore started it.

use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::format::record::{Record, TimestampType};
use crate::kafka::DataPlaneContext;
use crate::refusal::Refusal;

/// Silence from the broker for this long while reading back fails the run (a rerun resumes).
const STALL: Duration = Duration::from_secs(5 * 60);
const WAIT: Duration = Duration::from_secs(30);

pub struct TargetReader {
    consumer: StreamConsumer<DataPlaneContext>,
    name: String,
    topic: String,
    partition: i32,
}

impl TargetReader {
    pub fn open(
        client: &ClientConfig,
        restore_id: &str,
        topic: &str,
        partition: i32,
        from: i64,
    ) -> anyhow::Result<Self> {
        let group = format!("strimzi-backup-restore-{restore_id}");
        let consumer = crate::kafka::partition_reader(client, group, topic, partition, from)?;
        Ok(Self { consumer, name: format!("{topic}/{partition}"), topic: topic.into(), partition })
    }

    /// The next committed record, or `None` once the broker reports the partition's end.
    pub async fn next(&mut self) -> anyhow::Result<Option<Record>> {
        let mut waited = Duration::ZERO;
        loop {
            match tokio::time::timeout(WAIT, self.consumer.recv()).await {
                Ok(Ok(msg)) => return Ok(Some(crate::kafka::to_record(&msg))),
                Ok(Err(KafkaError::PartitionEOF(_))) => return Ok(None),
                Ok(Err(e)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::OffsetOutOfRange) => {
                    return Err(Refusal::target_changed(format!(
                        "{}: the records this restore wrote are no longer there (the partition was emptied \
                         or its log start moved past where the restore started); restore again under a new \
                         KafkaRestore",
                        self.name
                    ))
                    .into());
                }
                Ok(Err(e)) => {
                    tracing::warn!(partition = %self.name, error = %e, "reading the target back: waiting for the broker");
                    waited += Duration::from_secs(1);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(_) => waited += WAIT,
            }
            anyhow::ensure!(
                waited < STALL,
                "{}: the target cluster did not answer for {} minutes while the restore read back what it \
                 had written; run the restore again (it resumes) once it is back",
                self.name,
                STALL.as_secs() / 60
            );
        }
    }

    /// The offset after everything read, transaction markers and aborted records included: where
    /// the next record written to the partition lands. librdkafka reports it once it fetched
    /// past them; before any fetch moved it (nothing there at all), the partition's last stable
    /// offset is the same place.
    pub fn position(&self) -> anyhow::Result<i64> {
        let position = self.consumer.position().context("reading the consumer position")?;
        let known = position.find_partition(&self.topic, self.partition).and_then(|e| e.offset().to_raw());
        if let Some(at) = known.filter(|o| *o >= 0) {
            return Ok(at);
        }
        let (_, stable) = tokio::task::block_in_place(|| {
            self.consumer.fetch_watermarks(&self.topic, self.partition, Duration::from_secs(10))
        })
        .with_context(|| format!("{}: reading where the partition ends", self.name))?;
        Ok(stable)
    }
}

/// Whether a record found in the target is the backup's record: key, value and headers, and the
/// timestamp unless the target topic sets its own (`LogAppendTime`).
pub fn same_record(backup: &Record, found: &Record) -> bool {
    found.key == backup.key
        && found.value == backup.value
        && found.headers == backup.headers
        && (found.timestamp_type != TimestampType::CreateTime
            || backup.timestamp < 0
            || found.timestamp == backup.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(value: &str, ts: i64) -> Record {
        Record {
            offset: 0,
            timestamp: ts,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: Vec::new(),
        }
    }

    #[test]
    fn a_record_is_the_same_when_every_field_but_the_offset_is() {
        let backup = record("a", 1000);
        assert!(same_record(&backup, &Record { offset: 42, ..backup.clone() }));
        assert!(!same_record(&backup, &record("b", 1000)), "value");
        assert!(!same_record(&backup, &record("a", 1001)), "timestamp");
        assert!(!same_record(&backup, &Record { key: None, ..backup.clone() }), "key");
        let appended =
            Record { timestamp: 5, timestamp_type: TimestampType::LogAppendTime, ..backup.clone() };
        assert!(same_record(&backup, &appended), "the target's own time is not compared");
    }
}
