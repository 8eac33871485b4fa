//! Backup and restore judged by readers that share nothing with the product: Kafka's own console
//! consumer (Java, from the broker's jars) for the topics, and the decoder written from
//! docs/format.md for the backup. A bug shared by the product and librdkafka, or by the product's
//! writer and reader, cannot cancel out here.

use std::collections::BTreeMap;

use strimzi_backup_e2e::dataplane::{
    base_config, check_quiet_backup, create_topic, minio, produce, product_record, read_backup_oracle,
    recent, run_ok, topic_configs,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_e2e::kafka_tools::{ConsoleRecord, console_consume, printable};
use strimzi_backup_e2e::oracle::{Record, TimestampType};

/// Every byte value, so no encoding step along the way can pass unnoticed.
fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

/// Records with null and empty keys, tombstones, empty and binary values, duplicate header keys
/// and null header values, at timestamps `base + i`.
fn tricky_records(n: usize, base: i64) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            offset: i as i64,
            timestamp: base + i as i64,
            timestamp_type: TimestampType::CreateTime,
            key: match i % 4 {
                0 => None,
                1 => Some(Vec::new()),
                2 => Some(vec![0xff, 0x00, i as u8]),
                _ => Some(format!("key-{i}").into_bytes()),
            },
            value: match i % 5 {
                0 => None,
                1 => Some(Vec::new()),
                2 => Some(all_bytes()),
                _ => Some(format!("value-{i}").repeat(i % 7 + 1).into_bytes()),
            },
            headers: match i % 3 {
                0 => vec![("dup".into(), Some(b"first".to_vec())), ("dup".into(), Some(b"second".to_vec()))],
                1 => vec![
                    ("nil".into(), None),
                    ("bin".into(), Some(vec![0x00, 0x80, 0xff])),
                    ("empty".into(), Some(Vec::new())),
                ],
                _ => Vec::new(),
            },
        })
        .collect()
}

/// The console consumer's records per partition, in the order it printed them.
fn by_partition(records: Vec<ConsoleRecord>) -> BTreeMap<i32, Vec<Record>> {
    let mut out: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    for r in records {
        out.entry(r.partition).or_default().push(r.record);
    }
    out
}

fn without_offsets(records: &[Record]) -> Vec<Record> {
    records.iter().map(|r| Record { offset: 0, ..r.clone() }).collect()
}

async fn produce_all(env: &TestEnv, topic: &str, partition: i32, records: &[Record]) -> anyhow::Result<()> {
    assert!(records.iter().all(printable), "test records must not hold the console consumer's markers");
    let product: Vec<_> = records.iter().cloned().map(product_record).collect();
    produce(env, topic, partition, &product).await
}

fn backup_and_restore(env: &TestEnv, prefix: &str, source: &str, target: &str) -> anyhow::Result<String> {
    let backup = run_ok(
        env,
        "backup",
        &format!("{}topics:\n  include: [\"{source}\"]\n", base_config(env, prefix, None)?),
        &[],
    )?;
    run_ok(
        env,
        "restore",
        &format!(
            "{}topics:\n  include: [\"{source}\"]\ntopicMapping:\n  - sourceTopic: {source}\n    targetTopic: {target}\n",
            base_config(env, prefix, None)?
        ),
        &[],
    )?;
    Ok(backup["backupId"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn kafkas_own_consumer_sees_the_restored_topic_and_the_backup_as_the_source() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-oracle-{suffix}/");
    let (source, target) = (format!("or{suffix}"), format!("or{suffix}-restored"));
    create_topic(&env, &source, 2, &[]).await?;
    let base = recent();
    let produced: BTreeMap<i32, Vec<Record>> =
        (0..2).map(|p| (p, tricky_records(40 + p as usize * 7, base + i64::from(p) * 1000))).collect();
    for (p, records) in &produced {
        produce_all(&env, &source, *p, records).await?;
    }
    let total = produced.values().map(Vec::len).sum();

    let id = backup_and_restore(&env, &prefix, &source, &target)?;
    let src = by_partition(console_consume(&env, &source, total)?);
    let restored = by_partition(console_consume(&env, &target, total)?);
    let (_, backup) = read_backup_oracle(&store, &prefix, &id, None).await?;
    check_quiet_backup(&env, &store, &prefix, &id).await?;

    for (p, want) in &produced {
        // What Kafka's consumer reads of the source is what was produced, at offsets 0..n.
        assert_eq!(&src[p], want, "source partition {p} as the console consumer reads it");
        // The backup, decoded independently, holds exactly that, offsets included.
        assert_eq!(&backup[&(source.clone(), *p)], &src[p], "backup of partition {p}");
        // The restored topic, read by the console consumer: same records, same order.
        assert_eq!(without_offsets(&restored[p]), without_offsets(&src[p]), "restored partition {p}");
    }
    assert_eq!(restored.len(), 2);
    Ok(())
}

/// docs/data-plane.md: a created target gets `message.timestamp.type: LogAppendTime` only after
/// the records are in, "so the original timestamps survive" — the broker's append times of the
/// source, not the restore's.
#[tokio::test]
async fn log_append_times_survive_a_restore_into_a_created_topic() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-oracle-lat-{suffix}/");
    let (source, target) = (format!("lat{suffix}"), format!("lat{suffix}-restored"));
    create_topic(&env, &source, 1, &[("message.timestamp.type", "LogAppendTime")]).await?;
    // Producer timestamps a day old: the broker replaces them with its append time.
    let produced = tricky_records(12, recent() - 86_400_000);
    produce_all(&env, &source, 0, &produced).await?;

    let id = backup_and_restore(&env, &prefix, &source, &target)?;
    let src = console_consume(&env, &source, produced.len())?;
    let restored = console_consume(&env, &target, produced.len())?;
    let (_, backup) = read_backup_oracle(&store, &prefix, &id, None).await?;

    for (s, p) in src.iter().zip(&produced) {
        assert_eq!(s.record.timestamp_type, TimestampType::LogAppendTime);
        assert!(s.record.timestamp > p.timestamp + 3_600_000, "the broker's append time, not the producer's");
    }
    let src: Vec<Record> = src.into_iter().map(|r| r.record).collect();
    assert_eq!(backup[&(source.clone(), 0)], src, "the backup keeps the append times and their type");
    let restored: Vec<Record> = restored.into_iter().map(|r| r.record).collect();
    // Written while the target was still CreateTime: the broker kept the source's append times
    // as the records' own (CreateTime) timestamps.
    assert_eq!(
        restored.iter().map(|r| (r.timestamp, r.timestamp_type)).collect::<Vec<_>>(),
        src.iter().map(|r| (r.timestamp, TimestampType::CreateTime)).collect::<Vec<_>>(),
        "original timestamps survive"
    );
    assert_eq!(
        without_offsets(&restored).into_iter().map(|r| (r.key, r.value, r.headers)).collect::<Vec<_>>(),
        without_offsets(&src).into_iter().map(|r| (r.key, r.value, r.headers)).collect::<Vec<_>>()
    );
    // And the target ends up with the source's timestamp type for what comes next.
    assert_eq!(
        topic_configs(&env, &target).await?.get("message.timestamp.type").map(String::as_str),
        Some("LogAppendTime")
    );
    Ok(())
}
