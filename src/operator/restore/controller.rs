//! The `KafkaRestore` kind of the one-shot lifecycle ([`crate::operator::oneshot`]): validate
//! (the webhook's rules, again) → the backups' location ([`super::source`]: the `KafkaBackup`'s,
//! a `KafkaRestorePoint`'s, or `source.storage`) → the plan Job (`<name>-plan`, a dry run) →
//! the plan in `status.plan`, phase `Planned` ([`super::plan`]) → once approved (at once with
//! `approval: Automatic`) the restore Job, pinned to the plan's backup and point in time → its
//! progress, read from the data plane's log every 10 s → the result, the rollback snapshot
//! ConfigMap, the metrics and Events. With `dryRun` the plan is the result.
//!
//! A finished restore is final: `Completed` or `Failed` stays, the spec being immutable. The
//! restore id is the object's uid, so a Job pod that dies and is retried resumes the same
//! restore without duplicating a record.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::plan::{self as restore_plan, Approved};
use super::{run_config, source, strimzi_resources, strimzi_topics};
use crate::api::restore::{
    KafkaRestore, KafkaRestoreStatus, OffsetSnapshotRef, PointInTime, RestoreProgress,
    RestoreResult as StatusResult,
};
use crate::api::run::{RunPhase, RunReason};
use crate::api::validation::FieldError;
use crate::kafka::KafkaConnection;
use crate::operator::children;
use crate::operator::children::workers::WorkerLog;
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::metrics::{OutcomeLabels, ResourceLabels};
use crate::operator::oneshot::{Event, Finished, Now, OneShot, Planned, Prepared, Ready, Stage, lifecycle};
use crate::operator::storage_access::StorageAccess;
use crate::restore::RestoreResult;
use crate::time;

pub async fn reconcile(kr: Arc<KafkaRestore>, ctx: Arc<Context>) -> Result<Action> {
    lifecycle::reconcile(kr.as_ref(), &ctx).await
}

impl OneShot for KafkaRestore {
    type Result = RestoreResult;
    const SUBCOMMAND: &'static str = "restore";
    const FOLLOW: Option<Duration> = Some(Duration::from_secs(10));
    const RUNNING: RunReason = RunReason::RestoreRunning;
    const PLAN: Option<RunReason> = Some(RunReason::RestorePlanning);

    fn validate(&self, now: DateTime<Utc>) -> Vec<FieldError> {
        crate::api::rules::restore(&self.spec, now)
    }

    /// `restore.workers`; a dry run plans in one pod.
    fn workers(&self) -> i32 {
        match self.spec.restore.dry_run {
            true => 1,
            false => self.spec.restore.workers.max(1),
        }
    }

    async fn prepare(
        &self,
        ctx: &Context,
        kafka: KafkaConnection,
        job: &str,
        status: &mut KafkaRestoreStatus,
        now: &Now,
    ) -> Result<Prepared> {
        let (config_yaml, access, backup_id) = match self.config(ctx, kafka, status, false).await? {
            Ok(c) => c,
            Err(wait) => return Ok(Prepared::Wait(wait)),
        };
        status.restore = Some(StatusResult {
            backup_id: backup_id.clone(),
            start_time: Some(now.time.clone()),
            ..Default::default()
        });
        let what = backup_id.map_or_else(|| "the latest backup".to_string(), |id| format!("backup {id}"));
        let plan = status.plan.as_ref().map(|p| format!(" as planned ({})", p.hash)).unwrap_or_default();
        Ok(Prepared::Launch {
            config_yaml,
            access,
            ready: Ready::new(RunReason::RestoreRunning, format!("restoring {what}{plan} (Job {job})")),
            event: Event::normal(
                "RestoreStarted",
                "Restore",
                format!("restoring {what}{plan} with Job {job}"),
            ),
        })
    }

    fn stage(&self, status: &KafkaRestoreStatus) -> Stage {
        let Some(plan) = &status.plan else { return Stage::Plan };
        let summary = restore_plan::summary(plan);
        match restore_plan::approved(self, plan) {
            Approved::Yes => Stage::Run,
            Approved::Waiting { command } => {
                let message = format!("{summary}; nothing is written until it is approved: {command}");
                Stage::Hold {
                    ready: Ready::new(RunReason::AwaitingApproval, &message),
                    event: Event::normal(RunReason::AwaitingApproval.as_str(), "Approve", message),
                }
            }
            Approved::WrongHash { given, command } => {
                let message = format!(
                    "annotation kafkabackup.com/approve is {given}, which is not this plan's hash {}: nothing runs; {summary}; to approve it: {command}",
                    plan.hash
                );
                Stage::Hold {
                    ready: Ready::new(RunReason::AwaitingApproval, &message),
                    event: Event::warning(RunReason::AwaitingApproval.as_str(), "Approve", message),
                }
            }
        }
    }

    async fn prepare_plan(
        &self,
        ctx: &Context,
        kafka: KafkaConnection,
        job: &str,
        status: &mut KafkaRestoreStatus,
        _now: &Now,
    ) -> Result<Prepared> {
        let (config_yaml, access, backup_id) = match self.config(ctx, kafka, status, true).await? {
            Ok(c) => c,
            Err(wait) => return Ok(Prepared::Wait(wait)),
        };
        // Recorded now: retention keeps the backup a restore reads from its plan on.
        status.restore = Some(StatusResult { backup_id: backup_id.clone(), ..Default::default() });
        let what = backup_id.map_or_else(|| "the latest backup".to_string(), |id| format!("backup {id}"));
        Ok(Prepared::Launch {
            config_yaml,
            access,
            ready: Ready::new(
                RunReason::RestorePlanning,
                format!("computing the plan of restoring {what} (Job {job}); nothing is written yet"),
            ),
            event: Event::normal(
                "RestorePlanning",
                "Plan",
                format!("computing the plan of restoring {what} with Job {job}"),
            ),
        })
    }

    async fn planned(
        &self,
        ctx: &Context,
        job: &Job,
        result: std::result::Result<RestoreResult, String>,
        status: &mut KafkaRestoreStatus,
        now: &Now,
    ) -> Result<Planned> {
        let r = match result {
            // Refused or failed before anything was written: the restore failed.
            Err(reason) => {
                let finished =
                    self.finish(ctx, job, Err(format!("its plan failed: {reason}")), status, now).await?;
                return Ok(Planned::Final(finished));
            }
            Ok(r) => r,
        };
        // `topicCreation: strimzi`: a KafkaTopic that would disagree refuses before any write.
        if let Err(refusal) = strimzi_topics::check(ctx, self, &r).await? {
            let reason = format!("refused before anything was written: {refusal}");
            return Ok(Planned::Final(self.finish(ctx, job, Err(reason), status, now).await?));
        }
        // `restore.strimziResources`: a backed-up KafkaTopic or KafkaUser that exists and declares
        // something else refuses before any write, as does a backup that holds none.
        if let Err(refusal) = strimzi_resources::check(ctx, self, &r).await? {
            let reason = format!("refused before anything was written: {refusal}");
            return Ok(Planned::Final(self.finish(ctx, job, Err(reason), status, now).await?));
        }
        let plan = restore_plan::from_result(&r, Some(now.time.clone()), &job.name_any());
        status.restore = Some(StatusResult { backup_id: Some(plan.backup_id.clone()), ..Default::default() });
        let summary = restore_plan::summary(&plan);
        status.plan = Some(plan);
        if self.spec.restore.dry_run {
            return Ok(Planned::Final(self.finish(ctx, job, Ok(r), status, now).await?));
        }
        Ok(Planned::Ready {
            ready: Ready::new(RunReason::RestorePlanned, format!("{summary}; starting the restore")),
            event: Event::normal(RunReason::RestorePlanned.as_str(), "Plan", summary),
        })
    }

    fn progress(status: &mut KafkaRestoreStatus, logs: &[WorkerLog], job: &Job, now: &Now) {
        let Some(sum) = super::progress::summed(logs) else { return };
        let started = job.status.as_ref().and_then(|s| s.start_time.as_ref()).and_then(time::chrono);
        status.progress = Some(progress_status(&sum, started, now.utc));
    }

    async fn finish(
        &self,
        ctx: &Context,
        _job: &Job,
        result: std::result::Result<RestoreResult, String>,
        status: &mut KafkaRestoreStatus,
        now: &Now,
    ) -> Result<Finished> {
        let ns = self.namespace().unwrap_or_default();
        let labels = |outcome: &str| OutcomeLabels {
            namespace: ns.clone(),
            name: self.name_any(),
            outcome: outcome.into(),
        };
        status.progress = None;
        // `topicCreation: strimzi`: the restored topics are declared before the run is Completed.
        let mut declared = Vec::new();
        let result = match result {
            Ok(r) if !r.dry_run => match strimzi_topics::declare(ctx, self, &r).await? {
                Ok(names) => {
                    declared = names;
                    Ok(r)
                }
                Err(why) => Err(format!(
                    "{} records were restored, but the created topics could not be declared as KafkaTopics: {why}",
                    r.restored_records
                )),
            },
            other => other,
        };
        // `restore.strimziResources`: the backed-up KafkaTopics and KafkaUsers, recreated before
        // the run is Completed (checked at the plan; checked again here, nothing created on a
        // refusal).
        let mut recreated = None;
        let result = match result {
            // A dry run reports what it would create (the plan checked it already).
            Ok(r) if r.dry_run && strimzi_resources::target(self).is_some() => {
                match strimzi_resources::check(ctx, self, &r).await? {
                    Ok(would) => {
                        recreated = Some(would);
                        Ok(r)
                    }
                    Err(why) => Err(format!("refused before anything was written: {why}")),
                }
            }
            Ok(r) if !r.dry_run && strimzi_resources::target(self).is_some() => {
                let declared = match strimzi_resources::stored(&r) {
                    Ok(stored) => strimzi_resources::declare(ctx, self, &stored).await?,
                    Err(e) => Err(e),
                };
                match declared {
                    Ok(done) => {
                        recreated = Some(done);
                        Ok(r)
                    }
                    Err(why) => Err(format!(
                        "{} records were restored, but the backed-up Strimzi resources were not recreated \
                         (spec.restore.strimziResources): {why}",
                        r.restored_records
                    )),
                }
            }
            other => other,
        };
        let r = match result {
            Ok(r) => r,
            Err(reason) => {
                ctx.metrics.restores.get_or_create(&labels("failure")).inc();
                if let Some(r) = status.restore.as_mut() {
                    r.completion_time = Some(now.time.clone());
                }
                // A refused restore says why in its reason (`TargetChanged`), not only in the message.
                let why =
                    crate::refusal::Reason::of_message(&reason).map_or(RunReason::RestoreFailed, Into::into);
                let message = format!("restore failed: {reason}");
                return Ok(Finished {
                    phase: RunPhase::Failed,
                    events: vec![Event::warning(why.as_str(), "Restore", &message)],
                    ready: Ready::new(why, message),
                });
            }
        };
        if let Some(snapshot) = &r.offset_snapshot {
            let cm = crate::operator::offset_reset::snapshot::config_map(self, &self.spec.cluster, snapshot)?;
            children::ensure_config_map(&ctx.client, &ns, &cm).await?;
            status.offset_snapshot = Some(OffsetSnapshotRef {
                config_map: cm.name_any(),
                taken_at: time::parse(&r.start_time),
                groups: i32::try_from(snapshot.groups.len()).ok(),
            });
        }
        let m = &ctx.metrics;
        let l = ResourceLabels { namespace: ns.clone(), name: self.name_any() };
        m.restore_records.get_or_create(&l).inc_by(u64::try_from(r.restored_records).unwrap_or(0));
        m.restore_bytes.get_or_create(&l).inc_by(r.restored_bytes);
        if let (Some(a), Some(b)) =
            (time::unix_seconds(&r.start_time), time::unix_seconds(&r.completion_time))
        {
            m.restore_duration.get_or_create(&l).observe((b - a).max(0.0));
        }
        m.restores.get_or_create(&labels("success")).inc();
        status.restore = Some(StatusResult { strimzi_resources: recreated.clone(), ..completed(&r) });
        let message = format!(
            "{}restored {} records into {} partitions of {} topics from backup {}; {} consumer groups",
            if r.dry_run { "dry run: would have " } else { "" },
            r.restored_records,
            r.restored_partitions,
            r.restored_topics,
            r.backup_id,
            r.consumer_groups_restored
        );
        let mut events = vec![Event::normal("RestoreCompleted", "Restore", &message)];
        if let Some(sr) = r.schema_registry.as_ref().filter(|s| !s.ids_kept) {
            let records = if sr.rewrite_schema_ids {
                "restored records were rewritten to the new ids"
            } else {
                "restored records still name the old ids: set restore.schemaRegistry.rewriteSchemaIds to rewrite them"
            };
            let why = sr.ids_note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            events.push(Event::warning(
                "SchemaIdsChanged",
                "Restore",
                format!("{} schema ids changed in {}{why}; {records}", sr.id_change_count, sr.url),
            ));
        }
        if let Some((namespace, cluster)) = strimzi_topics::target(self).filter(|_| !declared.is_empty()) {
            let shown: Vec<&str> = declared.iter().take(20).map(String::as_str).collect();
            let more = declared.len().saturating_sub(shown.len());
            events.push(Event::normal(
                "KafkaTopicsCreated",
                "Restore",
                format!(
                    "declared the {} created topics as KafkaTopics of Kafka {cluster} in namespace {namespace}: {}{}",
                    declared.len(),
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ),
            ));
        }
        if let (Some(done), Some(t)) = (&recreated, strimzi_resources::target(self)) {
            events.push(Event::normal(
                "StrimziResourcesRecreated",
                "Restore",
                format!(
                    "backed-up Strimzi resources in namespace {} for Kafka {}: {} KafkaTopics and {} KafkaUsers \
                     {}, {} already declared the same, {} not selected",
                    t.namespace,
                    t.cluster,
                    done.kafka_topics_created,
                    done.kafka_users_created,
                    if r.dry_run { "to be created (dry run)" } else { "created" },
                    done.unchanged,
                    done.skipped
                ),
            ));
        }
        if !r.retention_adjusted.is_empty() {
            let topics: Vec<String> = r
                .retention_adjusted
                .iter()
                .map(|a| format!("{} ({} ms -> {} ms)", a.topic, a.retention_ms, a.applied_ms))
                .collect();
            let note = format!(
                "restored records were older than the retention of {}: retention.ms raised so they are kept for that retention from now; lower it once they may go",
                topics.join(", ")
            );
            events.push(Event::warning("RetentionRaised", "Restore", note));
        }
        Ok(Finished {
            phase: RunPhase::Completed,
            ready: Ready::new(RunReason::RestoreCompleted, message),
            events,
        })
    }
}

impl KafkaRestore {
    /// The Job's config (a plan Job's: a dry run), its storage access and the backup id it
    /// reads, or why it must wait. Once planned, the restore reads exactly the plan's backup up
    /// to the plan's point in time, resolved to an absolute time: "latest" and "2h before the
    /// end" mean what they meant when the plan was made.
    async fn config(
        &self,
        ctx: &Context,
        kafka: KafkaConnection,
        status: &KafkaRestoreStatus,
        plan_only: bool,
    ) -> Result<std::result::Result<(String, StorageAccess, Option<String>), crate::operator::oneshot::Wait>>
    {
        // The webhook's licence check again (clusters where it is bypassed), before every Job:
        // masking needs a licence granting it; a restore without it is never held.
        let problems = crate::api::enterprise::check(
            &crate::api::enterprise::restore_uses(&self.spec),
            &ctx.license.check(chrono::Utc::now()),
        );
        if !problems.is_empty() {
            return Ok(Err(crate::operator::oneshot::Wait {
                reason: RunReason::LicenseInvalid,
                action: "License",
                message: crate::api::rules::message(&problems),
            }));
        }
        let source = match source::resolve(ctx, self).await? {
            Ok(s) => s,
            Err(wait) => return Ok(Err(wait)),
        };
        let mut access = StorageAccess::for_storage(&source.storage);
        let key_file = source.key.as_ref().map(|k| access.with_encryption_key(k).into());
        let uid = self.uid().unwrap_or_default();
        let mut config = run_config::render(&self.spec, &uid, kafka, source.storage, key_file);
        config.backup_id = source.backup_id.clone();
        config.kms = source.kms.as_ref().map(|k| crate::operator::kms_access::mount(k, &mut access));
        config.schema_registry = run_config::schema_registry(&self.spec, &mut access);
        config.masking = run_config::masking(&self.spec, &mut access);
        match (&status.plan, plan_only) {
            (_, true) => config.restore.dry_run = true,
            (Some(plan), false) => {
                config.backup_id = Some(plan.backup_id.clone());
                if let Some(at) = &plan.point_in_time {
                    config.point_in_time =
                        Some(PointInTime { timestamp: Some(at.clone()), offset_from_end: None });
                }
            }
            (None, false) => {}
        }
        let backup_id = config.backup_id.clone();
        let config_yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Render(e.to_string()))?;
        Ok(Ok((config_yaml, access, backup_id)))
    }
}

/// The status form of a completed restore
fn completed(r: &RestoreResult) -> StatusResult {
    StatusResult {
        backup_id: Some(r.backup_id.clone()),
        start_time: time::parse(&r.start_time),
        completion_time: time::parse(&r.completion_time),
        restored_topics: i32::try_from(r.restored_topics).ok(),
        restored_partitions: i32::try_from(r.restored_partitions).ok(),
        restored_records: Some(r.restored_records),
        restored_bytes: i64::try_from(r.restored_bytes).ok(),
        point_in_time_target: r.point_in_time_target.as_deref().and_then(time::parse),
        actual_point_in_time: r.actual_point_in_time.as_deref().and_then(time::parse),
        consumer_groups_restored: i32::try_from(r.consumer_groups_restored).ok(),
        consumer_groups_captured_at: r.consumer_groups_captured_at.as_deref().and_then(time::parse),
        retention_adjusted: r.retention_adjusted.clone(),
        strimzi_resources: None,
        schema_registry: r.schema_registry.as_ref().map(|s| {
            let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
            crate::api::restore::SchemaRegistryRestored {
                subjects: n(s.subjects),
                versions: n(s.versions),
                registered: n(s.registered),
                already_present: n(s.already_present),
                ids_kept: s.ids_kept,
                id_change_count: (s.id_change_count > 0).then(|| n(s.id_change_count)),
                ids_note: s.ids_note.clone(),
                rewrite_schema_ids: s.rewrite_schema_ids,
                settings_not_restored: s.settings_not_restored.clone(),
            }
        }),
        workers: r.worker.as_ref().and_then(|w| i32::try_from(w.workers).ok()),
    }
}

/// The status form of a progress line: percent, records, and the end estimated at the rate
/// since the Job started (none before the first record).
fn progress_status(
    p: &crate::restore::run::Progress,
    started: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> RestoreProgress {
    let estimated_completion = started.filter(|_| p.records_restored > 0).and_then(|s| {
        let elapsed = (now - s).num_milliseconds().max(1) as f64;
        let left = p.records_expected.saturating_sub(p.records_restored) as f64;
        time::kube(now + chrono::Duration::milliseconds((left * elapsed / p.records_restored as f64) as i64))
    });
    RestoreProgress {
        percent: i32::try_from(p.percent).unwrap_or(99),
        records_restored: i64::try_from(p.records_restored).unwrap_or(i64::MAX),
        bytes_restored: i64::try_from(p.bytes).ok(),
        estimated_completion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::children::last_json_line;
    use crate::restore::run::ProgressLine;
    use chrono::TimeZone;

    #[test]
    fn progress_estimates_the_end_at_the_rate_so_far() {
        let line = "INFO something\n{\"progress\":{\"recordsRestored\":250,\"recordsExpected\":1000,\"bytes\":9,\"percent\":25}}\n";
        let p = last_json_line::<ProgressLine>(line).expect("a progress line").progress;
        let started = Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).single().expect("time");
        let now = started + chrono::Duration::seconds(60);
        let st = progress_status(&p, Some(started), now);
        assert_eq!((st.percent, st.records_restored, st.bytes_restored), (25, 250, Some(9)));
        // 250 records a minute, 750 left: three more minutes.
        assert_eq!(st.estimated_completion, time::kube(now + chrono::Duration::seconds(180)));
        let none_yet = crate::restore::run::Progress { records_expected: 1000, ..Default::default() };
        assert_eq!(progress_status(&none_yet, Some(started), now).estimated_completion, None);
        // A result line is not a progress line.
        assert!(last_json_line::<ProgressLine>("{\"restoreId\":\"x\"}").is_none());
    }

    #[test]
    fn workers_split_the_run_and_a_dry_run_plans_in_one_pod() {
        let kr = |restore: &str| -> KafkaRestore {
            let spec = serde_yaml_ng::from_str(&format!(
                "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nbackupRef: {{name: b}}\nrestore: {restore}\n"
            ))
            .expect("spec");
            KafkaRestore::new("r", spec)
        };
        assert_eq!(kr("{}").workers(), 1);
        assert_eq!(kr("{workers: 4}").workers(), 4);
        assert_eq!(kr("{workers: 4, dryRun: true}").workers(), 1);
        // The status says how many pods a run across workers took, and nothing for one.
        let mut result = RestoreResult { start_time: "2026-12-04T10:00:00Z".into(), ..Default::default() };
        assert_eq!(completed(&result).workers, None);
        result.worker = Some(crate::backup::worker_result::WorkerSummary {
            index: 0,
            workers: 4,
            partitions: 6,
            records: 10,
            bytes: 100,
            committed: true,
        });
        assert_eq!(completed(&result).workers, Some(4));
        // One worker's result line is what it was before workers existed: no `worker`.
        let one = serde_json::to_value(RestoreResult::default()).expect("json");
        assert!(one.get("worker").is_none(), "{one}");
    }
}
