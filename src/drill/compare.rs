//! Comparing a scratch partition with the backup, record for record: the n-th record the backup
//! holds for a partition against the n-th record read back from its scratch partition (restored
//! records do not keep their offsets: each commit of the restore leaves a marker offset). Each
//! record is reduced to SHA-256 digests of its key, value and headers plus its timestamp, so a
//! difference names the field; the partition's stream digest (every record digest in order)
//! of both sides is kept too. Pure: the records come from the caller.

use sha2::{Digest, Sha256};

use super::result::{FIRST_MISMATCHES, Mismatch};
use crate::format::record::{Record, TimestampType};

/// What of a record a restore must carry over, hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordDigest {
    key: [u8; 32],
    value: [u8; 32],
    headers: [u8; 32],
    timestamp: i64,
    timestamp_type: TimestampType,
}

/// Null and empty hash differently (a tombstone is not an empty value).
fn nullable(h: &mut Sha256, bytes: Option<&[u8]>) {
    match bytes {
        None => h.update([0u8]),
        Some(b) => {
            h.update([1u8]);
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
    }
}

fn digest(fill: impl FnOnce(&mut Sha256)) -> [u8; 32] {
    let mut h = Sha256::new();
    fill(&mut h);
    h.finalize().into()
}

impl RecordDigest {
    pub fn of(r: &Record) -> Self {
        Self {
            key: digest(|h| nullable(h, r.key.as_deref())),
            value: digest(|h| nullable(h, r.value.as_deref())),
            headers: digest(|h| {
                // Order and repetition of headers are part of the record.
                h.update((r.headers.len() as u64).to_be_bytes());
                for header in &r.headers {
                    nullable(h, Some(header.key.as_bytes()));
                    nullable(h, header.value.as_deref());
                }
            }),
            timestamp: r.timestamp,
            timestamp_type: r.timestamp_type,
        }
    }

    /// The fields of `restored` that differ from this backed-up record. The timestamp is compared
    /// unless the scratch topic sets its own (`LogAppendTime`, a backed-up topic config applied
    /// after the restore) — as a resumed restore does.
    fn differences(&self, restored: &Self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.key != restored.key {
            out.push("key");
        }
        if self.value != restored.value {
            out.push("value");
        }
        if self.headers != restored.headers {
            out.push("headers");
        }
        if restored.timestamp_type == TimestampType::CreateTime
            && self.timestamp >= 0
            && self.timestamp != restored.timestamp
        {
            out.push("timestamp");
        }
        out
    }

    fn feed(&self, h: &mut Sha256) {
        h.update(self.key);
        h.update(self.value);
        h.update(self.headers);
        h.update(self.timestamp.to_be_bytes());
    }
}

/// The comparison of one partition, fed pair by pair.
pub struct PartitionComparison {
    topic: String,
    partition: i32,
    /// Pairs compared (both sides held a record).
    pub compared: u64,
    pub mismatches: u64,
    pub first: Vec<Mismatch>,
    backup_stream: Sha256,
    restored_stream: Sha256,
}

impl PartitionComparison {
    pub fn new(topic: &str, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
            compared: 0,
            mismatches: 0,
            first: Vec::new(),
            backup_stream: Sha256::new(),
            restored_stream: Sha256::new(),
        }
    }

    /// The n-th record of the backup and the n-th read back; `None` once a side has no more.
    pub fn pair(&mut self, backup: Option<&Record>, restored: Option<&Record>) {
        let (b, r) = (backup.map(RecordDigest::of), restored.map(RecordDigest::of));
        if let Some(d) = &b {
            d.feed(&mut self.backup_stream);
        }
        if let Some(d) = &r {
            d.feed(&mut self.restored_stream);
        }
        let what = match (&b, &r) {
            (None, None) => return,
            (Some(b), Some(r)) => {
                self.compared += 1;
                let differ = b.differences(r);
                if differ.is_empty() {
                    return;
                }
                differ.join(", ")
            }
            (Some(_), None) => "missing".to_string(),
            (None, Some(_)) => "extra".to_string(),
        };
        self.mismatches += 1;
        if self.first.len() < FIRST_MISMATCHES {
            self.first.push(Mismatch {
                topic: self.topic.clone(),
                partition: self.partition,
                offset: backup.map(|r| r.offset),
                restored_offset: restored.map(|r| r.offset),
                what,
            });
        }
    }

    /// Both sides' stream digests (hex): equal exactly when every record matched.
    pub fn stream_digests(&self) -> (String, String) {
        (
            hex::encode(self.backup_stream.clone().finalize()),
            hex::encode(self.restored_stream.clone().finalize()),
        )
    }
}

/// Compares two whole partitions (for tests and small inputs): pairs the n-th records.
pub fn compare(topic: &str, partition: i32, backup: &[Record], restored: &[Record]) -> PartitionComparison {
    let mut c = PartitionComparison::new(topic, partition);
    for i in 0..backup.len().max(restored.len()) {
        c.pair(backup.get(i), restored.get(i));
    }
    c
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::format::record::Header;

    /// A backed-up partition at offsets 10.. and the same records restored at other offsets
    /// (commit markers between them).
    fn partition() -> (Vec<Record>, Vec<Record>) {
        let backup: Vec<Record> = (0..6)
            .map(|i| Record {
                offset: 10 + i,
                timestamp: 1_000 + i,
                timestamp_type: TimestampType::CreateTime,
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: (i != 3).then(|| Bytes::from(format!("v{i}"))),
                headers: vec![Header { key: "h".into(), value: (i != 4).then(|| Bytes::from_static(b"x")) }],
            })
            .collect();
        let restored =
            backup.iter().enumerate().map(|(n, r)| Record { offset: 2 * n as i64, ..r.clone() }).collect();
        (backup, restored)
    }

    fn only(c: &PartitionComparison) -> &Mismatch {
        assert_eq!((c.mismatches, c.first.len()), (1, 1), "{:?}", c.first);
        &c.first[0]
    }

    #[test]
    fn the_same_records_at_other_offsets_match() {
        let (backup, restored) = partition();
        let c = compare("orders", 1, &backup, &restored);
        assert_eq!((c.compared, c.mismatches), (6, 0));
        let (b, r) = c.stream_digests();
        assert_eq!(b, r);
    }

    #[test]
    fn each_altered_field_is_named_with_topic_partition_and_the_backups_offset() {
        type Alter = fn(&mut Record);
        let cases: [(&str, Alter); 5] = [
            ("key", |r| r.key = Some(Bytes::from_static(b"other"))),
            ("value", |r| r.value = Some(Bytes::new())),
            ("headers", |r| r.headers[0].value = None),
            ("timestamp", |r| r.timestamp += 1),
            ("key, headers", |r| {
                r.key = None;
                r.headers.push(Header { key: "h".into(), value: None });
            }),
        ];
        for (what, alter) in cases {
            let (backup, mut restored) = partition();
            alter(&mut restored[2]);
            let c = compare("orders", 1, &backup, &restored);
            let m = only(&c);
            assert_eq!(
                (m.topic.as_str(), m.partition, m.offset, m.restored_offset, m.what.as_str()),
                ("orders", 1, Some(12), Some(4), what)
            );
            assert_eq!(c.compared, 6);
            let (b, r) = c.stream_digests();
            assert_ne!(b, r, "{what}: the stream digests differ too");
        }
    }

    #[test]
    fn a_null_value_is_not_an_empty_one() {
        let (backup, mut restored) = partition();
        assert_eq!(backup[3].value, None);
        restored[3].value = Some(Bytes::new());
        assert_eq!(only(&compare("orders", 1, &backup, &restored)).what, "value");
    }

    #[test]
    fn a_missing_record_is_named_by_its_backup_offset_and_shifts_nothing_before_it() {
        let (backup, mut restored) = partition();
        restored.pop();
        let c = compare("orders", 1, &backup, &restored);
        let m = only(&c);
        assert_eq!((m.offset, m.restored_offset, m.what.as_str()), (Some(15), None, "missing"));
        assert_eq!(c.compared, 5);
    }

    #[test]
    fn an_extra_record_is_named_by_where_it_was_read_back() {
        let (backup, mut restored) = partition();
        let extra = Record { offset: 12, ..restored[0].clone() };
        restored.push(extra);
        let m = only(&compare("orders", 1, &backup, &restored)).clone();
        assert_eq!(
            (m.topic.as_str(), m.partition, m.offset, m.restored_offset, m.what.as_str()),
            ("orders", 1, None, Some(12), "extra")
        );
    }

    #[test]
    fn a_broker_set_timestamp_is_not_compared() {
        let (backup, mut restored) = partition();
        restored[1].timestamp = 99;
        restored[1].timestamp_type = TimestampType::LogAppendTime;
        assert_eq!(compare("orders", 1, &backup, &restored).mismatches, 0);
    }

    #[test]
    fn only_the_first_mismatches_are_named_but_all_are_counted() {
        let one = partition().0[0].clone();
        let backup: Vec<Record> = (0..100).map(|i| Record { offset: i, ..one.clone() }).collect();
        let c = compare("orders", 0, &backup, &[]);
        assert_eq!((c.mismatches, c.first.len()), (100, FIRST_MISMATCHES));
        assert_eq!(c.first[0].offset, Some(0));
    }
}
