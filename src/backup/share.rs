//! One worker's reading: its share of the planned partitions, `backup.parallelism` at a time,
//! each with the partition machinery ([`super::partition`]), then the check that no topic it read
//! was replaced under its name meanwhile. A backup in one worker reads every partition this way.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};

use crate::format::manifest::{Gap, GapReason, PartitionEntry};

use super::partition::{PartitionContext, backup_partition};
use super::plan::{PartitionPlan, TopicPlan};

/// Reads `partitions`, `parallelism` at a time, logging progress every 10 s. Returns each
/// partition's entry with its topic, sorted by topic and partition.
pub async fn read(
    ctx: &PartitionContext,
    partitions: Vec<PartitionPlan>,
    parallelism: usize,
) -> anyhow::Result<Vec<(String, PartitionEntry)>> {
    let done = Arc::new(AtomicUsize::new(0));
    let total = partitions.len();
    let progress = tokio::spawn({
        let (records, bytes, done) = (ctx.records.clone(), ctx.bytes.clone(), done.clone());
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!(
                    "progress: {} records, {} bytes, {}/{total} partitions done",
                    records.load(Ordering::Relaxed),
                    bytes.load(Ordering::Relaxed),
                    done.load(Ordering::Relaxed)
                );
            }
        }
    });
    // Each partition is its own task, so compression and hashing of several partitions use
    // every core rather than taking turns on one.
    let results: anyhow::Result<Vec<_>> = futures::stream::iter(partitions.into_iter().map(|p| {
        let (ctx, done) = (ctx.clone(), done.clone());
        tokio::spawn(async move {
            let entry = backup_partition(&ctx, &p).await?;
            done.fetch_add(1, Ordering::Relaxed);
            anyhow::Ok((p.topic.clone(), entry))
        })
    }))
    .buffer_unordered(parallelism.max(1))
    .map(|joined| joined.map_err(anyhow::Error::from).and_then(|r| r))
    .try_collect()
    .await;
    progress.abort();
    let mut entries = results?;
    entries.sort_by(|a, b| (&a.0, a.1.partition).cmp(&(&b.0, b.1.partition)));
    Ok(entries)
}

/// A topic deleted and created again under its name while the backup read it: the consumer may
/// have gone on reading the new topic at the same offsets, and nothing tells its records from the
/// old one's. So what this backup read of it is not kept; its partitions end, after what earlier
/// backups hold, in a `TopicDeleted` gap. A topic merely deleted after its partitions were read
/// is complete and stays. Asked once all of `entries` are read, about their topics only: each
/// worker of a run asks for its own share, so the commit needs no broker.
pub async fn replaced_during_the_read(
    topics: &[TopicPlan],
    admin: Arc<crate::kafka::Admin>,
    client: &rdkafka::ClientConfig,
    entries: &mut [(String, PartitionEntry)],
) -> anyhow::Result<()> {
    use crate::kafka::describe::Described;
    let topics: Vec<&TopicPlan> =
        topics.iter().filter(|t| entries.iter().any(|(n, _)| *n == t.name)).collect();
    if topics.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let asked = {
        let names = names.clone();
        tokio::task::spawn_blocking(move || {
            crate::kafka::describe::topic_ids(&admin, &names, Duration::from_secs(30))
        })
        .await?
    };
    let now = match asked {
        Ok(ids) => ids,
        Err(e) => {
            // The plan's client may hold a connection gone silent (it was idle the whole read):
            // a new client asks once more before the backup gives up.
            tracing::warn!(error = %format!("{e:#}"), "describing the topics again with a new client");
            let fresh: crate::kafka::Admin = client
                .create_with_context(crate::kafka::DataPlaneContext)
                .context("creating the Kafka admin client")?;
            tokio::task::spawn_blocking(move || {
                crate::kafka::describe::topic_ids(&fresh, &names, Duration::from_secs(30))
            })
            .await??
        }
    };
    for t in topics {
        let replaced = matches!(now.get(&t.name), Some(Described::Id(id)) if *id != t.topic_id);
        if !replaced {
            continue;
        }
        tracing::warn!(topic = %t.name, "the topic was replaced by another of the same name during the backup: what was read of it is not kept");
        for (_, p) in entries.iter_mut().filter(|(name, _)| *name == t.name) {
            let from = p.read_from.unwrap_or(p.start_offset);
            // What this backup read starts at `from`; below it are the lineage's segments,
            // some of them merged by this backup (under its own id), which stay.
            p.segments.retain(|s| s.first_offset < from);
            p.gaps.retain(|g| g.to <= from);
            if from < p.end_offset {
                p.gaps.push(Gap { from, to: p.end_offset, reason: GapReason::TopicDeleted });
            }
        }
    }
    Ok(())
}
