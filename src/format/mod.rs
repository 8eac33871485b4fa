//! The on-storage format of a backup (format version 1, documented in `docs/format.md`).
//!
//! A backup is a directory of immutable objects: segments holding the records of one partition,
//! and a manifest written last, which is the commit point — a backup without its manifest does
//! not exist for restore, verify or retention, and is cleaned up later.
//!
//! - [`record`]: one Kafka record exactly as consumed, and its binary encoding.
//! - [`codec`]: block compression (zstd, lz4, none) and AES-256-GCM encryption.
//! - [`segment`]: segment objects: a header, self-checking blocks of records, a trailer;
//!   written and read one block at a time so memory stays bounded.
//! - [`manifest`]: the manifest (commit point, checksummed) and the object layout under a prefix.

pub mod codec;
pub mod manifest;
pub mod record;
pub mod segment;
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

/// Version of the format written by this build; readers accept exactly the versions they know.
pub const FORMAT_VERSION: u16 = 1;

/// A backup that cannot be read as it should: every variant names where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{object}: not a segment of this format (bad magic at byte 0)")]
    BadMagic { object: String },
    #[error(
        "{object}: format version {found} is not supported by this build (it reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion { object: String, found: u16 },
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
