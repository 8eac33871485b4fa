//! The Schema Registry object of a backup (`backups/<id>/schema-registry.json`): the subjects,
//! versions, ids, references, compatibility and modes the registry named by
//! `spec.schemaRegistry` held when the backup ran. Written before the manifest, which names it
//! with its SHA-256 ([`SchemasRef`]): a backup either has it whole or the commit never happened.

use serde::{Deserialize, Serialize};

/// The object's name relative to the backup's directory.
pub const OBJECT_NAME: &str = "schema-registry.json";

/// The manifest's reference to the Schema Registry object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemasRef {
    /// Object name relative to the storage root.
    pub object: String,
    /// SHA-256 of the object, lowercase hex.
    pub sha256: String,
}
