//! One Kafka record exactly as it was consumed: offset, timestamp and its type, key, value and
//! headers, each of which may be null. Nothing is normalised: a restore writes back what was read.

use bytes::{Buf, BufMut, Bytes};

use super::varint;

/// Kafka's timestamp types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimestampType {
    /// The record carries no timestamp (old message formats).
    NotAvailable,
    /// Set by the producer.
    CreateTime,
    /// Set by the broker when it appended the record.
    LogAppendTime,
}

impl TimestampType {
    fn to_u8(self) -> u8 {
        match self {
            Self::NotAvailable => 0,
            Self::CreateTime => 1,
            Self::LogAppendTime => 2,
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::NotAvailable,
            1 => Self::CreateTime,
            2 => Self::LogAppendTime,
            _ => return None,
        })
    }
}

/// A record header; header values may be null, keys may not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

/// One record of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

impl Record {
    /// The record as a [`RecordRef`] borrowing its bytes (it encodes to the same bytes).
    pub fn borrowed(&self) -> RecordRef<'_> {
        RecordRef {
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: self.headers.iter().map(|h| (h.key.as_str(), h.value.as_deref())).collect(),
        }
    }

    /// Bytes of key, value and headers: what the record weighs for size accounting.
    pub fn payload_len(&self) -> usize {
        self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + self.headers.iter().map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len)).sum::<usize>()
    }

    /// Appends the encoding: offset as a delta from `base_offset`, then timestamp, type, key,
    /// value and headers; nullable byte strings are prefixed with length + 1 (0 = null).
    pub fn encode(&self, base_offset: i64, buf: &mut impl BufMut) {
        encode_fields(
            buf,
            self.offset - base_offset,
            self.timestamp,
            self.timestamp_type,
            self.key.as_deref(),
            self.value.as_deref(),
            self.headers.iter().map(|h| (h.key.as_str(), h.value.as_deref())),
        );
    }

    /// Decodes one record from `buf` (a decompressed block shared as `Bytes`, so keys and values
    /// are slices of it, not copies). The error says which field was malformed.
    pub fn decode(base_offset: i64, buf: &mut Bytes) -> Result<Self, String> {
        let offset = varint::get_signed(buf).ok_or("offset")? + base_offset;
        let timestamp = varint::get_signed(buf).ok_or("timestamp")?;
        if !buf.has_remaining() {
            return Err("timestamp type".into());
        }
        let timestamp_type = TimestampType::from_u8(buf.get_u8()).ok_or("timestamp type value")?;
        let key = get_nullable(buf).ok_or("key")?;
        let value = get_nullable(buf).ok_or("value")?;
        let count = varint::get(buf).ok_or("header count")?;
        let mut headers = Vec::with_capacity(count.min(1024) as usize);
        for _ in 0..count {
            let len = varint::get(buf).ok_or("header key length")? as usize;
            if buf.remaining() < len {
                return Err("header key".into());
            }
            let key = String::from_utf8(buf.split_to(len).to_vec()).map_err(|_| "header key is not UTF-8")?;
            let value = get_nullable(buf).ok_or("header value")?;
            headers.push(Header { key, value });
        }
        Ok(Self { offset, timestamp, timestamp_type, key, value, headers })
    }
}

/// What a segment writer needs of a record: a [`Record`], or a [`RecordRef`] that borrows the
/// bytes of a consumed message (a backup encodes those without copying them first).
pub trait Encode {
    fn offset(&self) -> i64;
    fn timestamp(&self) -> i64;
    /// Bytes of key, value and headers ([`Record::payload_len`]).
    fn payload_len(&self) -> usize;
    /// Appends the encoding ([`Record::encode`]).
    fn encode_into(&self, base_offset: i64, buf: &mut Vec<u8>);
}

impl Encode for Record {
    fn offset(&self) -> i64 {
        self.offset
    }
    fn timestamp(&self) -> i64 {
        self.timestamp
    }
    fn payload_len(&self) -> usize {
        Record::payload_len(self)
    }
    fn encode_into(&self, base_offset: i64, buf: &mut Vec<u8>) {
        self.encode(base_offset, buf);
    }
}

/// A record whose key, value and headers are borrowed (from a consumed Kafka message): encoded
/// into a segment block straight from the client's buffer, the one copy of its bytes a backup
/// makes. Encodes to the same bytes as the [`Record`] [`RecordRef::to_record`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// Header keys and values; empty (and not allocated) for the usual record without headers.
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
}

impl RecordRef<'_> {
    /// The record with its bytes copied out.
    pub fn to_record(&self) -> Record {
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            key: self.key.map(Bytes::copy_from_slice),
            value: self.value.map(Bytes::copy_from_slice),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| Header { key: (*k).to_string(), value: v.map(Bytes::copy_from_slice) })
                .collect(),
        }
    }
}

impl Encode for RecordRef<'_> {
    fn offset(&self) -> i64 {
        self.offset
    }
    fn timestamp(&self) -> i64 {
        self.timestamp
    }
    fn payload_len(&self) -> usize {
        self.key.map_or(0, <[u8]>::len)
            + self.value.map_or(0, <[u8]>::len)
            + self.headers.iter().map(|(k, v)| k.len() + v.map_or(0, <[u8]>::len)).sum::<usize>()
    }
    fn encode_into(&self, base_offset: i64, buf: &mut Vec<u8>) {
        encode_fields(
            buf,
            self.offset - base_offset,
            self.timestamp,
            self.timestamp_type,
            self.key,
            self.value,
            self.headers.iter().copied(),
        );
    }
}

/// The encoding of one record, whoever holds its bytes ([`Record::encode`] describes it).
fn encode_fields<'h>(
    buf: &mut impl BufMut,
    offset_delta: i64,
    timestamp: i64,
    timestamp_type: TimestampType,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'h str, Option<&'h [u8]>)>,
) {
    varint::put_signed(buf, offset_delta);
    varint::put_signed(buf, timestamp);
    buf.put_u8(timestamp_type.to_u8());
    put_nullable(buf, key);
    put_nullable(buf, value);
    varint::put(buf, headers.len() as u64);
    for (key, value) in headers {
        varint::put(buf, key.len() as u64);
        buf.put_slice(key.as_bytes());
        put_nullable(buf, value);
    }
}

fn put_nullable(buf: &mut impl BufMut, v: Option<&[u8]>) {
    match v {
        None => varint::put(buf, 0),
        Some(b) => {
            varint::put(buf, b.len() as u64 + 1);
            buf.put_slice(b);
        }
    }
}

fn get_nullable(buf: &mut Bytes) -> Option<Option<Bytes>> {
    let n = varint::get(buf)?;
    if n == 0 {
        return Some(None);
    }
    let len = usize::try_from(n - 1).ok()?;
    (buf.remaining() >= len).then(|| Some(buf.split_to(len)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record with every field exercised; `n` varies nulls and sizes.
    pub fn sample(offset: i64, n: usize) -> Record {
        Record {
            offset,
            timestamp: 1_760_000_000_000 + offset,
            timestamp_type: if n.is_multiple_of(3) {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            key: (!n.is_multiple_of(7)).then(|| Bytes::from(format!("key-{n}"))),
            value: (!n.is_multiple_of(5)).then(|| Bytes::from(vec![n as u8; n % 300])),
            headers: (0..n % 3)
                .map(|i| Header { key: format!("h{i}"), value: (i != 1).then(|| Bytes::from_static(b"v")) })
                .collect(),
        }
    }

    #[test]
    fn round_trips_every_field_including_nulls() {
        let records: Vec<Record> = (0..50).map(|n| sample(1000 + 2 * n as i64, n)).collect();
        let mut buf = Vec::new();
        for r in &records {
            r.encode(1000, &mut buf);
        }
        let mut bytes = Bytes::from(buf);
        for r in &records {
            assert_eq!(&Record::decode(1000, &mut bytes).expect("decodes"), r);
        }
        assert!(bytes.is_empty());
    }

    #[test]
    fn a_borrowed_record_encodes_as_the_record_it_copies_to() {
        for n in 0..50 {
            let r = sample(1000 + 2 * n as i64, n);
            let borrowed = r.borrowed();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            r.encode(1000, &mut a);
            borrowed.encode_into(1000, &mut b);
            assert_eq!(a, b, "record {n}");
            assert_eq!(Encode::payload_len(&borrowed), r.payload_len());
            assert_eq!(borrowed.to_record(), r);
        }
    }

    #[test]
    fn empty_key_is_not_null() {
        let mut r = sample(0, 1);
        r.key = Some(Bytes::new());
        r.value = None;
        let mut buf = Vec::new();
        r.encode(0, &mut buf);
        let back = Record::decode(0, &mut Bytes::from(buf)).expect("decodes");
        assert_eq!(back.key, Some(Bytes::new()));
        assert_eq!(back.value, None);
    }

    #[test]
    fn truncated_input_names_the_field() {
        let mut buf = Vec::new();
        sample(5, 4).encode(0, &mut buf);
        buf.truncate(buf.len() - 3);
        assert!(Record::decode(0, &mut Bytes::from(buf)).is_err());
    }
}
