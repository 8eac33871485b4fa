//! The restore access policy in admission (`crate::api::restore_policy`, Enterprise feature
//! `restore-policy`): a `KafkaRestore` of a `KafkaBackup` with `spec.restorePolicy` needs the
//! requesting user's `restore` verb on that backup (a LocalSubjectAccessReview in the backup's
//! namespace, as the tenancy check asks for `get`), and the policy's target clusters and approval.
//!
//! - Mutating, on create: the review; refused, the request is denied; allowed, the restore is
//!   stamped for the controller (`crate::restore_access`). On update: the stamp of the old object
//!   is kept whatever the request says, so it can only ever be written here.
//! - Validating, on create: the review again and the policy's rules, each problem at its field.
//!
//! The policy is enforced whatever the licence says: it protects data, and expiry never stops
//! that (SPEC §4); only writing a new or changed policy needs the licence (the `KafkaBackup`'s
//! judgement).

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::UserInfo;
use kube::api::Api;
use serde_json::Value;

use super::{Admission, TENANCY_LOOKUP, access_review, spec_of};
use crate::api::restore_policy::{self, ProtectedSource, RESTORE_VERB, RestorePolicy};
use crate::api::validation::{FieldError, parse_spec};
use crate::api::{GROUP, KafkaBackup, KafkaRestoreSpec};
use crate::restore_access::{self, AUTHORIZATION_ANNOTATION, AUTHORIZED_BY_ANNOTATION};

/// A restore's backup and its policy.
pub(super) struct Protected {
    pub field: &'static str,
    pub namespace: String,
    pub name: String,
    pub policy: RestorePolicy,
}

impl Admission {
    /// The `KafkaBackup` with a `restorePolicy` that the restore in `object` reads, if any. A
    /// backup or restore point that does not exist (yet) protects nothing here: the controller
    /// checks again before every Job, and holds the restore if one appears with a policy.
    async fn protected(&self, namespace: &str, object: &Value) -> Result<Option<Protected>, String> {
        let Ok(spec) = parse_spec::<KafkaRestoreSpec>(&spec_of(object)) else { return Ok(None) };
        let Some(source) = restore_policy::protected_source(namespace, &spec) else { return Ok(None) };
        // Without a cluster (unit tests, benchmarks) nothing is known to be protected; the
        // controller's own check is the one that holds then.
        let Some(client) = &self.client else { return Ok(None) };
        let field = restore_policy::field(&source);
        let (backup_ns, backup) = match source {
            ProtectedSource::Backup { namespace, name } => (namespace, name),
            ProtectedSource::RestorePoint { name } => {
                use crate::api::restore_point::KafkaRestorePoint;
                let points: Api<KafkaRestorePoint> = Api::namespaced(client.clone(), namespace);
                let point = points.get_opt(&name).await.map_err(|e| e.to_string())?;
                match point.filter(|p| p.spec.source.kind == "KafkaBackup") {
                    Some(p) => (namespace.to_string(), p.spec.source.name),
                    None => return Ok(None),
                }
            }
        };
        let backups: Api<KafkaBackup> = Api::namespaced(client.clone(), &backup_ns);
        let kb = backups.get_opt(&backup).await.map_err(|e| e.to_string())?;
        Ok(kb.and_then(|kb| kb.spec.restore_policy).map(|policy| Protected {
            field,
            namespace: backup_ns,
            name: backup,
            policy,
        }))
    }

    /// The protected backup of a new restore, and whether `user` may restore it: `Err` is the
    /// refusal (no right, or a check that could not be made: admitting would restore unchecked).
    async fn authorized(
        &self,
        user: &UserInfo,
        namespace: &str,
        object: &Value,
    ) -> Result<Option<Protected>, FieldError> {
        let found = tokio::time::timeout(TENANCY_LOOKUP, self.protected(namespace, object)).await;
        let protected = match found {
            Ok(Ok(None)) => return Ok(None),
            Ok(Ok(Some(p))) => p,
            Ok(Err(e)) => {
                return Err(FieldError::new(
                    "spec",
                    format!(
                        "cannot check the restorePolicy of the backup this restore reads ({e}); try again"
                    ),
                ));
            }
            Err(_) => {
                return Err(FieldError::new(
                    "spec",
                    "checking the restorePolicy of the backup this restore reads timed out; try again",
                ));
            }
        };
        let Some(client) = &self.client else {
            return Err(FieldError::new(
                protected.field,
                "the webhook has no API client to check the user's right",
            ));
        };
        let (ns, name) = (protected.namespace.as_str(), protected.name.as_str());
        let review = access_review(client, user, ns, GROUP, "kafkabackups", RESTORE_VERB, name);
        match tokio::time::timeout(TENANCY_LOOKUP, review).await {
            Ok(Ok(true)) => Ok(Some(protected)),
            Ok(Ok(false)) => {
                let who = user.username.as_deref().unwrap_or("(anonymous)");
                Err(restore_policy::forbidden(protected.field, who, ns, name))
            }
            Ok(Err(e)) => Err(FieldError::new(
                protected.field,
                format!("cannot check the right to restore KafkaBackup {ns}/{name} ({e}); try again"),
            )),
            Err(_) => Err(FieldError::new(
                protected.field,
                format!("checking the right to restore KafkaBackup {ns}/{name} timed out; try again"),
            )),
        }
    }

    /// The validating webhook's problems of a new restore under its backup's policy.
    pub(super) async fn restore_policy_problems(
        &self,
        user: &UserInfo,
        namespace: &str,
        object: &Value,
    ) -> Vec<FieldError> {
        match self.authorized(user, namespace, object).await {
            Ok(None) => Vec::new(),
            Err(problem) => vec![problem],
            Ok(Some(p)) => match parse_spec::<KafkaRestoreSpec>(&spec_of(object)) {
                Ok(spec) => restore_policy::problems(&p.policy, &p.namespace, &p.name, namespace, &spec),
                Err(e) => vec![e],
            },
        }
    }

    /// The annotations the mutating webhook writes on a restore: on create, the stamp of the
    /// user's authorization when its backup has a policy (`Err`: the refusal); on update, the old
    /// object's stamp. `None`: nothing to change.
    pub(super) async fn restore_stamp(
        &self,
        user: &UserInfo,
        namespace: &str,
        object: &Value,
        old: Option<&Value>,
    ) -> Result<Option<BTreeMap<String, Option<String>>>, FieldError> {
        let stamp_keys = [AUTHORIZED_BY_ANNOTATION, AUTHORIZATION_ANNOTATION];
        let annotation = |o: &Value, key: &str| -> Option<String> {
            o.pointer("/metadata/annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .map(String::from)
        };
        if let Some(old) = old {
            let keep: BTreeMap<String, Option<String>> =
                stamp_keys.iter().map(|k| (k.to_string(), annotation(old, k))).collect();
            let same = keep.iter().all(|(k, v)| annotation(object, k) == *v);
            return Ok((!same).then_some(keep));
        }
        let Some(p) = self.authorized(user, namespace, object).await? else {
            // No policy: a stamp the request brings means nothing; it is not kept.
            let brought = stamp_keys.iter().any(|k| annotation(object, k).is_some());
            return Ok(brought.then(|| stamp_keys.iter().map(|k| (k.to_string(), None)).collect()));
        };
        let spec = parse_spec::<KafkaRestoreSpec>(&spec_of(object))?;
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let generate_name = object.pointer("/metadata/generateName").and_then(Value::as_str);
        let subject = restore_access::subject(name, generate_name);
        let target = restore_access::target(&spec);
        let user_name = user.username.clone().unwrap_or_default();
        let grant = restore_access::Grant {
            namespace,
            subject: &subject,
            backup_namespace: &p.namespace,
            backup: &p.name,
            user: &user_name,
            target: &target,
        };
        let Some(stamp) = self.restore_key.sign(&grant) else {
            return Err(FieldError::new(
                p.field,
                "the operator has no restore authorization key (its Secret strimzi-backup-restore-authorization could not be read or made: see the operator's log), so it cannot authorize restores of a KafkaBackup with a restorePolicy",
            ));
        };
        Ok(Some(BTreeMap::from([
            (AUTHORIZED_BY_ANNOTATION.to_string(), Some(user_name)),
            (AUTHORIZATION_ANNOTATION.to_string(), Some(stamp)),
        ])))
    }
}

/// `object` with `annotations` set (`None`: removed).
pub(super) fn annotated(object: &Value, annotations: &BTreeMap<String, Option<String>>) -> Value {
    let mut out = object.clone();
    if !out["metadata"]["annotations"].is_object() {
        out["metadata"]["annotations"] = Value::Object(Default::default());
    }
    if let Some(map) = out["metadata"]["annotations"].as_object_mut() {
        for (key, value) in annotations {
            match value {
                Some(v) => map.insert(key.clone(), Value::String(v.clone())),
                None => map.remove(key),
            };
        }
    }
    if out["metadata"]["annotations"].as_object().is_some_and(|m| m.is_empty())
        && object.pointer("/metadata/annotations").is_none()
        && let Some(meta) = out["metadata"].as_object_mut()
    {
        meta.remove("annotations");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::{Claims, Edition, InstalledLicense, LicenseError};
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn restore(annotations: Value) -> Value {
        json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestore",
            "metadata": {"name": "r1", "namespace": "a", "annotations": annotations},
            "spec": {"strimziClusterRef": {"name": "dr"}, "backupRef": {"name": "orders"}}})
    }

    fn stamp(user: &str, mac: &str) -> Value {
        json!({AUTHORIZED_BY_ANNOTATION: user, AUTHORIZATION_ANNOTATION: mac, "team": "x"})
    }

    async fn change(old: Option<&Value>, object: &Value) -> Option<BTreeMap<String, Option<String>>> {
        let admission = Admission::new(InstalledLicense::default(), None);
        admission.restore_stamp(&UserInfo::default(), "a", object, old).await.expect("no refusal")
    }

    #[tokio::test]
    async fn an_update_keeps_the_old_stamp_whatever_it_says() {
        let old = restore(stamp("alice", "aa"));
        assert_eq!(change(Some(&old), &old).await, None, "unchanged");
        let forged = restore(stamp("bob", "bb"));
        let kept = change(Some(&old), &forged).await.expect("the old stamp back");
        let patched = annotated(&forged, &kept);
        assert_eq!(patched["metadata"]["annotations"], stamp("alice", "aa"));
        // A stamp added to a restore that had none is removed again; other annotations stay.
        let unstamped = restore(json!({"team": "x"}));
        let removed = change(Some(&unstamped), &forged).await.expect("removed");
        assert_eq!(annotated(&forged, &removed)["metadata"]["annotations"], json!({"team": "x"}));
    }

    #[tokio::test]
    async fn a_stamp_brought_by_the_request_for_an_unprotected_backup_is_dropped() {
        let brought = restore(stamp("bob", "bb"));
        let dropped = change(None, &brought).await.expect("dropped");
        assert_eq!(annotated(&brought, &dropped)["metadata"]["annotations"], json!({"team": "x"}));
        assert_eq!(change(None, &restore(json!({"team": "x"}))).await, None);
    }

    fn claims(features: &[&str]) -> Claims {
        let at = |y| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).single().unwrap_or_default();
        Claims {
            id: "lic-9".into(),
            customer: "Example Bank".into(),
            edition: Edition::Enterprise,
            features: features.iter().map(|f| f.to_string()).collect(),
            issued_at: at(2026),
            expires_at: at(2099),
        }
    }

    #[test]
    fn a_new_or_changed_restore_policy_needs_the_licence_and_an_unchanged_one_only_warns() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().unwrap_or_default();
        let backup = |policy: Value| {
            json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup", "metadata": {"name": "orders"},
                "spec": {"strimziClusterRef": {"name": "k"}, "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r"}},
                         "restorePolicy": policy}})
        };
        let policy = backup(json!({"approval": "Manual"}));
        let missing = super::super::judge("KafkaBackup", &policy, None, &Err(LicenseError::Missing), now);
        assert_eq!(missing.problems.len(), 1, "{missing:?}");
        assert_eq!(missing.problems[0].path, "spec.restorePolicy");
        assert!(missing.problems[0].message.contains("`restore-policy`"), "{}", missing.problems[0]);
        let other = super::super::judge("KafkaBackup", &policy, None, &Ok(claims(&["encryption"])), now);
        assert!(
            other.problems[0].message.contains("does not grant the `restore-policy` feature"),
            "{other:?}"
        );
        let granted =
            super::super::judge("KafkaBackup", &policy, None, &Ok(claims(&["restore-policy"])), now);
        assert!(granted.problems.is_empty(), "{granted:?}");
        let expired = Err(LicenseError::Expired { id: "lic-9".into(), on: "2026-11-01".into() });
        let kept = super::super::judge("KafkaBackup", &policy, Some(&policy), &expired, now);
        assert!(kept.problems.is_empty() && !kept.warnings.is_empty(), "{kept:?}");
        let changed = backup(json!({"approval": "Manual", "allowedTargetClusters": [{"name": "dr"}]}));
        let refused = super::super::judge("KafkaBackup", &changed, Some(&policy), &expired, now);
        assert_eq!(refused.problems[0].path, "spec.restorePolicy", "{refused:?}");
    }
}
