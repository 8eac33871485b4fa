//! `sync`: what a storage location holds, for the operator to mirror as `KafkaRestorePoint`s.
//!
//! Incremental and bounded: manifests never change once committed, so a backup the cluster
//! already knows (`known`) costs one HEAD to confirm it is still there, and only the others are
//! read — each summarised and dropped before the next. The location is listed one level deep
//! (`backups/<id>/`), so the cost grows with the number of backups, not of segments.
//!
//! Restore drills' evidence (`verifications/<id>/<drillId>.json`, [`crate::drill::evidence`]) is
//! listed once, whole, folded into the newest object per backup as the pages come (memory grows
//! with the backups, not the drills); only the newest evidence of a present backup is read, and
//! not when the cluster already shows that drill (`verified`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::api::restore_point::{KafkaRestorePointSpec, Verification};
use crate::api::storage::StorageSpec;
use crate::drill::evidence::Evidence;
use crate::restore_points::NewestEvidence;
use crate::storage::Storage;

/// Requests in flight against the store at once.
const CONCURRENCY: usize = 16;

/// What `sync` is told.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncConfig {
    pub storage: StorageSpec,
    /// Backup ids the cluster already has restore points for: confirmed, not read again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known: Vec<String>,
    /// Per known backup id, the manifest revision the cluster's restore point shows (absent: 0,
    /// as committed). A data erasure's marker of a newer revision makes `sync` read it again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revisions: BTreeMap<String, i32>,
    /// Per backup id, the drill whose verification the cluster's restore point shows: when that
    /// drill's evidence is still the newest, it is not read again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub verified: BTreeMap<String, String>,
    #[serde(default = "filesystem_root")]
    pub filesystem_root: PathBuf,
}

fn filesystem_root() -> PathBuf {
    PathBuf::from(crate::storage::FILESYSTEM_MOUNT)
}

/// What the location holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    pub location: String,
    /// Every committed backup at the location this build can read or already knew, sorted. A
    /// restore point not in it was pruned.
    pub present: Vec<String>,
    /// Summaries of the committed backups not in `known`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<KafkaRestorePointSpec>,
    /// Manifests this build cannot read (damaged, or a newer format): object and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
    /// Per present backup id, the newest evidence a restore drill left at the location (unless
    /// the cluster already shows that drill: `verified`), as the restore point's verification.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub verifications: BTreeMap<String, Verification>,
    /// The `KafkaBackup` that owns the location (`namespace/name`), from its owner marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// False in the shortened form of a termination message: then it says nothing about what
    /// was pruned, and the operator syncs again rather than act on it.
    #[serde(default = "complete")]
    pub complete: bool,
}

fn complete() -> bool {
    true
}

/// A manifest that could not be read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unreadable {
    pub object: String,
    pub error: String,
}

impl SyncResult {
    /// Small enough for a termination message (4 KiB): counts, not contents.
    pub fn summary(&self) -> Self {
        Self {
            location: self.location.clone(),
            present: self.present.iter().take(20).cloned().collect(),
            added: Vec::new(),
            unreadable: self.unreadable.iter().take(3).cloned().collect(),
            verifications: BTreeMap::new(),
            owner: self.owner.clone(),
            complete: false,
        }
    }
}

/// One backup directory, as the listing found it.
enum Found {
    /// Committed, and the cluster knows it.
    Known(String),
    /// Committed and new: its summary.
    Added(Box<KafkaRestorePointSpec>),
    /// A directory without a manifest: a backup running or killed, or a pruned one's leftovers.
    Uncommitted,
    Unreadable(Unreadable),
}

pub async fn run(cfg: &SyncConfig) -> anyhow::Result<SyncResult> {
    let storage = crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    let revised = revised(&storage).await?;
    let known = still_known(&cfg.known, &cfg.revisions, &revised);
    sync(&storage, &known, &cfg.verified).await
}

/// The `known` backup ids that need no reading: a known restore point a data erasure gave a
/// newer revision (`revised`, from its markers) than the cluster's shows (`shown`, absent: 0) is
/// read again, so its records and gaps follow the rewritten manifest. Pure.
pub fn still_known(
    known: &[String],
    shown: &BTreeMap<String, i32>,
    revised: &BTreeMap<String, i32>,
) -> Vec<String> {
    known
        .iter()
        .filter(|id| revised.get(*id).is_none_or(|r| *r <= shown.get(*id).copied().unwrap_or(0)))
        .cloned()
        .collect()
}

/// The newest revision per backup id that data erasures left markers of
/// (`erasures/<id>/revised/<backup-id>.<n>`, [`crate::erase`]): one listing of `erasures/`.
async fn revised(storage: &Storage) -> anyhow::Result<BTreeMap<String, i32>> {
    let dir = object_store::path::Path::from(storage.layout.erasures_dir().trim_end_matches('/'));
    let mut newest: BTreeMap<String, i32> = BTreeMap::new();
    let mut listing = storage.store.list(Some(&dir));
    while let Some(meta) = listing.next().await {
        let meta = meta.with_context(|| format!("listing the data erasures in {}", storage.location))?;
        if let Some((backup, revision)) = storage.layout.erasure_revised_of(meta.location.as_ref()) {
            let revision = i32::try_from(revision).unwrap_or(i32::MAX);
            let held = newest.entry(backup.to_string()).or_default();
            *held = (*held).max(revision);
        }
    }
    Ok(newest)
}

/// Lists `storage` against what the cluster `known`s and the drills it shows (`verified`).
pub async fn sync(
    storage: &Storage,
    known: &[String],
    verified: &BTreeMap<String, String>,
) -> anyhow::Result<SyncResult> {
    let owner = crate::location::read(storage)
        .await?
        .filter(|m| m.owner.kind == "KafkaBackup")
        .map(|m| owner_text(&m.owner));
    let ids = crate::catalog::backup_dirs(storage).await?;
    let known: std::collections::HashSet<&str> = known.iter().map(String::as_str).collect();
    let manifests = futures::stream::iter(ids)
        .map(|id| {
            let owner = owner.clone();
            let is_known = known.contains(id.as_str());
            async move { look(storage, id, is_known, owner).await }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<Found>>();
    // The one listing of the drills' evidence runs beside the manifests' reads.
    let (found, evidence) = futures::join!(manifests, newest_evidence(storage));
    let found = found?;
    let mut result =
        SyncResult { location: storage.location.clone(), owner, complete: true, ..Default::default() };
    for f in found {
        match f {
            Found::Known(id) => result.present.push(id),
            Found::Added(spec) => {
                result.present.push(spec.backup_id.clone());
                result.added.push(*spec);
            }
            Found::Uncommitted => {}
            Found::Unreadable(u) => result.unreadable.push(u),
        }
    }
    result.present.sort();
    result.added.sort_by(|a, b| a.backup_id.cmp(&b.backup_id));
    result.verifications = read_evidence(storage, &result.present, &evidence, verified).await;
    tracing::info!(location = %result.location, present = result.present.len(), added = result.added.len(),
        unreadable = result.unreadable.len(), evidence = evidence.len(), verifications = result.verifications.len(),
        "synced");
    Ok(result)
}

/// The newest evidence object per backup id under `verifications/`, from one listing. Evidence is
/// advisory: a listing that fails is logged and taken as none, never failing the sync.
async fn newest_evidence(storage: &Storage) -> NewestEvidence {
    let dir = object_store::path::Path::from(storage.layout.verifications_dir().trim_end_matches('/'));
    let mut newest = NewestEvidence::default();
    let mut listing = storage.store.list(Some(&dir));
    while let Some(meta) = listing.next().await {
        match meta {
            Ok(meta) => {
                if let Some((backup, drill)) = storage.layout.verification_of(meta.location.as_ref()) {
                    newest.offer(backup, drill, meta.last_modified);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, location = %storage.location,
                    "listing the drills' evidence failed; restore points are synced without it");
                return NewestEvidence::default();
            }
        }
    }
    newest
}

/// Reads the newest evidence of each `present` backup that has one the cluster does not show
/// (`verified`): one GET each, at most [`CONCURRENCY`] at once. One that cannot be read is logged
/// and left out.
async fn read_evidence(
    storage: &Storage,
    present: &[String],
    evidence: &NewestEvidence,
    verified: &BTreeMap<String, String>,
) -> BTreeMap<String, Verification> {
    let wanted = present.iter().filter_map(|id| {
        let newest = evidence.of(id)?;
        let shown = verified.get(id).is_some_and(|d| *d == newest.drill_id);
        (!shown).then(|| (id.clone(), storage.layout.verification(id, &newest.drill_id)))
    });
    futures::stream::iter(wanted)
        .map(|(id, name)| async move {
            match read_one(storage, &name).await {
                Ok(e) if e.result.backup_id == id => Some((id, crate::restore_points::verification_of(&e.result))),
                Ok(e) => {
                    tracing::warn!(object = %name, backup = %e.result.backup_id,
                        "skipping evidence that names another backup than its path");
                    None
                }
                Err(e) => {
                    tracing::warn!(object = %name, error = %format!("{e:#}"), "skipping evidence this build cannot read");
                    None
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(std::future::ready)
        .collect()
        .await
}

async fn read_one(storage: &Storage, name: &str) -> anyhow::Result<Evidence> {
    let path = object_store::path::Path::from(name);
    let bytes = storage.store.get(&path).await?.bytes().await.with_context(|| format!("reading {name}"))?;
    Evidence::from_json(&bytes, name)
}

/// The same answer from a scan a backup run made anyway (after its own commit and pruning): what
/// is left of `scan` once `pruned` went, with summaries of those not `known`.
pub fn from_scan(
    location: &str,
    scan: &crate::catalog::Scan,
    pruned: &[String],
    known: &[String],
    owner: Option<String>,
) -> SyncResult {
    let kept = scan.manifests.iter().filter(|m| !pruned.contains(&m.backup_id));
    let mut result =
        SyncResult { location: location.into(), owner: owner.clone(), complete: true, ..Default::default() };
    for m in kept {
        result.present.push(m.backup_id.clone());
        // A revised manifest (data erasure) is summarised again: the mirror updates a restore
        // point showing an older revision.
        if !known.contains(&m.backup_id) || m.revision.is_some() {
            result.added.push(crate::restore_points::summarize(m, owner.clone()));
        }
    }
    result.unreadable = scan
        .unreadable
        .iter()
        .map(|(object, error)| Unreadable { object: object.clone(), error: error.clone() })
        .collect();
    result.present.sort();
    result.added.sort_by(|a, b| a.backup_id.cmp(&b.backup_id));
    result
}

/// How a location owner is shown in a restore point (`namespace/name`).
pub fn owner_text(owner: &crate::location::Owner) -> String {
    match &owner.namespace {
        Some(ns) => format!("{ns}/{}", owner.name),
        None => owner.name.clone(),
    }
}

async fn look(storage: &Storage, id: String, known: bool, owner: Option<String>) -> anyhow::Result<Found> {
    let name = storage.layout.manifest(&id);
    let path = object_store::path::Path::from(name.as_str());
    if known {
        return match storage.store.head(&path).await {
            Ok(_) => Ok(Found::Known(id)),
            Err(object_store::Error::NotFound { .. }) => Ok(Found::Uncommitted),
            Err(e) => Err(anyhow::Error::new(e).context(format!("checking {name}"))),
        };
    }
    let bytes = match storage.store.get(&path).await {
        Ok(got) => got.bytes().await.with_context(|| format!("reading {name}"))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(Found::Uncommitted),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {name}"))),
    };
    match crate::format::manifest::Manifest::from_json(&bytes, &name) {
        Ok(m) if m.backup_id == id => Ok(Found::Added(Box::new(crate::restore_points::summarize(&m, owner)))),
        Ok(m) => Ok(Found::Unreadable(Unreadable {
            object: name,
            error: format!("the manifest names backup {}, not the {id} of its path", m.backup_id),
        })),
        Err(e) => {
            tracing::warn!(object = %name, error = %e, "skipping a manifest this build cannot read");
            Ok(Found::Unreadable(Unreadable { object: name, error: e.to_string() }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_point_a_data_erasure_rewrote_is_read_again_until_the_cluster_shows_its_revision() {
        let known: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let revised = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2)]);
        // The cluster shows every restore point as committed: a and b are read again.
        assert_eq!(still_known(&known, &BTreeMap::new(), &revised), ["c"]);
        // It shows a's revision 1 and b's revision 1: only b (now at 2) is read again.
        let shown = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 1)]);
        assert_eq!(still_known(&known, &shown, &revised), ["a", "c"]);
        // No erasure: nothing is read again.
        assert_eq!(still_known(&known, &shown, &BTreeMap::new()), known);
    }
}
