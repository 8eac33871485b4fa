//! The branches of [`plan`], one table row each, named for the branch: what the reconcile
//! decides for a given object, observation and time. These are the proof of the scheduling
//! logic; the end-to-end tests only show that observe and act carry it to a real cluster.

use chrono::TimeZone;

use super::*;
use crate::api::backup::BACKUP_HISTORY_LIMIT;
use crate::license::Edition;
use crate::operator::backup::observe::Cluster;
use crate::operator::connection::ConnectionError;
use crate::time;

const UID: &str = "0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011";
const HOURLY: &str = "schedule: {cron: '0 * * * *'}";
const HOURLY_REPLACE: &str = "schedule: {cron: '0 * * * *', concurrencyPolicy: Replace}";
const ENCRYPTED: &str = "backup: {encryption: {enabled: true, keySecret: {name: k, key: key}}}";
/// What the restores running in the fixture read.
const RESTORING: &str = "nightly-restoring";

/// 2026-11-21 at `h:m` UTC.
fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).single().expect("time")
}

fn time(t: DateTime<Utc>) -> Time {
    time::kube(t).expect("in range")
}

/// The Job (and backup id) of the slot at `h:m`.
fn slot(h: u32, m: u32) -> String {
    child_name("nightly", &schedule::run_suffix(at(h, m)))
}

/// `nightly` in `kafka`, created at 09:30, with `spec` added to a minimal spec.
fn backup(spec: &str) -> KafkaBackup {
    let spec = serde_yaml_ng::from_str(&format!(
        "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nstorage: {{type: s3, s3: {{bucket: b, region: r}}}}\n{spec}"
    ))
    .expect("spec");
    let mut kb = KafkaBackup::new("nightly", spec);
    kb.metadata.namespace = Some("kafka".into());
    kb.metadata.uid = Some(UID.into());
    kb.metadata.generation = Some(3);
    kb.metadata.creation_timestamp = Some(time(at(9, 30)));
    kb
}

fn with(mut kb: KafkaBackup, change: impl FnOnce(&mut KafkaBackupStatus)) -> KafkaBackup {
    change(kb.status.get_or_insert_with(Default::default));
    kb
}

/// With the schedule's cursor (`status.nextScheduledBackup`) at `t`.
fn cursor(kb: KafkaBackup, t: DateTime<Utc>) -> KafkaBackup {
    with(kb, |s| s.next_scheduled_backup = Some(time(t)))
}

fn triggered(mut kb: KafkaBackup, value: &str) -> KafkaBackup {
    kb.metadata.annotations = Some([(TRIGGER_ANNOTATION.to_string(), value.to_string())].into());
    kb
}

fn ran_before(kb: KafkaBackup, id: &str, outcome: BackupRunStatus) -> KafkaBackup {
    with(kb, |s| {
        let run = BackupRecord { id: id.into(), status: outcome, ..Default::default() };
        s.backup_history.insert(0, run.clone());
        s.last_backup = Some(run);
    })
}

fn connection() -> JobConnection {
    let mut c = JobConnection::default();
    c.kafka.bootstrap_servers = "my-cluster-kafka-bootstrap:9093".into();
    c
}

fn not_ready() -> Result<JobConnection, ConnectionError> {
    Err(ConnectionError::KafkaNotReady {
        namespace: "kafka".into(),
        name: "my-cluster".into(),
        detail: "".into(),
    })
}

fn claims(features: &[&str]) -> Claims {
    Claims {
        id: "lic-7".into(),
        customer: "Example Bank".into(),
        edition: Edition::Enterprise,
        features: features.iter().map(|f| f.to_string()).collect(),
        issued_at: at(0, 0) - chrono::Duration::days(30),
        expires_at: at(0, 0) + chrono::Duration::days(300),
    }
}

fn expired() -> Result<Claims, LicenseError> {
    Err(LicenseError::Expired { id: "lic-7".into(), on: "2026-11-01".into() })
}

/// What observe reads for `kb` at `now`: nothing of the cluster when the backup is held, the
/// restores' backups only when a scheduled run is due and the cluster usable.
fn seen(
    kb: &KafkaBackup,
    now: DateTime<Utc>,
    jobs: Vec<SeenJob>,
    connection: Result<JobConnection, ConnectionError>,
    licence: Result<Claims, LicenseError>,
) -> Observed {
    if held(kb, &licence, now) {
        return Observed { licence, recorded: false, cluster: None };
    }
    let due = connection.is_ok() && scheduled_run_due(kb, now);
    let protected = due.then(|| vec![RESTORING.to_string()]);
    Observed { licence, recorded: false, cluster: Some(Cluster { jobs, connection, protected }) }
}

/// The usual observation: a ready cluster, no licence (none needed), these Jobs.
fn observed(kb: &KafkaBackup, now: DateTime<Utc>, jobs: Vec<SeenJob>) -> Observed {
    seen(kb, now, jobs, Ok(connection()), Err(LicenseError::Missing))
}

fn job(name: &str, phase: Phase) -> SeenJob {
    SeenJob {
        name: name.into(),
        backup_id: name.into(),
        started: Some(time(at(9, 0))),
        phase,
        starting: false,
        blocked: None,
    }
}

/// A running Job whose pod is not ready yet.
fn starting(name: &str) -> SeenJob {
    SeenJob { starting: true, ..running(name) }
}

/// What the kubelet says of a pod that waits for Secret `s3`.
const S3_MISSING: &str = "pod p-1: CreateContainerConfigError: secret \"s3\" not found";

/// A running Job whose pod cannot start ([`crate::operator::children::blocked`]).
fn blocked(name: &str) -> SeenJob {
    SeenJob { blocked: Some(S3_MISSING.into()), ..starting(name) }
}

fn running(name: &str) -> SeenJob {
    job(name, Phase::Running)
}

fn recorded_job(name: &str) -> SeenJob {
    job(name, Phase::Recorded)
}

/// The data plane's result line for backup `id`, with `extra` JSON fields.
fn result(id: &str, extra: &str) -> String {
    format!(
        r#"{{"backupId": "{id}", "location": "s3://b/", "startedAt": "2026-11-21T10:00:00.000Z", "completedAt": "2026-11-21T10:03:00.000Z", "sizeBytes": 1024, "rawBytes": 4096, "records": 40, "topics": 1, "partitions": 3, "consumerGroups": 0, "backupCount": 7, "storageBytes": 7168{extra}}}"#
    )
}

fn succeeded(name: &str, log: Option<String>) -> SeenJob {
    let output = Output { log: log.map(|l| format!("INFO done\n{l}\n")), message: None };
    job(name, Phase::Finished { state: JobState::Succeeded, output })
}

fn failed(name: &str, reason: &str, message: Option<&str>) -> SeenJob {
    let output = Output { message: message.map(str::to_string), log: None };
    job(name, Phase::Finished { state: JobState::Failed { reason: reason.into() }, output })
}

/// What a row checks of a plan: every decision, not every byte of the status.
#[derive(Debug, PartialEq)]
struct Decided {
    /// The Job started.
    start: Option<String>,
    replace: Vec<String>,
    /// The history after the plan, newest first.
    history: Vec<(String, BackupRunStatus)>,
    events: Vec<&'static str>,
    outcomes: Vec<&'static str>,
    /// Type, status and reason.
    conditions: Vec<(String, ConditionStatus, String)>,
    /// `status.nextScheduledBackup`.
    next: Option<DateTime<Utc>>,
    then: Action,
    recorded: Vec<String>,
    active: Option<String>,
    last_trigger: Option<String>,
}

/// Nothing happens: the base each row changes.
fn nothing() -> Decided {
    Decided {
        start: None,
        replace: vec![],
        history: vec![],
        events: vec![],
        outcomes: vec![],
        conditions: vec![],
        next: None,
        then: Action::await_change(),
        recorded: vec![],
        active: None,
        last_trigger: None,
    }
}

fn decided(p: &Plan) -> Decided {
    Decided {
        start: p.start.as_ref().map(|s| s.job.clone()),
        replace: p.replace.clone(),
        history: p.status.backup_history.iter().map(|r| (r.id.clone(), r.status)).collect(),
        events: p.events.iter().map(|e| e.reason).collect(),
        outcomes: p
            .outcomes
            .iter()
            .map(|o| match o {
                Outcome::Completed(_) => "completed",
                Outcome::Failed => "failed",
                Outcome::Skipped => "skipped",
            })
            .collect(),
        conditions: p
            .status
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status, c.reason.clone().unwrap_or_default()))
            .collect(),
        next: p.status.next_scheduled_backup.as_ref().and_then(time::chrono),
        then: p.then.clone(),
        recorded: p.recorded.clone(),
        active: p.status.active_job.clone(),
        last_trigger: p.status.last_trigger.clone(),
    }
}

fn ready(ok: bool, reason: &str) -> Vec<(String, ConditionStatus, String)> {
    let status = if ok { ConditionStatus::True } else { ConditionStatus::False };
    vec![("Ready".into(), status, reason.into())]
}

fn licence_condition(reason: &str) -> (String, ConditionStatus, String) {
    (LICENSE_CONDITION.into(), ConditionStatus::True, reason.into())
}

/// The requeue at the scheduled time `t`, planned at `now`.
fn at_slot(t: DateTime<Utc>, now: DateTime<Utc>) -> Action {
    Action::requeue((t - now).to_std().expect("later") + SCHEDULE_MARGIN)
}

/// `kb` with the status one plan at `now` leaves: the same state reconciled again.
fn again(kb: KafkaBackup, now: DateTime<Utc>, observe: impl Fn(&KafkaBackup) -> Observed) -> KafkaBackup {
    let first = plan(&kb, &observe(&kb), now);
    with(kb, |s| *s = first.status)
}

struct Row {
    branch: &'static str,
    kb: KafkaBackup,
    observed: Observed,
    now: DateTime<Utc>,
    expect: Decided,
}

/// A row: `kb` at `now`, observed by `observe`.
fn row(
    branch: &'static str,
    kb: KafkaBackup,
    now: DateTime<Utc>,
    observe: impl Fn(&KafkaBackup) -> Observed,
    expect: Decided,
) -> Row {
    Row { observed: observe(&kb), branch, kb, now, expect }
}

fn trigger_job(value: &str) -> String {
    child_name("nightly", &trigger_suffix(&backup(""), value))
}

const INITIAL: &str = "nightly-initial-0f1e2d3c";

fn rows() -> Vec<Row> {
    let ready_cluster = |now| move |kb: &KafkaBackup| observed(kb, now, vec![]);
    let encrypted = format!("{ENCRYPTED}\n{HOURLY}");
    let fingerprint = enterprise::fingerprint(&enterprise::backup_uses(&backup(&encrypted).spec));
    let hourly_running = |now, jobs: fn() -> Vec<SeenJob>| move |kb: &KafkaBackup| observed(kb, now, jobs());
    let unlicensed =
        |now| move |kb: &KafkaBackup| seen(kb, now, vec![], Ok(connection()), Err(LicenseError::Missing));
    let down = |now| move |kb: &KafkaBackup| seen(kb, now, vec![], not_ready(), Err(LicenseError::Missing));
    vec![
        // Validation and the licence.
        row(
            "invalid spec: Ready=False InvalidSpec, nothing read or started although due, waits for a change",
            cursor(backup("schedule: {cron: '61 * * * *'}"), at(10, 0)),
            at(10, 0),
            ready_cluster(at(10, 0)),
            Decided {
                conditions: ready(false, "InvalidSpec"),
                events: vec!["InvalidSpec"],
                next: Some(at(10, 0)),
                ..nothing()
            },
        ),
        row(
            "invalid spec reconciled again: no second Event",
            again(
                cursor(backup("schedule: {cron: '61 * * * *'}"), at(10, 0)),
                at(10, 0),
                ready_cluster(at(10, 0)),
            ),
            at(10, 1),
            ready_cluster(at(10, 1)),
            Decided { conditions: ready(false, "InvalidSpec"), next: Some(at(10, 0)), ..nothing() },
        ),
        row(
            "new Enterprise settings without a licence: held (Ready=False), nothing started although due, looked at again",
            cursor(backup(&encrypted), at(10, 0)),
            at(10, 0),
            unlicensed(at(10, 0)),
            Decided {
                conditions: vec![
                    licence_condition("LicenseMissing"),
                    ready(false, LICENSE_CONDITION).remove(0),
                ],
                events: vec!["LicenseMissing"],
                next: Some(at(10, 0)),
                then: Action::requeue(LICENSE_RETRY),
                ..nothing()
            },
        ),
        row(
            "licence lapsed on settings accepted before: they keep running (the due run starts), with a warning",
            with(cursor(backup(&encrypted), at(10, 0)), |s| s.licensed_settings = fingerprint.clone()),
            at(10, 0),
            |kb| seen(kb, at(10, 0), vec![], Ok(connection()), expired()),
            Decided {
                start: Some(slot(10, 0)),
                conditions: vec![licence_condition("LicenseExpired"), ready(true, "BackupRunning").remove(0)],
                events: vec!["LicenseExpired"],
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 0)),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "licence installed after a hold: the condition goes and the due run starts",
            again(cursor(backup(&encrypted), at(10, 0)), at(10, 0), unlicensed(at(10, 0))),
            at(10, 1),
            |kb| seen(kb, at(10, 1), vec![], Ok(connection()), Ok(claims(&["*"]))),
            Decided {
                start: Some(slot(10, 0)),
                conditions: ready(true, "BackupRunning"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 1)),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "not held but nothing observed of the cluster: nothing decided, looked at again",
            backup(HOURLY),
            at(10, 0),
            |_| Observed { licence: Err(LicenseError::Missing), recorded: false, cluster: None },
            Decided { then: Action::requeue(CLUSTER_RETRY), ..nothing() },
        ),
        // The schedule.
        row(
            "first run not reached: the cursor is the first slot after creation, requeued for it",
            backup(HOURLY),
            at(9, 40),
            ready_cluster(at(9, 40)),
            Decided {
                conditions: ready(true, "Scheduled"),
                next: Some(at(10, 0)),
                then: at_slot(at(10, 0), at(9, 40)),
                ..nothing()
            },
        ),
        row(
            "due slot: the scheduled run starts under its slot's name, the cursor moves on",
            cursor(backup(HOURLY), at(10, 0)),
            at(10, 0),
            ready_cluster(at(10, 0)),
            Decided {
                start: Some(slot(10, 0)),
                conditions: ready(true, "BackupRunning"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 0)),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "missed runs within the starting deadline: the latest runs, the missed ones are reported",
            cursor(backup(HOURLY), at(7, 0)),
            at(10, 10),
            ready_cluster(at(10, 10)),
            Decided {
                start: Some(slot(10, 0)),
                events: vec!["MissedSchedule"],
                conditions: ready(true, "BackupRunning"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 10)),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "missed runs past the starting deadline: the latest is recorded skipped, none starts",
            cursor(backup(HOURLY), at(7, 0)),
            at(10, 20),
            ready_cluster(at(10, 20)),
            Decided {
                history: vec![(slot(10, 0), BackupRunStatus::Skipped)],
                events: vec!["MissedSchedule"],
                conditions: ready(true, "Scheduled"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 20)),
                ..nothing()
            },
        ),
        row(
            "missed past the deadline while the cluster is down: recorded skipped, and the cluster reported",
            cursor(backup(HOURLY), at(7, 0)),
            at(10, 20),
            down(at(10, 20)),
            Decided {
                history: vec![(slot(10, 0), BackupRunStatus::Skipped)],
                events: vec!["MissedSchedule", "KafkaNotReady"],
                conditions: ready(false, "KafkaNotReady"),
                next: Some(at(11, 0)),
                then: Action::requeue(CLUSTER_RETRY),
                ..nothing()
            },
        ),
        row(
            "Forbid: a slot due while a run is active is skipped, recorded and counted",
            cursor(backup(HOURLY), at(10, 0)),
            at(10, 0),
            hourly_running(at(10, 0), || vec![running(&slot(9, 0))]),
            Decided {
                history: vec![(slot(10, 0), BackupRunStatus::Skipped)],
                events: vec!["BackupSkipped"],
                outcomes: vec!["skipped"],
                conditions: ready(true, "BackupRunning"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 0)),
                active: Some(slot(9, 0)),
                ..nothing()
            },
        ),
        row(
            "Forbid: the slot's own Job already running (its start's status write lost) is not skipped",
            cursor(backup(HOURLY), at(10, 0)),
            at(10, 0),
            hourly_running(at(10, 0), || vec![running(&slot(10, 0))]),
            Decided {
                conditions: ready(true, "BackupRunning"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 0)),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "Replace: the active run is deleted and recorded failed, the slot starts",
            cursor(backup(HOURLY_REPLACE), at(10, 0)),
            at(10, 0),
            hourly_running(at(10, 0), || vec![running(&slot(9, 0))]),
            Decided {
                start: Some(slot(10, 0)),
                replace: vec![slot(9, 0)],
                history: vec![(slot(9, 0), BackupRunStatus::Failed)],
                conditions: ready(false, "BackupFailed"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 0)),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "suspended: nothing starts, the cursor follows the clock so resuming does not catch up",
            cursor(backup("schedule: {cron: '0 * * * *', suspend: true}"), at(8, 0)),
            at(10, 20),
            ready_cluster(at(10, 20)),
            Decided {
                conditions: ready(true, "Scheduled"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 20)),
                ..nothing()
            },
        ),
        row(
            "due while the cluster is not ready: Ready=False with the reason, the cursor kept, retried",
            cursor(backup(HOURLY), at(10, 0)),
            at(10, 0),
            down(at(10, 0)),
            Decided {
                events: vec!["KafkaNotReady"],
                conditions: ready(false, "KafkaNotReady"),
                next: Some(at(10, 0)),
                then: Action::requeue(CLUSTER_RETRY),
                ..nothing()
            },
        ),
        row(
            "cluster still not ready: no second Event",
            again(cursor(backup(HOURLY), at(10, 0)), at(10, 0), down(at(10, 0))),
            at(10, 1),
            down(at(10, 1)),
            Decided {
                conditions: ready(false, "KafkaNotReady"),
                next: Some(at(10, 0)),
                then: Action::requeue(CLUSTER_RETRY),
                ..nothing()
            },
        ),
        row(
            "due but the restores' backups were not read: not started without them, looked at again at once",
            cursor(backup(HOURLY), at(10, 0)),
            at(10, 0),
            |kb| {
                let mut o = observed(kb, at(10, 0), vec![]);
                o.cluster.iter_mut().for_each(|c| c.protected = None);
                o
            },
            Decided {
                conditions: ready(true, "Scheduled"),
                next: Some(at(10, 0)),
                then: Action::requeue(SCHEDULE_MARGIN),
                ..nothing()
            },
        ),
        row(
            "a schedule with no run to come (30 February): no cursor, nothing starts, waits for a change",
            backup("schedule: {cron: '0 0 30 2 *'}"),
            at(10, 0),
            ready_cluster(at(10, 0)),
            Decided { conditions: ready(true, "Scheduled"), ..nothing() },
        ),
        // The trigger annotation.
        row(
            "trigger: a new value starts an on-demand run, named for this object and value",
            triggered(ran_before(backup(""), INITIAL, BackupRunStatus::Completed), "now"),
            at(10, 20),
            ready_cluster(at(10, 20)),
            Decided {
                start: Some(trigger_job("now")),
                history: vec![(INITIAL.into(), BackupRunStatus::Completed)],
                conditions: ready(true, "BackupCompleted"),
                active: Some(trigger_job("now")),
                last_trigger: Some("now".into()),
                ..nothing()
            },
        ),
        row(
            "trigger: a value handled before does not run again",
            with(triggered(ran_before(backup(""), INITIAL, BackupRunStatus::Completed), "now"), |s| {
                s.last_trigger = Some("now".into())
            }),
            at(10, 20),
            ready_cluster(at(10, 20)),
            Decided {
                history: vec![(INITIAL.into(), BackupRunStatus::Completed)],
                conditions: ready(true, "BackupCompleted"),
                last_trigger: Some("now".into()),
                ..nothing()
            },
        ),
        row(
            "trigger while a run is active under Forbid: it waits for it, not dropped",
            triggered(cursor(backup(HOURLY), at(11, 0)), "again"),
            at(10, 20),
            hourly_running(at(10, 20), || vec![running(&slot(10, 0))]),
            Decided {
                conditions: ready(true, "BackupRunning"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 20)),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "trigger while a run is active under Replace: the run is replaced",
            triggered(cursor(backup(HOURLY_REPLACE), at(11, 0)), "again"),
            at(10, 20),
            hourly_running(at(10, 20), || vec![running(&slot(10, 0))]),
            Decided {
                start: Some(trigger_job("again")),
                replace: vec![slot(10, 0)],
                history: vec![(slot(10, 0), BackupRunStatus::Failed)],
                conditions: ready(false, "BackupFailed"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 20)),
                active: Some(trigger_job("again")),
                last_trigger: Some("again".into()),
                ..nothing()
            },
        ),
        row(
            "trigger and a due slot at once: the trigger runs, the slot is skipped",
            triggered(cursor(backup(HOURLY), at(10, 0)), "now"),
            at(10, 0),
            ready_cluster(at(10, 0)),
            Decided {
                start: Some(trigger_job("now")),
                history: vec![(slot(10, 0), BackupRunStatus::Skipped)],
                events: vec!["BackupSkipped"],
                outcomes: vec!["skipped"],
                conditions: ready(true, "BackupRunning"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 0)),
                active: Some(trigger_job("now")),
                last_trigger: Some("now".into()),
                ..nothing()
            },
        ),
        // Without a schedule.
        row(
            "no schedule, never ran: the first run starts, named with the object's uid",
            backup(""),
            at(10, 20),
            ready_cluster(at(10, 20)),
            Decided {
                start: Some(INITIAL.into()),
                conditions: ready(true, "BackupRunning"),
                active: Some(INITIAL.into()),
                ..nothing()
            },
        ),
        row(
            "no schedule, ran before: nothing starts",
            ran_before(backup(""), INITIAL, BackupRunStatus::Failed),
            at(10, 20),
            ready_cluster(at(10, 20)),
            Decided {
                history: vec![(INITIAL.into(), BackupRunStatus::Failed)],
                conditions: ready(false, "BackupFailed"),
                ..nothing()
            },
        ),
        row(
            "no schedule, the first run finished: recorded, not started again",
            with(backup(""), |s| s.active_job = Some(INITIAL.into())),
            at(10, 20),
            |kb| observed(kb, at(10, 20), vec![succeeded(INITIAL, Some(result(INITIAL, "")))]),
            Decided {
                history: vec![(INITIAL.into(), BackupRunStatus::Completed)],
                events: vec!["BackupCompleted"],
                outcomes: vec!["completed"],
                conditions: ready(true, "BackupCompleted"),
                recorded: vec![INITIAL.into()],
                ..nothing()
            },
        ),
        // Finished Jobs.
        row(
            "Job finished with a result: completed, with its lineage and pruning Events, marked recorded",
            cursor(backup(HOURLY), at(11, 0)),
            at(10, 20),
            |kb| {
                let extra = r#", "pruned": ["old"], "lineageBreaks": [{"topic": "t", "partition": 0, "reason": "TopicRecreated", "message": "new topic id"}]"#;
                observed(kb, at(10, 20), vec![succeeded(&slot(10, 0), Some(result(&slot(10, 0), extra)))])
            },
            Decided {
                history: vec![(slot(10, 0), BackupRunStatus::Completed)],
                events: vec!["BackupCompleted", "LineageBroken", "BackupsPruned"],
                outcomes: vec!["completed"],
                conditions: ready(true, "BackupCompleted"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 20)),
                recorded: vec![slot(10, 0)],
                ..nothing()
            },
        ),
        row(
            "Job succeeded without a result: recorded failed",
            cursor(backup(HOURLY), at(11, 0)),
            at(10, 20),
            |kb| observed(kb, at(10, 20), vec![succeeded(&slot(10, 0), None)]),
            Decided {
                history: vec![(slot(10, 0), BackupRunStatus::Failed)],
                events: vec!["BackupFailed"],
                outcomes: vec!["failed"],
                conditions: ready(false, "BackupFailed"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 20)),
                recorded: vec![slot(10, 0)],
                ..nothing()
            },
        ),
        row(
            "Job failed: recorded failed",
            cursor(backup(HOURLY), at(11, 0)),
            at(10, 20),
            |kb| observed(kb, at(10, 20), vec![failed(&slot(10, 0), "BackoffLimitExceeded", None)]),
            Decided {
                history: vec![(slot(10, 0), BackupRunStatus::Failed)],
                events: vec!["BackupFailed"],
                outcomes: vec!["failed"],
                conditions: ready(false, "BackupFailed"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 20)),
                recorded: vec![slot(10, 0)],
                ..nothing()
            },
        ),
        row(
            "a failed run already recorded is not recorded again",
            ran_before(cursor(backup(HOURLY), at(11, 0)), &slot(10, 0), BackupRunStatus::Failed),
            at(10, 20),
            |kb| observed(kb, at(10, 20), vec![recorded_job(&slot(10, 0))]),
            Decided {
                history: vec![(slot(10, 0), BackupRunStatus::Failed)],
                conditions: ready(false, "BackupFailed"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 20)),
                ..nothing()
            },
        ),
        // A run whose pod cannot start (a missing Secret): said in Ready, without reading Secrets.
        row(
            "a running Job whose pod cannot start: Ready=False JobPodBlocked, a Warning Event, looked at again soon",
            cursor(backup(HOURLY), at(11, 0)),
            at(10, 20),
            |kb| observed(kb, at(10, 20), vec![blocked(&slot(10, 0))]),
            Decided {
                events: vec![JOB_POD_BLOCKED],
                conditions: ready(false, JOB_POD_BLOCKED),
                next: Some(at(11, 0)),
                then: Action::requeue(children::STARTING_RECHECK + SCHEDULE_MARGIN),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "a blocked Job reconciled again: no second Event",
            again(cursor(backup(HOURLY), at(11, 0)), at(10, 20), |kb| {
                observed(kb, at(10, 20), vec![blocked(&slot(10, 0))])
            }),
            at(10, 21),
            |kb| observed(kb, at(10, 21), vec![blocked(&slot(10, 0))]),
            Decided {
                conditions: ready(false, JOB_POD_BLOCKED),
                next: Some(at(11, 0)),
                then: Action::requeue(children::STARTING_RECHECK + SCHEDULE_MARGIN),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "the blocked pod starts: Ready follows the runs again, no more looking soon",
            again(cursor(backup(HOURLY), at(11, 0)), at(10, 20), |kb| {
                observed(kb, at(10, 20), vec![blocked(&slot(10, 0))])
            }),
            at(10, 22),
            |kb| observed(kb, at(10, 22), vec![running(&slot(10, 0))]),
            Decided {
                conditions: ready(true, "BackupRunning"),
                next: Some(at(11, 0)),
                then: at_slot(at(11, 0), at(10, 22)),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "a Job whose pod is not ready yet, not blocked: Ready unchanged, looked at again soon",
            cursor(backup(HOURLY), at(11, 0)),
            at(10, 20),
            |kb| observed(kb, at(10, 20), vec![starting(&slot(10, 0))]),
            Decided {
                conditions: ready(true, "BackupRunning"),
                next: Some(at(11, 0)),
                then: Action::requeue(children::STARTING_RECHECK + SCHEDULE_MARGIN),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
        row(
            "a blocked Job and a cluster not ready: the cluster is the problem named",
            cursor(backup(HOURLY), at(11, 0)),
            at(10, 20),
            |kb| seen(kb, at(10, 20), vec![blocked(&slot(10, 0))], not_ready(), Err(LicenseError::Missing)),
            Decided {
                events: vec!["KafkaNotReady"],
                conditions: ready(false, "KafkaNotReady"),
                next: Some(at(11, 0)),
                then: Action::requeue(CLUSTER_RETRY),
                active: Some(slot(10, 0)),
                ..nothing()
            },
        ),
    ]
}

#[test]
fn every_branch_decides_as_its_row_says() {
    let mut wrong = Vec::new();
    let rows = rows();
    for r in &rows {
        let got = decided(&plan(&r.kb, &r.observed, r.now));
        if got != r.expect {
            wrong.push(format!("{}:\n  expected {:?}\n  got      {:?}", r.branch, r.expect, got));
        }
    }
    assert!(wrong.is_empty(), "{} of {} rows wrong:\n{}", wrong.len(), rows.len(), wrong.join("\n"));
}

fn start_of(p: &Plan) -> &Start {
    p.start.as_ref().expect("a run starts")
}

#[test]
fn a_scheduled_run_keeps_what_restores_read_and_an_on_demand_run_prunes_nothing() {
    let kb = cursor(backup(HOURLY), at(10, 0));
    let scheduled = plan(&kb, &observed(&kb, at(10, 0), vec![]), at(10, 0));
    let s = start_of(&scheduled);
    assert!(s.scheduled);
    assert_eq!(s.protected, [RESTORING]);
    assert_eq!(s.connection, connection());
    let kb = triggered(cursor(backup(HOURLY), at(11, 0)), "now");
    let on_demand = plan(&kb, &observed(&kb, at(10, 20), vec![]), at(10, 20));
    let s = start_of(&on_demand);
    assert!(!s.scheduled && s.protected.is_empty(), "{s:?}");
    let kb = backup("");
    let first = plan(&kb, &observed(&kb, at(10, 20), vec![]), at(10, 20));
    assert!(!start_of(&first).scheduled);
}

#[test]
fn run_names_are_deterministic_and_of_this_object() {
    let kb = backup("");
    assert_eq!(trigger_suffix(&kb, "now"), trigger_suffix(&kb, "now"), "every replica and restart");
    assert_ne!(trigger_suffix(&kb, "now"), trigger_suffix(&kb, "again"), "once per value");
    assert!(trigger_suffix(&kb, "any value / at all!").starts_with("trigger-"));
    let mut recreated = backup("");
    recreated.metadata.uid = Some("9a8b7c6d-0000-0000-0000-000000000000".into());
    assert_ne!(trigger_suffix(&kb, "now"), trigger_suffix(&recreated, "now"), "the uid's, not the name's");
    assert_eq!(initial_suffix(&kb), "initial-0f1e2d3c");
    assert_eq!(initial_suffix(&recreated), "initial-9a8b7c6d");
    // The Job name is the backup id: the run's start says so, and its Event names it.
    let p = plan(&kb, &observed(&kb, at(10, 20), vec![]), at(10, 20));
    let s = start_of(&p);
    assert_eq!(s.job, INITIAL);
    assert_eq!(s.started.reason, "BackupStarted");
    assert_eq!(s.started.note, format!("backup {INITIAL} started: first run (no schedule)"));
}

#[test]
fn a_launch_that_finds_the_job_finished_records_no_start() {
    let kb = cursor(backup(HOURLY), at(10, 0));
    let p = plan(&kb, &observed(&kb, at(10, 0), vec![]), at(10, 0));
    let started = p.status.last_backup.clone().expect("the start recorded");
    assert_eq!((started.id.as_str(), started.status), (slot(10, 0).as_str(), BackupRunStatus::Running));
    let adopted = &start_of(&p).status_if_finished;
    assert_eq!((adopted.last_backup.as_ref(), adopted.active_job.as_ref()), (None, None));
    assert_eq!(adopted.next_scheduled_backup, p.status.next_scheduled_backup, "the slot is still taken");
    let reason = status::ready(&adopted.conditions).and_then(|c| c.reason.clone());
    assert_eq!(reason.as_deref(), Some("Scheduled"));
}

#[test]
fn every_time_written_is_the_reconciles_one_now() {
    let now = at(10, 0) + chrono::Duration::seconds(7);
    let kb = cursor(backup(HOURLY_REPLACE), at(10, 0));
    let p = plan(&kb, &observed(&kb, now, vec![running(&slot(9, 0))]), now);
    let replaced = &p.status.backup_history[0];
    assert_eq!(replaced.completion_time, Some(time(now)));
    assert_eq!(p.status.last_backup.as_ref().and_then(|b| b.start_time.clone()), Some(time(now)));
    let ready = status::ready(&p.status.conditions).expect("Ready");
    assert_eq!(ready.last_transition_time, Some(time(now)));
    assert_eq!(p.then, at_slot(at(11, 0), now));
}

#[test]
fn why_a_run_failed_is_the_pods_error_else_the_jobs_reason() {
    let message = |job: SeenJob| {
        let kb = cursor(backup(HOURLY), at(11, 0));
        let p = plan(&kb, &observed(&kb, at(10, 20), vec![job]), at(10, 20));
        p.status.backup_history[0].message.clone().unwrap_or_default()
    };
    let pod = failed(
        &slot(10, 0),
        "BackoffLimitExceeded",
        Some("WARN retrying\nerror: storage s3://b/ unreachable"),
    );
    assert_eq!(message(pod), "storage s3://b/ unreachable");
    assert_eq!(
        message(failed(&slot(10, 0), "DeadlineExceeded: too long", None)),
        "DeadlineExceeded: too long"
    );
    assert!(message(succeeded(&slot(10, 0), None)).contains("left no result"));
    // A Job's backup id is its annotation; the history records it by that id.
    let kb = cursor(backup(HOURLY), at(11, 0));
    let job = SeenJob { backup_id: "b-1".into(), ..failed(&slot(10, 0), "Failed", None) };
    let p = plan(&kb, &observed(&kb, at(10, 20), vec![job]), at(10, 20));
    assert_eq!(p.status.backup_history[0].id, "b-1");
    assert_eq!(p.status.backup_history[0].start_time, Some(time(at(9, 0))), "the Job's start");
    assert_eq!(p.recorded, [slot(10, 0)], "the Job is marked, by its name");
}

#[test]
fn the_history_stays_bounded_newest_first() {
    let mut kb = cursor(backup(HOURLY), at(10, 0));
    for i in 0..BACKUP_HISTORY_LIMIT {
        kb = ran_before(kb, &format!("old-{i}"), BackupRunStatus::Completed);
    }
    let p = plan(&kb, &observed(&kb, at(10, 0), vec![running(&slot(9, 0))]), at(10, 0));
    let history = &p.status.backup_history;
    assert_eq!(history.len(), BACKUP_HISTORY_LIMIT);
    assert_eq!((history[0].id.as_str(), history[0].status), (slot(10, 0).as_str(), BackupRunStatus::Skipped));
    assert_eq!(history[1].id, format!("old-{}", BACKUP_HISTORY_LIMIT - 1));
    assert!(history.iter().all(|r| r.id != "old-0"), "the oldest went");
}

#[test]
fn a_valid_licence_remembers_the_settings_it_accepted() {
    let kb = cursor(backup(&format!("{ENCRYPTED}\n{HOURLY}")), at(11, 0));
    let licensed = seen(&kb, at(10, 20), vec![], Ok(connection()), Ok(claims(&["encryption"])));
    let p = plan(&kb, &licensed, at(10, 20));
    let fingerprint = enterprise::fingerprint(&enterprise::backup_uses(&kb.spec));
    assert!(fingerprint.is_some());
    assert_eq!(p.status.licensed_settings, fingerprint);
    // Changed settings are new: a lapsed licence holds them.
    let changed =
        with(backup("backup: {encryption: {enabled: true, keySecret: {name: k2, key: key}}}"), |s| {
            s.licensed_settings = fingerprint
        });
    assert!(held(&changed, &expired(), at(10, 20)));
    // A licence without the feature holds new settings too, saying which feature.
    let p = plan(&kb, &seen(&kb, at(10, 20), vec![], Ok(connection()), Ok(claims(&["audit"]))), at(10, 20));
    let condition = p.status.conditions.iter().find(|c| c.type_ == LICENSE_CONDITION).expect("condition");
    assert_eq!(condition.reason.as_deref(), Some("LicenseFeatureMissing"));
    assert_eq!(p.then, Action::requeue(LICENSE_RETRY));
}

#[test]
fn a_recreated_backup_keeps_running_what_a_licence_record_vouches_for_and_nothing_else() {
    // Deleted and applied again: no status, so nothing remembers the settings but the record.
    let kb = cursor(backup(&format!("{ENCRYPTED}\n{HOURLY}")), at(10, 0));
    assert!(kb.status.as_ref().is_none_or(|s| s.licensed_settings.is_none()));
    let record = licence_record(&kb).expect("encryption is Enterprise");
    assert!(held(&kb, &expired(), at(10, 0)), "without the record: held, as any new object");
    assert!(!held_with_record(&kb, &expired(), true, at(10, 0)));
    let observed = |recorded| {
        let mut o = seen(&kb, at(10, 0), vec![], Ok(connection()), Ok(claims(&["*"])));
        o.licence = expired();
        o.recorded = recorded;
        o
    };
    let p = plan(&kb, &observed(true), at(10, 0));
    assert_eq!(p.start.as_ref().map(|s| s.job.clone()), Some(slot(10, 0)), "the due run starts");
    let condition = p.status.conditions.iter().find(|c| c.type_ == LICENSE_CONDITION).expect("a warning");
    assert_eq!(condition.reason.as_deref(), Some("LicenseExpired"));
    assert!(condition.message.as_deref().is_some_and(|m| m.contains("keep running")), "{condition:?}");
    assert_eq!(p.status.licensed_settings, enterprise::fingerprint(&enterprise::backup_uses(&kb.spec)));
    assert_eq!(p.licensed, None, "nothing new to record under a lapsed licence");
    // A valid licence records what it accepts, once.
    let valid = seen(&kb, at(10, 0), vec![], Ok(connection()), Ok(claims(&["*"])));
    assert_eq!(plan(&kb, &valid, at(10, 0)).licensed, Some(record.clone()));
    assert_eq!(plan(&kb, &Observed { recorded: true, ..valid }, at(10, 0)).licensed, None);
    assert_eq!(record.about, format!("KafkaBackup {}/{}", kb.namespace().unwrap_or_default(), kb.name_any()));
}

#[test]
fn observe_is_told_what_the_plan_will_use() {
    let encrypted = backup(ENCRYPTED);
    assert!(held(&backup("schedule: {cron: '61 * * * *'}"), &Err(LicenseError::Missing), at(10, 0)));
    assert!(held(&encrypted, &Err(LicenseError::Missing), at(10, 0)));
    assert!(!held(&encrypted, &Ok(claims(&["*"])), at(10, 0)));
    assert!(!held(&backup(HOURLY), &Err(LicenseError::Missing), at(10, 0)), "OSS needs no licence");
    let due = cursor(backup(HOURLY), at(10, 0));
    assert!(scheduled_run_due(&due, at(10, 0)));
    assert!(!scheduled_run_due(&due, at(9, 59)));
    assert!(!scheduled_run_due(&cursor(backup(HOURLY), at(7, 0)), at(10, 20)), "missed is not due");
    let suspended = cursor(backup("schedule: {cron: '0 * * * *', suspend: true}"), at(10, 0));
    assert!(!scheduled_run_due(&suspended, at(10, 0)));
    assert!(!scheduled_run_due(&backup(""), at(10, 0)));
}

#[test]
fn a_blocked_run_names_its_pod_the_kubelets_words_and_the_field_of_the_secret() {
    let mut kb = backup("");
    if let Some(s3) = kb.spec.storage.s3.as_mut() {
        s3.credentials_secret =
            Some(crate::api::storage::S3CredentialsSecret { name: "s3".into(), ..Default::default() });
    }
    let p = plan(&kb, &observed(&kb, at(10, 20), vec![blocked("nightly-initial-0f1e2d3c")]), at(10, 20));
    let ready = p.status.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    assert_eq!(
        ready.message.as_deref(),
        Some(
            "backup Job nightly-initial-0f1e2d3c cannot start: pod p-1: CreateContainerConfigError: secret \"s3\" not found (named by spec.storage.s3.credentialsSecret.name); it starts by itself once that is fixed"
        )
    );
    assert_eq!(p.events.iter().map(|e| (e.reason, e.warning)).collect::<Vec<_>>(), [(JOB_POD_BLOCKED, true)]);
}
