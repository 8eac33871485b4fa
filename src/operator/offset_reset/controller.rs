//! The `KafkaOffsetReset` reconcile: one run per object. Validate (the webhook's rules, again)
//! → dereference the cluster and, for `to-snapshot`, the snapshot ConfigMap → start the Job
//! (the `offset-reset` subcommand) → record per-group results and keep the offsets from before
//! as a snapshot ConfigMap, which a later `to-snapshot` reset rolls back to.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, KeyToPath, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::run_config::{self, SNAPSHOT_DIR, SNAPSHOT_KEY};
use crate::api::cluster::ClusterConnection;
use crate::api::offset_reset::{
    GROUP_RESULTS_LIMIT, GroupResetOutcome, GroupResetResult, KafkaOffsetReset, KafkaOffsetResetStatus,
    PARTITION_CHANGES_LIMIT, PartitionOffsetChange, ResetStrategy,
};
use crate::api::restore::RunPhase;
use crate::api::rules;
use crate::offset_reset::{OffsetResetResult, Snapshot};
use crate::operator::children::{self, JobState};
use crate::operator::context::Context;
use crate::operator::dereference;
use crate::operator::error::{Error, Result};
use crate::operator::launch::{self, Launch};
use crate::operator::metrics::OutcomeLabels;
use crate::operator::status;
use crate::operator::storage_access::StorageAccess;
use crate::time::now;

const COMPONENT: &str = "offset-reset";
const WAIT: Duration = Duration::from_secs(30);

fn job_name(kor: &KafkaOffsetReset) -> String {
    crate::operator::job::child_name(&kor.name_any(), "offset-reset")
}

pub async fn reconcile(kor: Arc<KafkaOffsetReset>, ctx: Arc<Context>) -> Result<Action> {
    let kor = kor.as_ref();
    let ns = kor.namespace().unwrap_or_default();
    let object = kor.object_ref(&());
    let at = now();
    let before = kor.status.clone();
    let mut status = before.clone().unwrap_or_default();
    status.observed_generation = kor.metadata.generation;
    if matches!(status.phase, Some(RunPhase::Completed | RunPhase::Failed)) {
        status::write(&ctx.client, kor, &before, &status).await?;
        return Ok(Action::await_change());
    }
    let problems = rules::offset_reset(&kor.spec, Utc::now());
    if !problems.is_empty() {
        let message = rules::message(&problems);
        status.phase = Some(RunPhase::Failed);
        status::set_ready(&mut status.conditions, false, "InvalidSpec", &message, &at);
        ctx.event(
            &object,
            true,
            "InvalidSpec",
            "Validate",
            format!("{message}; create a new KafkaOffsetReset"),
        )
        .await;
        status::write(&ctx.client, kor, &before, &status).await?;
        return Ok(Action::await_change());
    }
    let name = job_name(kor);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let action = match jobs.get_opt(&name).await.map_err(Error::read(format!("Job {name}")))? {
        None => start(&ctx, kor, &mut status, &at).await?,
        Some(job) => match children::state(&job) {
            JobState::Running => {
                status.phase = Some(RunPhase::Running);
                Action::await_change()
            }
            state => {
                finish(&ctx, kor, &job, state, &mut status, &at).await?;
                Action::await_change()
            }
        },
    };
    status::write(&ctx.client, kor, &before, &status).await?;
    Ok(action)
}

async fn start(
    ctx: &Context,
    kor: &KafkaOffsetReset,
    status: &mut KafkaOffsetResetStatus,
    at: &Time,
) -> Result<Action> {
    let ns = kor.namespace().unwrap_or_default();
    let object = kor.object_ref(&());
    status.phase = Some(RunPhase::Pending);
    let mut waiting = |reason: &str, message: String| {
        status::set_ready(&mut status.conditions, false, reason, &message, at)
            .then_some((reason.to_string(), message))
    };
    let conn = match dereference::connection(&ctx.strimzi, &ns, &kor.spec.cluster)
        .await
        .map_err(Error::read("the Kafka cluster"))?
    {
        Ok(c) => c,
        Err(e) => {
            if let Some((reason, message)) = waiting(e.reason(), e.to_string()) {
                ctx.event(&object, true, &reason, "ResolveCluster", message).await;
            }
            return Ok(Action::requeue(WAIT));
        }
    };
    let mut access = StorageAccess::default();
    if kor.spec.reset_strategy == ResetStrategy::ToSnapshot
        && let Some(snapshot) = &kor.spec.snapshot_ref
    {
        let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let found = cms.get_opt(snapshot).await.map_err(Error::read(format!("ConfigMap {snapshot}")))?;
        if !found.as_ref().and_then(|c| c.data.as_ref()).is_some_and(|d| d.contains_key(SNAPSHOT_KEY)) {
            let message = format!(
                "spec.snapshotRef: ConfigMap {ns}/{snapshot} {} — name the ConfigMap from a KafkaRestore's status.offsetSnapshot or a KafkaOffsetReset's status.snapshotRef",
                if found.is_some() { format!("has no key {SNAPSHOT_KEY}") } else { "not found".into() }
            );
            if let Some((reason, message)) = waiting("SnapshotNotFound", message) {
                ctx.event(&object, true, &reason, "ResolveSnapshot", message).await;
            }
            return Ok(Action::requeue(WAIT));
        }
        access.volumes.push(Volume {
            name: "snapshot".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: snapshot.clone(),
                items: Some(vec![KeyToPath {
                    key: SNAPSHOT_KEY.into(),
                    path: SNAPSHOT_KEY.into(),
                    mode: None,
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        access.mounts.push(VolumeMount {
            name: "snapshot".into(),
            mount_path: SNAPSHOT_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }
    let config = run_config::render(&kor.spec, conn.kafka.clone());
    let yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Render(e.to_string()))?;
    let name = job_name(kor);
    launch::launch(
        ctx,
        kor,
        Launch {
            name: name.clone(),
            component: COMPONENT,
            subcommand: "offset-reset",
            config_yaml: yaml,
            connection: conn,
            access,
            options: &kor.spec.job_options,
            cluster: &kor.spec.cluster,
            annotations: BTreeMap::new(),
        },
    )
    .await?;
    status.phase = Some(RunPhase::Running);
    status.job_name = Some(name.clone());
    status.start_time = Some(at.clone());
    status::set_ready(
        &mut status.conditions,
        false,
        "ResetRunning",
        format!("Job {name} is resetting offsets"),
        at,
    );
    ctx.event(&object, false, "OffsetResetStarted", "OffsetReset", format!("Job {name} started")).await;
    Ok(Action::await_change())
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

async fn finish(
    ctx: &Context,
    kor: &KafkaOffsetReset,
    job: &Job,
    state: JobState,
    status: &mut KafkaOffsetResetStatus,
    at: &Time,
) -> Result<()> {
    let ns = kor.namespace().unwrap_or_default();
    let object = kor.object_ref(&());
    let output = children::output(&ctx.client, &ns, &job.name_any(), None).await?;
    let started = job.status.as_ref().and_then(|s| s.start_time.clone()).or(status.start_time.clone());
    status.start_time = started.clone();
    status.completion_time = Some(at.clone());
    status.duration = duration(started.as_ref(), at);
    status.job_name = Some(job.name_any());
    let outcome = |o: &str| OutcomeLabels { namespace: ns.clone(), name: kor.name_any(), outcome: o.into() };
    let Some(r) = output.result::<OffsetResetResult>() else {
        let reason = match state {
            JobState::Failed { reason } => output.error().unwrap_or(reason),
            _ => {
                "the Job succeeded but left no result (neither in its log nor its termination message)".into()
            }
        };
        ctx.metrics.offset_resets.get_or_create(&outcome("failure")).inc();
        status.phase = Some(RunPhase::Failed);
        let message = format!("offset reset failed: {reason}");
        status::set_ready(&mut status.conditions, false, "ResetFailed", &message, at);
        ctx.event(&object, true, "OffsetResetFailed", "OffsetReset", message).await;
        return Ok(());
    };
    status.groups_reset = i32::try_from(r.groups_reset).ok();
    status.groups_failed = i32::try_from(r.groups_failed).ok();
    status.results = results(&r);
    if !r.dry_run && !r.snapshot.groups.is_empty() {
        let cm = snapshot_config_map(kor, &kor.spec.cluster, &r.snapshot)?;
        children::ensure_config_map(&ctx.client, &ns, &cm).await?;
        status.snapshot_ref = Some(cm.name_any());
    }
    let failed = r.groups.iter().filter(|g| g.outcome == GroupResetOutcome::Failed).count();
    let skipped = r.groups.iter().filter(|g| g.outcome == GroupResetOutcome::Skipped).count();
    let verb = if r.dry_run { "planned (dry run, nothing changed)" } else { "reset" };
    let mut message = format!("{} group(s) {verb}", r.groups_reset);
    for g in r
        .groups
        .iter()
        .filter(|g| matches!(g.outcome, GroupResetOutcome::Skipped | GroupResetOutcome::Failed))
    {
        message.push_str(&format!("; {} {:?}: {}", g.group, g.outcome, g.message.as_deref().unwrap_or("")));
    }
    let message = crate::operator::context::truncate(message, 900);
    if failed > 0 {
        ctx.metrics.offset_resets.get_or_create(&outcome("failure")).inc();
        status.phase = Some(RunPhase::Failed);
        status::set_ready(&mut status.conditions, false, "ResetFailed", &message, at);
        ctx.event(&object, true, "OffsetResetFailed", "OffsetReset", message).await;
    } else {
        let label = if skipped > 0 { "partial" } else { "success" };
        ctx.metrics.offset_resets.get_or_create(&outcome(label)).inc();
        status.phase = Some(RunPhase::Completed);
        let reason = if skipped > 0 { "GroupsSkipped" } else { "OffsetsReset" };
        status::set_ready(&mut status.conditions, skipped == 0, reason, &message, at);
        ctx.event(&object, skipped > 0, "OffsetResetCompleted", "OffsetReset", message).await;
    }
    Ok(())
}

/// An offset snapshot as a ConfigMap owned by `owner` (a restore's rollback snapshot, a reset's
/// offsets from before): `snapshot.json` in the format `to-snapshot` reads.
pub fn snapshot_config_map<K: Resource<DynamicType = ()>>(
    owner: &K,
    cluster: &ClusterConnection,
    snapshot: &Snapshot,
) -> Result<ConfigMap> {
    let json = serde_json::to_string_pretty(snapshot).map_err(|e| Error::Render(e.to_string()))?;
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(crate::operator::job::child_name(&owner.name_any(), "offset-snapshot")),
            namespace: owner.namespace(),
            labels: Some(launch::labels(owner, "offset-snapshot", cluster)),
            owner_references: owner.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(SNAPSHOT_KEY.to_string(), json)])),
        ..Default::default()
    })
}
