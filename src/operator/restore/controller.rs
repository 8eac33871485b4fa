//! The `KafkaRestore` reconcile: one run per object. Validate (the webhook's rules, again) →
//! dereference the target cluster and the backups' location (the `KafkaBackup`, or
//! `source.storage` when there is none) → start the Job → follow it (progress from the
//! data plane's log) → record the result, the rollback snapshot ConfigMap and the Events.
//!
//! A finished restore is final: `Completed` or `Failed` stays, the spec being immutable. The
//! restore id is the object's uid, so a Job pod that dies and is retried resumes the same
//! restore without duplicating a record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::run_config;
use crate::api::backup::{BackupRunStatus, KafkaBackup};
use crate::api::restore::{
    KafkaRestore, KafkaRestoreStatus, OffsetSnapshotRef, RestoreProgress, RestoreResult as StatusResult,
    RunPhase,
};
use crate::api::rules;
use crate::operator::children::{self, JobState, last_json_line};
use crate::operator::context::Context;
use crate::operator::dereference;
use crate::operator::error::{Error, Result};
use crate::operator::launch::{self, Launch};
use crate::operator::metrics::{OutcomeLabels, ResourceLabels};
use crate::operator::status;
use crate::operator::storage_access::StorageAccess;
use crate::restore::RestoreResult;
use crate::restore::run::ProgressLine;
use crate::time::{self, now};

const COMPONENT: &str = "restore";
/// How often a running restore's progress is read.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How soon to look again when what the restore needs is not there yet.
const WAIT: Duration = Duration::from_secs(30);

fn job_name(kr: &KafkaRestore) -> String {
    crate::operator::job::child_name(&kr.name_any(), "restore")
}

/// Where the backups are and which one: from the `KafkaBackup`, or the spec's own storage.
enum Source {
    Found {
        storage: Box<crate::api::storage::StorageSpec>,
        backup_id: Option<String>,
        key: Option<crate::api::cluster::SecretKeyRef>,
    },
    Missing {
        reason: &'static str,
        message: String,
    },
}

async fn source(ctx: &Context, kr: &KafkaRestore) -> Result<Source> {
    let ns = kr.namespace().unwrap_or_default();
    if let Some(s) = &kr.spec.source {
        return Ok(Source::Found {
            storage: Box::new(s.storage.clone()),
            backup_id: s.backup_id.clone(),
            key: None,
        });
    }
    let Some(r) = &kr.spec.backup_ref else {
        return Ok(Source::Missing {
            reason: "InvalidSpec",
            message: "set spec.backupRef or spec.source".into(),
        });
    };
    let kb_ns = r.namespace.clone().unwrap_or_else(|| ns.clone());
    let api: Api<KafkaBackup> = Api::namespaced(ctx.client.clone(), &kb_ns);
    let Some(kb) =
        api.get_opt(&r.name).await.map_err(Error::read(format!("KafkaBackup {kb_ns}/{}", r.name)))?
    else {
        return Ok(Source::Missing {
            reason: "BackupNotFound",
            message: format!(
                "KafkaBackup {kb_ns}/{} not found: fix spec.backupRef, or restore from storage with spec.source",
                r.name
            ),
        });
    };
    if let Err(message) = dereference::backup_allowed(&ns, r, &kb) {
        return Ok(Source::Missing { reason: crate::api::tenancy::REASON, message });
    }
    // "Latest" is decided here, from the status users see, and recorded: retention then keeps
    // exactly this backup while the restore reads it.
    let backup_id = match &r.backup_id {
        Some(id) => Some(id.clone()),
        None => {
            let latest = kb.status.as_ref().and_then(|s| {
                s.backup_history.iter().find(|b| b.status == BackupRunStatus::Completed).map(|b| b.id.clone())
            });
            match latest {
                Some(id) => Some(id),
                None => {
                    return Ok(Source::Missing {
                        reason: "NoCompletedBackup",
                        message: format!(
                            "KafkaBackup {kb_ns}/{} has no completed backup yet; the restore starts once it has one",
                            r.name
                        ),
                    });
                }
            }
        }
    };
    let key = kb.spec.backup.encryption.as_ref().filter(|e| e.enabled).and_then(|e| e.key_secret.clone());
    let storage = crate::operator::backup::run_config::storage(&kb);
    Ok(Source::Found { storage: Box::new(storage), backup_id, key })
}

pub async fn reconcile(kr: Arc<KafkaRestore>, ctx: Arc<Context>) -> Result<Action> {
    let kr = kr.as_ref();
    let ns = kr.namespace().unwrap_or_default();
    let object = kr.object_ref(&());
    let at = now();
    let before = kr.status.clone();
    let mut status = before.clone().unwrap_or_default();
    status.observed_generation = kr.metadata.generation;
    if matches!(status.phase, Some(RunPhase::Completed | RunPhase::Failed)) {
        status::write(&ctx.client, kr, &before, &status).await?;
        return Ok(Action::await_change());
    }

    // 1. Validate; a restore's spec cannot change, so an invalid one has failed for good.
    let problems = rules::restore(&kr.spec, Utc::now());
    if !problems.is_empty() {
        let message = rules::message(&problems);
        status.phase = Some(RunPhase::Failed);
        status::set_ready(&mut status.conditions, false, "InvalidSpec", &message, &at);
        ctx.event(&object, true, "InvalidSpec", "Validate", format!("{message}; create a new KafkaRestore"))
            .await;
        status::write(&ctx.client, kr, &before, &status).await?;
        return Ok(Action::await_change());
    }

    let name = job_name(kr);
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = jobs.get_opt(&name).await.map_err(Error::read(format!("Job {name}")))?;
    let action = match existing {
        None => start(ctx.as_ref(), kr, &mut status, &at).await?,
        Some(job) => match children::state(&job) {
            JobState::Running => {
                status.phase = Some(RunPhase::Running);
                status.job_name = Some(name.clone());
                progress(ctx.as_ref(), kr, &job, &mut status).await?;
                Action::requeue(PROGRESS_EVERY)
            }
            state => {
                finish(ctx.as_ref(), kr, &job, state, &mut status, &at).await?;
                Action::await_change()
            }
        },
    };
    status::write(&ctx.client, kr, &before, &status).await?;
    Ok(action)
}

/// Waits for (or reports) what is missing, else starts the Job.
async fn start(
    ctx: &Context,
    kr: &KafkaRestore,
    status: &mut KafkaRestoreStatus,
    at: &Time,
) -> Result<Action> {
    let ns = kr.namespace().unwrap_or_default();
    let object = kr.object_ref(&());
    status.phase = Some(RunPhase::Pending);
    let connection = dereference::connection(&ctx.strimzi, &ns, &kr.spec.cluster)
        .await
        .map_err(Error::read("the Kafka cluster"))?;
    let conn = match connection {
        Ok(c) => c,
        Err(e) => {
            if status::set_ready(&mut status.conditions, false, e.reason(), e.to_string(), at) {
                ctx.event(&object, true, e.reason(), "ResolveCluster", e.to_string()).await;
            }
            return Ok(Action::requeue(WAIT));
        }
    };
    let (storage, backup_id, key) = match source(ctx, kr).await? {
        Source::Found { storage, backup_id, key } => (*storage, backup_id, key),
        Source::Missing { reason, message } => {
            if status::set_ready(&mut status.conditions, false, reason, &message, at) {
                ctx.event(&object, true, reason, "ResolveBackup", message).await;
            }
            return Ok(Action::requeue(WAIT));
        }
    };
    let mut access = StorageAccess::for_storage(&storage);
    let key_file = key.as_ref().map(|k| access.with_encryption_key(k).into());
    let mut config =
        run_config::render(&kr.spec, &kr.uid().unwrap_or_default(), conn.kafka.clone(), storage, key_file);
    config.backup_id = backup_id.clone();
    let yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Render(e.to_string()))?;
    let name = job_name(kr);
    launch::launch(
        ctx,
        kr,
        Launch {
            name: name.clone(),
            component: COMPONENT,
            subcommand: "restore",
            config_yaml: yaml,
            connection: conn,
            access,
            options: &kr.spec.job_options,
            cluster: &kr.spec.cluster,
            annotations: BTreeMap::new(),
        },
    )
    .await?;
    status.phase = Some(RunPhase::Running);
    status.job_name = Some(name.clone());
    status.restore = Some(StatusResult {
        backup_id: backup_id.clone(),
        start_time: Some(at.clone()),
        ..Default::default()
    });
    let what = backup_id.map_or_else(|| "the latest backup".to_string(), |id| format!("backup {id}"));
    status::set_ready(
        &mut status.conditions,
        false,
        "RestoreRunning",
        format!("restoring {what} (Job {name})"),
        at,
    );
    ctx.event(&object, false, "RestoreStarted", "Restore", format!("restoring {what} with Job {name}")).await;
    Ok(Action::requeue(PROGRESS_EVERY))
}

/// The status form of a progress line: percent, records, and the end estimated at the rate
/// since the Job started (none before the first record).
fn progress_status(
    p: &crate::restore::run::Progress,
    started: Option<chrono::DateTime<Utc>>,
    now: chrono::DateTime<Utc>,
) -> RestoreProgress {
    let estimated_completion = started.filter(|_| p.records_restored > 0).and_then(|s| {
        let elapsed = (now - s).num_milliseconds().max(1) as f64;
        let left = p.records_expected.saturating_sub(p.records_restored) as f64;
        time::kube(now + chrono::Duration::milliseconds((left * elapsed / p.records_restored as f64) as i64))
    });
    RestoreProgress {
        percent: i32::try_from(p.percent).unwrap_or(99),
        records_restored: i64::try_from(p.records_restored).unwrap_or(i64::MAX),
        estimated_completion,
    }
}

/// The latest progress line of the running Job, with an estimate of the end at the rate so far.
async fn progress(
    ctx: &Context,
    kr: &KafkaRestore,
    job: &k8s_openapi::api::batch::v1::Job,
    status: &mut KafkaRestoreStatus,
) -> Result<()> {
    let ns = kr.namespace().unwrap_or_default();
    let output = children::output(&ctx.client, &ns, &job.name_any(), Some(50)).await?;
    let Some(line) = output.log.as_deref().and_then(last_json_line::<ProgressLine>) else { return Ok(()) };
    let started = job.status.as_ref().and_then(|s| s.start_time.as_ref()).and_then(time::chrono);
    status.progress = Some(progress_status(&line.progress, started, Utc::now()));
    Ok(())
}

async fn finish(
    ctx: &Context,
    kr: &KafkaRestore,
    job: &k8s_openapi::api::batch::v1::Job,
    state: JobState,
    status: &mut KafkaRestoreStatus,
    at: &Time,
) -> Result<()> {
    let ns = kr.namespace().unwrap_or_default();
    let object = kr.object_ref(&());
    let output = children::output(&ctx.client, &ns, &job.name_any(), None).await?;
    let labels =
        |outcome: &str| OutcomeLabels { namespace: ns.clone(), name: kr.name_any(), outcome: outcome.into() };
    let result = match &state {
        JobState::Succeeded => output.result::<RestoreResult>().ok_or_else(|| {
            "the Job succeeded but left no result (neither in its log nor its termination message)"
                .to_string()
        }),
        JobState::Failed { reason } => Err(output.error().unwrap_or_else(|| reason.clone())),
        JobState::Running => return Ok(()),
    };
    status.job_name = Some(job.name_any());
    status.progress = None;
    match result {
        Ok(r) => {
            if let Some(snapshot) = &r.offset_snapshot {
                let cm = crate::operator::offset_reset::controller::snapshot_config_map(
                    kr,
                    &kr.spec.cluster,
                    snapshot,
                )?;
                children::ensure_config_map(&ctx.client, &ns, &cm).await?;
                status.offset_snapshot = Some(OffsetSnapshotRef {
                    config_map: cm.name_any(),
                    taken_at: time::parse(&r.start_time),
                    groups: i32::try_from(snapshot.groups.len()).ok(),
                });
            }
            let m = &ctx.metrics;
            let l = ResourceLabels { namespace: ns.clone(), name: kr.name_any() };
            m.restore_records.get_or_create(&l).inc_by(u64::try_from(r.restored_records).unwrap_or(0));
            m.restore_bytes.get_or_create(&l).inc_by(r.restored_bytes);
            if let (Some(a), Some(b)) =
                (time::unix_seconds(&r.start_time), time::unix_seconds(&r.completion_time))
            {
                m.restore_duration.get_or_create(&l).observe((b - a).max(0.0));
            }
            m.restores.get_or_create(&labels("success")).inc();
            status.phase = Some(RunPhase::Completed);
            status.restore = Some(StatusResult {
                backup_id: Some(r.backup_id.clone()),
                start_time: time::parse(&r.start_time),
                completion_time: time::parse(&r.completion_time),
                restored_topics: i32::try_from(r.restored_topics).ok(),
                restored_partitions: i32::try_from(r.restored_partitions).ok(),
                restored_records: Some(r.restored_records),
                restored_bytes: i64::try_from(r.restored_bytes).ok(),
                point_in_time_target: r.point_in_time_target.as_deref().and_then(time::parse),
                actual_point_in_time: r.actual_point_in_time.as_deref().and_then(time::parse),
                consumer_groups_restored: i32::try_from(r.consumer_groups_restored).ok(),
                consumer_groups_captured_at: r.consumer_groups_captured_at.as_deref().and_then(time::parse),
                retention_adjusted: r.retention_adjusted.clone(),
            });
            let message = format!(
                "{}restored {} records into {} partitions of {} topics from backup {}; {} consumer groups",
                if r.dry_run { "dry run: would have " } else { "" },
                r.restored_records,
                r.restored_partitions,
                r.restored_topics,
                r.backup_id,
                r.consumer_groups_restored
            );
            status::set_ready(&mut status.conditions, true, "RestoreCompleted", &message, at);
            ctx.event(&object, false, "RestoreCompleted", "Restore", message).await;
            if !r.retention_adjusted.is_empty() {
                let topics: Vec<String> = r
                    .retention_adjusted
                    .iter()
                    .map(|a| format!("{} ({} ms -> {} ms)", a.topic, a.retention_ms, a.applied_ms))
                    .collect();
                let note = format!(
                    "restored records were older than the retention of {}: retention.ms raised so they are kept for that retention from now; lower it once they may go",
                    topics.join(", ")
                );
                ctx.event(&object, true, "RetentionRaised", "Restore", note).await;
            }
        }
        Err(reason) => {
            ctx.metrics.restores.get_or_create(&labels("failure")).inc();
            status.phase = Some(RunPhase::Failed);
            if let Some(r) = status.restore.as_mut() {
                r.completion_time = Some(at.clone());
            }
            // A refused restore says why in its reason (`TargetChanged`), not only in the message.
            let why = crate::refusal::Reason::of_message(&reason).map_or("RestoreFailed", |r| r.as_str());
            let message = format!("restore failed: {reason}");
            status::set_ready(&mut status.conditions, false, why, &message, at);
            ctx.event(&object, true, why, "Restore", message).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn progress_estimates_the_end_at_the_rate_so_far() {
        let line = "INFO something\n{\"progress\":{\"recordsRestored\":250,\"recordsExpected\":1000,\"bytes\":9,\"percent\":25}}\n";
        let p = last_json_line::<ProgressLine>(line).expect("a progress line").progress;
        let started = Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).single().expect("time");
        let now = started + chrono::Duration::seconds(60);
        let st = progress_status(&p, Some(started), now);
        assert_eq!((st.percent, st.records_restored), (25, 250));
        // 250 records a minute, 750 left: three more minutes.
        assert_eq!(st.estimated_completion, time::kube(now + chrono::Duration::seconds(180)));
        let none_yet = crate::restore::run::Progress { records_expected: 1000, ..Default::default() };
        assert_eq!(progress_status(&none_yet, Some(started), now).estimated_completion, None);
        // A result line is not a progress line.
        assert!(last_json_line::<ProgressLine>("{\"restoreId\":\"x\"}").is_none());
    }
}
