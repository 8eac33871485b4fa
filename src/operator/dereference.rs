//! The "dereference" step of a reconcile: reading what a resource refers to — a Strimzi `Kafka`
//! and a `KafkaUser` — and nothing else. A reference into another namespace is followed only
//! with the referenced object's opt-in (`api::tenancy`), so a cluster without the admission
//! webhook is refused the same references.
//!
//! Strimzi's resources are read through [`crate::strimzi::StrimziApi`], in the version the
//! cluster serves; [`StrimziApi`] and [`TTL`] are re-exported here for the callers that
//! named them at this path before the move.
//!
//! Its room: `api` (references, tenancy), `crate::strimzi`, and the operator's `connection`.

use super::connection::ConnectionError;
use crate::api::KafkaBackup;
use crate::api::restore::BackupRef;
use crate::api::tenancy;
pub use crate::strimzi::{StrimziApi, TTL};

/// Dereferences what `spec` names (the Strimzi `Kafka`, the `KafkaUser`) and resolves the
/// connection a Job in `namespace` gets. The outer error is the API server failing (retry); the
/// inner one is the user's to fix (condition, Event, wait).
pub async fn connection(
    strimzi: &StrimziApi,
    namespace: &str,
    spec: &crate::api::cluster::ClusterConnection,
) -> Result<Result<super::connection::JobConnection, super::connection::ConnectionError>, kube::Error> {
    // Another namespace's Kafka only with its opt-in (the webhook also checked the user's right).
    if let Some(cross) = tenancy::cluster_ref(namespace, spec) {
        let kafka = strimzi.get("Kafka", &cross.namespace, &cross.name).await?;
        if !kafka.as_ref().is_some_and(|k| tenancy::allows(k.metadata.annotations.as_ref(), namespace)) {
            return Ok(Err(ConnectionError::NotAllowed(cross.not_allowed(namespace, None).to_string())));
        }
    }
    let kafka = match &spec.strimzi_cluster_ref {
        Some(r) => strimzi.kafka(r.namespace.as_deref().unwrap_or(namespace), &r.name).await?,
        None => None,
    };
    let user = match spec.authentication.as_ref().and_then(|a| a.kafka_user_ref.as_ref()) {
        Some(u) => strimzi.kafka_user_name(namespace, &u.name).await?,
        None => None,
    };
    Ok(super::connection::resolve(namespace, spec, kafka.as_ref(), user.as_deref()))
}

/// Whether a `KafkaRestore` in namespace `from` may use `kb`, the `KafkaBackup` its `backupRef`
/// names: always in its own namespace, in another only with `kb`'s opt-in. `Err` is the
/// refusal naming the field and the annotation to set (the webhook checked the user's right).
pub fn backup_allowed(from: &str, r: &BackupRef, kb: &KafkaBackup) -> Result<(), String> {
    let spec = crate::api::KafkaRestoreSpec { backup_ref: Some(r.clone()), ..Default::default() };
    match tenancy::restore(from, &spec).into_iter().next() {
        Some(cross) if !tenancy::allows(kb.metadata.annotations.as_ref(), from) => {
            Err(cross.not_allowed(from, None).to_string())
        }
        _ => Ok(()),
    }
}
