//! A sync Job and its result, for any object that lists a location's restore points: a
//! `KafkaBackupLocation` every `syncPeriod` ([`super::controller`]), a continuous `KafkaBackup`
//! when its pod's result lines leave restore points undescribed
//! (`crate::operator::backup::continuous`). The Job runs the `sync` subcommand with read access
//! to the storage (the operator holds no storage credentials), told which restore points the
//! object has (`known`, with their revisions and the drills they show), so it summarises only the
//! others; its result is mirrored into the object's `KafkaRestorePoint`s.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use kube::{Resource, ResourceExt};

use crate::api::cluster::ClusterConnection;
use crate::api::storage::StorageSpec;
use crate::api::template::JobOptions;
use crate::operator::children::{self, FailedResult, JobState};
use crate::operator::connection::JobConnection;
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::launch::{Launch, launch};
use crate::operator::restore_points::{self, Mirrored};
use crate::operator::storage_access::StorageAccess;
use crate::sync::{SyncConfig, SyncResult};

/// The `app.kubernetes.io/component` of sync Jobs.
pub const COMPONENT: &str = "sync";

/// One sync Job to start.
pub struct SyncJob<'a> {
    /// Its deterministic name (and its ConfigMap's).
    pub name: &'a str,
    pub storage: &'a StorageSpec,
    /// Only reads happen either way; read-only makes the kubelet hold the Job to that (a
    /// volume mounted read-only).
    pub read_only: bool,
    pub options: &'a JobOptions,
    /// Annotations on the Job (the owner generation it was started for).
    pub annotations: BTreeMap<String, String>,
}

/// Starts the sync Job `job` for `owner`, told the restore points `owner` lists now, unless it
/// exists; returns it.
pub async fn start<K: Resource<DynamicType = ()>>(ctx: &Context, owner: &K, job: SyncJob<'_>) -> Result<Job> {
    let points = restore_points::list(&ctx.client, owner).await?;
    let config = SyncConfig {
        storage: job.storage.clone(),
        known: restore_points::known(&points),
        revisions: restore_points::revisions(&points),
        verified: restore_points::verified(&points),
        ..Default::default()
    };
    let config_yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Render(e.to_string()))?;
    let access = StorageAccess::for_storage(job.storage);
    let access = if job.read_only { access.read_only() } else { access };
    let cluster = ClusterConnection::default();
    let run = Launch {
        name: job.name.to_string(),
        component: COMPONENT,
        subcommand: "sync",
        config_yaml,
        connection: JobConnection::default(),
        access,
        options: job.options,
        cluster: &cluster,
        annotations: job.annotations,
    };
    launch(ctx, owner, run).await
}

/// What a finished sync Job came to.
pub enum Synced {
    /// It listed the location: its result, mirrored into `owner`'s restore points.
    Mirrored { result: SyncResult, mirrored: Mirrored },
    /// Its log is gone and its termination message holds only a summary: nothing to mirror.
    Shortened,
    /// It failed: why.
    Failed(String),
}

/// Reads the finished sync Job `job` of `owner` and mirrors what it listed into `owner`'s
/// restore points: creates those it added and, with `prune`, deletes those it did not find.
/// Without, it only creates: another source says what was pruned (a continuous backup's result
/// lines, which may have created restore points after this listing). Deletes nothing else: the
/// caller records it, then deletes the Job.
pub async fn record<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    owner: &K,
    job: &str,
    state: &JobState,
    prune: bool,
) -> Result<Synced> {
    let namespace = owner.namespace().unwrap_or_default();
    let output = children::output(&ctx.client, &namespace, job, None).await?;
    Ok(match children::run_result::<SyncResult>(state, &output, FailedResult::Ignore) {
        Ok(result) if result.complete => {
            let existing = restore_points::list(&ctx.client, owner).await?;
            let creating_only = SyncResult { complete: false, ..result.clone() };
            let mirroring = if prune { &result } else { &creating_only };
            let mirrored = restore_points::mirror(&ctx.client, owner, existing, mirroring).await?;
            Synced::Mirrored { result, mirrored }
        }
        Ok(_) => Synced::Shortened,
        Err(why) => Synced::Failed(why),
    })
}
