//! The reconcile of every one-shot kind, written once: final phase → wait for a change;
//! invalid spec → `Failed`; no Job → (kinds that plan first: the plan Job, its result, then
//! start or hold as the kind says) resolve the cluster and what the kind needs, then launch;
//! Job running → `Running` (and its progress); Job finished → its result through the kind.
//! One clock read per reconcile, one status write at its end (none when nothing changed).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;

use super::kind::{Now, OneShot, Planned, Prepared, Stage};
use super::outcome::{self, Outcome, Wait};
use crate::api::run::{RunPhase, RunReason, RunSpec, RunStatus};
use crate::operator::children::{self, JobState};
use crate::operator::context::Context;
use crate::operator::dereference;
use crate::operator::error::{Error, Result};
use crate::operator::launch::{self, Launch};
use crate::operator::status;

/// How soon to look again when what a run needs is not there yet.
pub const WAIT: Duration = Duration::from_secs(30);

/// The Job of `run`: its name is fixed by the object's, so creating it again is a no-op.
pub fn job_name<K: OneShot>(run: &K) -> String {
    crate::operator::job::child_name(&run.name_any(), K::SUBCOMMAND)
}

/// The plan Job of `run` (kinds with [`OneShot::PLAN`]): `<name>-plan`, never the run's own name,
/// so the run's Job and its pods are told apart from it.
pub fn plan_job_name<K: OneShot>(run: &K) -> String {
    crate::operator::job::child_name(&run.name_any(), PLAN_SUFFIX)
}

/// The plan Job's name suffix and component label.
pub const PLAN_SUFFIX: &str = "plan";

/// Which of a run's Jobs a step is about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The plan Job: runs `Pending`, its result goes to [`OneShot::planned`].
    Plan,
    /// The run's own Job.
    Run,
}

/// Reconciles one object of a one-shot kind.
pub async fn reconcile<K: OneShot>(run: &K, ctx: &Context) -> Result<Action> {
    let now = Now::read();
    let before = run.status().cloned();
    let mut status = before.clone().unwrap_or_default();
    *status.run().observed_generation = run.meta().generation;
    let outcome = decide(run, ctx, &mut status, &now).await?;
    let action = match &outcome {
        Outcome::Waiting(_) => Action::requeue(WAIT),
        Outcome::Started { .. } => {
            K::FOLLOW.map_or_else(|| Action::requeue(children::STARTING_RECHECK), Action::requeue)
        }
        // A pod that is not ready yet may still get stuck, which changes nothing on the Job.
        Outcome::Running { starting: true, .. } => Action::requeue(
            K::FOLLOW.map_or(children::STARTING_RECHECK, |f| f.min(children::STARTING_RECHECK)),
        ),
        Outcome::Running { .. } => K::FOLLOW.map_or_else(Action::await_change, Action::requeue),
        // The status with the plan is written first; the run's Job starts at the next look.
        Outcome::Planned { proceed: true, .. } => Action::requeue(Duration::ZERO),
        // Held for an approval: a change of the object (its annotation) brings it back.
        Outcome::Planned { proceed: false, .. } => Action::await_change(),
        Outcome::Over | Outcome::Invalid { .. } | Outcome::Finished { .. } => Action::await_change(),
    };
    let object = run.object_ref(&());
    for e in outcome::settle(&mut status, outcome, &now.time) {
        ctx.event(&object, e.warning, e.reason, e.action, e.note).await;
    }
    status::write(&ctx.client, run, &before, &status).await?;
    Ok(action)
}

/// Every read of a reconcile and the decision it leads to (the kind's own fields are set on
/// the way; the lifecycle's are set from the outcome, by [`outcome::settle`]).
async fn decide<K: OneShot>(run: &K, ctx: &Context, status: &mut K::Status, now: &Now) -> Result<Outcome> {
    if status.phase().is_some_and(|p| p.is_final()) {
        return Ok(Outcome::Over);
    }
    let problems = run.validate(now.utc);
    if !problems.is_empty() {
        let message = crate::api::rules::message(&problems);
        return Ok(Outcome::Invalid { kind: K::kind(&()).into_owned(), message });
    }
    let ns = run.namespace().unwrap_or_default();
    let name = job_name(run);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    if let Some(job) = jobs.get_opt(&name).await.map_err(Error::read(format!("Job {name}")))? {
        return follow(run, ctx, job, name, Step::Run, status, now).await;
    }
    match run.stage(status) {
        Stage::Run => start(run, ctx, name, Step::Run, status, now).await,
        Stage::Hold { ready, event } => Ok(Outcome::Planned { ready, events: vec![event], proceed: false }),
        Stage::Plan => {
            let name = plan_job_name(run);
            match jobs.get_opt(&name).await.map_err(Error::read(format!("Job {name}")))? {
                Some(job) => follow(run, ctx, job, name, Step::Plan, status, now).await,
                None => start(run, ctx, name, Step::Plan, status, now).await,
            }
        }
    }
}

/// A Job of the run exists: it runs (progress, a pod that cannot start) or it finished (its
/// result through the kind).
async fn follow<K: OneShot>(
    run: &K,
    ctx: &Context,
    job: Job,
    name: String,
    step: Step,
    status: &mut K::Status,
    now: &Now,
) -> Result<Outcome> {
    let ns = run.namespace().unwrap_or_default();
    // Names are predictable: a Job someone else put under this one's name is never taken for
    // the run (its result would be reported as the run's), only reported.
    let uid = run.uid().unwrap_or_default();
    if !job.owner_references().iter().any(|o| o.uid == uid) {
        return Err(Error::Foreign { kind: "Job".into(), name, uid });
    }
    match children::state(&job) {
        JobState::Running => {
            // A Job with no ready pod may be stuck on a missing Secret or image: nothing on the
            // Job changes then, so the reconcile looks at its pods itself (and comes back soon).
            let starting = children::starting(&job);
            let blocked = if starting { children::blocked(&ctx.client, &job, now.utc).await? } else { None };
            let (phase, running) = match step {
                Step::Plan => (RunPhase::Pending, K::PLAN.unwrap_or(K::RUNNING)),
                Step::Run => (RunPhase::Running, K::RUNNING),
            };
            // A plan Job's progress is not the run's: only the run's own Job is followed.
            if K::FOLLOW.is_some() && step == Step::Run {
                let logs = match children::workers::is_indexed(&job) {
                    // A run across workers: every worker's progress, summed by the kind.
                    true => children::workers::worker_logs(&ctx.client, &job, Some(50)).await?,
                    false => {
                        let log = children::output(&ctx.client, &ns, &name, Some(50)).await?.log;
                        log.map(|log| children::workers::WorkerLog { log, ..Default::default() })
                            .into_iter()
                            .collect()
                    }
                };
                if !logs.is_empty() {
                    K::progress(status, &logs, &job, now);
                }
            }
            Ok(Outcome::Running { job: name, phase, running, blocked, starting })
        }
        state => {
            // One pod's output, or for a run across workers the one that finished it.
            let output = children::workers::output_of::<K::Result>(&ctx.client, &job, &state).await?;
            let result = children::run_result::<K::Result>(&state, &output, children::FailedResult::Keep);
            if step == Step::Plan {
                return Ok(match run.planned(ctx, &job, result, status, now).await? {
                    Planned::Final(finished) => Outcome::Finished { job: name, finished },
                    Planned::Ready { ready, event } => match run.stage(status) {
                        Stage::Hold { ready, event: held } => {
                            Outcome::Planned { ready, events: vec![event, held], proceed: false }
                        }
                        // A kind that asks for its plan again would only loop: it goes on.
                        Stage::Run | Stage::Plan => {
                            Outcome::Planned { ready, events: vec![event], proceed: true }
                        }
                    },
                });
            }
            let finished = run.finish(ctx, &job, result, status, now).await?;
            Ok(Outcome::Finished { job: name, finished })
        }
    }
}

/// No Job yet: resolves the cluster and what the kind needs, then launches the Job (the run's,
/// or its plan Job).
async fn start<K: OneShot>(
    run: &K,
    ctx: &Context,
    name: String,
    step: Step,
    status: &mut K::Status,
    now: &Now,
) -> Result<Outcome> {
    let ns = run.namespace().unwrap_or_default();
    let connection = if run.uses_cluster() {
        dereference::connection(&ctx.strimzi, &ns, run.spec().cluster())
            .await
            .map_err(Error::read("the Kafka cluster"))?
    } else {
        Ok(crate::operator::connection::JobConnection::default())
    };
    let conn = match connection {
        Ok(c) => c,
        Err(e) => {
            let wait = Wait {
                reason: RunReason::Reference(e.typed()),
                action: "ResolveCluster",
                message: e.to_string(),
            };
            return Ok(Outcome::Waiting(wait));
        }
    };
    let prepared = match step {
        Step::Run => run.prepare(ctx, conn.kafka.clone(), &name, status, now).await?,
        Step::Plan => run.prepare_plan(ctx, conn.kafka.clone(), &name, status, now).await?,
    };
    let (config_yaml, access, ready, event) = match prepared {
        Prepared::Wait(w) => return Ok(Outcome::Waiting(w)),
        Prepared::Launch { config_yaml, access, ready, event } => (config_yaml, access, ready, event),
    };
    let workers = match step {
        Step::Run => run.workers(),
        Step::Plan => 1,
    };
    launch::launch_across(
        ctx,
        run,
        Launch {
            name: name.clone(),
            component: match step {
                Step::Run => K::SUBCOMMAND,
                Step::Plan => PLAN_SUFFIX,
            },
            subcommand: K::SUBCOMMAND,
            config_yaml,
            connection: conn,
            access,
            options: run.spec().job_options(),
            cluster: run.spec().cluster(),
            annotations: BTreeMap::new(),
        },
        workers,
    )
    .await?;
    let phase = match step {
        Step::Run => RunPhase::Running,
        Step::Plan => RunPhase::Pending,
    };
    Ok(Outcome::Started { job: name, phase, ready, event })
}
