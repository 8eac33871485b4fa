//! The `KafkaOffsetReset` kind of the one-shot lifecycle ([`crate::operator::oneshot`]):
//! validate (the webhook's rules, again) → for `to-snapshot`, the snapshot ConfigMap
//! ([`super::snapshot`]) → the `offset-reset` Job → per-group results, and the offsets from
//! before kept as a snapshot ConfigMap, which a later `to-snapshot` reset rolls back to.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::{run_config, snapshot};
use crate::api::offset_reset::{
    GROUP_RESULTS_LIMIT, GroupResetOutcome, GroupResetResult, KafkaOffsetReset, KafkaOffsetResetStatus,
    PARTITION_CHANGES_LIMIT, PartitionOffsetChange, ResetStrategy,
};
use crate::api::run::{RunPhase, RunReason};
use crate::api::validation::FieldError;
use crate::kafka::KafkaConnection;
use crate::offset_reset::OffsetResetResult;
use crate::operator::children;
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::metrics::OutcomeLabels;
use crate::operator::oneshot::{Event, Finished, Now, OneShot, Prepared, Ready, lifecycle};
use crate::operator::storage_access::StorageAccess;

pub async fn reconcile(kor: Arc<KafkaOffsetReset>, ctx: Arc<Context>) -> Result<Action> {
    lifecycle::reconcile(kor.as_ref(), &ctx).await
}

impl OneShot for KafkaOffsetReset {
    type Result = OffsetResetResult;
    const SUBCOMMAND: &'static str = "offset-reset";
    const RUNNING: RunReason = RunReason::ResetRunning;

    fn validate(&self, now: DateTime<Utc>) -> Vec<FieldError> {
        crate::api::rules::offset_reset(&self.spec, now)
    }

    async fn prepare(
        &self,
        ctx: &Context,
        kafka: KafkaConnection,
        job: &str,
        status: &mut KafkaOffsetResetStatus,
        now: &Now,
    ) -> Result<Prepared> {
        let mut access = StorageAccess::default();
        if self.spec.reset_strategy == ResetStrategy::ToSnapshot
            && let Some(name) = &self.spec.snapshot_ref
            && let Some(wait) =
                snapshot::mount(ctx, &self.namespace().unwrap_or_default(), name, &mut access).await?
        {
            return Ok(Prepared::Wait(wait));
        }
        let config = run_config::render(&self.spec, kafka);
        let config_yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Render(e.to_string()))?;
        status.start_time = Some(now.time.clone());
        Ok(Prepared::Launch {
            config_yaml,
            access,
            ready: Ready::new(RunReason::ResetRunning, format!("Job {job} is resetting offsets")),
            event: Event::normal("OffsetResetStarted", "OffsetReset", format!("Job {job} started")),
        })
    }

    async fn finish(
        &self,
        ctx: &Context,
        job: &Job,
        result: std::result::Result<OffsetResetResult, String>,
        status: &mut KafkaOffsetResetStatus,
        now: &Now,
    ) -> Result<Finished> {
        let ns = self.namespace().unwrap_or_default();
        let started = job.status.as_ref().and_then(|s| s.start_time.clone()).or(status.start_time.clone());
        status.start_time = started.clone();
        status.completion_time = Some(now.time.clone());
        status.duration = duration(started.as_ref(), &now.time);
        let outcome =
            |o: &str| OutcomeLabels { namespace: ns.clone(), name: self.name_any(), outcome: o.into() };
        let failed = |message: String| Finished {
            phase: RunPhase::Failed,
            events: vec![Event::warning("OffsetResetFailed", "OffsetReset", &message)],
            ready: Ready::new(RunReason::ResetFailed, message),
        };
        let r = match result {
            Ok(r) => r,
            Err(reason) => {
                ctx.metrics.offset_resets.get_or_create(&outcome("failure")).inc();
                return Ok(failed(format!("offset reset failed: {reason}")));
            }
        };
        status.groups_reset = i32::try_from(r.groups_reset).ok();
        status.groups_failed = i32::try_from(r.groups_failed).ok();
        status.results = results(&r);
        if !r.dry_run && !r.snapshot.groups.is_empty() {
            let cm = snapshot::config_map(self, &self.spec.cluster, &r.snapshot)?;
            children::ensure_config_map(&ctx.client, &ns, &cm).await?;
            status.snapshot_ref = Some(cm.name_any());
        }
        let count = |o: GroupResetOutcome| r.groups.iter().filter(|g| g.outcome == o).count();
        let (failures, skipped) = (count(GroupResetOutcome::Failed), count(GroupResetOutcome::Skipped));
        let message = summary(&r);
        if failures > 0 {
            ctx.metrics.offset_resets.get_or_create(&outcome("failure")).inc();
            return Ok(failed(message));
        }
        ctx.metrics
            .offset_resets
            .get_or_create(&outcome(if skipped > 0 { "partial" } else { "success" }))
            .inc();
        let ready = if skipped > 0 {
            Ready::new(RunReason::GroupsSkipped, &message)
        } else {
            Ready::new(RunReason::OffsetsReset, &message)
        };
        let event = Event {
            warning: skipped > 0,
            reason: "OffsetResetCompleted",
            action: "OffsetReset",
            note: message,
        };
        Ok(Finished { phase: RunPhase::Completed, ready, events: vec![event] })
    }
}

/// What the run did, in one line: how many groups moved, and each skipped or failed one's why.
fn summary(r: &OffsetResetResult) -> String {
    let verb = if r.dry_run { "planned (dry run, nothing changed)" } else { "reset" };
    let mut message = format!("{} group(s) {verb}", r.groups_reset);
    for g in r
        .groups
        .iter()
        .filter(|g| matches!(g.outcome, GroupResetOutcome::Skipped | GroupResetOutcome::Failed))
    {
        message.push_str(&format!("; {} {:?}: {}", g.group, g.outcome, g.message.as_deref().unwrap_or("")));
    }
    crate::operator::context::truncate(message, 900)
}

fn results(r: &OffsetResetResult) -> Vec<GroupResetResult> {
    r.groups
        .iter()
        .take(GROUP_RESULTS_LIMIT)
        .map(|g| GroupResetResult {
            group: g.group.clone(),
            outcome: g.outcome,
            message: g.message.clone(),
            partitions: g
                .partitions
                .iter()
                .take(PARTITION_CHANGES_LIMIT)
                .map(|p| PartitionOffsetChange {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    previous_offset: p.previous,
                    new_offset: p.new,
                })
                .collect(),
        })
        .collect()
}

fn duration(from: Option<&Time>, to: &Time) -> Option<String> {
    let secs = (to.0.as_second() - from?.0.as_second()).max(0);
    Some(match secs {
        s if s >= 3600 => format!("{}h{}m{}s", s / 3600, s % 3600 / 60, s % 60),
        s if s >= 60 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{s}s"),
    })
}
