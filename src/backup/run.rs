//! One backup run from start to commit.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::format::codec::Codec;
use crate::format::data_keys::backup_of_segment;
use crate::format::manifest::{GapReason, LineageBreakReason, Manifest, Written};
use crate::format::{millis_to_rfc3339, rfc3339};

use super::BackupConfig;
use super::partition::PartitionContext;
use super::plan::{PartitionPlan, make_plan};
use super::shared_plan::{self, SharedPlan};
use super::worker_result::{self, ReadPartition, WorkerLine, WorkerResult, WorkerSummary};
use super::{commit, keys, workers};

/// What a finished backup reports (stdout and the termination message): what the operator puts
/// into `status.lastBackup`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupResult {
    pub backup_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub location: String,
    pub started_at: String,
    pub completed_at: String,
    pub size_bytes: u64,
    pub raw_bytes: u64,
    pub records: u64,
    pub topics: u32,
    pub partitions: u32,
    pub consumer_groups: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_timestamp: Option<String>,
    /// Partitions that could not continue the backup before and were read in full from their
    /// log start, with the reason (a topic recreated, another cluster, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lineage_breaks: Vec<LineageBreakLine>,
    /// Topics deleted while this backup read them (their partitions end in a `TopicDeleted` gap).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics_deleted: Vec<String>,
    /// What the location holds after this backup and its pruning (absent if it could not be
    /// read; the backup itself is committed regardless).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<crate::retention::Inventory>,
    /// The cluster metadata stored with the backup: ACLs, quotas and SCRAM users held, users
    /// per SCRAM mechanism, and the parts not captured with why (absent: not asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_metadata: Option<crate::format::metadata::MetadataRef>,
    /// The Schema Registry stored with the backup: subjects, versions, schema ids, soft-deleted
    /// versions, versions per type, settings not captured (absent: no registry configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<crate::format::schemas::SchemasRef>,
    /// The Strimzi resources stored with the backup: how many `KafkaTopic`s and `KafkaUser`s
    /// (absent: `backup.strimziResources` off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strimzi_resources: Option<crate::format::strimzi_resources::StrimziResourcesRef>,
    /// Milliseconds from the start of the run until its plan was made and the location claimed,
    /// before the first record is read: what a large partition count costs up front (`make
    /// bench` reports it). Absent when an earlier attempt's committed backup is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_ms: Option<u64>,
    /// This worker's share, when the backup ran in several (absent with one worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerSummary>,
}

impl BackupResult {
    /// The result small enough for a termination message (Kubernetes keeps 4 KiB): at most the
    /// first ten lineage breaks (the log has them all).
    pub fn summary(&self) -> Self {
        let inventory = self.inventory.clone().map(|mut i| {
            i.restore_points = i.restore_points.map(|r| r.summary());
            i
        });
        Self {
            lineage_breaks: self.lineage_breaks.iter().take(10).cloned().collect(),
            inventory,
            ..self.clone()
        }
    }
}

/// One partition that started a new lineage, as the result reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineageBreakLine {
    pub topic: String,
    pub partition: i32,
    pub reason: LineageBreakReason,
    pub message: String,
}

/// The id of a backup run without `--backup-id`: its start time to the millisecond, so ids sort
/// by time, and a random tag, so two runs started in the same millisecond (two CLI runs, a
/// script in a loop) still get ids of their own instead of the second failing at its commit.
fn default_id(started: chrono::DateTime<Utc>) -> anyhow::Result<String> {
    let mut tag = [0u8; 3];
    getrandom::fill(&mut tag).map_err(|e| anyhow::anyhow!("no randomness for a backup id: {e}"))?;
    Ok(format!("backup-{}-{}", started.format("%Y%m%d-%H%M%S-%3f"), hex::encode(tag)))
}

/// Which worker of how many a run is (`--workers`, `--worker-index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub index: u32,
    pub workers: u32,
}

impl Slot {
    /// A backup in one worker: what every run was before workers existed.
    pub const ALONE: Self = Self { index: 0, workers: 1 };

    /// `--workers` at least 1 and `--worker-index` below it (a backup's or a restore's).
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.workers >= 1, "--workers must be at least 1");
        anyhow::ensure!(
            self.index < self.workers,
            "--worker-index {} is not below --workers {}",
            self.index,
            self.workers
        );
        Ok(())
    }
}

/// How a worker's run ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The backup is committed (by this worker, or found committed): the whole result.
    Committed(Box<BackupResult>),
    /// This worker's part is stored; others are still reading, the last one commits.
    PartDone(WorkerLine),
}

/// Runs a backup in one worker; the backup exists once this returns `Ok`.
pub async fn run(cfg: &BackupConfig) -> anyhow::Result<BackupResult> {
    match run_worker(cfg, Slot::ALONE).await? {
        Outcome::Committed(result) => Ok(*result),
        Outcome::PartDone(line) => anyhow::bail!("backup {} was not committed", line.backup_id),
    }
}

/// Runs worker `slot` of a backup. With one worker it plans, reads every partition and commits,
/// writing nothing but segments, side objects and the manifest. With several, all run the same
/// config and backup id: they share one plan (`plan.json`), each reads its share and stores its
/// result (`workers/<index>.json`), and whichever finds every result present commits.
pub async fn run_worker(cfg: &BackupConfig, slot: Slot) -> anyhow::Result<Outcome> {
    slot.check()?;
    let shared = slot.workers > 1;
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let backup_id = match (&cfg.backup_id, shared) {
        (Some(id), _) => id.clone(),
        (None, false) => default_id(started)?,
        (None, true) => {
            anyhow::bail!("a backup in several workers needs its id (--backup-id), the same for each")
        }
    };
    let storage = crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    let orphan_grace = crate::api::duration::parse_millis(&cfg.orphan_grace_period)
        .map_err(|e| anyhow::anyhow!("orphanGracePeriod: {e}"))?;
    let stall_timeout = crate::api::duration::parse_millis(&cfg.backup.stall_timeout)
        .ok()
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
        .with_context(|| {
            format!("backup.stallTimeout `{}`: write a duration such as 5m", cfg.backup.stall_timeout)
        })?;
    let client = cfg.kafka.client_config().map_err(anyhow::Error::msg)?;
    let codec = Codec::new(cfg.backup.compression, cfg.backup.compression_level);
    let manifest_path = object_store::path::Path::from(storage.layout.manifest(&backup_id));
    if storage.store.head(&manifest_path).await.is_ok() {
        // This worker's own part is in it when its result is there (a worker killed after
        // storing it, retried once another committed).
        let mine = match shared {
            true => worker_result::read(&storage, &backup_id, slot.index).await?,
            false => None,
        };
        let earlier = committed_by_an_earlier_attempt(cfg, &storage, &backup_id).await?;
        let manifest = match (earlier, &mine) {
            (Some(manifest), _) => Some(manifest),
            (None, Some(_)) => Some(crate::catalog::manifest(&storage, &backup_id).await?),
            (None, None) => None,
        };
        if let Some(manifest) = manifest {
            tracing::info!(backup = %backup_id, "an earlier attempt of this run committed the backup: reporting it");
            let worker = mine.map(|r| r.summary(true));
            return Ok(Outcome::Committed(Box::new(BackupResult {
                worker,
                ..result_of(&manifest, storage.location.clone(), None)
            })));
        }
        anyhow::bail!("backup {backup_id} already exists in {}: ids are never reused", storage.location);
    }

    let owner = cfg.owner.clone().unwrap_or_else(crate::location::Owner::cli);
    let published = match shared {
        true => shared_plan::read(&storage, &backup_id).await?,
        false => None,
    };
    let (plan, keys, admin) = match published {
        Some(plan) => {
            plan.check_joinable(slot.workers, codec.name(), keys::configured_key_id(cfg)?.as_deref())?;
            crate::location::claim(&storage, &owner, plan.cluster_id.as_deref(), cfg.take_over_location)
                .await?;
            let keys = keys::of_plan(cfg, &plan).await?;
            (plan, keys, admin_client(&client)?)
        }
        None => {
            let keys = keys::fresh(cfg, &backup_id).await?;
            let made =
                make_plan(cfg, &client, &storage, &backup_id, keys.planned.encryption_key_id.as_deref())
                    .await?;
            // Nothing is written before the location is known to be ours.
            crate::location::claim(&storage, &owner, made.cluster_id.as_deref(), cfg.take_over_location)
                .await?;
            let mine = SharedPlan::new(
                &made,
                &backup_id,
                rfc3339(started),
                (slot.workers, slot.index),
                codec.name(),
                keys.planned.clone(),
            );
            if !shared {
                (mine, keys, made.admin)
            } else {
                let (plan, won) = shared_plan::publish(&storage, mine).await?;
                if won {
                    (plan, keys, made.admin)
                } else {
                    tracing::info!(backup = %backup_id, planned_by = plan.planned_by, "another worker planned the backup first: reading its cut");
                    plan.check_joinable(
                        slot.workers,
                        codec.name(),
                        keys::configured_key_id(cfg)?.as_deref(),
                    )?;
                    let keys = keys::of_plan(cfg, &plan).await?;
                    (plan, keys, made.admin)
                }
            }
        }
    };
    let plan_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let share: Vec<PartitionPlan> = match shared {
        true => workers::share(&plan.partitions, slot.workers, slot.index)
            .into_iter()
            .map(|i| plan.partitions[i].clone())
            .collect(),
        false => plan.partitions.clone(),
    };
    tracing::info!(
        backup = %backup_id, topics = plan.topics.len(), partitions = plan.partitions.len(), plan_ms,
        groups = plan.consumer_groups.len(), parent = ?plan.parent_id, location = %storage.location,
        "backup planned"
    );
    if shared {
        tracing::info!(backup = %backup_id, worker = slot.index, workers = slot.workers, partitions = share.len(), "this worker's share");
    }

    let stored = match shared {
        true => worker_result::read(&storage, &backup_id, slot.index).await?,
        false => None,
    };
    let mine = match stored {
        Some(result) => {
            tracing::info!(backup = %backup_id, worker = slot.index, "this worker's part is already stored: nothing to read again");
            result
        }
        None => {
            // Written before the manifest that names it, so a committed backup always has it
            // whole: by the worker that made the plan, before its result.
            let (cluster_metadata, schema_registry, strimzi_resources) = if slot.index == plan.planned_by {
                (
                    super::metadata::capture(
                        cfg,
                        admin.clone(),
                        &storage,
                        &backup_id,
                        plan.started_at.clone(),
                    )
                    .await?,
                    super::schemas::capture(cfg, &storage, &backup_id, plan.started_at.clone()).await?,
                    super::strimzi_resources::store(cfg, &storage, &backup_id).await?,
                )
            } else {
                (None, None, None)
            };
            let ctx = PartitionContext {
                client: client.clone(),
                storage: storage.clone(),
                backup_id: backup_id.clone(),
                codec,
                key: keys.key.clone(),
                segment_bytes: u64::try_from(cfg.backup.segment_size).unwrap_or(256 << 20),
                stall_timeout,
                admin: admin.clone(),
                records: Arc::new(AtomicU64::new(0)),
                bytes: Arc::new(AtomicU64::new(0)),
                read_keys: Arc::new(super::merge::ReadKeys::new(
                    keys.key.clone(),
                    &backup_id,
                    plan.data_key.as_ref().map(|_| (plan.parent_data_keys.clone(), cfg.kms.clone())),
                )),
                merged: Arc::default(),
            };
            let parallelism = usize::try_from(cfg.backup.parallelism).unwrap_or(1).max(1);
            let mut entries = super::share::read(&ctx, share, parallelism).await?;
            let merged = ctx.merged.get();
            if merged.segments_in > 0 {
                tracing::info!(
                    backup = %backup_id, partitions = merged.partitions, segments_in = merged.segments_in,
                    segments_out = merged.segments_out, raw_bytes = merged.raw_bytes, stored_bytes = merged.stored_bytes,
                    "merged small segments of the partitions' lineages"
                );
            }
            let own = format!("{}{backup_id}/", storage.layout.backups_dir());
            super::share::replaced_during_the_read(&plan.topics, admin.clone(), &client, &mut entries)
                .await?;
            let mut written = Written::default();
            for s in entries.iter().flat_map(|(_, e)| &e.segments).filter(|s| s.object.starts_with(&own)) {
                written.records += s.records;
                written.raw_bytes += s.raw_bytes;
                written.stored_bytes += s.stored_bytes;
                written.segments += 1;
            }
            let result = WorkerResult {
                result_version: worker_result::RESULT_VERSION,
                backup_id: backup_id.clone(),
                index: slot.index,
                workers: slot.workers,
                completed_at: rfc3339(Utc::now()),
                partitions: entries
                    .into_iter()
                    .map(|(topic, entry)| ReadPartition { topic, entry })
                    .collect(),
                written,
                cluster_metadata,
                schema_registry,
                strimzi_resources,
            };
            if shared {
                worker_result::write(&storage, &result).await?;
            }
            result
        }
    };

    let results = match shared {
        false => vec![mine.clone()],
        true => {
            let present = worker_result::present(&storage, &backup_id).await?;
            if present.len() < slot.workers as usize {
                tracing::info!(backup = %backup_id, worker = slot.index, results = present.len(), workers = slot.workers,
                    "this worker's part is stored; the backup is committed by the worker that stores the last part");
                return Ok(Outcome::PartDone(WorkerLine { backup_id, worker: mine.summary(false) }));
            }
            let mut all = Vec::with_capacity(present.len());
            for index in 0..slot.workers {
                let result = match index == slot.index {
                    true => Some(mine.clone()),
                    false => worker_result::read(&storage, &backup_id, index).await?,
                };
                all.push(
                    result.with_context(|| {
                        format!("backup {backup_id}: the result of worker {index} is gone")
                    })?,
                );
            }
            all
        }
    };
    let manifest = commit::manifest(&plan, &results, &storage.layout.backups_dir())?;
    // A continuous backup's run first claims the place of its parent's one child
    // (super::fence): a lost claim commits nothing.
    if cfg.fence_lineage {
        let parent = manifest.parent_id.as_deref();
        super::fence::claim_child(&storage, parent, &backup_id).await?.still_fresh(parent)?;
    }
    commit::commit(&storage, &manifest).await?;
    let inventory = housekeeping(cfg, &storage, orphan_grace).await;
    let worker = shared.then(|| mine.summary(true));
    Ok(Outcome::Committed(Box::new(BackupResult {
        plan_ms: Some(plan_ms),
        worker,
        ..result_of(&manifest, storage.location, inventory)
    })))
}

/// A new admin client, for a worker that did not plan (the planner reuses the plan's).
fn admin_client(client: &rdkafka::ClientConfig) -> anyhow::Result<Arc<crate::kafka::Admin>> {
    let admin: crate::kafka::Admin = client
        .create_with_context(crate::kafka::DataPlaneContext)
        .context("creating the Kafka admin client")?;
    Ok(Arc::new(admin))
}

/// Housekeeping after the commit, on one read of the location: a failure here never fails
/// the backup. Returns what the location holds after it (`None` when it could not be read).
async fn housekeeping(
    cfg: &BackupConfig,
    storage: &crate::storage::Storage,
    orphan_grace: i64,
) -> Option<crate::retention::Inventory> {
    let policy = cfg.retention.as_ref().filter(|r| r.prune_on_schedule);
    let protected = cfg.protected_backups.iter().cloned().collect();
    let work = async {
        // A fresh listing (what another writer committed or pruned since the plan counts),
        // through the run's manifest cache: a continuous iteration GETs only what it had not
        // read, its own manifest and any other new or rewritten one.
        let scan = cfg.manifests.scan(storage).await?;
        let grace = chrono::Duration::milliseconds(orphan_grace);
        if let Err(e) = crate::catalog::remove_orphans_in(storage, &scan, grace).await {
            tracing::warn!(error = %format!("{e:#}"), "could not clean up unfinished backups; the next backup retries");
        }
        let mut inventory = crate::retention::prune(storage, &scan, policy, &protected, Utc::now()).await?;
        if let Some(known) = &cfg.known_restore_points {
            let owner = cfg.owner.as_ref().filter(|o| o.kind == "KafkaBackup").map(crate::sync::owner_text);
            inventory.restore_points =
                Some(crate::sync::from_scan(&storage.location, &scan, &inventory.pruned, known, owner));
        }
        anyhow::Ok(inventory)
    };
    match work.await {
        Ok(inventory) => Some(inventory),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "could not prune old backups; the next backup retries");
            None
        }
    }
}

/// The run's result as its manifest records it: what this run wrote (`written`; a version 1
/// manifest has no such part and reports its totals), lineage breaks, topics deleted.
fn result_of(
    manifest: &Manifest,
    location: String,
    inventory: Option<crate::retention::Inventory>,
) -> BackupResult {
    let topics = &manifest.topics;
    let lineage_breaks: Vec<LineageBreakLine> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t, p)))
        .filter_map(|(t, p)| {
            p.lineage_break.as_ref().map(|b| LineageBreakLine {
                topic: t.name.clone(),
                partition: p.partition,
                reason: b.reason,
                message: b.message.clone(),
            })
        })
        .collect();
    let mut topics_deleted: Vec<String> = topics
        .iter()
        .filter(|t| t.partitions.iter().any(|p| p.gaps.iter().any(|g| g.reason == GapReason::TopicDeleted)))
        .map(|t| t.name.clone())
        .collect();
    topics_deleted.dedup();
    let totals = &manifest.totals;
    let (records, raw_bytes, stored_bytes) = match &manifest.written {
        Some(w) => {
            // What it merged (its own segments below where it read on) was read by earlier
            // backups: the run reports the records it read, as before merging existed.
            let merged = manifest
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .flat_map(|p| {
                    p.segments.iter().filter(move |s| p.read_from.is_some_and(|r| s.last_offset < r))
                })
                .filter(|s| backup_of_segment(&s.object) == Some(manifest.backup_id.as_str()));
            let (mut records, mut raw, mut stored) = (w.records, w.raw_bytes, w.stored_bytes);
            for s in merged {
                records = records.saturating_sub(s.records);
                raw = raw.saturating_sub(s.raw_bytes);
                stored = stored.saturating_sub(s.stored_bytes);
            }
            (records, raw, stored)
        }
        None => (totals.records, totals.raw_bytes, totals.stored_bytes),
    };
    BackupResult {
        backup_id: manifest.backup_id.clone(),
        parent_id: manifest.parent_id.clone(),
        location,
        started_at: manifest.started_at.clone(),
        completed_at: manifest.completed_at.clone(),
        size_bytes: stored_bytes,
        raw_bytes,
        records,
        topics: totals.topics,
        partitions: totals.partitions,
        consumer_groups: manifest.consumer_groups.len() as u32,
        oldest_timestamp: totals.oldest_timestamp.and_then(millis_to_rfc3339),
        newest_timestamp: totals.newest_timestamp.and_then(millis_to_rfc3339),
        lineage_breaks,
        topics_deleted,
        inventory,
        cluster_metadata: manifest.cluster_metadata.clone(),
        schema_registry: manifest.schema_registry.clone(),
        strimzi_resources: manifest.strimzi_resources.clone(),
        plan_ms: None,
        worker: None,
    }
}

/// The manifest of `backup_id` when an earlier attempt of this very run committed it: a pod of
/// the operator's Job killed after the commit and before it could report, retried by the Job under
/// the same id. Only the operator's runs qualify — their ids are their Job's name, of one
/// KafkaBackup (its uid or a schedule slot in it) — and only in a location that KafkaBackup owns;
/// a run by hand that reuses an id is refused as before.
async fn committed_by_an_earlier_attempt(
    cfg: &BackupConfig,
    storage: &crate::storage::Storage,
    backup_id: &str,
) -> anyhow::Result<Option<Manifest>> {
    let Some(me) = cfg.owner.as_ref().filter(|o| o.kind == "KafkaBackup") else {
        return Ok(None);
    };
    let owned = crate::location::read(storage).await?.is_some_and(|m| m.owner.same(me));
    if !owned {
        return Ok(None);
    }
    Ok(Some(crate::catalog::manifest(storage, backup_id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ids_of_one_instant_differ_and_ids_sort_by_start_time() {
        let at = |s: &str| s.parse::<chrono::DateTime<Utc>>().expect("a test timestamp");
        let now = at("2026-12-03T04:15:00.123Z");
        let (a, b) = (default_id(now).expect("an id"), default_id(now).expect("an id"));
        assert_ne!(a, b, "one millisecond, two runs, two ids");
        assert!(a.starts_with("backup-20261203-041500-123-"), "{a}");
        let later = default_id(at("2026-12-03T04:15:00.124Z")).expect("an id");
        assert!(a < later && b < later);
    }
}
