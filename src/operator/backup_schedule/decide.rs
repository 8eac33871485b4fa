//! What a `KafkaBackupSchedule` reconcile does, decided without I/O: for every `Kafka` seen,
//! whether it is selected (its labels, its namespace, its opt-in when in another namespace); one
//! owned `KafkaBackup` per selected cluster with the template's spec; every owned `KafkaBackup`
//! whose cluster is not selected (any more) kept, suspended; the ones whose spec, labels or
//! owner differ from that applied; and the status listing each cluster.

use std::collections::{BTreeMap, BTreeSet};

use kube::core::{Selector, SelectorExt};

use crate::api::backup::{KafkaBackupSpec, KafkaBackupStatus};
use crate::api::backup_schedule::{
    self, CLUSTER_ANNOTATION, KafkaBackupSchedule, KafkaId, ScheduleReason, ScheduledCluster,
};
use crate::api::tenancy;

/// A Strimzi `Kafka` as listed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeenKafka {
    pub id: KafkaId,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// A `KafkaBackup` in the schedule's namespace: one it owns, or one under the name an owned
/// one would have.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeenBackup {
    pub name: String,
    /// The cluster it backs up, from [`CLUSTER_ANNOTATION`].
    pub cluster: Option<KafkaId>,
    /// Whether this schedule is its controller (owner reference with the schedule's uid).
    pub owned: bool,
    pub labels: BTreeMap<String, String>,
    pub spec: KafkaBackupSpec,
    pub status: Option<KafkaBackupStatus>,
}

/// An owned `KafkaBackup` as it should be.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub name: String,
    pub kafka: KafkaId,
    pub selected: bool,
    pub spec: KafkaBackupSpec,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// What changes for the user when it is applied: `Some("BackupCreated")`,
    /// `Some("ClusterUnselected")`, `Some("ClusterSelected")`, `None` for a template change.
    pub event: Option<&'static str>,
}

/// The outcome of one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Owned `KafkaBackup`s to apply (new, or differing from what they should be).
    pub apply: Vec<Desired>,
    pub clusters: Vec<ScheduledCluster>,
    pub reason: ScheduleReason,
    pub message: String,
}

/// Whether a `Kafka` in `namespace` is in the namespaces the schedule selects from (the
/// operator's watched namespaces bound this further: it lists no other).
pub fn in_namespaces(kbs: &KafkaBackupSchedule, namespace: &str) -> bool {
    let own = kbs.metadata.namespace.as_deref().unwrap_or_default();
    match &kbs.spec.namespace_selector {
        None => namespace == own,
        Some(s) if s.any => true,
        Some(s) => s.match_names.iter().any(|n| n == namespace),
    }
}

/// Whether the schedule selects `kafka` by its labels and namespace (not yet its opt-in).
pub fn matches(kbs: &KafkaBackupSchedule, kafka: &KafkaId, labels: &BTreeMap<String, String>) -> bool {
    if !in_namespaces(kbs, &kafka.namespace) {
        return false;
    }
    Selector::try_from(kbs.spec.cluster_selector.clone()).is_ok_and(|s| s.matches(labels))
}

pub fn decide(kbs: &KafkaBackupSchedule, kafkas: &[SeenKafka], backups: &[SeenBackup]) -> Plan {
    let namespace = kbs.metadata.namespace.clone().unwrap_or_default();
    let name = kbs.metadata.name.clone().unwrap_or_default();
    // Every cluster to list: selected ones, not-allowed ones, and those of owned KafkaBackups.
    let mut entries: BTreeMap<KafkaId, (bool, Option<String>)> = BTreeMap::new();
    for k in kafkas.iter().filter(|k| matches(kbs, &k.id, &k.labels)) {
        let allowed = k.id.namespace == namespace || tenancy::allows(Some(&k.annotations), &namespace);
        let why = (!allowed).then(|| {
            format!(
                "{}: Kafka {} does not allow references from namespace {namespace}: its owner must annotate it with {}: \"{namespace}\"",
                tenancy::REASON,
                k.id.key(),
                tenancy::ALLOW_ANNOTATION
            )
        });
        entries.insert(k.id.clone(), (allowed, why));
    }
    let owned: Vec<&SeenBackup> = backups.iter().filter(|b| b.owned).collect();
    for b in &owned {
        if let Some(c) = &b.cluster {
            entries.entry(c.clone()).or_insert_with(|| {
                let gone = !kafkas.iter().any(|k| &k.id == c);
                let why = if gone {
                    format!("Kafka {} is gone; its KafkaBackup is suspended and keeps its backups", c.key())
                } else {
                    format!(
                        "Kafka {} is not selected any more; its KafkaBackup is suspended and keeps its backups",
                        c.key()
                    )
                };
                (false, Some(why))
            });
        }
    }
    let mut apply = Vec::new();
    let mut clusters = Vec::new();
    let mut foreign = Vec::new();
    for (kafka, (selected, message)) in entries {
        // An owned KafkaBackup of this cluster keeps its name (the naming may have changed since).
        let existing = owned.iter().find(|b| b.cluster.as_ref() == Some(&kafka)).copied();
        let backup = existing
            .map(|b| b.name.clone())
            .unwrap_or_else(|| backup_schedule::backup_name(&name, &namespace, &kafka));
        let mut entry = ScheduledCluster {
            namespace: kafka.namespace.clone(),
            name: kafka.name.clone(),
            backup: backup.clone(),
            selected,
            message,
            ..Default::default()
        };
        let squatter = backups.iter().find(|b| b.name == backup && !b.owned);
        if let Some(s) = squatter.filter(|_| existing.is_none()) {
            let text = format!(
                "KafkaBackup {namespace}/{} exists and is not this schedule's: delete or rename it, or rename the schedule",
                s.name
            );
            foreign.push(text.clone());
            entry.message = Some(text);
            clusters.push(entry);
            continue;
        }
        if existing.is_none() && !selected {
            // Never backed up (not allowed): nothing to create or suspend.
            clusters.push(entry);
            continue;
        }
        if let Some(b) = existing {
            let status = b.status.clone().unwrap_or_default();
            entry.backup_status =
                crate::operator::status::ready(&status.conditions).and_then(|c| c.reason.clone());
            entry.last_backup = status.last_backup.clone();
            entry.recoverability = status.recoverability.clone();
        }
        let spec = backup_schedule::owned_spec(kbs, &kafka, selected);
        let labels = backup_schedule::owned_labels(kbs, &kafka, &backup, selected);
        let annotations = BTreeMap::from([(CLUSTER_ANNOTATION.to_string(), kafka.key())]);
        let event = match existing {
            None => Some("BackupCreated"),
            Some(b) => {
                let was = b.labels.get(backup_schedule::SELECTED_LABEL).map(String::as_str) == Some("true");
                match (was, selected) {
                    (true, false) => Some("ClusterUnselected"),
                    (false, true) => Some("ClusterSelected"),
                    _ => None,
                }
            }
        };
        let current = existing
            .is_some_and(|b| b.spec == spec && labels.iter().all(|(k, v)| b.labels.get(k) == Some(v)));
        if !current {
            apply.push(Desired { name: backup, kafka, selected, spec, labels, annotations, event });
        }
        clusters.push(entry);
    }
    let selected: Vec<String> =
        clusters.iter().filter(|c| c.selected).map(|c| format!("{}/{}", c.namespace, c.name)).collect();
    let suspended = clusters.iter().filter(|c| !c.selected).count();
    let (reason, message) = if !foreign.is_empty() {
        (ScheduleReason::ForeignObject, foreign.join("; "))
    } else if selected.is_empty() {
        let mut m =
            "no Strimzi Kafka matches spec.clusterSelector in the namespaces spec.namespaceSelector allows"
                .to_string();
        if suspended > 0 {
            m.push_str(&format!("; {suspended} KafkaBackup(s) of clusters no longer selected are suspended"));
        }
        (ScheduleReason::NoClustersSelected, m)
    } else {
        let mut m = format!("{} cluster(s) backed up: {}", selected.len(), selected.join(", "));
        if suspended > 0 {
            m.push_str(&format!("; {suspended} not selected (suspended or not allowed)"));
        }
        (ScheduleReason::BackupsScheduled, m)
    };
    Plan { apply, clusters, reason, message }
}

/// The names of the owned `KafkaBackup`s a plan keeps, for a test or a log line.
pub fn names(plan: &Plan) -> BTreeSet<String> {
    plan.clusters.iter().map(|c| c.backup.clone()).collect()
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
