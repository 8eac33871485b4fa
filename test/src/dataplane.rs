//! Driving the data plane in tests: the built binary run the way a Job runs it (a config file
//! without secrets, credentials in the environment), topics and records on the real broker, and
//! backups read straight from MinIO.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ObjectStore, ObjectStoreExt};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use strimzi_backup_operator::format::manifest::{Layout, Manifest};
use strimzi_backup_operator::format::record::{Header, Record, TimestampType};
use strimzi_backup_operator::format::segment::SegmentReader;

use crate::env::{TestEnv, workspace_root};
use crate::fixtures::unique_suffix;

/// The MinIO bucket of the local environment.
pub fn minio(env: &TestEnv) -> anyhow::Result<AmazonS3> {
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

/// The `kafka:` and `storage:` blocks of a data-plane config for the local broker and MinIO
/// (through `endpoint` when given, e.g. a proxy).
pub fn base_config(env: &TestEnv, prefix: &str, endpoint: Option<&str>) -> anyhow::Result<String> {
    Ok(format!(
        "kafka:\n  bootstrapServers: {}\nstorage:\n  type: s3\n  s3:\n    bucket: {}\n    region: {}\n    endpoint: {}\n    forcePathStyle: true\n    prefix: {prefix}\n",
        env.kafka_bootstrap(),
        env.get("MINIO_BUCKET")?,
        env.get("MINIO_REGION")?,
        endpoint.unwrap_or(env.get("MINIO_ENDPOINT")?),
    ))
}

/// The built binary, or the one `STRIMZI_BACKUP_E2E_BINARY` names (to show that a test fails
/// on an older build).
pub fn binary() -> PathBuf {
    std::env::var_os("STRIMZI_BACKUP_E2E_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/strimzi-backup-operator"))
}

/// A data-plane command ready to run: config written to a temporary file, MinIO credentials in
/// the environment and nothing else from the test's environment.
pub fn command(env: &TestEnv, subcommand: &str, config: &str, args: &[&str]) -> anyhow::Result<Command> {
    let dir = std::env::temp_dir().join(format!("sbo-e2e-{}", unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("config.yaml");
    std::fs::write(&file, config)?;
    let mut cmd = Command::new(binary());
    cmd.arg(subcommand)
        .arg("--config")
        .arg(&file)
        .args(args)
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", env.get("MINIO_ACCESS_KEY")?)
        .env("AWS_SECRET_ACCESS_KEY", env.get("MINIO_SECRET_KEY")?);
    Ok(cmd)
}

/// Runs a data-plane command to completion.
pub fn run(env: &TestEnv, subcommand: &str, config: &str, args: &[&str]) -> anyhow::Result<Output> {
    Ok(command(env, subcommand, config, args)?.output()?)
}

/// Runs a data-plane command that must succeed, and returns its JSON result.
pub fn run_ok(
    env: &TestEnv,
    subcommand: &str,
    config: &str,
    args: &[&str],
) -> anyhow::Result<serde_json::Value> {
    json_result(subcommand, run(env, subcommand, config, args)?)
}

/// The JSON result of a run that must have succeeded.
fn json_result(subcommand: &str, out: Output) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        out.status.success(),
        "{subcommand} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    result_line(&out.stdout).with_context(|| subcommand.to_string())
}

/// The result a data-plane command printed: its last stdout line (a restore prints progress
/// lines before it).
pub fn result_line(stdout: &[u8]) -> anyhow::Result<serde_json::Value> {
    let stdout = String::from_utf8_lossy(stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("no JSON result on stdout: {stdout}"))
}

/// Runs a data-plane command that must fail, and returns what it wrote to stderr.
pub fn run_err(env: &TestEnv, subcommand: &str, config: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = run(env, subcommand, config, args)?;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    anyhow::ensure!(!out.status.success(), "{subcommand} succeeded but should have failed: {stderr}");
    Ok(stderr)
}

/// A data-plane command like [`command`], but with exactly `vars` as its environment: the
/// credentials of another backend, as its Job gets them from a Secret.
pub fn command_with_env(
    env: &TestEnv,
    subcommand: &str,
    config: &str,
    args: &[&str],
    vars: &[(&str, &str)],
) -> anyhow::Result<Command> {
    let mut cmd = command(env, subcommand, config, args)?;
    cmd.env_clear().envs(vars.iter().copied());
    Ok(cmd)
}

/// [`run_ok`] with exactly `vars` as the environment.
pub fn run_ok_with_env(
    env: &TestEnv,
    subcommand: &str,
    config: &str,
    args: &[&str],
    vars: &[(&str, &str)],
) -> anyhow::Result<serde_json::Value> {
    json_result(subcommand, command_with_env(env, subcommand, config, args, vars)?.output()?)
}

/// Starts a data-plane command in the background.
pub fn spawn(env: &TestEnv, subcommand: &str, config: &str, args: &[&str]) -> anyhow::Result<Child> {
    Ok(command(env, subcommand, config, args)?.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?)
}

/// Kills a process the way the kubelet does when a node dies: SIGKILL, no chance to clean up.
pub fn sigkill(child: &mut Child) -> anyhow::Result<()> {
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// Sends `signal` to a process: SIGSTOP freezes it the way a stalled node or a long GC pause
/// would, SIGCONT lets it go on as if nothing happened.
pub fn signal(pid: u32, signal: i32) -> anyhow::Result<()> {
    let pid = i32::try_from(pid)?;
    // SAFETY: kill has no memory-safety preconditions.
    anyhow::ensure!(unsafe { libc::kill(pid, signal) } == 0, "kill({pid}, {signal}) failed");
    Ok(())
}

fn admin(env: &TestEnv) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(ClientConfig::new().set("bootstrap.servers", env.kafka_bootstrap()).create()?)
}

pub async fn create_topic(
    env: &TestEnv,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    for r in admin(env)?.create_topics(&[topic], &AdminOptions::new()).await? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    Ok(())
}

/// Deletes a topic and waits until the broker no longer lists it, so it can be created again.
pub async fn delete_topic(env: &TestEnv, name: &str) -> anyhow::Result<()> {
    for r in admin(env)?.delete_topics(&[name], &AdminOptions::new()).await? {
        r.map_err(|(t, e)| anyhow::anyhow!("deleting {t}: {e}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while partition_count(env, name)?.is_some() {
        anyhow::ensure!(Instant::now() < deadline, "topic {name} still listed 60 s after its deletion");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// The configs set on a topic (not the broker defaults).
pub async fn topic_configs(env: &TestEnv, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let described =
        admin(env)?.describe_configs(&[ResourceSpecifier::Topic(name)], &AdminOptions::new()).await?;
    let resource = described.into_iter().next().context("no answer")?.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(resource
        .entries
        .into_iter()
        .filter(|e| e.source == rdkafka::admin::ConfigSource::DynamicTopic)
        .filter_map(|e| e.value.map(|v| (e.name, v)))
        .collect())
}

/// Partition count of a topic, if it exists.
pub fn partition_count(env: &TestEnv, name: &str) -> anyhow::Result<Option<usize>> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", env.kafka_bootstrap()).create()?;
    let metadata = consumer.fetch_metadata(Some(name), Duration::from_secs(10))?;
    Ok(metadata.topics().first().filter(|t| t.error().is_none()).map(|t| t.partitions().len()))
}

/// Low and high watermark of a partition: the high watermark counts every record appended,
/// including those of transactions still open (librdkafka's default, `read_committed`, would
/// report the last stable offset instead).
pub fn watermarks(env: &TestEnv, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("isolation.level", "read_uncommitted")
        .create()?;
    Ok(consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?)
}

/// A base timestamp an hour ago: in the past, and young enough that the broker's retention
/// (7 days by default) never deletes the records mid-test.
pub fn recent() -> i64 {
    chrono::Utc::now().timestamp_millis() - 3_600_000
}

/// Records with keys, null keys, tombstones, empty values, headers with null values and explicit
/// timestamps `base_ts + i`.
pub fn records(topic: &str, partition: i32, n: usize, base_ts: i64) -> Vec<Record> {
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

/// Produces the records to one partition, in order, each acknowledged.
pub async fn produce(env: &TestEnv, topic: &str, partition: i32, records: &[Record]) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?;
    let mut pending = Vec::new();
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
        pending.push(producer.send_result(rec).map_err(|(e, _)| e)?);
    }
    for p in pending {
        p.await?.map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// Every record of a partition from its start to its high watermark, as a consumer sees it.
pub fn consume_all(env: &TestEnv, topic: &str, partition: i32) -> anyhow::Result<Vec<Record>> {
    let (_, high) = watermarks(env, topic, partition)?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("group.id", format!("e2e-reader-{}", unique_suffix()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.last().is_none_or(|r: &Record| r.offset + 1 < high) && high > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{topic}/{partition}: read {} records, high watermark {high}",
            out.len()
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(msg)) => out.push(strimzi_backup_operator::kafka::to_record(&msg)),
            Some(Err(e)) => return Err(e.into()),
            None => {
                // Only transaction markers or compacted offsets may be left.
                let position = consumer.position()?.elements().first().and_then(|e| e.offset().to_raw());
                if position.is_some_and(|p| p >= high) {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// The same records apart from their offsets (restored records sit at new offsets).
pub fn without_offsets(records: &[Record]) -> Vec<Record> {
    records.iter().map(|r| Record { offset: 0, ..r.clone() }).collect()
}

/// Commits an offset for a group from outside it.
pub fn commit(env: &TestEnv, group: &str, topic: &str, partition: i32, offset: i64) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    consumer.commit(&tpl, CommitMode::Sync)?;
    Ok(())
}

/// The offset a group has committed on a partition.
pub fn committed(env: &TestEnv, group: &str, topic: &str, partition: i32) -> anyhow::Result<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("group.id", group)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let got = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(got.elements().first().and_then(|e| match e.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }))
}

/// A backup's manifest and every record of its segments, checking the manifest accounts for
/// every offset of every partition.
pub async fn read_backup(
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
            anyhow::ensure!(
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
