//! Everything decided before the first record is read: which topics and partitions, the offset
//! range of each (a consistent cut at the high watermarks of the start), the topic configs to
//! recreate them, the committed offsets of the selected consumer groups, and the parent backup
//! an incremental backup continues.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::consumer::Consumer;

use crate::api::backup::BackupMode;
use crate::format::manifest::{Gap, GapReason, GroupEntry, Manifest};
use crate::storage::Storage;

use super::BackupConfig;

const TIMEOUT: Duration = Duration::from_secs(30);

/// One partition's share of the backup.
#[derive(Clone, Debug)]
pub struct PartitionPlan {
    pub topic: String,
    pub partition: i32,
    /// First offset to read.
    pub start: i64,
    /// High watermark at the start: the first offset not to read.
    pub end: i64,
    /// Offsets lost before reading (retention ran past the parent's end).
    pub gaps: Vec<Gap>,
}

/// A topic as it will be recorded.
#[derive(Clone, Debug)]
pub struct TopicPlan {
    pub name: String,
    pub partition_count: i32,
    pub replication_factor: i32,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Plan {
    pub cluster_id: Option<String>,
    pub topics: Vec<TopicPlan>,
    pub partitions: Vec<PartitionPlan>,
    pub groups: Vec<GroupEntry>,
    pub parent: Option<Manifest>,
}

pub async fn make_plan(
    cfg: &BackupConfig,
    client: &ClientConfig,
    storage: &Storage,
    backup_id: &str,
) -> anyhow::Result<Plan> {
    let topic_filter = cfg.topics.filter("spec.topics").map_err(anyhow::Error::msg)?;
    let group_filter = cfg.consumer_groups.filter("spec.consumerGroups").map_err(anyhow::Error::msg)?;
    let parent = match cfg.backup.mode {
        BackupMode::Incremental => crate::catalog::latest(storage, backup_id).await?,
        BackupMode::Full => None,
    };

    let consumer: crate::kafka::Reader =
        client.create_with_context(crate::kafka::DataPlaneContext).context("creating the Kafka client")?;
    let consumer = std::sync::Arc::new(consumer);
    let metadata = {
        let c = consumer.clone();
        tokio::task::spawn_blocking(move || crate::kafka::metadata(&c, "reading cluster metadata")).await??
    };
    let mut topics: Vec<TopicPlan> = metadata
        .topics()
        .iter()
        .filter(|t| topic_filter.matches(t.name()) && t.error().is_none())
        .map(|t| TopicPlan {
            name: t.name().to_string(),
            partition_count: t.partitions().len() as i32,
            replication_factor: t.partitions().first().map_or(1, |p| p.replicas().len() as i32),
            configs: BTreeMap::new(),
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));

    let admin: crate::kafka::Admin = client
        .create_with_context(crate::kafka::DataPlaneContext)
        .context("creating the Kafka admin client")?;
    if !topics.is_empty() {
        let specs: Vec<ResourceSpecifier> =
            topics.iter().map(|t| ResourceSpecifier::Topic(&t.name)).collect();
        let described =
            admin.describe_configs(&specs, &AdminOptions::new().request_timeout(Some(TIMEOUT))).await?;
        for (topic, result) in topics.iter_mut().zip(described) {
            let resource =
                result.with_context(|| format!("describing the configs of topic {}", topic.name))?;
            topic.configs = resource
                .entries
                .into_iter()
                .filter(|e| e.source == ConfigSource::DynamicTopic && !e.is_sensitive && !e.is_read_only)
                .filter_map(|e| e.value.map(|v| (e.name, v)))
                .collect();
        }
    }

    let parent_end: HashMap<(String, i32), i64> = parent
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| t.partitions.iter().map(move |p| ((t.name.clone(), p.partition), p.end_offset)))
        .collect();
    let mut partitions = Vec::new();
    for topic in &topics {
        for partition in 0..topic.partition_count {
            let (c, name) = (consumer.clone(), topic.name.clone());
            let (low, high) =
                tokio::task::spawn_blocking(move || c.fetch_watermarks(&name, partition, TIMEOUT))
                    .await?
                    .with_context(|| format!("reading the offsets of {}/{partition}", topic.name))?;
            let mut gaps = Vec::new();
            let start = match parent_end.get(&(topic.name.clone(), partition)) {
                // Retention deleted offsets the parent had not reached: recorded, not fatal.
                Some(&from) if from < low => {
                    gaps.push(Gap { from, to: low, reason: GapReason::RetentionDeleted });
                    low
                }
                // The topic was recreated since the parent (its offsets restarted): start over.
                Some(&from) if from > high => low,
                Some(&from) => from,
                None => low,
            };
            partitions.push(PartitionPlan { topic: topic.name.clone(), partition, start, end: high, gaps });
        }
    }

    let groups = group_offsets(client, &group_filter, &partitions).await?;
    let cluster_id = {
        let c = consumer.clone();
        tokio::task::spawn_blocking(move || c.client().fetch_cluster_id(TIMEOUT)).await?
    };
    Ok(Plan { cluster_id, topics, partitions, groups, parent })
}

/// Committed offsets of the selected groups on the selected partitions. Kafka answers offset
/// queries per group, so they run a few at a time: clusters have hundreds of groups.
async fn group_offsets(
    client: &ClientConfig,
    filter: &crate::api::selection::NameFilter,
    partitions: &[PartitionPlan],
) -> anyhow::Result<Vec<GroupEntry>> {
    use futures::{StreamExt, TryStreamExt};
    let selected: Vec<(String, i32)> = partitions.iter().map(|p| (p.topic.clone(), p.partition)).collect();
    let names: Vec<String> =
        crate::groups::list(client).await?.into_iter().filter(|n| filter.matches(n)).collect();
    let mut groups: Vec<GroupEntry> = futures::stream::iter(names)
        .map(|name| {
            let selected = &selected;
            async move {
                let offsets = crate::groups::committed(client, &name, selected).await?;
                anyhow::Ok(GroupEntry { group: name, offsets })
            }
        })
        .buffer_unordered(16)
        .try_filter(|g| std::future::ready(!g.offsets.is_empty()))
        .try_collect()
        .await?;
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Ok(groups)
}
