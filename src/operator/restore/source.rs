//! Where a restore's backups are and which one: the referenced `KafkaBackup`'s location and its
//! latest completed backup (when no id is named), a `KafkaRestorePoint`'s backup at the location
//! of the `KafkaBackup` or `KafkaBackupLocation` that lists it, or the spec's own
//! `source.storage`. A `KafkaBackup` in another namespace is followed only with its opt-in.
//! A `KafkaBackup` with a `restorePolicy` is restored only with the webhook's authorization of
//! the user (`crate::restore_access`) and within the policy's targets and approval: checked here,
//! before every Job, so a cluster without the webhooks refuses the same restores.

use kube::ResourceExt;
use kube::api::Api;

use crate::api::backup::{BackupRunStatus, KafkaBackup};
use crate::api::cluster::{ReferenceReason, SecretKeyRef};
use crate::api::location::KafkaBackupLocation;
use crate::api::restore::KafkaRestore;
use crate::api::restore_point::KafkaRestorePoint;
use crate::api::run::RunReason;
use crate::api::storage::StorageSpec;
use crate::operator::context::Context;
use crate::operator::dereference;
use crate::operator::error::{Error, Result};
use crate::operator::oneshot::Wait;

/// The backups a restore reads.
pub struct Source {
    pub storage: StorageSpec,
    /// None: the latest (only with `source`, where the Job finds it in storage).
    pub backup_id: Option<String>,
    /// The `KafkaBackup`'s encryption key, when its backups are encrypted.
    pub key: Option<SecretKeyRef>,
    /// The `KafkaBackup`'s KMS, when its backups' data keys are wrapped by one.
    pub kms: Option<crate::api::kms::KmsSpec>,
}

fn wait(reason: RunReason, message: impl Into<String>) -> Result<std::result::Result<Source, Wait>> {
    Ok(Err(Wait { reason, action: "ResolveBackup", message: message.into() }))
}

/// The source of `kr`, or why the restore must wait for one.
pub async fn resolve(ctx: &Context, kr: &KafkaRestore) -> Result<std::result::Result<Source, Wait>> {
    let ns = kr.namespace().unwrap_or_default();
    if let Some(s) = &kr.spec.source {
        return Ok(Ok(Source {
            storage: s.storage.clone(),
            backup_id: s.backup_id.clone(),
            key: None,
            kms: None,
        }));
    }
    if let Some(r) = &kr.spec.restore_point_ref {
        return restore_point(ctx, kr, &ns, &r.name).await;
    }
    let Some(r) = &kr.spec.backup_ref else {
        return wait(RunReason::InvalidSpec, "set spec.backupRef, spec.restorePointRef or spec.source");
    };
    let kb_ns = r.namespace.clone().unwrap_or_else(|| ns.clone());
    let api: Api<KafkaBackup> = Api::namespaced(ctx.client.clone(), &kb_ns);
    let found = api.get_opt(&r.name).await.map_err(Error::read(format!("KafkaBackup {kb_ns}/{}", r.name)))?;
    // In another namespace, absent and not shared read the same: a tenant must not learn
    // which KafkaBackups another namespace holds by naming them.
    let cross = crate::api::tenancy::restore(&ns, &kr.spec)
        .into_iter()
        .find(|c| c.field == "spec.backupRef.namespace");
    if let (None, Some(cross)) = (&found, &cross) {
        return wait(
            RunReason::Reference(ReferenceReason::CrossNamespaceRefNotAllowed),
            cross.not_allowed(&ns, None).to_string(),
        );
    }
    let Some(kb) = found else {
        return wait(
            RunReason::BackupNotFound,
            format!(
                "KafkaBackup {kb_ns}/{} not found: fix spec.backupRef, or restore from storage with spec.source",
                r.name
            ),
        );
    };
    if let Err(message) = dereference::backup_allowed(&ns, r, &kb) {
        return wait(RunReason::Reference(ReferenceReason::CrossNamespaceRefNotAllowed), message);
    }
    if let Some(message) = not_authorized(ctx, kr, &kb) {
        return wait(RunReason::RestoreNotAuthorized, message);
    }
    // "Latest" is decided here, from the status users see, and recorded: retention then keeps
    // exactly this backup while the restore reads it.
    let backup_id = match &r.backup_id {
        Some(id) => id.clone(),
        None => {
            let latest = kb.status.as_ref().and_then(|s| {
                s.backup_history.iter().find(|b| b.status == BackupRunStatus::Completed).map(|b| b.id.clone())
            });
            let Some(id) = latest else {
                return wait(
                    RunReason::NoCompletedBackup,
                    format!(
                        "KafkaBackup {kb_ns}/{} has no completed backup yet; the restore starts once it has one",
                        r.name
                    ),
                );
            };
            id
        }
    };
    let key = crate::operator::backup::run_config::encryption_key(&kb).cloned();
    let kms = crate::operator::kms_access::of_backup(&kb).cloned();
    let storage = crate::operator::backup::run_config::storage(&kb);
    Ok(Ok(Source { storage, backup_id: Some(backup_id), key, kms }))
}

/// The backup of the `KafkaRestorePoint` `name` (same namespace), at the location of the
/// `KafkaBackup` (with its encryption key) or `KafkaBackupLocation` that lists it.
async fn restore_point(
    ctx: &Context,
    kr: &KafkaRestore,
    ns: &str,
    name: &str,
) -> Result<std::result::Result<Source, Wait>> {
    let points: Api<KafkaRestorePoint> = Api::namespaced(ctx.client.clone(), ns);
    let Some(point) =
        points.get_opt(name).await.map_err(Error::read(format!("KafkaRestorePoint {ns}/{name}")))?
    else {
        return wait(
            RunReason::RestorePointNotFound,
            format!(
                "KafkaRestorePoint {ns}/{name} not found: fix spec.restorePointRef.name (kubectl get krp -n {ns} lists them)"
            ),
        );
    };
    let backup_id = Some(point.spec.backup_id.clone());
    let from = &point.spec.source;
    let missing = |reason, kind: &str| {
        wait(
            reason,
            format!(
                "{kind} {ns}/{}, the source of KafkaRestorePoint {name} (spec.restorePointRef), not found; the restore starts once it exists",
                from.name
            ),
        )
    };
    match from.kind.as_str() {
        "KafkaBackup" => {
            let api: Api<KafkaBackup> = Api::namespaced(ctx.client.clone(), ns);
            let found = api
                .get_opt(&from.name)
                .await
                .map_err(Error::read(format!("KafkaBackup {ns}/{}", from.name)))?;
            let Some(kb) = found else { return missing(RunReason::BackupNotFound, "KafkaBackup") };
            if let Some(message) = not_authorized(ctx, kr, &kb) {
                return wait(RunReason::RestoreNotAuthorized, message);
            }
            let key = crate::operator::backup::run_config::encryption_key(&kb).cloned();
            let kms = crate::operator::kms_access::of_backup(&kb).cloned();
            let storage = crate::operator::backup::run_config::storage(&kb);
            Ok(Ok(Source { storage, backup_id, key, kms }))
        }
        "KafkaBackupLocation" => {
            let api: Api<KafkaBackupLocation> = Api::namespaced(ctx.client.clone(), ns);
            let found = api
                .get_opt(&from.name)
                .await
                .map_err(Error::read(format!("KafkaBackupLocation {ns}/{}", from.name)))?;
            let Some(location) = found else {
                return missing(RunReason::LocationNotFound, "KafkaBackupLocation");
            };
            // A disaster-recovery cluster has no KafkaBackup: the location says how its backups
            // are encrypted.
            let encryption = location.spec.encryption.as_ref().filter(|e| e.enabled);
            let key = encryption.and_then(|e| e.key_secret.clone());
            let kms = encryption.and_then(|e| e.kms.clone());
            Ok(Ok(Source { storage: location.spec.storage.clone(), backup_id, key, kms }))
        }
        other => wait(
            RunReason::RestorePointNotFound,
            format!(
                "KafkaRestorePoint {ns}/{name} (spec.restorePointRef) names a source of kind {other:?}, neither KafkaBackup nor KafkaBackupLocation"
            ),
        ),
    }
}

/// Why the `restorePolicy` of `kb` does not let `kr` restore it, if it has one: no valid
/// authorization stamp from the webhook (which alone knows the user and asked RBAC), or a target
/// or approval the policy does not allow. Enforced with or without a licence: it protects data.
fn not_authorized(ctx: &Context, kr: &KafkaRestore, kb: &KafkaBackup) -> Option<String> {
    use crate::api::restore_policy::{self, RESTORE_VERB, RESTORER_ROLE};
    let policy = kb.spec.restore_policy.as_ref()?;
    let (kb_ns, name) = (kb.namespace().unwrap_or_default(), kb.name_any());
    let mut why = Vec::new();
    if let Err(e) = crate::restore_access::check(&ctx.restore_key, kr, &kb_ns, &name) {
        why.push(format!(
            "KafkaBackup {kb_ns}/{name} has a restorePolicy: restoring it needs the verb `{RESTORE_VERB}` on it, checked by the operator's admission webhook for the user who creates the KafkaRestore, and {e}; create the KafkaRestore again as a user bound to the ClusterRole {RESTORER_ROLE} in namespace {kb_ns}, with the operator's webhooks registered"
        ));
    }
    let own = kr.namespace().unwrap_or_default();
    why.extend(
        restore_policy::problems(policy, &kb_ns, &name, &own, &kr.spec).iter().map(ToString::to_string),
    );
    (!why.is_empty()).then(|| why.join("; "))
}
