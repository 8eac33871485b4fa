//! The local Kafka broker is real: create a topic, produce and consume records with every field
//! a backup must keep, commit a consumer-group offset and read it back — from Rust, with rdkafka.

use std::time::Duration;

use futures::StreamExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, Timestamp, TopicPartitionList};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;

const PARTITIONS: i32 = 3;
const RECORDS: i32 = 30;

fn config(env: &TestEnv) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", env.kafka_bootstrap());
    c
}

#[tokio::test]
async fn produce_consume_and_commit_offsets_on_the_real_broker() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let topic = format!("e2e-records-{}", unique_suffix());
    let group = format!("e2e-group-{}", unique_suffix());

    let admin: AdminClient<DefaultClientContext> = config(&env).create()?;
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, PARTITIONS, TopicReplication::Fixed(1)).set("cleanup.policy", "delete")],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for result in created {
        result.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }

    let producer: FutureProducer = config(&env).set("enable.idempotence", "true").create()?;
    let base_ts = 1_760_000_000_000_i64;
    for i in 0..RECORDS {
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        let headers = OwnedHeaders::new().insert(Header { key: "seq", value: Some(&i.to_string()) });
        let mut record = FutureRecord::to(&topic)
            .partition(i % PARTITIONS)
            .headers(headers)
            .timestamp(base_ts + i64::from(i));
        // Every fifth record is a tombstone with a null value; every seventh has a null key.
        if i % 7 != 0 {
            record = record.key(&key);
        }
        if i % 5 != 0 {
            record = record.payload(&value);
        }
        producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e)?;
    }

    for p in 0..PARTITIONS {
        let (low, high) = producer.client().fetch_watermarks(&topic, p, Duration::from_secs(10))?;
        assert_eq!((low, high), (0, i64::from(RECORDS / PARTITIONS)), "partition {p}");
    }

    // Read everything back by direct assignment, as the backup will.
    let consumer: StreamConsumer = config(&env)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment.add_partition_offset(&topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut seen = vec![false; RECORDS as usize];
    let mut stream = consumer.stream();
    for _ in 0..RECORDS {
        let msg = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream ended"))??;
        let seq: i32 =
            std::str::from_utf8(msg.headers().and_then(|h| h.get(0).value).unwrap_or_default())?.parse()?;
        assert_eq!(msg.partition(), seq % PARTITIONS);
        assert_eq!(msg.offset(), i64::from(seq / PARTITIONS));
        assert_eq!(msg.timestamp(), Timestamp::CreateTime(base_ts + i64::from(seq)));
        assert_eq!(msg.key().is_none(), seq % 7 == 0, "key of {seq}");
        assert_eq!(msg.payload().is_none(), seq % 5 == 0, "value of {seq}");
        if let Some(v) = msg.payload() {
            assert_eq!(v, format!("value-{seq}").as_bytes());
        }
        seen[seq as usize] = true;
    }
    assert!(seen.iter().all(|s| *s), "every record consumed once");
    drop(stream);

    // Commit explicit offsets for the group and read them back with a fresh client.
    let mut commit = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        commit.add_partition_offset(&topic, p, Offset::Offset(i64::from(p) + 2))?;
    }
    consumer.commit(&commit, CommitMode::Sync)?;
    drop(consumer);

    let reader: StreamConsumer = config(&env).set("group.id", &group).create()?;
    let mut query = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        query.add_partition(&topic, p);
    }
    let committed = reader.committed_offsets(query, Duration::from_secs(10))?;
    for p in 0..PARTITIONS {
        let offset = committed.find_partition(&topic, p).map(|e| e.offset());
        assert_eq!(offset, Some(Offset::Offset(i64::from(p) + 2)), "committed offset of partition {p}");
    }

    let deleted = admin.delete_topics(&[&topic], &AdminOptions::new()).await?;
    for result in deleted {
        result.map_err(|(t, e)| anyhow::anyhow!("deleting {t}: {e}"))?;
    }
    Ok(())
}
