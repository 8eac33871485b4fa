//! Segment objects: the records of one partition over a range of offsets.
//!
//! ```text
//! segment  = header block* trailer
//! header   = "KBSEG\0" version:u16 codec:u8 encrypted:u8 reserved:u16 segment-id:[u8;16]   (28 bytes)
//! block    = "KBBL" stored-len:u32 raw-len:u32 records:u32 first-offset:i64 last-offset:i64
//!            min-timestamp:i64 max-timestamp:i64 payload-crc32c:u32 header-crc32c:u32   (56 bytes)
//!            payload[stored-len]
//! trailer  = "KBSEGEND" blocks:u32 records:u64 offsets-skipped:u64 crc32c:u32            (32 bytes)
//! ```
//! Integers are little-endian. A payload is the block's records (see [`Record::encode`]),
//! compressed with the segment's codec and, when encrypted, sealed as `nonce || ciphertext ||
//! tag` with the segment header, block index and block header fields as associated data.
//! Every block checks itself (CRC-32C of its header and of its payload), so a corrupted byte is
//! found by the block that holds it, with its position in the object; blocks are written and read
//! one at a time, so memory is bounded by one block, not by the segment.

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::codec::{Codec, EncryptionKey};
use super::record::{Encode, Record};
use super::{FormatError, SEGMENT_VERSION};

const MAGIC: &[u8; 6] = b"KBSEG\0";
const BLOCK_MARKER: &[u8; 4] = b"KBBL";
const TRAILER_MAGIC: &[u8; 8] = b"KBSEGEND";
/// Bytes of the segment header.
pub const HEADER_LEN: usize = 28;
/// Bytes of a block header.
pub const BLOCK_HEADER_LEN: usize = 56;
const TRAILER_LEN: usize = 32;
/// Default raw size a block is sealed at; a record larger than this gets a block of its own.
pub const DEFAULT_BLOCK_BYTES: usize = 1024 * 1024;
/// The most a writer reserves for a block before its records arrive.
const MAX_RESERVED_BLOCK_BYTES: usize = 16 * 1024 * 1024;
/// Room reserved past a block's target for the record that fills it, before any larger record
/// was seen.
const MIN_ROOM_BYTES: usize = 4096;
/// What a record's encoding adds to its key, value and headers: offset and timestamp varints,
/// type, the length prefixes and header count (headers' own prefixes aside).
const RECORD_OVERHEAD_BYTES: usize = 64;
/// Largest block a reader accepts (Kafka's own record size limits are far below).
pub const MAX_BLOCK_BYTES: u32 = 512 * 1024 * 1024;

/// What a finished segment holds; copied into the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentSummary {
    pub first_offset: i64,
    pub last_offset: i64,
    pub records: u64,
    /// Offsets between `first_offset` and `last_offset` that hold no record (compaction,
    /// transaction markers, aborted transactions).
    pub offsets_skipped: u64,
    pub min_timestamp: i64,
    pub max_timestamp: i64,
    /// Encoded record bytes before compression.
    pub raw_bytes: u64,
    /// Bytes of the object.
    pub stored_bytes: u64,
    /// The largest record's key, value and headers together, uncompressed.
    pub max_record_bytes: u64,
    pub blocks: u32,
    /// SHA-256 of the whole object, hex.
    pub sha256: String,
}

/// Position and statistics of one block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockInfo {
    pub index: u32,
    pub records: u32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub min_timestamp: i64,
    pub max_timestamp: i64,
    /// Byte position of the block header in the object.
    pub byte_offset: u64,
}

/// Builds a segment one record at a time; sealed blocks can be taken out as they are ready (to
/// feed a multipart upload) while later records are still coming.
///
/// The bytes of a record are copied once, when it is encoded into its block: the block is then
/// compressed (or, with no codec and no key, moved as it is) into a payload that is handed on
/// whole — the sealed bytes are kept as a list of chunks, not copied into one buffer.
pub struct SegmentWriter {
    codec: Codec,
    key: Option<EncryptionKey>,
    header: [u8; HEADER_LEN],
    block_target: usize,
    raw: Vec<u8>,
    block: BlockInfo,
    /// Sealed bytes not yet taken, in order, and their length.
    ready: Vec<Bytes>,
    ready_len: usize,
    hasher: Sha256,
    summary: SegmentSummary,
    /// Blocks taken out with [`SegmentWriter::push_detached`] and not yet appended.
    detached: u32,
    /// Their encoded record bytes.
    detached_raw: u64,
}

/// A full block taken out of a writer to be compressed (and sealed) elsewhere — on another
/// thread — while the writer goes on with the next one; appended back in order.
pub struct DetachedBlock {
    codec: Codec,
    key: Option<EncryptionKey>,
    header: [u8; HEADER_LEN],
    index: u32,
    info: BlockInfo,
    raw: Vec<u8>,
}

/// A block ready to be written: its header (checksums set) and payload.
pub struct SealedBlock {
    head: [u8; BLOCK_HEADER_LEN],
    payload: Vec<u8>,
    raw_len: usize,
}

impl DetachedBlock {
    /// Compresses, encrypts and checksums the block: the CPU-heavy part of writing. With no
    /// codec the raw bytes are the payload, moved, not copied.
    pub fn seal(self) -> Result<SealedBlock, FormatError> {
        let raw_len = self.raw.len();
        let compressed = match self.codec {
            Codec::None => self.raw,
            codec => codec
                .compress(&self.raw)
                .map_err(|e| FormatError::Invalid(format!("compressing a block: {e}")))?,
        };
        let mut head = block_header_fields(&self.info, compressed.len(), raw_len);
        let payload = match &self.key {
            None => compressed,
            Some(key) => {
                let aad = associated_data(&self.header, self.index, &head);
                let sealed = key.seal(&aad, &compressed).map_err(FormatError::Invalid)?;
                head[4..8].copy_from_slice(&(sealed.len() as u32).to_le_bytes());
                sealed
            }
        };
        // The payload lives on in the upload until its part is sent, and a `Bytes` made of a
        // `Vec` keeps the whole allocation: a compressed one has zstd's compress bound (a whole
        // raw block's size for about 0.6 of it at zstd-3, docs/sizing.md). Shrinking hands the
        // tail back to the allocator in place, without a copy. An uncompressed block's few KiB
        // of room are left: small holes between blocks fragment the allocator's heap more than
        // they save.
        let mut payload = payload;
        if payload.capacity() - payload.len() > payload.len() / 8 {
            payload.shrink_to_fit();
        }
        head[48..52].copy_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        let head_crc = crc32c::crc32c(&head[..52]);
        head[52..56].copy_from_slice(&head_crc.to_le_bytes());
        Ok(SealedBlock { head, payload, raw_len })
    }
}

impl SegmentWriter {
    pub fn new(codec: Codec, key: Option<EncryptionKey>, block_target: usize) -> Result<Self, FormatError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|e| FormatError::Invalid(format!("no randomness for a segment id: {e}")))?;
        let mut header = [0u8; HEADER_LEN];
        header[..6].copy_from_slice(MAGIC);
        header[6..8].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
        header[8] = codec.id();
        header[9] = u8::from(key.is_some());
        header[12..28].copy_from_slice(&id);
        let mut writer = Self {
            codec,
            key,
            header,
            block_target: block_target.max(1),
            raw: Vec::new(),
            block: BlockInfo::default(),
            ready: Vec::new(),
            ready_len: 0,
            hasher: Sha256::new(),
            summary: SegmentSummary { first_offset: -1, last_offset: -1, ..Default::default() },
            detached: 0,
            detached_raw: 0,
        };
        writer.emit(Bytes::copy_from_slice(&header));
        Ok(writer)
    }

    /// Adds the next record; offsets must increase. A full block is sealed here.
    pub fn push(&mut self, record: &impl Encode) -> Result<(), FormatError> {
        if let Some(block) = self.push_detached(record)? {
            self.append(block.seal()?);
        }
        Ok(())
    }

    /// Adds the next record; when that fills the block, the block is handed back to be sealed
    /// elsewhere ([`DetachedBlock::seal`]) and [`SegmentWriter::append`]ed in the same order.
    pub fn push_detached(&mut self, record: &impl Encode) -> Result<Option<DetachedBlock>, FormatError> {
        let (offset, timestamp) = (record.offset(), record.timestamp());
        if self.summary.records > 0 && offset <= self.summary.last_offset {
            return Err(FormatError::Invalid(format!(
                "record offset {offset} does not follow {}",
                self.summary.last_offset
            )));
        }
        if self.block.records == 0 {
            self.block.first_offset = offset;
            self.block.min_timestamp = timestamp;
            self.block.max_timestamp = timestamp;
            // The block's buffer at its full size at once, and room for the record that fills
            // it (the largest so far): growing it by doubling copied each block about once more,
            // and an uncompressed block is its own payload, kept whole by the upload until its
            // part is sent, so room beyond what it needs is memory no budget counts (it was an
            // eighth of the target: 3 MiB per partition in flight, docs/sizing.md). Capped for
            // the very large targets of tests; such a block grows as before.
            let room = (self.summary.max_record_bytes as usize).max(MIN_ROOM_BYTES) + RECORD_OVERHEAD_BYTES;
            self.raw.reserve_exact((self.block_target + room).min(MAX_RESERVED_BLOCK_BYTES));
        }
        // A record larger than the room left gets exactly what it needs (once per block at
        // most: the block is full after it), not a doubling.
        let need = record.payload_len() + RECORD_OVERHEAD_BYTES;
        if self.raw.capacity() - self.raw.len() < need {
            if self.raw.capacity() < MAX_RESERVED_BLOCK_BYTES {
                self.raw.reserve_exact(need);
            } else {
                self.raw.reserve(need);
            }
        }
        let s = &mut self.summary;
        if s.records == 0 {
            s.first_offset = offset;
            s.min_timestamp = timestamp;
            s.max_timestamp = timestamp;
        } else {
            s.offsets_skipped += (offset - s.last_offset - 1) as u64;
        }
        s.records += 1;
        s.max_record_bytes = s.max_record_bytes.max(record.payload_len() as u64);
        s.last_offset = offset;
        s.min_timestamp = s.min_timestamp.min(timestamp);
        s.max_timestamp = s.max_timestamp.max(timestamp);
        record.encode_into(self.block.first_offset, &mut self.raw);
        self.block.records += 1;
        self.block.last_offset = offset;
        self.block.min_timestamp = self.block.min_timestamp.min(timestamp);
        self.block.max_timestamp = self.block.max_timestamp.max(timestamp);
        if self.raw.len() >= self.block_target {
            return Ok(Some(self.detach()));
        }
        Ok(None)
    }

    fn detach(&mut self) -> DetachedBlock {
        let block = DetachedBlock {
            codec: self.codec,
            key: self.key.clone(),
            header: self.header,
            index: self.summary.blocks + self.detached,
            info: std::mem::take(&mut self.block),
            raw: std::mem::take(&mut self.raw),
        };
        self.detached += 1;
        self.detached_raw += block.raw.len() as u64;
        block
    }

    /// Writes a sealed block; blocks must come back in the order they were detached.
    pub fn append(&mut self, block: SealedBlock) {
        self.emit(Bytes::copy_from_slice(&block.head));
        self.emit(Bytes::from(block.payload));
        self.summary.raw_bytes += block.raw_len as u64;
        self.summary.blocks += 1;
        self.detached = self.detached.saturating_sub(1);
        self.detached_raw = self.detached_raw.saturating_sub(block.raw_len as u64);
    }

    /// Records so far.
    pub fn records(&self) -> u64 {
        self.summary.records
    }

    /// Encoded record bytes of the segment so far: appended blocks, blocks detached and being
    /// sealed elsewhere, and the open block. Segment rotation is measured in it, so the blocks in
    /// flight must count: without them a segment overshot its size by those blocks.
    pub fn raw_bytes(&self) -> u64 {
        self.summary.raw_bytes + self.detached_raw + self.raw.len() as u64
    }

    /// Bytes sealed and not yet taken.
    pub fn ready_len(&self) -> usize {
        self.ready_len
    }

    /// Takes the sealed bytes so far, in one buffer (copied together when there are several
    /// chunks; [`Self::take_ready_chunks`] does not copy).
    pub fn take_ready(&mut self) -> Bytes {
        concat(self.take_ready_chunks())
    }

    /// Takes the sealed bytes so far as the chunks they were sealed in (block headers and
    /// payloads), without copying them.
    pub fn take_ready_chunks(&mut self) -> Vec<Bytes> {
        self.ready_len = 0;
        std::mem::take(&mut self.ready)
    }

    /// Seals the last block, appends the trailer and returns the remaining bytes and the summary.
    pub fn finish(self) -> Result<(Bytes, SegmentSummary), FormatError> {
        let (chunks, summary) = self.finish_chunks()?;
        Ok((concat(chunks), summary))
    }

    /// [`Self::finish`], the remaining bytes as chunks (not copied).
    pub fn finish_chunks(mut self) -> Result<(Vec<Bytes>, SegmentSummary), FormatError> {
        if self.detached > 0 {
            return Err(FormatError::Invalid(format!("{} detached block(s) never appended", self.detached)));
        }
        if self.block.records > 0 {
            let block = self.detach();
            self.append(block.seal()?);
        }
        let mut trailer = [0u8; TRAILER_LEN];
        trailer[..8].copy_from_slice(TRAILER_MAGIC);
        trailer[8..12].copy_from_slice(&self.summary.blocks.to_le_bytes());
        trailer[12..20].copy_from_slice(&self.summary.records.to_le_bytes());
        trailer[20..28].copy_from_slice(&self.summary.offsets_skipped.to_le_bytes());
        let crc = crc32c::crc32c(&trailer[..28]);
        trailer[28..32].copy_from_slice(&crc.to_le_bytes());
        self.emit(Bytes::copy_from_slice(&trailer));
        self.summary.sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        Ok((self.take_ready_chunks(), self.summary))
    }

    fn emit(&mut self, bytes: Bytes) {
        self.hasher.update(&bytes);
        self.summary.stored_bytes += bytes.len() as u64;
        self.ready_len += bytes.len();
        self.ready.push(bytes);
    }
}

/// Chunks as one buffer: the only one as it is, several copied together.
fn concat(mut chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            for c in &chunks {
                all.extend_from_slice(c);
            }
            all.freeze()
        }
    }
}

/// A block header with lengths and statistics filled in, checksums still zero.
fn block_header_fields(b: &BlockInfo, stored: usize, raw: usize) -> [u8; BLOCK_HEADER_LEN] {
    let mut h = [0u8; BLOCK_HEADER_LEN];
    h[..4].copy_from_slice(BLOCK_MARKER);
    h[4..8].copy_from_slice(&(stored as u32).to_le_bytes());
    h[8..12].copy_from_slice(&(raw as u32).to_le_bytes());
    h[12..16].copy_from_slice(&b.records.to_le_bytes());
    h[16..24].copy_from_slice(&b.first_offset.to_le_bytes());
    h[24..32].copy_from_slice(&b.last_offset.to_le_bytes());
    h[32..40].copy_from_slice(&b.min_timestamp.to_le_bytes());
    h[40..48].copy_from_slice(&b.max_timestamp.to_le_bytes());
    h
}

/// Binds a sealed block to its segment and position: segment header, block index and the block
/// header fields other than the stored length and checksums.
fn associated_data(header: &[u8; HEADER_LEN], index: u32, head: &[u8; BLOCK_HEADER_LEN]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + 4 + 40);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&index.to_le_bytes());
    aad.extend_from_slice(&head[8..48]);
    aad
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// A decoded block: its statistics and its raw record bytes.
#[derive(Debug)]
pub struct Block {
    pub info: BlockInfo,
    raw: Bytes,
    object: String,
}

impl Block {
    /// Decodes the block's records; they share the block's buffer.
    pub fn records(&self) -> Result<Vec<Record>, FormatError> {
        let mut buf = self.raw.clone();
        let mut out = Vec::with_capacity(self.info.records as usize);
        for n in 0..self.info.records {
            let record =
                Record::decode(self.info.first_offset, &mut buf).map_err(|field| FormatError::Corrupted {
                    object: self.object.clone(),
                    byte_offset: self.info.byte_offset,
                    detail: format!("record {n} of block {}: malformed {field}", self.info.index),
                })?;
            out.push(record);
        }
        if !buf.is_empty() {
            return Err(FormatError::Corrupted {
                object: self.object.clone(),
                byte_offset: self.info.byte_offset,
                detail: format!("{} bytes after the last record of block {}", buf.len(), self.info.index),
            });
        }
        Ok(out)
    }
}

/// Reads a segment block by block from any byte stream (an object store download, a file).
pub struct SegmentReader<R> {
    src: R,
    object: String,
    codec: Codec,
    key: Option<EncryptionKey>,
    header: [u8; HEADER_LEN],
    pos: u64,
    blocks: u32,
    records: u64,
    finished: bool,
}

impl<R: AsyncRead + Unpin> SegmentReader<R> {
    /// Reads and checks the segment header. `object` names the segment in every error.
    pub async fn open(
        mut src: R,
        object: impl Into<String>,
        key: Option<EncryptionKey>,
    ) -> Result<Self, FormatError> {
        let object = object.into();
        // A restore point's key ring (keys from a KMS) holds one data key per writing backup.
        let key = key.map(|k| k.for_object(&object)).transpose().map_err(FormatError::Invalid)?;
        let mut header = [0u8; HEADER_LEN];
        read_exact(&mut src, &mut header, &object, 0, "segment header").await?;
        if &header[..6] != MAGIC {
            return Err(FormatError::BadMagic { object });
        }
        let version = u16::from_le_bytes([header[6], header[7]]);
        if version != SEGMENT_VERSION {
            return Err(FormatError::UnsupportedVersion {
                object,
                found: version,
                supported: SEGMENT_VERSION.to_string(),
            });
        }
        let codec = Codec::from_id(header[8]).ok_or_else(|| FormatError::Corrupted {
            object: object.clone(),
            byte_offset: 8,
            detail: format!("unknown codec {}", header[8]),
        })?;
        let key = match (header[9], key) {
            (0, _) => None,
            (1, Some(key)) => Some(key),
            (1, None) => return Err(FormatError::KeyMissing { object }),
            (other, _) => {
                return Err(FormatError::Corrupted {
                    object,
                    byte_offset: 9,
                    detail: format!("encryption flag {other}"),
                });
            }
        };
        Ok(Self {
            src,
            object,
            codec,
            key,
            header,
            pos: HEADER_LEN as u64,
            blocks: 0,
            records: 0,
            finished: false,
        })
    }

    /// The byte stream the segment is read from (e.g. to finish a checksum over it).
    pub fn source_mut(&mut self) -> &mut R {
        &mut self.src
    }

    /// Whether the segment is encrypted (its header says so, and a key was given to read it).
    pub fn encrypted(&self) -> bool {
        self.key.is_some()
    }

    /// The codec its header names (the level is not stored: it only matters when writing).
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The next block, or `None` after the trailer (which is checked against what was read).
    pub async fn next_block(&mut self) -> Result<Option<Block>, FormatError> {
        if self.finished {
            return Ok(None);
        }
        let at = self.pos;
        let mut marker = [0u8; 4];
        read_exact(&mut self.src, &mut marker, &self.object, at, "block or trailer").await?;
        if &marker == b"KBSE" {
            self.read_trailer(at).await?;
            self.finished = true;
            return Ok(None);
        }
        if &marker != BLOCK_MARKER {
            return Err(self.corrupted(at, "no block marker".into()));
        }
        let mut head = [0u8; BLOCK_HEADER_LEN];
        head[..4].copy_from_slice(&marker);
        read_exact(&mut self.src, &mut head[4..], &self.object, at + 4, "block header").await?;
        if crc32c::crc32c(&head[..52]) != le_u32(&head[52..56]) {
            return Err(self.corrupted(at, format!("block {} header checksum mismatch", self.blocks)));
        }
        let stored_len = le_u32(&head[4..8]);
        let raw_len = le_u32(&head[8..12]);
        if stored_len > MAX_BLOCK_BYTES || raw_len > MAX_BLOCK_BYTES {
            return Err(
                self.corrupted(at, format!("block of {stored_len}/{raw_len} bytes exceeds the limit"))
            );
        }
        let info = BlockInfo {
            index: self.blocks,
            records: le_u32(&head[12..16]),
            first_offset: le_u64(&head[16..24]) as i64,
            last_offset: le_u64(&head[24..32]) as i64,
            min_timestamp: le_u64(&head[32..40]) as i64,
            max_timestamp: le_u64(&head[40..48]) as i64,
            byte_offset: at,
        };
        let payload_at = at + BLOCK_HEADER_LEN as u64;
        let mut payload = vec![0u8; stored_len as usize];
        read_exact(&mut self.src, &mut payload, &self.object, payload_at, "block payload").await?;
        if crc32c::crc32c(&payload) != le_u32(&head[48..52]) {
            return Err(self.corrupted(payload_at, format!("block {} payload checksum mismatch", info.index)));
        }
        let compressed = match &self.key {
            None => payload,
            Some(key) => {
                let mut fields = head;
                fields[4..8].copy_from_slice(&[0; 4]);
                let aad = associated_data(&self.header, info.index, &fields);
                key.open(&aad, &payload)
                    .ok_or(FormatError::Decrypt { object: self.object.clone(), byte_offset: payload_at })?
            }
        };
        let raw = self
            .codec
            .decompress_owned(compressed, raw_len as usize)
            .map_err(|detail| self.corrupted(payload_at, format!("block {}: {detail}", info.index)))?;
        self.pos = payload_at + u64::from(stored_len);
        self.blocks += 1;
        self.records += u64::from(info.records);
        Ok(Some(Block { info, raw: Bytes::from(raw), object: self.object.clone() }))
    }

    async fn read_trailer(&mut self, at: u64) -> Result<(), FormatError> {
        let mut t = [0u8; TRAILER_LEN];
        t[..4].copy_from_slice(b"KBSE");
        read_exact(&mut self.src, &mut t[4..], &self.object, at + 4, "trailer").await?;
        if &t[..8] != TRAILER_MAGIC || crc32c::crc32c(&t[..28]) != le_u32(&t[28..32]) {
            return Err(self.corrupted(at, "trailer damaged".into()));
        }
        let (blocks, records) = (le_u32(&t[8..12]), le_u64(&t[12..20]));
        if blocks != self.blocks || records != self.records {
            return Err(self.corrupted(
                at,
                format!(
                    "trailer counts {blocks} blocks/{records} records, read {}/{}",
                    self.blocks, self.records
                ),
            ));
        }
        let mut extra = [0u8; 1];
        if self.src.read(&mut extra).await.map_err(|e| self.io(e))? != 0 {
            return Err(self.corrupted(at + TRAILER_LEN as u64, "bytes after the trailer".into()));
        }
        Ok(())
    }

    fn corrupted(&self, byte_offset: u64, detail: String) -> FormatError {
        FormatError::Corrupted { object: self.object.clone(), byte_offset, detail }
    }

    fn io(&self, source: std::io::Error) -> FormatError {
        FormatError::Io { object: self.object.clone(), source }
    }
}

async fn read_exact(
    src: &mut (impl AsyncRead + Unpin),
    buf: &mut [u8],
    object: &str,
    at: u64,
    what: &str,
) -> Result<(), FormatError> {
    match src.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FormatError::Truncated {
            object: object.to_string(),
            byte_offset: at,
            detail: format!("the object ends inside the {what}"),
        }),
        Err(source) => Err(FormatError::Io { object: object.to_string(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::tests::sample;

    const KEY: &[u8] = b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn write(
        codec: Codec,
        key: Option<EncryptionKey>,
        records: &[Record],
        block: usize,
    ) -> (Vec<u8>, SegmentSummary) {
        let mut w = SegmentWriter::new(codec, key, block).expect("writer");
        let mut out = Vec::new();
        for r in records {
            w.push(r).expect("push");
            if w.ready_len() > 0 {
                out.extend_from_slice(&w.take_ready());
            }
        }
        let (rest, summary) = w.finish().expect("finish");
        out.extend_from_slice(&rest);
        (out, summary)
    }

    async fn read(bytes: &[u8], key: Option<EncryptionKey>) -> Result<Vec<Record>, FormatError> {
        let mut r = SegmentReader::open(bytes, "seg", key).await?;
        let mut out = Vec::new();
        while let Some(block) = r.next_block().await? {
            out.extend(block.records()?);
        }
        Ok(out)
    }

    fn records() -> Vec<Record> {
        // Offsets with gaps, as compaction and transactions leave them.
        (0..2000).map(|n| sample(10 + n as i64 * 2 + i64::from(n % 10 == 0), n)).collect()
    }

    #[tokio::test]
    async fn round_trips_with_every_codec_and_encryption() {
        let records = records();
        for codec in
            [Codec::None, Codec::Zstd { level: 3 }, Codec::Lz4, Codec::Gzip { level: 6 }, Codec::Snappy]
        {
            for key in [None, Some(EncryptionKey::from_secret(KEY).expect("key"))] {
                let (bytes, summary) = write(codec, key.clone(), &records, 16 * 1024);
                assert!(summary.blocks > 4, "several blocks");
                assert_eq!(summary.stored_bytes, bytes.len() as u64);
                assert_eq!(summary.sha256, hex::encode(Sha256::digest(&bytes)));
                assert_eq!(summary.records, 2000);
                assert_eq!(summary.first_offset, records[0].offset);
                let expected_skipped = (summary.last_offset - summary.first_offset + 1) as u64 - 2000;
                assert_eq!(summary.offsets_skipped, expected_skipped);
                assert_eq!(read(&bytes, key).await.expect("reads"), records, "{codec:?}");
            }
        }
    }

    /// A backup encodes borrowed records straight from the consumer's buffer and uploads the
    /// sealed chunks as they are: the object must be the same bytes as one written from owned
    /// records and taken whole (but for the random segment id in the header).
    #[tokio::test]
    async fn borrowed_records_and_chunks_write_the_same_bytes() {
        let records = records();
        for codec in [Codec::None, Codec::Zstd { level: 3 }, Codec::Lz4] {
            for key in [None, Some(EncryptionKey::from_secret(KEY).expect("key"))] {
                let (owned, owned_summary) = write(codec, key.clone(), &records, 16 * 1024);
                let mut w = SegmentWriter::new(codec, key.clone(), 16 * 1024).expect("writer");
                let mut chunked = Vec::new();
                for r in &records {
                    let borrowed = r.borrowed();
                    if let Some(block) = w.push_detached(&borrowed).expect("push") {
                        w.append(block.seal().expect("seal"));
                    }
                    if w.ready_len() > 0 {
                        let chunks = w.take_ready_chunks();
                        chunks.iter().for_each(|c| chunked.extend_from_slice(c));
                        assert_eq!(w.ready_len(), 0);
                    }
                }
                let (rest, summary) = w.finish_chunks().expect("finish");
                rest.iter().for_each(|c| chunked.extend_from_slice(c));
                assert_eq!(summary.stored_bytes, chunked.len() as u64);
                assert_eq!(summary.sha256, hex::encode(Sha256::digest(&chunked)));
                assert_eq!(summary.raw_bytes, owned_summary.raw_bytes);
                if key.is_none() {
                    // Sealed blocks carry a random nonce when encrypted; otherwise only the id differs.
                    assert_eq!(chunked[HEADER_LEN..], owned[HEADER_LEN..], "{codec:?}");
                    assert_eq!(chunked[..12], owned[..12], "{codec:?}");
                }
                assert_eq!(read(&chunked, key).await.expect("reads"), records, "{codec:?}");
            }
        }
    }

    /// Rotation reads `raw_bytes` while blocks are being sealed on other threads: every record
    /// pushed counts at once and stays counted, whether its block is open, detached or appended.
    #[test]
    fn raw_bytes_counts_blocks_being_sealed() {
        let mut w = SegmentWriter::new(Codec::None, None, 1024).expect("writer");
        let mut in_flight = std::collections::VecDeque::new();
        let mut before = w.raw_bytes();
        for r in records().iter().take(200) {
            if let Some(block) = w.push_detached(r).expect("push") {
                in_flight.push_back(block);
            }
            if in_flight.len() > 2 {
                w.append(in_flight.pop_front().expect("a block").seal().expect("seal"));
            }
            assert!(w.raw_bytes() > before, "offset {}: {} after {before}", r.offset, w.raw_bytes());
            before = w.raw_bytes();
        }
        assert!(w.detached > 0, "blocks were in flight");
        while let Some(block) = in_flight.pop_front() {
            w.append(block.seal().expect("seal"));
        }
        assert_eq!(w.raw_bytes(), before, "appending moves bytes, it adds none");
        let (_, summary) = w.finish().expect("finish");
        assert_eq!(summary.raw_bytes, before);
    }

    #[tokio::test]
    async fn a_flipped_byte_is_reported_with_object_and_position() {
        let (mut bytes, _) = write(Codec::Zstd { level: 3 }, None, &records(), 16 * 1024);
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        let err = read(&bytes, None).await.expect_err("detected");
        match &err {
            FormatError::Corrupted { object, byte_offset, .. } => {
                assert_eq!(object, "seg");
                assert!(*byte_offset <= at as u64, "reported at {byte_offset}, flipped {at}");
            }
            other => panic!("unexpected {other}"),
        }
        assert!(err.to_string().starts_with("seg: corrupted block at byte"), "{err}");
    }

    #[tokio::test]
    async fn truncation_and_wrong_keys_fail_clearly() {
        let key = EncryptionKey::from_secret(KEY).expect("key");
        let (bytes, _) = write(Codec::Lz4, Some(key), &records(), 16 * 1024);
        let err = read(&bytes[..bytes.len() - 10], None).await.expect_err("key missing");
        assert!(matches!(err, FormatError::KeyMissing { .. }), "{err}");
        let wrong = EncryptionKey::from_secret(&[9u8; 32]).expect("key");
        let err = read(&bytes, Some(wrong)).await.expect_err("wrong key");
        assert!(err.to_string().contains("wrong encryption key"), "{err}");
        let (plain, _) = write(Codec::None, None, &records(), 16 * 1024);
        let err = read(&plain[..plain.len() - 10], None).await.expect_err("truncated");
        assert!(matches!(err, FormatError::Truncated { .. }), "{err}");
    }

    #[tokio::test]
    async fn blocks_from_another_segment_are_rejected() {
        let key = EncryptionKey::from_secret(KEY).expect("key");
        let recs = records();
        let (a, _) = write(Codec::None, Some(key.clone()), &recs, 1 << 30);
        let (b, _) = write(Codec::None, Some(key.clone()), &recs, 1 << 30);
        // Same records, same key: graft b's only block onto a's header.
        let mut spliced = a[..HEADER_LEN].to_vec();
        spliced.extend_from_slice(&b[HEADER_LEN..]);
        let err = read(&spliced, Some(key)).await.expect_err("spliced");
        assert!(matches!(err, FormatError::Decrypt { .. }), "{err}");
    }

    #[test]
    fn a_sealed_payload_holds_little_more_than_its_bytes() {
        // Sealed payloads wait in the upload's parts: spare capacity there is memory the
        // partition's budget does not count (the raw block's reserve, zstd's compress bound).
        for codec in [Codec::None, Codec::Zstd { level: 3 }] {
            let mut w = SegmentWriter::new(codec, None, 64 * 1024).expect("writer");
            let mut detached = None;
            for offset in 0.. {
                if let Some(b) = w.push_detached(&sample(offset, offset as usize)).expect("push") {
                    detached = Some(b);
                    break;
                }
            }
            let sealed = detached.expect("a full block").seal().expect("seal");
            let spare = sealed.payload.capacity() - sealed.payload.len();
            assert!(spare <= MIN_ROOM_BYTES + RECORD_OVERHEAD_BYTES, "{codec:?}: {spare} bytes spare");
        }
    }

    #[test]
    fn offsets_must_increase() {
        let mut w = SegmentWriter::new(Codec::None, None, 1024).expect("writer");
        w.push(&sample(5, 1)).expect("first");
        assert!(w.push(&sample(5, 2)).is_err());
    }
}
