//! The "plan" step of the `KafkaBackup` reconcile: what to do, decided from the object (spec,
//! status, name, uid, trigger annotation), what [`observe`](super::observe) read and the time of
//! the reconcile — and from nothing else. Pure: no client, no clock, no I/O. [`act`](super::act)
//! carries the [`Plan`] out. Its branches are table-tested in `plan/tests.rs`: those tests, not
//! end-to-end waits, are the proof of the scheduling logic.
//!
//! In order: validate the spec (the webhook's rules, again, for clusters that run without it) →
//! check the licence → record the runs whose Jobs finished → decide what is due (the trigger, the
//! schedule, the first run) and what `concurrencyPolicy` makes of it → set `Ready` → when to look
//! again. The Jobs are the record of what runs: each run's Job has a deterministic name (the
//! schedule slot, the trigger value, or `initial`), so a restarted operator adopts a Job it
//! created before instead of starting a second one, and a finished Job is recorded exactly once
//! (it is annotated when recorded).

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use sha2::Digest;

use super::observe::{Observed, Phase, SeenJob};
use super::outcome;
use super::schedule::{self, Due};
use crate::api::backup::{
    BackupRecord, BackupRunStatus, ConcurrencyPolicy, KafkaBackup, KafkaBackupSpec, KafkaBackupStatus,
    TRIGGER_ANNOTATION,
};
use crate::api::backup_reason::BackupReason;
use crate::api::condition::{self, Condition, ConditionStatus, ReadyReason};
use crate::api::enterprise::{self, Verdict};
use crate::api::rules;
use crate::api::schedule::CronSchedule;
use crate::backup::BackupResult;
use crate::license::{Claims, LicenseError};
use crate::operator::children::{self, JobState, Output};
use crate::operator::connection::JobConnection;
pub use crate::operator::event::Event;
use crate::operator::job::child_name;
use crate::operator::status;
use crate::time;

/// The condition that reports a licence problem with the Enterprise fields in use.
pub const LICENSE_CONDITION: &str = "LicenseInvalid";
/// How soon a backup waiting for a licence looks again (installing one also wakes nothing else).
pub const LICENSE_RETRY: Duration = Duration::from_secs(30);
/// How soon to look again at a cluster that is not ready.
pub const CLUSTER_RETRY: Duration = Duration::from_secs(30);
/// How soon a due run whose cluster is not usable is tried again (within the starting deadline).
const DUE_RETRY: chrono::Duration = chrono::Duration::seconds(30);
/// The `Ready` reason of a backup whose running Job's pod cannot start.
pub const JOB_POD_BLOCKED: &str = "JobPodBlocked";
/// Added to a requeue at the next scheduled time, so that the reconcile it wakes reads a clock
/// at or past that time (timers may fire a little early).
const SCHEDULE_MARGIN: Duration = Duration::from_millis(200);

/// What a reconcile does, in the order [`act`](super::act) does it.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The status to write (only written when it differs from the one read). When a run starts,
    /// it assumes the Job runs, as a Job just created does; see [`Start::status_if_finished`].
    pub status: KafkaBackupStatus,
    /// Events to publish on the object, in order, before anything is deleted or started.
    pub events: Vec<Event>,
    /// What recorded and skipped runs add to the metrics.
    pub outcomes: Vec<Outcome>,
    /// Running Jobs to delete first (`concurrencyPolicy: Replace`); the status records them
    /// failed.
    pub replace: Vec<String>,
    /// The run to start.
    pub start: Option<Start>,
    /// Jobs whose outcome this status records: annotated as recorded once it is written.
    pub recorded: Vec<String>,
    /// The licence record to create (`crate::license::accepted`): Enterprise settings a valid
    /// licence accepted and no record vouches for yet, so that they outlive this object.
    pub licensed: Option<LicenceRecord>,
    /// When to look again.
    pub then: Action,
}

/// A record that a valid licence accepted Enterprise settings (`crate::license::accepted`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenceRecord {
    /// Its name, from `api::enterprise::record_name`.
    pub name: String,
    /// Whom it vouches for, for people: `KafkaBackup <namespace>/<name>`.
    pub about: String,
}

/// What a run adds to the metrics.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Completed(Box<BackupResult>),
    Failed,
    /// A scheduled run not started because the previous one still ran (`Forbid`). Runs missed
    /// past the starting deadline are not counted.
    Skipped,
}

/// A run to start: a backup Job under a deterministic name.
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    /// The Job's name, which is also the backup id it writes.
    pub job: String,
    /// Scheduled runs apply retention (when the policy says so); on-demand runs never prune.
    pub scheduled: bool,
    /// Backups that running restores read, which retention must keep (scheduled runs only).
    pub protected: Vec<String>,
    pub connection: JobConnection,
    /// Why it starts, for the log and the Event.
    pub why: String,
    /// Published once the launch returns a running Job.
    pub started: Event,
    /// The status to write instead of [`Plan::status`] when the Job the launch returns has
    /// already finished: a Job of this name the list did not show (not this object's, or created
    /// meanwhile by another replica) is adopted as it is, and is not recorded as started.
    pub status_if_finished: KafkaBackupStatus,
}

/// A run chosen while deciding what is due.
struct Chosen {
    suffix: String,
    scheduled: bool,
    protected: Vec<String>,
    why: String,
}

/// The plan as it is being made.
struct Draft {
    status: KafkaBackupStatus,
    events: Vec<Event>,
    outcomes: Vec<Outcome>,
    licensed: Option<LicenceRecord>,
    /// The reconcile's time, as written into the status.
    at: Time,
}

/// What to do about `kb`, given what was observed at `now`.
pub fn plan(kb: &KafkaBackup, observed: &Observed, now: DateTime<Utc>) -> Plan {
    let mut d = Draft::new(kb, now);
    if let Some(then) = d.hold(kb, &observed.licence, observed.recorded) {
        return d.into_plan(then);
    }
    let Some(cluster) = &observed.cluster else {
        // Observe reads the cluster of every backup that is not held, so this does not happen;
        // without it nothing can be decided but to look again.
        return d.into_plan(Action::requeue(CLUSTER_RETRY));
    };
    let name = kb.name_any();

    // Record runs that finished; the ones still running are the active runs.
    let mut recorded = Vec::new();
    let mut active = Vec::new();
    for job in &cluster.jobs {
        match &job.phase {
            Phase::Running => active.push(job.name.clone()),
            Phase::Recorded => {}
            Phase::Finished { state, output } => {
                d.record(job, state, output);
                recorded.push(job.name.clone());
            }
        }
    }
    active.sort();

    // What is due. A missing or unready cluster holds new runs back, visibly.
    let connection = &cluster.connection;
    let schedule = kb.spec.schedule.as_ref();
    let mut start: Option<Chosen> = None;
    let mut retry: Option<DateTime<Utc>> = None;
    let mut replace = false;
    let trigger = trigger(kb);
    if let Some(value) = trigger.filter(|v| d.status.last_trigger.as_ref() != Some(*v)) {
        // An explicit request waits for a running backup rather than being dropped.
        let policy = schedule.map(|s| s.concurrency_policy).unwrap_or_default();
        if active.is_empty() || policy == ConcurrencyPolicy::Replace {
            replace = !active.is_empty();
            start = Some(Chosen {
                suffix: trigger_suffix(kb, value),
                scheduled: false,
                protected: Vec::new(),
                why: format!("{TRIGGER_ANNOTATION}={value}"),
            });
        }
    }
    match (schedule, schedule.and_then(|s| CronSchedule::parse(s).ok())) {
        (Some(s), Some(cron)) if s.suspend => {
            // The cursor follows the clock while suspended, so resuming does not catch up.
            d.status.next_scheduled_backup = cron.next_after(now).and_then(time::kube);
        }
        (Some(s), Some(cron)) => match due(kb, &cron, now) {
            Due::Later { at } => d.status.next_scheduled_backup = time::kube(at),
            Due::Never => d.status.next_scheduled_backup = None,
            Due::Missed { latest, missed, next } => {
                let why = format!(
                    "{missed} scheduled run(s) missed, the latest at {latest}: more than {} minutes late, not started (like a CronJob's startingDeadlineSeconds)",
                    schedule::STARTING_DEADLINE.num_minutes()
                );
                let id = format!("{name}-{}", schedule::run_suffix(latest));
                outcome::skipped(&mut d.status, &id, &why, d.at.clone());
                d.event(true, "MissedSchedule", "Schedule", why);
                d.status.next_scheduled_backup = next.and_then(time::kube);
            }
            Due::Run { scheduled, missed, next } => match (connection, &cluster.protected) {
                (Ok(_), Some(protected)) => {
                    if missed > 0 {
                        let why = format!(
                            "{missed} earlier scheduled run(s) missed; running the latest, {scheduled}"
                        );
                        d.event(true, "MissedSchedule", "Schedule", why);
                    }
                    let id = child_name(&name, &schedule::run_suffix(scheduled));
                    if start.is_some()
                        || (!active.is_empty() && s.concurrency_policy == ConcurrencyPolicy::Forbid)
                    {
                        if !active.contains(&id) {
                            let why = "the previous backup was still running (concurrencyPolicy: Forbid)";
                            outcome::skipped(&mut d.status, &id, why, d.at.clone());
                            d.outcomes.push(Outcome::Skipped);
                            d.event(false, "BackupSkipped", "Schedule", format!("{id}: {why}"));
                        }
                    } else {
                        replace = !active.is_empty();
                        start = Some(Chosen {
                            suffix: schedule::run_suffix(scheduled),
                            scheduled: true,
                            protected: protected.clone(),
                            why: format!("scheduled for {scheduled}"),
                        });
                    }
                    d.status.next_scheduled_backup = next.and_then(time::kube);
                }
                // Due, but the cluster is not usable: retry within the starting deadline.
                _ => retry = Some(now + DUE_RETRY),
            },
        },
        // Invalid schedules were held by the validation.
        (Some(_), None) => {}
        (None, _) => {
            d.status.next_scheduled_backup = None;
            let never_ran = d.status.last_backup.is_none() && d.status.backup_history.is_empty();
            if never_ran && active.is_empty() && start.is_none() && recorded.is_empty() {
                start = Some(Chosen {
                    suffix: initial_suffix(kb),
                    scheduled: false,
                    protected: Vec::new(),
                    why: "first run (no schedule)".into(),
                });
            }
        }
    }

    // Start it. Every start follows an empty active set or replaces all of it, so the new Job
    // is the one active run.
    let mut replaced = Vec::new();
    let mut started = None;
    if let (Some(run), Ok(conn)) = (start, connection) {
        if replace {
            for old in active.drain(..) {
                let why = "replaced by a newer run (concurrencyPolicy: Replace)";
                outcome::failed(&mut d.status, &old, None, why, d.at.clone());
                replaced.push(old);
            }
        }
        let job = child_name(&name, &run.suffix);
        if let Some(value) = trigger.filter(|v| run.suffix == trigger_suffix(kb, v)) {
            d.status.last_trigger = Some(value.clone());
        }
        let mut status_if_finished = d.status.clone();
        status_if_finished.active_job = active.first().cloned();
        settle_ready(&mut status_if_finished, None, &d.at);
        d.status.last_backup = Some(BackupRecord {
            id: job.clone(),
            status: BackupRunStatus::Running,
            start_time: Some(d.at.clone()),
            ..Default::default()
        });
        active.push(job.clone());
        started = Some(Start {
            started: Event {
                warning: false,
                reason: "BackupStarted",
                action: "Backup",
                note: format!("backup {job} started: {}", run.why),
            },
            job,
            scheduled: run.scheduled,
            protected: run.protected,
            connection: conn.clone(),
            why: run.why,
            status_if_finished,
        });
    }
    d.status.active_job = active.first().cloned();

    // Ready: a blocking problem (the cluster, else a run whose pod cannot start), else the last
    // finished run.
    let problem = match connection {
        Err(e) => Some(Problem {
            reason: BackupReason::Reference(e.typed()),
            action: "ResolveCluster",
            message: e.to_string(),
        }),
        Ok(_) => blocked_run(&kb.spec, &cluster.jobs),
    };
    if let Some(event) = settle_ready(&mut d.status, problem, &d.at) {
        d.events.push(event);
    }
    let starting = cluster.jobs.iter().any(|j| j.starting && matches!(j.phase, Phase::Running));
    let look =
        starting.then(|| now + chrono::Duration::from_std(children::STARTING_RECHECK).unwrap_or_default());
    let next = [retry, look, d.status.next_scheduled_backup.as_ref().and_then(time::chrono)]
        .into_iter()
        .flatten()
        .min();
    let then = match (next, connection) {
        (_, Err(_)) => Action::requeue(CLUSTER_RETRY),
        (Some(t), _) => Action::requeue((t - now).to_std().unwrap_or_default() + SCHEDULE_MARGIN),
        (None, _) => Action::await_change(),
    };
    Plan { replace: replaced, start: started, recorded, then, ..d.into_plan(Action::await_change()) }
}

/// Whether `kb` is held by its spec (invalid) or by the licence (new or changed Enterprise
/// settings without a valid one): then the plan needs nothing of the cluster, and nothing of it
/// is read.
pub fn held(kb: &KafkaBackup, licence: &Result<Claims, LicenseError>, now: DateTime<Utc>) -> bool {
    held_with_record(kb, licence, false, now)
}

/// [`held`], knowing whether a licence record (`crate::license::accepted`) vouches for the
/// Enterprise settings in use: a re-created object's settings accepted before are not held.
pub fn held_with_record(
    kb: &KafkaBackup,
    licence: &Result<Claims, LicenseError>,
    recorded: bool,
    now: DateTime<Utc>,
) -> bool {
    Draft::new(kb, now).hold(kb, licence, recorded).is_some()
}

/// The licence record that would vouch for the Enterprise settings `kb` uses (`None`: it uses
/// none): what observe looks for and act creates.
pub fn licence_record(kb: &KafkaBackup) -> Option<LicenceRecord> {
    let fingerprint = enterprise::fingerprint(&enterprise::backup_uses(&kb.spec))?;
    let namespace = kb.namespace().unwrap_or_default();
    Some(LicenceRecord {
        name: enterprise::record_name(&namespace, &kb.name_any(), &kb.spec.storage, &fingerprint),
        about: format!("KafkaBackup {namespace}/{}", kb.name_any()),
    })
}

/// Whether a scheduled run of `kb` is due at `now`: only then are the backups that running
/// restores read (which a scheduled run's retention must keep) needed, and read.
pub fn scheduled_run_due(kb: &KafkaBackup, now: DateTime<Utc>) -> bool {
    let Some(s) = kb.spec.schedule.as_ref().filter(|s| !s.suspend) else { return false };
    CronSchedule::parse(s).is_ok_and(|cron| matches!(due(kb, &cron, now), Due::Run { .. }))
}

/// What the schedule says at `now`, from the cursor in the status (a new object's first run is
/// the first one after its creation).
fn due(kb: &KafkaBackup, cron: &CronSchedule, now: DateTime<Utc>) -> Due {
    let cursor = kb.status.as_ref().and_then(|s| s.next_scheduled_backup.as_ref()).and_then(time::chrono);
    let created = kb.creation_timestamp().and_then(|t| time::chrono(&t)).unwrap_or(now);
    schedule::due(cron, cursor, created, now)
}

/// The trigger annotation's value, when set.
fn trigger(kb: &KafkaBackup) -> Option<&String> {
    kb.annotations().get(TRIGGER_ANNOTATION).filter(|v| !v.is_empty())
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

/// The time as the status holds it (Kubernetes writes seconds).
fn k8s_time(now: DateTime<Utc>) -> Time {
    // Both libraries span years -9999..=9999; a clock outside that range is not a clock.
    time::kube(now).unwrap_or(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH))
}

impl Draft {
    fn new(kb: &KafkaBackup, now: DateTime<Utc>) -> Self {
        let mut status = kb.status.clone().unwrap_or_default();
        status.observed_generation = kb.metadata.generation;
        Self { status, events: Vec::new(), outcomes: Vec::new(), licensed: None, at: k8s_time(now) }
    }

    fn event(&mut self, warning: bool, reason: &'static str, action: &'static str, note: String) {
        self.events.push(Event { warning, reason, action, note });
    }

    fn into_plan(self, then: Action) -> Plan {
        Plan {
            status: self.status,
            events: self.events,
            outcomes: self.outcomes,
            replace: Vec::new(),
            start: None,
            recorded: Vec::new(),
            licensed: self.licensed,
            then,
        }
    }

    /// The spec's validity and the licence: `Some(when to look again)` when the backup is held.
    fn hold(
        &mut self,
        kb: &KafkaBackup,
        licence: &Result<Claims, LicenseError>,
        recorded: bool,
    ) -> Option<Action> {
        let problems = rules::backup(&kb.spec);
        if !problems.is_empty() {
            let message = rules::message(&problems);
            if status::set_ready(&mut self.status.conditions, BackupReason::InvalidSpec, &message, &self.at) {
                self.event(true, "InvalidSpec", "Validate", message);
            }
            return Some(Action::await_change());
        }
        self.licence(kb, licence, recorded).then_some(Action::requeue(LICENSE_RETRY))
    }

    /// The licence verdict (`api::enterprise::verdict`, the webhook's own), again, for clusters
    /// where the webhook is bypassed. Settings accepted before — by this object's status, or by
    /// a licence record that outlived an earlier object of the same name writing to the same
    /// storage (`recorded`) — keep running when the licence lapses, with the `LicenseInvalid`
    /// condition and a Warning Event: expiry never stops a schedule. New or changed ones wait
    /// (Ready=False) until a valid licence is installed: true then. Settings a valid licence
    /// accepts are remembered in the status and, unless `recorded`, in a new record.
    fn licence(&mut self, kb: &KafkaBackup, checked: &Result<Claims, LicenseError>, recorded: bool) -> bool {
        let uses = enterprise::backup_uses(&kb.spec);
        let current = enterprise::fingerprint(&uses);
        let before = self.status.licensed_settings.clone();
        let accepted: Vec<&str> =
            before.as_deref().into_iter().chain(current.as_deref().filter(|_| recorded)).collect();
        let (problems, reason, protecting) = match enterprise::verdict(&uses, checked, &accepted) {
            Verdict::Allowed { accepted } => {
                if accepted.is_some() && !recorded {
                    self.licensed = licence_record(kb);
                }
                self.status.licensed_settings = accepted;
                condition::remove(&mut self.status.conditions, LICENSE_CONDITION);
                return false;
            }
            Verdict::Protecting { problems, reason } => (problems, reason, true),
            Verdict::Refused { problems, reason } => (problems, reason, false),
        };
        let message = if protecting {
            // A re-created object learns from the record what its status no longer holds.
            self.status.licensed_settings = current;
            format!(
                "{}; these settings ran under a valid licence and keep running, changes to them wait for a valid licence",
                rules::message(&problems)
            )
        } else {
            rules::message(&problems)
        };
        let new = Condition::new(LICENSE_CONDITION, ConditionStatus::True, reason, message.clone());
        if status::set_condition(&mut self.status.conditions, new, &self.at) {
            self.event(true, reason, "License", message.clone());
        }
        if protecting {
            return false;
        }
        status::set_ready(&mut self.status.conditions, BackupReason::LicenseInvalid, &message, &self.at);
        true
    }

    /// Records a finished Job's run in the status, with its Events and metrics.
    fn record(&mut self, job: &SeenJob, state: &JobState, output: &Output) {
        let result = children::run_result::<BackupResult>(state, output, children::FailedResult::Ignore);
        let r = match result {
            Ok(r) => r,
            Err(reason) => {
                let id = &job.backup_id;
                outcome::failed(&mut self.status, id, job.started.clone(), &reason, self.at.clone());
                self.outcomes.push(Outcome::Failed);
                self.event(true, "BackupFailed", "Backup", format!("backup {id} failed: {reason}"));
                return;
            }
        };
        outcome::completed(&mut self.status, &r, self.at.clone());
        let note = format!(
            "backup {} completed: {} records in {} partitions, {} bytes stored",
            r.backup_id, r.records, r.partitions, r.size_bytes
        );
        self.event(false, "BackupCompleted", "Backup", note);
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
            self.event(true, "LineageBroken", "Backup", note);
        }
        if let Some(m) = r.cluster_metadata.as_ref().filter(|m| !m.not_captured.is_empty()) {
            let parts: Vec<String> =
                m.not_captured.iter().map(|n| format!("{}: {}", n.what, n.reason)).collect();
            let note = format!(
                "backup {} completed without part of the cluster metadata (a restore asking for it is refused): {}",
                r.backup_id,
                parts.join("; ")
            );
            self.event(true, "MetadataNotCaptured", "Backup", note);
        }
        if let Some(inv) = r.inventory.as_ref().filter(|i| !i.pruned.is_empty()) {
            let note = format!(
                "retention deleted {} backup(s): {}; {} left",
                inv.pruned.len(),
                inv.pruned.join(", "),
                inv.backup_count
            );
            self.event(false, "BackupsPruned", "Prune", note);
        }
        self.outcomes.push(Outcome::Completed(Box::new(r)));
    }
}

/// What keeps `Ready` False while it lasts, with the Event's action.
struct Problem {
    reason: BackupReason,
    action: &'static str,
    message: String,
}

/// The first running Job whose pod cannot start ([`crate::operator::children::blocked`]), as a [`Problem`] that
/// names the pod, the kubelet's words and, when the kubelet names a Secret of the spec, the field
/// that names it: the user fixes the Secret, the kubelet retries, the run goes on by itself.
fn blocked_run(spec: &KafkaBackupSpec, jobs: &[SeenJob]) -> Option<Problem> {
    let (job, why) = jobs
        .iter()
        .filter(|j| matches!(j.phase, Phase::Running))
        .find_map(|j| Some((j, j.blocked.as_deref()?)))?;
    // The kubelet's words: `secret "x" not found`, `couldn't find key k in Secret ns/x`.
    let fields: Vec<String> = crate::api::secrets::backup(spec)
        .into_iter()
        .filter(|r| why.contains(&format!("\"{}\"", r.name)) || why.contains(&format!("/{}", r.name)))
        .map(|r| r.field)
        .collect();
    let named = if fields.is_empty() { String::new() } else { format!(" (named by {})", fields.join(", ")) };
    Some(Problem {
        reason: BackupReason::JobPodBlocked,
        action: "Backup",
        message: format!(
            "backup Job {} cannot start: {why}{named}; it starts by itself once that is fixed",
            job.name
        ),
    })
}

/// Sets `Ready` from the state: a blocking problem, else the last finished run. Returns the
/// Event of a problem that appears.
fn settle_ready(status: &mut KafkaBackupStatus, problem: Option<Problem>, at: &Time) -> Option<Event> {
    if let Some(Problem { reason, action, message }) = problem {
        let changed = status::set_ready(&mut status.conditions, reason, &message, at);
        return changed.then_some(Event { warning: true, reason: reason.as_str(), action, note: message });
    }
    let last = status
        .backup_history
        .iter()
        .find(|r| matches!(r.status, BackupRunStatus::Completed | BackupRunStatus::Failed))
        .cloned();
    let (reason, message) = match last {
        Some(r) if r.status == BackupRunStatus::Failed => {
            (BackupReason::BackupFailed, format!("backup {} failed: {}", r.id, r.message.unwrap_or_default()))
        }
        Some(r) => (BackupReason::BackupCompleted, format!("backup {} completed", r.id)),
        None if status.active_job.is_some() => {
            (BackupReason::BackupRunning, "the first backup is running".into())
        }
        None => (BackupReason::Scheduled, "waiting for the first scheduled run".into()),
    };
    // Keep the detailed message of the run outcome when the verdict is the same.
    let same =
        status::ready(&status.conditions).is_some_and(|c| c.reason.as_deref() == Some(reason.as_str()));
    if !same {
        status::set_ready(&mut status.conditions, reason, message, at);
    }
    None
}

#[cfg(test)]
mod tests;
