//! The "act" step of the `KafkaBackup` reconcile: carries a [`Plan`] out, in a fixed order —
//! metrics, Events, delete the replaced Jobs, start the run, write the status, mark the
//! recorded Jobs. It decides nothing but which of the plan's two statuses to write, from what the
//! launch returned (see [`Start::status_if_finished`]).
//!
//! The recorded Jobs are marked after the status is written: a reconcile that fails in between
//! records them again, which the status absorbs (a run is recorded by its id).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::metrics;
use super::observe::{BACKUP_ID_ANNOTATION, COMPONENT, RECORDED_ANNOTATION};
use super::plan::{Outcome, Plan, Start};
use super::run_config::{self, Run};
use super::strimzi_resources;
use crate::api::backup::{KafkaBackup, KafkaBackupStatus};
use crate::operator::children::{self, JobState};
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::launch::{self, Launch};
use crate::operator::restore_points;
use crate::operator::status;
use crate::operator::storage_access::StorageAccess;

/// Carries out `plan` for `kb`, made at `now`; returns when to look again.
pub async fn act(ctx: &Context, kb: &KafkaBackup, plan: Plan, now: DateTime<Utc>) -> Result<Action> {
    let ns = kb.namespace().unwrap_or_default();
    let object = kb.object_ref(&());
    metrics::runs(&ctx.metrics, kb, &plan.outcomes, now);
    for e in plan.events {
        let figures =
            if e.reason == "BackupCompleted" { audit_figures(&plan.outcomes) } else { Default::default() };
        ctx.event_with_figures(&object, e.warning, e.reason, e.action, e.note, figures).await;
    }
    for old in &plan.replace {
        children::delete_job(&ctx.client, &ns, old).await?;
    }
    let mut status = plan.status;
    let mirrored = mirror_restore_points(ctx, kb, &plan.outcomes, &mut status).await?;
    if let Some(start) = plan.start {
        // What the run is told it knows: the restore points just mirrored, else as listed now.
        let known = match mirrored {
            Some(points) => points,
            None => restore_points::known(&restore_points::list(&ctx.client, kb).await?),
        };
        let job = launch(ctx, kb, &start, known).await?;
        if children::state(&job) == JobState::Running {
            info!(backup = %kb.name_any(), job = %start.job, why = %start.why, "backup started");
            let e = start.started;
            ctx.event(&object, e.warning, e.reason, e.action, e.note).await;
        } else {
            status = start.status_if_finished;
        }
    }
    // Before the status: a status that remembers accepted settings implies their record.
    if let Some(record) = &plan.licensed {
        ctx.accepted.record(&record.name, &record.about).await.map_err(Error::write("the licence record"))?;
    }
    status::write(&ctx.client, kb, &kb.status, &status).await?;
    for job in &plan.recorded {
        mark_recorded(ctx, &ns, job).await?;
    }
    Ok(plan.then)
}

/// The figures of the backups recorded by this plan, for the audit log (`crate::audit`).
fn audit_figures(outcomes: &[Outcome]) -> serde_json::Value {
    let backups: Vec<serde_json::Value> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Completed(r) => Some(serde_json::json!({
                "backupId": r.backup_id,
                "parentId": r.parent_id,
                "location": r.location,
                "startedAt": r.started_at,
                "completedAt": r.completed_at,
                "records": r.records,
                "sizeBytes": r.size_bytes,
                "rawBytes": r.raw_bytes,
                "topics": r.topics,
                "partitions": r.partitions,
                "consumerGroups": r.consumer_groups,
            })),
            _ => None,
        })
        .collect();
    match backups.as_slice() {
        [one] => one.clone(),
        [] => serde_json::Value::Null,
        _ => serde_json::json!({ "backups": backups }),
    }
}

/// Renders the run's config and creates its ConfigMap and Job unless they exist; returns the Job.
async fn launch(ctx: &Context, kb: &KafkaBackup, start: &Start, known: Vec<String>) -> Result<Job> {
    let storage = run_config::storage(kb);
    let mut access = StorageAccess::for_storage(&storage);
    let key_file = run_config::encryption_key(kb).map(|k| access.with_encryption_key(k).into());
    let kms = crate::operator::kms_access::for_backup(kb, &mut access);
    // Read before the Job exists, so the run stores what was declared when it started.
    let strimzi = match strimzi_resources::read(ctx, kb).await? {
        Some(Ok(packed)) => {
            strimzi_resources::mount(&mut access, &start.job);
            Some(packed)
        }
        Some(Err(too_large)) => return Err(Error::Render(too_large)),
        None => None,
    };
    let schema_registry = run_config::schema_registry(&kb.spec, &mut access);
    let config = run_config::render(
        &kb.spec,
        storage,
        start.connection.kafka.clone(),
        &Run {
            backup_id: start.job.clone(),
            scheduled: start.scheduled,
            protected: start.protected.clone(),
            encryption_key_file: key_file,
            kms,
            owner: Some(run_config::owner(kb)),
            take_over: run_config::takes_over(kb),
            known_restore_points: Some(known),
            strimzi_resources: strimzi.as_ref().map(|p| p.input.clone()),
            schema_registry,
        },
    );
    let yaml = run_config::to_yaml(&config).map_err(|e| Error::Render(e.to_string()))?;
    let job = launch::launch_across(
        ctx,
        kb,
        Launch {
            name: start.job.clone(),
            component: COMPONENT,
            subcommand: "backup",
            config_yaml: yaml,
            connection: start.connection.clone(),
            access,
            options: &kb.spec.job_options,
            cluster: &kb.spec.cluster,
            annotations: BTreeMap::from([(BACKUP_ID_ANNOTATION.to_string(), start.job.clone())]),
        },
        kb.spec.backup.workers,
    )
    .await?;
    if let Some(packed) = &strimzi {
        info!(backup = %kb.name_any(), job = %start.job, kafka_topics = packed.kafka_topics,
            kafka_users = packed.kafka_users, "Strimzi resources handed to the backup Job");
        strimzi_resources::hand_over(ctx, kb, &job, packed).await?;
    }
    Ok(job)
}

/// A `KafkaBackup` syncs its own location as each backup ends: the newest completed run's
/// result lists the restore points left after its pruning, which become the `KafkaRestorePoint`s
/// it owns, and their window its status' recoverability. Returns the backup ids they hold, when
/// it mirrored.
async fn mirror_restore_points(
    ctx: &Context,
    kb: &KafkaBackup,
    outcomes: &[Outcome],
    status: &mut KafkaBackupStatus,
) -> Result<Option<Vec<String>>> {
    // Runs recorded together (a reconcile after a pause): the one completed last knows best.
    let newest = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Completed(r) => Some(r),
            _ => None,
        })
        .filter_map(|r| {
            let points = r.inventory.as_ref()?.restore_points.as_ref().filter(|p| p.complete)?;
            Some((crate::time::parse(&r.completed_at).map(|t| t.0), points))
        })
        .max_by_key(|(completed, _)| *completed);
    let Some((_, result)) = newest else { return Ok(None) };
    let existing = restore_points::list(&ctx.client, kb).await?;
    let mirrored = restore_points::mirror(&ctx.client, kb, existing, result).await?;
    status.recoverability = crate::restore_points::recoverability(&mirrored.points);
    ctx.metrics.recoverability(
        &crate::operator::metrics::SourceLabels::of(kb),
        &status.recoverability,
        Some(mirrored.points.len()),
    );
    if mirrored.created + mirrored.deleted > 0 {
        info!(backup = %kb.name_any(), created = mirrored.created, deleted = mirrored.deleted,
            points = mirrored.points.len(), "restore points synced");
    }
    let mut ids: Vec<String> = mirrored.points.into_iter().map(|p| p.backup_id).collect();
    ids.sort();
    Ok(Some(ids))
}

async fn mark_recorded(ctx: &Context, ns: &str, job: &str) -> Result<()> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    let patch = serde_json::json!({"metadata": {"annotations": {RECORDED_ANNOTATION: "true"}}});
    match api.patch(job, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::write(format!("Job {job}"))(e)),
    }
}
