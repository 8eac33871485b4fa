//! The `KafkaBackupLocation` reconcile: validate → observe (its sync Jobs) → [`decide`] → act
//! (launch a sync, or record a finished one: mirror the restore points, write status, delete the
//! Job) → status. Restore points are owned by the location, so deleting it deletes them (and
//! nothing at the location: the location object never writes there).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::decide::{self, Step};
use super::sync_job::{self, SyncJob, Synced};
use crate::api::location::{AccessMode, KafkaBackupLocation, KafkaBackupLocationStatus, LocationReason};
use crate::operator::children::{self, GENERATION_ANNOTATION, JobState};
use crate::operator::context::Context;
use crate::operator::error::Result;
use crate::operator::metrics::SourceLabels;
use crate::operator::status::{set_ready, write};

/// The `app.kubernetes.io/component` of sync Jobs.
pub const COMPONENT: &str = sync_job::COMPONENT;

pub async fn reconcile(kbl: Arc<KafkaBackupLocation>, ctx: Arc<Context>) -> Result<Action> {
    let now = Utc::now();
    let before = kbl.status.clone();
    let mut status = before.clone().unwrap_or_default();
    // From status on every reconcile, so a restarted operator exports them again at once.
    let count = status.restore_points.and_then(|n| usize::try_from(n).ok());
    ctx.metrics.recoverability(&SourceLabels::of(kbl.as_ref()), &status.recoverability, count);
    let problems = crate::api::rules::location(&kbl.spec);
    if !problems.is_empty() {
        let message = crate::api::rules::message(&problems);
        if set_ready(&mut status.conditions, LocationReason::InvalidSpec, &message, &crate::time::now()) {
            event(&ctx, &kbl, true, "InvalidSpec", message).await;
        }
        status.observed_generation = kbl.metadata.generation;
        write(&ctx.client, kbl.as_ref(), &before, &status).await?;
        return Ok(Action::await_change());
    }
    let period = crate::api::duration::parse_millis(&kbl.spec.sync_period).unwrap_or(300_000);
    let jobs = children::owned_jobs(&ctx.client, kbl.as_ref(), COMPONENT).await?;
    let observed: Vec<decide::SyncJob> =
        jobs.iter().map(|j| decide::SyncJob { name: j.name_any(), state: children::state(j) }).collect();
    let step = decide::decide(&kbl, &observed, period, now);
    let requeue = match step {
        Step::Record { job, state } => {
            record(&ctx, &kbl, &mut status, &job, &state).await?;
            // What the Job listed is the spec it was started with: a spec changed while it ran
            // stays unobserved, so the next sync starts at once.
            let launched = jobs.iter().find(|j| j.name_any() == job).and_then(children::launched_generation);
            status.observed_generation = launched.or(kbl.metadata.generation);
            status.active_job = None;
            write(&ctx.client, kbl.as_ref(), &before, &status).await?;
            children::delete_run(&ctx.client, &kbl.namespace().unwrap_or_default(), &job).await?;
            // The next reconcile computes the next slot from the status just written.
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        Step::Running { job } => {
            let running = jobs.iter().find(|j| j.name_any() == job);
            let blocked = children::blocked_while_starting(&ctx.client, running, now).await?;
            if let Some(why) = blocked {
                set_ready(&mut status.conditions, LocationReason::JobPodBlocked, why, &crate::time::now());
            }
            status.active_job = Some(job);
            children::STARTING_RECHECK
        }
        Step::Launch { job } => {
            start(&ctx, &kbl, &job).await?;
            if status.last_sync_time.is_none() {
                let message = format!("listing {} for its restore points", location_text(&kbl));
                set_ready(&mut status.conditions, LocationReason::Syncing, message, &crate::time::now());
            }
            status.active_job = Some(job);
            children::STARTING_RECHECK
        }
        Step::Wait { until } => {
            status.next_sync_time = crate::time::kube(until);
            (until - now).to_std().unwrap_or(Duration::from_secs(1)) + Duration::from_secs(1)
        }
    };
    write(&ctx.client, kbl.as_ref(), &before, &status).await?;
    Ok(Action::requeue(requeue))
}

/// A readable name of the location for messages (never a credential: the storage block holds
/// only references to Secrets).
fn location_text(kbl: &KafkaBackupLocation) -> String {
    crate::storage::describe(&kbl.spec.storage)
}

async fn event(ctx: &Context, kbl: &KafkaBackupLocation, warning: bool, reason: &str, note: String) {
    ctx.event(&kbl.object_ref(&()), warning, reason, "Sync", note).await;
}

async fn start(ctx: &Context, kbl: &KafkaBackupLocation, job: &str) -> Result<()> {
    let generation = kbl.metadata.generation.map(|g| (GENERATION_ANNOTATION.to_string(), g.to_string()));
    let sync = SyncJob {
        name: job,
        storage: &kbl.spec.storage,
        read_only: kbl.spec.access_mode == AccessMode::ReadOnly,
        options: &kbl.spec.job_options,
        annotations: generation.into_iter().collect(),
    };
    sync_job::start(ctx, kbl, sync).await?;
    Ok(())
}

/// Reads a finished sync, mirrors it and fills in `status`.
async fn record(
    ctx: &Context,
    kbl: &KafkaBackupLocation,
    status: &mut KafkaBackupLocationStatus,
    job: &str,
    state: &JobState,
) -> Result<()> {
    let now = crate::time::now();
    status.last_attempt_time = Some(now.clone());
    match sync_job::record(ctx, kbl, job, state, true).await? {
        Synced::Mirrored { result, mirrored } => {
            status.last_sync_time = Some(now.clone());
            status.restore_points = Some(mirrored.points.len() as i64);
            status.unreadable = result.unreadable.iter().map(|u| u.object.clone()).collect();
            status.recoverability = crate::restore_points::recoverability(&mirrored.points);
            ctx.metrics.recoverability(
                &SourceLabels::of(kbl),
                &status.recoverability,
                Some(mirrored.points.len()),
            );
            let mut message = format!("{} restore point(s) at {}", mirrored.points.len(), result.location);
            if !result.unreadable.is_empty() {
                message.push_str(&format!(
                    "; {} manifest(s) this build cannot read are left out: {}",
                    result.unreadable.len(),
                    result
                        .unreadable
                        .iter()
                        .map(|u| format!("{} ({})", u.object, u.error))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            set_ready(&mut status.conditions, LocationReason::Synced, message, &now);
            if mirrored.created + mirrored.deleted > 0 {
                let note = format!(
                    "{} new restore point(s), {} pruned; {} at {}",
                    mirrored.created,
                    mirrored.deleted,
                    mirrored.points.len(),
                    result.location
                );
                event(ctx, kbl, false, "RestorePointsSynced", note).await;
            }
        }
        Synced::Shortened => {
            let message = "the sync Job's log is gone and its termination message holds only a summary; syncing again at the next period".to_string();
            set_ready(&mut status.conditions, LocationReason::SyncFailed, message, &now);
        }
        Synced::Failed(why) => {
            let message = format!("listing {} failed: {why}", location_text(kbl));
            if set_ready(&mut status.conditions, LocationReason::SyncFailed, &message, &now) {
                event(ctx, kbl, true, "SyncFailed", message).await;
            }
        }
    }
    Ok(())
}
