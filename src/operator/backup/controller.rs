//! The `KafkaBackup` reconcile, in steps: validate the spec (the webhook's rules, again) →
//! dereference and resolve the cluster → record finished runs from their Jobs → decide what is
//! due (trigger, first run, schedule) → start it → write the status. Deleting the resource runs
//! the `deletionPolicy` through the finalizer.
//!
//! The Jobs are the record of what runs: each run's Job has a deterministic name (the schedule
//! slot, the trigger value, or `initial`), so a restarted operator adopts a Job it created before
//! instead of starting a second one, and a finished Job is recorded in the status exactly once
//! (it is annotated when recorded).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent};
use kube::{Resource, ResourceExt};
use sha2::Digest;
use tracing::info;

use super::outcome;
use super::run_config::{self, Run};
use super::schedule::{self, Due};
use crate::api::backup::{
    BackupRecord, BackupRunStatus, ConcurrencyPolicy, DeletionPolicy, KafkaBackup, KafkaBackupStatus,
    TRIGGER_ANNOTATION,
};
use crate::api::condition::{self, Condition, ConditionStatus};
use crate::api::restore::{KafkaRestore, RunPhase};
use crate::api::schedule::CronSchedule;
use crate::api::{enterprise, rules};
use crate::backup::BackupResult;
use crate::operator::children::{self, JobState};
use crate::operator::context::Context;
use crate::operator::dereference;
use crate::operator::error::{Error, Result};
use crate::operator::launch::{self, Launch};
use crate::operator::metrics::{Metrics, OutcomeLabels, ResourceLabels};
use crate::operator::settings::Watched;
use crate::operator::status::{self, now};
use crate::operator::storage_access::StorageAccess;
use crate::verify::VerifyConfig;

/// Held while the stored backups may still need deleting (`deletionPolicy: Delete`).
pub const FINALIZER: &str = "kafkabackup.com/cleanup";
/// On a backup Job: the backup id it writes.
pub const BACKUP_ID_ANNOTATION: &str = "kafkabackup.com/backup-id";
/// On a backup Job: `true` once its outcome is in the status.
pub const RECORDED_ANNOTATION: &str = "kafkabackup.com/recorded";
const COMPONENT: &str = "backup";
const CLEANUP_COMPONENT: &str = "cleanup";
/// How soon to look again at a cluster that is not ready.
const CLUSTER_RETRY: Duration = Duration::from_secs(30);

pub async fn reconcile(kb: Arc<KafkaBackup>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<KafkaBackup> = Api::namespaced(ctx.client.clone(), &kb.namespace().unwrap_or_default());
    finalizer::finalizer(&api, FINALIZER, kb, |event| async {
        match event {
            FinalizerEvent::Apply(kb) => apply(&kb, &ctx).await,
            FinalizerEvent::Cleanup(kb) => cleanup(&kb, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    })
}

fn labels(kb: &KafkaBackup) -> ResourceLabels {
    ResourceLabels { namespace: kb.namespace().unwrap_or_default(), name: kb.name_any() }
}

/// The backup Jobs of `kb` (its own, by owner uid).
async fn jobs(ctx: &Context, kb: &KafkaBackup, component: &str) -> Result<Vec<Job>> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &kb.namespace().unwrap_or_default());
    let selector =
        format!("app.kubernetes.io/instance={},app.kubernetes.io/component={component}", kb.name_any());
    let uid = kb.uid();
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::read("backup Jobs"))?
        .items
        .into_iter()
        .filter(|j| j.owner_references().iter().any(|o| Some(&o.uid) == uid.as_ref()))
        .collect())
}

fn annotation<'a>(job: &'a Job, key: &str) -> Option<&'a str> {
    job.metadata.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// Records a finished Job's run in `status`, with its Event and metrics.
async fn record(
    ctx: &Context,
    kb: &KafkaBackup,
    job: &Job,
    status: &mut KafkaBackupStatus,
    state: JobState,
) -> Result<()> {
    let ns = kb.namespace().unwrap_or_default();
    let id = annotation(job, BACKUP_ID_ANNOTATION).unwrap_or(&job.name_any()).to_string();
    let output = children::output(&ctx.client, &ns, &job.name_any(), None).await?;
    let at = now();
    let started = job.status.as_ref().and_then(|s| s.start_time.clone());
    let m = &ctx.metrics;
    let result = match state {
        JobState::Succeeded => output.result::<BackupResult>().ok_or_else(|| {
            "the Job succeeded but left no result (neither in its log nor its termination message)"
                .to_string()
        }),
        _ => Err(match (output.error(), state) {
            (Some(e), _) => e,
            (None, JobState::Failed { reason }) => reason,
            (None, _) => "the Job failed".into(),
        }),
    };
    let object = kb.object_ref(&());
    match result {
        Ok(r) => {
            outcome::completed(status, &r, at.clone());
            let l = labels(kb);
            m.backup_records.get_or_create(&l).inc_by(r.records);
            m.backup_bytes.get_or_create(&l).inc_by(r.raw_bytes);
            if let (Some(a), Some(b)) =
                (status::unix_seconds(&r.started_at), status::unix_seconds(&r.completed_at))
            {
                m.backup_duration.get_or_create(&l).observe((b - a).max(0.0));
            }
            let now_s = Utc::now().timestamp_millis() as f64 / 1e3;
            m.backup_last_success.get_or_create(&l).set(now_s);
            if let Some(newest) = r.newest_timestamp.as_deref().and_then(status::unix_seconds) {
                m.backup_lag.get_or_create(&l).set((now_s - newest).max(0.0));
            }
            if let Some(inv) = &r.inventory {
                m.backup_storage_bytes
                    .get_or_create(&l)
                    .set(i64::try_from(inv.storage_bytes).unwrap_or(i64::MAX));
            }
            m.backups.get_or_create(&outcome_labels(kb, "success")).inc();
            let note = format!(
                "backup {} completed: {} records in {} partitions, {} bytes stored",
                r.backup_id, r.records, r.partitions, r.size_bytes
            );
            ctx.event(&object, false, "BackupCompleted", "Backup", note).await;
            if !r.lineage_breaks.is_empty() {
                let lines: Vec<String> = r
                    .lineage_breaks
                    .iter()
                    .map(|b| format!("{}/{}: {:?} ({})", b.topic, b.partition, b.reason, b.message))
                    .collect();
                let note = format!(
                    "backup {}: {} partition(s) could not continue the backup before and were read in full from their log start; nothing of the older backups is joined to them: {}",
                    r.backup_id,
                    lines.len(),
                    lines.join("; ")
                );
                ctx.event(&object, true, "LineageBroken", "Backup", note).await;
            }
            if let Some(inv) = r.inventory.as_ref().filter(|i| !i.pruned.is_empty()) {
                let note = format!(
                    "retention deleted {} backup(s): {}; {} left",
                    inv.pruned.len(),
                    inv.pruned.join(", "),
                    inv.backup_count
                );
                ctx.event(&object, false, "BackupsPruned", "Prune", note).await;
            }
        }
        Err(reason) => {
            outcome::failed(status, &id, started, &reason, at);
            m.backup_last_failure.get_or_create(&labels(kb)).set(Utc::now().timestamp_millis() as f64 / 1e3);
            m.backups.get_or_create(&outcome_labels(kb, "failure")).inc();
            ctx.event(&object, true, "BackupFailed", "Backup", format!("backup {id} failed: {reason}")).await;
        }
    }
    Ok(())
}

/// The gauges of `kb` that describe its state rather than a run, set at every reconcile
/// (`cron`: its schedule, parsed, if it has a valid one):
/// - the schedule's interval, from the spec alone, so that the alert "no successful backup
///   within two intervals" also covers a backup that cannot run (invalid spec, no licence, an
///   unreachable cluster); removed when no schedule is in effect (none, suspended, invalid);
/// - the last success and failure times, from the status' history when it has newer ones than
///   this process recorded: a restarted operator or a new leader reports them (and the alerts
///   on them hold) before the next run finishes.
fn state_gauges(
    m: &Metrics,
    kb: &KafkaBackup,
    cron: Option<&CronSchedule>,
    status: &KafkaBackupStatus,
    now: DateTime<Utc>,
) {
    let l = labels(kb);
    let suspended = kb.spec.schedule.as_ref().is_some_and(|s| s.suspend);
    let interval = cron.filter(|_| !suspended).and_then(|cron| schedule::interval(cron, now));
    match interval {
        Some(i) => {
            m.backup_schedule_interval.get_or_create(&l).set(i.num_milliseconds() as f64 / 1e3);
        }
        None => {
            m.backup_schedule_interval.remove(&l);
        }
    }
    for (gauge, outcome) in [
        (&m.backup_last_success, BackupRunStatus::Completed),
        (&m.backup_last_failure, BackupRunStatus::Failed),
    ] {
        let newest = status
            .backup_history
            .iter()
            .filter(|r| r.status == outcome)
            .filter_map(|r| r.completion_time.as_ref().and_then(status::chrono))
            .max();
        if let Some(t) = newest.map(|t| t.timestamp_millis() as f64 / 1e3) {
            let g = gauge.get_or_create(&l);
            if g.get() < t {
                g.set(t);
            }
        }
    }
}

fn outcome_labels(kb: &KafkaBackup, outcome: &str) -> OutcomeLabels {
    OutcomeLabels {
        namespace: kb.namespace().unwrap_or_default(),
        name: kb.name_any(),
        outcome: outcome.into(),
    }
}

/// A run to start now.
struct Start {
    suffix: String,
    scheduled: bool,
    why: String,
}

/// Job name suffix for a trigger value: deterministic (a restarted operator adopts the Job), a
/// valid name part whatever the value, and of this object alone — the Job name is the backup id,
/// and a KafkaBackup deleted and created again under its name must not meet the ids of the one
/// before in the storage they share (a backup id is never reused).
fn trigger_suffix(kb: &KafkaBackup, value: &str) -> String {
    let seed = format!("{}/{value}", kb.uid().unwrap_or_default());
    format!("trigger-{}", hex::encode(&sha2::Sha256::digest(seed.as_bytes())[..4]))
}

/// Job name suffix of the one run of a KafkaBackup without a schedule: of this object alone, like
/// [`trigger_suffix`].
fn initial_suffix(kb: &KafkaBackup) -> String {
    let uid = kb.uid().unwrap_or_default();
    format!("initial-{}", uid.chars().filter(char::is_ascii_hexdigit).take(8).collect::<String>())
}

/// Backups that running restores read: retention must keep them.
async fn protected(ctx: &Context, kb: &KafkaBackup) -> Result<Vec<String>> {
    let ns = kb.namespace().unwrap_or_default();
    let apis: Vec<Api<KafkaRestore>> = match &ctx.settings.watched {
        Watched::All => vec![Api::all(ctx.client.clone())],
        Watched::Namespaces(list) => list.iter().map(|n| Api::namespaced(ctx.client.clone(), n)).collect(),
    };
    let mut ids = Vec::new();
    for api in apis {
        for r in api.list(&ListParams::default()).await.map_err(Error::read("KafkaRestores"))?.items {
            let refers = r.spec.backup_ref.as_ref().is_some_and(|b| {
                b.name == kb.name_any()
                    && b.namespace.as_deref().unwrap_or(&r.namespace().unwrap_or_default()) == ns
            });
            let status = r.status.as_ref();
            let running =
                !matches!(status.and_then(|s| s.phase), Some(RunPhase::Completed | RunPhase::Failed));
            if refers && running {
                ids.extend(status.and_then(|s| s.restore.as_ref()).and_then(|r| r.backup_id.clone()));
                ids.extend(r.spec.backup_ref.as_ref().and_then(|b| b.backup_id.clone()));
            }
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// The condition that reports a licence problem with the Enterprise fields in use.
pub const LICENSE_CONDITION: &str = "LicenseInvalid";
/// How soon a backup waiting for a licence looks again (installing one also wakes nothing else).
const LICENSE_RETRY: Duration = Duration::from_secs(30);

/// The webhook's licence check, again, for clusters where it is bypassed. Enterprise settings
/// that were accepted under a valid licence keep running when it lapses, with the
/// `LicenseInvalid` condition and a Warning Event: expiry never stops a schedule. New or changed
/// ones wait (Ready=False) until a valid licence is installed: returns how long to wait then.
async fn licence(
    ctx: &Context,
    kb: &KafkaBackup,
    status: &mut KafkaBackupStatus,
    at: &Time,
) -> Option<Duration> {
    let uses = enterprise::backup_uses(&kb.spec);
    let fingerprint = enterprise::fingerprint(&uses);
    let checked = ctx.license.check(Utc::now());
    let problems = enterprise::check(&uses, &checked);
    if problems.is_empty() {
        status.licensed_settings = fingerprint;
        condition::remove(&mut status.conditions, LICENSE_CONDITION);
        return None;
    }
    let object = kb.object_ref(&());
    let accepted_before = fingerprint.is_some() && status.licensed_settings == fingerprint;
    let message = if accepted_before {
        format!(
            "{}; these settings ran under a valid licence and keep running, changes to them wait for a valid licence",
            rules::message(&problems)
        )
    } else {
        rules::message(&problems)
    };
    let reason = enterprise::reason(&checked);
    let new = Condition::new(LICENSE_CONDITION, ConditionStatus::True, reason, message.clone());
    if status::set_condition(&mut status.conditions, new, at) {
        ctx.event(&object, true, reason, "License", message.clone()).await;
    }
    if accepted_before {
        return None;
    }
    status::set_ready(&mut status.conditions, false, LICENSE_CONDITION, &message, at);
    Some(LICENSE_RETRY)
}

async fn apply(kb: &KafkaBackup, ctx: &Context) -> Result<Action> {
    let ns = kb.namespace().unwrap_or_default();
    let name = kb.name_any();
    let object = kb.object_ref(&());
    let at = now();
    let before = kb.status.clone();
    let mut status = before.clone().unwrap_or_default();
    status.observed_generation = kb.metadata.generation;
    let schedule = kb.spec.schedule.as_ref();
    let cron = schedule.and_then(|s| CronSchedule::parse(s).ok());
    state_gauges(&ctx.metrics, kb, cron.as_ref(), &status, Utc::now());

    // 1. Validate: the webhook's rules, for clusters that run without it.
    let problems = rules::backup(&kb.spec);
    if !problems.is_empty() {
        let message = rules::message(&problems);
        if status::set_ready(&mut status.conditions, false, "InvalidSpec", &message, &at) {
            ctx.event(&object, true, "InvalidSpec", "Validate", message).await;
        }
        status::write(&ctx.client, kb, &before, &status).await?;
        return Ok(Action::await_change());
    }
    if let Some(wait) = licence(ctx, kb, &mut status, &at).await {
        status::write(&ctx.client, kb, &before, &status).await?;
        return Ok(Action::requeue(wait));
    }

    // 2. Record runs that finished; the one still running is the active run.
    let mut recorded = Vec::new();
    let mut active = Vec::new();
    for job in jobs(ctx, kb, COMPONENT).await? {
        match children::state(&job) {
            JobState::Running => active.push(job.name_any()),
            _ if annotation(&job, RECORDED_ANNOTATION) == Some("true") => {}
            state => {
                record(ctx, kb, &job, &mut status, state).await?;
                recorded.push(job.name_any());
            }
        }
    }
    active.sort();

    // 3. The cluster: a missing or unready Kafka holds new runs back, visibly.
    let connection = dereference::connection(&ctx.strimzi, &ns, &kb.spec.cluster)
        .await
        .map_err(Error::read("the Kafka cluster"))?;

    // 4. What is due.
    let created = kb.creation_timestamp().and_then(|t| status::chrono(&t)).unwrap_or_else(Utc::now);
    let now_c = Utc::now();
    let mut start: Option<Start> = None;
    let mut requeue: Option<DateTime<Utc>> = None;
    let mut replace = false;
    let trigger = kb.annotations().get(TRIGGER_ANNOTATION).filter(|v| !v.is_empty());
    if let Some(value) = trigger.filter(|v| status.last_trigger.as_ref() != Some(*v)) {
        // An explicit request waits for a running backup rather than being dropped.
        let policy = schedule.map(|s| s.concurrency_policy).unwrap_or_default();
        if active.is_empty() || policy == ConcurrencyPolicy::Replace {
            replace = !active.is_empty();
            start = Some(Start {
                suffix: trigger_suffix(kb, value),
                scheduled: false,
                why: format!("{TRIGGER_ANNOTATION}={value}"),
            });
        }
    }
    match (schedule, &cron) {
        (Some(s), Some(cron)) if s.suspend => {
            // The cursor follows the clock while suspended, so resuming does not catch up.
            status.next_scheduled_backup = cron.next_after(now_c).and_then(status::time);
        }
        (Some(s), Some(cron)) => {
            let cursor = status.next_scheduled_backup.as_ref().and_then(status::chrono);
            match schedule::due(cron, cursor, created, now_c) {
                Due::Later { at } => status.next_scheduled_backup = status::time(at),
                Due::Never => status.next_scheduled_backup = None,
                Due::Missed { latest, missed, next } => {
                    let why = format!(
                        "{missed} scheduled run(s) missed, the latest at {latest}: more than {} minutes late, not started (like a CronJob's startingDeadlineSeconds)",
                        schedule::STARTING_DEADLINE.num_minutes()
                    );
                    outcome::skipped(
                        &mut status,
                        &format!("{name}-{}", schedule::run_suffix(latest)),
                        &why,
                        at.clone(),
                    );
                    ctx.event(&object, true, "MissedSchedule", "Schedule", why).await;
                    status.next_scheduled_backup = next.and_then(status::time);
                }
                Due::Run { scheduled, missed, next } if connection.is_ok() => {
                    if missed > 0 {
                        let why = format!(
                            "{missed} earlier scheduled run(s) missed; running the latest, {scheduled}"
                        );
                        ctx.event(&object, true, "MissedSchedule", "Schedule", why).await;
                    }
                    let id = crate::operator::job::child_name(&name, &schedule::run_suffix(scheduled));
                    if start.is_some()
                        || (!active.is_empty() && s.concurrency_policy == ConcurrencyPolicy::Forbid)
                    {
                        if !active.contains(&id) {
                            let why = "the previous backup was still running (concurrencyPolicy: Forbid)";
                            outcome::skipped(&mut status, &id, why, at.clone());
                            m_skip(ctx, kb);
                            ctx.event(&object, false, "BackupSkipped", "Schedule", format!("{id}: {why}"))
                                .await;
                        }
                    } else {
                        replace = !active.is_empty();
                        start = Some(Start {
                            suffix: schedule::run_suffix(scheduled),
                            scheduled: true,
                            why: format!("scheduled for {scheduled}"),
                        });
                    }
                    status.next_scheduled_backup = next.and_then(status::time);
                }
                // Due, but the cluster is not usable: retry within the starting deadline.
                Due::Run { .. } => requeue = Some(now_c + chrono::Duration::seconds(30)),
            }
        }
        // Invalid schedules stopped at step 1.
        (Some(_), None) => {}
        (None, _) => {
            status.next_scheduled_backup = None;
            let never_ran = status.last_backup.is_none() && status.backup_history.is_empty();
            if never_ran && active.is_empty() && start.is_none() && recorded.is_empty() {
                start = Some(Start {
                    suffix: initial_suffix(kb),
                    scheduled: false,
                    why: "first run (no schedule)".into(),
                });
            }
        }
    }

    // 5. Start it.
    let ready_problem = match &connection {
        Err(e) => Some((e.reason(), e.to_string())),
        Ok(_) => None,
    };
    if let (Some(run), Ok(conn)) = (start, &connection) {
        if replace {
            for old in active.drain(..) {
                children::delete_job(&ctx.client, &ns, &old).await?;
                outcome::failed(
                    &mut status,
                    &old,
                    None,
                    "replaced by a newer run (concurrencyPolicy: Replace)",
                    at.clone(),
                );
            }
        }
        let job_name = crate::operator::job::child_name(&name, &run.suffix);
        let protected = if run.scheduled { protected(ctx, kb).await? } else { Vec::new() };
        let storage = run_config::storage(kb);
        let mut access = StorageAccess::for_storage(&storage);
        let key_file = kb
            .spec
            .backup
            .encryption
            .as_ref()
            .filter(|e| e.enabled)
            .and_then(|e| e.key_secret.as_ref())
            .map(|k| access.with_encryption_key(k).into());
        let config = run_config::render(
            &kb.spec,
            storage,
            conn.kafka.clone(),
            &Run {
                backup_id: job_name.clone(),
                scheduled: run.scheduled,
                protected,
                encryption_key_file: key_file,
                owner: Some(run_config::owner(kb)),
                take_over: run_config::takes_over(kb),
            },
        );
        let yaml = run_config::to_yaml(&config).map_err(|e| Error::Render(e.to_string()))?;
        let job = launch::launch(
            ctx,
            kb,
            Launch {
                name: job_name.clone(),
                component: COMPONENT,
                subcommand: "backup",
                config_yaml: yaml,
                connection: conn.clone(),
                access,
                options: &kb.spec.job_options,
                cluster: &kb.spec.cluster,
                annotations: BTreeMap::from([(BACKUP_ID_ANNOTATION.to_string(), job_name.clone())]),
            },
        )
        .await?;
        if let Some(value) = trigger.filter(|v| run.suffix == trigger_suffix(kb, v)) {
            status.last_trigger = Some(value.clone());
        }
        if children::state(&job) == JobState::Running {
            info!(backup = %name, job = %job_name, why = %run.why, "backup started");
            if !active.contains(&job_name) {
                active.push(job_name.clone());
                status.last_backup = Some(BackupRecord {
                    id: job_name.clone(),
                    status: BackupRunStatus::Running,
                    start_time: Some(at.clone()),
                    ..Default::default()
                });
                ctx.event(
                    &object,
                    false,
                    "BackupStarted",
                    "Backup",
                    format!("backup {job_name} started: {}", run.why),
                )
                .await;
            }
        }
    }
    status.active_job = active.first().cloned();

    // 6. Ready: a blocking problem, else the last finished run.
    settle_ready(ctx, kb, &mut status, ready_problem, &at).await;
    status::write(&ctx.client, kb, &before, &status).await?;
    for job in recorded {
        mark_recorded(ctx, &ns, &job).await?;
    }
    let next =
        [requeue, status.next_scheduled_backup.as_ref().and_then(status::chrono)].into_iter().flatten().min();
    Ok(match (next, &connection) {
        (_, Err(_)) => Action::requeue(CLUSTER_RETRY),
        (Some(t), _) => {
            Action::requeue((t - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200))
        }
        (None, _) => Action::await_change(),
    })
}

fn m_skip(ctx: &Context, kb: &KafkaBackup) {
    ctx.metrics.backups.get_or_create(&outcome_labels(kb, "skipped")).inc();
}

/// Sets `Ready` from the state and publishes an Event when a problem appears.
async fn settle_ready(
    ctx: &Context,
    kb: &KafkaBackup,
    status: &mut KafkaBackupStatus,
    problem: Option<(&'static str, String)>,
    at: &Time,
) {
    if let Some((reason, message)) = problem {
        if status::set_ready(&mut status.conditions, false, reason, &message, at) {
            ctx.event(&kb.object_ref(&()), true, reason, "ResolveCluster", message).await;
        }
        return;
    }
    let last = status
        .backup_history
        .iter()
        .find(|r| matches!(r.status, BackupRunStatus::Completed | BackupRunStatus::Failed))
        .cloned();
    let (ok, reason, message) = match last {
        Some(r) if r.status == BackupRunStatus::Failed => {
            (false, "BackupFailed", format!("backup {} failed: {}", r.id, r.message.unwrap_or_default()))
        }
        Some(r) => (true, "BackupCompleted", format!("backup {} completed", r.id)),
        None if status.active_job.is_some() => (true, "BackupRunning", "the first backup is running".into()),
        None => (true, "Scheduled", "waiting for the first scheduled run".into()),
    };
    // Keep the detailed message of the run outcome when the verdict is the same.
    let same = status::ready(&status.conditions).is_some_and(|c| c.reason.as_deref() == Some(reason));
    if !same {
        status::set_ready(&mut status.conditions, ok, reason, message, at);
    }
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

/// `deletionPolicy`: `Retain` keeps the stored backups; `Delete` stops running backups and
/// deletes every backup at the location with a cleanup Job, and lets the resource go only once
/// that succeeded (a failure is reported and retried; switching to `Retain` lets it go).
async fn cleanup(kb: &KafkaBackup, ctx: &Context) -> Result<Action> {
    ctx.metrics.forget_backup(&labels(kb));
    if kb.spec.deletion_policy == DeletionPolicy::Retain {
        return Ok(Action::await_change());
    }
    let ns = kb.namespace().unwrap_or_default();
    let object = kb.object_ref(&());
    for job in jobs(ctx, kb, COMPONENT).await? {
        if children::state(&job) == JobState::Running {
            children::delete_job(&ctx.client, &ns, &job.name_any()).await?;
        }
    }
    let name = crate::operator::job::child_name(&kb.name_any(), "cleanup");
    let existing = jobs(ctx, kb, CLEANUP_COMPONENT).await?.into_iter().find(|j| j.name_any() == name);
    let job = match existing {
        Some(job) => job,
        None => {
            let storage = run_config::storage(kb);
            let mut access = StorageAccess::for_storage(&storage);
            let key = kb.spec.backup.encryption.as_ref().and_then(|e| e.key_secret.as_ref());
            let config = VerifyConfig {
                storage,
                backup_id: None,
                encryption_key_file: key.map(|k| access.with_encryption_key(k).into()),
                filesystem_root: crate::storage::FILESYSTEM_MOUNT.into(),
                owner: Some(run_config::owner(kb)),
                take_over_location: run_config::takes_over(kb),
            };
            let yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Render(e.to_string()))?;
            ctx.event(
                &object,
                false,
                "DeletingBackups",
                "Cleanup",
                "deletionPolicy Delete: deleting the stored backups".into(),
            )
            .await;
            launch::launch(
                ctx,
                kb,
                Launch {
                    name: name.clone(),
                    component: CLEANUP_COMPONENT,
                    subcommand: "delete",
                    config_yaml: yaml,
                    connection: Default::default(),
                    access,
                    options: &kb.spec.job_options,
                    cluster: &kb.spec.cluster,
                    annotations: BTreeMap::new(),
                },
            )
            .await?
        }
    };
    match children::state(&job) {
        JobState::Running => {
            Err(Error::Waiting(format!("cleanup Job {name} is deleting the stored backups")))
        }
        JobState::Succeeded => {
            ctx.event(&object, false, "BackupsDeleted", "Cleanup", "the stored backups were deleted".into())
                .await;
            Ok(Action::await_change())
        }
        JobState::Failed { reason } => {
            let output = children::output(&ctx.client, &ns, &name, None).await?;
            let why = output.error().unwrap_or(reason);
            let note = format!(
                "deleting the stored backups failed: {why}; retrying. To delete this resource and keep the backups, set spec.deletionPolicy: Retain"
            );
            ctx.event(&object, true, "CleanupFailed", "Cleanup", note.clone()).await;
            children::delete_job(&ctx.client, &ns, &name).await?;
            Err(Error::Waiting(note))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn backup(schedule: &str) -> KafkaBackup {
        let spec = serde_yaml_ng::from_str(&format!(
            "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nstorage: {{type: s3, s3: {{bucket: b, region: r}}}}\n{schedule}"
        ))
        .expect("spec");
        let mut kb = KafkaBackup::new("nightly", spec);
        kb.metadata.namespace = Some("kafka".into());
        kb
    }

    fn run(status: BackupRunStatus, completed: i64) -> BackupRecord {
        let at = Utc.timestamp_opt(completed, 0).single().expect("time");
        BackupRecord {
            id: format!("b{completed}"),
            status,
            completion_time: status::time(at),
            ..Default::default()
        }
    }

    fn value(family: &prometheus_client::metrics::family::Family<ResourceLabels, FloatGauge>) -> Option<f64> {
        let who = ResourceLabels { namespace: "kafka".into(), name: "nightly".into() };
        family.get(&who).map(|g| g.get())
    }

    /// `state_gauges` as `apply` calls it.
    fn gauges(m: &Metrics, kb: &KafkaBackup, status: &KafkaBackupStatus, now: DateTime<Utc>) {
        let cron = kb.spec.schedule.as_ref().and_then(|s| CronSchedule::parse(s).ok());
        state_gauges(m, kb, cron.as_ref(), status, now);
    }

    type FloatGauge = prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>;

    #[test]
    fn the_interval_follows_the_schedule_in_effect() {
        let m = Metrics::register(&mut prometheus_client::registry::Registry::default());
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 20, 0).single().expect("time");
        let status = KafkaBackupStatus::default();
        gauges(&m, &backup("schedule: {cron: '0 * * * *'}"), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), Some(3600.0));
        gauges(&m, &backup("schedule: {cron: '0 2 * * 1-5', timezone: Europe/Berlin}"), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), Some(3.0 * 86400.0));
        // Suspended, removed, or no longer valid: nothing is overdue.
        gauges(&m, &backup("schedule: {cron: '0 * * * *', suspend: true}"), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), None);
        gauges(&m, &backup("schedule: {cron: '0 * * * *'}"), &status, now);
        gauges(&m, &backup(""), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), None);
        gauges(&m, &backup("schedule: {cron: '0 * * * *'}"), &status, now);
        gauges(&m, &backup("schedule: {cron: '61 * * * *'}"), &status, now);
        assert_eq!(value(&m.backup_schedule_interval), None);
    }

    #[test]
    fn last_runs_come_from_the_history_when_newer_and_go_with_the_backup() {
        let m = Metrics::register(&mut prometheus_client::registry::Registry::default());
        let kb = backup("schedule: {cron: '0 * * * *'}");
        let now = Utc::now();
        // A new leader: nothing recorded yet, the history has both.
        let status = KafkaBackupStatus {
            backup_history: vec![
                run(BackupRunStatus::Skipped, 1_800_000_400),
                run(BackupRunStatus::Failed, 1_800_000_300),
                run(BackupRunStatus::Completed, 1_800_000_200),
                run(BackupRunStatus::Completed, 1_800_000_100),
            ],
            ..Default::default()
        };
        gauges(&m, &kb, &status, now);
        assert_eq!(value(&m.backup_last_success), Some(1_800_000_200.0));
        assert_eq!(value(&m.backup_last_failure), Some(1_800_000_300.0));
        // What this process recorded later stays.
        m.backup_last_success.get_or_create(&labels(&kb)).set(1_800_000_500.0);
        gauges(&m, &kb, &status, now);
        assert_eq!(value(&m.backup_last_success), Some(1_800_000_500.0));
        // Nothing in the history: nothing is made up.
        let m2 = Metrics::register(&mut prometheus_client::registry::Registry::default());
        gauges(&m2, &kb, &KafkaBackupStatus::default(), now);
        assert_eq!((value(&m2.backup_last_success), value(&m2.backup_last_failure)), (None, None));

        m.backup_storage_bytes.get_or_create(&labels(&kb)).set(7);
        m.backups.get_or_create(&outcome_labels(&kb, "success")).inc();
        m.forget_backup(&labels(&kb));
        assert_eq!(value(&m.backup_last_success), None);
        assert_eq!(value(&m.backup_last_failure), None);
        assert_eq!(value(&m.backup_schedule_interval), None);
        assert!(m.backup_storage_bytes.get(&labels(&kb)).is_none());
        assert!(m.backups.get(&outcome_labels(&kb, "success")).is_some(), "counters stay");
    }
}
