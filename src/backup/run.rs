//! One backup run from start to commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::format::codec::Codec;
use crate::format::manifest::{
    Encoding, Gap, GapReason, LineageBreakReason, Manifest, PartitionEntry, TopicEntry, Totals, Written,
};
use crate::format::{MANIFEST_VERSION, millis_to_rfc3339, rfc3339};

use super::BackupConfig;
use super::partition::{PartitionContext, backup_partition};
use super::plan::make_plan;

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

/// Runs a backup; the backup exists once this returns `Ok`.
pub async fn run(cfg: &BackupConfig) -> anyhow::Result<BackupResult> {
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let backup_id = match &cfg.backup_id {
        Some(id) => id.clone(),
        None => default_id(started)?,
    };
    let storage = crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    // Keys from a KMS: a fresh data key for this run, wrapped by the KMS before anything is
    // written (an unreachable KMS fails the run here); the manifest records the wrapping key's id.
    let envelope = match (&cfg.backup.encryption, &cfg.kms) {
        (Some(e), Some(access)) if e.enabled => {
            let kms = crate::kms::Kms::connect(access).await?;
            let (key, entry) = kms.new_data_key(&backup_id).await?;
            Some((key, entry, crate::kms::lineage_key_id(access)))
        }
        _ => None,
    };
    let key = match (&cfg.backup.encryption, &envelope) {
        (_, Some((key, _, _))) => Some(key.clone()),
        (Some(e), None) if e.enabled => Some(crate::catalog::load_key(cfg.encryption_key_file.as_deref())?.context(
            "backup.encryption is enabled but neither an encryption key file (encryptionKeyFile) nor kms settings were given",
        )?),
        _ => None,
    };
    let key_id = match &envelope {
        Some((_, _, lineage)) => Some(lineage.clone()),
        None => key.as_ref().map(|k| k.id().to_string()),
    };
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
    let manifest_path = object_store::path::Path::from(storage.layout.manifest(&backup_id));
    if storage.store.head(&manifest_path).await.is_ok() {
        if let Some(manifest) = committed_by_an_earlier_attempt(cfg, &storage, &backup_id).await? {
            tracing::info!(backup = %backup_id, "an earlier attempt of this run committed the backup: reporting it");
            return Ok(result_of(&manifest, storage.location.clone(), None));
        }
        anyhow::bail!("backup {backup_id} already exists in {}: ids are never reused", storage.location);
    }

    let plan = make_plan(cfg, &client, &storage, &backup_id, key_id.as_deref()).await?;
    // Nothing is written before the location is known to be ours.
    let owner = cfg.owner.clone().unwrap_or_else(crate::location::Owner::cli);
    crate::location::claim(&storage, &owner, plan.cluster_id.as_deref(), cfg.take_over_location).await?;
    let plan_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        backup = %backup_id, topics = plan.topics.len(), partitions = plan.partitions.len(), plan_ms,
        groups = plan.groups.len(), parent = ?plan.parent.as_ref().map(|p| &p.backup_id), location = %storage.location,
        "backup planned"
    );
    // Written before the manifest that names it, so a committed backup always has it whole.
    let cluster_metadata =
        super::metadata::capture(cfg, plan.admin.clone(), &storage, &backup_id, rfc3339(started)).await?;
    let schema_registry = super::schemas::capture(cfg, &storage, &backup_id, rfc3339(started)).await?;
    let strimzi_resources = super::strimzi_resources::store(cfg, &storage, &backup_id).await?;
    let ctx = PartitionContext {
        client: client.clone(),
        storage: storage.clone(),
        backup_id: backup_id.clone(),
        codec: Codec::new(cfg.backup.compression, cfg.backup.compression_level),
        key: key.clone(),
        segment_bytes: u64::try_from(cfg.backup.segment_size).unwrap_or(256 << 20),
        stall_timeout,
        admin: plan.admin.clone(),
        records: Arc::new(AtomicU64::new(0)),
        bytes: Arc::new(AtomicU64::new(0)),
    };
    let done = Arc::new(AtomicUsize::new(0));
    let total = plan.partitions.len();
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
    let parallelism = usize::try_from(cfg.backup.parallelism).unwrap_or(1).max(1);
    // Each partition is its own task, so compression and hashing of several partitions use
    // every core rather than taking turns on one.
    let results: anyhow::Result<Vec<_>> = futures::stream::iter(plan.partitions.iter().cloned().map(|p| {
        let (ctx, done) = (ctx.clone(), done.clone());
        tokio::spawn(async move {
            let entry = backup_partition(&ctx, &p).await?;
            done.fetch_add(1, Ordering::Relaxed);
            anyhow::Ok((p.topic.clone(), entry))
        })
    }))
    .buffer_unordered(parallelism)
    .map(|joined| joined.map_err(anyhow::Error::from).and_then(|r| r))
    .try_collect()
    .await;
    progress.abort();
    let mut entries = results?;
    entries.sort_by(|a, b| (&a.0, a.1.partition).cmp(&(&b.0, b.1.partition)));
    replaced_during_the_read(&plan, &client, &mut entries, &backup_id, &storage).await?;

    let topics: Vec<TopicEntry> = plan
        .topics
        .iter()
        .map(|t| TopicEntry {
            name: t.name.clone(),
            partition_count: t.partition_count,
            replication_factor: t.replication_factor,
            topic_id: Some(t.topic_id.clone()),
            configs: t.configs.clone(),
            partitions: entries.iter().filter(|(name, _)| *name == t.name).map(|(_, e)| e.clone()).collect(),
        })
        .collect();
    let mut totals =
        Totals { topics: plan.topics.len() as u32, partitions: entries.len() as u32, ..Default::default() };
    let mut written = Written::default();
    // Segments this backup wrote are under its own id; the rest of the restore point was written
    // by earlier backups of the partitions' lineages.
    let own = format!("{}{backup_id}/", storage.layout.backups_dir());
    for s in topics.iter().flat_map(|t| &t.partitions).flat_map(|p| &p.segments) {
        totals.records += s.records;
        totals.raw_bytes += s.raw_bytes;
        totals.stored_bytes += s.stored_bytes;
        totals.oldest_timestamp =
            Some(totals.oldest_timestamp.map_or(s.min_timestamp, |t| t.min(s.min_timestamp)));
        totals.newest_timestamp =
            Some(totals.newest_timestamp.map_or(s.max_timestamp, |t| t.max(s.max_timestamp)));
        if s.object.starts_with(&own) {
            written.records += s.records;
            written.raw_bytes += s.raw_bytes;
            written.stored_bytes += s.stored_bytes;
            written.segments += 1;
        }
    }
    // The wrapped data keys of every backup whose segments the restore point lists: this run's
    // and those its parent carried for the segments it continues.
    let data_keys = match &envelope {
        Some((_, own, _)) => {
            let mut known = vec![own.clone()];
            known.extend(plan.parent.iter().flat_map(|p| p.encoding.data_keys.iter().cloned()));
            crate::format::data_keys::needed(
                topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .flat_map(|p| &p.segments)
                    .map(|s| s.object.as_str()),
                &known,
            )
            .map_err(|e| anyhow::anyhow!("backup {backup_id}: {e}"))
            .map(|mut keys| {
                // Its own key also when it lists no segment of its own, so readers find it.
                if !keys.iter().any(|k| k.backup_id == own.backup_id) {
                    keys.push(own.clone());
                }
                keys
            })?
        }
        None => Vec::new(),
    };
    let completed = Utc::now();
    let manifest = Manifest {
        format_version: MANIFEST_VERSION,
        backup_id: backup_id.clone(),
        parent_id: plan.parent.as_ref().map(|p| p.backup_id.clone()),
        started_at: rfc3339(started),
        completed_at: rfc3339(completed),
        cluster_id: plan.cluster_id.clone(),
        encoding: Encoding { compression: ctx.codec.name().into(), encryption_key_id: key_id, data_keys },
        topics,
        consumer_groups: plan.groups.clone(),
        totals: totals.clone(),
        written: Some(written.clone()),
        cluster_metadata,
        schema_registry,
        strimzi_resources,
        revision: None,
    };
    // The commit point: only now does the backup exist. Create-only, so two writers can never
    // both commit one id; a write of ours that landed although its answer was lost reads back
    // as this very manifest.
    let body = manifest.to_json()?;
    let create = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
    match storage.store.put_opts(&manifest_path, PutPayload::from(body), create).await {
        Ok(_) => {}
        Err(object_store::Error::AlreadyExists { .. }) => {
            let theirs = crate::catalog::manifest(&storage, &backup_id).await?;
            anyhow::ensure!(
                theirs == manifest,
                "backup {backup_id} was committed by another writer while this one ran: this run's \
                 segments are left for cleanup; ids are never reused"
            );
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("writing {manifest_path}"))),
    }
    storage
        .sync(manifest_path.as_ref())
        .await
        .with_context(|| format!("flushing {manifest_path} to disk"))?;
    // Housekeeping after the commit, on one read of the location: a failure here never fails
    // the backup.
    let policy = cfg.retention.as_ref().filter(|r| r.prune_on_schedule);
    let protected = cfg.protected_backups.iter().cloned().collect();
    let housekeeping = async {
        let scan = crate::catalog::scan(&storage).await?;
        let grace = chrono::Duration::milliseconds(orphan_grace);
        if let Err(e) = crate::catalog::remove_orphans_in(&storage, &scan, grace).await {
            tracing::warn!(error = %format!("{e:#}"), "could not clean up unfinished backups; the next backup retries");
        }
        let mut inventory = crate::retention::prune(&storage, &scan, policy, &protected, Utc::now()).await?;
        if let Some(known) = &cfg.known_restore_points {
            let owner = cfg.owner.as_ref().filter(|o| o.kind == "KafkaBackup").map(crate::sync::owner_text);
            inventory.restore_points =
                Some(crate::sync::from_scan(&storage.location, &scan, &inventory.pruned, known, owner));
        }
        anyhow::Ok(inventory)
    };
    let inventory = match housekeeping.await {
        Ok(inventory) => Some(inventory),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "could not prune old backups; the next backup retries");
            None
        }
    };
    Ok(BackupResult { plan_ms: Some(plan_ms), ..result_of(&manifest, storage.location, inventory) })
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
        Some(w) => (w.records, w.raw_bytes, w.stored_bytes),
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

/// A topic deleted and created again under its name while the backup read it: the consumer may
/// have gone on reading the new topic at the same offsets, and nothing tells its records from the
/// old one's. So what this backup read of it is not kept; its partitions end, after what earlier
/// backups hold, in a `TopicDeleted` gap. A topic merely deleted after its partitions were read
/// is complete and stays.
async fn replaced_during_the_read(
    plan: &super::plan::Plan,
    client: &rdkafka::ClientConfig,
    entries: &mut [(String, PartitionEntry)],
    backup_id: &str,
    storage: &crate::storage::Storage,
) -> anyhow::Result<()> {
    use crate::kafka::describe::Described;
    let names: Vec<String> = plan.topics.iter().map(|t| t.name.clone()).collect();
    let admin = plan.admin.clone();
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
    let own = format!("{}{backup_id}/", storage.layout.backups_dir());
    for t in &plan.topics {
        let replaced = matches!(now.get(&t.name), Some(Described::Id(id)) if *id != t.topic_id);
        if !replaced {
            continue;
        }
        tracing::warn!(topic = %t.name, "the topic was replaced by another of the same name during the backup: what was read of it is not kept");
        for (_, p) in entries.iter_mut().filter(|(name, _)| *name == t.name) {
            let from = p.read_from.unwrap_or(p.start_offset);
            p.segments.retain(|s| !s.object.starts_with(&own));
            p.gaps.retain(|g| g.to <= from);
            if from < p.end_offset {
                p.gaps.push(Gap { from, to: p.end_offset, reason: GapReason::TopicDeleted });
            }
        }
    }
    Ok(())
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
