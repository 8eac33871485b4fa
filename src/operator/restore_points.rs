//! Mirroring a location into `KafkaRestorePoint`s: what a sync (a `KafkaBackupLocation`'s sync
//! Job, or a `KafkaBackup`'s own backup run) found is made the set of restore points its source
//! object lists — new ones created, pruned ones deleted, the rest left as they are (their spec is
//! a manifest's, which never changes; their status is the drills'). A drill's evidence the sync
//! found at the location becomes a restore point's `status.verification` when the point shows
//! none or an older one, so a cluster that only reads the location sees what drills proved.
//!
//! Each restore point is owned by its source (deleted with it) and labelled with it, so the
//! catalog of one source is one list call and a restore point is found by name.

use std::collections::{BTreeMap, HashSet};

use futures::{FutureExt, StreamExt, TryStreamExt};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Resource, ResourceExt};

use super::error::{Error, Result};
use crate::api::restore_point::{
    KafkaRestorePoint, KafkaRestorePointSpec, KafkaRestorePointStatus, RestorePointSource, SOURCE_KIND_LABEL,
    SOURCE_LABEL, Verification,
};
use crate::restore_points::{hashed_name, object_name, supersedes};
use crate::sync::SyncResult;

/// Creates and deletes in flight at once: 1,000 new restore points take seconds, not minutes,
/// without flooding the API server.
const CONCURRENCY: usize = 8;

/// The restore points `source` lists (its own, by owner uid).
pub async fn list<K: Resource<DynamicType = ()>>(
    client: &kube::Client,
    source: &K,
) -> Result<Vec<KafkaRestorePoint>> {
    let api: Api<KafkaRestorePoint> =
        Api::namespaced(client.clone(), &source.namespace().unwrap_or_default());
    let selector = format!("{SOURCE_KIND_LABEL}={},{SOURCE_LABEL}={}", K::kind(&()), source.name_any());
    let uid = source.uid();
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::read("KafkaRestorePoints"))?
        .items
        .into_iter()
        .filter(|p| p.owner_references().iter().any(|o| Some(&o.uid) == uid.as_ref()))
        .collect())
}

/// The backup ids of `points`, for a sync's `known`.
pub fn known(points: &[KafkaRestorePoint]) -> Vec<String> {
    let mut ids: Vec<String> = points.iter().map(|p| p.spec.backup_id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Per backup id, the manifest revision each of `points` shows (those a data erasure rewrote),
/// for a sync's `revisions`.
pub fn revisions(points: &[KafkaRestorePoint]) -> BTreeMap<String, i32> {
    points.iter().filter_map(|p| Some((p.spec.backup_id.clone(), p.spec.revision?))).collect()
}

/// Per backup id, the drill whose verification each of `points` shows, for a sync's `verified`:
/// that drill's evidence is not read again while it is the newest.
pub fn verified(points: &[KafkaRestorePoint]) -> BTreeMap<String, String> {
    points
        .iter()
        .filter_map(|p| {
            let drill = p.status.as_ref()?.verification.as_ref()?.drill.clone()?;
            Some((p.spec.backup_id.clone(), drill))
        })
        .collect()
}

/// What mirroring changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mirrored {
    pub created: usize,
    pub deleted: usize,
    /// Restore points whose `status.verification` was written from a drill's evidence.
    pub verified: usize,
    /// The specs of every restore point the source now lists.
    pub points: Vec<KafkaRestorePointSpec>,
}

/// Makes `existing` (the source's restore points) what `result` found: creates the added ones,
/// deletes those no longer present. A shortened result (`complete: false`) creates but never
/// deletes: it does not say what was pruned.
pub async fn mirror<K: Resource<DynamicType = ()>>(
    client: &kube::Client,
    source: &K,
    existing: Vec<KafkaRestorePoint>,
    result: &SyncResult,
) -> Result<Mirrored> {
    let namespace = source.namespace().unwrap_or_default();
    let api: Api<KafkaRestorePoint> = Api::namespaced(client.clone(), &namespace);
    let present: HashSet<&str> = result.present.iter().map(String::as_str).collect();
    let (keep, gone): (Vec<_>, Vec<_>) =
        existing.into_iter().partition(|p| !result.complete || present.contains(p.spec.backup_id.as_str()));
    let have: HashSet<String> = keep.iter().map(|p| p.spec.backup_id.clone()).collect();
    let owner = source
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Render(format!("{} has no uid yet", source.name_any())))?;
    let labels = BTreeMap::from([
        (SOURCE_LABEL.to_string(), source.name_any()),
        (SOURCE_KIND_LABEL.to_string(), K::kind(&()).to_string()),
        ("app.kubernetes.io/managed-by".to_string(), super::context::MANAGER.to_string()),
        ("app.kubernetes.io/part-of".to_string(), "strimzi-backup".to_string()),
    ]);
    let source_ref = RestorePointSource { kind: K::kind(&()).to_string(), name: source.name_any() };
    let new: Vec<KafkaRestorePoint> = result
        .added
        .iter()
        .filter(|spec| !have.contains(&spec.backup_id))
        .map(|spec| {
            let mut point = KafkaRestorePoint::new(
                &object_name(&source.name_any(), &spec.backup_id),
                KafkaRestorePointSpec { source: source_ref.clone(), ..spec.clone() },
            );
            point.metadata.namespace = Some(namespace.clone());
            point.metadata.labels = Some(labels.clone());
            point.metadata.owner_references = Some(vec![owner.clone()]);
            point
        })
        .collect();
    // A new restore point gets its verification right after it is created. (The futures are
    // boxed so that the controller's spawn can prove them `Send`.)
    let created: Vec<(KafkaRestorePoint, bool)> = futures::stream::iter(new)
        .map(|p| {
            let api = &api;
            async move {
                let created = create(api, p).await?;
                let verified = verify(client, &created, result).await?;
                Ok::<_, Error>((created, verified))
            }
            .boxed()
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut verified = created.iter().filter(|(_, v)| *v).count();
    let created: Vec<KafkaRestorePoint> = created.into_iter().map(|(p, _)| p).collect();
    let deleted = gone.len();
    futures::stream::iter(gone)
        .map(|p| {
            let api = api.clone();
            async move {
                match api.delete(&p.name_any(), &DeleteParams::default()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                    Err(e) => Err(Error::write(format!("KafkaRestorePoint {}", p.name_any()))(e)),
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    // A restore point whose manifest a data erasure rewrote since shows the new revision.
    let mut keep = keep;
    for p in keep.iter_mut() {
        let Some(newer) = result.added.iter().find(|s| {
            s.backup_id == p.spec.backup_id && s.revision.unwrap_or(0) > p.spec.revision.unwrap_or(0)
        }) else {
            continue;
        };
        let spec = KafkaRestorePointSpec { source: p.spec.source.clone(), ..newer.clone() };
        let patch = serde_json::json!({ "spec": spec });
        let name = p.name_any();
        *p = api
            .patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
            .await
            .map_err(Error::write(format!("KafkaRestorePoint {name}")))?;
    }
    let evidenced: Vec<KafkaRestorePoint> =
        keep.iter().filter(|p| result.verifications.contains_key(&p.spec.backup_id)).cloned().collect();
    verified += futures::stream::iter(evidenced)
        .map(|p| async move { verify(client, &p, result).await }.boxed())
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<bool>>()
        .await?
        .into_iter()
        .filter(|v| *v)
        .count();
    let points = keep.into_iter().chain(created.iter().cloned()).map(|p| p.spec).collect();
    Ok(Mirrored { created: created.len(), deleted, verified, points })
}

/// Writes the evidence `result` holds for `point`'s backup as its `status.verification` when the
/// point shows none or an older one (by completion time); true when it wrote.
async fn verify(client: &kube::Client, point: &KafkaRestorePoint, result: &SyncResult) -> Result<bool> {
    let Some(found) = result.verifications.get(&point.spec.backup_id) else { return Ok(false) };
    let shown: Option<&Verification> = point.status.as_ref().and_then(|s| s.verification.as_ref());
    if !supersedes(found, shown) {
        return Ok(false);
    }
    // The rest of the status as it is (the drills' own fields, should it gain any).
    let mut status: KafkaRestorePointStatus = point.status.clone().unwrap_or_default();
    status.verification = Some(found.clone());
    super::status::write(client, point, &point.status, &status).await?;
    Ok(true)
}

/// Creates `point`; when its readable name is taken by another restore point (two ids that
/// read the same once prefixed), under the hashed name instead. One that exists already is
/// taken as created (a sync repeated after a lost answer).
async fn create(api: &Api<KafkaRestorePoint>, mut point: KafkaRestorePoint) -> Result<KafkaRestorePoint> {
    let names = [point.name_any(), hashed_name(&point.spec.source.name, &point.spec.backup_id)];
    for name in &names {
        point.metadata.name = Some(name.clone());
        match api.create(&PostParams::default(), &point).await {
            Ok(created) => return Ok(created),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let there = api.get(name).await.map_err(Error::read(format!("KafkaRestorePoint {name}")))?;
                if there.spec.source == point.spec.source && there.spec.backup_id == point.spec.backup_id {
                    return Ok(there);
                }
            }
            Err(e) => return Err(Error::write(format!("KafkaRestorePoint {name}"))(e)),
        }
    }
    Err(Error::Foreign { kind: "KafkaRestorePoint".into(), name: names.join(" and "), uid: String::new() })
}
