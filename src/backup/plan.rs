//! Everything decided before the first record is read: which topics and partitions, the offset
//! range of each (a consistent cut at the last stable offsets of the start), the topic configs to
//! recreate them, the committed offsets of the selected consumer groups, and for each partition
//! whether it continues the lineage of the backup before (see [`lineage`]).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::consumer::Consumer;

use crate::api::backup::BackupMode;
use crate::format::manifest::{Gap, GroupEntry, LineageBreak, LineageBreakReason, Manifest, SegmentEntry};
use crate::kafka::describe::Described;
use crate::storage::Storage;

use super::BackupConfig;

const TIMEOUT: Duration = Duration::from_secs(30);

/// One partition's share of the backup. Serialized into the shared plan of a backup run by
/// several workers ([`super::shared_plan`]), so every worker reads the same cut.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionPlan {
    pub topic: String,
    /// Kafka's id of the topic read: a topic of that name with another id is not this one.
    pub topic_id: String,
    pub partition: i32,
    /// The log start at the cut: the first offset of the restore point.
    pub log_start: i64,
    /// First offset to read: the end of the backup before when the partition continues its
    /// lineage, else the log start.
    pub start: i64,
    /// The cut: the last stable offset at the start (the high watermark unless a transaction is
    /// open), the first offset not to read.
    pub end: i64,
    /// What the lineage already holds below `start`.
    pub lineage: Lineage,
}

/// A partition's lineage: the backups that read one and the same log of it, each continuing
/// where the one before stopped.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    /// The backup whose full read began it.
    pub start: String,
    /// Segments of earlier backups this restore point still needs (the log start at the cut
    /// or later), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentEntry>,
    /// Their gaps, clipped to the log start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    /// Why a partition the backup before holds starts over instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken: Option<LineageBreak>,
}

/// The identity of a partition as the broker shows it at the cut.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub cluster_id: Option<&'a str>,
    pub topic: &'a str,
    pub topic_id: Option<&'a str>,
    pub partition: i32,
    pub log_start: i64,
    pub end: i64,
    /// Id of the key this backup encrypts with, if it does.
    pub key_id: Option<&'a str>,
}

/// Whether a partition continues what `parent` (the newest backup at the location) holds of it,
/// and what of that it keeps. It continues only the same log: same cluster id, same topic id,
/// and the parent's end within `[log start, end]` — anything else starts a new lineage from the
/// log start, with the reason when the parent held the partition. Pure.
pub fn lineage(parent: Option<&Manifest>, now: Observed<'_>, backup_id: &str) -> (i64, Lineage) {
    let new = |broken: Option<(LineageBreakReason, String)>| {
        let broken = broken.map(|(reason, message)| LineageBreak { reason, message });
        (now.log_start, Lineage { start: backup_id.to_string(), broken, ..Default::default() })
    };
    let Some(parent) = parent else { return new(None) };
    let Some((topic, held)) = parent.partition(now.topic, now.partition) else { return new(None) };
    let pid = &parent.backup_id;
    if !parent.self_contained() {
        return new(Some((
            LineageBreakReason::UnverifiedParent,
            format!("backup {pid} was written in manifest version 1, which records no topic ids"),
        )));
    }
    let unknown = "unknown";
    if parent.cluster_id.is_none() || parent.cluster_id.as_deref() != now.cluster_id {
        return new(Some((
            LineageBreakReason::ClusterChanged,
            format!(
                "backup {pid} read cluster {}, this is cluster {}",
                parent.cluster_id.as_deref().unwrap_or(unknown),
                now.cluster_id.unwrap_or(unknown)
            ),
        )));
    }
    if topic.topic_id.is_none() || topic.topic_id.as_deref() != now.topic_id {
        return new(Some((
            LineageBreakReason::TopicRecreated,
            format!(
                "backup {pid} read topic id {}, the topic now has id {}",
                topic.topic_id.as_deref().unwrap_or(unknown),
                now.topic_id.unwrap_or(unknown)
            ),
        )));
    }
    if parent.encoding.encryption_key_id.as_deref() != now.key_id {
        return new(Some((
            LineageBreakReason::EncryptionChanged,
            format!(
                "backup {pid} was {}, this backup is {}",
                parent
                    .encoding
                    .encryption_key_id
                    .as_deref()
                    .map_or("not encrypted".into(), |k| format!("encrypted with key {k}")),
                now.key_id.map_or("not encrypted".into(), |k| format!("encrypted with key {k}"))
            ),
        )));
    }
    if held.end_offset > now.end {
        return new(Some((
            LineageBreakReason::OffsetsRegressed,
            format!(
                "backup {pid} read up to offset {}, the partition now ends at {}",
                held.end_offset, now.end
            ),
        )));
    }
    if held.end_offset < now.log_start {
        return new(Some((
            LineageBreakReason::RecordsExpired,
            format!(
                "backup {pid} read up to offset {}, and retention has deleted everything before {}: offsets \
                 [{}, {}) were never backed up",
                held.end_offset, now.log_start, held.end_offset, now.log_start
            ),
        )));
    }
    let segments = held.segments.iter().filter(|s| s.last_offset >= now.log_start).cloned().collect();
    let gaps = held
        .gaps
        .iter()
        .filter(|g| g.to > now.log_start)
        .map(|g| Gap { from: g.from.max(now.log_start), ..g.clone() })
        .collect();
    let start = held.lineage_start.clone().unwrap_or_else(|| pid.clone());
    (held.end_offset, Lineage { start, segments, gaps, broken: None })
}

/// A topic as it will be recorded.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicPlan {
    pub name: String,
    /// Kafka's id of the topic read.
    pub topic_id: String,
    pub partition_count: i32,
    pub replication_factor: i32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Plan {
    /// The admin client the plan used; partitions ask it whether their topic still exists.
    pub admin: std::sync::Arc<crate::kafka::Admin>,
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
    key_id: Option<&str>,
) -> anyhow::Result<Plan> {
    let topic_filter = cfg.topics.filter("spec.topics").map_err(anyhow::Error::msg)?;
    let group_filter = cfg.consumer_groups.filter("spec.consumerGroups").map_err(anyhow::Error::msg)?;
    let parent = match cfg.backup.mode {
        BackupMode::Incremental | BackupMode::Continuous => {
            crate::catalog::latest_in(storage, backup_id, &cfg.manifests).await?
        }
        BackupMode::Full => None,
    };

    // read_committed makes the broker answer offset queries with the last stable offset: the cut
    // then never lies inside a transaction still open, and every offset before it is decided.
    let consumer: crate::kafka::Reader = client
        .clone()
        .set("isolation.level", "read_committed")
        .create_with_context(crate::kafka::DataPlaneContext)
        .context("creating the Kafka client")?;
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
            topic_id: String::new(),
            partition_count: t.partitions().len() as i32,
            replication_factor: t.partitions().first().map_or(1, |p| p.replicas().len() as i32),
            configs: BTreeMap::new(),
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));

    let admin: crate::kafka::Admin = client
        .create_with_context(crate::kafka::DataPlaneContext)
        .context("creating the Kafka admin client")?;
    let admin = std::sync::Arc::new(admin);
    let ids = {
        let (admin, names) = (admin.clone(), topics.iter().map(|t| t.name.clone()).collect::<Vec<_>>());
        tokio::task::spawn_blocking(move || crate::kafka::describe::topic_ids(&admin, &names, TIMEOUT))
            .await?
            .context("reading the topic ids (Kafka 2.8 or later gives every topic one)")?
    };
    // A topic deleted since the metadata was read is not part of the cut.
    topics.retain_mut(|t| match ids.get(&t.name) {
        Some(Described::Id(id)) => {
            t.topic_id = id.clone();
            true
        }
        _ => false,
    });
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

    let cluster_id = {
        let c = consumer.clone();
        tokio::task::spawn_blocking(move || c.client().fetch_cluster_id(TIMEOUT)).await?
    };
    // Every partition's offsets in one round of ListOffsets requests (one per leader), not two
    // requests per partition in turn: 1,000 partitions plan in milliseconds, not a second or more.
    let offsets = {
        let (c, keys) = (
            consumer.clone(),
            crate::watermarks::keys(topics.iter().map(|t| (t.name.as_str(), t.partition_count))),
        );
        tokio::task::spawn_blocking(move || {
            crate::watermarks::watermarks(&c, &keys, TIMEOUT, |t, p| {
                format!("reading the offsets of {t}/{p}")
            })
        })
        .await??
    };
    let mut partitions = Vec::new();
    for topic in &topics {
        for partition in 0..topic.partition_count {
            let (low, high) = offsets.get(&(topic.name.clone(), partition)).copied().with_context(|| {
                format!("reading the offsets of {}/{partition}: not answered", topic.name)
            })?;
            let observed = Observed {
                cluster_id: cluster_id.as_deref(),
                topic: &topic.name,
                topic_id: Some(&topic.topic_id),
                partition,
                log_start: low.min(high),
                end: high,
                key_id,
            };
            let (start, lineage) = lineage(parent.as_ref(), observed, backup_id);
            if let Some(b) = &lineage.broken {
                tracing::warn!(partition = %format!("{}/{partition}", topic.name), reason = ?b.reason,
                    "{}: a new lineage starts from the log start", b.message);
            }
            partitions.push(PartitionPlan {
                topic: topic.name.clone(),
                topic_id: topic.topic_id.clone(),
                partition,
                log_start: observed.log_start,
                start,
                end: high,
                lineage,
            });
        }
    }

    let groups = group_offsets(client, &group_filter, &partitions).await?;
    Ok(Plan { admin, cluster_id, topics, partitions, groups, parent })
}

/// Committed offsets of the selected groups on the selected partitions. Kafka answers offset
/// queries per group, so they run a few at a time: clusters have hundreds of groups.
async fn group_offsets(
    client: &ClientConfig,
    filter: &crate::api::selection::NameFilter,
    partitions: &[PartitionPlan],
) -> anyhow::Result<Vec<GroupEntry>> {
    let selected: Vec<(String, i32)> = partitions.iter().map(|p| (p.topic.clone(), p.partition)).collect();
    let names: Vec<String> =
        crate::groups::list(client).await?.into_iter().filter(|n| filter.matches(n)).collect();
    let mut groups = crate::groups::committed_of(client, names, &selected).await?;
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::{Encoding, PartitionEntry, TopicEntry, Totals};

    fn segment(backup: &str, first: i64, last: i64) -> SegmentEntry {
        SegmentEntry {
            object: format!("backups/{backup}/segments/t/0/{first:020}.kbseg"),
            first_offset: first,
            last_offset: last,
            records: (last - first + 1) as u64,
            offsets_skipped: 0,
            min_timestamp: 0,
            max_timestamp: 0,
            raw_bytes: 1,
            stored_bytes: 1,
            sha256: String::new(),
            max_record_bytes: None,
        }
    }

    /// The backup before: cluster c1, topic t (id T1) partition 0 held from 0 to 300 in three
    /// segments, a retention gap [100, 110) between the first two.
    fn parent(version: u16) -> Manifest {
        Manifest {
            format_version: version,
            backup_id: "b2".into(),
            parent_id: Some("b1".into()),
            started_at: String::new(),
            completed_at: String::new(),
            cluster_id: Some("c1".into()),
            encoding: Encoding { compression: "zstd".into(), encryption_key_id: None, data_keys: Vec::new() },
            topics: vec![TopicEntry {
                name: "t".into(),
                partition_count: 1,
                replication_factor: 1,
                topic_id: Some("T1".into()),
                configs: BTreeMap::new(),
                partitions: vec![PartitionEntry {
                    partition: 0,
                    start_offset: 0,
                    end_offset: 300,
                    read_from: Some(200),
                    lineage_start: Some("b1".into()),
                    lineage_break: None,
                    segments: vec![segment("b1", 0, 99), segment("b1", 110, 199), segment("b2", 200, 299)],
                    gaps: vec![Gap {
                        from: 100,
                        to: 110,
                        reason: crate::format::manifest::GapReason::RetentionDeleted,
                    }],
                }],
            }],
            consumer_groups: Vec::new(),
            totals: Totals::default(),
            written: None,
            cluster_metadata: None,
            schema_registry: None,
            strimzi_resources: None,
            revision: None,
        }
    }

    fn now(log_start: i64, end: i64) -> Observed<'static> {
        Observed {
            cluster_id: Some("c1"),
            topic: "t",
            topic_id: Some("T1"),
            partition: 0,
            log_start,
            end,
            key_id: None,
        }
    }

    fn reason(parent: Option<&Manifest>, observed: Observed<'_>) -> Option<LineageBreakReason> {
        lineage(parent, observed, "b3").1.broken.map(|b| b.reason)
    }

    #[test]
    fn the_same_log_continues_and_keeps_what_it_holds_from_the_log_start() {
        let p = parent(2);
        let (start, l) = lineage(Some(&p), now(0, 500), "b3");
        assert_eq!(start, 300, "reads on from where the backup before stopped");
        assert_eq!((l.start.as_str(), l.broken), ("b1", None), "the lineage began with b1");
        assert_eq!(l.segments.len(), 3);
        assert_eq!(l.gaps.len(), 1);
        // Retention moved the log start to 150: the first segment and the gap are no longer part
        // of the restore point; the segment across 150 stays whole (restore skips below 150).
        let (start, l) = lineage(Some(&p), now(150, 500), "b3");
        assert_eq!(start, 300);
        assert_eq!(l.segments.iter().map(|s| s.first_offset).collect::<Vec<_>>(), [110, 200]);
        assert!(l.gaps.is_empty());
        // Exactly at the end of what the backup before read, nothing new: still the same log.
        let (start, l) = lineage(Some(&p), now(300, 300), "b3");
        assert_eq!((start, l.segments.len(), l.broken), (300, 0, None));
    }

    #[test]
    fn anything_but_the_same_log_starts_a_new_lineage_from_the_log_start_with_its_reason() {
        let p = parent(2);
        let cases: [(&str, Option<&Manifest>, Observed<'_>, Option<LineageBreakReason>); 9] = [
            ("first backup", None, now(0, 10), None),
            ("topic not backed up before", Some(&p), Observed { topic: "u", ..now(0, 10) }, None),
            ("new partition", Some(&p), Observed { partition: 1, ..now(0, 10) }, None),
            (
                "recreated",
                Some(&p),
                Observed { topic_id: Some("T2"), ..now(0, 400) },
                Some(LineageBreakReason::TopicRecreated),
            ),
            (
                "other cluster",
                Some(&p),
                Observed { cluster_id: Some("c2"), ..now(0, 400) },
                Some(LineageBreakReason::ClusterChanged),
            ),
            (
                "no cluster id",
                Some(&p),
                Observed { cluster_id: None, ..now(0, 400) },
                Some(LineageBreakReason::ClusterChanged),
            ),
            ("log went back", Some(&p), now(0, 299), Some(LineageBreakReason::OffsetsRegressed)),
            ("retention overtook", Some(&p), now(301, 400), Some(LineageBreakReason::RecordsExpired)),
            (
                "encrypted now",
                Some(&p),
                Observed { key_id: Some("k1"), ..now(0, 400) },
                Some(LineageBreakReason::EncryptionChanged),
            ),
        ];
        for (what, parent, observed, want) in cases {
            let (start, l) = lineage(parent, observed, "b3");
            assert_eq!(l.broken.as_ref().map(|b| b.reason), want, "{what}");
            assert_eq!(start, observed.log_start, "{what}: read from the log start");
            assert!(l.segments.is_empty() && l.gaps.is_empty(), "{what}: nothing joined");
            assert_eq!(l.start, "b3", "{what}: the lineage begins here");
        }
        assert_eq!(reason(Some(&parent(1)), now(0, 400)), Some(LineageBreakReason::UnverifiedParent));
        let message = lineage(Some(&p), Observed { topic_id: Some("T2"), ..now(0, 400) }, "b3").1.broken;
        assert_eq!(
            message.map(|b| b.message).as_deref(),
            Some("backup b2 read topic id T1, the topic now has id T2")
        );
    }
}
