//! The public API: the custom resources of group `kafkabackup.com`, version `v1alpha1`.
//!
//! Everything a user writes in YAML is typed here; the CRD schemas (`crdgen`), the admission
//! webhooks and the controllers all derive from these types, so the API has one source of truth.
//! Doc comments on fields become the `kubectl explain` text and the OLM CSV descriptions.

pub mod backup;
pub mod backup_reason;
pub mod backup_schedule;
pub mod cluster;
pub mod condition;
pub mod defaults;
pub mod drill;
pub mod duration;
pub mod enterprise;
pub mod erasure;
pub mod kms;
pub mod location;
pub mod masking;
pub mod offset_reset;
pub mod privilege;
pub mod restore;
pub mod restore_point;
pub mod restore_policy;
pub mod rules;
pub mod run;
pub mod schedule;
pub mod schema_registry;
pub mod secrets;
pub mod selection;
pub mod storage;
pub mod template;
pub mod tenancy;
pub mod validation;

pub use backup::{KafkaBackup, KafkaBackupSpec, KafkaBackupStatus};
pub use backup_schedule::{KafkaBackupSchedule, KafkaBackupScheduleSpec, KafkaBackupScheduleStatus};
pub use drill::{KafkaRestoreDrill, KafkaRestoreDrillSpec, KafkaRestoreDrillStatus};
pub use erasure::{KafkaDataErasure, KafkaDataErasureSpec, KafkaDataErasureStatus};
pub use location::{KafkaBackupLocation, KafkaBackupLocationSpec, KafkaBackupLocationStatus};
pub use offset_reset::{KafkaOffsetReset, KafkaOffsetResetSpec, KafkaOffsetResetStatus};
pub use restore::{KafkaRestore, KafkaRestoreSpec, KafkaRestoreStatus};
pub use restore_point::{KafkaRestorePoint, KafkaRestorePointSpec, KafkaRestorePointStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

/// API group of every resource of this operator.
pub const GROUP: &str = "kafkabackup.com";
/// The one served (and stored) version.
pub const VERSION: &str = "v1alpha1";
/// `kubectl get strimzi-backup` lists every kind.
pub const CATEGORY: &str = "strimzi-backup";

/// The CustomResourceDefinitions of every kind, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        KafkaBackup::crd(),
        KafkaRestore::crd(),
        KafkaOffsetReset::crd(),
        KafkaBackupLocation::crd(),
        KafkaRestorePoint::crd(),
        KafkaRestoreDrill::crd(),
        KafkaBackupSchedule::crd(),
        KafkaDataErasure::crd(),
    ];
    for crd in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
                unwrap_descriptions(schema);
            }
        }
    }
    crds
}

/// Doc comments arrive with their source line breaks; `kubectl explain` and the OLM console
/// reflow text themselves, so single line breaks become spaces and paragraphs stay.
fn unwrap_descriptions(schema: &mut JSONSchemaProps) {
    if let Some(d) = schema.description.as_mut() {
        *d = d
            .split("\n\n")
            .map(|paragraph| paragraph.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n\n");
    }
    let children = schema.properties.iter_mut().flat_map(|p| p.values_mut());
    let items = schema.items.iter_mut().filter_map(|i| match i {
        JSONSchemaPropsOrArray::Schema(s) => Some(s.as_mut()),
        JSONSchemaPropsOrArray::Schemas(_) => None,
    });
    let additional = schema.additional_properties.iter_mut().filter_map(|a| match a {
        JSONSchemaPropsOrBool::Schema(s) => Some(s.as_mut()),
        JSONSchemaPropsOrBool::Bool(_) => None,
    });
    for child in children.chain(items).chain(additional) {
        unwrap_descriptions(child);
    }
}

#[cfg(test)]
mod tests;
