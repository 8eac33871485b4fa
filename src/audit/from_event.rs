//! The audit row of an Event the controllers publish (pure): every run started or finished,
//! every configuration error and licence refusal, every other notable step already goes
//! through `operator::context::Context::event`, so recording there misses none of them. The
//! Event's reason decides the row's kind and outcome; its note is kept as the reason text and
//! its figures (a finished backup's records and bytes, …) when the caller has them.

use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::Value;

use super::event::{AuditEvent, EventKind, ObjectRef, Outcome};

/// The kind and outcome an Event `reason` (CamelCase) published by `action` stands for.
pub fn classify(reason: &str, action: &str, warning: bool) -> (EventKind, Outcome) {
    let configuration = reason == "InvalidSpec" || reason == "ForeignObject" || reason.starts_with("License");
    if configuration {
        return (EventKind::ConfigurationError, Outcome::Failed);
    }
    if reason.ends_with("Started") {
        return (EventKind::RunStarted, Outcome::Started);
    }
    if reason.ends_with("Completed") || reason.ends_with("Passed") || reason.ends_with("Succeeded") {
        return (EventKind::RunFinished, Outcome::Succeeded);
    }
    if reason.ends_with("Failed") && action != "Reconcile" {
        return (EventKind::RunFinished, Outcome::Failed);
    }
    (EventKind::Other, if warning { Outcome::Failed } else { Outcome::Recorded })
}

/// The audit event of the Event `reason`/`action`/`note` on `object`, with `figures`.
pub fn audit_event(
    object: &ObjectReference,
    warning: bool,
    reason: &str,
    action: &str,
    note: &str,
    figures: Value,
) -> AuditEvent {
    let (kind, outcome) = classify(reason, action, warning);
    let mut figures = match figures {
        Value::Object(map) => map,
        Value::Null => Default::default(),
        other => [("value".to_string(), other)].into_iter().collect(),
    };
    figures.insert("event".into(), serde_json::json!({ "reason": reason, "action": action }));
    AuditEvent::new(kind, outcome)
        .namespace(object.namespace.clone().unwrap_or_default())
        .object(
            ObjectRef::new(object.kind.clone().unwrap_or_default(), object.name.clone().unwrap_or_default())
                .uid(object.uid.clone().unwrap_or_default()),
        )
        .reason(note)
        .figures(Value::Object(figures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_reasons_map_to_kinds() {
        assert_eq!(classify("BackupStarted", "Backup", false), (EventKind::RunStarted, Outcome::Started));
        assert_eq!(
            classify("RestoreCompleted", "Restore", false),
            (EventKind::RunFinished, Outcome::Succeeded)
        );
        assert_eq!(classify("DrillPassed", "Drill", false), (EventKind::RunFinished, Outcome::Succeeded));
        assert_eq!(
            classify("OffsetResetFailed", "OffsetReset", true),
            (EventKind::RunFinished, Outcome::Failed)
        );
        assert_eq!(
            classify("InvalidSpec", "Validate", true),
            (EventKind::ConfigurationError, Outcome::Failed)
        );
        assert_eq!(
            classify("LicenseRequired", "Validate", true),
            (EventKind::ConfigurationError, Outcome::Failed)
        );
        assert_eq!(classify("ReadFailed", "Reconcile", true), (EventKind::Other, Outcome::Failed));
        assert_eq!(classify("BackupsPruned", "Retention", false), (EventKind::Other, Outcome::Recorded));
    }

    #[test]
    fn the_object_and_figures_are_kept() {
        let object = ObjectReference {
            kind: Some("KafkaBackup".into()),
            namespace: Some("ns".into()),
            name: Some("nightly".into()),
            uid: Some("u-1".into()),
            ..Default::default()
        };
        let e = audit_event(
            &object,
            false,
            "BackupCompleted",
            "Backup",
            "done",
            serde_json::json!({"records": 5}),
        );
        assert_eq!(e.namespace.as_deref(), Some("ns"));
        assert_eq!(
            e.object.as_ref().map(|o| (o.kind.as_str(), o.uid.as_deref())),
            Some(("KafkaBackup", Some("u-1")))
        );
        assert_eq!(e.figures["records"], 5);
        assert_eq!(e.figures["event"]["reason"], "BackupCompleted");
    }
}
