//! The public API: the three custom resources of group `kafkabackup.com`, version `v1alpha1`.
//!
//! Everything a user writes in YAML is typed here; the CRD schemas (`crdgen`), the admission
//! webhooks and the controllers all derive from these types, so the API has one source of truth.
//! Doc comments on fields become the `kubectl explain` text and the OLM CSV descriptions.

pub mod backup;
pub mod cluster;
pub mod condition;
pub mod offset_reset;
pub mod restore;
pub mod selection;
pub mod storage;
pub mod template;

pub use backup::{KafkaBackup, KafkaBackupSpec, KafkaBackupStatus};
pub use offset_reset::{KafkaOffsetReset, KafkaOffsetResetSpec, KafkaOffsetResetStatus};
pub use restore::{KafkaRestore, KafkaRestoreSpec, KafkaRestoreStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every resource of this operator.
pub const GROUP: &str = "kafkabackup.com";
/// The one served (and stored) version.
pub const VERSION: &str = "v1alpha1";
/// `kubectl get strimzi-backup` lists all three kinds.
pub const CATEGORY: &str = "strimzi-backup";

/// The CustomResourceDefinitions of all three kinds, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![KafkaBackup::crd(), KafkaRestore::crd(), KafkaOffsetReset::crd()]
}
