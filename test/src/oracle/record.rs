//! The record encoding inside a decompressed block, decoded from docs/format.md alone
//! ("Records"): zigzag/LEB128 varints and length-prefixed nullables.

use anyhow::{Context, bail, ensure};

/// How the broker stamped a record's timestamp (format.md: 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    NotAvailable,
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    fn from_byte(b: u8) -> anyhow::Result<Self> {
        Ok(match b {
            0 => Self::NotAvailable,
            1 => Self::CreateTime,
            2 => Self::LogAppendTime,
            other => bail!("unknown timestamp type {other}"),
        })
    }
}

/// One record as the oracle reads it: plain bytes, nothing shared with the product's types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// In order, duplicates kept.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A cursor over a byte slice that fails on every read past its end.
pub(crate) struct Cursor<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).context("length overflow")?;
        ensure!(
            end <= self.bytes.len(),
            "{n} bytes wanted at {}, {} left",
            self.pos,
            self.bytes.len() - self.pos
        );
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> anyhow::Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into()?))
    }

    pub(crate) fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }

    pub(crate) fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }

    pub(crate) fn i64(&mut self) -> anyhow::Result<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into()?))
    }

    /// Unsigned LEB128, at most 10 bytes for 64 bits.
    pub(crate) fn varint(&mut self) -> anyhow::Result<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            ensure!(i < 9 || b <= 1, "varint overflows 64 bits");
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("varint longer than 10 bytes")
    }

    /// Zigzag over 64 bits: 0, -1, 1, -2, ... as 0, 1, 2, 3, ...
    pub(crate) fn zigzag(&mut self) -> anyhow::Result<i64> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn length(&mut self) -> anyhow::Result<usize> {
        usize::try_from(self.varint()?).context("length too large")
    }

    /// `0` is null, `len + 1` is followed by `len` bytes.
    pub(crate) fn nullable(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        match self.length()? {
            0 => Ok(None),
            n => Ok(Some(self.take(n - 1)?.to_vec())),
        }
    }
}

/// Every record of a decompressed block, whose header says it starts at `first_offset`.
pub fn decode_records(block: &[u8], first_offset: i64) -> anyhow::Result<Vec<Record>> {
    let mut c = Cursor::new(block);
    let mut out = Vec::new();
    while !c.is_empty() {
        let at = c.pos;
        out.push(decode_record(&mut c, first_offset).with_context(|| format!("record at byte {at}"))?);
    }
    Ok(out)
}

fn decode_record(c: &mut Cursor<'_>, first_offset: i64) -> anyhow::Result<Record> {
    let offset = first_offset.checked_add(c.zigzag()?).context("offset overflow")?;
    let timestamp = c.zigzag()?;
    let timestamp_type = TimestampType::from_byte(c.u8()?)?;
    let key = c.nullable()?;
    let value = c.nullable()?;
    let count = c.varint()?;
    let mut headers = Vec::new();
    for _ in 0..count {
        let len = c.length()?;
        let name = String::from_utf8(c.take(len)?.to_vec()).context("header key is not UTF-8")?;
        headers.push((name, c.nullable()?));
    }
    Ok(Record { offset, timestamp, timestamp_type, key, value, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_per_the_doc() -> anyhow::Result<()> {
        assert_eq!(Cursor::new(&[0x96, 0x01]).varint()?, 150);
        assert_eq!(Cursor::new(&[0x03]).zigzag()?, -2);
        assert_eq!(Cursor::new(&[0x04]).zigzag()?, 2);
        assert!(Cursor::new(&[0x80]).varint().is_err());
        Ok(())
    }

    #[test]
    fn decodes_a_hand_written_record() -> anyhow::Result<()> {
        // delta 1, ts 5, CreateTime, key null, value "", 2 headers: "h"=null, "h"="x"
        let bytes = [2, 10, 1, 0, 1, 2, 1, b'h', 0, 1, b'h', 2, b'x'];
        let got = decode_records(&bytes, 10)?;
        assert_eq!(
            got,
            vec![Record {
                offset: 11,
                timestamp: 5,
                timestamp_type: TimestampType::CreateTime,
                key: None,
                value: Some(vec![]),
                headers: vec![("h".into(), None), ("h".into(), Some(b"x".to_vec()))],
            }]
        );
        Ok(())
    }
}
