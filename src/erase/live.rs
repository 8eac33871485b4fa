//! `alsoLiveTopics`: what Kafka allows for erasing keys from a live topic, done and reported.
//!
//! Kafka cannot delete single records. It offers two paths, and only one fits an erasure:
//!
//! - compaction (`cleanup.policy` contains `compact`): a tombstone — the key with a null value —
//!   makes the log cleaner remove every earlier record of the key, then the tombstone itself
//!   after `delete.retention.ms`. One is produced per key to every partition of the topic: which
//!   partition holds a key depends on the partitioner its producers used (Java's murmur2,
//!   librdkafka's CRC32, custom ones), and a tombstone where the key never was removes nothing;
//! - `DeleteRecords` removes every record before an offset of a partition, all keys alike: never
//!   used here. A delete-policy topic is reported as not possible: its records go when
//!   `retention.ms` (or `retention.bytes`) expires them.
//!
//! The topic's configs are read as the broker applies them (`DescribeConfigs`).

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use rdkafka::admin::{AdminOptions, ResourceSpecifier};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};

use crate::kafka::{DataPlaneContext, KafkaConnection};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What was done on one live topic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LiveAction {
    /// A tombstone per key and partition was produced; compaction removes the key's records.
    #[default]
    Tombstoned,
    /// Kafka offers no way to remove the key's records alone (not compacted, or no such topic).
    NotPossible,
}

impl LiveAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tombstoned => "Tombstoned",
            Self::NotPossible => "NotPossible",
        }
    }
}

/// The report of one live topic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveTopic {
    pub topic: String,
    pub action: LiveAction,
    /// Tombstones produced (keys × partitions).
    pub tombstones: u64,
    pub message: String,
}

/// What Kafka allows for a topic with these configs: `None` when compacted (tombstones do it),
/// else the reason it cannot erase single keys. Pure.
pub fn not_possible(cleanup_policy: Option<&str>, retention_ms: Option<&str>) -> Option<String> {
    let compacted = cleanup_policy.is_some_and(|p| p.split(',').any(|p| p.trim() == "compact"));
    if compacted {
        return None;
    }
    let retention = match retention_ms {
        Some("-1") => "never (retention.ms=-1)".to_string(),
        Some(ms) => format!("with retention.ms={ms}"),
        None => "with the topic's retention".to_string(),
    };
    Some(format!(
        "not possible: topic is not compacted (cleanup.policy={}); Kafka deletes records only by offset \
         (DeleteRecords, every record before it), which this erasure never does; records expire {retention}",
        cleanup_policy.unwrap_or("delete")
    ))
}

/// Erases `keys` from the live `topics` where Kafka allows it.
pub async fn erase(
    conn: &KafkaConnection,
    topics: &[String],
    keys: &HashSet<Bytes>,
) -> anyhow::Result<Vec<LiveTopic>> {
    let config = conn.client_config().map_err(anyhow::Error::msg)?;
    let admin: crate::kafka::Admin =
        config.create_with_context(DataPlaneContext).context("creating the Kafka admin client")?;
    let reader: crate::kafka::Reader =
        config.create_with_context(DataPlaneContext).context("creating the Kafka client")?;
    let metadata =
        tokio::task::block_in_place(|| crate::kafka::metadata(&reader, "reading the live topics"))?;
    let mut producer_config = config.clone();
    producer_config.set("enable.idempotence", "true").set("acks", "all");
    let producer: FutureProducer<DataPlaneContext> =
        producer_config.create_with_context(DataPlaneContext).context("creating the Kafka producer")?;
    let mut out = Vec::new();
    for topic in topics {
        let Some(partitions) =
            metadata.topics().iter().find(|t| t.name() == topic).map(|t| t.partitions().len())
        else {
            out.push(LiveTopic {
                topic: topic.clone(),
                action: LiveAction::NotPossible,
                tombstones: 0,
                message: "not possible: the topic does not exist on the cluster".into(),
            });
            continue;
        };
        let described = admin
            .describe_configs(
                &[ResourceSpecifier::Topic(topic)],
                &AdminOptions::new().request_timeout(Some(TIMEOUT)),
            )
            .await
            .with_context(|| format!("describing the configs of topic {topic}"))?;
        let resource = described
            .into_iter()
            .next()
            .with_context(|| format!("no answer describing topic {topic}"))?
            .map_err(|e| anyhow::anyhow!("describing the configs of topic {topic}: {e}"))?;
        let value =
            |name: &str| resource.entries.iter().find(|e| e.name == name).and_then(|e| e.value.clone());
        if let Some(why) = not_possible(value("cleanup.policy").as_deref(), value("retention.ms").as_deref())
        {
            tracing::warn!(topic, "{why}");
            out.push(LiveTopic {
                topic: topic.clone(),
                action: LiveAction::NotPossible,
                tombstones: 0,
                message: why,
            });
            continue;
        }
        let mut sent = 0u64;
        for key in keys {
            for partition in 0..partitions {
                let partition = i32::try_from(partition).context("partition number")?;
                let record: FutureRecord<'_, [u8], [u8]> =
                    FutureRecord::to(topic).key(key.as_ref()).partition(partition);
                producer
                    .send(record, TIMEOUT)
                    .await
                    .map_err(|(e, _)| anyhow::anyhow!("producing a tombstone to {topic}/{partition}: {e}"))?;
                sent += 1;
            }
        }
        tracing::info!(topic, tombstones = sent, "tombstones produced to the compacted live topic");
        out.push(LiveTopic {
            topic: topic.clone(),
            action: LiveAction::Tombstoned,
            tombstones: sent,
            message: format!(
                "{sent} tombstone(s) produced ({} key(s) × {partitions} partition(s)); the log cleaner removes the keys' records at its next compaction, the tombstones after delete.retention.ms",
                keys.len()
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_compacted_topic_can_lose_single_keys() {
        assert_eq!(not_possible(Some("compact"), Some("604800000")), None);
        assert_eq!(not_possible(Some("compact,delete"), None), None);
        let why = not_possible(Some("delete"), Some("604800000")).expect("not possible");
        assert!(why.starts_with("not possible: topic is not compacted"), "{why}");
        assert!(why.contains("retention.ms=604800000"), "{why}");
        assert!(not_possible(None, Some("-1")).expect("not possible").contains("never"));
    }
}
