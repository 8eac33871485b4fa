//! A segment object (`*.kbseg`) decoded from docs/format.md alone ("Segments"): header, blocks,
//! trailer, every CRC32C, the codecs and AES-256-GCM with the documented associated data.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail, ensure};

use super::record::{Cursor, Record, decode_records};

pub const HEADER_LEN: usize = 28;
pub const BLOCK_HEADER_LEN: usize = 56;
pub const TRAILER_LEN: usize = 32;

/// The block compression a segment header names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    Zstd,
    Lz4,
    Gzip,
    Snappy,
}

/// The fixed 28-byte header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub codec: Codec,
    pub encrypted: bool,
    pub segment_id: [u8; 16],
}

/// What a block header says about its records (checked against them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    pub stored_len: u32,
    pub raw_len: u32,
    pub records: u32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub min_timestamp: i64,
    pub max_timestamp: i64,
}

/// The trailer's counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub blocks: u32,
    pub records: u64,
    pub offsets_skipped: u64,
}

/// A whole segment, checked and decoded.
#[derive(Clone, Debug)]
pub struct Segment {
    pub header: Header,
    pub blocks: Vec<BlockInfo>,
    pub trailer: Trailer,
    pub records: Vec<Record>,
}

impl Segment {
    pub fn first_offset(&self) -> Option<i64> {
        self.records.first().map(|r| r.offset)
    }

    pub fn last_offset(&self) -> Option<i64> {
        self.records.last().map(|r| r.offset)
    }
}

/// Decodes a segment; `key` is the 32-byte AES-256 key, required when the header says encrypted.
pub fn decode(bytes: &[u8], key: Option<&[u8]>) -> anyhow::Result<Segment> {
    let mut c = Cursor::new(bytes);
    let header_bytes = c.take(HEADER_LEN).context("segment shorter than its header")?;
    let header = parse_header(header_bytes)?;
    let cipher = match (header.encrypted, key) {
        (false, _) => None,
        (true, None) => bail!("segment is encrypted and no key was given"),
        (true, Some(k)) => {
            Some(Aes256Gcm::new_from_slice(k).map_err(|_| anyhow::anyhow!("AES-256 key must be 32 bytes"))?)
        }
    };
    let mut blocks = Vec::new();
    let mut records: Vec<Record> = Vec::new();
    loop {
        let rest = &bytes[c.pos..];
        if rest.starts_with(b"KBSEGEND") {
            break;
        }
        ensure!(rest.starts_with(b"KBBL"), "neither a block nor the trailer at byte {}", c.pos);
        let index = u32::try_from(blocks.len())?;
        let at = c.pos;
        let (info, block_records) = decode_block(&mut c, header_bytes, index, cipher.as_ref(), header.codec)
            .with_context(|| format!("block {index} at byte {at}"))?;
        if let (Some(prev), Some(first)) = (records.last(), block_records.first()) {
            ensure!(
                first.offset > prev.offset,
                "block {index} starts at {} after {}",
                first.offset,
                prev.offset
            );
        }
        blocks.push(info);
        records.extend(block_records);
    }
    let trailer_bytes = c.take(TRAILER_LEN).context("truncated trailer")?;
    ensure!(c.is_empty(), "{} bytes after the trailer", bytes.len() - c.pos);
    let trailer = parse_trailer(trailer_bytes)?;
    ensure!(
        trailer.blocks as usize == blocks.len(),
        "trailer says {} blocks, found {}",
        trailer.blocks,
        blocks.len()
    );
    ensure!(
        trailer.records == records.len() as u64,
        "trailer says {} records, found {}",
        trailer.records,
        records.len()
    );
    let skipped = match (records.first(), records.last()) {
        (Some(f), Some(l)) => (l.offset - f.offset + 1) as u64 - records.len() as u64,
        _ => 0,
    };
    ensure!(
        trailer.offsets_skipped == skipped,
        "trailer says {} offsets skipped, records skip {skipped}",
        trailer.offsets_skipped
    );
    Ok(Segment { header, blocks, trailer, records })
}

fn parse_header(h: &[u8]) -> anyhow::Result<Header> {
    let mut c = Cursor::new(h);
    ensure!(c.take(6)? == b"KBSEG\0", "not a segment (magic)");
    let version = c.u16()?;
    ensure!(version == 1, "unknown segment version {version}");
    let codec = match c.u8()? {
        0 => Codec::None,
        1 => Codec::Zstd,
        2 => Codec::Lz4,
        3 => Codec::Gzip,
        4 => Codec::Snappy,
        other => bail!("unknown codec {other}"),
    };
    let encrypted = match c.u8()? {
        0 => false,
        1 => true,
        other => bail!("encrypted flag {other}"),
    };
    let _reserved = c.u16()?;
    let segment_id = c.take(16)?.try_into()?;
    Ok(Header { version, codec, encrypted, segment_id })
}

fn decode_block(
    c: &mut Cursor<'_>,
    segment_header: &[u8],
    index: u32,
    cipher: Option<&Aes256Gcm>,
    codec: Codec,
) -> anyhow::Result<(BlockInfo, Vec<Record>)> {
    let head = c.take(BLOCK_HEADER_LEN).context("truncated block header")?;
    let mut h = Cursor::new(head);
    h.take(4)?;
    let info = BlockInfo {
        stored_len: h.u32()?,
        raw_len: h.u32()?,
        records: h.u32()?,
        first_offset: h.i64()?,
        last_offset: h.i64()?,
        min_timestamp: h.i64()?,
        max_timestamp: h.i64()?,
    };
    let payload_crc = h.u32()?;
    let header_crc = h.u32()?;
    ensure!(crc32c::crc32c(&head[..52]) == header_crc, "block header CRC32C mismatch");
    let payload = c.take(info.stored_len as usize).context("truncated payload")?;
    ensure!(crc32c::crc32c(payload) == payload_crc, "payload CRC32C mismatch");
    let compressed = match cipher {
        None => payload.to_vec(),
        Some(cipher) => {
            ensure!(payload.len() >= 12 + 16, "sealed payload shorter than nonce and tag");
            let (nonce, sealed) = payload.split_at(12);
            let mut aad = segment_header.to_vec();
            aad.extend_from_slice(&index.to_le_bytes());
            aad.extend_from_slice(&head[8..48]);
            let nonce = Nonce::try_from(nonce).map_err(|_| anyhow::anyhow!("nonce length"))?;
            cipher
                .decrypt(&nonce, Payload { msg: sealed, aad: &aad })
                .map_err(|_| anyhow::anyhow!("AES-GCM authentication failed (wrong key or altered block)"))?
        }
    };
    let raw = match codec {
        Codec::None => compressed,
        Codec::Zstd => zstd::stream::decode_all(&compressed[..]).context("zstd")?,
        Codec::Lz4 => lz4_flex::block::decompress(&compressed, info.raw_len as usize).context("lz4 block")?,
        Codec::Gzip => gunzip(&compressed, info.raw_len)?,
        Codec::Snappy => {
            let said = snap::raw::decompress_len(&compressed).context("snappy length preamble")?;
            ensure!(
                said == info.raw_len as usize,
                "snappy preamble says {said} bytes, raw-len {}",
                info.raw_len
            );
            snap::raw::Decoder::new().decompress_vec(&compressed).context("snappy raw block")?
        }
    };
    ensure!(raw.len() == info.raw_len as usize, "raw-len {} but {} bytes decoded", info.raw_len, raw.len());
    let records = decode_records(&raw, info.first_offset)?;
    ensure!(
        records.len() == info.records as usize,
        "header says {} records, found {}",
        info.records,
        records.len()
    );
    ensure!(records.windows(2).all(|w| w[0].offset < w[1].offset), "offsets not increasing");
    let (first, last) = (records.first().context("empty block")?, records.last().context("empty block")?);
    ensure!(
        first.offset == info.first_offset,
        "first offset {} but header says {}",
        first.offset,
        info.first_offset
    );
    ensure!(
        last.offset == info.last_offset,
        "last offset {} but header says {}",
        last.offset,
        info.last_offset
    );
    let min = records.iter().map(|r| r.timestamp).min().unwrap_or_default();
    let max = records.iter().map(|r| r.timestamp).max().unwrap_or_default();
    ensure!(
        (min, max) == (info.min_timestamp, info.max_timestamp),
        "timestamps {min}..{max} but header says {}..{}",
        info.min_timestamp,
        info.max_timestamp
    );
    Ok((info, records))
}

/// One gzip member and nothing after it, inflated to at most `raw_len` + 1 bytes (so a block
/// that inflates further is refused, not held).
fn gunzip(compressed: &[u8], raw_len: u32) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut member = flate2::bufread::GzDecoder::new(compressed);
    let mut raw = Vec::new();
    (&mut member).take(u64::from(raw_len) + 1).read_to_end(&mut raw).context("gzip member")?;
    ensure!(raw.len() <= raw_len as usize, "gzip block inflates past raw-len {raw_len}");
    let after = member.into_inner().len();
    ensure!(after == 0, "{after} bytes after the gzip member");
    Ok(raw)
}

fn parse_trailer(t: &[u8]) -> anyhow::Result<Trailer> {
    let mut c = Cursor::new(t);
    ensure!(c.take(8)? == b"KBSEGEND", "trailer magic");
    let trailer = Trailer { blocks: c.u32()?, records: c.u64()?, offsets_skipped: c.u64()? };
    ensure!(crc32c::crc32c(&t[..28]) == c.u32()?, "trailer CRC32C mismatch");
    Ok(trailer)
}
