//! The cluster metadata object of a backup (`backups/<id>/cluster-metadata.json`): the ACLs,
//! client quotas and SCRAM users' mechanisms the source cluster had when the backup ran. It is
//! written before the manifest, which names it with its SHA-256 ([`MetadataRef`]): a backup
//! either has it whole or the commit never happened. Kafka never reveals SCRAM credentials, so
//! none are in it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::FormatError;

/// Version of the object's layout written by this build.
pub const METADATA_VERSION: u16 = 1;

/// The object's name relative to the backup's directory.
pub const OBJECT_NAME: &str = "cluster-metadata.json";

/// What the object says of SCRAM credentials, in the object itself.
pub const SCRAM_NOTE: &str = "Kafka never reveals SCRAM credentials (salt and salted password), only \
     each user's mechanisms and iterations: these are recorded, the credentials are not, and a \
     restore cannot recreate the users (set their passwords again, e.g. with Strimzi KafkaUsers)";

/// One ACL binding, in Kafka's names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AclEntry {
    /// `TOPIC`, `GROUP`, `CLUSTER`, `TRANSACTIONAL_ID`.
    pub resource_type: String,
    pub resource_name: String,
    /// `LITERAL` or `PREFIXED`.
    pub pattern_type: String,
    /// `User:alice`.
    pub principal: String,
    /// `*` for every host.
    pub host: String,
    /// `READ`, `WRITE`, `DESCRIBE`, `ALL`, ...
    pub operation: String,
    /// `ALLOW` or `DENY`.
    pub permission_type: String,
}

impl fmt::Display for AclEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} on {} {}:{} from {}",
            self.principal,
            self.permission_type,
            self.operation,
            self.pattern_type,
            self.resource_type,
            self.resource_name,
            self.host
        )
    }
}

/// One component of a quota entity: `user`, `client-id` or `ip`, and its name (none: the
/// default entity of that type).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaEntity {
    pub entity_type: String,
    /// Absent for the default (`<default>` in Kafka's tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_name: Option<String>,
}

impl fmt::Display for QuotaEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.entity_type, self.entity_name.as_deref().unwrap_or("<default>"))
    }
}

/// The quota values of one entity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaEntry {
    /// Its components, sorted by type.
    pub entity: Vec<QuotaEntity>,
    /// `producer_byte_rate`, `consumer_byte_rate`, `request_percentage`,
    /// `controller_mutation_rate`, `connection_creation_rate`.
    pub values: BTreeMap<String, f64>,
}

/// A SCRAM mechanism a user has credentials for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScramCredential {
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    pub iterations: i32,
}

/// A user with SCRAM credentials.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScramUser {
    pub user: String,
    pub credentials: Vec<ScramCredential>,
}

/// A part of the metadata the backup could not read, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotCaptured {
    /// `acls`, `quotas` or `scramUsers`.
    pub what: String,
    pub reason: String,
}

/// The object's content. A part is absent when it was not captured (`notCaptured` says why),
/// and an empty list when the cluster had none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterMetadata {
    pub metadata_version: u16,
    pub backup_id: String,
    /// RFC 3339: when it was read (the start of the backup).
    pub captured_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acls: Option<Vec<AclEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<Vec<QuotaEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scram_users: Option<Vec<ScramUser>>,
    /// [`SCRAM_NOTE`].
    pub scram_credentials: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_captured: Vec<NotCaptured>,
}

/// How the manifest names the object: its name, checksum and what it holds, so a reader knows
/// without reading it what was captured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataRef {
    /// Object name relative to the storage root.
    pub object: String,
    /// SHA-256 of the object, lowercase hex.
    pub sha256: String,
    /// ACL bindings held (absent: not captured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acls: Option<u32>,
    /// Quota entities held (absent: not captured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<u32>,
    /// SCRAM users held (absent: not captured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scram_users: Option<u32>,
    /// Users per SCRAM mechanism (`SCRAM-SHA-512`: 3).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scram_mechanisms: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_captured: Vec<NotCaptured>,
}

impl ClusterMetadata {
    /// The object's bytes and the manifest's reference to it (named `object`).
    pub fn to_object(&self, object: String) -> Result<(Vec<u8>, MetadataRef), FormatError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| FormatError::Invalid(format!("cluster metadata: {e}")))?;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let reference = MetadataRef {
            object,
            sha256: hex::encode(Sha256::digest(&bytes)),
            acls: self.acls.as_ref().map(|a| count(a.len())),
            quotas: self.quotas.as_ref().map(|q| count(q.len())),
            scram_users: self.scram_users.as_ref().map(|s| count(s.len())),
            scram_mechanisms: self.scram_users.iter().flatten().flat_map(|u| &u.credentials).fold(
                BTreeMap::new(),
                |mut m, c| {
                    *m.entry(c.mechanism.clone()).or_insert(0) += 1;
                    m
                },
            ),
            not_captured: self.not_captured.clone(),
        };
        Ok((bytes, reference))
    }

    /// Parses the object, checking it against the manifest's reference.
    pub fn from_object(bytes: &[u8], reference: &MetadataRef) -> Result<Self, FormatError> {
        super::parse_side_object(
            bytes,
            &reference.object,
            Some(&reference.sha256),
            |m: &Self| m.metadata_version,
            METADATA_VERSION,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ClusterMetadata {
        ClusterMetadata {
            metadata_version: METADATA_VERSION,
            backup_id: "b1".into(),
            captured_at: "2026-12-03T02:00:00.000Z".into(),
            acls: Some(vec![AclEntry {
                resource_type: "TOPIC".into(),
                resource_name: "orders".into(),
                pattern_type: "LITERAL".into(),
                principal: "User:alice".into(),
                host: "*".into(),
                operation: "READ".into(),
                permission_type: "ALLOW".into(),
            }]),
            quotas: Some(vec![QuotaEntry {
                entity: vec![QuotaEntity { entity_type: "user".into(), entity_name: None }],
                values: BTreeMap::from([("producer_byte_rate".into(), 1048576.0)]),
            }]),
            scram_users: None,
            scram_credentials: SCRAM_NOTE.into(),
            not_captured: vec![NotCaptured { what: "scramUsers".into(), reason: "denied".into() }],
        }
    }

    #[test]
    fn round_trips_against_its_reference_and_detects_changes() {
        let m = sample();
        let (bytes, r) = m.to_object("p/backups/b1/cluster-metadata.json".into()).expect("object");
        assert_eq!((r.acls, r.quotas, r.scram_users), (Some(1), Some(1), None));
        assert_eq!(ClusterMetadata::from_object(&bytes, &r).expect("reads"), m);
        let text = String::from_utf8(bytes).expect("utf8");
        assert!(text.contains("\"entityType\": \"user\"") && !text.contains("entityName"), "{text}");
        let changed = text.replace("alice", "mallory");
        let err = ClusterMetadata::from_object(changed.as_bytes(), &r).expect_err("changed");
        assert!(err.to_string().contains("SHA-256"), "{err}");
    }
}
