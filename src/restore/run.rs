//! One restore run, start to finish: read the chain, decide every target topic up front, claim
//! and prepare them, write each partition (resuming where an earlier run stopped), then move the
//! consumer groups and record the result ([`RestoreResult`], defined in
//! [`result`](super::result) and re-exported here). Across several workers
//! ([`super::workers`]) worker 0 does the planning and the finishing, and each worker writes its
//! share in between.
//!
//! Its room: every sibling of the restore data plane; none of them imports it back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use super::RestoreConfig;
use super::offsets::{self, GroupSelection};
use super::partition::{PartitionContext, PartitionJob, PartitionOutcome};
use super::repartition::{self, RepartitionJob, Work};
pub use super::result::RestoreResult;
use super::result::{GroupOutcome, TopicAction, TopicOutcome};
use super::source::{self, PartitionSource};
use super::state::ResumeState;
use super::topics::{self, TargetTopic};
use super::worker_result::{self, WorkerLine, WorkerResult, WrittenPartition};
use super::workers::{self, Backoff, Slot};
use super::writer::Writer;
use crate::api::restore::RestoreScope;
use crate::format::manifest::Manifest;
use crate::format::{millis_to_rfc3339, rfc3339};
use crate::refusal::Refusal;

/// How often a running restore prints its progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Progress of a running restore, printed as a JSON line on stdout every few seconds; the
/// operator reads the latest from the pod's log into `status.progress`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Records written by this run so far (this worker's, with several).
    pub records_restored: u64,
    /// Records this run writes in all: with several workers, this worker's share only.
    pub records_expected: u64,
    pub bytes: u64,
    /// Of this run (this worker's share), at most 99.
    pub percent: u32,
    /// With several workers, the records every worker's share together writes: the whole
    /// restore's `recordsExpected`, the same in every worker's line (absent with one worker).
    /// The operator sums the workers' lines into `status.progress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_expected_in_all: Option<u64>,
}

/// The line's shape: `{"progress": {...}}`, told apart from the result line by its key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgressLine {
    pub progress: Progress,
}

/// Names a restore's resume state, so it must be a plain object-name component.
fn check_restore_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !id.starts_with('.');
    anyhow::ensure!(ok, "restoreId `{id}`: use 1-128 letters, digits, `-`, `_` or `.`");
    Ok(())
}

/// The topics to restore with their target names; a mapping that names no backed-up topic or two
/// topics restored under one name are errors.
fn target_topics(
    cfg: &RestoreConfig,
    last: &Manifest,
    sources: &[PartitionSource],
) -> anyhow::Result<Vec<TargetTopic>> {
    let mut problems = Vec::new();
    for (i, m) in cfg.topic_mapping.iter().enumerate() {
        if !last.topics.iter().any(|t| t.name == m.source_topic) {
            problems.push(format!(
                "spec.topicMapping[{i}].sourceTopic: {} is not in backup {}",
                m.source_topic, last.backup_id
            ));
        }
    }
    let mut targets: Vec<TargetTopic> = Vec::new();
    for s in sources {
        if targets.iter().any(|t| t.source == s.topic.name) {
            continue;
        }
        let name = cfg.target_topic(&s.topic.name).to_string();
        let asked = cfg.target_partitions(&s.topic.name);
        if let Some((n, field)) = asked.as_ref().filter(|(n, _)| *n < 1) {
            // The CRD's minimum says so too; a configuration written by hand skips it.
            problems.push(format!("{field}: {n} partitions; use 1 or more (or leave it out)"));
            continue;
        }
        if let Some(other) = targets.iter().find(|t| t.name == name) {
            problems.push(format!(
                "spec.topicMapping: {} and {} would both be restored as {name}: map them to different names",
                other.source, s.topic.name
            ));
            continue;
        }
        targets.push(TargetTopic {
            source: s.topic.name.clone(),
            name,
            partitions: asked.as_ref().map_or(s.topic.partition_count, |(n, _)| *n),
            replication_factor: s.topic.replication_factor,
            configs: s.topic.configs.clone(),
            repartitioned: asked.as_ref().is_some_and(|(n, _)| *n != s.topic.partition_count),
            partitions_field: asked.map(|(_, field)| field),
        });
    }
    anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(targets)
}

/// Reads the high watermarks of every target topic (all partitions in one round of requests).
async fn high_watermarks(
    client: &ClientConfig,
    targets: &[TargetTopic],
) -> anyhow::Result<BTreeMap<String, BTreeMap<i32, i64>>> {
    let all: Vec<(String, i32)> = targets.iter().map(|t| (t.name.clone(), t.partitions)).collect();
    topics::high_watermarks(client, &all).await
}

/// How a worker's run ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The restore is finished (by this worker, or found finished): the whole result.
    Finished(Box<RestoreResult>),
    /// This worker's share is written and stored; worker 0 finishes the restore.
    PartDone(WorkerLine),
}

/// Runs a restore (or, with `restore.dryRun`, works out what it would do and writes nothing).
pub async fn run(cfg: &RestoreConfig) -> anyhow::Result<RestoreResult> {
    match run_worker(cfg, Slot::ALONE).await? {
        Outcome::Finished(result) => Ok(*result),
        Outcome::PartDone(line) => anyhow::bail!("restore {}: a lone worker left its share", line.restore_id),
    }
}

/// Runs worker `slot` of a restore (`--workers`, `--worker-index`; [`super::workers`]): worker 0
/// plans, writes its share and, once every worker stored its result, finishes; the others wait
/// for the plan and write their share. One worker ([`Slot::ALONE`]) is the whole restore, as
/// before workers existed. A dry run is always one worker's.
pub async fn run_worker(cfg: &RestoreConfig, slot: Slot) -> anyhow::Result<Outcome> {
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let dry_run = cfg.restore.dry_run;
    slot.check()?;
    anyhow::ensure!(!(dry_run && slot.index > 0), "a dry run is one worker's: run it as worker 0");
    let slot = if dry_run { Slot::ALONE } else { slot };
    let (shared, planner) = (slot.workers > 1, slot.index == 0);
    anyhow::ensure!(
        !shared || cfg.restore_id.is_some(),
        "a restore in several workers needs its id (--restore-id or restoreId), the same for each"
    );
    let storage = crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    let restore_id =
        cfg.restore_id.clone().unwrap_or_else(|| format!("restore-{}", started.format("%Y%m%d-%H%M%S-%3f")));
    check_restore_id(&restore_id)?;
    // Worker 0 plans; the others wait until it recorded where every target partition starts.
    let early = match (dry_run, planner) {
        (true, _) => None,
        (false, true) => ResumeState::load(&storage, &restore_id).await?,
        (false, false) => Some(
            workers::await_plan(&storage, &restore_id, slot, Backoff::waiting(workers::PLAN_WAIT)).await?,
        ),
    };
    // Every worker restores the backup worker 0 resolved first: a restore of the latest backup
    // stays on it when a newer one lands while the workers start.
    let backup_id = match (&early, shared) {
        (Some(state), true) if cfg.backup_id.is_none() => Some(state.backup_id.clone()),
        _ => cfg.backup_id.clone(),
    };
    // Every manifest at the location, read once, when a point in time (the group offsets
    // captured at or before it) or `allRetained` (older backups of the lineage) needs them.
    let all_retained = cfg.restore.scope == RestoreScope::AllRetained;
    let everything = match cfg.point_in_time.is_some() || all_retained {
        true => Some(crate::catalog::all(&storage).await?),
        false => None,
    };
    let chain = crate::catalog::chain_among(&storage, backup_id.as_deref(), everything.as_deref()).await?;
    let last = chain.last().context("empty backup chain")?.clone();
    // Keys from a Secret or, for backups with wrapped data keys, from the KMS (once each).
    let keys = crate::kms::KeySource::new(cfg.encryption_key_file.as_deref(), cfg.kms.as_ref())?;
    // The masking rules and their key, before anything is read or written.
    let masking = cfg.masking.as_ref().map(super::masking::Masker::new).transpose()?.map(Arc::new);
    let mut key = None;
    for m in &chain {
        key = keys.for_manifest(m).await?.or(key);
    }
    let target = source::target_ms(cfg.point_in_time.as_ref(), &chain)?;
    let filter = cfg.topics.filter("spec.topics").map_err(anyhow::Error::msg)?;
    let mut sources: Vec<PartitionSource> =
        source::partitions(&chain).into_iter().filter(|p| filter.matches(&p.topic.name)).collect();
    if sources.is_empty() {
        let held: Vec<&str> = last.topics.iter().map(|t| t.name.as_str()).collect();
        anyhow::bail!(
            "no topic of backup {} matches spec.topics (the backup holds: {})",
            last.backup_id,
            held.join(", ")
        );
    }
    let targets = target_topics(cfg, &last, &sources)?;
    let selection = GroupSelection::new(cfg.consumer_groups.as_ref()).map_err(anyhow::Error::msg)?;
    let candidates = match (everything, last.self_contained()) {
        (None, _) => Vec::new(),
        (Some(all), true) => all,
        (Some(_), false) => chain.clone(),
    };
    // Older records of the same lineage that other kept backups still hold (a version 1 chain
    // already reaches back through every parent).
    let also = match all_retained && last.self_contained() {
        true => source::extend_retained(&mut sources, &last, &candidates),
        false => Vec::new(),
    };
    let capture = offsets::capture_for(&last, &candidates, target);
    drop(candidates);
    if target.is_some() {
        match &capture.captured_at {
            Some(at) => tracing::info!(backup = ?capture.backup_id, captured_at = %at,
                "point in time: consumer-group offsets as captured at or before it"),
            None => tracing::warn!(
                "point in time: no backup captured consumer-group offsets at or before it; none are restored"
            ),
        }
    }
    let committed = offsets::committed_by_partition(&capture.groups, &selection);
    let client = cfg.kafka.client_config().map_err(anyhow::Error::msg)?;

    let mut state = early.unwrap_or_else(|| ResumeState {
        restore_id: restore_id.clone(),
        backup_id: last.backup_id.clone(),
        ..Default::default()
    });
    anyhow::ensure!(
        state.backup_id == last.backup_id,
        "restore {restore_id} was started for backup {}, not {}: use a new restore id",
        state.backup_id,
        last.backup_id
    );
    if let Some(done) = &state.result {
        tracing::info!(restore = %restore_id, "this restore already completed; reporting its result");
        return Ok(Outcome::Finished(Box::new(done.clone())));
    }
    // Only worker 0 decides and checks the target topics; the others write into what it
    // claimed and prepared.
    let (cluster, actions) = match planner {
        true => {
            let cluster = topics::describe(&client).await?;
            let actions = topics::decide(&targets, &cluster, &cfg.restore, &state.claimed)
                .map_err(|problems| anyhow::anyhow!("{}", problems.join("; ")))?;
            (cluster, actions)
        }
        false => (topics::Cluster::default(), state.claimed.clone()),
    };
    // Records the target would refuse for their size stop the restore before it writes anything
    // (a producer refused mid-way would leave the topic half restored).
    let mut largest: BTreeMap<(String, i32), topics::Largest> = BTreeMap::new();
    for s in sources.iter().filter(|_| planner) {
        let sized = s
            .segments
            .iter()
            .filter(|seg| target.is_none_or(|t| seg.min_timestamp <= t) && seg.last_offset >= s.start_offset);
        if let Some(seg) = sized.max_by_key(|seg| seg.max_record_bytes.unwrap_or(0))
            && let Some(bytes) = seg.max_record_bytes
        {
            largest.insert(
                (cfg.target_topic(&s.topic.name).to_string(), s.partition),
                topics::Largest { bytes, object: seg.object.clone() },
            );
        }
    }
    if planner {
        let too_large = topics::oversized(&client, &targets, &actions, &cluster, &largest).await?;
        anyhow::ensure!(too_large.is_empty(), "{}", too_large.join("; "));
    }
    // The cluster metadata asked for must be in the backup before anything is written.
    let (cluster_metadata, schemas, strimzi_resources) = match planner {
        true => (
            super::metadata::load(cfg, &storage, &last).await?,
            super::schemas::load(cfg, &storage, &last).await?,
            super::strimzi_resources::load(cfg, &storage, &last).await?,
        ),
        false => (None, None, None),
    };
    // Retention, cleanup and `delete` leave the backup alone while this restore reads it: worker
    // 0's lease, released once the restore is finished, and each other worker's own while it
    // reads (worker 0 may be down for minutes, waiting for its retry, while they read on).
    let lease = match (dry_run, planner) {
        (true, _) => None,
        (false, true) => Some(crate::lease::take(&storage, &restore_id, &last.backup_id, &also).await?),
        (false, false) => {
            Some(crate::lease::take_worker(&storage, &restore_id, slot.index, &last.backup_id, &also).await?)
        }
    };
    tracing::info!(
        restore = %restore_id, backup = %last.backup_id, chain = chain.len(), topics = targets.len(),
        partitions = sources.len(), point_in_time = ?target.and_then(millis_to_rfc3339), dry_run,
        resumed = !state.starts.is_empty(), "restore planned"
    );

    // Schemas go in before any record, so every record restored names a registered schema.
    let (schema_registry, schema_ids) = match (&cfg.schema_registry, schemas, dry_run) {
        (Some(target), Some(backup), false) => {
            let (outcome, ids) = super::schemas::apply(target, &backup).await?;
            // The other workers rewrite with the same ids (saved with the claim, below).
            state.schema_ids = ids.0.clone();
            (Some(outcome), (!ids.is_empty()).then(|| Arc::new(ids)))
        }
        _ if !planner && !state.schema_ids.is_empty() => {
            (None, Some(Arc::new(crate::schema_registry::rewrite::IdMap(state.schema_ids.clone()))))
        }
        _ => (None, None),
    };
    // Partitions (or repartitioned topics) restored at once; the producer's queue follows them.
    let parallelism = usize::try_from(cfg.restore.parallelism).unwrap_or(1).max(1);
    // A worker retried after storing its result writes nothing again.
    let stored = match shared {
        true => worker_result::read(&storage, &restore_id, slot.index).await?,
        false => None,
    };
    // Fences every earlier attempt of this restore (of this worker) before anything is read back
    // or written.
    let writer = match dry_run || stored.is_some() {
        true => None,
        false => Some(
            Writer::start(&client, &restore_id, slot, crate::budget::restore_queue_bytes(parallelism))
                .await?,
        ),
    };
    let resumed = !state.starts.is_empty();
    let (starts, now) = if dry_run {
        // Created topics start at 0; appended and overwritten ones at their current end.
        let existing: Vec<(String, i32)> = targets
            .iter()
            .filter(|t| !matches!(actions.get(&t.name), Some(TopicAction::Create) | None))
            .map(|t| (t.name.clone(), t.partitions))
            .collect();
        let mut hw = topics::high_watermarks(&client, &existing).await?;
        for t in &targets {
            if matches!(actions.get(&t.name), Some(TopicAction::Create) | None) {
                hw.insert(t.name.clone(), (0..t.partitions).map(|p| (p, 0)).collect());
            }
        }
        (hw.clone(), hw)
    } else if state.starts.is_empty() {
        if cfg.snapshot_offsets && state.snapshot.is_none() {
            state.snapshot = Some(snapshot(&client, &capture.groups, &selection, &targets).await?);
        }
        // Claim first, so a crash while preparing leaves topics this restore can recognise.
        state.claimed = actions.clone();
        state.save(&storage).await?;
        topics::prepare(&client, &targets, &actions, &cluster).await?;
        state.starts = high_watermarks(&client, &targets).await?;
        state.save(&storage).await?;
        (state.starts.clone(), state.starts.clone())
    } else {
        (state.starts.clone(), high_watermarks(&client, &targets).await?)
    };

    let compacted = match resumed && !dry_run {
        true => topics::compacted(&client, &targets, &actions).await?,
        false => Default::default(),
    };
    let plan_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(restore = %restore_id, plan_ms, "target topics ready; restoring records");
    let ctx = Arc::new(PartitionContext {
        storage: storage.clone(),
        key,
        target,
        writer: writer.clone(),
        client: client.clone(),
        restore_id: restore_id.clone(),
        schema_ids,
        masking: masking.clone(),
        records: Arc::new(AtomicU64::new(0)),
        bytes: Arc::new(AtomicU64::new(0)),
    });
    let recorded_start = |target_topic: &str, partition: i32| -> anyhow::Result<i64> {
        let start = starts.get(target_topic).and_then(|m| m.get(&partition)).copied();
        let current = now.get(target_topic).and_then(|m| m.get(&partition)).copied();
        let (Some(start), Some(current)) = (start, current) else {
            anyhow::bail!("{target_topic}/{partition}: no recorded start; the restore state is damaged");
        };
        if current < start {
            return Err(Refusal::target_changed(format!(
                "{target_topic}/{partition}: its end offset went back from {start} to {current} since this \
                 restore started (the topic was deleted or emptied): restore again under a new KafkaRestore"
            ))
            .into());
        }
        Ok(start)
    };
    // Topics restored into another partition count: one task each, over all its partitions.
    let mut jobs = Vec::new();
    let mut moved_groups = Vec::new();
    for t in targets.iter().filter(|t| t.repartitioned) {
        let starts = (0..t.partitions).map(|p| recorded_start(&t.name, p)).collect::<anyhow::Result<_>>()?;
        let selected = capture.groups.iter().filter(|g| selection.target(&g.group).is_some());
        let groups = repartition::starts_for(selected, &t.source);
        moved_groups.push((t.source.clone(), groups.clone()));
        jobs.push(Work::Topic(RepartitionJob {
            sources: sources.iter().filter(|s| s.topic.name == t.source).cloned().collect(),
            target_topic: t.name.clone(),
            partitions: t.partitions,
            starts,
            resumed,
            compacted: compacted.contains(&t.name),
            groups,
        }));
    }
    let repartitioned = |source: &str| moved_groups.iter().any(|(s, _)| s == source);
    for s in sources.iter().filter(|s| !repartitioned(&s.topic.name)) {
        let target_topic = cfg.target_topic(&s.topic.name).to_string();
        let start = recorded_start(&target_topic, s.partition)?;
        jobs.push(Work::Partition(PartitionJob {
            source: s.clone(),
            compacted: compacted.contains(&target_topic),
            target_topic,
            start,
            resumed,
            committed: committed.get(&(s.topic.name.clone(), s.partition)).cloned().unwrap_or_default(),
        }));
    }
    // What the records of `jobs` add up to (the segments a point in time reaches).
    let expected_of = |jobs: &[Work]| -> u64 {
        jobs.iter()
            .flat_map(|job| match job {
                Work::Partition(p) => std::slice::from_ref(&p.source),
                Work::Topic(t) => t.sources.as_slice(),
            })
            .flat_map(|s| &s.segments)
            .filter(|seg| target.is_none_or(|t| seg.min_timestamp <= t))
            .map(|seg| seg.records)
            .sum()
    };
    let expected_in_all = shared.then(|| expected_of(&jobs));
    // Across workers: this worker's units only (a repartitioned topic is one unit).
    let jobs: Vec<Work> = match shared {
        true => {
            let units: Vec<_> = jobs.iter().map(workers::unit).collect();
            let mine = workers::share(&units, slot);
            tracing::info!(restore = %restore_id, worker = slot.index, workers = slot.workers, units = mine.len(), "this worker's share");
            jobs.into_iter()
                .enumerate()
                .filter(|(i, _)| mine.binary_search(i).is_ok())
                .map(|(_, j)| j)
                .collect()
        }
        false => jobs,
    };
    let expected = Expected { share: expected_of(&jobs), in_all: expected_in_all };
    let (outcomes, mine) = match stored {
        Some(done) => {
            tracing::info!(restore = %restore_id, worker = slot.index, "this worker's share is already written");
            let summary = done.summary(planner);
            (done.into_outcomes(), Some(summary))
        }
        None => {
            let outcomes = write_share(&ctx, jobs, parallelism, expected, writer.as_ref()).await?;
            if !dry_run {
                confirm_ends(&client, &outcomes, |t| cfg.target_topic(t).to_string()).await?;
            }
            match shared {
                true => {
                    let result = WorkerResult {
                        result_version: worker_result::RESULT_VERSION,
                        restore_id: restore_id.clone(),
                        backup_id: last.backup_id.clone(),
                        index: slot.index,
                        workers: slot.workers,
                        outcomes: outcomes
                            .iter()
                            .map(|(t, p, o)| WrittenPartition {
                                source_topic: t.clone(),
                                partition: *p,
                                outcome: o.clone(),
                            })
                            .collect(),
                    };
                    worker_result::write(&storage, &result).await?;
                    (outcomes, Some(result.summary(planner)))
                }
                false => (outcomes, None),
            }
        }
    };
    if !planner {
        let worker = mine.context("a worker's share without its result")?;
        tracing::info!(restore = %restore_id, worker = slot.index, records = worker.records, "this worker's share is written; worker 0 finishes the restore");
        if let Some(lease) = lease {
            lease.release().await;
        }
        return Ok(Outcome::PartDone(WorkerLine { restore_id, backup_id: last.backup_id.clone(), worker }));
    }
    // Worker 0 finishes only once every worker's share is written: until then no consumer
    // group moves and no retention changes.
    let mut outcomes = outcomes;
    if shared {
        let others =
            workers::await_results(&storage, &restore_id, slot, Backoff::waiting(workers::RESULTS_WAIT))
                .await?;
        outcomes.extend(others.into_iter().flat_map(WorkerResult::into_outcomes));
    }
    let mut retention_adjusted = Vec::new();
    if !dry_run {
        let mut oldest: BTreeMap<String, i64> = BTreeMap::new();
        for (source, _, o) in &outcomes {
            if let Some(ts) = o.oldest_timestamp {
                let e = oldest.entry(cfg.target_topic(source).to_string()).or_insert(ts);
                *e = (*e).min(ts);
            }
        }
        retention_adjusted =
            topics::finish(&client, &targets, &actions, &cluster, &oldest, Utc::now().timestamp_millis())
                .await?;
    }
    let translated: HashMap<(String, i32), BTreeMap<i64, i64>> = outcomes
        .iter()
        .filter(|(t, _, _)| !repartitioned(t))
        .map(|(t, p, o)| {
            let mut translated = o.translated.clone();
            translated.extend(o.at_end.iter().map(|c| (*c, o.end)));
            ((t.clone(), *p), translated)
        })
        .collect();
    let mut groups = Vec::new();
    let mut moved = offsets::Moved::new();
    for (source, groups) in &moved_groups {
        let mut on: Vec<(i32, &PartitionOutcome)> =
            outcomes.iter().filter(|(t, _, _)| t == source).map(|(_, p, o)| (*p, o)).collect();
        on.sort_by_key(|(p, _)| *p);
        let on: Vec<&PartitionOutcome> = on.into_iter().map(|(_, o)| o).collect();
        for (group, offsets) in repartition::group_offsets(groups, &on) {
            let metadata = groups.iter().find(|g| g.group == group).and_then(|g| g.metadata.clone());
            moved.insert((group, source.clone()), (offsets, metadata));
        }
    }
    let target_topic = |t: &str| cfg.target_topic(t).to_string();
    for plan in offsets::plan(&capture.groups, &selection, &translated, &moved, target_topic) {
        let reason = if dry_run {
            Some("dry run".to_string())
        } else {
            crate::groups::busy(&client, &plan.target_group).await?
        };
        if reason.is_none() {
            crate::groups::commit(&client, &plan.target_group, &plan.offsets).await?;
            tracing::info!(group = %plan.group, target = %plan.target_group, partitions = plan.offsets.len(), "restored consumer-group offsets");
        } else if !dry_run {
            tracing::warn!(group = %plan.target_group, reason = ?reason, "consumer-group offsets not restored");
        }
        groups.push(GroupOutcome {
            group: plan.group,
            target_group: plan.target_group,
            offsets: plan.offsets,
            committed: reason.is_none(),
            reason,
        });
    }

    let metadata = match cluster_metadata {
        Some(m) => Some(super::metadata::apply(cfg, &client, m, dry_run).await?),
        None => None,
    };

    let topic_outcomes: Vec<TopicOutcome> = targets
        .iter()
        .map(|t| {
            let action = actions.get(&t.name).copied().unwrap_or(TopicAction::Append);
            let created = action == TopicAction::Create;
            let raised = retention_adjusted.iter().find(|a| a.topic == t.name).map(|a| a.applied_ms);
            TopicOutcome {
                source: t.source.clone(),
                target: t.name.clone(),
                action,
                partitions: t.partitions,
                records: outcomes.iter().filter(|(s, _, _)| *s == t.source).map(|(_, _, o)| o.records).sum(),
                bytes: outcomes.iter().filter(|(s, _, _)| *s == t.source).map(|(_, _, o)| o.bytes).sum(),
                replication_factor: created.then(|| t.replication_on(&cluster)),
                configs: match created {
                    true => topics::final_configs(t, &cluster, raised),
                    false => Default::default(),
                },
            }
        })
        .collect();
    let result = RestoreResult {
        restore_id,
        backup_id: last.backup_id.clone(),
        dry_run,
        start_time: rfc3339(started),
        completion_time: rfc3339(Utc::now()),
        restored_topics: targets.len() as u32,
        restored_partitions: outcomes.len() as u32,
        restored_records: outcomes.iter().map(|(_, _, o)| o.records).sum(),
        restored_bytes: outcomes.iter().map(|(_, _, o)| o.bytes).sum(),
        point_in_time_target: target.and_then(millis_to_rfc3339),
        actual_point_in_time: outcomes
            .iter()
            .filter_map(|(_, _, o)| o.newest_timestamp)
            .max()
            .and_then(millis_to_rfc3339),
        consumer_groups_restored: groups.iter().filter(|g| g.committed).count() as u32,
        consumer_groups_captured_at: capture.captured_at.clone(),
        retention_adjusted,
        consumer_groups_backup_id: capture.backup_id.clone(),
        topics: topic_outcomes,
        consumer_groups: groups,
        offset_snapshot: state.snapshot.clone(),
        metadata,
        schema_registry,
        strimzi_resources,
        masking: masking.as_ref().map(|m| m.report()),
        plan_ms: Some(plan_ms),
        worker: mine,
    };
    if let Some(report) = &result.masking {
        tracing::info!(masked = report.masked, skipped = report.skipped, passed = report.passed, "masking");
    }
    if !dry_run {
        state.result = Some(result.clone());
        state.save(&storage).await?;
    }
    if let Some(lease) = lease {
        lease.release().await;
    }
    Ok(Outcome::Finished(Box::new(result)))
}

/// The records a run expects to write: its own, and with several workers every worker's.
#[derive(Clone, Copy, Debug)]
struct Expected {
    share: u64,
    in_all: Option<u64>,
}

/// Prints one progress line: `done` records and `bytes` written of `expected`.
fn print_progress(done: u64, bytes: u64, expected: Expected) {
    let line = ProgressLine {
        progress: Progress {
            records_restored: done,
            records_expected: expected.share,
            bytes,
            percent: (done * 100).checked_div(expected.share).unwrap_or(0).min(99) as u32,
            records_expected_in_all: expected.in_all,
        },
    };
    if let Ok(json) = serde_json::to_string(&line) {
        println!("{json}");
    }
}

/// Writes `jobs`, `parallelism` at a time, printing progress every few seconds and once more
/// when all is written (a worker then waits, and its last line is what it wrote); with a writer,
/// commits the last transaction (everything becomes visible at once) or, on a failure, aborts
/// the open one (a rerun proves and keeps what earlier commits made visible).
async fn write_share(
    ctx: &Arc<PartitionContext>,
    jobs: Vec<Work>,
    parallelism: usize,
    expected: Expected,
    writer: Option<&Arc<Writer>>,
) -> anyhow::Result<Vec<(String, i32, PartitionOutcome)>> {
    let progress = tokio::spawn({
        let (records, bytes) = (ctx.records.clone(), ctx.bytes.clone());
        async move {
            let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
            loop {
                tick.tick().await;
                print_progress(records.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed), expected);
            }
        }
    });
    let committer = writer.as_ref().map(|w| w.commit_periodically());
    let outcomes: anyhow::Result<Vec<(String, i32, PartitionOutcome)>> = futures::stream::iter(jobs)
        .map(|job| {
            // Each partition (or repartitioned topic) is its own task: reading and decompressing
            // use every core.
            let ctx = Arc::clone(ctx);
            tokio::spawn(async move { job.run(&ctx).await })
        })
        .buffer_unordered(parallelism)
        .map(|joined| joined.map_err(anyhow::Error::from).and_then(|r| r))
        .try_collect::<Vec<_>>()
        .await
        .map(|per_job| per_job.into_iter().flatten().collect());
    progress.abort();
    // Everything written becomes visible at once with the last commit; on a failure the open
    // transaction is aborted, and a rerun proves and keeps what earlier commits made visible.
    let outcomes = match (outcomes, writer, committer) {
        (Ok(outcomes), Some(writer), Some(committer)) => {
            writer.finish(committer).await?;
            outcomes
        }
        (Err(e), Some(writer), Some(committer)) => {
            writer.abandon(committer).await;
            return Err(e);
        }
        (outcomes, _, _) => outcomes?,
    };
    print_progress(ctx.records.load(Ordering::Relaxed), ctx.bytes.load(Ordering::Relaxed), expected);
    Ok(outcomes)
}

/// How long the markers of the last commit may take to reach the target partitions.
const MARKERS_WAIT: Duration = Duration::from_secs(30);

/// Checks, once the last transaction is committed, that every target partition ends right after
/// the restore's last record and its commit marker: a record beyond was written by someone else
/// while the restore ran, and the restore is refused rather than reported complete.
async fn confirm_ends(
    client: &ClientConfig,
    outcomes: &[(String, i32, PartitionOutcome)],
    target_topic: impl Fn(&str) -> String,
) -> anyhow::Result<()> {
    let probe: crate::kafka::Reader =
        client.create_with_context(crate::kafka::DataPlaneContext).context("creating the Kafka client")?;
    let probe = Arc::new(probe);
    for (source, partition, outcome) in outcomes {
        let topic = target_topic(source);
        let deadline = tokio::time::Instant::now() + MARKERS_WAIT;
        loop {
            let (p, t, part) = (probe.clone(), topic.clone(), *partition);
            let (_, high) = tokio::task::spawn_blocking(move || {
                use rdkafka::consumer::Consumer;
                p.fetch_watermarks(&t, part, Duration::from_secs(10))
            })
            .await?
            .with_context(|| format!("reading the end of {topic}/{partition}"))?;
            if high == outcome.end {
                break;
            }
            if high > outcome.end {
                return Err(Refusal::target_changed(format!(
                    "{topic}/{partition}: offsets {} to {} hold records this restore did not write, after its \
                     own (which end at offset {}); something else wrote to the target partition while the \
                     restore ran. Restore again under a new KafkaRestore once nothing else writes to it",
                    outcome.end,
                    high - 1,
                    outcome.end - 1
                ))
                .into());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{topic}/{partition}: the end stays at offset {high} below {} for {} s after the commit \
                 (the transaction's marker never arrived); run the restore again",
                outcome.end,
                MARKERS_WAIT.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// The committed offsets, on the target topics, of every group the restore will commit for:
/// what a `to-snapshot` reset returns them to.
async fn snapshot(
    client: &ClientConfig,
    backed_up: &[crate::format::manifest::GroupEntry],
    selection: &GroupSelection,
    targets: &[TargetTopic],
) -> anyhow::Result<crate::offset_reset::Snapshot> {
    let partitions: Vec<(String, i32)> =
        targets.iter().flat_map(|t| (0..t.partitions).map(|p| (t.name.clone(), p))).collect();
    let mut groups: Vec<String> = backed_up.iter().filter_map(|g| selection.target(&g.group)).collect();
    groups.sort();
    groups.dedup();
    let mut snapshot = crate::offset_reset::Snapshot::default();
    for group in groups {
        let offsets = crate::groups::committed(client, &group, &partitions).await?;
        tracing::info!(group = %group, partitions = offsets.len(), "offsets snapshot taken before restoring");
        snapshot.groups.push(crate::format::manifest::GroupEntry { group, offsets });
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    #[test]
    fn restore_ids_are_object_name_safe() {
        assert!(super::check_restore_id("6f1c2a4e-kr-orders_1.2").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "spaces here"] {
            assert!(super::check_restore_id(bad).is_err(), "{bad}");
        }
    }
}
