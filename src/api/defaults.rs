//! Defaulting (SPEC §2, §3): every default written into the stored object, so what `kubectl get
//! -o yaml` shows is what runs.
//!
//! The defaults are the serde defaults of the API types, nowhere else: defaulting reads the spec
//! into its type and writes it back, and the mutating webhook sends the difference as a JSON
//! patch (json-patch's diff). The controllers read specs through the same types, so a cluster
//! without the webhook runs with exactly the same values; the webhook only makes them visible.
//!
//! Only `/spec` is ever patched, and only by adding or replacing: a field the types do not know
//! (which the apiserver's pruning should already have removed) is left alone, never dropped. A
//! second pass gives an empty patch.

use json_patch::jsonptr;
use json_patch::{Patch, PatchOperation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::validation::FieldError;
use super::{
    KafkaBackupLocationSpec, KafkaBackupSpec, KafkaOffsetResetSpec, KafkaRestoreDrillSpec, KafkaRestoreSpec,
};

/// `spec` with every default filled in, or why it does not read as `S`.
pub fn defaulted<S: DeserializeOwned + Serialize>(spec: &Value) -> Result<Value, FieldError> {
    let typed: S = super::validation::parse_spec(spec)?;
    serde_json::to_value(typed).map_err(|e| FieldError::new("spec", e.to_string()))
}

/// The patch that fills the defaults of `object` (a whole object as the webhook receives it).
fn patch_with<S: DeserializeOwned + Serialize>(object: &Value) -> Result<Patch, FieldError> {
    let Some(spec) = object.get("spec") else {
        return Err(FieldError::new("spec", "the object has no spec"));
    };
    let after = defaulted::<S>(spec)?;
    let ops = json_patch::diff(spec, &after)
        .0
        .into_iter()
        .filter(|op| !matches!(op, PatchOperation::Remove(_)))
        .map(under_spec)
        .collect();
    Ok(Patch(ops))
}

/// Moves an operation computed on the spec to the whole object.
fn under_spec(op: PatchOperation) -> PatchOperation {
    let prefix = |path: &jsonptr::PointerBuf| {
        jsonptr::PointerBuf::parse(format!("/spec{path}")).unwrap_or_else(|_| path.clone())
    };
    match op {
        PatchOperation::Add(mut o) => {
            o.path = prefix(&o.path);
            PatchOperation::Add(o)
        }
        PatchOperation::Replace(mut o) => {
            o.path = prefix(&o.path);
            PatchOperation::Replace(o)
        }
        other => other,
    }
}

/// The defaulting patch for an object of `kind` (`KafkaBackup`, `KafkaRestore`,
/// `KafkaOffsetReset`, `KafkaBackupLocation`, `KafkaRestoreDrill`, `KafkaBackupSchedule`, `KafkaDataErasure`).
pub fn patch(kind: &str, object: &Value) -> Result<Patch, FieldError> {
    match kind {
        "KafkaBackup" => patch_with::<KafkaBackupSpec>(object),
        "KafkaRestore" => patch_with::<KafkaRestoreSpec>(object),
        "KafkaOffsetReset" => patch_with::<KafkaOffsetResetSpec>(object),
        "KafkaBackupLocation" => patch_with::<KafkaBackupLocationSpec>(object),
        "KafkaRestoreDrill" => patch_with::<KafkaRestoreDrillSpec>(object),
        "KafkaBackupSchedule" => patch_with::<super::KafkaBackupScheduleSpec>(object),
        "KafkaDataErasure" => patch_with::<super::KafkaDataErasureSpec>(object),
        other => Err(FieldError::new("kind", format!("{other} is not a kind of kafkabackup.com"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(object: &Value, patch: &Patch) -> Value {
        let mut out = object.clone();
        json_patch::patch(&mut out, patch).expect("the patch applies");
        out
    }

    #[test]
    fn a_minimal_backup_gets_every_default_and_a_second_pass_is_empty() {
        let object = json!({
            "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup",
            "metadata": {"name": "nightly", "labels": {"team": "a"}},
            "spec": {
                "strimziClusterRef": {"name": "my-cluster"},
                "storage": {"type": "s3", "s3": {"bucket": "b", "region": "eu-west-1"}},
                "schedule": {"cron": "0 2 * * *"},
                "retention": {"maxBackups": 7}
            },
            "status": {"backupCount": 3}
        });
        let p = patch("KafkaBackup", &object).expect("patch");
        let out = apply(&object, &p);
        let spec = &out["spec"];
        assert_eq!(spec["topics"], json!({"include": [".*"], "exclude": ["__.*"]}));
        assert_eq!(spec["consumerGroups"], json!({"include": [".*"], "exclude": []}));
        assert_eq!(spec["backup"]["compression"], "zstd");
        assert_eq!(spec["backup"]["compressionLevel"], 3);
        assert_eq!(spec["backup"]["segmentSize"], 268_435_456);
        assert_eq!(spec["backup"]["parallelism"], 4);
        assert_eq!(spec["backup"]["workers"], 1);
        assert_eq!(spec["backup"]["mode"], "incremental");
        assert_eq!(spec["schedule"]["timezone"], "UTC");
        assert_eq!(spec["schedule"]["suspend"], false);
        assert_eq!(spec["schedule"]["concurrencyPolicy"], "Forbid");
        assert_eq!(spec["retention"]["pruneOnSchedule"], true);
        assert_eq!(spec["deletionPolicy"], "Retain");
        assert_eq!(spec["storage"]["s3"]["region"], "eu-west-1", "what was given stays");
        assert_eq!((&out["metadata"], &out["status"]), (&object["metadata"], &object["status"]));
        assert!(p.0.iter().all(|op| op.path().to_string().starts_with("/spec/")), "{p:?}");
        assert!(patch("KafkaBackup", &out).expect("again").0.is_empty(), "idempotent");
    }

    #[test]
    fn restores_and_resets_are_defaulted_and_unknown_fields_are_never_removed() {
        let restore = json!({"kind": "KafkaRestore", "metadata": {"name": "r"}, "spec": {
            "kafkaCluster": {"bootstrapServers": "k:9092"}, "backupRef": {"name": "nightly"},
            "somethingNew": {"kept": true}
        }});
        let out = apply(&restore, &patch("KafkaRestore", &restore).expect("patch"));
        assert_eq!(
            out["spec"]["restore"],
            json!({"topicCreation": "auto", "existingTopicPolicy": "fail", "parallelism": 4, "workers": 1, "dryRun": false, "approval": "Automatic", "scope": "restorePoint"})
        );
        assert_eq!(out["spec"]["topics"], json!({"include": [".*"], "exclude": []}));
        assert_eq!(out["spec"]["somethingNew"], json!({"kept": true}));
        let reset = json!({"kind": "KafkaOffsetReset", "spec": {
            "kafkaCluster": {"bootstrapServers": "k:9092"}, "consumerGroups": ["g"], "resetStrategy": "to-latest"
        }});
        let out = apply(&reset, &patch("KafkaOffsetReset", &reset).expect("patch"));
        assert_eq!(
            (out["spec"]["parallelism"].clone(), out["spec"]["dryRun"].clone()),
            (json!(10), json!(false))
        );
    }

    #[test]
    fn a_spec_that_does_not_read_names_the_problem() {
        let bad =
            json!({"spec": {"kafkaCluster": {"bootstrapServers": "k:9092"}, "storage": {"type": "tape"}}});
        let err = patch("KafkaBackup", &bad).expect_err("unknown storage type");
        assert!(err.message.contains("tape"), "{err}");
        assert!(patch("KafkaTopic", &bad).is_err());
    }
}
