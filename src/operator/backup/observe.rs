//! The "observe" step of the `KafkaBackup` reconcile: everything it reads, into [`Observed`] —
//! the licence (and whether a licence record vouches for the Enterprise settings in use), the
//! backup's Jobs and what the finished ones left, the cluster connection, and the backups that
//! running restores read. Nothing is decided here but what to read, and that by
//! asking the plan: a backup held by its spec or its licence ([`plan::held`]) reads nothing
//! else, as before the split, and the restores are listed only when a scheduled run is due
//! ([`plan::scheduled_run_due`]) and the cluster usable — once per slot, not at every reconcile
//! (before the split they were listed once the run was sure to start; now also when a trigger
//! or `Forbid` then keeps it from starting).

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};

use super::plan;
use crate::api::backup::KafkaBackup;
use crate::api::restore::{KafkaRestore, RunPhase};
use crate::backup::BackupResult;
use crate::license::{Claims, LicenseError};
use crate::operator::children::{self, JobState, Output};
use crate::operator::connection::{ConnectionError, JobConnection};
use crate::operator::context::Context;
use crate::operator::dereference;
use crate::operator::error::{Error, Result};
use crate::operator::settings::Watched;

/// The `app.kubernetes.io/component` of backup Jobs.
pub const COMPONENT: &str = "backup";
/// On a backup Job: the backup id it writes.
pub const BACKUP_ID_ANNOTATION: &str = "kafkabackup.com/backup-id";
/// On a backup Job: `true` once its outcome is in the status.
pub const RECORDED_ANNOTATION: &str = "kafkabackup.com/recorded";

/// What one reconcile read.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The installed licence, checked at the reconcile's time.
    pub licence: Result<Claims, LicenseError>,
    /// Whether a licence record (`crate::license::accepted`) vouches for the Enterprise settings
    /// in use: read only when some are in use ([`plan::licence_record`]).
    pub recorded: bool,
    /// What was read of the cluster; `None` when the backup is held ([`plan::held`]).
    pub cluster: Option<Cluster>,
}

/// What was read of the cluster.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The backup's Jobs, in the order the API server lists them (by name).
    pub jobs: Vec<SeenJob>,
    /// The connection its Jobs get, or why the cluster cannot be used now.
    pub connection: Result<JobConnection, ConnectionError>,
    /// Backups that running restores read; read only when the connection resolved and a
    /// scheduled run is due ([`plan::scheduled_run_due`]), the one run that needs them.
    pub protected: Option<Vec<String>>,
}

/// A backup Job as read.
#[derive(Clone, Debug)]
pub struct SeenJob {
    pub name: String,
    /// The backup id it writes (its annotation; its name for a Job without one).
    pub backup_id: String,
    /// When the Job started.
    pub started: Option<Time>,
    pub phase: Phase,
    /// A running Job with no ready pod yet: its pod may be about to start, or stuck; the plan
    /// looks again soon, the one way to notice a pod that gets stuck (nothing on the Job changes).
    pub starting: bool,
    /// Why its pod cannot start ([`children::blocked`]: a missing Secret or key, an image that
    /// cannot be pulled), read for starting Jobs only.
    pub blocked: Option<String>,
}

/// Where a backup Job is, as far as the status is concerned.
#[derive(Clone, Debug)]
pub enum Phase {
    Running,
    /// Finished, and its outcome is in the status already.
    Recorded,
    /// Finished and not recorded yet: how it ended and what its pod left.
    Finished {
        state: JobState,
        output: Output,
    },
}

/// Reads what the plan for `kb` needs at `now`.
pub async fn observe(ctx: &Context, kb: &KafkaBackup, now: DateTime<Utc>) -> Result<Observed> {
    let licence = ctx.license.check(now);
    let recorded = match plan::licence_record(kb) {
        Some(record) => {
            ctx.accepted.recorded(&record.name).await.map_err(Error::read("the licence record"))?
        }
        None => false,
    };
    if plan::held_with_record(kb, &licence, recorded, now) {
        return Ok(Observed { licence, recorded, cluster: None });
    }
    let ns = kb.namespace().unwrap_or_default();
    let mut seen = Vec::new();
    for job in jobs(ctx, kb, COMPONENT).await? {
        let name = job.name_any();
        let state = children::state(&job);
        let starting = children::starting(&job);
        let blocked = if starting { children::blocked(&ctx.client, &job, now).await? } else { None };
        let phase = match state {
            JobState::Running => Phase::Running,
            _ if annotation(&job, RECORDED_ANNOTATION) == Some("true") => Phase::Recorded,
            // A backup across workers is an Indexed Job: the result is the committing worker's.
            state => {
                let output = children::workers::output_of::<BackupResult>(&ctx.client, &job, &state).await?;
                Phase::Finished { state, output }
            }
        };
        seen.push(SeenJob {
            backup_id: annotation(&job, BACKUP_ID_ANNOTATION).unwrap_or(&name).to_string(),
            started: job.status.as_ref().and_then(|s| s.start_time.clone()),
            name,
            phase,
            starting,
            blocked,
        });
    }
    let connection = dereference::connection(&ctx.strimzi, &ns, &kb.spec.cluster)
        .await
        .map_err(Error::read("the Kafka cluster"))?;
    let protected = if connection.is_ok() && plan::scheduled_run_due(kb, now) {
        Some(protected(ctx, kb).await?)
    } else {
        None
    };
    Ok(Observed { licence, recorded, cluster: Some(Cluster { jobs: seen, connection, protected }) })
}

/// The Jobs of `kb` with `component` (its own, by owner uid).
pub async fn jobs(ctx: &Context, kb: &KafkaBackup, component: &str) -> Result<Vec<Job>> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &kb.namespace().unwrap_or_default());
    let selector =
        format!("app.kubernetes.io/instance={},app.kubernetes.io/component={component}", kb.name_any());
    let uid = kb.uid();
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::read("backup Jobs"))?
        .items
        .into_iter()
        .filter(|j| j.owner_references().iter().any(|o| Some(&o.uid) == uid.as_ref()))
        .collect())
}

fn annotation<'a>(job: &'a Job, key: &str) -> Option<&'a str> {
    job.meta().annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// Backups that running restores read: retention must keep them.
async fn protected(ctx: &Context, kb: &KafkaBackup) -> Result<Vec<String>> {
    let ns = kb.namespace().unwrap_or_default();
    let apis: Vec<Api<KafkaRestore>> = match &ctx.settings.watched {
        Watched::All => vec![Api::all(ctx.client.clone())],
        Watched::Namespaces(list) => list.iter().map(|n| Api::namespaced(ctx.client.clone(), n)).collect(),
    };
    let mut ids = Vec::new();
    for api in apis {
        for r in api.list(&ListParams::default()).await.map_err(Error::read("KafkaRestores"))?.items {
            // A restore from another namespace protects this backup's data only when this
            // KafkaBackup lets that namespace read it: otherwise any tenant could pin another's
            // backups against retention forever with a restore that never finishes.
            let from = r.namespace().unwrap_or_default();
            let refers = r.spec.backup_ref.as_ref().is_some_and(|b| {
                b.name == kb.name_any()
                    && b.namespace.as_deref().unwrap_or(&from) == ns
                    && crate::operator::dereference::backup_allowed(&from, b, kb).is_ok()
            });
            let status = r.status.as_ref();
            let running =
                !matches!(status.and_then(|s| s.phase), Some(RunPhase::Completed | RunPhase::Failed));
            if refers && running {
                ids.extend(status.and_then(|s| s.restore.as_ref()).and_then(|r| r.backup_id.clone()));
                ids.extend(r.spec.backup_ref.as_ref().and_then(|b| b.backup_id.clone()));
            }
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}
