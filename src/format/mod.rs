//! The on-storage format of a backup (manifest version 3, segment version 1; documented in
//! `docs/format.md`, which also describes version 1 and 2 manifests, still read).
//!
//! A backup is a directory of immutable objects: segments holding the records of one partition,
//! and a manifest written last, which is the commit point — a backup without its manifest does
//! not exist for restore, verify or retention, and is cleaned up later.
//!
//! - [`record`]: one Kafka record exactly as consumed, and its binary encoding.
//! - [`codec`]: block compression (zstd, lz4, gzip, snappy, none) and AES-256-GCM encryption.
//! - [`segment`]: segment objects: a header, self-checking blocks of records, a trailer;
//!   written and read one block at a time so memory stays bounded.
//! - [`manifest`]: the manifest (commit point, checksummed) and the object layout under a prefix.
//! - [`metadata`]: the cluster metadata object (ACLs, quotas, SCRAM users) the manifest names.
//! - [`schemas`]: the Schema Registry object the manifest names.
//! - [`strimzi_resources`]: the Strimzi `KafkaTopic`/`KafkaUser` object the manifest names.

pub mod codec;
pub mod data_keys;
pub mod manifest;
pub mod metadata;
pub mod record;
pub mod schemas;
pub mod segment;
pub mod strimzi_resources;
mod varint;

/// How times are written in manifests and results: RFC 3339 in UTC, to the millisecond (record
/// timestamps are milliseconds, so nothing is lost).
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A record timestamp (milliseconds since the epoch) as [`rfc3339`].
pub fn millis_to_rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(rfc3339)
}

/// Version of the segment layout written by this build (unchanged since version 1).
pub const SEGMENT_VERSION: u16 = 1;

/// Version of the manifest written by this build. Version 2 made every manifest a whole restore
/// point (it lists every segment it needs, also those earlier backups of its lineage wrote) and
/// records the identity of what was read (cluster id, topic ids, log start offsets) and lineage
/// breaks. Readers accept exactly the versions in [`MANIFEST_VERSIONS`].
///
/// Version 3 is version 2 plus the objects a manifest may name beside its segments (cluster
/// metadata, Schema Registry contents, Strimzi resources). Their fields are optional, so the
/// layout would parse as version 2; the number changed so that a build that knows only version 2
/// refuses such a manifest by its version ("upgrade the operator") rather than reporting a
/// checksum mismatch over fields it cannot see, which reads as corruption.
pub const MANIFEST_VERSION: u16 = 3;

/// Version of a manifest a data erasure rewrote ([`crate::erase`]): version 3 plus `revision`
/// and the gap reason `Erased`. Written only for such manifests (and later backups inheriting an
/// `Erased` gap), so a build that does not know erasures refuses them by version rather than
/// reading a restore point it would misunderstand; every other manifest stays version 3.
pub const MANIFEST_VERSION_ERASED: u16 = 4;

/// Manifest versions this build reads.
pub const MANIFEST_VERSIONS: [u16; 4] = [1, 2, 3, 4];

/// Parses a JSON object a manifest names beside its segments (cluster metadata, Schema
/// Registry, Strimzi resources): its SHA-256 must be the one the manifest records (`None`: the
/// caller checked it another way), and its own layout version (`version_of`) the one this build
/// writes, `expected`.
pub fn parse_side_object<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    object: &str,
    sha256: Option<&str>,
    version_of: impl Fn(&T) -> u16,
    expected: u16,
) -> Result<T, FormatError> {
    use sha2::Digest;
    if sha256.is_some_and(|want| hex::encode(sha2::Sha256::digest(bytes)) != want) {
        return Err(FormatError::Invalid(format!(
            "{object}: its SHA-256 is not the one the manifest records (altered or replaced)"
        )));
    }
    let parsed: T = serde_json::from_slice(bytes)
        .map_err(|e| FormatError::Invalid(format!("{object}: does not parse: {e}")))?;
    let found = version_of(&parsed);
    if found != expected {
        return Err(FormatError::UnsupportedVersion {
            object: object.to_string(),
            found,
            supported: expected.to_string(),
        });
    }
    Ok(parsed)
}

/// A backup that cannot be read as it should: every variant names where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{object}: not a segment of this format (bad magic at byte 0)")]
    BadMagic { object: String },
    #[error(
        "{object}: format version {found} is not supported by this build (it reads versions {supported})"
    )]
    UnsupportedVersion { object: String, found: u16, supported: String },
    #[error("{object}: corrupted block at byte {byte_offset}: {detail}")]
    Corrupted { object: String, byte_offset: u64, detail: String },
    #[error("{object}: truncated at byte {byte_offset}: {detail}")]
    Truncated { object: String, byte_offset: u64, detail: String },
    #[error(
        "{object}: cannot decrypt block at byte {byte_offset}: wrong encryption key, or the block was altered"
    )]
    Decrypt { object: String, byte_offset: u64 },
    #[error("{object}: encrypted, but no encryption key was given (set backup.encryption.keySecret)")]
    KeyMissing { object: String },
    #[error("{0}")]
    Invalid(String),
    #[error("reading {object}: {source}")]
    Io { object: String, source: std::io::Error },
}
