//! The `KafkaDataErasure` kind of the one-shot lifecycle ([`crate::operator::oneshot`]):
//! validate (the webhook's rules, again) → the licence (`erasure`, checked before the Job
//! starts: without it the erasure waits `LicenseInvalid` and starts once one is installed) →
//! the location (the `KafkaBackup`'s storage and encryption — key Secret or KMS — or the
//! `KafkaBackupLocation`'s `storage` and `encryption`: the key access a restore has) → the `erase` Job → its report into the status, an Event and an
//! audit row with the figures (digests of the keys, never a key).

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use serde_json::json;

use super::run_config;
use crate::api::erasure::{
    ErasureReportStatus, KafkaDataErasure, KafkaDataErasureStatus, LiveTopicStatus, REPORT_LIST_LIMIT,
    RevisedRestorePoint, TopicRecordsRemoved,
};
use crate::api::restore_point::{KafkaRestorePoint, KafkaRestorePointSpec};
use crate::api::run::{RunPhase, RunReason};
use crate::api::storage::StorageSpec;
use crate::api::validation::FieldError;
use crate::api::{KafkaBackup, KafkaBackupLocation};
use crate::audit::{AuditEvent, EventKind, Outcome};
use crate::erase::EraseReport;
use crate::kafka::KafkaConnection;
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::metrics::OutcomeLabels;
use crate::operator::oneshot::{Event, Finished, Now, OneShot, Prepared, Ready, Wait};
use crate::operator::storage_access::StorageAccess;

pub async fn reconcile(kde: Arc<KafkaDataErasure>, ctx: Arc<Context>) -> Result<Action> {
    crate::operator::oneshot::lifecycle::reconcile(kde.as_ref(), &ctx).await
}

/// Where the erasure works: the storage, and the Secret key or the KMS its backups are
/// encrypted with (a restore of them reads with the same).
struct Location {
    storage: StorageSpec,
    key: Option<crate::api::cluster::SecretKeyRef>,
    kms: Option<crate::api::kms::KmsSpec>,
    what: String,
}

impl OneShot for KafkaDataErasure {
    type Result = EraseReport;
    const SUBCOMMAND: &'static str = "erase";
    const RUNNING: RunReason = RunReason::ErasureRunning;

    fn uses_cluster(&self) -> bool {
        self.spec.also_live_topics
    }

    fn validate(&self, _now: chrono::DateTime<chrono::Utc>) -> Vec<FieldError> {
        crate::api::erasure::problems(&self.spec)
    }

    async fn prepare(
        &self,
        ctx: &Context,
        kafka: KafkaConnection,
        job: &str,
        status: &mut KafkaDataErasureStatus,
        now: &Now,
    ) -> Result<Prepared> {
        // The webhook's licence check again (clusters where it is bypassed), before the Job.
        let problems = crate::api::enterprise::check(
            &crate::api::enterprise::erasure_uses(&self.spec),
            &ctx.license.check(now.utc),
        );
        if !problems.is_empty() {
            return Ok(Prepared::Wait(Wait {
                reason: RunReason::LicenseInvalid,
                action: "License",
                message: crate::api::rules::message(&problems),
            }));
        }
        let location = match self.location(ctx).await? {
            Ok(l) => l,
            Err(wait) => return Ok(Prepared::Wait(wait)),
        };
        let mut access = StorageAccess::for_storage(&location.storage);
        let key_file = location.key.as_ref().map(|k| access.with_encryption_key(k).into());
        let key_files = run_config::key_files(&self.spec, &mut access);
        let uid = self.uid().unwrap_or_default();
        let mut config = run_config::render(&self.spec, &uid, location.storage, key_files, key_file, kafka);
        // The KMS's Secrets as mounted files, as for the backup and restore Jobs.
        config.kms = location.kms.as_ref().map(|k| crate::operator::kms_access::mount(k, &mut access));
        let config_yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Render(e.to_string()))?;
        status.erasure_id = Some(config.erasure_id.clone());
        status.start_time = Some(now.time.clone());
        let note = format!(
            "Job {job} is erasing the selected records from every kept restore point of {}",
            location.what
        );
        Ok(Prepared::Launch {
            config_yaml,
            access,
            ready: Ready::new(RunReason::ErasureRunning, &note),
            event: Event::normal("ErasureStarted", "Erase", note),
        })
    }

    async fn finish(
        &self,
        ctx: &Context,
        job: &Job,
        result: std::result::Result<EraseReport, String>,
        status: &mut KafkaDataErasureStatus,
        now: &Now,
    ) -> Result<Finished> {
        let ns = self.namespace().unwrap_or_default();
        status.start_time =
            job.status.as_ref().and_then(|s| s.start_time.clone()).or(status.start_time.clone());
        status.completion_time = Some(now.time.clone());
        let outcome =
            |o: &str| OutcomeLabels { namespace: ns.clone(), name: self.name_any(), outcome: o.into() };
        let report = match result {
            Ok(r) if r.deletion_pending.is_none() => r,
            Ok(r) => {
                let why = r.deletion_pending.clone().unwrap_or_default();
                status.report = Some(report_status(&r));
                return Ok(self.failed(ctx, &outcome("failure"), format!("erasure not finished: {why}")));
            }
            Err(reason) => {
                return Ok(self.failed(ctx, &outcome("failure"), format!("erasure failed: {reason}")));
            }
        };
        status.report = Some(report_status(&report));
        let refreshed = refresh_restore_points(ctx, &ns, &report).await?;
        ctx.metrics.erasures.get_or_create(&outcome("success")).inc();
        ctx.audit.record(
            AuditEvent::new(EventKind::Erasure, Outcome::Succeeded).about(self).figures(figures(&report)),
        );
        let mut message = summary(&report);
        if refreshed > 0 {
            message = crate::operator::context::truncate(
                format!("{message}; {refreshed} KafkaRestorePoint(s) show the new revision"),
                900,
            );
        }
        Ok(Finished {
            phase: RunPhase::Completed,
            ready: Ready::new(RunReason::DataErased, &message),
            events: vec![Event::normal("ErasureCompleted", "Erase", message)],
        })
    }
}

impl KafkaDataErasure {
    fn failed(&self, ctx: &Context, labels: &OutcomeLabels, message: String) -> Finished {
        ctx.metrics.erasures.get_or_create(labels).inc();
        ctx.audit
            .record(AuditEvent::new(EventKind::Erasure, Outcome::Failed).about(self).reason(message.clone()));
        let message = crate::operator::context::truncate(message, 900);
        Finished {
            phase: RunPhase::Failed,
            events: vec![Event::warning("ErasureFailed", "Erase", &message)],
            ready: Ready::new(RunReason::ErasureFailed, message),
        }
    }

    /// The location of `spec.backupRef` or `spec.locationRef` (same namespace), or why the
    /// erasure waits for it.
    async fn location(&self, ctx: &Context) -> Result<std::result::Result<Location, Wait>> {
        let ns = self.namespace().unwrap_or_default();
        let wait = |reason, message: String| Ok(Err(Wait { reason, action: "ResolveLocation", message }));
        if let Some(r) = &self.spec.backup_ref {
            let api: Api<KafkaBackup> = Api::namespaced(ctx.client.clone(), &ns);
            let found =
                api.get_opt(&r.name).await.map_err(Error::read(format!("KafkaBackup {ns}/{}", r.name)))?;
            let Some(kb) = found else {
                return wait(
                    RunReason::BackupNotFound,
                    format!(
                        "KafkaBackup {ns}/{} (spec.backupRef) not found; the erasure starts once it exists",
                        r.name
                    ),
                );
            };
            return Ok(Ok(Location {
                storage: crate::operator::backup::run_config::storage(&kb),
                key: crate::operator::backup::run_config::encryption_key(&kb).cloned(),
                kms: crate::operator::kms_access::of_backup(&kb).cloned(),
                what: format!("KafkaBackup {}", r.name),
            }));
        }
        let Some(r) = &self.spec.location_ref else {
            return wait(RunReason::InvalidSpec, "set spec.backupRef or spec.locationRef".into());
        };
        let api: Api<KafkaBackupLocation> = Api::namespaced(ctx.client.clone(), &ns);
        let found = api
            .get_opt(&r.name)
            .await
            .map_err(Error::read(format!("KafkaBackupLocation {ns}/{}", r.name)))?;
        let Some(location) = found else {
            return wait(
                RunReason::LocationNotFound,
                format!(
                    "KafkaBackupLocation {ns}/{} (spec.locationRef) not found; the erasure starts once it exists",
                    r.name
                ),
            );
        };
        // The location's `spec.encryption`, as restores of its restore points read them; absent,
        // encrypted backups there fail the erasure naming that field.
        let encryption = location.spec.encryption.as_ref().filter(|e| e.enabled);
        Ok(Ok(Location {
            storage: location.spec.storage.clone(),
            key: encryption.and_then(|e| e.key_secret.clone()),
            kms: encryption.and_then(|e| e.kms.clone()),
            what: format!("KafkaBackupLocation {}", r.name),
        }))
    }
}

/// The `KafkaRestorePoint`s of namespace `ns` whose restore point the erasure revised show the
/// new revision at once (records, gaps, totals), not only at their source's next sync: their
/// spec follows the revised manifest, their source and owner stay. Returns how many changed.
async fn refresh_restore_points(ctx: &Context, ns: &str, report: &EraseReport) -> Result<usize> {
    if report.revised.is_empty() {
        return Ok(0);
    }
    let api: Api<KafkaRestorePoint> = Api::namespaced(ctx.client.clone(), ns);
    let points = api.list(&ListParams::default()).await.map_err(Error::read("KafkaRestorePoints"))?;
    let mut changed = 0;
    for p in points.items {
        let Some(newer) = report.revised.iter().find(|s| {
            s.backup_id == p.spec.backup_id && s.revision.unwrap_or(0) > p.spec.revision.unwrap_or(0)
        }) else {
            continue;
        };
        // Only a restore point of the same location: its revision was written by this erasure.
        if !same_location(&p.spec, newer) {
            continue;
        }
        let spec = KafkaRestorePointSpec {
            source: p.spec.source.clone(),
            owner: p.spec.owner.clone(),
            ..newer.clone()
        };
        let name = p.name_any();
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&json!({ "spec": spec })))
            .await
            .map_err(Error::write(format!("KafkaRestorePoint {name}")))?;
        changed += 1;
    }
    Ok(changed)
}

/// Whether a restore point and a revised summary are the same backup: same id, cut and commit.
fn same_location(shown: &KafkaRestorePointSpec, revised: &KafkaRestorePointSpec) -> bool {
    shown.backup_id == revised.backup_id
        && shown.captured_at == revised.captured_at
        && shown.completed_at == revised.completed_at
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The report as the status holds it: counts, and lists cut at [`REPORT_LIST_LIMIT`].
pub fn report_status(r: &EraseReport) -> ErasureReportStatus {
    ErasureReportStatus {
        restore_points_rewritten: r.restore_points.len() as i64,
        restore_points: r
            .restore_points
            .iter()
            .take(REPORT_LIST_LIMIT)
            .map(|p| RevisedRestorePoint { backup_id: p.backup_id.clone(), revision: i64::from(p.revision) })
            .collect(),
        objects_read: n(r.segments_read),
        objects_rewritten: n(r.segments_rewritten),
        objects_written: n(r.segments_written),
        objects_deleted: n(r.segments_deleted),
        records_removed: n(r.records_removed),
        topics: r
            .topics
            .iter()
            .take(REPORT_LIST_LIMIT)
            .map(|t| TopicRecordsRemoved { topic: t.topic.clone(), records: n(t.records) })
            .collect(),
        keys_selected: n(r.keys_selected),
        key_digests: r.key_digests.iter().take(REPORT_LIST_LIMIT).cloned().collect(),
        live_topics: r
            .live_topics
            .iter()
            .take(REPORT_LIST_LIMIT)
            .map(|l| LiveTopicStatus {
                topic: l.topic.clone(),
                action: l.action.as_str().into(),
                tombstones: n(l.tombstones),
                message: l.message.clone(),
            })
            .collect(),
    }
}

/// The audit row's figures: the report's counts and key digests (never a key).
fn figures(r: &EraseReport) -> serde_json::Value {
    json!({
        "erasureId": r.erasure_id,
        "location": r.location,
        "restorePoints": r.restore_points,
        "objectsRewritten": r.segments_rewritten,
        "objectsWritten": r.segments_written,
        "objectsDeleted": r.segments_deleted,
        "recordsRemoved": r.records_removed,
        "topics": r.topics,
        "keyDigests": r.key_digests,
        "liveTopics": r.live_topics,
    })
}

/// What the erasure did, in one line.
fn summary(r: &EraseReport) -> String {
    let mut message = format!(
        "{} record(s) removed from {} restore point(s) ({} object(s) rewritten, {} deleted)",
        r.records_removed,
        r.restore_points.len(),
        r.segments_rewritten,
        r.segments_deleted
    );
    for l in &r.live_topics {
        message.push_str(&format!("; live topic {}: {}", l.topic, l.message));
    }
    crate::operator::context::truncate(message, 900)
}
