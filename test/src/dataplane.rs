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
use strimzi_backup_operator::format::manifest::Manifest;
use strimzi_backup_operator::format::record::{Header, Record, TimestampType};

use crate::env::{TestEnv, workspace_root};
use crate::fixtures::unique_suffix;
use crate::oracle;

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

/// Commits an offset for a group from outside it; again while the group's coordinator is still
/// loading (a cluster that just started answers so until it has read `__consumer_offsets`).
pub fn commit(env: &TestEnv, group: &str, topic: &str, partition: i32, offset: i64) -> anyhow::Result<()> {
    use rdkafka::types::RDKafkaErrorCode as C;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match consumer.commit(&tpl, CommitMode::Sync) {
            Err(e)
                if matches!(
                    e.rdkafka_error_code(),
                    Some(C::CoordinatorLoadInProgress | C::CoordinatorNotAvailable | C::NotCoordinator)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(250))
            }
            other => return Ok(other?),
        }
    }
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

/// A backup's manifest and every record of its segments, read by the independent decoder
/// ([`read_backup_oracle`]: checksums, accounting of every offset, each segment against its
/// manifest entry) and handed back in the product's types for the tests that compare them with
/// what they produced. The product's `Manifest` is only deserialized from the JSON the oracle
/// has checked; none of the product's format code reads the backup.
pub async fn read_backup(
    store: &impl ObjectStore,
    prefix: &str,
    id: &str,
) -> anyhow::Result<(Manifest, BTreeMap<(String, i32), Vec<Record>>)> {
    let (manifest, records) = read_backup_oracle(store, prefix, id, None).await?;
    let product: Manifest = serde_json::from_value(manifest.raw.clone()).context("manifest fields")?;
    let records =
        records.into_iter().map(|(k, v)| (k, v.into_iter().map(product_record).collect())).collect();
    Ok((product, records))
}

/// Records of the oracle's decoding, per topic and partition.
pub type OracleRecords = BTreeMap<(String, i32), Vec<oracle::Record>>;

/// A backup read by the decoder of [`crate::oracle`] alone (written from docs/format.md):
/// manifest checksum and version, every partition's offset accounting, every segment's CRCs,
/// codec, encryption (with `key`, 32 bytes) and records, and each segment against what the
/// manifest says of it.
pub async fn read_backup_oracle(
    store: &impl ObjectStore,
    prefix: &str,
    id: &str,
    key: Option<&[u8]>,
) -> anyhow::Result<(oracle::manifest::Manifest, OracleRecords)> {
    let prefix = match prefix.trim_start_matches('/') {
        "" => String::new(),
        p if p.ends_with('/') => p.to_string(),
        p => format!("{p}/"),
    };
    let name = format!("{prefix}backups/{id}/manifest.json");
    let bytes = get(store, &name).await?;
    let manifest = oracle::manifest::parse(&bytes).with_context(|| name.clone())?;
    let mut records = BTreeMap::new();
    for topic in &manifest.topics {
        for p in &topic.partitions {
            let what = format!("{}/{}", topic.name, p.partition);
            let problems = oracle::manifest::accounting_problems(p);
            anyhow::ensure!(problems.is_empty(), "{what}: {problems:?}");
            let mut out: Vec<oracle::Record> = Vec::new();
            for s in &p.segments {
                let data = get(store, &s.object).await?;
                let segment = oracle::segment::decode(&data, key).with_context(|| s.object.clone())?;
                oracle::manifest::check_segment_entry(s, &data, &segment)?;
                if let (Some(prev), Some(next)) = (out.last(), segment.records.first()) {
                    anyhow::ensure!(
                        next.offset > prev.offset,
                        "{what}: {} overlaps the segment before",
                        s.object
                    );
                }
                out.extend(segment.records);
            }
            records.insert((topic.name.clone(), p.partition), out);
        }
    }
    Ok((manifest, records))
}

async fn get(store: &impl ObjectStore, name: &str) -> anyhow::Result<Bytes> {
    Ok(store
        .get(&object_store::path::Path::from(name))
        .await
        .with_context(|| name.to_string())?
        .bytes()
        .await?)
}

/// Checks a backup of topics nobody wrote to since (nor while) it ran against the broker: each
/// partition's range is the broker's watermarks, segments and gaps tile it, and the segments
/// hold exactly the offsets a `read_committed` consumer gets. Computed by [`oracle::coverage`],
/// not by the product.
pub async fn check_quiet_backup(
    env: &TestEnv,
    store: &impl ObjectStore,
    prefix: &str,
    id: &str,
) -> anyhow::Result<()> {
    let (manifest, records) = read_backup_oracle(store, prefix, id, None).await?;
    for topic in &manifest.topics {
        for p in &topic.partitions {
            let broker: Vec<i64> =
                consume_all(env, &topic.name, p.partition)?.iter().map(|r| r.offset).collect();
            oracle::coverage::check_quiet_partition(
                &format!("{}/{}", topic.name, p.partition),
                p,
                &records[&(topic.name.clone(), p.partition)],
                watermarks(env, &topic.name, p.partition)?,
                &broker,
            )?;
        }
    }
    Ok(())
}

/// The oracle's record in the product's type (plain field copies).
pub fn product_record(r: oracle::Record) -> Record {
    Record {
        offset: r.offset,
        timestamp: r.timestamp,
        timestamp_type: match r.timestamp_type {
            oracle::TimestampType::NotAvailable => TimestampType::NotAvailable,
            oracle::TimestampType::CreateTime => TimestampType::CreateTime,
            oracle::TimestampType::LogAppendTime => TimestampType::LogAppendTime,
        },
        key: r.key.map(Bytes::from),
        value: r.value.map(Bytes::from),
        headers: r
            .headers
            .into_iter()
            .map(|(key, value)| Header { key, value: value.map(Bytes::from) })
            .collect(),
    }
}

/// `topics` topics of `partitions` partitions, each with `per_partition` records of about
/// 1 KiB (keys, null keys, tombstones, empty values and headers as [`records`] makes them).
pub async fn fill_topics(
    env: &TestEnv,
    topics: &[String],
    partitions: i32,
    per_partition: usize,
) -> anyhow::Result<BTreeMap<(String, i32), Vec<Record>>> {
    let mut all = BTreeMap::new();
    for topic in topics {
        create_topic(env, topic, partitions, &[]).await?;
        for p in 0..partitions {
            let recs: Vec<Record> = records(topic, p, per_partition, recent())
                .into_iter()
                .map(|mut r| {
                    if r.value.as_ref().is_some_and(|v| !v.is_empty()) {
                        r.value = Some(Bytes::from(format!("{:01024}", r.timestamp)));
                    }
                    r
                })
                .collect();
            produce(env, topic, p, &recs).await?;
            all.insert((topic.clone(), p), recs);
        }
    }
    Ok(all)
}

/// Each partition's topic, number and offset range as `m` lists them: what two backups of the
/// same records must agree on, however many workers read them.
pub fn partition_ranges(m: &Manifest) -> Vec<(String, i32, i64, i64)> {
    m.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| (t.name.clone(), p.partition, p.start_offset, p.end_offset))
        })
        .collect()
}

/// Restores backup `id` at `prefix` into `<topic>-restored` for each of `topics` and checks each
/// partition holds exactly the `produced` records (offsets aside). `extra` ends the restore's
/// config (a `kms:` block; "" for none).
pub fn restores_renamed_to(
    env: &TestEnv,
    prefix: &str,
    id: &str,
    topics: &[String],
    produced: &BTreeMap<(String, i32), Vec<Record>>,
    extra: &str,
) -> anyhow::Result<()> {
    let mapping: String =
        topics.iter().map(|t| format!("  - sourceTopic: {t}\n    targetTopic: {t}-restored\n")).collect();
    let restore = format!("{}topicMapping:\n{mapping}{extra}", base_config(env, prefix, None)?);
    run_ok(env, "restore", &restore, &["--backup-id", id])?;
    for ((topic, p), want) in produced {
        let got = consume_all(env, &format!("{topic}-restored"), *p)?;
        assert_eq!(without_offsets(&got), without_offsets(want), "{topic}/{p}");
    }
    Ok(())
}

/// Worker `index`'s partitions of a restore of backup `m` across `workers`, as the product splits
/// them (`restore::workers::share`: one unit per partition, weighed by its segments' bytes; no
/// topic repartitioned): what a test kills a worker in the middle of.
pub fn restore_share(m: &Manifest, workers: u32, index: u32) -> Vec<(String, i32)> {
    let units: Vec<(u64, (String, i32))> = m
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.segments.iter().map(|s| s.raw_bytes).sum(), (t.name.clone(), p.partition)))
        })
        .collect();
    let slot = strimzi_backup_operator::restore::workers::Slot { index, workers };
    strimzi_backup_operator::restore::workers::share(&units, slot)
        .into_iter()
        .map(|i| units[i].1.clone())
        .collect()
}

/// Waits for a spawned process on a blocking thread. Its output is read as it comes, so its log
/// never fills a pipe and blocks it.
pub fn waited(child: Child) -> tokio::task::JoinHandle<std::io::Result<Output>> {
    tokio::task::spawn_blocking(move || child.wait_with_output())
}

/// The names of every object under `prefix` in `store`.
pub async fn objects_under(store: &impl ObjectStore, prefix: &str) -> anyhow::Result<Vec<String>> {
    use futures::TryStreamExt;
    let path = object_store::path::Path::from(prefix.trim_end_matches('/'));
    let listed: Vec<_> = store.list(Some(&path)).try_collect().await?;
    Ok(listed.into_iter().map(|o| o.location.to_string()).collect())
}
