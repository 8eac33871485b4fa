//! What a reconcile of a one-shot run decided, and the one place it reaches the status: the
//! phase, the Job's name and the `Ready` condition are set by [`settle`] from a typed
//! [`Outcome`], never by a kind directly. (A finished Job's result is read by
//! [`crate::operator::children::run_result`], the same for every kind.) Pure: no client, no clock.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::run::{RunPhase, RunReason, RunStatus};
pub use crate::operator::event::Event;

use crate::operator::status;

/// The `Ready` condition a step decided on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// Whether `Ready` is True follows from it (`ReadyReason::is_ready`).
    pub reason: RunReason,
    pub message: String,
}

impl Ready {
    pub fn new(reason: RunReason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}

/// Something the run needs is not there (yet): the run stays `Pending` and is looked at again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    pub reason: RunReason,
    /// The step that found it missing, e.g. `ResolveCluster` (the Event's action).
    pub action: &'static str,
    pub message: String,
}

/// What a finished Job did, as the kind reads it: the final phase, `Ready` and Events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// `Completed` or `Failed`.
    pub phase: RunPhase,
    pub ready: Ready,
    pub events: Vec<Event>,
}

/// What one reconcile of a one-shot run decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Completed or Failed already: only `observedGeneration` may change.
    Over,
    /// The spec breaks a rule; as it cannot change, the run has failed for good.
    Invalid { kind: String, message: String },
    /// Not started: something it needs is missing.
    Waiting(Wait),
    /// The Job was just created; `phase`: `Running` for the run's Job, `Pending` for a plan Job
    /// (nothing is written while a plan is computed).
    Started { job: String, phase: RunPhase, ready: Ready, event: Event },
    /// The Job runs (its progress, if the kind follows it, is already in the status); `blocked`
    /// says why its pod cannot start, if it cannot; `running` is the kind's `Ready` reason then;
    /// `starting`: no pod of it is ready yet (it may still get stuck: look again soon); `phase`
    /// as for `Started`.
    Running { job: String, phase: RunPhase, running: RunReason, blocked: Option<String>, starting: bool },
    /// The plan is in the status: phase `Planned` with this `Ready`, the Events when `Ready`
    /// changed; `proceed`: the run's Job starts at the next reconcile (soon), else the run waits
    /// for a change of the object (an approval).
    Planned { ready: Ready, events: Vec<Event>, proceed: bool },
    /// The Job finished.
    Finished { job: String, finished: Finished },
}

/// Applies `outcome` to the run fields of `status` at `now`: the one place a one-shot run's
/// phase and `Ready` are set. Returns the Events to publish: a wait's Event only when its
/// `Ready` changed, so a run that waits for its cluster says so once, not every 30 s.
pub fn settle<S: RunStatus>(status: &mut S, outcome: Outcome, now: &Time) -> Vec<Event> {
    let run = status.run();
    let was_blocked = status::ready(run.conditions)
        .is_some_and(|c| c.reason.as_deref() == Some(RunReason::JobPodBlocked.as_str()));
    let mut ready = |r: &Ready| status::set_ready(run.conditions, r.reason, &r.message, now);
    match outcome {
        Outcome::Over => Vec::new(),
        Outcome::Invalid { kind, message } => {
            *run.phase = Some(RunPhase::Failed);
            ready(&Ready::new(RunReason::InvalidSpec, &message));
            let note = format!("{message}; create a new {kind}");
            vec![Event::warning(RunReason::InvalidSpec.as_str(), "Validate", note)]
        }
        Outcome::Waiting(w) => {
            *run.phase = Some(RunPhase::Pending);
            let changed = ready(&Ready::new(w.reason, &w.message));
            if changed { vec![Event::warning(w.reason.as_str(), w.action, w.message)] } else { Vec::new() }
        }
        Outcome::Started { job, phase, ready: r, event } => {
            *run.phase = Some(phase);
            *run.job_name = Some(job);
            ready(&r);
            vec![event]
        }
        Outcome::Running { job, phase, running, blocked, .. } => {
            *run.phase = Some(phase);
            let events = match blocked {
                Some(why) => {
                    let message =
                        format!("Job {job} cannot start: {why}; it starts by itself once that is fixed");
                    let changed = ready(&Ready::new(RunReason::JobPodBlocked, &message));
                    if changed {
                        vec![Event::warning(RunReason::JobPodBlocked.as_str(), "Run", message)]
                    } else {
                        Vec::new()
                    }
                }
                None if was_blocked => {
                    ready(&Ready::new(running, format!("Job {job} is running")));
                    Vec::new()
                }
                None => Vec::new(),
            };
            *run.job_name = Some(job);
            events
        }
        Outcome::Planned { ready: r, events, .. } => {
            *run.phase = Some(RunPhase::Planned);
            if ready(&r) { events } else { Vec::new() }
        }
        Outcome::Finished { job, finished } => {
            *run.phase = Some(finished.phase);
            *run.job_name = Some(job);
            ready(&finished.ready);
            finished.events
        }
    }
}

/// The typed reason of a run the data plane refused.
impl From<crate::refusal::Reason> for RunReason {
    fn from(r: crate::refusal::Reason) -> Self {
        match r {
            crate::refusal::Reason::TargetChanged => Self::TargetChanged,
        }
    }
}

#[cfg(test)]
mod tests;
