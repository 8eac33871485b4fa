//! Writing a resource's status: server-side apply of the whole status under the operator's field
//! manager, only when it changed, and Events for the `Ready` transitions users care about.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::MANAGER;
use super::error::{Error, Result};
use crate::api::condition::{self, Condition, ConditionStatus, ReadyReason};

/// Applies `status` to `object` (namespaced) when it differs from `before`.
pub async fn write<K, S>(client: &kube::Client, object: &K, before: &Option<S>, status: &S) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if before.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(&object.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map(|_| ())
        .map_err(Error::Status)
}

/// The `Ready` condition of `conditions`, if any.
pub fn ready(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == "Ready")
}

/// Sets `Ready` from a typed reason (whether it is True follows from the reason); true when its
/// status, reason or message changed (worth an Event). The one way any kind writes `Ready`.
pub fn set_ready(
    conditions: &mut Vec<Condition>,
    reason: impl ReadyReason,
    message: impl Into<String>,
    now: &Time,
) -> bool {
    let status = if reason.is_ready() { ConditionStatus::True } else { ConditionStatus::False };
    set_condition(conditions, Condition::new("Ready", status, reason.as_str(), message), now)
}

/// Sets a condition by type; true when its status, reason or message changed (worth an Event).
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition, now: &Time) -> bool {
    let changed = conditions
        .iter()
        .find(|c| c.type_ == new.type_)
        .is_none_or(|c| c.status != new.status || c.reason != new.reason || c.message != new.message);
    condition::set(conditions, new, now.clone());
    changed
}
