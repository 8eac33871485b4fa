//! The Strimzi resources object of a backup (`backups/<id>/strimzi-resources.json`): the
//! `KafkaTopic` and `KafkaUser` custom resources of the backed-up cluster, as declared when the
//! backup ran (`backup.strimziResources`). Written before the manifest, which names it with its
//! SHA-256 ([`StrimziResourcesRef`]).

use serde::{Deserialize, Serialize};

/// The object's name relative to the backup's directory.
pub const OBJECT_NAME: &str = "strimzi-resources.json";

/// The manifest's reference to the Strimzi resources object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrimziResourcesRef {
    /// Object name relative to the storage root.
    pub object: String,
    /// SHA-256 of the object, lowercase hex.
    pub sha256: String,
}
