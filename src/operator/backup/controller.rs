//! The `KafkaBackup` reconcile: the finalizer's two events. Applying runs
//! [`observe`] (every read) → [`plan`] (every decision, pure) → [`act`] (every write), all at one
//! `now`: the clock is read once per reconcile, so a decision and the times it writes agree.
//! Deleting the resource runs the `deletionPolicy` ([`cleanup`]). Failures go to the shared
//! error policy (`operator::error`) through `operator::process`.

use std::sync::Arc;

use chrono::Utc;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent};

use super::{act, cleanup, continuous, metrics, observe, plan};
use crate::api::backup::KafkaBackup;
use crate::api::schedule::CronSchedule;
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};

/// Held while the stored backups may still need deleting (`deletionPolicy: Delete`).
pub const FINALIZER: &str = "kafkabackup.com/cleanup";

pub async fn reconcile(kb: Arc<KafkaBackup>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<KafkaBackup> = Api::namespaced(ctx.client.clone(), &kb.namespace().unwrap_or_default());
    finalizer::finalizer(&api, FINALIZER, kb, |event| async {
        match event {
            FinalizerEvent::Apply(kb) => apply(&kb, &ctx).await,
            FinalizerEvent::Cleanup(kb) => cleanup::cleanup(&kb, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    })
}

async fn apply(kb: &KafkaBackup, ctx: &Context) -> Result<Action> {
    let now = Utc::now();
    // Before anything can fail: the alerts on a backup that cannot run rely on these.
    let cron = kb.spec.schedule.as_ref().and_then(|s| CronSchedule::parse(s).ok());
    metrics::state_gauges(&ctx.metrics, kb, cron.as_ref(), &kb.status.clone().unwrap_or_default(), now);
    let observed = observe::observe(ctx, kb, now).await?;
    // A continuous backup the rules and the licence accept runs in its Deployment, not in Jobs;
    // one held (observe read no cluster) gets the plan's status, which says why.
    if continuous::wanted(kb)
        && let Some(cluster) = &observed.cluster
    {
        return continuous::apply(ctx, kb, cluster.connection.clone(), now).await;
    }
    if continuous::was_running(kb.status.as_ref()) {
        continuous::remove(ctx, kb).await?;
    }
    let plan = plan::plan(kb, &observed, now);
    act::act(ctx, kb, plan, now).await
}
