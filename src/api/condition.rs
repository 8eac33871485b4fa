//! Status conditions in the shape Strimzi uses, so `kubectl wait --for=condition=Ready` and
//! Strimzi-aware tooling read our resources the way they read `Kafka` and `KafkaTopic`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A typed reason of a kind's `Ready` condition. Whether `Ready` is True follows from the reason
/// alone, so no code path can write `BackupFailed` with True or `RestoreCompleted` with False:
/// `operator::status::set_ready` takes only these. The strings are a contract (alerts, `kubectl
/// wait` scripts and tests match on them), never changed once released.
pub trait ReadyReason: Copy {
    /// The CamelCase string written as the condition's (and its Event's) reason.
    fn as_str(self) -> &'static str;
    /// Whether `Ready` is True with this reason.
    fn is_ready(self) -> bool;
}

/// One observation of the resource's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`, `LicenseInvalid`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether the condition holds.
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason for the last transition, e.g. `BackupFailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable explanation, including what to do about it when action is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `status` last changed (not when the condition was last written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// Kubernetes condition status values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    Unknown,
}

impl Condition {
    pub fn new(type_: &str, status: ConditionStatus, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_: type_.into(),
            status,
            reason: Some(reason.into()),
            message: Some(message.into()).filter(|m: &String| !m.is_empty()),
            last_transition_time: None,
        }
    }
}

/// Sets a condition by type. `lastTransitionTime` moves only when the status changes, as
/// Kubernetes and Strimzi define it; reason and message always take the new values.
pub fn set(conditions: &mut Vec<Condition>, mut new: Condition, now: Time) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            new.last_transition_time = if old.status == new.status {
                old.last_transition_time.clone().or(Some(now))
            } else {
                Some(now)
            };
            *old = new;
        }
        None => {
            new.last_transition_time = Some(now);
            conditions.push(new);
        }
    }
}

/// Removes the condition of `type_`; true when there was one.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap_or_default())
    }

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            Condition::new("Ready", ConditionStatus::True, "BackupCompleted", "ok"),
            at(100),
        );
        set(
            &mut conditions,
            Condition::new("Ready", ConditionStatus::True, "BackupCompleted", "again"),
            at(200),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, Some(at(100)));
        assert_eq!(conditions[0].message.as_deref(), Some("again"));
        set(&mut conditions, Condition::new("Ready", ConditionStatus::False, "BackupFailed", "no"), at(300));
        assert_eq!(conditions[0].last_transition_time, Some(at(300)));
        assert_eq!(conditions[0].reason.as_deref(), Some("BackupFailed"));
    }
}
