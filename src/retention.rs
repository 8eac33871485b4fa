//! Retention: which restore points a `KafkaBackup`'s policy lets go, and deleting them.
//!
//! A backup (a restore point) goes when it is beyond `maxBackups` (counting from the newest) or
//! older than `maxAge` — except the newest completed backup (there is always one to restore) and
//! a backup a running restore is reading (`protected`). A version 2 manifest lists every segment
//! its restore point needs, so a segment object is deleted only once no kept manifest lists it
//! (manifests first, so a crash half-way leaves only invisible objects). A version 1 incremental
//! backup still needs the chain of parents it continues, which is kept with it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::backup::Retention;
use crate::format::manifest::Manifest;
use crate::storage::Storage;

/// A backup as retention sees it.
#[derive(Clone, Debug)]
pub struct Held {
    pub id: String,
    pub completed_at: DateTime<Utc>,
    pub parent: Option<String>,
}

impl Held {
    fn from_manifest(m: &Manifest) -> Option<Self> {
        Some(Self {
            id: m.backup_id.clone(),
            completed_at: DateTime::parse_from_rfc3339(&m.completed_at).ok()?.with_timezone(&Utc),
            // A version 2 manifest needs no other manifest: only the segments it lists.
            parent: m.parent_id.clone().filter(|_| !m.self_contained()),
        })
    }
}

/// The ids to delete, oldest first.
pub fn select(
    backups: &[Held],
    policy: &Retention,
    protected: &HashSet<String>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let max_age = policy
        .max_age
        .as_deref()
        .and_then(|a| crate::api::duration::parse_millis(a).ok())
        .map(chrono::Duration::milliseconds);
    let max_count = policy.max_backups.and_then(|m| usize::try_from(m).ok());
    let mut newest_first: Vec<&Held> = backups.iter().collect();
    newest_first.sort_by_key(|b| std::cmp::Reverse(b.completed_at));
    let expired = |i: usize, b: &Held| {
        max_count.is_some_and(|m| i >= m) || max_age.is_some_and(|age| now - b.completed_at > age)
    };
    let mut keep: HashSet<&str> = newest_first
        .iter()
        .enumerate()
        .filter(|(i, b)| *i == 0 || protected.contains(&b.id) || !expired(*i, b))
        .map(|(_, b)| b.id.as_str())
        .collect();
    let by_id: HashMap<&str, &Held> = backups.iter().map(|b| (b.id.as_str(), b)).collect();
    for id in keep.clone() {
        let mut parent = by_id.get(id).and_then(|b| b.parent.as_deref());
        while let Some(p) = parent {
            if !keep.insert(p) {
                break;
            }
            parent = by_id.get(p).and_then(|b| b.parent.as_deref());
        }
    }
    newest_first.iter().rev().filter(|b| !keep.contains(b.id.as_str())).map(|b| b.id.clone()).collect()
}

/// What pruning did, and what is left.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Backups deleted by this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pruned: Vec<String>,
    /// Completed backups left in storage.
    pub backup_count: u64,
    /// The stored bytes of the segments they list (each object counted once).
    pub storage_bytes: u64,
    /// The restore points left, for the operator to mirror (when the run was told which it
    /// knows: `knownRestorePoints`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_points: Option<crate::sync::SyncResult>,
}

/// Applies the policy (when given) to the backups of `scan` (the location as just read) and
/// reports what the location holds afterwards.
pub async fn prune(
    storage: &Storage,
    scan: &crate::catalog::Scan,
    policy: Option<&Retention>,
    protected: &HashSet<String>,
    now: DateTime<Utc>,
) -> anyhow::Result<Inventory> {
    let mut pruned = Vec::new();
    if let Some(policy) = policy {
        // Backups running restores read, whoever runs them (a lease at the location), stay too.
        let mut protected = protected.clone();
        protected.extend(crate::lease::leased(storage).await?);
        let held: Vec<Held> = scan.manifests.iter().filter_map(|m| Held::from_manifest(m)).collect();
        pruned = select(&held, policy, &protected, now);
        crate::catalog::delete(storage, scan, &pruned).await?;
        for id in &pruned {
            tracing::info!(backup = %id, "pruned by the retention policy");
        }
    }
    let kept: Vec<&Manifest> =
        scan.manifests.iter().map(|m| &**m).filter(|m| !pruned.contains(&m.backup_id)).collect();
    let mut objects = std::collections::BTreeMap::new();
    for s in kept.iter().flat_map(|m| m.objects()) {
        objects.insert(s.object.as_str(), s.stored_bytes);
    }
    Ok(Inventory {
        pruned,
        backup_count: kept.len() as u64,
        storage_bytes: objects.values().sum(),
        restore_points: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 2, 0, 0).single().expect("time")
    }

    fn held(id: &str, d: u32, parent: Option<&str>) -> Held {
        Held { id: id.into(), completed_at: day(d), parent: parent.map(Into::into) }
    }

    fn policy(max_backups: Option<i32>, max_age: Option<&str>) -> Retention {
        Retention { max_backups, max_age: max_age.map(Into::into), prune_on_schedule: true }
    }

    #[test]
    fn count_and_age_bounds() {
        let all = [held("a", 1, None), held("b", 2, None), held("c", 3, None), held("d", 4, None)];
        let none = HashSet::new();
        assert_eq!(select(&all, &policy(Some(2), None), &none, day(5)), ["a", "b"]);
        assert_eq!(
            select(&all, &policy(None, Some("2d")), &none, day(5)),
            ["a", "b"],
            "c is exactly 2 days old"
        );
        assert_eq!(select(&all, &policy(Some(3), Some("1w")), &none, day(5)), ["a"]);
    }

    #[test]
    fn the_newest_a_restored_one_and_chains_of_kept_incrementals_stay() {
        let none = HashSet::new();
        // Everything is a year old: still the newest stays.
        let old = [held("a", 1, None), held("b", 2, None)];
        assert_eq!(select(&old, &policy(None, Some("1h")), &none, day(28)), ["a"]);
        // A running restore reads b.
        let reading = HashSet::from(["b".to_string()]);
        let all = [held("a", 1, None), held("b", 2, None), held("c", 3, None)];
        assert_eq!(select(&all, &policy(Some(1), None), &reading, day(5)), ["a"]);
        // d continues c, which continues b: keeping d keeps its whole chain.
        let chain =
            [held("a", 1, None), held("b", 2, None), held("c", 3, Some("b")), held("d", 4, Some("c"))];
        assert_eq!(select(&chain, &policy(Some(1), None), &none, day(5)), ["a"]);
    }
}
