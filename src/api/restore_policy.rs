//! Who may restore a backup (SPEC §8 "Tenancy", Enterprise: licence feature `restore-policy`).
//!
//! A `KafkaBackup` with `spec.restorePolicy` is restored only by users Kubernetes RBAC lets
//! `restore` it: the custom verb [`RESTORE_VERB`] on `kafkabackups` (group `kafkabackup.com`),
//! named after the backup, in the backup's namespace. No role the project ships to editors holds
//! it; the ClusterRole [`RESTORER_ROLE`] does. The policy may also limit the clusters restored
//! into and demand the manual approval of the restore plan.
//!
//! This module is the policy itself, pure: which backup a restore reads ([`protected_source`]),
//! what the policy says about a restore's target and approval ([`problems`]) and the words of a
//! refusal. The access review is the webhook's (`crate::admission`, which knows the user); the
//! proof that it passed, carried to the controller, is `crate::restore_access`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::restore::{Approval, KafkaRestoreSpec};
use super::validation::FieldError;

/// The verb a user needs on the `KafkaBackup` to restore it, when it has a `restorePolicy`.
pub const RESTORE_VERB: &str = "restore";

/// The ClusterRole that grants [`RESTORE_VERB`] (config/rbac/kafkabackup_restorer_role.yaml).
pub const RESTORER_ROLE: &str = "strimzi-backup-restorer";

/// The condition reason of a restore the policy of its backup does not allow.
pub const REASON: &str = "RestoreNotAuthorized";

/// Who may restore a `KafkaBackup`, and how (Enterprise). Present: restoring needs the `restore`
/// verb on this `KafkaBackup` (Kubernetes RBAC, e.g. the ClusterRole `strimzi-backup-restorer`
/// bound in its namespace), checked for the user who creates the `KafkaRestore`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestorePolicy {
    /// Strimzi `Kafka` clusters a restore may write into. Empty or absent: any cluster. Listed:
    /// only these, and only by `strimziClusterRef` (a `kafkaCluster` bootstrap address is
    /// refused, as it names no cluster a policy can recognise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_target_clusters: Vec<TargetClusterRef>,
    /// `Manual`: every restore of this backup must set `spec.restore.approval: Manual`, so its
    /// plan waits for the annotation `kafkabackup.com/approve=<plan hash>` before anything is
    /// written. `Automatic` (default): each restore chooses.
    #[serde(default)]
    pub approval: Approval,
}

/// A Strimzi `Kafka` a restore may write into.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetClusterRef {
    /// Name of the `Kafka` resource.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the `Kafka` resource; defaults to the namespace of the `KafkaBackup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The `KafkaBackup` whose policy governs a restore, as the restore names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtectedSource {
    /// `spec.backupRef`: the `KafkaBackup` `namespace/name`.
    Backup { namespace: String, name: String },
    /// `spec.restorePointRef`: the `KafkaRestorePoint` `name` in the restore's namespace, whose
    /// source, when a `KafkaBackup`, governs.
    RestorePoint { name: String },
}

/// Where the policy of a restore in namespace `own` is to be found; none for `spec.source`
/// (straight from storage: the storage credentials Secret is the gate there).
pub fn protected_source(own: &str, spec: &KafkaRestoreSpec) -> Option<ProtectedSource> {
    if let Some(r) = &spec.backup_ref {
        let namespace = r.namespace.clone().unwrap_or_else(|| own.to_string());
        return Some(ProtectedSource::Backup { namespace, name: r.name.clone() });
    }
    spec.restore_point_ref.as_ref().map(|r| ProtectedSource::RestorePoint { name: r.name.clone() })
}

/// The field a refusal names for a restore from `source`.
pub fn field(source: &ProtectedSource) -> &'static str {
    match source {
        ProtectedSource::Backup { .. } => "spec.backupRef",
        ProtectedSource::RestorePoint { .. } => "spec.restorePointRef",
    }
}

/// The clusters a restore in namespace `own` writes into, as `(namespace, name)` of Strimzi
/// `Kafka`s, with the field that names each; `None` for a `kafkaCluster` bootstrap address.
fn targets(own: &str, spec: &KafkaRestoreSpec) -> Vec<(&'static str, Option<(String, String)>)> {
    let kafka = spec.cluster.strimzi_cluster_ref.as_ref();
    let connected = kafka.map(|r| (r.namespace.clone().unwrap_or_else(|| own.to_string()), r.name.clone()));
    let field = if kafka.is_some() { "spec.strimziClusterRef" } else { "spec.kafkaCluster" };
    let mut out = vec![(field, connected.clone())];
    // The backed-up KafkaTopics and KafkaUsers are declared for another Kafka when asked.
    if let Some(sr) = &spec.restore.strimzi_resources {
        let ns = sr
            .target_namespace
            .clone()
            .or_else(|| kafka.and_then(|r| r.namespace.clone()))
            .unwrap_or_else(|| own.to_string());
        let name = sr.target_cluster.clone().or_else(|| kafka.map(|r| r.name.clone())).unwrap_or_default();
        let declared = Some((ns, name));
        if declared != connected {
            out.push(("spec.restore.strimziResources", declared));
        }
    }
    out
}

/// What `policy` (of the `KafkaBackup` `backup_ns/backup`) says about the target and approval of
/// a restore in namespace `own`: empty when it allows them. Pure: the webhook and the restore
/// controller both call it.
pub fn problems(
    policy: &RestorePolicy,
    backup_ns: &str,
    backup: &str,
    own: &str,
    spec: &KafkaRestoreSpec,
) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if !policy.allowed_target_clusters.is_empty() {
        let allowed: Vec<(String, String)> = policy
            .allowed_target_clusters
            .iter()
            .map(|c| (c.namespace.clone().unwrap_or_else(|| backup_ns.to_string()), c.name.clone()))
            .collect();
        let listed = allowed.iter().map(|(ns, name)| format!("{ns}/{name}")).collect::<Vec<_>>().join(", ");
        for (field, target) in targets(own, spec) {
            let why = match &target {
                Some(t) if allowed.contains(t) => continue,
                Some((ns, name)) => format!("Kafka {ns}/{name} is not"),
                None => "a kafkaCluster bootstrap address is not".to_string(),
            };
            problems.push(FieldError::new(
                field,
                format!(
                    "{why} among the clusters the restorePolicy of KafkaBackup {backup_ns}/{backup} allows restoring into ({listed}): restore into one of those with strimziClusterRef, or ask the backup's owner to add it to spec.restorePolicy.allowedTargetClusters"
                ),
            ));
        }
    }
    if policy.approval == Approval::Manual && spec.restore.approval != Approval::Manual {
        problems.push(FieldError::new(
            "spec.restore.approval",
            format!(
                "the restorePolicy of KafkaBackup {backup_ns}/{backup} requires the manual approval of every restore plan: set spec.restore.approval: Manual (kubectl kafkabackup restore --approval Manual), then approve the plan with kubectl annotate kafkarestore <name> kafkabackup.com/approve=<status.plan.hash>"
            ),
        ));
    }
    problems
}

/// The refusal of a restore from the `KafkaBackup` `backup_ns/backup` by `user`, who lacks the
/// verb: what to bind, where.
pub fn forbidden(field: &str, user: &str, backup_ns: &str, backup: &str) -> FieldError {
    FieldError::new(
        field,
        format!(
            "user {user} may not restore KafkaBackup {backup_ns}/{backup}: its restorePolicy requires the verb `{RESTORE_VERB}` on kafkabackups (kafkabackup.com) in namespace {backup_ns}; ask its owner to bind the ClusterRole {RESTORER_ROLE} to you there (kubectl create rolebinding -n {backup_ns} --clusterrole={RESTORER_ROLE} --user={user} <name>)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cluster::{KafkaClusterSpec, StrimziClusterRef};
    use crate::api::restore::{BackupRef, RestorePointRef, RestoreStrimziResources};

    fn restore_into(kafka: Option<(&str, Option<&str>)>) -> KafkaRestoreSpec {
        let mut spec = KafkaRestoreSpec {
            backup_ref: Some(BackupRef { name: "orders".into(), namespace: None, backup_id: None }),
            ..Default::default()
        };
        match kafka {
            Some((name, ns)) => {
                spec.cluster.strimzi_cluster_ref = Some(StrimziClusterRef {
                    name: name.into(),
                    namespace: ns.map(Into::into),
                    listener_name: None,
                })
            }
            None => {
                spec.cluster.kafka_cluster =
                    Some(KafkaClusterSpec { bootstrap_servers: "k:9092".into(), ..Default::default() })
            }
        }
        spec
    }

    fn only(clusters: &[(&str, Option<&str>)]) -> RestorePolicy {
        RestorePolicy {
            allowed_target_clusters: clusters
                .iter()
                .map(|(name, ns)| TargetClusterRef { name: (*name).into(), namespace: ns.map(Into::into) })
                .collect(),
            approval: Approval::Automatic,
        }
    }

    #[test]
    fn the_source_is_the_backup_or_the_restore_point_and_none_from_storage() {
        let spec = restore_into(Some(("k", None)));
        assert_eq!(
            protected_source("a", &spec),
            Some(ProtectedSource::Backup { namespace: "a".into(), name: "orders".into() })
        );
        let point = KafkaRestoreSpec {
            restore_point_ref: Some(RestorePointRef { name: "p1".into() }),
            ..Default::default()
        };
        assert_eq!(protected_source("a", &point), Some(ProtectedSource::RestorePoint { name: "p1".into() }));
        assert_eq!(protected_source("a", &KafkaRestoreSpec::default()), None);
    }

    #[test]
    fn no_list_allows_every_cluster_and_a_list_only_its_strimzi_clusters() {
        let any = RestorePolicy::default();
        assert!(problems(&any, "prod", "orders", "prod", &restore_into(None)).is_empty());
        let policy = only(&[("dr", None), ("staging", Some("qa"))]);
        // Namespaces default: the list's to the backup's, the restore's to the restore's.
        assert!(problems(&policy, "prod", "orders", "prod", &restore_into(Some(("dr", None)))).is_empty());
        assert!(
            problems(&policy, "prod", "orders", "x", &restore_into(Some(("staging", Some("qa"))))).is_empty()
        );
        let elsewhere = problems(&policy, "prod", "orders", "x", &restore_into(Some(("dr", None))));
        assert_eq!(elsewhere.len(), 1);
        assert_eq!(elsewhere[0].path, "spec.strimziClusterRef");
        assert!(elsewhere[0].message.starts_with("Kafka x/dr is not among"), "{}", elsewhere[0]);
        assert!(elsewhere[0].message.contains("(prod/dr, qa/staging)"), "{}", elsewhere[0]);
        let bootstrap = problems(&policy, "prod", "orders", "prod", &restore_into(None));
        assert_eq!(bootstrap[0].path, "spec.kafkaCluster");
        assert!(bootstrap[0].message.contains("bootstrap address"), "{}", bootstrap[0]);
        // The Strimzi resources declared for another Kafka are a target too.
        let mut declared = restore_into(Some(("dr", None)));
        declared.restore.strimzi_resources =
            Some(RestoreStrimziResources { target_cluster: Some("other".into()), ..Default::default() });
        let fields: Vec<_> =
            problems(&policy, "prod", "orders", "prod", &declared).into_iter().map(|p| p.path).collect();
        assert_eq!(fields, ["spec.restore.strimziResources"]);
    }

    #[test]
    fn a_manual_policy_refuses_automatic_restores_and_says_how_to_approve() {
        let policy = RestorePolicy { approval: Approval::Manual, ..Default::default() };
        let mut spec = restore_into(Some(("k", None)));
        let refused = problems(&policy, "prod", "orders", "prod", &spec);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].path, "spec.restore.approval");
        assert!(refused[0].message.contains("kafkabackup.com/approve"), "{}", refused[0]);
        spec.restore.approval = Approval::Manual;
        assert!(problems(&policy, "prod", "orders", "prod", &spec).is_empty());
    }

    #[test]
    fn the_refusal_names_the_user_backup_verb_and_role() {
        let text = forbidden("spec.backupRef", "bob", "prod", "orders").to_string();
        for part in ["spec.backupRef:", "user bob", "KafkaBackup prod/orders", "`restore`", RESTORER_ROLE] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }
}
