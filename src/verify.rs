//! `verify`: reads a stored backup end to end and checks it against its manifest — every
//! segment's SHA-256 and size, every block's checksums, record counts, offset order and ranges,
//! timestamps, and that segments and gaps account for every offset of each partition. Problems
//! name the object and the byte or offset; any problem makes the command fail.

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

use crate::api::storage::StorageSpec;
use crate::format::codec::EncryptionKey;
use crate::format::manifest::SegmentEntry;
use crate::format::segment::SegmentReader;
use crate::storage::Storage;

/// What `verify` reads: the storage block (a backup config file works as is) and the key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyConfig {
    pub storage: StorageSpec,
    /// The backup to check; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_file: Option<PathBuf>,
    #[serde(default = "filesystem_root")]
    pub filesystem_root: PathBuf,
    /// `delete` only: who may delete the location's backups (its owner, [`crate::location`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::location::Owner>,
    /// `delete` only: delete a location another owner holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub take_over_location: bool,
}

fn filesystem_root() -> PathBuf {
    PathBuf::from(crate::storage::FILESYSTEM_MOUNT)
}

/// The outcome; `problems` is empty for a sound backup.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub backup_id: String,
    pub segments: u64,
    pub records: u64,
    pub stored_bytes: u64,
    pub problems: Vec<String>,
}

/// Hashes what passes through, so a segment is checked in one streaming read.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let new = &buf.filled()[before..];
            self.bytes += new.len() as u64;
            self.hasher.update(new);
        }
        poll
    }
}

pub async fn verify(cfg: &VerifyConfig) -> anyhow::Result<VerifyReport> {
    let storage = crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    let manifest = crate::catalog::resolve(&storage, cfg.backup_id.as_deref()).await?;
    let key =
        crate::catalog::key_for(&manifest, crate::catalog::load_key(cfg.encryption_key_file.as_deref())?)?;
    let mut report = VerifyReport { backup_id: manifest.backup_id.clone(), ..Default::default() };
    // A version 2 manifest lists every segment it needs; only a version 1 chain needs its parent.
    if let Some(parent) = manifest.parent_id.as_ref().filter(|_| !manifest.self_contained()) {
        let name = storage.layout.manifest(parent);
        if storage.store.head(&object_store::path::Path::from(name.as_str())).await.is_err() {
            report.problems.push(format!("parent backup {parent} is missing ({name}): the chain is broken"));
        }
    }
    for topic in &manifest.topics {
        for partition in &topic.partitions {
            for p in partition.coverage_problems() {
                report.problems.push(format!("{}/{}: {p}", topic.name, partition.partition));
            }
            for segment in &partition.segments {
                report.segments += 1;
                match check_segment(&storage, segment, key.clone()).await {
                    Ok((records, bytes)) => {
                        report.records += records;
                        report.stored_bytes += bytes;
                    }
                    Err(problem) => report.problems.push(problem),
                }
            }
        }
    }
    Ok(report)
}

/// Reads one segment fully; returns (records, bytes) or the first problem found.
async fn check_segment(
    storage: &Storage,
    s: &SegmentEntry,
    key: Option<EncryptionKey>,
) -> Result<(u64, u64), String> {
    let inner = storage.read(&s.object).await.map_err(|e| format!("{}: cannot read: {e}", s.object))?;
    let mut src = Hashing { inner, hasher: Sha256::new(), bytes: 0 };
    let mut reader = SegmentReader::open(&mut src, s.object.clone(), key).await.map_err(|e| e.to_string())?;
    let (mut records, mut last, mut min_ts, mut max_ts) = (0u64, None::<i64>, i64::MAX, i64::MIN);
    while let Some(block) = reader.next_block().await.map_err(|e| e.to_string())? {
        for r in block.records().map_err(|e| e.to_string())? {
            if last.is_some_and(|l| r.offset <= l) || r.offset < s.first_offset || r.offset > s.last_offset {
                return Err(format!(
                    "{}: record offset {} out of order or outside [{}, {}]",
                    s.object, r.offset, s.first_offset, s.last_offset
                ));
            }
            last = Some(r.offset);
            records += 1;
            min_ts = min_ts.min(r.timestamp);
            max_ts = max_ts.max(r.timestamp);
        }
    }
    drop(reader);
    let sha = hex::encode(std::mem::take(&mut src.hasher).finalize());
    if sha != s.sha256 || src.bytes != s.stored_bytes {
        return Err(format!(
            "{}: content differs from the manifest (sha256 {sha}, {} bytes; manifest {} , {} bytes)",
            s.object, src.bytes, s.sha256, s.stored_bytes
        ));
    }
    if records != s.records
        || last != Some(s.last_offset)
        || (records > 0 && (min_ts, max_ts) != (s.min_timestamp, s.max_timestamp))
    {
        return Err(format!(
            "{}: holds {records} records up to offset {last:?}, the manifest says {} up to {}",
            s.object, s.records, s.last_offset
        ));
    }
    Ok((records, src.bytes))
}
