//! The `KafkaBackup`'s deletion, through the finalizer: its `deletionPolicy`.

use std::collections::BTreeMap;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::metrics;
use super::observe::{self, COMPONENT};
use super::run_config;
use crate::api::backup::{DeletionPolicy, KafkaBackup};
use crate::operator::children::{self, JobState};
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::launch::{self, Launch};
use crate::operator::storage_access::StorageAccess;
use crate::verify::VerifyConfig;

/// The `app.kubernetes.io/component` of the Job that deletes the stored backups.
const CLEANUP_COMPONENT: &str = "cleanup";

/// `deletionPolicy`: `Retain` keeps the stored backups; `Delete` stops running backups and
/// deletes every backup at the location with a cleanup Job, and lets the resource go only once
/// that succeeded (a failure is reported and retried; switching to `Retain` lets it go).
pub async fn cleanup(kb: &KafkaBackup, ctx: &Context) -> Result<Action> {
    ctx.metrics.forget_backup(&metrics::labels(kb));
    if kb.spec.deletion_policy == DeletionPolicy::Retain {
        return Ok(Action::await_change());
    }
    let ns = kb.namespace().unwrap_or_default();
    let object = kb.object_ref(&());
    for job in observe::jobs(ctx, kb, COMPONENT).await? {
        if children::state(&job) == JobState::Running {
            children::delete_job(&ctx.client, &ns, &job.name_any()).await?;
        }
    }
    let name = crate::operator::job::child_name(&kb.name_any(), "cleanup");
    let existing =
        observe::jobs(ctx, kb, CLEANUP_COMPONENT).await?.into_iter().find(|j| j.name_any() == name);
    let job = match existing {
        Some(job) => job,
        None => {
            let storage = run_config::storage(kb);
            let mut access = StorageAccess::for_storage(&storage);
            let key = kb.spec.backup.encryption.as_ref().and_then(|e| e.key_secret.as_ref());
            let config = VerifyConfig {
                storage,
                backup_id: None,
                encryption_key_file: key.map(|k| access.with_encryption_key(k).into()),
                kms: crate::operator::kms_access::for_backup(kb, &mut access),
                filesystem_root: crate::storage::FILESYSTEM_MOUNT.into(),
                owner: Some(run_config::owner(kb)),
                take_over_location: run_config::takes_over(kb),
            };
            let yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Render(e.to_string()))?;
            ctx.event(
                &object,
                false,
                "DeletingBackups",
                "Cleanup",
                "deletionPolicy Delete: deleting the stored backups".into(),
            )
            .await;
            launch::launch(
                ctx,
                kb,
                Launch {
                    name: name.clone(),
                    component: CLEANUP_COMPONENT,
                    subcommand: "delete",
                    config_yaml: yaml,
                    connection: Default::default(),
                    access,
                    options: &kb.spec.job_options,
                    cluster: &kb.spec.cluster,
                    annotations: BTreeMap::new(),
                },
            )
            .await?
        }
    };
    match children::state(&job) {
        JobState::Running => {
            Err(Error::Waiting(format!("cleanup Job {name} is deleting the stored backups")))
        }
        JobState::Succeeded => {
            ctx.event(&object, false, "BackupsDeleted", "Cleanup", "the stored backups were deleted".into())
                .await;
            Ok(Action::await_change())
        }
        JobState::Failed { reason } => {
            let output = children::output(&ctx.client, &ns, &name, None).await?;
            let why = output.error().unwrap_or(reason);
            let note = format!(
                "deleting the stored backups failed: {why}; retrying. To delete this resource and keep the backups, set spec.deletionPolicy: Retain"
            );
            ctx.event(&object, true, "CleanupFailed", "Cleanup", note.clone()).await;
            children::delete_job(&ctx.client, &ns, &name).await?;
            Err(Error::Waiting(note))
        }
    }
}
