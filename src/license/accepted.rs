//! Enterprise settings accepted under a valid licence, remembered beyond the object that used
//! them. SPEC §4 promises that licence expiry never stops an existing schedule from protecting
//! data; a `KafkaBackup` deleted and applied again identically (a GitOps re-sync, a namespace or
//! cluster rebuilt from manifests) is the same schedule, yet it has no status, so what its status
//! remembered (`licensedSettings`) is gone, and without more it would be refused — or, worse,
//! re-applied without encryption to get past the refusal.
//!
//! So the controller, whenever a valid licence accepts Enterprise settings, also creates a
//! record: an empty, labelled ConfigMap in the operator's namespace, named by
//! `api::enterprise::record_name` from the object's namespace and name, its storage block and
//! the settings' fingerprint. Its existence is the whole record. The webhook (on a create) and
//! the controller (with no status) look for it; found, the settings keep protecting data under a
//! lapsed licence, as they would have had the object never been deleted.
//!
//! Why a ConfigMap in the operator's namespace, not the storage location's owner marker: the
//! webhook must answer before the object exists, with no storage credentials (reading them would
//! need `get secrets` in every namespace), and tenants cannot write the operator's namespace, so
//! nobody forges a record for settings never licensed. Records are create-only (the operator's
//! ClusterRole has `get, create` on ConfigMaps and nothing more), never updated; each is a few
//! hundred bytes. A cluster rebuilt from scratch keeps them only if the operator's namespace is
//! restored too; without them a valid licence is needed once more.
//!
//! Its room: `kube` only (names are computed by the caller), below both the webhook and the
//! operator.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::warn;

/// The label every record carries, to list (or restore) them all.
pub const LABEL: &str = "kafkabackup.com/licensed-settings";

/// Annotations on a record saying what it vouches for, for people.
pub const ABOUT: &str = "kafkabackup.com/accepted-for";

/// The records, in the operator's namespace.
#[derive(Clone)]
pub struct AcceptedSettings {
    api: Api<ConfigMap>,
}

impl AcceptedSettings {
    pub fn new(client: Client, operator_namespace: &str) -> Self {
        Self { api: Api::namespaced(client, operator_namespace) }
    }

    /// Whether the record `name` exists. Without the right to read ConfigMaps in the operator's
    /// namespace (an install whose RBAC predates records) there are no records: logged, and the
    /// settings are judged as the object alone says — never an error that stops its backups.
    pub async fn recorded(&self, name: &str) -> Result<bool, kube::Error> {
        match self.api.get_metadata_opt(name).await {
            Ok(found) => Ok(found.is_some()),
            Err(kube::Error::Api(s)) if s.code == 403 => {
                warn!(
                    record = name,
                    "cannot read licence records (no get on ConfigMaps in the operator's namespace): {}",
                    s.message
                );
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates the record `name` unless it exists; `about` says for whom (e.g. `KafkaBackup
    /// ns/name`).
    pub async fn record(&self, name: &str, about: &str) -> Result<(), kube::Error> {
        let record = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(BTreeMap::from([
                    (LABEL.into(), "true".into()),
                    ("app.kubernetes.io/part-of".into(), "strimzi-backup".into()),
                    ("app.kubernetes.io/managed-by".into(), "strimzi-backup-operator".into()),
                ])),
                annotations: Some(BTreeMap::from([(ABOUT.into(), about.into())])),
                ..Default::default()
            },
            ..Default::default()
        };
        match self.api.create(&PostParams::default(), &record).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            // As in `recorded`: without the right, no record; the backup itself goes on.
            Err(kube::Error::Api(s)) if s.code == 403 => {
                warn!(
                    record = name,
                    "cannot create the licence record (no create on ConfigMaps in the operator's namespace): {}",
                    s.message
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
