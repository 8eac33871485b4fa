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
use crate::format::segment::{Block, SegmentReader};
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
    /// The KMS that wraps the data keys of backups encrypted with keys from a KMS
    /// (`backup.encryption.kms`), its Secrets as mounted files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<crate::kms::KmsAccess>,
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

/// A segment read block by block and checked against its manifest entry on the way: block
/// offsets ascending inside the entry's range, and at the end the object's SHA-256 and size as
/// streamed, its record count, last offset and timestamps. What restore reads and what `verify`
/// checks go through the same checks, so a restore never writes records of a segment that is
/// not the one the manifest committed. Errors name the object and where.
pub struct CheckedSegment {
    reader: SegmentReader<Hashing<Pin<Box<dyn AsyncRead + Send>>>>,
    entry: SegmentEntry,
    records: u64,
    last: Option<i64>,
    min_ts: i64,
    max_ts: i64,
}

impl CheckedSegment {
    /// Opens a segment. `key` is the backup's key when its manifest says it is encrypted: then
    /// the segment must be encrypted too (a plain object in its place was put there by someone
    /// else).
    pub async fn open(
        storage: &Storage,
        entry: &SegmentEntry,
        key: Option<EncryptionKey>,
    ) -> Result<Self, String> {
        let must_be_encrypted = key.is_some();
        let inner =
            storage.read(&entry.object).await.map_err(|e| format!("{}: cannot read: {e}", entry.object))?;
        let src = Hashing { inner, hasher: Sha256::new(), bytes: 0 };
        let reader = SegmentReader::open(src, entry.object.clone(), key).await.map_err(|e| {
            format!(
                "{e} (the segment holds offsets {}..={}; none can be read from it)",
                entry.first_offset, entry.last_offset
            )
        })?;
        if must_be_encrypted && !reader.encrypted() {
            return Err(format!(
                "{}: not encrypted, but its backup is: the object is not the one the backup wrote",
                entry.object
            ));
        }
        Ok(Self { reader, entry: entry.clone(), records: 0, last: None, min_ts: i64::MAX, max_ts: i64::MIN })
    }

    pub fn object(&self) -> &str {
        &self.entry.object
    }

    /// The codec the segment's header names, and whether it is encrypted.
    pub fn encoding(&self) -> (crate::format::codec::Codec, bool) {
        (self.reader.codec(), self.reader.encrypted())
    }

    /// The next block, checked; `None` once the whole segment was read and matched its entry.
    pub async fn next_block(&mut self) -> Result<Option<Block>, String> {
        let Some(block) = self.reader.next_block().await.map_err(|e| self.unreadable_from_here(e))? else {
            self.finish()?;
            return Ok(None);
        };
        let i = &block.info;
        if self.last.is_some_and(|l| i.first_offset <= l)
            || i.first_offset < self.entry.first_offset
            || i.last_offset > self.entry.last_offset
            || i.first_offset > i.last_offset
        {
            return Err(format!(
                "{}: block at byte {} holds offsets {}..={}, out of order or outside the manifest's [{}, {}]",
                self.entry.object,
                i.byte_offset,
                i.first_offset,
                i.last_offset,
                self.entry.first_offset,
                self.entry.last_offset
            ));
        }
        self.last = Some(i.last_offset);
        self.records += u64::from(i.records);
        self.min_ts = self.min_ts.min(i.min_timestamp);
        self.max_ts = self.max_ts.max(i.max_timestamp);
        Ok(Some(block))
    }

    /// A reading error, with the offsets it costs: the records of this segment after the last
    /// block that read fine (a restore stops there; `verify` reports it).
    fn unreadable_from_here(&self, e: crate::format::FormatError) -> String {
        let from = self.last.map_or(self.entry.first_offset, |l| l + 1);
        format!(
            "{e} (the segment holds offsets {}..={}; offsets {from}..={} cannot be read from it)",
            self.entry.first_offset, self.entry.last_offset, self.entry.last_offset
        )
    }

    fn finish(&mut self) -> Result<(), String> {
        let (hasher, bytes) =
            (std::mem::take(&mut self.reader.source_mut().hasher), self.reader.source_mut().bytes);
        let sha = hex::encode(hasher.finalize());
        let s = &self.entry;
        if sha != s.sha256 || bytes != s.stored_bytes {
            return Err(format!(
                "{}: content differs from the manifest (sha256 {sha}, {bytes} bytes; manifest {}, {} bytes)",
                s.object, s.sha256, s.stored_bytes
            ));
        }
        if self.records != s.records
            || self.last != Some(s.last_offset)
            || (self.records > 0 && (self.min_ts, self.max_ts) != (s.min_timestamp, s.max_timestamp))
        {
            return Err(format!(
                "{}: holds {} records up to offset {:?}, the manifest says {} up to {}",
                s.object, self.records, self.last, s.records, s.last_offset
            ));
        }
        Ok(())
    }
}

pub async fn verify(cfg: &VerifyConfig) -> anyhow::Result<VerifyReport> {
    let storage = crate::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    let manifest = crate::catalog::resolve(&storage, cfg.backup_id.as_deref()).await?;
    let key = crate::kms::KeySource::new(cfg.encryption_key_file.as_deref(), cfg.kms.as_ref())?
        .for_manifest(&manifest)
        .await?;
    let mut report = VerifyReport { backup_id: manifest.backup_id.clone(), ..Default::default() };
    // A version 2 manifest lists every segment it needs; only a version 1 chain needs its parent.
    if let Some(parent) = manifest.parent_id.as_ref().filter(|_| !manifest.self_contained()) {
        let name = storage.layout.manifest(parent);
        if storage.store.head(&object_store::path::Path::from(name.as_str())).await.is_err() {
            report.problems.push(format!("parent backup {parent} is missing ({name}): the chain is broken"));
        }
    }
    report.problems.extend(side_object_problems(&storage, &manifest).await);
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

/// Reads one segment fully; returns (records, bytes) or the first problem found. Besides the
/// checks of [`CheckedSegment`], every record's offset is checked against its block.
async fn check_segment(
    storage: &Storage,
    s: &SegmentEntry,
    key: Option<EncryptionKey>,
) -> Result<(u64, u64), String> {
    let mut segment = CheckedSegment::open(storage, s, key).await?;
    let mut records = 0u64;
    while let Some(block) = segment.next_block().await? {
        let mut last = None::<i64>;
        for r in block.records().map_err(|e| e.to_string())? {
            if last.is_some_and(|l| r.offset <= l)
                || r.offset < block.info.first_offset
                || r.offset > block.info.last_offset
            {
                return Err(format!(
                    "{}: record offset {} out of order or outside its block [{}, {}] at byte {}",
                    s.object,
                    r.offset,
                    block.info.first_offset,
                    block.info.last_offset,
                    block.info.byte_offset
                ));
            }
            last = Some(r.offset);
            records += 1;
        }
    }
    Ok((records, s.stored_bytes))
}

/// What is wrong with the objects `manifest` names beside its segments (cluster metadata, Schema
/// Registry, Strimzi resources): missing, altered (SHA-256), or not of a layout this build reads.
async fn side_object_problems(
    storage: &crate::storage::Storage,
    manifest: &crate::format::manifest::Manifest,
) -> Vec<String> {
    use crate::format::FormatError;
    use crate::format::strimzi_resources::StrimziResources;
    use crate::format::{metadata::ClusterMetadata, schemas::SchemaRegistryBackup};
    type Check<'a> = Box<dyn Fn(&[u8]) -> Result<(), FormatError> + Send + Sync + 'a>;
    let mut named: Vec<(&str, &str, Check)> = Vec::new();
    if let Some(r) = &manifest.cluster_metadata {
        named.push((
            &r.object,
            "cluster metadata",
            Box::new(move |b| ClusterMetadata::from_object(b, r).map(drop)),
        ));
    }
    if let Some(r) = &manifest.schema_registry {
        named.push((
            &r.object,
            "Schema Registry",
            Box::new(move |b| SchemaRegistryBackup::from_object(b, r).map(drop)),
        ));
    }
    if let Some(r) = &manifest.strimzi_resources {
        named.push((
            &r.object,
            "Strimzi resources",
            Box::new(move |b| StrimziResources::from_object(b, r).map(drop)),
        ));
    }
    let mut problems = Vec::new();
    for (object, what, check) in named {
        match storage.read_whole(object).await {
            Err(e) => problems.push(format!("{object}: the {what} object cannot be read: {e:#}")),
            Ok(bytes) => problems.extend(check(&bytes).err().map(|e| e.to_string())),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backup::Compression;
    use crate::api::storage::{FilesystemStorage, StorageType};
    use crate::format::codec::Codec;
    use crate::format::record::{Record, TimestampType};
    use crate::format::segment::SegmentWriter;

    /// A segment written to a filesystem store, and its manifest entry.
    async fn stored(storage: &Storage, key: Option<EncryptionKey>) -> SegmentEntry {
        let mut writer = SegmentWriter::new(Codec::new(Compression::Zstd, 3), key, 1024).expect("writer");
        for offset in 0..50 {
            let record = Record {
                offset,
                timestamp: 1_000 + offset,
                timestamp_type: TimestampType::CreateTime,
                key: None,
                value: Some(bytes::Bytes::from(vec![b'v'; 100])),
                headers: Vec::new(),
            };
            writer.push(&record).expect("push");
        }
        let first = writer.take_ready();
        let (rest, summary) = writer.finish().expect("finish");
        let mut all = first.to_vec();
        all.extend_from_slice(&rest);
        let object = "backups/b/segments/t/0/00000000000000000000.kbseg";
        storage.store.put(&object_store::path::Path::from(object), all.into()).await.expect("put");
        SegmentEntry::new(object.into(), &summary)
    }

    #[tokio::test]
    async fn an_altered_or_missing_side_object_is_a_problem_naming_it() {
        use crate::format::metadata::{ClusterMetadata, METADATA_VERSION};
        let root = std::env::temp_dir().join(format!("sbo-verify-side-{}", std::process::id()));
        let spec = StorageSpec {
            type_: StorageType::Filesystem,
            filesystem: Some(FilesystemStorage { claim_name: "pvc".into(), path: None }),
            ..Default::default()
        };
        let storage = crate::storage::open(&spec, &root).expect("storage");
        let metadata = ClusterMetadata {
            metadata_version: METADATA_VERSION,
            backup_id: "b".into(),
            captured_at: "2026-12-04T00:00:00.000Z".into(),
            acls: Some(Vec::new()),
            quotas: None,
            scram_users: None,
            scram_credentials: String::new(),
            not_captured: Vec::new(),
        };
        let object = "backups/b/cluster-metadata.json";
        let (bytes, reference) = metadata.to_object(object.into()).expect("object");
        let mut manifest: crate::format::manifest::Manifest = serde_json::from_value(serde_json::json!({
            "formatVersion": 3, "backupId": "b", "startedAt": "t", "completedAt": "t",
            "encoding": {"compression": "zstd"}, "topics": [],
            "totals": {"records": 0, "rawBytes": 0, "storedBytes": 0, "topics": 0, "partitions": 0}
        }))
        .expect("a manifest");
        manifest.cluster_metadata = Some(reference);
        let path = object_store::path::Path::from(object);
        storage.store.put(&path, bytes.clone().into()).await.expect("put");
        assert_eq!(side_object_problems(&storage, &manifest).await, Vec::<String>::new());
        let mut altered = bytes.clone();
        altered.extend_from_slice(b" ");
        storage.store.put(&path, altered.into()).await.expect("put");
        let problems = side_object_problems(&storage, &manifest).await;
        assert!(
            problems.len() == 1 && problems[0].contains(object) && problems[0].contains("SHA-256"),
            "{problems:?}"
        );
        storage.store.delete(&path).await.expect("delete");
        let problems = side_object_problems(&storage, &manifest).await;
        assert!(problems.len() == 1 && problems[0].contains("cannot be read"), "{problems:?}");
        // Not only the cluster metadata: an altered Strimzi resources object is named too.
        manifest.cluster_metadata = None;
        let resources = crate::format::strimzi_resources::StrimziResources {
            resources_version: crate::format::strimzi_resources::RESOURCES_VERSION,
            captured_at: "2026-12-04T00:00:00.000Z".into(),
            namespace: "kafka".into(),
            cluster: "src".into(),
            kafka_topics: Vec::new(),
            kafka_users: Vec::new(),
        };
        let object = "backups/b/strimzi-resources.json";
        let (bytes, reference) = resources.to_object(object.into()).expect("object");
        manifest.strimzi_resources = Some(reference);
        let path = object_store::path::Path::from(object);
        storage.store.put(&path, bytes.clone().into()).await.expect("put");
        assert_eq!(side_object_problems(&storage, &manifest).await, Vec::<String>::new());
        let mut altered = bytes;
        altered.extend_from_slice(b" ");
        storage.store.put(&path, altered.into()).await.expect("put");
        let problems = side_object_problems(&storage, &manifest).await;
        assert!(
            problems.len() == 1 && problems[0].contains(object) && problems[0].contains("SHA-256"),
            "{problems:?}"
        );
        std::fs::remove_dir_all(&root).ok();
    }

    #[tokio::test]
    async fn an_encrypted_backup_accepts_only_encrypted_segments() {
        let root = std::env::temp_dir().join(format!("sbo-verify-{}", std::process::id()));
        let spec = StorageSpec {
            type_: StorageType::Filesystem,
            filesystem: Some(FilesystemStorage { claim_name: "pvc".into(), path: None }),
            ..Default::default()
        };
        let storage = crate::storage::open(&spec, &root).expect("storage");
        let key = EncryptionKey::from_secret(&[7u8; 32]).expect("key");
        // A plain segment in the place of an encrypted backup's: refused, by name.
        let plain = stored(&storage, None).await;
        let err = CheckedSegment::open(&storage, &plain, Some(key.clone())).await.err().expect("refused");
        assert!(err.contains(&plain.object) && err.contains("not encrypted"), "{err}");
        // The encrypted one reads through, every check passing.
        let sealed = stored(&storage, Some(key.clone())).await;
        assert_eq!(check_segment(&storage, &sealed, Some(key)).await, Ok((50, sealed.stored_bytes)));
        std::fs::remove_dir_all(&root).ok();
    }
}
