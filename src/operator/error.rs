//! What can make a reconcile fail, by step, and how the controllers react: every variant here is
//! transient (the API server or a Job's pod could not be reached, a write conflicted) and is
//! retried with a growing delay. A spec the operator cannot act on is not an error: the
//! controllers report it in the `Ready` condition and an Event and wait for a change.
//!
//! A failure that outlasts a blip is not only logged: from the [`REPORT_AFTER`]th failure in a
//! row the object shows it (`Ready=False` with the error's reason and message) and gets one
//! Warning Event, so a user whose backup cannot run for a reason outside its spec (RBAC, an API
//! server or conversion webhook failing) sees why on the object itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::controller::Action;

use crate::api::condition::Condition;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading what the resource refers to or what the operator created for it.
    #[error("reading {what}: {source}")]
    Read { what: String, source: kube::Error },
    /// Creating, changing or deleting a child (ConfigMap, Job).
    #[error("writing {what}: {source}")]
    Write { what: String, source: kube::Error },
    /// Writing the resource's status.
    #[error("writing the status: {0}")]
    Status(#[source] kube::Error),
    /// Rendering a Job's config.
    #[error("rendering the Job config: {0}")]
    Render(String),
    /// Adding or removing the finalizer.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// An object with a child's deterministic name exists but is not this resource's (no owner
    /// reference with its uid): never adopted, since whoever made it controls what it does.
    #[error(
        "{kind} {name} exists but was not created for this resource (it has no owner reference to uid {uid}): the operator never adopts an object it did not create; delete or rename it"
    )]
    Foreign { kind: String, name: String, uid: String },
    /// Not a failure: a step that must finish before the next (a cleanup Job running) — looked
    /// at again shortly. The finalizer helper only waits when cleanup returns an error.
    #[error("{0}")]
    Waiting(String),
}

impl Error {
    pub fn read(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Read { what, source }
    }

    pub fn write(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Write { what, source }
    }

    /// What the user is told in the `Ready` condition and the Event: the step and the API
    /// server's own message, without the debug form of its `Status`.
    pub fn user_message(&self) -> String {
        fn api(e: &kube::Error) -> String {
            match e {
                kube::Error::Api(s) if s.code != 0 => {
                    format!("{} ({}, HTTP {})", s.message, s.reason, s.code)
                }
                kube::Error::Api(s) => format!("{} ({})", s.message, s.reason),
                other => other.to_string(),
            }
        }
        match self {
            Self::Read { what, source } => format!("reading {what}: {}", api(source)),
            Self::Write { what, source } => format!("writing {what}: {}", api(source)),
            Self::Status(source) => format!("writing the status: {}", api(source)),
            other => other.to_string(),
        }
    }

    /// CamelCase category for the `strimzi_backup_reconcile_errors_total` metric, and the reason
    /// of the `Ready` condition and Event of a failure shown to the user.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Read { .. } => "ReadFailed",
            Self::Write { .. } => "WriteFailed",
            Self::Status(_) => "StatusFailed",
            Self::Render(_) => "RenderFailed",
            Self::Finalizer(_) => "FinalizerFailed",
            Self::Foreign { .. } => "ForeignObject",
            Self::Waiting(_) => "Waiting",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// From this many failures of an object's reconcile in a row, the failure is shown to the user
/// (condition and Event). The first retries (1 s and 2 s later) absorb what a blip is — a write
/// conflict, an API server restart — without alarming anyone.
pub const REPORT_AFTER: u32 = 3;

/// Per-object retry delays: 1 s doubling to 5 min, reset by a successful reconcile, so one
/// object whose Secret is missing does not spin and a blip costs a second. It also counts the
/// failures in a row, which decides when a failure is shown to the user, and keeps what was
/// shown so a success can take it back.
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, Failures>>,
}

#[derive(Default)]
struct Failures {
    count: u32,
    shown: Option<Shown>,
}

/// A failure shown in an object's `Ready` condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Shown {
    /// The `Ready` condition the object had before the first failure shown: put back when a
    /// reconcile succeeds without setting one of its own (None: there was none).
    pub before: Option<Condition>,
    /// The condition written for the failure (the last one, when the error changed).
    pub reported: Condition,
}

/// What to do about the `n`th failure in a row: show it in the status from [`REPORT_AFTER`] on
/// (a write that changes nothing is skipped, so this costs nothing while the error stays the
/// same), and publish the Event once, at [`REPORT_AFTER`].
pub fn report(n: u32) -> (bool, bool) {
    (n >= REPORT_AFTER, n == REPORT_AFTER)
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(300);

    /// Counts a failure of `key`; returns how many there have been in a row.
    pub fn failed(&self, key: &str) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let f = failures.entry(key.to_string()).or_default();
        f.count = f.count.saturating_add(1);
        f.count
    }

    /// When to retry `key` after the failures counted so far.
    pub fn delay(&self, key: &str) -> Action {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.get(key).map_or(1, |f| f.count.max(1));
        Action::requeue(Duration::from_secs(1u64 << (n - 1).min(9)).min(Self::MAX))
    }

    /// Records that `key`'s failure is shown as `reported`; the first condition it replaced is
    /// kept from the first time.
    pub fn shown(&self, key: &str, before: Option<Condition>, reported: Condition) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let f = failures.entry(key.to_string()).or_default();
        let before = f.shown.take().map_or(before, |s| s.before);
        f.shown = Some(Shown { before, reported });
    }

    /// A reconcile of `key` succeeded: the count starts again; returns the failure that was
    /// shown, to take back.
    pub fn succeeded(&self, key: &str) -> Option<Shown> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key).and_then(|f| f.shown)
    }
}

/// The `Ready` conditions after a success that follows `shown`: the one from before the failure
/// when the object still shows the failure (the reconcile set no `Ready` of its own); `None`
/// when nothing is to change.
pub fn taken_back(conditions: &[Condition], shown: &Shown) -> Option<Vec<Condition>> {
    let current = conditions.iter().find(|c| c.type_ == "Ready")?;
    let same = current.status == shown.reported.status
        && current.reason == shown.reported.reason
        && current.message == shown.reported.message;
    if !same {
        return None;
    }
    let mut after: Vec<Condition> = conditions.iter().filter(|c| c.type_ != "Ready").cloned().collect();
    after.extend(shown.before.clone());
    Some(after)
}

/// A failing reconcile as the reason of `Ready` (always False): the error's category, shown once
/// a failure persists (`operator::process`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failing(pub &'static str);

impl crate::api::condition::ReadyReason for Failing {
    fn as_str(self) -> &'static str {
        self.0
    }
    fn is_ready(self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let b = Backoff::default();
        assert_eq!(b.failed("ns/a"), 1);
        assert_eq!(b.delay("ns/a"), Action::requeue(Duration::from_secs(1)));
        b.failed("ns/a");
        assert_eq!(b.delay("ns/a"), Action::requeue(Duration::from_secs(2)));
        for _ in 0..20 {
            b.failed("ns/a");
        }
        assert_eq!(b.delay("ns/a"), Action::requeue(Backoff::MAX));
        assert_eq!(b.succeeded("ns/a"), None);
        b.failed("ns/a");
        assert_eq!(b.delay("ns/a"), Action::requeue(Duration::from_secs(1)));
    }

    #[test]
    fn the_third_failure_in_a_row_is_shown_and_evented_once_and_a_success_starts_the_count_again() {
        let b = Backoff::default();
        let reports: Vec<(bool, bool)> = (0..6).map(|_| report(b.failed("ns/a"))).collect();
        assert_eq!(
            reports,
            [(false, false), (false, false), (true, true), (true, false), (true, false), (true, false)]
        );
        // Another object counts on its own.
        assert_eq!(b.failed("ns/b"), 1);
        b.succeeded("ns/a");
        let again: Vec<(bool, bool)> = (0..3).map(|_| report(b.failed("ns/a"))).collect();
        assert_eq!(again, [(false, false), (false, false), (true, true)]);
    }

    fn ready(ok: bool, reason: &str, message: &str) -> Condition {
        use crate::api::condition::ConditionStatus;
        let status = if ok { ConditionStatus::True } else { ConditionStatus::False };
        Condition::new("Ready", status, reason, message)
    }

    #[test]
    fn a_success_puts_back_the_ready_condition_from_before_the_failure_unless_the_reconcile_set_one() {
        let b = Backoff::default();
        let running = ready(true, "BackupRunning", "the first backup is running");
        let failing = ready(false, "ReadFailed", "reading the Kafka cluster: boom");
        let other = Condition::new("LicenseInvalid", crate::api::condition::ConditionStatus::True, "x", "y");
        for _ in 0..3 {
            b.failed("ns/a");
        }
        b.shown("ns/a", Some(running.clone()), failing.clone());
        // The error changed: the condition from before the first report is still the one kept.
        let failing2 = ready(false, "WriteFailed", "writing Job x: conflict");
        b.shown("ns/a", Some(failing.clone()), failing2.clone());
        let shown = b.succeeded("ns/a").expect("a failure was shown");
        assert_eq!(shown.before.as_ref(), Some(&running));
        // Still showing the failure: back to what it was.
        let now = vec![other.clone(), failing2.clone()];
        assert_eq!(taken_back(&now, &shown), Some(vec![other.clone(), running.clone()]));
        // The reconcile wrote its own verdict: left alone.
        let own = vec![ready(true, "BackupCompleted", "backup x completed")];
        assert_eq!(taken_back(&own, &shown), None);
        // No Ready before the failure: none after.
        let first = Shown { before: None, reported: failing.clone() };
        assert_eq!(taken_back(std::slice::from_ref(&failing), &first), Some(vec![]));
        assert_eq!(b.succeeded("ns/a"), None, "the count and what was shown are gone");
    }

    #[test]
    fn the_user_message_has_the_api_servers_words_not_its_debug_form() {
        let status = kube::core::Status::failure(
            "conversion webhook for kafka.strimzi.io/v1beta2, Kind=Kafka failed",
            "InternalError",
        )
        .with_code(500);
        let e = Error::Read { what: "the Kafka cluster".into(), source: kube::Error::Api(status.boxed()) };
        assert_eq!(
            e.user_message(),
            "reading the Kafka cluster: conversion webhook for kafka.strimzi.io/v1beta2, Kind=Kafka failed (InternalError, HTTP 500)"
        );
        assert_eq!(e.reason(), "ReadFailed");
    }
}
