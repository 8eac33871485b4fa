//! The compatibility lock of the backup format: checked-in objects (test/golden/v1/, never
//! regenerated, see its README) must read back to exactly the records written out below, both
//! through the independent decoder of `strimzi_backup_e2e::oracle` (written from docs/format.md)
//! and through the product's own reader; and damage to any part of them fails both. No
//! environment needed.

use std::path::{Path, PathBuf};

use strimzi_backup_e2e::oracle::{self, Record, TimestampType};
use strimzi_backup_operator::format::codec::EncryptionKey;
use strimzi_backup_operator::format::manifest::Manifest as ProductManifest;
use strimzi_backup_operator::format::record::{
    Record as ProductRecord, TimestampType as ProductTimestampType,
};
use strimzi_backup_operator::format::segment::SegmentReader;

/// Backup ids of the two golden manifests.
const V2: &str = "golden-v2";
const V1: &str = "golden-v1";

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/v1")
}

fn read(relative: &str) -> Vec<u8> {
    std::fs::read(golden().join(relative)).unwrap_or_else(|e| panic!("golden object {relative}: {e}"))
}

/// The test-only AES-256 key the encrypted golden segment was sealed with.
fn test_key() -> Vec<u8> {
    let text = String::from_utf8(read("TEST-ONLY-aes256-key.hex")).expect("key file is text");
    hex::decode(text.trim()).expect("key file is hex")
}

fn segment_object(backup: &str, topic: &str, partition: i32, first: i64) -> String {
    format!("backups/{backup}/segments/{topic}/{partition}/{first:020}.kbseg")
}

// ---- Expected records, written out (not computed by the product) ----

#[allow(clippy::too_many_arguments)]
fn rec(
    offset: i64,
    timestamp: i64,
    timestamp_type: TimestampType,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, Option<&[u8]>)],
) -> Record {
    Record {
        offset,
        timestamp,
        timestamp_type,
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.map(<[u8]>::to_vec))).collect(),
    }
}

/// Six records at `base + {0, 1, 2, 5, 6, 10}` (gaps of two and three offsets inside the
/// segment): null key, empty key, tombstones, an empty value, duplicate header keys, null
/// header values, an empty header key, all three timestamp types, non-UTF-8 bytes.
fn variety(base: i64) -> Vec<Record> {
    use TimestampType::*;
    vec![
        rec(
            base,
            1_700_000_000_000,
            CreateTime,
            None,
            Some(b"v0"),
            &[("dup", Some(b"a")), ("dup", Some(b"b")), ("nil", None)],
        ),
        rec(base + 1, 1_700_000_000_001, LogAppendTime, Some(b""), None, &[]),
        rec(
            base + 2,
            -1,
            NotAvailable,
            Some(&[0xff, 0xfe, 0x00, 0x80]),
            Some(&[0xc3, 0x28, 0x00, 0xff]),
            &[("bin", Some(&[0x00, 0xff]))],
        ),
        rec(base + 5, 1_699_999_999_000, CreateTime, Some(b"k5"), Some(b""), &[("", Some(b""))]),
        rec(
            base + 6,
            1_700_000_000_006,
            CreateTime,
            Some("ключ".as_bytes()),
            Some(b"v6"),
            &[("h", None), ("h", None)],
        ),
        rec(base + 10, 253_402_300_799_999, LogAppendTime, None, None, &[]),
    ]
}

/// The record larger than a block: 1,100,000 bytes `i % 251`.
fn big_value() -> Vec<u8> {
    (0..1_100_000u32).map(|i| (i % 251) as u8).collect()
}

/// The zstd segment: the big record first (so it fills block 0 alone), then [`variety`].
fn zstd_records() -> Vec<Record> {
    let mut out =
        vec![rec(0, 1_700_000_000_500, TimestampType::CreateTime, Some(b"big"), Some(&big_value()), &[])];
    out.extend(variety(1));
    out
}

/// Every golden segment: object, records, whether encrypted, blocks.
fn golden_segments() -> Vec<(String, Vec<Record>, bool, usize)> {
    vec![
        (segment_object(V2, "golden", 0, 100), variety(100), false, 1),
        (segment_object(V2, "golden", 1, 0), zstd_records(), false, 2),
        (segment_object(V2, "golden", 2, 1000), variety(1000), false, 1),
        (segment_object(V1, "golden-aes", 0, 50), variety(50), true, 1),
    ]
}

// ---- The product's reader, its records turned into the oracle's plain type ----

fn from_product(r: ProductRecord) -> Record {
    Record {
        offset: r.offset,
        timestamp: r.timestamp,
        timestamp_type: match r.timestamp_type {
            ProductTimestampType::NotAvailable => TimestampType::NotAvailable,
            ProductTimestampType::CreateTime => TimestampType::CreateTime,
            ProductTimestampType::LogAppendTime => TimestampType::LogAppendTime,
        },
        key: r.key.map(|b| b.to_vec()),
        value: r.value.map(|b| b.to_vec()),
        headers: r.headers.into_iter().map(|h| (h.key, h.value.map(|b| b.to_vec()))).collect(),
    }
}

async fn product_read(bytes: &[u8], key: Option<&[u8]>) -> anyhow::Result<Vec<Record>> {
    let key = key.map(EncryptionKey::from_secret).transpose().map_err(anyhow::Error::msg)?;
    let mut reader = SegmentReader::open(bytes, "golden", key).await?;
    let mut out = Vec::new();
    while let Some(block) = reader.next_block().await? {
        out.extend(block.records()?.into_iter().map(from_product));
    }
    Ok(out)
}

// ---- (a) the independent decoder ----

#[test]
fn oracle_reads_every_golden_segment_to_the_expected_records() -> anyhow::Result<()> {
    let key = test_key();
    for (object, expected, encrypted, blocks) in golden_segments() {
        let seg = oracle::segment::decode(&read(&object), encrypted.then_some(&key[..]))?;
        assert_eq!(seg.records, expected, "{object}");
        assert_eq!(seg.blocks.len(), blocks, "{object}: blocks");
        assert_eq!(seg.header.encrypted, encrypted, "{object}");
    }
    // The big record has block 0 to itself.
    let seg = oracle::segment::decode(&read(&segment_object(V2, "golden", 1, 0)), None)?;
    assert_eq!(seg.header.codec, oracle::segment::Codec::Zstd);
    assert_eq!((seg.blocks[0].records, seg.blocks[0].first_offset), (1, 0));
    let codecs: Vec<_> = ["golden/0/00000000000000000100", "golden/2/00000000000000001000"]
        .iter()
        .map(|o| {
            oracle::segment::decode(&read(&format!("backups/{V2}/segments/{o}.kbseg")), None)
                .map(|s| s.header.codec)
        })
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(codecs, [oracle::segment::Codec::None, oracle::segment::Codec::Lz4]);
    Ok(())
}

#[test]
fn oracle_reads_both_golden_manifests_and_their_accounting() -> anyhow::Result<()> {
    let v2 = oracle::manifest::parse(&read(&format!("backups/{V2}/manifest.json")))?;
    assert_eq!((v2.format_version, v2.backup_id.as_str()), (2, V2));
    let ranges: Vec<_> =
        v2.topics[0].partitions.iter().map(|p| (p.partition, p.start_offset, p.end_offset)).collect();
    assert_eq!(ranges, [(0, 90, 112), (1, 0, 12), (2, 1000, 1011)]);
    let p0 = &v2.topics[0].partitions[0];
    let gaps: Vec<_> = p0.gaps.iter().map(|g| (g.from, g.to, g.reason.as_str())).collect();
    assert_eq!(gaps, [(90, 100, "RetentionDeleted"), (111, 112, "NotReturned")]);
    assert_eq!(v2.raw["topics"][0]["topicId"], "R29sZGVuVG9waWNJZDAwMQ");
    assert_eq!(v2.raw["topics"][0]["partitions"][0]["lineageStart"], V2);
    assert_eq!(v2.raw["written"]["segments"], 3);

    let v1 = oracle::manifest::parse(&read(&format!("backups/{V1}/manifest.json")))?;
    assert_eq!(v1.format_version, 1);
    assert!(v1.raw["topics"][0].get("topicId").is_none() && v1.raw.get("written").is_none());
    let key_id = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(test_key())[..8]);
    assert_eq!(v1.raw["encoding"]["encryptionKeyId"], key_id.as_str());

    let key = test_key();
    for m in [&v2, &v1] {
        for t in &m.topics {
            for p in &t.partitions {
                let problems = oracle::manifest::accounting_problems(p);
                assert!(problems.is_empty(), "{}/{}: {problems:?}", t.name, p.partition);
                for s in &p.segments {
                    let bytes = read(&s.object);
                    let seg = oracle::segment::decode(&bytes, Some(&key))?;
                    oracle::manifest::check_segment_entry(s, &bytes, &seg)?;
                }
            }
        }
    }
    Ok(())
}

// ---- (b) the product's reader on the same objects ----

#[tokio::test]
async fn product_reads_every_golden_object_the_same() -> anyhow::Result<()> {
    let key = test_key();
    for (object, expected, encrypted, _) in golden_segments() {
        let got = product_read(&read(&object), encrypted.then_some(&key[..])).await?;
        assert_eq!(got, expected, "{object}");
    }
    for id in [V2, V1] {
        let name = format!("backups/{id}/manifest.json");
        let product = ProductManifest::from_json(&read(&name), &name)?;
        let ours = oracle::manifest::parse(&read(&name))?;
        assert_eq!(u32::from(product.format_version), ours.format_version);
        let theirs: Vec<_> = product
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        t.name.clone(),
                        p.partition,
                        p.start_offset,
                        p.end_offset,
                        p.segments.len(),
                        p.gaps.len(),
                    )
                })
            })
            .collect();
        let mine: Vec<_> = ours
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        t.name.clone(),
                        p.partition,
                        p.start_offset,
                        p.end_offset,
                        p.segments.len(),
                        p.gaps.len(),
                    )
                })
            })
            .collect();
        assert_eq!(theirs, mine, "{name}");
        assert!(product.topics.iter().flat_map(|t| &t.partitions).all(|p| p.coverage_problems().is_empty()));
    }
    Ok(())
}

// ---- (c) damage fails both readers ----

/// `bytes` with the byte at `at` inverted.
fn flipped(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0xff;
    out
}

#[tokio::test]
async fn a_flipped_byte_anywhere_in_a_segment_fails_both_readers() -> anyhow::Result<()> {
    let key = test_key();
    for (object, _, encrypted, _) in golden_segments() {
        let bytes = read(&object);
        let key = encrypted.then_some(&key[..]);
        let mut places = vec![
            ("block payload", 28 + 56 + 3),
            ("block header (first-offset)", 28 + 20),
            ("block header (header-crc32c)", 28 + 53),
            ("trailer (records)", bytes.len() - 32 + 12),
            ("trailer (crc32c)", bytes.len() - 2),
            ("segment magic", 1),
        ];
        // In an uncompressed payload, a byte of a value: only the payload CRC32C can tell.
        if let Some(at) = bytes.windows(2).position(|w| w == b"v6") {
            places.push(("value byte in an uncompressed payload", at + 1));
        }
        if encrypted {
            // Unencrypted segments do not protect their id; sealed blocks authenticate it.
            places.push(("segment header (segment-id)", 20));
        }
        for (what, at) in places {
            let damaged = flipped(&bytes, at);
            assert!(
                oracle::segment::decode(&damaged, key).is_err(),
                "oracle read {object} with a flipped {what}"
            );
            assert!(
                product_read(&damaged, key).await.is_err(),
                "product read {object} with a flipped {what}"
            );
        }
        let truncated = &bytes[..bytes.len() - 1];
        assert!(oracle::segment::decode(truncated, key).is_err(), "oracle read truncated {object}");
        assert!(product_read(truncated, key).await.is_err(), "product read truncated {object}");
    }
    Ok(())
}

#[tokio::test]
async fn a_wrong_aes_key_fails_both_readers() -> anyhow::Result<()> {
    let object = segment_object(V1, "golden-aes", 0, 50);
    let bytes = read(&object);
    let mut wrong = test_key();
    wrong[31] ^= 1;
    assert!(oracle::segment::decode(&bytes, Some(&wrong)).is_err());
    assert!(product_read(&bytes, Some(&wrong)).await.is_err());
    assert!(oracle::segment::decode(&bytes, None).is_err(), "encrypted segment read without a key");
    Ok(())
}

#[test]
fn a_flipped_byte_in_a_manifest_fails_both_readers() -> anyhow::Result<()> {
    for id in [V2, V1] {
        let name = format!("backups/{id}/manifest.json");
        let bytes = read(&name);
        // A digit of a number inside `manifest` (still valid JSON), and a letter of the checksum.
        let text = String::from_utf8(bytes.clone())?;
        let digit = text.find("\"endOffset\": ").expect("endOffset") + "\"endOffset\": ".len();
        let sha = text.rfind("\"sha256\": \"").expect("sha256") + "\"sha256\": \"".len();
        for (what, damaged) in
            [("endOffset", change_digit(&bytes, digit)), ("sha256", change_digit(&bytes, sha))]
        {
            assert!(oracle::manifest::parse(&damaged).is_err(), "oracle read {name} with a changed {what}");
            assert!(
                ProductManifest::from_json(&damaged, &name).is_err(),
                "product read {name} with a changed {what}"
            );
        }
    }
    Ok(())
}

/// Changes a hex digit at `at` to another one, keeping the JSON valid.
fn change_digit(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] = if out[at] == b'1' { b'2' } else { b'1' };
    out
}

// ---- The generator (run once; the objects are never regenerated) ----

/// Writes the golden objects with the product's writer. Refuses to overwrite: the objects in
/// the repository are the compatibility lock (test/golden/README.md).
#[test]
#[ignore = "made the checked-in golden objects once; must never be rerun over them"]
fn generate_golden_objects() -> anyhow::Result<()> {
    use strimzi_backup_operator::format::codec::Codec;
    use strimzi_backup_operator::format::manifest::{
        CommittedOffset, Encoding, Gap, GapReason, GroupEntry, Manifest, PartitionEntry, SegmentEntry,
        TopicEntry, Totals, Written,
    };
    use strimzi_backup_operator::format::segment::{DEFAULT_BLOCK_BYTES, SegmentWriter};

    let dir = golden();
    anyhow::ensure!(
        !dir.join("backups").exists(),
        "{} exists: golden objects are never regenerated",
        dir.display()
    );
    std::fs::create_dir_all(&dir)?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)?;
    std::fs::write(dir.join("TEST-ONLY-aes256-key.hex"), format!("{}\n", hex::encode(key)))?;
    let to_product = |r: &Record| ProductRecord {
        offset: r.offset,
        timestamp: r.timestamp,
        timestamp_type: match r.timestamp_type {
            TimestampType::NotAvailable => ProductTimestampType::NotAvailable,
            TimestampType::CreateTime => ProductTimestampType::CreateTime,
            TimestampType::LogAppendTime => ProductTimestampType::LogAppendTime,
        },
        key: r.key.clone().map(Into::into),
        value: r.value.clone().map(Into::into),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| strimzi_backup_operator::format::record::Header {
                key: k.clone(),
                value: v.clone().map(Into::into),
            })
            .collect(),
    };
    let write =
        |object: &str, codec: Codec, encrypted: bool, records: &[Record]| -> anyhow::Result<SegmentEntry> {
            let key = encrypted
                .then(|| EncryptionKey::from_secret(&key))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let mut w = SegmentWriter::new(codec, key, DEFAULT_BLOCK_BYTES)?;
            for r in records {
                w.push(&to_product(r))?;
            }
            let (bytes, summary) = w.finish()?;
            let path = dir.join(object);
            std::fs::create_dir_all(path.parent().expect("segment dir"))?;
            std::fs::write(path, &bytes)?;
            Ok(SegmentEntry::new(object.to_string(), &summary))
        };
    let s0 = write(&segment_object(V2, "golden", 0, 100), Codec::None, false, &variety(100))?;
    let s1 = write(&segment_object(V2, "golden", 1, 0), Codec::Zstd { level: 3 }, false, &zstd_records())?;
    let s2 = write(&segment_object(V2, "golden", 2, 1000), Codec::Lz4, false, &variety(1000))?;
    let s3 = write(&segment_object(V1, "golden-aes", 0, 50), Codec::Zstd { level: 3 }, true, &variety(50))?;

    let totals = |segs: &[&SegmentEntry], partitions: u32| Totals {
        records: segs.iter().map(|s| s.records).sum(),
        raw_bytes: segs.iter().map(|s| s.raw_bytes).sum(),
        stored_bytes: segs.iter().map(|s| s.stored_bytes).sum(),
        topics: 1,
        partitions,
        oldest_timestamp: segs.iter().map(|s| s.min_timestamp).min(),
        newest_timestamp: segs.iter().map(|s| s.max_timestamp).max(),
    };
    let part = |partition, start, end, segment: SegmentEntry, gaps: Vec<Gap>, v2: bool| PartitionEntry {
        partition,
        start_offset: start,
        end_offset: end,
        read_from: v2.then_some(start),
        lineage_start: v2.then(|| V2.to_string()),
        lineage_break: None,
        segments: vec![segment],
        gaps,
    };
    let v2 = Manifest {
        format_version: 2,
        backup_id: V2.into(),
        parent_id: None,
        started_at: "2026-12-03T04:00:00Z".into(),
        completed_at: "2026-12-03T04:00:07Z".into(),
        cluster_id: Some("R29sZGVuQ2x1c3RlcklkMQ".into()),
        // The codec of each segment is in its header; this one lists segments of all three.
        encoding: Encoding { compression: "zstd".into(), encryption_key_id: None, data_keys: Vec::new() },
        topics: vec![TopicEntry {
            name: "golden".into(),
            partition_count: 3,
            replication_factor: 1,
            topic_id: Some("R29sZGVuVG9waWNJZDAwMQ".into()),
            configs: [
                ("cleanup.policy".to_string(), "delete".to_string()),
                ("retention.ms".into(), "-1".into()),
            ]
            .into(),
            partitions: vec![
                part(
                    0,
                    90,
                    112,
                    s0.clone(),
                    vec![
                        Gap { from: 90, to: 100, reason: GapReason::RetentionDeleted },
                        Gap { from: 111, to: 112, reason: GapReason::NotReturned },
                    ],
                    true,
                ),
                part(1, 0, 12, s1.clone(), vec![], true),
                part(2, 1000, 1011, s2.clone(), vec![], true),
            ],
        }],
        consumer_groups: vec![GroupEntry {
            group: "golden-group".into(),
            offsets: vec![CommittedOffset {
                topic: "golden".into(),
                partition: 0,
                offset: 106,
                metadata: Some("m".into()),
            }],
        }],
        totals: totals(&[&s0, &s1, &s2], 3),
        written: Some(Written {
            records: s0.records + s1.records + s2.records,
            raw_bytes: s0.raw_bytes + s1.raw_bytes + s2.raw_bytes,
            stored_bytes: s0.stored_bytes + s1.stored_bytes + s2.stored_bytes,
            segments: 3,
        }),
        cluster_metadata: None,
        schema_registry: None,
        strimzi_resources: None,
        revision: None,
    };
    // Version 1 as format.md describes it: no topicId, readFrom, lineageStart, lineageBreak,
    // written or maxRecordBytes.
    let mut s3_v1 = s3.clone();
    s3_v1.max_record_bytes = None;
    let v1 = Manifest {
        format_version: 1,
        backup_id: V1.into(),
        parent_id: None,
        started_at: "2026-12-03T03:00:00Z".into(),
        completed_at: "2026-12-03T03:00:02Z".into(),
        cluster_id: Some("R29sZGVuQ2x1c3RlcklkMQ".into()),
        encoding: Encoding {
            compression: "zstd".into(),
            encryption_key_id: Some(
                EncryptionKey::from_secret(&key).map_err(anyhow::Error::msg)?.id().to_string(),
            ),
            data_keys: Vec::new(),
        },
        topics: vec![TopicEntry {
            name: "golden-aes".into(),
            partition_count: 1,
            replication_factor: 1,
            topic_id: None,
            configs: Default::default(),
            partitions: vec![part(0, 50, 61, s3_v1.clone(), vec![], false)],
        }],
        consumer_groups: vec![],
        totals: totals(&[&s3_v1], 1),
        written: None,
        cluster_metadata: None,
        schema_registry: None,
        strimzi_resources: None,
        revision: None,
    };
    for m in [v2, v1] {
        std::fs::write(dir.join(format!("backups/{}/manifest.json", m.backup_id)), m.to_json()?)?;
    }
    Ok(())
}
