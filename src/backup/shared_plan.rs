//! The plan of one backup run by several workers (`--workers N`, issue 18 §3), stored as
//! `backups/<id>/plan.json` so that every worker reads the same cut.
//!
//! Every worker of a run starts the same command with the same backup id. The first to find no
//! plan makes one and tries to create the object create-only; whoever loses that race (or comes
//! later, a retried worker included) reads the winner's instead and discards its own. So all the
//! run's workers agree on everything the manifest must say once: start time, cut per partition
//! with its lineage, parent, cluster and topic ids, topic configs, consumer-group offsets, the
//! encryption key id and — with keys from a KMS — the one wrapped data key every worker seals
//! with (each unwraps it, as a restore does).
//!
//! Readers of backups never read it: it is not part of any restore point, and the manifest stays
//! the only commit point. It lives under the backup's id, so a run that never commits is cleaned
//! up with its segments (orphans), and a committed backup's plan goes when the backup does.

use anyhow::Context;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::format::data_keys::DataKeyEntry;
use crate::format::manifest::GroupEntry;
use crate::storage::Storage;

use super::plan::{PartitionPlan, Plan, TopicPlan};

/// Layout version of `plan.json` written by this build; a worker refuses any other.
pub const PLAN_VERSION: u16 = 1;

/// What every worker of one backup run must agree on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedPlan {
    pub plan_version: u16,
    pub backup_id: String,
    /// When the run started (RFC 3339): the manifest's `startedAt`.
    pub started_at: String,
    /// How many workers share the run: each worker checks it was started with the same number,
    /// as the partitions each reads follow from it ([`super::workers::share`]).
    pub workers: u32,
    /// The worker whose plan this is. That worker (or its retry) also captures the cluster
    /// metadata, Schema Registry and Strimzi resources, and reports them in its result.
    pub planned_by: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The backup this one continues, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The parent's wrapped data keys (keys from a KMS): the segments a partition continues
    /// were sealed with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_data_keys: Vec<DataKeyEntry>,
    /// The codec name every worker writes with.
    pub compression: String,
    /// The manifest's `encryptionKeyId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_id: Option<String>,
    /// This run's data key as the KMS wrapped it (keys from a KMS only; never the key itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<DataKeyEntry>,
    pub topics: Vec<TopicPlan>,
    pub partitions: Vec<PartitionPlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_groups: Vec<GroupEntry>,
}

/// What a run encrypts with, as the plan records it.
#[derive(Clone, Debug, Default)]
pub struct PlannedKeys {
    pub encryption_key_id: Option<String>,
    pub data_key: Option<DataKeyEntry>,
}

impl SharedPlan {
    /// The shareable part of `plan`, made by worker `planned_by` of `workers`.
    pub fn new(
        plan: &Plan,
        backup_id: &str,
        started_at: String,
        (workers, planned_by): (u32, u32),
        compression: &str,
        keys: PlannedKeys,
    ) -> Self {
        Self {
            plan_version: PLAN_VERSION,
            backup_id: backup_id.to_string(),
            started_at,
            workers,
            planned_by,
            cluster_id: plan.cluster_id.clone(),
            parent_id: plan.parent.as_ref().map(|p| p.backup_id.clone()),
            parent_data_keys: plan.parent.iter().flat_map(|p| p.encoding.data_keys.iter().cloned()).collect(),
            compression: compression.to_string(),
            encryption_key_id: keys.encryption_key_id,
            data_key: keys.data_key,
            topics: plan.topics.clone(),
            partitions: plan.partitions.clone(),
            consumer_groups: plan.groups.clone(),
        }
    }

    pub fn to_json(&self) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(self)?)
    }

    /// Parses `plan.json` of backup `backup_id`, refusing another layout version or backup.
    pub fn from_json(bytes: &[u8], object: &str, backup_id: &str) -> anyhow::Result<Self> {
        let plan: Self = serde_json::from_slice(bytes).with_context(|| format!("{object} does not parse"))?;
        anyhow::ensure!(
            plan.plan_version == PLAN_VERSION,
            "{object}: plan version {} is not the one this build writes ({PLAN_VERSION}): run every worker of a \
             backup with the same build",
            plan.plan_version
        );
        anyhow::ensure!(plan.backup_id == backup_id, "{object} is the plan of backup {}", plan.backup_id);
        Ok(plan)
    }

    /// Refuses to join a plan made for another worker count, codec or key: the workers of one
    /// run must be started alike, or their parts would not form one restore point.
    pub fn check_joinable(
        &self,
        workers: u32,
        compression: &str,
        key_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let id = &self.backup_id;
        anyhow::ensure!(
            self.workers == workers,
            "backup {id} is planned for {} workers, this worker was started with --workers {workers}",
            self.workers
        );
        anyhow::ensure!(
            self.compression == compression,
            "backup {id} is planned with compression {}, this worker's config says {compression}",
            self.compression
        );
        anyhow::ensure!(
            self.encryption_key_id.as_deref() == key_id,
            "backup {id} is planned {}, this worker's config says {}",
            self.encryption_key_id.as_deref().map_or("unencrypted".into(), |k| format!("with key id {k}")),
            key_id.map_or("unencrypted".into(), |k| format!("key id {k}"))
        );
        Ok(())
    }
}

/// The plan of `backup_id`, if a worker published one.
pub async fn read(storage: &Storage, backup_id: &str) -> anyhow::Result<Option<SharedPlan>> {
    let name = storage.layout.backup_plan(backup_id);
    match storage.store.get(&object_store::path::Path::from(name.as_str())).await {
        Ok(got) => {
            let bytes = got.bytes().await.with_context(|| format!("reading {name}"))?;
            Ok(Some(SharedPlan::from_json(&bytes, &name, backup_id)?))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {name}"))),
    }
}

/// Publishes `mine` unless another worker was first: returns the plan the run goes by and
/// whether it is `mine`.
pub async fn publish(storage: &Storage, mine: SharedPlan) -> anyhow::Result<(SharedPlan, bool)> {
    let name = storage.layout.backup_plan(&mine.backup_id);
    let path = object_store::path::Path::from(name.as_str());
    let create = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
    match storage.store.put_opts(&path, PutPayload::from(mine.to_json()?), create).await {
        Ok(_) => {
            storage.sync(&name).await.with_context(|| format!("flushing {name} to disk"))?;
            Ok((mine, true))
        }
        Err(object_store::Error::AlreadyExists { .. }) => {
            let theirs = read(storage, &mine.backup_id)
                .await?
                .with_context(|| format!("{name} exists but cannot be read back"))?;
            // Our own create that landed although its answer was lost reads back as ours.
            let won = theirs == mine;
            Ok((theirs, won))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("writing {name}"))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::manifest::{CommittedOffset, Gap, GapReason, LineageBreak, LineageBreakReason};

    pub(crate) fn sample() -> SharedPlan {
        let mut lineage = super::super::plan::Lineage { start: "b1".into(), ..Default::default() };
        lineage.gaps.push(Gap { from: 3, to: 5, reason: GapReason::RetentionDeleted });
        let broken = super::super::plan::Lineage {
            start: "b3".into(),
            broken: Some(LineageBreak { reason: LineageBreakReason::TopicRecreated, message: "ids".into() }),
            ..Default::default()
        };
        SharedPlan {
            plan_version: PLAN_VERSION,
            backup_id: "b3".into(),
            started_at: "2026-12-04T17:00:00.000Z".into(),
            workers: 2,
            planned_by: 1,
            cluster_id: Some("c1".into()),
            parent_id: Some("b2".into()),
            parent_data_keys: Vec::new(),
            compression: "zstd".into(),
            encryption_key_id: None,
            data_key: None,
            topics: vec![TopicPlan {
                name: "t".into(),
                topic_id: "T1".into(),
                partition_count: 2,
                replication_factor: 3,
                configs: [("cleanup.policy".to_string(), "compact".to_string())].into(),
            }],
            partitions: vec![
                PartitionPlan {
                    topic: "t".into(),
                    topic_id: "T1".into(),
                    partition: 0,
                    log_start: 3,
                    start: 10,
                    end: 20,
                    lineage,
                },
                PartitionPlan {
                    topic: "t".into(),
                    topic_id: "T1".into(),
                    partition: 1,
                    log_start: 0,
                    start: 0,
                    end: 7,
                    lineage: broken,
                },
            ],
            consumer_groups: vec![GroupEntry {
                group: "g".into(),
                offsets: vec![CommittedOffset { topic: "t".into(), partition: 0, offset: 4, metadata: None }],
            }],
        }
    }

    #[test]
    fn the_plan_reads_back_as_written() {
        let plan = sample();
        let bytes = plan.to_json().expect("json");
        assert_eq!(SharedPlan::from_json(&bytes, "plan.json", "b3").expect("parses"), plan);
        let other = SharedPlan::from_json(&bytes, "plan.json", "b4").expect_err("another backup's plan");
        assert!(format!("{other:#}").contains("plan of backup b3"), "{other:#}");
        let newer =
            String::from_utf8(bytes).expect("utf-8").replace("\"planVersion\": 1", "\"planVersion\": 9");
        assert!(SharedPlan::from_json(newer.as_bytes(), "plan.json", "b3").is_err());
    }

    #[test]
    fn a_worker_started_otherwise_does_not_join() {
        let plan = sample();
        plan.check_joinable(2, "zstd", None).expect("alike");
        for (workers, codec, key) in [(3, "zstd", None), (2, "lz4", None), (2, "zstd", Some("k1"))] {
            assert!(plan.check_joinable(workers, codec, key).is_err(), "{workers} {codec} {key:?}");
        }
    }
}
