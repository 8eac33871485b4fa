//! The `KafkaRestoreDrill` reconcile: validate → observe (its drill Jobs) → [`decide`] → act
//! (start a drill: dereference the source and the target, pick the restore point, launch the
//! Job; or record a finished one: `lastVerification`, history, the restore point's
//! verification, an Event, metrics, then delete the Job) → status. Drill Jobs are owned by the
//! drill, so deleting it deletes them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::decide::{self, DrillJob, Step, Why};
use crate::api::backup::KafkaBackup;
use crate::api::cluster::{ClusterConnection, SecretKeyRef};
use crate::api::condition::ReadyReason;
use crate::api::drill::{DrillReason, DrillRun, KafkaRestoreDrill, KafkaRestoreDrillStatus};
use crate::api::location::{AccessMode, KafkaBackupLocation};
use crate::api::restore_point::{
    KafkaRestorePoint, KafkaRestorePointStatus, Verification, VerificationResult,
};
use crate::api::storage::StorageSpec;
use crate::api::template::JobSettings;
use crate::drill::{DrillConfig, DrillResult};
use crate::operator::children::GENERATION_ANNOTATION;
use crate::operator::children::{self, FailedResult, JobState};
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::launch::{Launch, launch};
use crate::operator::metrics::ResourceLabels;
use crate::operator::status::{set_ready, write};
use crate::operator::storage_access::StorageAccess;

/// The `app.kubernetes.io/component` of drill Jobs.
pub const COMPONENT: &str = "drill";
/// On a drill Job: the `KafkaRestorePoint` it restores (read back when it is recorded).
pub const RESTORE_POINT_ANNOTATION: &str = "kafkabackup.com/restore-point";
/// On a drill Job: that restore point's backup id.
pub const BACKUP_ID_ANNOTATION: &str = "kafkabackup.com/backup-id";
/// How soon a drill that cannot start (no restore point yet, the target not resolvable) looks
/// again: a KafkaBackup's first backup, or a Kafka becoming ready, ends the wait.
pub const NOT_STARTED_RETRY: Duration = Duration::from_secs(30);

pub async fn reconcile(krd: Arc<KafkaRestoreDrill>, ctx: Arc<Context>) -> Result<Action> {
    let now = Utc::now();
    let before = krd.status.clone();
    let mut status = before.clone().unwrap_or_default();
    let who = labels(&krd);
    // From status on every reconcile, so a restarted operator exports them again at once.
    ctx.metrics.drill(&who, &status, interval(&krd, now));
    let problems = crate::api::rules::drill(&krd.spec);
    if !problems.is_empty() {
        let message = crate::api::rules::message(&problems);
        if set_ready(&mut status.conditions, DrillReason::InvalidSpec, &message, &crate::time::now()) {
            event(&ctx, &krd, true, "InvalidSpec", message).await;
        }
        status.observed_generation = krd.metadata.generation;
        write(&ctx.client, krd.as_ref(), &before, &status).await?;
        return Ok(Action::await_change());
    }
    let jobs = children::owned_jobs(&ctx.client, krd.as_ref(), COMPONENT).await?;
    let observed: Vec<DrillJob> =
        jobs.iter().map(|j| DrillJob { name: j.name_any(), state: children::state(j) }).collect();
    let requeue = match decide::decide(&krd, &observed, now) {
        Step::Record { job, state } => {
            let Some(finished) = jobs.iter().find(|j| j.name_any() == job) else {
                return Ok(Action::requeue(Duration::from_secs(1)));
            };
            record(&ctx, &krd, &mut status, finished, &state).await?;
            // What the Job drilled is the spec it was started with.
            let launched = children::launched_generation(finished);
            status.observed_generation = launched.or(krd.metadata.generation);
            status.active_job = None;
            ctx.metrics.drill(&who, &status, interval(&krd, now));
            write(&ctx.client, krd.as_ref(), &before, &status).await?;
            children::delete_run(&ctx.client, &krd.namespace().unwrap_or_default(), &job).await?;
            // The next reconcile decides what is due from the status just written.
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        Step::Running { job } => {
            let running = jobs.iter().find(|j| j.name_any() == job);
            let blocked = children::blocked_while_starting(&ctx.client, running, now).await?;
            if let Some(why) = blocked {
                set_ready(&mut status.conditions, DrillReason::JobPodBlocked, why, &crate::time::now());
            }
            status.active_job = Some(job);
            Some(children::STARTING_RECHECK)
        }
        Step::Launch { job, why, next } => match start(&ctx, &krd, &job).await? {
            Ok(started) => {
                let note = format!(
                    "drilling restore point {} (backup {}) with Job {job}: {why}",
                    started.point, started.backup_id
                );
                if status.last_verification.is_none() {
                    set_ready(&mut status.conditions, DrillReason::Scheduled, &note, &crate::time::now());
                }
                if let Why::Trigger(value) = &why {
                    status.last_trigger = Some(value.clone());
                }
                if let Why::Scheduled { missed, .. } = why {
                    status.next_schedule_time = next.and_then(crate::time::kube);
                    if missed > 0 {
                        let note = format!("{missed} earlier scheduled drill(s) missed; running the latest");
                        event(&ctx, &krd, true, "MissedSchedule", note).await;
                    }
                }
                status.last_schedule_time = Some(crate::time::now());
                status.active_job = Some(job);
                event(&ctx, &krd, false, "DrillStarted", note).await;
                Some(children::STARTING_RECHECK)
            }
            Err((reason, message)) => {
                if set_ready(&mut status.conditions, reason, &message, &crate::time::now()) {
                    event(&ctx, &krd, true, reason.as_str(), message).await;
                }
                // A scheduled slot stays due (the cursor is not moved) until its starting deadline.
                Some(NOT_STARTED_RETRY)
            }
        },
        Step::Wait { next, missed } => {
            status.next_schedule_time = next.and_then(crate::time::kube);
            status.observed_generation = krd.metadata.generation;
            if let Some((latest, n)) = missed {
                let note = format!(
                    "{n} scheduled drill(s) missed, the latest at {latest}: more than {} minutes late, not started",
                    crate::operator::backup::schedule::STARTING_DEADLINE.num_minutes()
                );
                event(&ctx, &krd, true, "MissedSchedule", note).await;
            }
            if crate::operator::status::ready(&status.conditions).is_none() {
                let message = match next {
                    Some(at) => format!("the first drill is scheduled for {at}"),
                    None => "waiting for a new value of the kafkabackup.com/trigger annotation".to_string(),
                };
                set_ready(&mut status.conditions, DrillReason::Scheduled, message, &crate::time::now());
            }
            next.map(|at| until(at, now))
        }
    };
    write(&ctx.client, krd.as_ref(), &before, &status).await?;
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// How long until `at`, and a second past it, so the slot is due when the reconcile runs.
fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default() + Duration::from_secs(1)
}

fn labels(krd: &KafkaRestoreDrill) -> ResourceLabels {
    ResourceLabels { namespace: krd.namespace().unwrap_or_default(), name: krd.name_any() }
}

/// The longest gap of the drill's schedule in seconds, while one is in effect (the alert on
/// drills compares it with the last success).
pub fn interval(krd: &KafkaRestoreDrill, now: DateTime<Utc>) -> Option<f64> {
    let schedule = krd.spec.schedule.as_ref().filter(|s| !s.suspend)?;
    let cron = crate::api::schedule::CronSchedule::parse(&schedule.as_backup_schedule()).ok()?;
    cron.longest_gap(now).map(|g| g.num_milliseconds() as f64 / 1e3)
}

async fn event(ctx: &Context, krd: &KafkaRestoreDrill, warning: bool, reason: &str, note: String) {
    ctx.event(&krd.object_ref(&()), warning, reason, "Drill", note).await;
}

/// Where the restore points of a drill are, and what a drill of them may do.
struct Source {
    storage: StorageSpec,
    key: Option<SecretKeyRef>,
    /// The `KafkaBackup`'s KMS, when its backups' data keys are wrapped by one.
    kms: Option<crate::api::kms::KmsSpec>,
    points: Vec<KafkaRestorePoint>,
    /// The backed-up cluster (a `KafkaBackup`'s), the default target.
    cluster: Option<ClusterConnection>,
    /// Whether the operator may write evidence at the location.
    evidence: bool,
    what: String,
}

type NotStarted = (DrillReason, String);

/// The `KafkaBackup` or `KafkaBackupLocation` the drill names, or why there is none.
async fn source(ctx: &Context, krd: &KafkaRestoreDrill) -> Result<std::result::Result<Source, NotStarted>> {
    let ns = krd.namespace().unwrap_or_default();
    let missing = |what: String, field: &str| {
        Ok(Err((
            DrillReason::NoRestorePoint,
            format!(
                "{what} not found: fix {field}, or create it; the drill starts once it lists a restore point"
            ),
        )))
    };
    if let Some(r) = &krd.spec.backup_ref {
        let api: Api<KafkaBackup> = Api::namespaced(ctx.client.clone(), &ns);
        let what = format!("KafkaBackup {ns}/{}", r.name);
        let Some(kb) = api.get_opt(&r.name).await.map_err(Error::read(what.clone()))? else {
            return missing(what, "spec.backupRef.name");
        };
        let points = crate::operator::restore_points::list(&ctx.client, &kb).await?;
        let key = crate::operator::backup::run_config::encryption_key(&kb).cloned();
        return Ok(Ok(Source {
            storage: crate::operator::backup::run_config::storage(&kb),
            key,
            kms: crate::operator::kms_access::of_backup(&kb).cloned(),
            points,
            cluster: Some(kb.spec.cluster.clone()),
            evidence: true,
            what,
        }));
    }
    if let Some(r) = &krd.spec.location_ref {
        let api: Api<KafkaBackupLocation> = Api::namespaced(ctx.client.clone(), &ns);
        let what = format!("KafkaBackupLocation {ns}/{}", r.name);
        let Some(kbl) = api.get_opt(&r.name).await.map_err(Error::read(what.clone()))? else {
            return missing(what, "spec.locationRef.name");
        };
        let points = crate::operator::restore_points::list(&ctx.client, &kbl).await?;
        return Ok(Ok(Source {
            storage: kbl.spec.storage.clone(),
            key: None,
            kms: None,
            points,
            cluster: None,
            evidence: kbl.spec.access_mode == AccessMode::ReadWrite,
            what,
        }));
    }
    Ok(Err((DrillReason::InvalidSpec, "set spec.backupRef or spec.locationRef".into())))
}

/// What a started drill restores.
struct Started {
    point: String,
    backup_id: String,
}

/// Resolves the source, the target and the restore point, and launches the drill Job `job`
/// (idempotently: a Job of that name that is the drill's own is taken as started).
async fn start(
    ctx: &Context,
    krd: &KafkaRestoreDrill,
    job: &str,
) -> Result<std::result::Result<Started, NotStarted>> {
    let ns = krd.namespace().unwrap_or_default();
    let source = match source(ctx, krd).await? {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    let Some(point) = decide::pick(&source.points, krd.spec.restore_point, job) else {
        return Ok(Err((
            DrillReason::NoRestorePoint,
            format!("{} lists no restore point yet; the drill starts once it does", source.what),
        )));
    };
    let Some(target) = krd.spec.target.clone().or(source.cluster) else {
        return Ok(Err((
            DrillReason::TargetNotResolved,
            "set spec.target: the cluster the scratch topics are restored into".into(),
        )));
    };
    let connection = crate::operator::dereference::connection(&ctx.strimzi, &ns, &target)
        .await
        .map_err(Error::read("the target Kafka cluster"))?;
    let connection = match connection {
        Ok(c) => c,
        Err(e) => return Ok(Err((DrillReason::TargetNotResolved, format!("target cluster: {e}")))),
    };
    let mut access = StorageAccess::for_storage(&source.storage);
    let encryption_key_file = source.key.as_ref().map(|k| access.with_encryption_key(k).into());
    let backup_id = point.spec.backup_id.clone();
    let config = DrillConfig {
        drill_id: Some(job.to_string()),
        kafka: connection.kafka.clone(),
        storage: source.storage,
        backup_id: Some(backup_id.clone()),
        encryption_key_file,
        kms: source.kms.as_ref().map(|k| crate::operator::kms_access::mount(k, &mut access)),
        topics: krd.spec.topics.clone(),
        topic_prefix: krd
            .spec
            .topic_prefix
            .clone()
            .unwrap_or_else(|| crate::api::drill::default_topic_prefix(&krd.name_any())),
        max_records: krd.spec.max_records.and_then(|m| u64::try_from(m).ok()),
        parallelism: krd.spec.parallelism,
        filesystem_root: crate::storage::FILESYSTEM_MOUNT.into(),
        record_evidence: source.evidence,
    };
    let config_yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Render(e.to_string()))?;
    // A failed drill is the finding itself, not a hiccup to retry: without a backoffLimit of the
    // user's, the Job runs one pod (the next drill is the next slot or trigger).
    let mut options = krd.spec.job_options.clone();
    options.job.get_or_insert_with(JobSettings::default).backoff_limit.get_or_insert(0);
    let mut annotations = std::collections::BTreeMap::from([
        (RESTORE_POINT_ANNOTATION.to_string(), point.name_any()),
        (BACKUP_ID_ANNOTATION.to_string(), backup_id.clone()),
    ]);
    if let Some(g) = krd.metadata.generation {
        annotations.insert(GENERATION_ANNOTATION.to_string(), g.to_string());
    }
    let run = Launch {
        name: job.to_string(),
        component: COMPONENT,
        subcommand: "drill",
        config_yaml,
        connection,
        access,
        options: &options,
        cluster: &target,
        annotations,
    };
    launch(ctx, krd, run).await?;
    Ok(Ok(Started { point: point.name_any(), backup_id }))
}

/// The evidence of a drill that reported a result.
fn run_of(r: &DrillResult, point: Option<String>, job: &str) -> DrillRun {
    DrillRun {
        restore_point: point,
        backup_id: Some(r.backup_id.clone()),
        job: Some(job.to_string()),
        start_time: crate::time::parse(&r.start_time),
        completion_time: crate::time::parse(&r.completion_time),
        result: r.result,
        records: i64::try_from(r.records).unwrap_or(i64::MAX),
        bytes: i64::try_from(r.bytes).unwrap_or(i64::MAX),
        mismatches: i64::try_from(r.mismatches).unwrap_or(i64::MAX),
        rto_seconds: Some(r.restore_seconds),
        records_per_second: Some(r.records_per_second),
        mb_per_second: Some(r.mb_per_second),
        first_mismatches: r.first_mismatches.clone(),
        message: Some(r.message.clone()).filter(|m| !m.is_empty()),
        scratch_topics_deleted: Some(r.scratch_topics_deleted),
    }
}

/// The `Ready` message of a recorded drill: what it proved, or the first record that differed
/// (topic, partition, offset) and the data plane's account.
fn verdict(run: &DrillRun) -> String {
    let what = format!(
        "restore point {} (backup {})",
        run.restore_point.as_deref().unwrap_or("?"),
        run.backup_id.as_deref().unwrap_or("?")
    );
    let message = run.message.clone().unwrap_or_default();
    if run.result == VerificationResult::Passed {
        return format!("{what}: {message}");
    }
    match run.first_mismatches.first() {
        Some(m) => format!(
            "{what} failed its drill: {} mismatch(es), the first at topic {} partition {}{}: {}; {message}",
            run.mismatches,
            m.topic,
            m.partition,
            m.offset
                .map(|o| format!(" offset {o}"))
                .unwrap_or_else(|| { format!(" scratch offset {}", m.restored_offset.unwrap_or(-1)) }),
            m.what
        ),
        None => format!("{what} failed its drill: {message}"),
    }
}

/// Reads a finished drill and records it: status, the restore point's verification, an Event,
/// the counter.
async fn record(
    ctx: &Context,
    krd: &KafkaRestoreDrill,
    status: &mut KafkaRestoreDrillStatus,
    job: &Job,
    state: &JobState,
) -> Result<()> {
    let ns = krd.namespace().unwrap_or_default();
    let name = job.name_any();
    let output = children::output(&ctx.client, &ns, &name, None).await?;
    let point = job.annotations().get(RESTORE_POINT_ANNOTATION).cloned();
    // A failed Job may have printed its result (a drill that found a mismatch exits non-zero).
    let run = match children::run_result::<DrillResult>(state, &output, FailedResult::Keep) {
        Ok(r) => run_of(&r, point.clone(), &name),
        Err(why) => DrillRun {
            restore_point: point.clone(),
            backup_id: job.annotations().get(BACKUP_ID_ANNOTATION).cloned(),
            job: Some(name.clone()),
            start_time: job.status.as_ref().and_then(|s| s.start_time.clone()),
            completion_time: Some(crate::time::now()),
            result: VerificationResult::Failed,
            message: Some(format!("the drill did not finish: {why}")),
            ..Default::default()
        },
    };
    let passed = run.result == VerificationResult::Passed;
    let message = verdict(&run);
    let reason = if passed { DrillReason::DrillPassed } else { DrillReason::DrillFailed };
    set_ready(&mut status.conditions, reason, &message, &crate::time::now());
    event(ctx, krd, !passed, reason.as_str(), message).await;
    if let Some(point) = &point {
        verify(ctx, krd, point, &run).await?;
    }
    let result = if passed { "Passed" } else { "Failed" };
    ctx.metrics
        .drills
        .get_or_create(&crate::operator::metrics::DrillLabels {
            namespace: ns,
            name: krd.name_any(),
            result: result.into(),
        })
        .inc();
    let limit = krd.spec.history_limit;
    decide::enter(status, run, limit);
    Ok(())
}

/// Writes the drill's outcome into the restore point's `status.verification`. A restore point
/// pruned since the drill started is gone with its evidence: logged, nothing else.
async fn verify(ctx: &Context, krd: &KafkaRestoreDrill, point: &str, run: &DrillRun) -> Result<()> {
    let ns = krd.namespace().unwrap_or_default();
    let mut object = KafkaRestorePoint::new(point, Default::default());
    object.metadata.namespace = Some(ns.clone());
    let verification = Verification {
        result: run.result,
        drill: Some(format!("{ns}/{}", krd.name_any())),
        start_time: run.start_time.clone(),
        completion_time: run.completion_time.clone(),
        records: run.records,
        mismatches: run.mismatches,
        rto_seconds: run.rto_seconds,
        message: run.message.clone(),
    };
    let status = KafkaRestorePointStatus { verification: Some(verification) };
    match write(&ctx.client, &object, &None, &status).await {
        Err(Error::Status(kube::Error::Api(e))) if e.code == 404 => {
            info!(restore_point = %point, "the drilled restore point was pruned meanwhile; its verification is not recorded");
            Ok(())
        }
        other => other,
    }
}
