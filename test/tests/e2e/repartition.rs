//! Restoring into another partition count (`topicMapping[].partitions`, issue 16 §5) against the
//! real broker and MinIO, driving the data-plane binary.
//!
//! A 3-partition topic with keyed and keyless records and two consumer groups at committed
//! offsets is backed up, then restored into 5 and into 2 partitions (and into 2 up to a point in
//! time). Checked on what a `read_committed` consumer reads back: every record exactly once,
//! field for field; each keyed record in the partition librdkafka's Java-compatible `murmur2`
//! partitioner gives its key (an oracle independent of the restore's own hash); every key's
//! records, and every source partition's records, in their order; keyless records spread evenly;
//! each group's committed offset on each target partition at the first record there it had not
//! consumed (docs/data-plane.md, "Repartitioning"). A restore killed twice mid-way and rerun
//! lands every record exactly once; an existing topic of another count is refused naming the
//! field.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use strimzi_backup_e2e::dataplane::{
    base_config, commit, committed, consume_all, create_topic, partition_count, produce, recent, run_err,
    run_ok, sigkill, spawn, watermarks,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::record::{Header, Record, TimestampType};

/// Records per source partition: uneven, so partitions run out at different points of the merge.
const SIZES: [usize; 3] = [400, 250, 333];

/// Record `i` of source partition `p`: a key of its own partition's 40 (one in five keyless), a
/// value naming it, a header, and a timestamp every 10 ms — the same across partitions every
/// seventh record (ties broken by source partition).
fn source_record(p: i32, i: usize, base: i64, big: bool) -> Record {
    let tie = i.is_multiple_of(7);
    let mut value = format!("s{p}-{i}").into_bytes();
    if big {
        value.resize(1024, b'x');
    }
    Record {
        offset: i as i64,
        timestamp: base + i as i64 * 10 + if tie { 0 } else { i64::from(p) },
        timestamp_type: TimestampType::CreateTime,
        key: (!i.is_multiple_of(5)).then(|| Bytes::from(format!("key-{p}-{}", i % 40))),
        value: Some(Bytes::from(value)),
        headers: vec![Header { key: "i".into(), value: Some(Bytes::from(i.to_string())) }],
    }
}

/// The source partition and index a restored record came from (its value says).
fn origin(r: &Record) -> (i32, usize) {
    let v = r.value.as_deref().map(|v| String::from_utf8_lossy(v).trim_end_matches('x').to_string());
    let v = v.unwrap_or_default();
    let (p, i) = v.trim_start_matches('s').split_once('-').unwrap_or(("-1", "0"));
    (p.parse().unwrap_or(-1), i.parse().unwrap_or(usize::MAX))
}

/// Where librdkafka's `murmur2` partitioner (Java-compatible) puts each key of `keys` among
/// `partitions`: produced for real to a scratch topic.
async fn oracle_partitions(
    env: &TestEnv,
    keys: &[Bytes],
    partitions: i32,
) -> anyhow::Result<HashMap<Bytes, i32>> {
    let scratch = format!("rp-oracle-{}-{partitions}", unique_suffix());
    create_topic(env, &scratch, partitions, &[]).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("partitioner", "murmur2")
        .create()?;
    let mut out = HashMap::new();
    for k in keys {
        let delivery = producer
            .send(
                FutureRecord::<[u8], [u8]>::to(&scratch).key(&k[..]).payload(b"".as_slice()),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)?;
        out.insert(k.clone(), delivery.partition);
    }
    Ok(out)
}

/// What a repartitioned restore must give, checked on the target topic: the records of `want`
/// that `kept` keeps, each once; returns every target partition's records as read back.
async fn check_placement(
    env: &TestEnv,
    target: &str,
    partitions: i32,
    want: &[Vec<Record>],
    kept: impl Fn(&Record) -> bool,
) -> anyhow::Result<Vec<Vec<Record>>> {
    assert_eq!(partition_count(env, target)?, Some(partitions as usize), "{target}: partition count");
    let keys: Vec<Bytes> = {
        let mut k: Vec<Bytes> = want.iter().flatten().filter_map(|r| r.key.clone()).collect();
        k.sort();
        k.dedup();
        k
    };
    let oracle = oracle_partitions(env, &keys, partitions).await?;
    let mut seen: BTreeMap<(i32, usize), usize> = BTreeMap::new();
    let mut got = Vec::new();
    let mut keyless = Vec::new();
    for t in 0..partitions {
        let records = consume_all(env, target, t)?;
        let mut last_of_source: HashMap<i32, usize> = HashMap::new();
        for r in &records {
            let (p, i) = origin(r);
            let source = want
                .get(p as usize)
                .and_then(|recs| recs.get(i))
                .ok_or_else(|| anyhow::anyhow!("{target}/{t}: a record the backup did not hold: {r:?}"))?;
            assert_eq!(
                Record { offset: 0, ..r.clone() },
                Record { offset: 0, ..source.clone() },
                "{target}/{t}: field for field"
            );
            assert!(kept(source), "{target}/{t}: s{p}-{i} is past the point in time");
            *seen.entry((p, i)).or_default() += 1;
            if let Some(k) = &r.key {
                assert_eq!(
                    oracle.get(k),
                    Some(&t),
                    "{target}/{t}: key {k:?} is where Kafka's partitioner puts it"
                );
            }
            // Every source partition's records, and so every key's, in their order.
            if let Some(before) = last_of_source.insert(p, i) {
                assert!(before < i, "{target}/{t}: s{p}-{i} after s{p}-{before}");
            }
        }
        keyless.push(records.iter().filter(|r| r.key.is_none()).count());
        got.push(records);
    }
    let total = want.iter().flatten().filter(|r| kept(r)).count();
    assert_eq!(seen.len(), total, "{target}: every record of the backup is there");
    assert!(
        seen.values().all(|n| *n == 1),
        "{target}: no record twice: {:?}",
        seen.iter().find(|(_, n)| **n > 1)
    );
    let (min, max) = (keyless.iter().min().copied().unwrap_or(0), keyless.iter().max().copied().unwrap_or(0));
    assert!(max - min <= 1, "{target}: keyless records round-robin: {keyless:?}");
    Ok(got)
}

/// The documented offset of a group on each target partition: the offset of the first record
/// there it had not consumed (a source partition without a commit: nothing consumed), else the
/// partition's end.
fn expected_offsets(
    env: &TestEnv,
    target: &str,
    got: &[Vec<Record>],
    committed_at: &BTreeMap<i32, i64>,
) -> anyhow::Result<Vec<i64>> {
    let mut out = Vec::new();
    for (t, records) in got.iter().enumerate() {
        let first = records.iter().find(|r| {
            let (p, i) = origin(r);
            committed_at.get(&p).is_none_or(|c| i as i64 >= *c)
        });
        out.push(match first {
            Some(r) => r.offset,
            None => watermarks(env, target, t as i32)?.1,
        });
    }
    Ok(out)
}

#[tokio::test]
async fn keyed_records_go_where_kafkas_partitioner_puts_them_and_groups_skip_nothing() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-rp-{s}/");
    let topic = format!("rp{s}");
    let (full, front) = (format!("rp-full-{s}"), format!("rp-front-{s}"));
    create_topic(&env, &topic, 3, &[]).await?;
    let base = recent() - 600_000;
    let want: Vec<Vec<Record>> =
        (0..3).map(|p| (0..SIZES[p as usize]).map(|i| source_record(p, i, base, false)).collect()).collect();
    for (p, recs) in want.iter().enumerate() {
        produce(&env, &topic, p as i32, recs).await?;
    }
    // `full` consumed partition 1 entirely and parts of 0 and 2; `front` committed only on
    // partition 0 (all of it): its other partitions count as unconsumed.
    let full_at = BTreeMap::from([(0, 100), (1, SIZES[1] as i64), (2, 37)]);
    let front_at = BTreeMap::from([(0, SIZES[0] as i64)]);
    for (p, o) in &full_at {
        commit(&env, &full, &topic, *p, *o)?;
    }
    commit(&env, &front, &topic, 0, SIZES[0] as i64)?;
    let config = format!(
        "{}topics:\n  include: [\"{topic}\"]\nconsumerGroups:\n  include: [\"rp-(full|front)-{s}\"]\n",
        base_config(&env, &prefix, None)?
    );
    run_ok(&env, "backup", &config, &[])?;
    let total: usize = SIZES.iter().sum();

    for partitions in [5, 2] {
        let target = format!("rp{s}-into-{partitions}");
        let restore = format!(
            "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n    partitions: {partitions}\n",
            base_config(&env, &prefix, None)?
        );
        // The plan: every record counted, every group planned on every target partition.
        let plan = run_ok(&env, "restore", &restore, &["--dry-run"])?;
        assert_eq!(plan["restoredRecords"], total as i64, "{plan}");
        assert_eq!(plan["restoredPartitions"], partitions, "{plan}");
        assert_eq!(plan["topics"][0]["partitions"], partitions, "{plan}");
        assert_eq!(partition_count(&env, &target)?, None, "a dry run creates nothing");

        let result = run_ok(&env, "restore", &restore, &["--restore-id", &format!("rp-{s}-{partitions}")])?;
        assert_eq!(result["restoredRecords"], total as i64, "{result}");
        assert_eq!(result["restoredPartitions"], partitions, "{result}");
        assert_eq!(result["consumerGroupsRestored"], 2, "{result}");
        let got = check_placement(&env, &target, partitions, &want, |_| true).await?;

        for (group, at) in [(&full, &full_at), (&front, &front_at)] {
            let expected = expected_offsets(&env, &target, &got, at)?;
            let mut restored = Vec::new();
            for t in 0..partitions {
                restored.push(committed(&env, group, &target, t)?.unwrap_or(-1));
            }
            assert_eq!(restored, expected, "{group} on {target}");
            let reported = result["consumerGroups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|g| g["group"] == group.as_str()))
                .map(|g| g["offsets"].as_array().map_or(0, Vec::len));
            assert_eq!(
                reported,
                Some(partitions as usize),
                "{group}: reported per target partition: {result}"
            );
            // The plan placed it alike (a plan has no transaction markers, so only which record).
            let planned = plan["consumerGroups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|g| g["group"] == group.as_str()))
                .map(|g| g["offsets"].as_array().map_or(0, Vec::len));
            assert_eq!(planned, Some(partitions as usize), "{group}: planned per target partition: {plan}");
        }
        println!("{target}: records per partition {:?}", got.iter().map(Vec::len).collect::<Vec<_>>());
    }

    // Up to a point in time: exactly the records at or before it, placed alike.
    let cut = base + 1500;
    let target = format!("rp{s}-pit");
    let restore = format!(
        "{}pointInTime:\n  timestamp: \"{}\"\ntopicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n    partitions: 2\n",
        base_config(&env, &prefix, None)?,
        strimzi_backup_operator::format::millis_to_rfc3339(cut).unwrap_or_default()
    );
    let result = run_ok(&env, "restore", &restore, &["--restore-id", &format!("rp-{s}-pit")])?;
    let n_kept = want.iter().flatten().filter(|r| r.timestamp <= cut).count();
    assert!(n_kept > 0 && n_kept < total);
    assert_eq!(result["restoredRecords"], n_kept as i64, "{result}");
    check_placement(&env, &target, 2, &want, |r| r.timestamp <= cut).await?;
    Ok(())
}

#[tokio::test]
async fn a_repartitioning_restore_killed_twice_lands_every_record_exactly_once() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-rpk-{s}/");
    let topic = format!("rpk{s}");
    let group = format!("rpk-group-{s}");
    create_topic(&env, &topic, 3, &[]).await?;
    let n = 12_000;
    let base = recent() - 600_000;
    let want: Vec<Vec<Record>> =
        (0..3).map(|p| (0..n).map(|i| source_record(p, i, base, true)).collect()).collect();
    for (p, recs) in want.iter().enumerate() {
        produce(&env, &topic, p as i32, recs).await?;
    }
    let at = BTreeMap::from([(0, 5_000), (1, 11_000), (2, 0)]);
    for (p, o) in &at {
        commit(&env, &group, &topic, *p, *o)?;
    }
    let config = format!(
        "{}topics:\n  include: [\"{topic}\"]\nconsumerGroups:\n  include: [\"{group}\"]\n",
        base_config(&env, &prefix, None)?
    );
    run_ok(&env, "backup", &config, &[])?;
    let partitions = 5;
    let target = format!("rpk{s}-into-5");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n    partitions: {partitions}\n",
        base_config(&env, &prefix, None)?
    );
    let id = format!("rpk-{s}");
    let total = 3 * n as i64;
    // read_uncommitted: the high watermark moves with every record appended, not only at commits.
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("isolation.level", "read_uncommitted")
        .create()?;
    let end = |p: i32| probe.fetch_watermarks(&target, p, Duration::from_millis(100)).map_or(0, |w| w.1);
    for kill_at in [1, total / 3] {
        let mut child = spawn(&env, "restore", &restore, &["--restore-id", &id])?;
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let written = loop {
            let hw: i64 = (0..partitions).map(end).sum();
            if hw >= kill_at {
                break hw;
            }
            anyhow::ensure!(child.try_wait()?.is_none(), "the restore ended before it was killed");
            anyhow::ensure!(std::time::Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        sigkill(&mut child)?;
        println!("killed with {written} of {total} offsets appended");
        anyhow::ensure!(written < total, "killed after the restore finished ({written}); nothing proven");
    }
    let result = run_ok(&env, "restore", &restore, &["--restore-id", &id])?;
    assert_eq!(result["restoredRecords"], total, "{result}");
    let got = check_placement(&env, &target, partitions, &want, |_| true).await?;
    let expected = expected_offsets(&env, &target, &got, &at)?;
    let mut restored = Vec::new();
    for t in 0..partitions {
        restored.push(committed(&env, &group, &target, t)?.unwrap_or(-1));
    }
    assert_eq!(restored, expected, "{group} on {target} after the retries");
    Ok(())
}

#[tokio::test]
async fn an_existing_topic_with_another_partition_count_or_none_at_all_is_refused_naming_the_field()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-rpx-{s}/");
    let topic = format!("rpx{s}");
    create_topic(&env, &topic, 3, &[]).await?;
    produce(&env, &topic, 0, &[source_record(0, 1, recent(), false)]).await?;
    let config = format!("{}topics:\n  include: [\"{topic}\"]\n", base_config(&env, &prefix, None)?);
    run_ok(&env, "backup", &config, &[])?;
    let target = format!("rpx{s}-existing");
    create_topic(&env, &target, 4, &[]).await?;
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n    partitions: 5\nrestore:\n  existingTopicPolicy: append\n",
        base_config(&env, &prefix, None)?
    );
    let err = run_err(&env, "restore", &restore, &[])?;
    assert!(
        err.contains("spec.topicMapping[0].partitions") && err.contains("exists with 4 partitions, not 5"),
        "{err}"
    );
    assert_eq!(watermarks(&env, &target, 0)?.1, 0, "nothing written");
    // A configuration written by hand is not checked by the CRD's minimum: the run is.
    let err = run_err(&env, "restore", &restore.replace("partitions: 5", "partitions: 0"), &[])?;
    assert!(err.contains("spec.topicMapping[0].partitions: 0 partitions; use 1 or more"), "{err}");
    Ok(())
}
