//! Every segment codec (none, zstd, lz4, gzip, snappy) round-trips real records through a real broker and MinIO (issue 16 §5).
//!
//! For each codec: a few thousand records (keys, null keys, tombstones, empty values, headers
//! with null values) over three partitions are backed up by the data-plane binary with
//! `backup.compression` set to it; every stored segment's header names the codec (byte 8, the id
//! of docs/format.md) and the independent decoder of `strimzi_backup_e2e::oracle` reads every
//! block back to the records produced; `verify` passes; a restore into a renamed topic gives
//! back every record, field for field, in order.

use std::collections::BTreeMap;

use anyhow::Context;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, minio, produce, product_record, read_backup_oracle, recent,
    records, run_ok, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_e2e::oracle::segment::Codec;
use strimzi_backup_operator::format::record::Record;

const PARTITIONS: i32 = 3;
/// About 2.4 MB of encoded records per partition: three blocks of about 1 MiB, each compressed on
/// its own.
const PER_PARTITION: usize = 8_000;
const TOTAL: u64 = PARTITIONS as u64 * PER_PARTITION as u64;

/// The segment header's codec byte for each `backup.compression` (docs/format.md, "Segments").
fn documented(codec: &str) -> (u8, Codec) {
    match codec {
        "none" => (0, Codec::None),
        "zstd" => (1, Codec::Zstd),
        "lz4" => (2, Codec::Lz4),
        "gzip" => (3, Codec::Gzip),
        "snappy" => (4, Codec::Snappy),
        other => panic!("no codec {other}"),
    }
}

/// The first record that differs (its index and both versions), without printing thousands.
fn first_difference(got: &[Record], want: &[Record]) -> Option<String> {
    got.iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .map(|i| format!("record {i}: got {:?}, want {:?}", got[i], want[i]))
}

/// Backs up a fresh topic with `compression` at `level`, checks what is stored, verifies the
/// backup and restores it into `<topic>-restored`.
async fn round_trip(compression: &str, level: i32) -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let prefix = format!("e2e-codec-{compression}-{s}/");
    let topic = format!("cz{s}-{compression}");
    create_topic(&env, &topic, PARTITIONS, &[]).await?;
    let mut want: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    for p in 0..PARTITIONS {
        let recs = records(&topic, p, PER_PARTITION, recent() + i64::from(p) * 100_000);
        produce(&env, &topic, p, &recs).await?;
        want.insert(p, recs);
    }

    let config = format!(
        "{}topics:\n  include: [\"{topic}\"]\nbackup:\n  compression: {compression}\n  compressionLevel: {level}\n",
        base_config(&env, &prefix, None)?
    );
    let backup = run_ok(&env, "backup", &config, &[])?;
    assert_eq!(backup["records"], TOTAL, "{backup}");
    let id = backup["backupId"].as_str().context("backup printed no backupId")?.to_string();

    // What is stored: read by the oracle alone (CRCs, codec, records, accounting).
    let (manifest, got) = read_backup_oracle(&store, &prefix, &id, None).await?;
    assert_eq!(manifest.raw["encoding"]["compression"], compression, "the manifest names the codec");
    let (id_byte, oracle_codec) = documented(compression);
    let partitions = &manifest.topics.first().context("no topic in the manifest")?.partitions;
    assert_eq!(partitions.len(), PARTITIONS as usize);
    for p in partitions {
        let mut blocks = 0;
        for entry in &p.segments {
            let bytes = store.get(&Path::from(entry.object.as_str())).await?.bytes().await?;
            assert_eq!(bytes.get(8), Some(&id_byte), "{}: codec byte of the header", entry.object);
            let segment = strimzi_backup_e2e::oracle::segment::decode(&bytes, None)
                .with_context(|| entry.object.clone())?;
            assert_eq!(segment.header.codec, oracle_codec, "{}", entry.object);
            blocks += segment.blocks.len();
            let payload: u64 = segment.blocks.iter().map(|b| u64::from(b.stored_len)).sum();
            if compression == "none" {
                assert_eq!(payload, entry.raw_bytes, "{}: stored as is", entry.object);
            } else {
                assert!(
                    payload * 2 < entry.raw_bytes,
                    "{}: {compression} stores {payload} bytes for {} raw",
                    entry.object,
                    entry.raw_bytes
                );
            }
        }
        assert!(blocks >= 3, "partition {}: {blocks} blocks in {} segments", p.partition, p.segments.len());
    }
    for (p, recs) in &want {
        let stored: Vec<Record> = got
            .get(&(topic.clone(), *p))
            .with_context(|| format!("partition {p} not in the backup"))?
            .iter()
            .cloned()
            .map(product_record)
            .collect();
        assert_eq!(stored.len(), recs.len(), "{topic}/{p}: every record stored");
        assert_eq!(first_difference(&stored, recs), None, "{topic}/{p}: stored against produced");
    }

    // verify: the product's own reader, end to end.
    let report = run_ok(&env, "verify", &base_config(&env, &prefix, None)?, &[])?;
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert_eq!(report["backupId"], id.as_str(), "{report}");
    assert_eq!(report["records"], TOTAL, "{report}");

    // Restored under a new name: every record back, field for field, in order.
    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n",
        base_config(&env, &prefix, None)?
    );
    let restored = run_ok(&env, "restore", &restore, &[])?;
    assert_eq!(restored["backupId"], id.as_str(), "{restored}");
    assert_eq!(restored["restoredRecords"], TOTAL, "{restored}");
    assert_eq!(restored["restoredPartitions"], PARTITIONS, "{restored}");
    for (p, recs) in &want {
        let back = consume_all(&env, &target, *p)?;
        assert_eq!(back.len(), recs.len(), "{target}/{p}: every record once");
        assert_eq!(
            first_difference(&without_offsets(&back), &without_offsets(recs)),
            None,
            "{target}/{p}: restored against produced"
        );
    }
    Ok(())
}

#[tokio::test]
async fn none_round_trips() -> anyhow::Result<()> {
    round_trip("none", 3).await
}

#[tokio::test]
async fn zstd_round_trips() -> anyhow::Result<()> {
    round_trip("zstd", 9).await
}

#[tokio::test]
async fn lz4_round_trips() -> anyhow::Result<()> {
    round_trip("lz4", 12).await
}

#[tokio::test]
async fn gzip_round_trips() -> anyhow::Result<()> {
    round_trip("gzip", 9).await
}

#[tokio::test]
async fn snappy_round_trips() -> anyhow::Result<()> {
    round_trip("snappy", 3).await
}
