//! [`OneShot`]: what a one-shot kind tells the shared lifecycle — everything that differs
//! between a restore, an offset reset and the kinds to come. The lifecycle
//! ([`super::lifecycle`]) does the rest.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::core::object::{HasSpec, HasStatus};
use serde::de::DeserializeOwned;

use super::outcome::{Event, Finished, Ready, Wait};
use crate::api::run::{RunReason, RunSpec, RunStatus};
use crate::api::validation::FieldError;
use crate::kafka::KafkaConnection;
use crate::operator::context::Context;
use crate::operator::error::Error;
use crate::operator::error::Result;
use crate::operator::storage_access::StorageAccess;

/// The one time a reconcile works at: read once, passed down, so every time a reconcile writes
/// and every decision it makes agree.
#[derive(Clone, Debug)]
pub struct Now {
    pub utc: DateTime<Utc>,
    /// The same instant as a status time.
    pub time: Time,
}

impl Now {
    pub fn read() -> Self {
        let utc = Utc::now();
        Self { utc, time: crate::time::kube(utc).unwrap_or_else(crate::time::now) }
    }
}

/// What a kind's Job needs, or why it cannot start yet.
pub enum Prepared {
    /// Stay `Pending`: `Ready=False` with this reason, looked at again in [`super::lifecycle::WAIT`].
    Wait(Wait),
    /// Launch the Job with this config and storage access; once it exists, say so with `ready`
    /// and `event`.
    Launch { config_yaml: String, access: StorageAccess, ready: Ready, event: Event },
}

/// Where a kind that plans first ([`OneShot::PLAN`]) stands, before its run's Job exists.
pub enum Stage {
    /// No plan yet: compute it (launch or follow the plan Job `<name>-plan`).
    Plan,
    /// Start the run's Job (a kind without a plan stage always is here).
    Run,
    /// Planned, and the run may not start yet (it waits for an approval): phase `Planned`,
    /// `Ready` as given, the Event when `Ready` changed.
    Hold { ready: Ready, event: Event },
}

/// What a kind made of its plan Job's result.
pub enum Planned {
    /// The plan is in the status, announced by `ready` and `event`; the run starts or is held
    /// as [`OneShot::stage`] then says.
    Ready { ready: Ready, event: Event },
    /// The plan is the end: it failed, or it was all that was asked for (a dry run).
    Final(Finished),
}

/// A kind whose every object is one run of one Job: start → progress → finish. The spec is
/// immutable (CEL `self == oldSelf`), so a run that finished or was invalid is final. Its spec
/// and status lend the lifecycle their shared fields ([`RunSpec`], [`RunStatus`]: the lifecycle
/// writes the status's phase, Job name, `Ready` and `observedGeneration`; the kind the rest).
pub trait OneShot:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + HasSpec<Spec: RunSpec>
    + HasStatus<Status: RunStatus>
    + Clone
    + std::fmt::Debug
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// What the data plane prints when the run is done (last JSON line, termination message).
    type Result: DeserializeOwned + Send;

    /// The data-plane subcommand the Job runs; also its component label and name suffix.
    const SUBCOMMAND: &'static str;
    /// How often a running Job is looked at for progress ([`OneShot::progress`]); `None`:
    /// only when the Job changes.
    const FOLLOW: Option<Duration> = None;
    /// The `Ready` reason while its Job runs (e.g. `RestoreRunning`): what `Ready` returns to
    /// once a pod that could not start (`JobPodBlocked`) starts.
    const RUNNING: RunReason;
    /// `Some(reason)`: the kind plans before it runs. A plan Job `<name>-plan` (the same
    /// subcommand, told by [`OneShot::prepare_plan`]'s config to only plan) goes first, with
    /// this `Ready` reason while it runs; its result goes to [`OneShot::planned`], and
    /// [`OneShot::stage`] says when the run's own Job may start. `None` (default): no plan.
    const PLAN: Option<RunReason> = None;

    /// Whether the Job connects to the spec's Kafka cluster (resolved by the lifecycle before
    /// [`OneShot::prepare`]); `false`: it works on storage alone (an erasure of the backups
    /// only), and `prepare` gets an empty connection.
    fn uses_cluster(&self) -> bool {
        true
    }

    /// The rules the webhook checks, checked again (a cluster may run without the webhook).
    fn validate(&self, now: DateTime<Utc>) -> Vec<FieldError>;

    /// Pods the run's own Job (not its plan Job) is split across: above 1 an Indexed Job
    /// ([`crate::operator::launch::launch_across`]) whose result is read from the worker that
    /// finished the run ([`crate::operator::children::workers`]). Default 1.
    fn workers(&self) -> i32 {
        1
    }

    /// Resolves what the Job needs besides the cluster (which the lifecycle resolved into
    /// `kafka`) and renders its config. May set the kind's own status fields for a launch
    /// (a failed launch returns an error, and then nothing is written).
    fn prepare(
        &self,
        ctx: &Context,
        kafka: KafkaConnection,
        job: &str,
        status: &mut Self::Status,
        now: &Now,
    ) -> impl Future<Output = Result<Prepared>> + Send;

    /// Where the run stands before its Job exists (kinds with [`OneShot::PLAN`] only): compute
    /// the plan, start, or hold. Pure.
    fn stage(&self, _status: &Self::Status) -> Stage {
        Stage::Run
    }

    /// Like [`OneShot::prepare`], for the plan Job (kinds with [`OneShot::PLAN`] only).
    fn prepare_plan(
        &self,
        _ctx: &Context,
        _kafka: KafkaConnection,
        _job: &str,
        _status: &mut Self::Status,
        _now: &Now,
    ) -> impl Future<Output = Result<Prepared>> + Send {
        async { Err(Error::Render(format!("{} runs have no plan stage", Self::SUBCOMMAND))) }
    }

    /// A finished plan Job's result (or why there is none) into the kind's status, with its
    /// metrics (kinds with [`OneShot::PLAN`] only).
    fn planned(
        &self,
        _ctx: &Context,
        _job: &Job,
        _result: std::result::Result<Self::Result, String>,
        _status: &mut Self::Status,
        _now: &Now,
    ) -> impl Future<Output = Result<Planned>> + Send {
        async { Err(Error::Render(format!("{} runs have no plan stage", Self::SUBCOMMAND))) }
    }

    /// A running Job's latest logs (`FOLLOW` kinds only) into the kind's progress fields: its
    /// pod's, or for a run across workers each worker's newest pod's. Pure.
    fn progress(
        _status: &mut Self::Status,
        _logs: &[crate::operator::children::workers::WorkerLog],
        _job: &Job,
        _now: &Now,
    ) {
    }

    /// A finished Job's result (or why there is none) into the kind's status, with its
    /// metrics and any objects it leaves (snapshot ConfigMaps); returns the phase, `Ready` and
    /// Events for the lifecycle to apply.
    fn finish(
        &self,
        ctx: &Context,
        job: &Job,
        result: std::result::Result<Self::Result, String>,
        status: &mut Self::Status,
        now: &Now,
    ) -> impl Future<Output = Result<Finished>> + Send;
}
