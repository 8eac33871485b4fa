//! The shared pure parts of the one-shot lifecycle: what a finished Job left, and how each
//! outcome lands in the status.

use super::*;
use crate::api::cluster::ReferenceReason;
use crate::api::condition::ConditionStatus;
use crate::api::offset_reset::KafkaOffsetResetStatus;
use crate::offset_reset::OffsetResetResult;
use crate::operator::children::{FailedResult, JobState, Output, run_result};
use crate::operator::connection::ConnectionError;

fn at(seconds: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(1_795_000_000 + seconds).expect("in range"))
}

fn ready(status: &KafkaOffsetResetStatus) -> (ConditionStatus, String, String) {
    let c = status::ready(&status.conditions).expect("a Ready condition");
    (c.status, c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default())
}

fn failed(reason: &str) -> JobState {
    JobState::Failed { reason: reason.into() }
}

const RESULT: &str =
    r#"{"dryRun":false,"groupsReset":1,"groupsFailed":0,"groups":[],"snapshot":{"groups":[]}}"#;

#[test]
fn a_succeeded_job_yields_the_last_result_line_of_its_log() {
    let output = Output {
        message: None,
        log: Some(format!("INFO starting\n{{\"progress\":1}}\n{RESULT}\nINFO done\n")),
    };
    let r: OffsetResetResult =
        run_result(&JobState::Succeeded, &output, FailedResult::Keep).expect("a result");
    assert_eq!(r.groups_reset, 1);
}

#[test]
fn without_a_log_the_termination_message_is_the_result() {
    let output = Output { message: Some(format!("{RESULT}\n")), log: None };
    let r: OffsetResetResult =
        run_result(&JobState::Succeeded, &output, FailedResult::Keep).expect("a result");
    assert_eq!(r.groups_reset, 1);
}

#[test]
fn a_succeeded_job_without_a_result_says_so() {
    let output = Output { message: Some("not json".into()), log: Some("INFO only\n".into()) };
    let e = run_result::<OffsetResetResult>(&JobState::Succeeded, &output, FailedResult::Keep)
        .expect_err("no result");
    assert_eq!(e, "the Job succeeded but left no result (neither in its log nor its termination message)");
}

#[test]
fn a_failed_job_with_a_result_reports_the_result() {
    // offset-reset prints its per-group result, then exits non-zero when a group failed.
    let output =
        Output { message: Some("error: 1 group(s) failed".into()), log: Some(format!("{RESULT}\n")) };
    assert!(
        run_result::<OffsetResetResult>(&failed("BackoffLimitExceeded"), &output, FailedResult::Keep).is_ok()
    );
    // A backup that failed is never recorded as completed, whatever its log says.
    assert_eq!(
        run_result::<OffsetResetResult>(&failed("BackoffLimitExceeded"), &output, FailedResult::Ignore)
            .expect_err("ignored"),
        "1 group(s) failed"
    );
}

#[test]
fn a_failed_job_without_a_result_gives_the_pods_error_else_the_jobs_reason() {
    let said = Output { message: Some("context\nerror: broker down\n".into()), log: Some("INFO x\n".into()) };
    assert_eq!(
        run_result::<OffsetResetResult>(&failed("BackoffLimitExceeded"), &said, FailedResult::Keep),
        Err("broker down".into())
    );
    let silent = Output::default();
    assert_eq!(
        run_result::<OffsetResetResult>(&failed("DeadlineExceeded: too slow"), &silent, FailedResult::Keep),
        Err("DeadlineExceeded: too slow".into())
    );
}

#[test]
fn an_invalid_spec_fails_the_run_for_good_and_says_to_create_a_new_one() {
    let mut status = KafkaOffsetResetStatus::default();
    let invalid = Outcome::Invalid { kind: "KafkaOffsetReset".into(), message: "spec.x: bad".into() };
    let events = settle(&mut status, invalid, &at(0));
    assert_eq!(status.phase, Some(RunPhase::Failed));
    assert_eq!(ready(&status), (ConditionStatus::False, "InvalidSpec".into(), "spec.x: bad".into()));
    assert_eq!(
        events,
        [Event::warning("InvalidSpec", "Validate", "spec.x: bad; create a new KafkaOffsetReset")]
    );
}

#[test]
fn a_wait_is_pending_and_tells_its_event_once() {
    let mut status = KafkaOffsetResetStatus::default();
    let wait = |message: &str| {
        Outcome::Waiting(Wait {
            reason: RunReason::Reference(ReferenceReason::KafkaNotReady),
            action: "ResolveCluster",
            message: message.into(),
        })
    };
    let first = settle(&mut status, wait("not ready"), &at(0));
    assert_eq!(first, [Event::warning("KafkaNotReady", "ResolveCluster", "not ready")]);
    assert_eq!(status.phase, Some(RunPhase::Pending));
    assert_eq!(ready(&status), (ConditionStatus::False, "KafkaNotReady".into(), "not ready".into()));
    assert!(settle(&mut status, wait("not ready"), &at(30)).is_empty(), "the same wait again is no news");
    assert_eq!(
        settle(&mut status, wait("still not ready: 0/1 brokers"), &at(60)).len(),
        1,
        "a new message is"
    );
}

#[test]
fn a_start_names_the_job_and_a_running_job_keeps_ready_as_it_was() {
    let mut status = KafkaOffsetResetStatus::default();
    let event = Event::normal("OffsetResetStarted", "OffsetReset", "Job j started");
    let started = Outcome::Started {
        job: "j".into(),
        phase: RunPhase::Running,
        ready: Ready::new(RunReason::ResetRunning, "running"),
        event: event.clone(),
    };
    assert_eq!(settle(&mut status, started, &at(0)), [event]);
    assert_eq!((status.phase, status.job_name.as_deref()), (Some(RunPhase::Running), Some("j")));
    let before = status.conditions.clone();
    let running = || Outcome::Running {
        job: "j".into(),
        phase: RunPhase::Running,
        running: RunReason::ResetRunning,
        blocked: None,
        starting: false,
    };
    assert!(settle(&mut status, running(), &at(10)).is_empty());
    assert_eq!(status.conditions, before);

    // A pod that cannot start: Ready says so with one Warning Event, not one per look.
    let blocked = || Outcome::Running {
        job: "j".into(),
        phase: RunPhase::Running,
        running: RunReason::ResetRunning,
        blocked: Some(r#"pod j-x: CreateContainerConfigError: secret "creds" not found"#.into()),
        starting: true,
    };
    let events = settle(&mut status, blocked(), &at(20));
    assert_eq!(events.iter().map(|e| (e.reason, e.warning)).collect::<Vec<_>>(), [("JobPodBlocked", true)]);
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    assert_eq!((ready.status, ready.reason.as_deref()), (ConditionStatus::False, Some("JobPodBlocked")));
    assert!(ready.message.as_deref().is_some_and(|m| m.contains(r#"secret "creds" not found"#)), "{ready:?}");
    assert!(settle(&mut status, blocked(), &at(35)).is_empty());
    // Once it starts, Ready is the kind's running reason again.
    assert!(settle(&mut status, running(), &at(50)).is_empty());
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    assert_eq!(ready.reason.as_deref(), Some("ResetRunning"));
}

#[test]
fn a_finished_run_takes_its_phase_ready_and_events_from_the_kind() {
    let mut status = KafkaOffsetResetStatus::default();
    let events =
        vec![Event::warning("OffsetResetCompleted", "OffsetReset", "1 group(s) reset; g Skipped: active")];
    let finished = Finished {
        phase: RunPhase::Completed,
        ready: Ready::new(RunReason::GroupsSkipped, "1 group(s) reset; g Skipped: active"),
        events: events.clone(),
    };
    assert_eq!(settle(&mut status, Outcome::Finished { job: "j".into(), finished }, &at(0)), events);
    assert_eq!(status.phase, Some(RunPhase::Completed));
    assert_eq!(ready(&status).1, "GroupsSkipped");
    // Over: nothing moves any more.
    let before = status.clone();
    assert!(settle(&mut status, Outcome::Over, &at(99)).is_empty());
    assert_eq!(status, before);
}

#[test]
fn typed_reasons_are_the_strings_the_errors_gave() {
    let errors = [
        ConnectionError::KafkaNotFound { namespace: "n".into(), name: "k".into() },
        ConnectionError::KafkaNotReady { namespace: "n".into(), name: "k".into(), detail: String::new() },
        ConnectionError::ListenerNotFound {
            namespace: "n".into(),
            name: "k".into(),
            wanted: "tls".into(),
            have: "plain".into(),
        },
        ConnectionError::Authentication("x".into()),
        ConnectionError::NotAllowed("x".into()),
    ];
    let reasons: Vec<&str> = errors.iter().map(|e| RunReason::Reference(e.typed()).as_str()).collect();
    assert_eq!(
        reasons,
        [
            "KafkaNotFound",
            "KafkaNotReady",
            "ListenerNotFound",
            "InvalidAuthentication",
            "CrossNamespaceRefNotAllowed"
        ]
    );
    let refused = crate::refusal::Reason::TargetChanged;
    assert_eq!(RunReason::from(refused).as_str(), refused.as_str());
}

#[test]
fn a_plan_holds_the_run_in_planned_and_says_so_once_per_change_of_ready() {
    let mut status = KafkaOffsetResetStatus::default();
    let planned = |message: &str| Outcome::Planned {
        ready: Ready::new(RunReason::AwaitingApproval, message),
        events: vec![Event::normal("AwaitingApproval", "Plan", message)],
        proceed: false,
    };
    assert_eq!(settle(&mut status, planned("annotate with abc"), &at(0)).len(), 1);
    assert_eq!(status.phase, Some(RunPhase::Planned));
    let (is, reason, _) = ready(&status);
    assert_eq!((is, reason.as_str()), (ConditionStatus::False, "AwaitingApproval"));
    assert!(settle(&mut status, planned("annotate with abc"), &at(10)).is_empty(), "not every look");
    assert_eq!(settle(&mut status, planned("xyz is not abc"), &at(20)).len(), 1, "a new message is news");
    assert_eq!(status.phase, Some(RunPhase::Planned));
}
