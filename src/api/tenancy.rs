//! Cross-namespace references (SPEC §8 "Tenancy"): a reference into another namespace is
//! honoured only when the referenced object opts in, and — checked by the admission webhook,
//! which knows the user — when the user may `get` the referenced object there.
//!
//! The opt-in is the annotation [`ALLOW_ANNOTATION`] on the referenced object (the
//! `KafkaBackup`, the Strimzi `Kafka`): a comma list of namespaces allowed to refer to it, or
//! `*` for all. An annotation rather than a spec field because one mechanism must serve both
//! kinds and the `Kafka` CR's schema is Strimzi's; it is written by whoever may update the
//! referenced object, i.e. the owner of that namespace, and it is never set by default.
//!
//! This module is the rule itself, pure: the webhook (`admission`) and the controllers
//! (`operator::dereference`) both call it, so a cluster without the webhook refuses the same
//! references, only later.

use std::collections::BTreeMap;

use super::cluster::ClusterConnection;
use super::validation::FieldError;
use super::{KafkaBackupSpec, KafkaOffsetResetSpec, KafkaRestoreDrillSpec, KafkaRestoreSpec};

/// The opt-in annotation on a referenced object: `"team-a,team-b"` or `"*"`.
pub const ALLOW_ANNOTATION: &str = "kafkabackup.com/allow-from-namespaces";

/// The condition reason of a resource whose cross-namespace reference is not allowed.
pub const REASON: &str = "CrossNamespaceRefNotAllowed";

/// One reference from a resource in one namespace to an object in another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossRef {
    /// The field that names the other namespace, e.g. `spec.backupRef.namespace`.
    pub field: &'static str,
    /// API group, resource (plural) and kind of the referenced object.
    pub group: &'static str,
    pub resource: &'static str,
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl CrossRef {
    /// The refusal when the referenced object does not opt in to `from`, or does not exist.
    /// `exists` is said only to someone who may read the object anyway (the webhook, after the
    /// user's access review); the controllers pass `None` and say the same words whether the
    /// object is absent or merely not shared, so a tenant cannot probe which objects another
    /// namespace holds by naming them.
    pub fn not_allowed(&self, from: &str, exists: Option<bool>) -> FieldError {
        let what = format!("{} {}/{}", self.kind, self.namespace, self.name);
        let state = match exists {
            Some(true) => "does not allow references from namespace",
            Some(false) => "does not exist, so it cannot allow references from namespace",
            None => "does not exist or does not allow references from namespace",
        };
        FieldError::new(
            self.field,
            format!(
                "{what} {state} {from}: its owner must annotate it with {ALLOW_ANNOTATION}: \"{from}\" (a comma list of namespaces, or \"*\")"
            ),
        )
    }

    /// The refusal when the user may not read the referenced object.
    pub fn forbidden(&self, user: &str) -> FieldError {
        FieldError::new(
            self.field,
            format!(
                "user {user} may not get {} in namespace {} (Kubernetes RBAC), so may not refer to {} {}/{}",
                self.resource, self.namespace, self.kind, self.namespace, self.name
            ),
        )
    }
}

/// True when `annotations` (of the referenced object) let namespace `from` refer to it.
pub fn allows(annotations: Option<&BTreeMap<String, String>>, from: &str) -> bool {
    annotations.and_then(|a| a.get(ALLOW_ANNOTATION)).is_some_and(|value| {
        value.split(',').map(str::trim).any(|ns| ns == "*" || (!ns.is_empty() && ns == from))
    })
}

/// The target of a `strimziClusterRef` if it is in another namespace than `own`.
pub fn cluster_ref(own: &str, cluster: &ClusterConnection) -> Option<CrossRef> {
    let r = cluster.strimzi_cluster_ref.as_ref()?;
    let ns = r.namespace.as_deref().filter(|ns| *ns != own)?;
    Some(CrossRef {
        field: "spec.strimziClusterRef.namespace",
        group: "kafka.strimzi.io",
        resource: "kafkas",
        kind: "Kafka",
        namespace: ns.into(),
        name: r.name.clone(),
    })
}

/// The cross-namespace references of a `KafkaBackup` in namespace `own`.
pub fn backup(own: &str, spec: &KafkaBackupSpec) -> Vec<CrossRef> {
    cluster_ref(own, &spec.cluster).into_iter().collect()
}

/// The cross-namespace references of a `KafkaRestore` in namespace `own`.
pub fn restore(own: &str, spec: &KafkaRestoreSpec) -> Vec<CrossRef> {
    let backup = spec.backup_ref.as_ref().and_then(|r| {
        let ns = r.namespace.as_deref().filter(|ns| *ns != own)?;
        Some(CrossRef {
            field: "spec.backupRef.namespace",
            group: super::GROUP,
            resource: "kafkabackups",
            kind: "KafkaBackup",
            namespace: ns.into(),
            name: r.name.clone(),
        })
    });
    let mut refs: Vec<CrossRef> = backup.into_iter().chain(cluster_ref(own, &spec.cluster)).collect();
    // The operator creates KafkaTopics and KafkaUsers (with their ACLs) in the target namespace:
    // that is a reference to the Kafka they declare, which must opt in like any other, or anyone
    // who may create a KafkaRestore could have the operator write KafkaUsers into any namespace.
    if let Some(sr) = &spec.restore.strimzi_resources {
        let kafka = spec.cluster.strimzi_cluster_ref.as_ref();
        let ns = sr
            .target_namespace
            .clone()
            .or_else(|| kafka.and_then(|r| r.namespace.clone()))
            .unwrap_or_else(|| own.to_string());
        let name = sr.target_cluster.clone().or_else(|| kafka.map(|r| r.name.clone())).unwrap_or_default();
        let known = refs.iter().any(|r| r.kind == "Kafka" && r.namespace == ns && r.name == name);
        if ns != own && !known {
            let field = if sr.target_namespace.is_some() {
                "spec.restore.strimziResources.targetNamespace"
            } else {
                "spec.restore.strimziResources.targetCluster"
            };
            refs.push(CrossRef {
                field,
                group: "kafka.strimzi.io",
                resource: "kafkas",
                kind: "Kafka",
                namespace: ns,
                name,
            });
        }
    }
    refs
}

/// The cross-namespace references of a `KafkaOffsetReset` in namespace `own`.
pub fn offset_reset(own: &str, spec: &KafkaOffsetResetSpec) -> Vec<CrossRef> {
    cluster_ref(own, &spec.cluster).into_iter().collect()
}

/// The cross-namespace references of a `KafkaRestoreDrill` in namespace `own`: only its
/// `target`'s `strimziClusterRef` can leave the namespace (`backupRef` and `locationRef` name
/// objects of its own namespace), named at the field where the drill holds it.
pub fn drill(own: &str, spec: &KafkaRestoreDrillSpec) -> Vec<CrossRef> {
    let target = spec.target.as_ref().and_then(|t| cluster_ref(own, t));
    target.map(|r| CrossRef { field: "spec.target.strimziClusterRef.namespace", ..r }).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cluster::StrimziClusterRef;
    use crate::api::restore::BackupRef;

    fn annotated(value: &str) -> BTreeMap<String, String> {
        [(ALLOW_ANNOTATION.to_string(), value.to_string())].into()
    }

    #[test]
    fn only_the_listed_namespaces_or_a_star_are_allowed_and_nothing_by_default() {
        assert!(!allows(None, "team-a"));
        assert!(!allows(Some(&BTreeMap::new()), "team-a"));
        assert!(!allows(Some(&annotated("")), "team-a"));
        assert!(!allows(Some(&annotated("team-ab, team-b")), "team-a"));
        assert!(!allows(Some(&annotated(" , ")), ""));
        assert!(allows(Some(&annotated("team-b, team-a")), "team-a"));
        assert!(allows(Some(&annotated("*")), "team-a"));
    }

    #[test]
    fn references_into_the_own_namespace_are_not_cross_namespace() {
        let mut spec = KafkaRestoreSpec {
            backup_ref: Some(BackupRef { name: "b".into(), namespace: Some("a".into()), backup_id: None }),
            ..Default::default()
        };
        spec.cluster.strimzi_cluster_ref =
            Some(StrimziClusterRef { name: "k".into(), namespace: None, listener_name: None });
        assert!(restore("a", &spec).is_empty());
        let refs = restore("x", &spec);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].field, "spec.backupRef.namespace");
        if let Some(r) = spec.cluster.strimzi_cluster_ref.as_mut() {
            r.namespace = Some("b".into());
        }
        let fields: Vec<_> = restore("a", &spec).iter().map(|r| r.field).collect();
        assert_eq!(fields, ["spec.strimziClusterRef.namespace"]);
        let message = restore("a", &spec)[0].not_allowed("a", Some(true)).to_string();
        assert!(message.starts_with("spec.strimziClusterRef.namespace: Kafka b/k"), "{message}");
        assert!(message.contains(ALLOW_ANNOTATION), "{message}");
        // What a controller says cannot tell an absent object from one not shared.
        let unsaid = restore("a", &spec)[0].not_allowed("a", None).to_string();
        assert!(unsaid.contains("does not exist or does not allow"), "{unsaid}");
    }

    #[test]
    fn strimzi_resources_restored_into_another_namespace_need_that_kafka_to_opt_in() {
        let mut spec = KafkaRestoreSpec::default();
        spec.cluster.strimzi_cluster_ref =
            Some(StrimziClusterRef { name: "k".into(), namespace: None, listener_name: None });
        spec.restore.strimzi_resources = Some(crate::api::restore::RestoreStrimziResources {
            target_namespace: Some("dr".into()),
            target_cluster: Some("dr-cluster".into()),
            ..Default::default()
        });
        let refs = restore("a", &spec);
        assert_eq!(refs.len(), 1, "{refs:?}");
        assert_eq!(
            (refs[0].field, refs[0].namespace.as_str(), refs[0].name.as_str()),
            ("spec.restore.strimziResources.targetNamespace", "dr", "dr-cluster")
        );
        // The target cluster already referenced (and checked) by strimziClusterRef: once.
        spec.cluster.strimzi_cluster_ref = Some(StrimziClusterRef {
            name: "dr-cluster".into(),
            namespace: Some("dr".into()),
            listener_name: None,
        });
        let fields: Vec<_> = restore("a", &spec).iter().map(|r| r.field).collect();
        assert_eq!(fields, ["spec.strimziClusterRef.namespace"]);
        // Into the restore's own namespace: no cross-namespace reference.
        if let Some(sr) = spec.restore.strimzi_resources.as_mut() {
            sr.target_namespace = Some("a".into());
        }
        spec.cluster.strimzi_cluster_ref =
            Some(StrimziClusterRef { name: "k".into(), namespace: None, listener_name: None });
        assert!(restore("a", &spec).is_empty());
    }
}
