//! The backup data plane against the real broker and MinIO: every record comes back exactly from
//! the stored segments, the manifest accounts for every offset, incremental backups chain, and
//! aborted transactions are left out but accounted for.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use strimzi_backup_e2e::env::{TestEnv, workspace_root};
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::manifest::{Layout, Manifest};
use strimzi_backup_operator::format::record::{Header, Record, TimestampType};
use strimzi_backup_operator::format::segment::SegmentReader;

fn minio(env: &TestEnv) -> anyhow::Result<impl ObjectStore> {
    Ok(AmazonS3Builder::new()
        .with_endpoint(env.get("MINIO_ENDPOINT")?)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region(env.get("MINIO_REGION")?)
        .with_bucket_name(env.get("MINIO_BUCKET")?)
        .with_access_key_id(env.get("MINIO_ACCESS_KEY")?)
        .with_secret_access_key(env.get("MINIO_SECRET_KEY")?)
        .build()?)
}

/// Runs the built binary's `backup` as a Job would: config file, credentials in the environment.
fn run_backup(env: &TestEnv, prefix: &str, topics: &str, extra: &str) -> anyhow::Result<serde_json::Value> {
    let out = run_command(env, "backup", prefix, topics, extra)?;
    anyhow::ensure!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Runs a data-plane subcommand of the built binary with a config for MinIO.
fn run_command(
    env: &TestEnv,
    command: &str,
    prefix: &str,
    topics: &str,
    extra: &str,
) -> anyhow::Result<std::process::Output> {
    let dir = std::env::temp_dir().join(format!("sbo-e2e-{}", unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka:\n  bootstrapServers: {}\nstorage:\n  type: s3\n  s3:\n    bucket: {}\n    region: {}\n    endpoint: {}\n    forcePathStyle: true\n    prefix: {prefix}\ntopics:\n  include: [\"{topics}\"]\n{extra}",
            env.kafka_bootstrap(),
            env.get("MINIO_BUCKET")?,
            env.get("MINIO_REGION")?,
            env.get("MINIO_ENDPOINT")?,
        ),
    )?;
    let out = std::process::Command::new(workspace_root().join("target/debug/strimzi-backup-operator"))
        .arg(command)
        .arg("--config")
        .arg(&config)
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", env.get("MINIO_ACCESS_KEY")?)
        .env("AWS_SECRET_ACCESS_KEY", env.get("MINIO_SECRET_KEY")?)
        .output()?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(out)
}

async fn read_backup(
    store: &impl ObjectStore,
    prefix: &str,
    id: &str,
) -> anyhow::Result<(Manifest, BTreeMap<(String, i32), Vec<Record>>)> {
    let layout = Layout::new(prefix);
    let name = layout.manifest(id);
    let bytes = store.get(&object_store::path::Path::from(name.as_str())).await?.bytes().await?;
    let manifest = Manifest::from_json(&bytes, &name)?;
    let mut records = BTreeMap::new();
    for topic in &manifest.topics {
        for p in &topic.partitions {
            assert!(
                p.coverage_problems().is_empty(),
                "{}/{}: {:?}",
                topic.name,
                p.partition,
                p.coverage_problems()
            );
            let mut out = Vec::new();
            for s in &p.segments {
                let data =
                    store.get(&object_store::path::Path::from(s.object.as_str())).await?.bytes().await?;
                let mut reader = SegmentReader::open(&data[..], s.object.clone(), None).await?;
                while let Some(block) = reader.next_block().await? {
                    out.extend(block.records()?);
                }
            }
            records.insert((topic.name.clone(), p.partition), out);
        }
    }
    Ok((manifest, records))
}

async fn create_topic(
    env: &TestEnv,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", env.kafka_bootstrap()).create()?;
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    for r in admin.create_topics(&[topic], &AdminOptions::new()).await? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    Ok(())
}

/// A base timestamp an hour ago: old enough to be in the past, young enough that the broker's
/// retention (7 days by default) never deletes the records mid-test.
fn recent() -> i64 {
    chrono::Utc::now().timestamp_millis() - 3_600_000
}

/// The records the test produces: keys, null keys, tombstones, empty values, headers with null
/// values, explicit timestamps.
fn expected(topic: &str, partition: i32, n: usize, base_ts: i64) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            offset: i as i64,
            timestamp: base_ts + i as i64,
            timestamp_type: TimestampType::CreateTime,
            key: (i % 4 != 0).then(|| Bytes::from(format!("{topic}-{partition}-{i}"))),
            value: match i % 5 {
                0 => None,
                1 => Some(Bytes::new()),
                _ => Some(Bytes::from(vec![(i % 251) as u8; 100 + i % 700])),
            },
            headers: if i % 3 == 0 {
                vec![
                    Header { key: "trace".into(), value: Some(Bytes::from(format!("t{i}"))) },
                    Header { key: "null".into(), value: None },
                ]
            } else {
                Vec::new()
            },
        })
        .collect()
}

async fn produce(env: &TestEnv, topic: &str, partition: i32, records: &[Record]) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("enable.idempotence", "true")
        .create()?;
    for r in records {
        let mut headers = OwnedHeaders::new();
        for h in &r.headers {
            headers = headers.insert(KafkaHeader { key: &h.key, value: h.value.as_deref() });
        }
        let mut rec: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).partition(partition).timestamp(r.timestamp).headers(headers);
        if let Some(k) = &r.key {
            rec = rec.key(k);
        }
        if let Some(v) = &r.value {
            rec = rec.payload(v);
        }
        producer.send(rec, Duration::from_secs(10)).await.map_err(|(e, _)| e)?;
    }
    Ok(())
}

#[tokio::test]
async fn records_come_back_exactly_and_incrementals_chain() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let run = unique_suffix();
    let prefix = format!("e2e-backup-{run}/");
    let (orders, payments) = (format!("bk{run}-orders"), format!("bk{run}-payments"));
    create_topic(&env, &orders, 3, &[("retention.ms", "604800000"), ("max.message.bytes", "2000000")])
        .await?;
    create_topic(&env, &payments, 1, &[]).await?;
    let mut want: BTreeMap<(String, i32), Vec<Record>> = BTreeMap::new();
    for (topic, partitions, n) in [(&orders, 3, 400), (&payments, 1, 250)] {
        for p in 0..partitions {
            let records = expected(topic, p, n, recent() + i64::from(p) * 10_000);
            produce(&env, topic, p, &records).await?;
            want.insert((topic.clone(), p), records);
        }
    }

    let first = run_backup(&env, &prefix, &format!("bk{run}-.*"), "")?;
    assert_eq!(first["records"], 3 * 400 + 250);
    assert_eq!((first["topics"].as_u64(), first["partitions"].as_u64()), (Some(2), Some(4)));
    let id = first["backupId"].as_str().unwrap_or_default().to_string();
    let (manifest, got) = read_backup(&store, &prefix, &id).await?;
    assert_eq!(got, want, "every record, field for field");
    let orders_entry = manifest.topics.iter().find(|t| t.name == orders).expect("orders in manifest");
    assert_eq!(orders_entry.partition_count, 3);
    assert_eq!(orders_entry.configs.get("max.message.bytes").map(String::as_str), Some("2000000"));
    assert_eq!(manifest.parent_id, None);

    // More records, then an incremental backup that continues from the first one's cut.
    // Offsets 250..300 continue the partition.
    let more: Vec<Record> = expected(&payments, 0, 300, recent() + 60_000).into_iter().skip(250).collect();
    produce(&env, &payments, 0, &more).await?;
    tokio::time::sleep(Duration::from_millis(1100)).await; // backup ids have second resolution
    let second = run_backup(&env, &prefix, &format!("bk{run}-.*"), "")?;
    assert_eq!(second["parentId"].as_str(), Some(id.as_str()));
    assert_eq!(second["records"], 50, "only what came after the first backup");
    let (manifest2, got2) =
        read_backup(&store, &prefix, second["backupId"].as_str().unwrap_or_default()).await?;
    let p = &manifest2.topics.iter().find(|t| t.name == payments).expect("payments").partitions[0];
    assert_eq!((p.start_offset, p.end_offset), (250, 300));
    assert_eq!(got2[&(payments.clone(), 0)], more);
    assert!(got2[&(orders.clone(), 1)].is_empty(), "nothing new in orders");
    Ok(())
}

#[tokio::test]
async fn aborted_transactions_are_left_out_and_accounted_for() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let run = unique_suffix();
    let prefix = format!("e2e-txn-{run}/");
    let topic = format!("txn{run}");
    create_topic(&env, &topic, 1, &[]).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("transactional.id", format!("e2e-{run}"))
        .create()?;
    producer.init_transactions(Duration::from_secs(30))?;
    for (batch, commit) in [(0, true), (1, false), (2, true)] {
        producer.begin_transaction()?;
        for i in 0..10 {
            let value = format!("batch{batch}-{i}");
            producer
                .send(FutureRecord::<(), _>::to(&topic).partition(0).payload(&value), Duration::from_secs(10))
                .await
                .map_err(|(e, _)| e)?;
        }
        if commit {
            producer.commit_transaction(Duration::from_secs(30))?;
        } else {
            producer.abort_transaction(Duration::from_secs(30))?;
        }
    }
    let result = run_backup(&env, &prefix, &topic, "")?;
    assert_eq!(result["records"], 20, "the aborted batch is not backed up");
    let (manifest, got) =
        read_backup(&store, &prefix, result["backupId"].as_str().unwrap_or_default()).await?;
    let values: Vec<String> = got[&(topic.clone(), 0)]
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_string())
        .collect();
    assert!(values.iter().all(|v| !v.starts_with("batch1")), "{values:?}");
    assert_eq!(values.len(), 20);
    // 30 data records + 3 transaction markers: every offset of [0, 33) accounted for.
    let p = &manifest.topics[0].partitions[0];
    assert_eq!((p.start_offset, p.end_offset), (0, 33));
    assert!(p.coverage_problems().is_empty(), "{:?}", p.coverage_problems());
    Ok(())
}

#[tokio::test]
async fn verify_passes_a_sound_backup_and_names_a_corrupted_byte() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let run = unique_suffix();
    let prefix = format!("e2e-verify-{run}/");
    let topic = format!("vf{run}");
    create_topic(&env, &topic, 1, &[]).await?;
    produce(&env, &topic, 0, &expected(&topic, 0, 3000, recent())).await?;
    let backup = run_command(&env, "backup", &prefix, &topic, "")?;
    let log = String::from_utf8_lossy(&backup.stderr);
    assert!(backup.status.success(), "{log}");
    let result: serde_json::Value = serde_json::from_slice(&backup.stdout)?;
    assert_eq!(result["records"], 3000, "{log}");
    let sound = run_command(&env, "verify", &prefix, &topic, "")?;
    assert!(sound.status.success(), "{}", String::from_utf8_lossy(&sound.stderr));
    let report: serde_json::Value = serde_json::from_slice(&sound.stdout)?;
    assert_eq!(report["records"], 3000);
    assert_eq!(report["backupId"], result["backupId"]);

    // Flip one byte in the middle of the segment, in place.
    let (manifest, _) = read_backup(&store, &prefix, result["backupId"].as_str().unwrap_or_default()).await?;
    let object = manifest.topics[0].partitions[0].segments[0].object.clone();
    let path = object_store::path::Path::from(object.as_str());
    let mut data = store.get(&path).await?.bytes().await?.to_vec();
    let at = data.len() / 2;
    data[at] ^= 0x01;
    store.put(&path, data.into()).await?;

    let broken = run_command(&env, "verify", &prefix, &topic, "")?;
    assert!(!broken.status.success(), "verify must fail on a corrupted segment");
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains(&format!("problem: {object}: corrupted block at byte")), "{stderr}");
    let byte: u64 = stderr
        .split("corrupted block at byte ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(byte <= at as u64 && at as u64 - byte < 2 * 1024 * 1024, "reported byte {byte}, flipped {at}");
    Ok(())
}
