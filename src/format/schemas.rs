//! The Schema Registry object of a backup (`backups/<id>/schema-registry.json`): the subjects,
//! versions, ids, references, compatibility and modes the registry named by
//! `spec.schemaRegistry` held when the backup ran. Written before the manifest, which names it
//! with its SHA-256 ([`SchemasRef`]): a backup either has it whole or the commit never happened.
//! Registry credentials are never in it (nor the URL's user info).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::FormatError;

/// Version of the object's layout written by this build.
pub const SCHEMAS_VERSION: u16 = 1;

/// The object's name relative to the backup's directory.
pub const OBJECT_NAME: &str = "schema-registry.json";

/// A schema's reference to another subject's version (Confluent's `references[]`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaReference {
    /// The name the referring schema uses (an Avro full name, a JSON `$ref`, a `.proto` import).
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// One version of a subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaVersion {
    pub version: i32,
    /// The registry's global schema id (the one in the 5-byte prefix of serialized records).
    pub id: i32,
    /// `AVRO`, `JSON` or `PROTOBUF` (Confluent leaves it out for Avro: stored as `AVRO`).
    pub schema_type: String,
    /// The schema text as the registry returns it.
    pub schema: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// Soft-deleted in the registry (listed only with `?deleted=true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// One subject with its versions (ascending) and its own settings, when it has any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub subject: String,
    /// Subject-level compatibility (`BACKWARD`, `FULL_TRANSITIVE`, ...); absent: the global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
    /// Subject-level mode (`READWRITE`, `READONLY`, `IMPORT`); absent: the global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub versions: Vec<SchemaVersion>,
}

/// A part of the registry the backup could not read (the registry does not offer it), and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotCaptured {
    /// `globalCompatibility`, `globalMode`, `subjectCompatibility`, `subjectMode`.
    pub what: String,
    pub reason: String,
}

/// The object's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRegistryBackup {
    pub schemas_version: u16,
    pub backup_id: String,
    /// RFC 3339: when it was read (the start of the backup).
    pub captured_at: String,
    /// The registry's URL (without user info).
    pub url: String,
    /// Global compatibility level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
    /// Global mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Subjects by name, soft-deleted ones included.
    pub subjects: Vec<Subject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_captured: Vec<NotCaptured>,
}

/// The manifest's reference to the Schema Registry object, with what it holds so a reader knows
/// without reading it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemasRef {
    /// Object name relative to the storage root.
    pub object: String,
    /// SHA-256 of the object, lowercase hex.
    pub sha256: String,
    /// Subjects held.
    #[serde(default)]
    pub subjects: u32,
    /// Versions held, soft-deleted ones included.
    #[serde(default)]
    pub versions: u32,
    /// Distinct schema ids.
    #[serde(default)]
    pub schema_ids: u32,
    /// Soft-deleted versions.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deleted_versions: u32,
    /// Versions per schema type (`AVRO`: 3).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schema_types: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_captured: Vec<NotCaptured>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SchemaRegistryBackup {
    /// Every version with its subject.
    pub fn versions(&self) -> impl Iterator<Item = (&str, &SchemaVersion)> {
        self.subjects.iter().flat_map(|s| s.versions.iter().map(move |v| (s.subject.as_str(), v)))
    }

    /// The object's bytes and the manifest's reference to it (named `object`).
    pub fn to_object(&self, object: String) -> Result<(Vec<u8>, SchemasRef), FormatError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| FormatError::Invalid(format!("schema registry: {e}")))?;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let ids: std::collections::BTreeSet<i32> = self.versions().map(|(_, v)| v.id).collect();
        let reference = SchemasRef {
            object,
            sha256: hex::encode(Sha256::digest(&bytes)),
            subjects: count(self.subjects.len()),
            versions: count(self.versions().count()),
            schema_ids: count(ids.len()),
            deleted_versions: count(self.versions().filter(|(_, v)| v.deleted).count()),
            schema_types: self.versions().fold(BTreeMap::new(), |mut m, (_, v)| {
                *m.entry(v.schema_type.clone()).or_insert(0) += 1;
                m
            }),
            not_captured: self.not_captured.clone(),
        };
        Ok((bytes, reference))
    }

    /// Parses the object, checking it against the manifest's reference.
    pub fn from_object(bytes: &[u8], reference: &SchemasRef) -> Result<Self, FormatError> {
        super::parse_side_object(
            bytes,
            &reference.object,
            Some(&reference.sha256),
            |s: &Self| s.schemas_version,
            SCHEMAS_VERSION,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> SchemaRegistryBackup {
        let v = |version, id, schema_type: &str, references: Vec<SchemaReference>, deleted| SchemaVersion {
            version,
            id,
            schema_type: schema_type.into(),
            schema: format!("schema {id}"),
            references,
            deleted,
        };
        SchemaRegistryBackup {
            schemas_version: SCHEMAS_VERSION,
            backup_id: "b1".into(),
            captured_at: "2026-12-03T02:00:00.000Z".into(),
            url: "http://registry:8080/apis/ccompat/v7".into(),
            compatibility: Some("BACKWARD".into()),
            mode: Some("READWRITE".into()),
            subjects: vec![
                Subject {
                    subject: "common".into(),
                    compatibility: None,
                    mode: None,
                    versions: vec![v(1, 1, "AVRO", vec![], false)],
                },
                Subject {
                    subject: "orders-value".into(),
                    compatibility: Some("FULL".into()),
                    mode: None,
                    versions: vec![
                        v(
                            1,
                            2,
                            "AVRO",
                            vec![SchemaReference { name: "c".into(), subject: "common".into(), version: 1 }],
                            false,
                        ),
                        v(2, 3, "AVRO", vec![], true),
                    ],
                },
                Subject {
                    subject: "events-value".into(),
                    compatibility: None,
                    mode: None,
                    versions: vec![v(1, 1, "JSON", vec![], false)],
                },
            ],
            not_captured: vec![],
        }
    }

    #[test]
    fn round_trips_against_its_reference_counts_and_detects_changes() {
        let b = sample();
        let (bytes, r) = b.to_object("p/backups/b1/schema-registry.json".into()).expect("object");
        assert_eq!((r.subjects, r.versions, r.schema_ids, r.deleted_versions), (3, 4, 3, 1));
        assert_eq!(r.schema_types, BTreeMap::from([("AVRO".into(), 3), ("JSON".into(), 1)]));
        assert_eq!(SchemaRegistryBackup::from_object(&bytes, &r).expect("reads"), b);
        let text = String::from_utf8(bytes).expect("utf8");
        let changed = text.replace("orders-value", "orders-valuf");
        let err = SchemaRegistryBackup::from_object(changed.as_bytes(), &r).expect_err("changed");
        assert!(err.to_string().contains("SHA-256"), "{err}");
    }
}
