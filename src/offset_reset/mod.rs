//! The `offset-reset` data plane: moves the committed offsets of consumer groups — to the
//! earliest or latest offset, to a time, to an offset, by a shift, or back to a snapshot — and
//! reports the offsets from before, which are the snapshot to roll back to.
//!
//! Offsets are committed from outside the group, so a group with live members is skipped with the
//! reason (Kafka would refuse anyway). Targets are clamped to each partition's current range.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use rdkafka::consumer::Consumer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::api::offset_reset::{GroupResetOutcome, ResetStrategy};
use crate::format::manifest::{CommittedOffset, GroupEntry};
use crate::kafka::KafkaConnection;

const TIMEOUT: Duration = Duration::from_secs(30);

/// What one run is told (rendered from a `KafkaOffsetReset`, or written by hand).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetResetConfig {
    pub kafka: KafkaConnection,
    pub consumer_groups: Vec<String>,
    /// Topics to reset; every topic the group has committed offsets on when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
    pub reset_strategy: ResetStrategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_by: Option<i64>,
    /// A snapshot (a previous run's `snapshot`, as JSON) for `to-snapshot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_file: Option<PathBuf>,
    #[serde(default = "parallelism")]
    pub parallelism: usize,
    #[serde(default)]
    pub dry_run: bool,
}

fn parallelism() -> usize {
    10
}

/// Offsets of groups at one moment: what a rollback returns to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub groups: Vec<GroupEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionChange {
    pub topic: String,
    pub partition: i32,
    /// The committed offset before (none if the group had not committed on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<i64>,
    pub new: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupOutcome {
    pub group: String,
    pub outcome: GroupResetOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub partitions: Vec<PartitionChange>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetResetResult {
    pub dry_run: bool,
    pub groups_reset: u32,
    pub groups_failed: u32,
    pub groups: Vec<GroupOutcome>,
    /// The offsets before the run, of the groups it changed: roll back with `to-snapshot`.
    pub snapshot: Snapshot,
}

/// Where one partition moves; `None` leaves it alone (nothing to shift, not in the snapshot).
/// `at_time` is the first offset at or after the reset time (None: no record that late).
pub fn target(
    strategy: ResetStrategy,
    config: &OffsetResetConfig,
    current: Option<i64>,
    (low, high): (i64, i64),
    at_time: Option<i64>,
    snapshot: Option<i64>,
) -> Option<i64> {
    let wanted = match strategy {
        ResetStrategy::ToEarliest => Some(low),
        ResetStrategy::ToLatest => Some(high),
        ResetStrategy::ToTimestamp => Some(at_time.unwrap_or(high)),
        ResetStrategy::ToOffset => config.reset_offset,
        ResetStrategy::ShiftBy => current.zip(config.shift_by).map(|(c, s)| c.saturating_add(s)),
        ResetStrategy::ToSnapshot => snapshot,
    }?;
    Some(wanted.clamp(low, high.max(low)))
}

/// Every partition of the named topics, or of all topics (internal ones aside).
fn partitions(
    consumer: &crate::kafka::Reader,
    topics: Option<&[String]>,
) -> anyhow::Result<Vec<(String, i32)>> {
    let metadata = crate::kafka::metadata(consumer, "reading cluster metadata")?;
    let mut out = Vec::new();
    for t in metadata.topics() {
        let wanted = match topics {
            Some(list) => list.iter().any(|n| n == t.name()),
            None => !t.name().starts_with("__"),
        };
        if wanted && t.error().is_none() {
            out.extend(t.partitions().iter().map(|p| (t.name().to_string(), p.id())));
        }
    }
    if let Some(list) = topics {
        for name in list {
            anyhow::ensure!(out.iter().any(|(t, _)| t == name), "spec.topics: topic {name} does not exist");
        }
    }
    Ok(out)
}

/// The first offset at or after `ms` on each partition.
fn offsets_at(
    consumer: &crate::kafka::Reader,
    parts: &[(String, i32)],
    ms: i64,
) -> anyhow::Result<HashMap<(String, i32), i64>> {
    let mut tpl = TopicPartitionList::new();
    for (t, p) in parts {
        tpl.add_partition_offset(t, *p, Offset::Offset(ms))?;
    }
    let found = consumer.offsets_for_times(tpl, TIMEOUT).context("looking up offsets by time")?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

async fn reset_group(
    cfg: &OffsetResetConfig,
    client: &ClientConfig,
    group: &str,
    snapshot: &Snapshot,
) -> anyhow::Result<(GroupOutcome, Option<GroupEntry>)> {
    let skipped = |message: String| GroupOutcome {
        group: group.into(),
        outcome: GroupResetOutcome::Skipped,
        message: Some(message),
        partitions: Vec::new(),
    };
    if let Some(reason) = crate::groups::busy(client, group).await? {
        return Ok((skipped(reason), None));
    }
    let consumer: crate::kafka::Reader =
        client.create_with_context(crate::kafka::DataPlaneContext).context("creating the Kafka client")?;
    let consumer = std::sync::Arc::new(consumer);
    let topics = cfg.topics.clone();
    let all = {
        let c = consumer.clone();
        tokio::task::spawn_blocking(move || partitions(&c, topics.as_deref())).await??
    };
    let committed = crate::groups::committed(client, group, &all).await?;
    let current: HashMap<(String, i32), i64> =
        committed.iter().map(|o| ((o.topic.clone(), o.partition), o.offset)).collect();
    // Without named topics, only what the group reads.
    let selected: Vec<(String, i32)> = if cfg.topics.is_some() {
        all
    } else {
        all.into_iter().filter(|k| current.contains_key(k)).collect()
    };
    let at_time = match (&cfg.reset_strategy, &cfg.reset_timestamp) {
        (ResetStrategy::ToTimestamp, Some(ts)) => {
            let ms = chrono::DateTime::parse_from_rfc3339(ts)
                .with_context(|| format!("spec.resetTimestamp `{ts}` is not RFC 3339"))?
                .timestamp_millis();
            let (c, parts) = (consumer.clone(), selected.clone());
            tokio::task::spawn_blocking(move || offsets_at(&c, &parts, ms)).await??
        }
        _ => HashMap::new(),
    };
    let from_snapshot: HashMap<(String, i32), i64> = snapshot
        .groups
        .iter()
        .filter(|g| g.group == group)
        .flat_map(|g| g.offsets.iter().map(|o| ((o.topic.clone(), o.partition), o.offset)))
        .collect();
    // Every selected partition's offsets in one round of requests (crate::watermarks), not two
    // requests per partition in turn.
    let ranges = {
        let (c, keys) = (consumer.clone(), selected.clone());
        tokio::task::spawn_blocking(move || {
            crate::watermarks::watermarks(&c, &keys, TIMEOUT, |t, p| {
                format!("reading the offsets of {t}/{p}")
            })
        })
        .await??
    };
    let mut changes = Vec::new();
    for key in &selected {
        let range = ranges
            .get(key)
            .copied()
            .with_context(|| format!("reading the offsets of {}/{}: not answered", key.0, key.1))?;
        let previous = current.get(key).copied();
        let to = target(
            cfg.reset_strategy,
            cfg,
            previous,
            range,
            at_time.get(key).copied(),
            from_snapshot.get(key).copied(),
        );
        if let Some(new) = to {
            changes.push(PartitionChange { topic: key.0.clone(), partition: key.1, previous, new });
        }
    }
    let before = GroupEntry {
        group: group.into(),
        offsets: committed
            .into_iter()
            .filter(|o| changes.iter().any(|c| c.topic == o.topic && c.partition == o.partition))
            .collect(),
    };
    if changes.is_empty() {
        return Ok((
            skipped("no partition to move (no committed offsets on the selected topics)".into()),
            None,
        ));
    }
    if !cfg.dry_run {
        let offsets: Vec<CommittedOffset> = changes
            .iter()
            .map(|c| CommittedOffset {
                topic: c.topic.clone(),
                partition: c.partition,
                offset: c.new,
                metadata: None,
            })
            .collect();
        crate::groups::commit(client, group, &offsets).await?;
    }
    let outcome = if cfg.dry_run { GroupResetOutcome::Planned } else { GroupResetOutcome::Reset };
    Ok((GroupOutcome { group: group.into(), outcome, message: None, partitions: changes }, Some(before)))
}

/// Runs the reset over every group, `parallelism` at a time.
pub async fn run(cfg: &OffsetResetConfig) -> anyhow::Result<OffsetResetResult> {
    // A KafkaOffsetReset cannot get here without its strategy's value (the CRD's rules refuse it);
    // a config file written by hand can, and must not reset nothing and call it done.
    let missing = match cfg.reset_strategy {
        ResetStrategy::ToTimestamp if cfg.reset_timestamp.is_none() => {
            Some(("to-timestamp", "resetTimestamp"))
        }
        ResetStrategy::ToOffset if cfg.reset_offset.is_none() => Some(("to-offset", "resetOffset")),
        ResetStrategy::ShiftBy if cfg.shift_by.is_none() => Some(("shift-by", "shiftBy")),
        _ => None,
    };
    if let Some((strategy, field)) = missing {
        anyhow::bail!("resetStrategy {strategy} needs {field}: set it in the config");
    }
    let client = cfg.kafka.client_config().map_err(anyhow::Error::msg)?;
    let snapshot: Snapshot = match (&cfg.reset_strategy, &cfg.snapshot_file) {
        (ResetStrategy::ToSnapshot, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the snapshot {}", file.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not an offset snapshot", file.display()))?
        }
        (ResetStrategy::ToSnapshot, None) => {
            anyhow::bail!("resetStrategy to-snapshot needs a snapshot (snapshotFile)")
        }
        _ => Snapshot::default(),
    };
    let results: Vec<(GroupOutcome, Option<GroupEntry>)> = futures::stream::iter(cfg.consumer_groups.iter())
        .map(|group| {
            let (client, snapshot) = (&client, &snapshot);
            async move {
                match reset_group(cfg, client, group, snapshot).await {
                    Ok(done) => done,
                    Err(e) => (
                        GroupOutcome {
                            group: group.clone(),
                            outcome: GroupResetOutcome::Failed,
                            message: Some(format!("{e:#}")),
                            partitions: Vec::new(),
                        },
                        None,
                    ),
                }
            }
        })
        .buffered(cfg.parallelism.max(1))
        .collect()
        .await;
    let mut result = OffsetResetResult { dry_run: cfg.dry_run, ..Default::default() };
    for (outcome, before) in results {
        match outcome.outcome {
            GroupResetOutcome::Reset | GroupResetOutcome::Planned => result.groups_reset += 1,
            GroupResetOutcome::Skipped | GroupResetOutcome::Failed => result.groups_failed += 1,
        }
        result.snapshot.groups.extend(before);
        result.groups.push(outcome);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(strategy: ResetStrategy) -> OffsetResetConfig {
        OffsetResetConfig {
            kafka: KafkaConnection::default(),
            consumer_groups: vec!["g".into()],
            topics: None,
            reset_strategy: strategy,
            reset_timestamp: None,
            reset_offset: Some(500),
            shift_by: Some(-30),
            snapshot_file: None,
            parallelism: 1,
            dry_run: false,
        }
    }

    #[test]
    fn targets_are_clamped_to_the_partition() {
        let range = (100, 400);
        let t = |s, current, at, snap| target(s, &config(s), current, range, at, snap);
        assert_eq!(t(ResetStrategy::ToEarliest, Some(250), None, None), Some(100));
        assert_eq!(t(ResetStrategy::ToLatest, Some(250), None, None), Some(400));
        assert_eq!(t(ResetStrategy::ToTimestamp, None, Some(180), None), Some(180));
        assert_eq!(t(ResetStrategy::ToTimestamp, None, None, None), Some(400), "nothing that late: the end");
        assert_eq!(t(ResetStrategy::ToOffset, None, None, None), Some(400), "500 clamped");
        assert_eq!(t(ResetStrategy::ShiftBy, Some(110), None, None), Some(100), "110 - 30 clamped");
        assert_eq!(t(ResetStrategy::ShiftBy, None, None, None), None, "nothing to shift");
        assert_eq!(t(ResetStrategy::ToSnapshot, Some(250), None, Some(120)), Some(120));
        assert_eq!(t(ResetStrategy::ToSnapshot, Some(250), None, None), None, "not in the snapshot");
    }
}
