//! Block compression and encryption. Each block is compressed on its own and then, when a key is
//! given, sealed with AES-256-GCM under a fresh random 96-bit nonce, with the block's position
//! as associated data so blocks cannot be swapped or replayed between segments unnoticed.
//!
//! Decompression is bounded by the raw length the block header declares: a block that would
//! inflate past it is refused without ever holding more than that (plus one byte), so a corrupt
//! or hostile segment cannot make a reader allocate more than its header says.

use std::io::Read;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::api::backup::Compression;

thread_local! {
    // zstd contexts are costly to set up and reusable: one per thread instead of one per block
    // (1.1-1.5x faster at 1 MiB blocks).
    static ZSTD_COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    static ZSTD_DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Compression of a block, as stored in the segment header (ids in docs/format.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    Zstd {
        level: i32,
    },
    Lz4,
    /// One gzip member (RFC 1952) per block.
    Gzip {
        level: i32,
    },
    /// Snappy's raw (block) format: no framing, the length preamble must equal the raw length.
    Snappy,
}

/// gzip levels (zlib's 1 fastest to 9 smallest); 0 would store the block uncompressed.
pub const GZIP_LEVELS: std::ops::RangeInclusive<i32> = 1..=9;

impl Codec {
    pub fn new(compression: Compression, level: i32) -> Self {
        match compression {
            Compression::None => Self::None,
            Compression::Zstd => Self::Zstd { level },
            Compression::Lz4 => Self::Lz4,
            Compression::Gzip => Self::Gzip { level },
            Compression::Snappy => Self::Snappy,
        }
    }

    pub(crate) fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Zstd { .. } => 1,
            Self::Lz4 => 2,
            Self::Gzip { .. } => 3,
            Self::Snappy => 4,
        }
    }

    /// The codec of a stored segment (the level only matters when writing); `None` for an id
    /// this version does not know (the reader reports it as corruption, naming the id).
    pub(crate) fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::None,
            1 => Self::Zstd { level: 0 },
            2 => Self::Lz4,
            3 => Self::Gzip { level: 0 },
            4 => Self::Snappy,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Zstd { .. } => "zstd",
            Self::Lz4 => "lz4",
            Self::Gzip { .. } => "gzip",
            Self::Snappy => "snappy",
        }
    }

    pub fn compress(self, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Self::None => Ok(raw.to_vec()),
            Self::Zstd { level } => ZSTD_COMPRESSOR.with(|cell| {
                let mut cached = cell.borrow_mut();
                if cached.as_ref().is_none_or(|(l, _)| *l != level) {
                    *cached = Some((level, zstd::bulk::Compressor::new(level)?));
                }
                match cached.as_mut() {
                    Some((_, compressor)) => compressor.compress(raw),
                    None => zstd::bulk::compress(raw, level),
                }
            }),
            Self::Lz4 => Ok(lz4_flex::block::compress(raw)),
            Self::Gzip { level } => gzip(raw, level),
            Self::Snappy => snap::raw::Encoder::new().compress_vec(raw).map_err(std::io::Error::other),
        }
    }

    /// [`Self::decompress`] of a payload the caller gives up: with no codec it is the raw block
    /// itself, returned without a copy.
    pub fn decompress_owned(self, stored: Vec<u8>, raw_len: usize) -> Result<Vec<u8>, String> {
        match self {
            Self::None if stored.len() == raw_len => Ok(stored),
            codec => codec.decompress(&stored, raw_len),
        }
    }

    /// Decompresses a block whose raw length the block header states; a mismatch is an error,
    /// and no codec produces more than `raw_len` bytes (+1 for gzip, to tell that it inflates
    /// further) before refusing.
    pub fn decompress(self, stored: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
        let raw = match self {
            Self::None => stored.to_vec(),
            Self::Zstd { .. } => ZSTD_DECOMPRESSOR
                .with(|cell| {
                    let mut cached = cell.borrow_mut();
                    if cached.is_none() {
                        *cached = Some(zstd::bulk::Decompressor::new()?);
                    }
                    match cached.as_mut() {
                        Some(decompressor) => decompressor.decompress(stored, raw_len),
                        None => zstd::bulk::decompress(stored, raw_len),
                    }
                })
                .map_err(|e| format!("zstd: {e}"))?,
            Self::Lz4 => lz4_flex::block::decompress(stored, raw_len).map_err(|e| format!("lz4: {e}"))?,
            Self::Gzip { .. } => gunzip(stored, raw_len)?,
            Self::Snappy => unsnap(stored, raw_len)?,
        };
        if raw.len() != raw_len {
            return Err(format!("decompressed to {} bytes, header says {raw_len}", raw.len()));
        }
        Ok(raw)
    }
}

fn gzip(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    // zlib refuses other levels (flate2 would panic on them): the API rules refuse them first.
    let level = u32::try_from(level).ok().filter(|_| GZIP_LEVELS.contains(&level)).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("gzip levels are 1-9, not {level}"))
    })?;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 2 + 64),
        flate2::Compression::new(level),
    );
    encoder.write_all(raw)?;
    encoder.finish()
}

/// One gzip member inflated to at most `raw_len` bytes; its CRC32 and length trailer are checked
/// (they are read when the member ends), and nothing may follow it.
fn gunzip(stored: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    let mut decoder = flate2::bufread::GzDecoder::new(stored);
    let mut raw = Vec::with_capacity(raw_len);
    let limit = u64::try_from(raw_len).map_err(|e| format!("gzip: {e}"))?.saturating_add(1);
    (&mut decoder).take(limit).read_to_end(&mut raw).map_err(|e| format!("gzip: {e}"))?;
    if raw.len() > raw_len {
        return Err(format!("gzip: inflates past the {raw_len} bytes the block header declares"));
    }
    let rest = decoder.into_inner();
    if !rest.is_empty() {
        return Err(format!("gzip: {} bytes after the end of the gzip member", rest.len()));
    }
    Ok(raw)
}

/// A raw snappy block: its length preamble must say `raw_len` before anything is allocated, and
/// the decoder writes into exactly that many bytes.
fn unsnap(stored: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    let declared = snap::raw::decompress_len(stored).map_err(|e| format!("snappy: {e}"))?;
    if declared != raw_len {
        return Err(format!("snappy: block says {declared} bytes, header says {raw_len}"));
    }
    let mut raw = vec![0u8; raw_len];
    let written =
        snap::raw::Decoder::new().decompress(stored, &mut raw).map_err(|e| format!("snappy: {e}"))?;
    raw.truncate(written);
    Ok(raw)
}

/// Length of the nonce stored in front of each sealed block.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM authentication tag at the end of each sealed block.
pub const TAG_LEN: usize = 16;

/// An AES-256 key. Its id (the first 8 bytes of its SHA-256, in hex) is recorded in the manifest
/// so a restore with the wrong key says so before reading any data. The key itself is never
/// stored, printed or logged.
///
/// With keys from a KMS ([`crate::kms`]) a restore point's segments were sealed by several data
/// keys, one per backup that wrote some of them: [`EncryptionKey::ring`] holds them by backup id
/// and [`EncryptionKey::for_object`] picks the one a segment object needs (readers call it).
#[derive(Clone)]
pub struct EncryptionKey {
    cipher: Aes256Gcm,
    id: String,
    /// The data keys of a restore point by the id of the backup whose segments each sealed.
    ring: Option<std::sync::Arc<std::collections::BTreeMap<String, EncryptionKey>>>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl EncryptionKey {
    /// Accepts the key as 32 raw bytes, 64 hex characters or base64 of 32 bytes (surrounding
    /// whitespace, e.g. a trailing newline from `echo`, is ignored).
    pub fn from_secret(material: &[u8]) -> Result<Self, String> {
        let key = if material.len() == 32 {
            material.to_vec()
        } else {
            let text = std::str::from_utf8(material)
                .map_err(|_| format!("encryption key has {} bytes; expected 32 raw bytes, 64 hex characters or base64 of 32 bytes", material.len()))?
                .trim();
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(text).map_err(|e| format!("encryption key: {e}"))?
            } else {
                base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| {
                    "encryption key is neither 32 raw bytes, 64 hex characters nor base64: generate one with `openssl rand -base64 32`".to_string()
                })?
            }
        };
        if key.len() != 32 {
            return Err(format!("encryption key decodes to {} bytes; AES-256 needs 32", key.len()));
        }
        let cipher =
            Aes256Gcm::new_from_slice(&key).map_err(|_| "encryption key: invalid length".to_string())?;
        let id = hex::encode(&Sha256::digest(&key)[..8]);
        Ok(Self { cipher, id, ring: None })
    }

    /// A fresh random data key (envelope encryption) and its 32 bytes, which the caller has
    /// wrapped by a KMS and then drops.
    pub fn generate() -> Result<(Self, zeroize::Zeroizing<Vec<u8>>), String> {
        let mut raw = zeroize::Zeroizing::new(vec![0u8; 32]);
        getrandom::fill(&mut raw).map_err(|e| format!("no randomness for a data key: {e}"))?;
        Ok((Self::from_secret(&raw)?, raw))
    }

    /// The data keys of a restore point, by the id of the backup whose segments each sealed;
    /// `own` is the key of the backup the manifest belongs to (what [`seal`](Self::seal) and
    /// [`id`](Self::id) of the ring use), `id` what the manifest records as its key id.
    pub fn ring(
        own: &EncryptionKey,
        id: &str,
        keys: std::collections::BTreeMap<String, EncryptionKey>,
    ) -> Self {
        Self { cipher: own.cipher.clone(), id: id.to_string(), ring: Some(std::sync::Arc::new(keys)) }
    }

    /// The key that sealed segment `object`: this key, or for a ring the data key of the backup
    /// the object lives under (`backups/<id>/segments/…`).
    pub fn for_object(&self, object: &str) -> Result<EncryptionKey, String> {
        let Some(ring) = &self.ring else { return Ok(self.clone()) };
        let backup = super::data_keys::backup_of_segment(object).ok_or_else(|| {
            format!("segment {object} is under no backup id, so no data key is known for it")
        })?;
        ring.get(backup).cloned().ok_or_else(|| {
            format!(
                "segment {object} was written by backup {backup}, whose data key the manifest does not carry"
            )
        })
    }

    /// Identifies the key without revealing it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("no randomness for a nonce: {e}"))?;
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
            .map_err(|_| "encryption failed".to_string())?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) produced; `None` for a wrong key or altered bytes.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher.decrypt(&Nonce::from(nonce), Payload { msg: body, aad }).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    const EVERY_CODEC: [Codec; 5] =
        [Codec::None, Codec::Zstd { level: 3 }, Codec::Lz4, Codec::Gzip { level: 6 }, Codec::Snappy];

    /// About 1 MiB of record-like bytes: repetitive, with some noise so no codec has it trivially.
    fn block() -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..1_000_000u32)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if i % 31 == 0 { state as u8 } else { (i % 17) as u8 + b'a' }
            })
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let raw = block();
        for codec in EVERY_CODEC {
            let stored = codec.compress(&raw).expect("compress");
            assert_eq!(codec.decompress(&stored, raw.len()).expect("decompress"), raw, "{codec:?}");
            assert_eq!(Codec::from_id(codec.id()).map(Codec::name), Some(codec.name()));
            if codec != Codec::None {
                assert!(stored.len() < raw.len() / 2, "{codec:?} compresses: {} bytes", stored.len());
            }
            // An empty block and a one-byte block too.
            for tiny in [&b""[..], b"x"] {
                let stored = codec.compress(tiny).expect("compress");
                assert_eq!(codec.decompress(&stored, tiny.len()).expect("decompress"), tiny, "{codec:?}");
            }
        }
        assert!(Codec::Zstd { level: 3 }.compress(&raw).expect("zstd").len() < raw.len() / 5);
    }

    #[test]
    fn ids_are_the_documented_ones_and_unknown_ids_are_refused() {
        let ids: Vec<(u8, &str)> = EVERY_CODEC.iter().map(|c| (c.id(), c.name())).collect();
        assert_eq!(ids, [(0, "none"), (1, "zstd"), (2, "lz4"), (3, "gzip"), (4, "snappy")]);
        for id in 5..=u8::MAX {
            assert_eq!(Codec::from_id(id), None, "id {id}");
        }
        for (compression, codec) in [
            (Compression::None, Codec::None),
            (Compression::Zstd, Codec::Zstd { level: 4 }),
            (Compression::Lz4, Codec::Lz4),
            (Compression::Gzip, Codec::Gzip { level: 4 }),
            (Compression::Snappy, Codec::Snappy),
        ] {
            assert_eq!(Codec::new(compression, 4), codec);
        }
    }

    #[test]
    fn gzip_levels_are_honoured_and_others_refused_without_panicking() {
        let raw = block();
        let fast = Codec::Gzip { level: 1 }.compress(&raw).expect("level 1");
        let small = Codec::Gzip { level: 9 }.compress(&raw).expect("level 9");
        assert!(small.len() < fast.len(), "level 9 ({}) smaller than level 1 ({})", small.len(), fast.len());
        for level in [0, 10, 22, -1] {
            let err = Codec::Gzip { level }.compress(&raw).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("gzip levels are 1-9"), "level {level}: {err:?}");
        }
        // Standard gzip: the magic and deflate method, readable by any gzip tool.
        assert_eq!(small[..3], [0x1f, 0x8b, 8]);
    }

    #[test]
    fn truncated_blocks_are_refused() {
        let raw = block();
        for codec in EVERY_CODEC {
            let stored = codec.compress(&raw).expect("compress");
            for cut in [stored.len() - 1, stored.len() / 2, 3, 0] {
                assert!(codec.decompress(&stored[..cut], raw.len()).is_err(), "{codec:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn corrupt_blocks_are_refused() {
        let raw = block();
        let refused = |codec: Codec, stored: &[u8]| match codec.decompress(stored, raw.len()) {
            Ok(_) => panic!("{codec:?}: a damaged block decoded"),
            Err(e) => e,
        };
        // gzip carries its own CRC-32 and length: a flipped bit in the deflate stream (not in the
        // final byte's padding bits, which nothing reads) or in the trailer is caught.
        let gzip = Codec::Gzip { level: 6 };
        let stored = gzip.compress(&raw).expect("gzip");
        for at in
            [0, 10, stored.len() / 3, stored.len() / 2, stored.len() - 12, stored.len() - 6, stored.len() - 1]
        {
            let mut bad = stored.clone();
            bad[at] ^= 0x10;
            let err = refused(gzip, &bad);
            assert!(err.starts_with("gzip") || err.contains("header says"), "{at}: {err}");
        }
        let mut trailing = stored.clone();
        trailing.push(0);
        assert!(refused(gzip, &trailing).contains("after the end of the gzip member"));
        // snappy's length preamble must say what the block header says.
        let stored = Codec::Snappy.compress(&raw).expect("snappy");
        let mut bad = stored.clone();
        bad[0] ^= 0x01;
        assert!(refused(Codec::Snappy, &bad).contains("snappy: block says"));
        // Garbage is no valid block of any compressing codec (the payload CRC32C catches the rest).
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for codec in EVERY_CODEC.into_iter().filter(|c| *c != Codec::None) {
            refused(codec, &garbage);
        }
    }

    #[test]
    fn no_codec_inflates_past_the_declared_length() {
        // 16 MiB of zeros compress to a few KiB: declared as 1 MiB, the block is refused (each
        // codec decodes into at most the declared length, +1 byte for gzip).
        let bomb = vec![0u8; 16 << 20];
        let declared = 1 << 20;
        for codec in EVERY_CODEC {
            let stored = codec.compress(&bomb).expect("compress");
            assert!(codec.decompress(&stored, declared).is_err(), "{codec:?} inflates past its raw length");
            // One byte short is refused too, and one byte long.
            let stored = codec.compress(&bomb[..declared]).expect("compress");
            assert!(codec.decompress(&stored, declared - 1).is_err(), "{codec:?} short");
            assert!(codec.decompress(&stored, declared + 1).is_err(), "{codec:?} long");
        }
        let stored = Codec::Gzip { level: 6 }.compress(&bomb).expect("gzip");
        let err = Codec::Gzip { level: 6 }.decompress(&stored, declared).err().unwrap_or_default();
        assert!(err.contains("inflates past the 1048576 bytes"), "{err}");
    }

    #[test]
    fn key_formats_are_equivalent_and_ids_stable() {
        let raw = hex::decode(HEX_KEY).expect("hex");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let ids: Vec<String> = [raw.clone(), format!("{HEX_KEY}\n").into_bytes(), b64.into_bytes()]
            .iter()
            .map(|m| EncryptionKey::from_secret(m).expect("key").id().to_string())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
        assert!(EncryptionKey::from_secret(b"too short").is_err());
        assert!(!format!("{:?}", EncryptionKey::from_secret(&raw).expect("key")).contains(HEX_KEY));
    }

    #[test]
    fn sealing_is_authenticated_and_nonces_differ() {
        let key = EncryptionKey::from_secret(HEX_KEY.as_bytes()).expect("key");
        let a = key.seal(b"block 0", b"secret records").expect("seal");
        let b = key.seal(b"block 0", b"secret records").expect("seal");
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN], "a fresh nonce per block");
        assert_eq!(key.open(b"block 0", &a).as_deref(), Some(&b"secret records"[..]));
        assert_eq!(key.open(b"block 1", &a), None, "moved to another position");
        let mut tampered = a.clone();
        tampered[NONCE_LEN + 2] ^= 1;
        assert_eq!(key.open(b"block 0", &tampered), None);
        let other = EncryptionKey::from_secret(&[7u8; 32]).expect("key");
        assert_eq!(other.open(b"block 0", &a), None, "wrong key");
    }
}
