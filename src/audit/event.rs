//! What one audit-log row says: [`AuditEvent`]. Pure data, serialised to canonical JSON
//! ([`super::chain::canonical`]) and hashed into the chain; the field names below are the
//! stored format, so renaming one breaks `verify-audit` on older rows — add fields, never
//! rename them.
//!
//! Build one with [`AuditEvent::new`] and the builder methods, then hand it to
//! [`super::Audit::record`]:
//!
//! ```
//! use strimzi_backup_operator::audit::{AuditEvent, EventKind, ObjectRef, Outcome};
//! let event = AuditEvent::new(EventKind::Erasure, Outcome::Succeeded)
//!     .namespace("team-a")
//!     .object(ObjectRef::new("KafkaDataErasure", "gdpr-42").uid("6d1c…"))
//!     .figures(serde_json::json!({"recordsRemoved": {"orders": 3}}));
//! assert_eq!(event.namespace.as_deref(), Some("team-a"));
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What happened. New kinds may be added; existing names never change (they are in the chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A validating admission decision (allowed or denied) on one of the operator's kinds.
    Admission,
    /// A run's Job was started (backup, restore, offset reset, drill, cleanup).
    RunStarted,
    /// A run finished: outcome and its figures.
    RunFinished,
    /// The licence changed: installed, renewed, expired, removed.
    LicenseChanged,
    /// An object was refused by a controller (`InvalidSpec` and its kin).
    ConfigurationError,
    /// A `KafkaDataErasure` removed records from backups.
    Erasure,
    /// Events were lost (queue full while the database was unreachable): how many and when.
    Gap,
    /// Anything else worth keeping; `reason` says what.
    Other,
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Allowed,
    Denied,
    Started,
    Succeeded,
    Failed,
    /// A state recorded (licence state, a gap), neither success nor failure.
    Recorded,
}

/// Who asked: the AdmissionReview's `userInfo`. Known only at admission; runs are done by the
/// operator (`actor` absent), and the run's row names its object, whose admission row names
/// the user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// The object concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl ObjectRef {
    /// `kind` `name`; its namespace is the event's ([`AuditEvent::namespace`]).
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Self { kind: kind.into(), name: name.into(), uid: None }
    }

    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        let uid: String = uid.into();
        self.uid = (!uid.is_empty()).then_some(uid);
        self
    }

    /// The reference of a Kubernetes object of a typed kind.
    pub fn of<K: kube::Resource<DynamicType = ()>>(object: &K) -> Self {
        let meta = object.meta();
        Self::new(K::kind(&()).to_string(), meta.name.clone().unwrap_or_default())
            .uid(meta.uid.clone().unwrap_or_default())
    }
}

/// One audit-log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Random, unique: a batch retried after a commit whose answer was lost is not written twice.
    pub id: String,
    /// When it happened (not when it was written: the queue may hold it for a while).
    #[serde(with = "rfc3339_millis")]
    pub time: DateTime<Utc>,
    pub kind: EventKind,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// Why: a denial's message, a failure's reason, an operation (`CREATE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Numbers and details (records, bytes, restore point, target cluster, …) as a JSON object.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub figures: Value,
    /// Which process recorded it (pod name, or host and pid): two replicas write one chain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

fn is_empty(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|o| o.is_empty())
}

/// Times at millisecond precision in UTC (`2026-01-02T03:04:05.678Z`): one text per instant, so
/// an event read back re-serialises to the bytes that were hashed.
mod rfc3339_millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

/// 16 random bytes in hex.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // A failing system RNG leaves zeros: the id then only loses its retry protection.
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}

impl AuditEvent {
    /// An event of `kind` with `outcome`, now.
    pub fn new(kind: EventKind, outcome: Outcome) -> Self {
        let now = Utc::now();
        Self {
            id: random_id(),
            // Millisecond precision, as stored.
            time: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now),
            kind,
            outcome,
            actor: None,
            namespace: None,
            object: None,
            reason: None,
            figures: Value::Null,
            source: String::new(),
        }
    }

    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    pub fn object(mut self, object: ObjectRef) -> Self {
        self.object = Some(object);
        self
    }

    /// The namespace of the object (none given or empty: cluster-wide or the operator's own).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        let namespace: String = namespace.into();
        self.namespace = (!namespace.is_empty()).then_some(namespace);
        self
    }

    /// About the Kubernetes object `object`: its kind, name, uid and namespace.
    pub fn about<K: kube::Resource<DynamicType = ()>>(self, object: &K) -> Self {
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        self.object(ObjectRef::of(object)).namespace(namespace)
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Figures as a JSON object (anything else is kept under `value`).
    pub fn figures(mut self, figures: Value) -> Self {
        self.figures = match figures {
            Value::Object(_) | Value::Null => figures,
            other => serde_json::json!({ "value": other }),
        };
        self
    }

    pub fn at(mut self, time: DateTime<Utc>) -> Self {
        self.time = DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_reads_back_as_written() {
        let e = AuditEvent::new(EventKind::Admission, Outcome::Denied)
            .actor(Actor { username: "alice".into(), uid: None, groups: vec!["dev".into()] })
            .namespace("team-a")
            .object(ObjectRef::new("KafkaRestore", "r1").uid("u-1"))
            .reason("spec.cluster: missing")
            .figures(serde_json::json!({"operation": "CREATE"}));
        let text = serde_json::to_string(&e).expect("json");
        assert!(text.contains(r#""kind":"Admission""#) && text.contains(r#""namespace":"team-a""#), "{text}");
        let back: AuditEvent = serde_json::from_str(&text).expect("read back");
        assert_eq!(back, e);
        assert_eq!(serde_json::to_string(&back).expect("json"), text);
    }
}
