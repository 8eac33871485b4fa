//! One drill, start to finish: refuse anything that could touch a real topic, restore the
//! restore point into scratch topics through the product's own restore, read them back and
//! compare them with the backup record for record, then remove the scratch topics and the
//! restore's state whatever happened.

use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use futures::StreamExt;
use rdkafka::ClientConfig;

use super::cleanup;
use super::compare::PartitionComparison;
use super::config::{DrillConfig, valid_topic_name};
use super::readback::ScratchReader;
use super::result::{DrillResult, FIRST_MISMATCHES};
use crate::api::restore_point::VerificationResult;
use crate::format::codec::EncryptionKey;
use crate::format::manifest::Manifest;
use crate::format::rfc3339;
use crate::restore::source::{PartitionSource, RecordSource};
use crate::restore::state::{ResumeState, TopicAction};
use crate::storage::Storage;

pub async fn run(cfg: &DrillConfig) -> anyhow::Result<DrillResult> {
    cfg.check()?;
    let started = Utc::now();
    let drill_id = cfg.drill_id.clone().unwrap_or_else(|| started.format("%Y%m%d-%H%M%S-%3f").to_string());
    let restore_id = format!("drill-{drill_id}");
    let storage = crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    // The same selection and scope as the restore: the restore point's partitions from their
    // first offset (`scope: restorePoint`), every record, no point in time.
    let chain = crate::catalog::chain(&storage, cfg.backup_id.as_deref()).await?;
    let last = chain.last().context("empty backup chain")?.clone();
    let filter = cfg.topics.filter("topics").map_err(anyhow::Error::msg)?;
    let sources: Vec<PartitionSource> = crate::restore::source::partitions(&chain)
        .into_iter()
        .filter(|p| filter.matches(&p.topic.name))
        .collect();
    let mut topics: Vec<String> = sources.iter().map(|s| s.topic.name.clone()).collect();
    topics.dedup();
    anyhow::ensure!(!topics.is_empty(), "no topic of backup {} matches topics", last.backup_id);
    let scratch: Vec<String> = topics.iter().map(|t| cfg.scratch_topic(t)).collect();
    let client = cfg.kafka.client_config().map_err(anyhow::Error::msg)?;

    // Nothing is written before every check passed.
    clear_earlier_attempt(&storage, &client, &restore_id, &scratch).await?;
    refuse_collisions(cfg, &last, &scratch, &cleanup::existing(&client, &scratch).await?)?;
    if let Some(max) = cfg.max_records {
        let held: u64 = sources.iter().map(records_from).sum();
        anyhow::ensure!(
            held <= max,
            "the drill would restore {held} records of backup {}, more than maxRecords {max}: select fewer topics or raise maxRecords",
            last.backup_id
        );
    }

    let mut result = DrillResult {
        drill_id,
        backup_id: last.backup_id.clone(),
        topics: topics.clone(),
        start_time: rfc3339(started),
        ..Default::default()
    };
    let restore = cfg.restore_config(&restore_id, &last.backup_id, &topics);
    let clock = Instant::now();
    tracing::info!(drill = %restore_id, backup = %last.backup_id, topics = topics.len(), "restoring into scratch topics");
    let restored = crate::restore::run(&restore).await;
    result.restore_seconds = clock.elapsed().as_secs_f64();
    match restored {
        Ok(restored) => {
            result.bytes = restored.restored_bytes;
            let seconds = result.restore_seconds.max(0.001);
            result.records_per_second = restored.restored_records as f64 / seconds;
            result.mb_per_second = restored.restored_bytes as f64 / 1e6 / seconds;
            match key(cfg, &chain).await {
                Ok(key) => compare_all(cfg, &storage, &client, key, &restore_id, &sources, &mut result).await,
                Err(e) => fail(&mut result, format!("{e:#}")),
            }
        }
        Err(e) => fail(&mut result, format!("the restore failed: {}", locate(&format!("{e:#}"), &sources))),
    }

    // Always: the scratch topics the restore created, then its state and lease (kept when a
    // topic could not be deleted: a rerun with the same drill id finds the topics by it).
    match created_topics(&storage, &restore_id, &scratch).await {
        Ok(created) => match cleanup::delete_topics(&client, &created).await {
            Ok(()) => {
                result.scratch_topics_deleted = true;
                if let Err(e) = cleanup::forget_restore(&storage, &restore_id).await {
                    append(&mut result.message, format!("the drill's restore state was not removed: {e:#}"));
                }
            }
            Err(e) => append(
                &mut result.message,
                format!(
                    "the scratch topics were not all deleted ({e:#}); a rerun with drillId {} deletes them",
                    result.drill_id
                ),
            ),
        },
        Err(e) => append(
            &mut result.message,
            format!(
                "which scratch topics the restore created is unknown ({e:#}); a rerun with drillId {} deletes them",
                result.drill_id
            ),
        ),
    }
    result.completion_time = rfc3339(Utc::now());
    if cfg.record_evidence {
        record_evidence(&storage, &mut result).await;
    }
    tracing::info!(result = ?result.result, records = result.records, mismatches = result.mismatches, "drill done");
    Ok(result)
}

/// Writes the result as evidence at the location; a failure is said in the result and logged,
/// never turned into the drill's failure (the records compared as they did).
async fn record_evidence(storage: &Storage, result: &mut DrillResult) {
    match super::evidence::write(storage, result).await {
        Ok(object) => {
            tracing::info!(%object, "drill evidence written");
            result.evidence_written = Some(true);
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "the drill's evidence was not written");
            append(&mut result.message, format!("the evidence was not written at the location: {e:#}"));
            result.evidence_written = Some(false);
        }
    }
}

fn append(message: &mut String, more: String) {
    if !message.is_empty() {
        message.push_str("; ");
    }
    message.push_str(&more);
}

fn fail(result: &mut DrillResult, message: String) {
    result.result = VerificationResult::Failed;
    append(&mut result.message, message);
}

/// Records a partition of the restore point holds from its first offset (segments may begin
/// below it; those count whole, so this is an upper bound).
fn records_from(s: &PartitionSource) -> u64 {
    s.segments.iter().filter(|seg| seg.last_offset >= s.start_offset).map(|seg| seg.records).sum()
}

/// The scratch topics the drill's restore created: those its resume state claims as `create`
/// (saved before any topic is created). Never a topic that existed before — not even one
/// created under a scratch name by someone else between the drill's check and its restore, which
/// the restore refuses (`existingTopicPolicy: fail`).
async fn created_topics(
    storage: &Storage,
    restore_id: &str,
    scratch: &[String],
) -> anyhow::Result<Vec<String>> {
    let Some(state) = ResumeState::load(storage, restore_id).await? else { return Ok(Vec::new()) };
    Ok(state
        .claimed
        .iter()
        .filter(|(name, action)| **action == TopicAction::Create && scratch.contains(name))
        .map(|(name, _)| name.clone())
        .collect())
}

/// A drill killed before its cleanup (a Job's pod, a process) left the topics its restore
/// created — recorded as claimed (`create`) in its resume state before they were created — and
/// that state: a rerun under the same drill id removes them first. Nothing else is deleted.
async fn clear_earlier_attempt(
    storage: &Storage,
    client: &ClientConfig,
    restore_id: &str,
    scratch: &[String],
) -> anyhow::Result<()> {
    if ResumeState::load(storage, restore_id).await?.is_none() {
        return Ok(());
    }
    let own = created_topics(storage, restore_id, scratch).await?;
    tracing::warn!(drill = %restore_id, topics = ?own, "an earlier attempt of this drill left scratch topics; deleting them");
    cleanup::delete_topics(client, &own).await?;
    cleanup::forget_restore(storage, restore_id).await
}

/// A scratch name that is a backed-up topic's, or any topic's in the cluster, or no topic name
/// at all, refuses the drill, naming it.
fn refuse_collisions(
    cfg: &DrillConfig,
    last: &Manifest,
    scratch: &[String],
    existing: &[String],
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for name in scratch {
        if !valid_topic_name(name) {
            problems.push(format!(
                "scratch topic {name} is not a valid Kafka topic name (at most 249 of [a-zA-Z0-9._-])"
            ));
        }
        if last.topics.iter().any(|t| t.name == *name) {
            problems
                .push(format!("scratch topic {name} is the name of a topic in backup {}", last.backup_id));
        }
        if existing.contains(name) {
            problems.push(format!("scratch topic {name} already exists in the cluster"));
        }
    }
    anyhow::ensure!(
        problems.is_empty(),
        "refusing the drill, nothing was written: {} (choose another topicPrefix than `{}`)",
        problems.join("; "),
        cfg.topic_prefix
    );
    Ok(())
}

/// The key the restore point's segments need, as the restore finds it.
async fn key(cfg: &DrillConfig, chain: &[Manifest]) -> anyhow::Result<Option<EncryptionKey>> {
    let keys = crate::kms::KeySource::new(cfg.encryption_key_file.as_deref(), cfg.kms.as_ref())?;
    let mut key = None;
    for m in chain {
        key = keys.for_manifest(m).await?.or(key);
    }
    Ok(key)
}

/// An error that names a segment object, said in the backup's terms: topic, partition and the
/// segment's first offset (the object's name holds them).
fn locate(error: &str, sources: &[PartitionSource]) -> String {
    let found = sources
        .iter()
        .flat_map(|s| s.segments.iter().map(move |seg| (s, seg)))
        .find(|(_, seg)| error.contains(&seg.object));
    match found {
        Some((s, seg)) => format!(
            "topic {} partition {} offset {}: the segment holding offsets {}..={} ({}) cannot be restored: {error}",
            s.topic.name, s.partition, seg.first_offset, seg.first_offset, seg.last_offset, seg.object
        ),
        None => error.to_string(),
    }
}

/// Reads every scratch partition back and compares it with the backup's records.
async fn compare_all(
    cfg: &DrillConfig,
    storage: &Storage,
    client: &ClientConfig,
    key: Option<EncryptionKey>,
    restore_id: &str,
    sources: &[PartitionSource],
    result: &mut DrillResult,
) {
    let parallelism = usize::try_from(cfg.parallelism).unwrap_or(1).max(1);
    let compared: Vec<anyhow::Result<PartitionComparison>> = futures::stream::iter(sources)
        .map(|s| compare_partition(cfg, storage, client, key.clone(), restore_id, s))
        .buffer_unordered(parallelism)
        .collect()
        .await;
    let mut errors = Vec::new();
    let mut firsts = Vec::new();
    for c in compared {
        match c {
            Ok(c) => {
                result.records += c.compared;
                result.mismatches += c.mismatches;
                firsts.extend(c.first);
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    firsts.sort_by(|a, b| (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset)));
    firsts.truncate(FIRST_MISMATCHES);
    result.first_mismatches = firsts;
    if !errors.is_empty() {
        let located: Vec<String> = errors.iter().map(|e| locate(e, sources)).collect();
        fail(result, format!("comparing failed: {}", located.join("; ")));
    } else if result.mismatches > 0 {
        let named: Vec<String> = result
            .first_mismatches
            .iter()
            .take(3)
            .map(|m| match m.offset {
                Some(o) => format!("{}/{} offset {o}: {}", m.topic, m.partition, m.what),
                None => format!(
                    "{}/{}: {} record at scratch offset {}",
                    m.topic,
                    m.partition,
                    m.what,
                    m.restored_offset.unwrap_or(-1)
                ),
            })
            .collect();
        fail(
            result,
            format!(
                "{} of the records read back differ from the backup: {}",
                result.mismatches,
                named.join("; ")
            ),
        );
    } else {
        result.result = VerificationResult::Passed;
        result.message = format!(
            "{} records of {} topics restored in {:.1} s, read back and equal to the backup",
            result.records,
            result.topics.len(),
            result.restore_seconds
        );
    }
}

async fn compare_partition(
    cfg: &DrillConfig,
    storage: &Storage,
    client: &ClientConfig,
    key: Option<EncryptionKey>,
    restore_id: &str,
    source: &PartitionSource,
) -> anyhow::Result<PartitionComparison> {
    let scratch = cfg.scratch_topic(&source.topic.name);
    let mut backup = RecordSource::new(storage.clone(), key, None, source);
    let group = format!("strimzi-backup-{restore_id}");
    let mut restored = ScratchReader::open(client, group, &scratch, source.partition).await?;
    let mut comparison = PartitionComparison::new(&source.topic.name, source.partition);
    loop {
        let b = backup.next().await?;
        let r = restored.next().await?;
        if b.is_none() && r.is_none() {
            break;
        }
        comparison.pair(b.as_ref(), r.as_ref());
    }
    let (b, r) = comparison.stream_digests();
    tracing::info!(
        topic = %source.topic.name, partition = source.partition, records = comparison.compared,
        mismatches = comparison.mismatches, backup_sha256 = %b, restored_sha256 = %r, "partition compared"
    );
    Ok(comparison)
}
