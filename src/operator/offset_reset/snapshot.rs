//! Offset snapshots as ConfigMaps: written for a reset's offsets from before (and a restore's
//! rollback snapshot), and mounted into a `to-snapshot` reset's Job, which rolls back to them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, KeyToPath, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::{Resource, ResourceExt};

use super::run_config::{SNAPSHOT_DIR, SNAPSHOT_KEY};
use crate::api::cluster::ClusterConnection;
use crate::api::run::RunReason;
use crate::offset_reset::Snapshot;
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::launch;
use crate::operator::oneshot::Wait;
use crate::operator::storage_access::StorageAccess;

/// An offset snapshot as a ConfigMap owned by `owner` (a restore's rollback snapshot, a reset's
/// offsets from before): `snapshot.json` in the format `to-snapshot` reads.
pub fn config_map<K: Resource<DynamicType = ()>>(
    owner: &K,
    cluster: &ClusterConnection,
    snapshot: &Snapshot,
) -> Result<ConfigMap> {
    let json = serde_json::to_string_pretty(snapshot).map_err(|e| Error::Render(e.to_string()))?;
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(crate::operator::job::child_name(&owner.name_any(), "offset-snapshot")),
            namespace: owner.namespace(),
            labels: Some(launch::labels(owner, "offset-snapshot", cluster)),
            owner_references: owner.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(SNAPSHOT_KEY.to_string(), json)])),
        ..Default::default()
    })
}

/// Mounts the snapshot ConfigMap `name` of `ns` into the Job through `access`, or says why the
/// reset must wait: the ConfigMap is missing or holds no snapshot.
pub async fn mount(ctx: &Context, ns: &str, name: &str, access: &mut StorageAccess) -> Result<Option<Wait>> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let found = cms.get_opt(name).await.map_err(Error::read(format!("ConfigMap {name}")))?;
    if !found.as_ref().and_then(|c| c.data.as_ref()).is_some_and(|d| d.contains_key(SNAPSHOT_KEY)) {
        let message = format!(
            "spec.snapshotRef: ConfigMap {ns}/{name} {} — name the ConfigMap from a KafkaRestore's status.offsetSnapshot or a KafkaOffsetReset's status.snapshotRef",
            if found.is_some() { format!("has no key {SNAPSHOT_KEY}") } else { "not found".into() }
        );
        return Ok(Some(Wait { reason: RunReason::SnapshotNotFound, action: "ResolveSnapshot", message }));
    }
    access.volumes.push(Volume {
        name: "snapshot".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: name.to_string(),
            items: Some(vec![KeyToPath { key: SNAPSHOT_KEY.into(), path: SNAPSHOT_KEY.into(), mode: None }]),
            ..Default::default()
        }),
        ..Default::default()
    });
    access.mounts.push(VolumeMount {
        name: "snapshot".into(),
        mount_path: SNAPSHOT_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    });
    Ok(None)
}
