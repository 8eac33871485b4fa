//! The backup data plane against the real broker and MinIO: every record comes back exactly from
//! the stored segments, the manifest accounts for every offset, incremental backups chain, and
//! aborted transactions are left out but accounted for.

use std::collections::BTreeMap;
use std::time::Duration;

use object_store::{ObjectStore, ObjectStoreExt};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use strimzi_backup_e2e::dataplane::{
    base_config, check_quiet_backup, commit, committed, consume_all, create_topic, minio, produce,
    product_record, read_backup, read_backup_oracle, recent, records, run, run_ok, topic_configs,
    without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::manifest::Layout;
use strimzi_backup_operator::format::record::Record;

/// Runs a backup of the topics matching `topics` under `prefix`.
fn run_backup(env: &TestEnv, prefix: &str, topics: &str, extra: &str) -> anyhow::Result<serde_json::Value> {
    run_ok(env, "backup", &config(env, prefix, topics, extra)?, &[])
}

fn config(env: &TestEnv, prefix: &str, topics: &str, extra: &str) -> anyhow::Result<String> {
    Ok(format!("{}topics:\n  include: [\"{topics}\"]\n{extra}", base_config(env, prefix, None)?))
}

#[tokio::test]
async fn records_come_back_exactly_and_incrementals_chain() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-backup-{suffix}/");
    let (orders, payments) = (format!("bk{suffix}-orders"), format!("bk{suffix}-payments"));
    create_topic(&env, &orders, 3, &[("retention.ms", "604800000"), ("max.message.bytes", "2000000")])
        .await?;
    create_topic(&env, &payments, 1, &[]).await?;
    let mut want: BTreeMap<(String, i32), Vec<Record>> = BTreeMap::new();
    for (topic, partitions, n) in [(&orders, 3, 400), (&payments, 1, 250)] {
        for p in 0..partitions {
            let records = records(topic, p, n, recent() + i64::from(p) * 10_000);
            produce(&env, topic, p, &records).await?;
            want.insert((topic.clone(), p), records);
        }
    }

    let first = run_backup(&env, &prefix, &format!("bk{suffix}-.*"), "")?;
    assert_eq!(first["records"], 3 * 400 + 250);
    assert_eq!((first["topics"].as_u64(), first["partitions"].as_u64()), (Some(2), Some(4)));
    let id = first["backupId"].as_str().unwrap_or_default().to_string();
    let (manifest, got) = read_backup(&store, &prefix, &id).await?;
    assert_eq!(got, want, "every record, field for field");
    check_quiet_backup(&env, &store, &prefix, &id).await?;
    let orders_entry = manifest.topics.iter().find(|t| t.name == orders).expect("orders in manifest");
    assert_eq!(orders_entry.partition_count, 3);
    assert_eq!(orders_entry.configs.get("max.message.bytes").map(String::as_str), Some("2000000"));
    assert_eq!(manifest.parent_id, None);

    // More records, then an incremental backup that continues from the first one's cut.
    // Offsets 250..300 continue the partition.
    let more: Vec<Record> = records(&payments, 0, 300, recent() + 60_000).into_iter().skip(250).collect();
    produce(&env, &payments, 0, &more).await?;
    let second = run_backup(&env, &prefix, &format!("bk{suffix}-.*"), "")?;
    assert_eq!(second["parentId"].as_str(), Some(id.as_str()));
    assert_eq!(second["records"], 50, "only what came after the first backup");
    let (manifest2, got2) =
        read_backup(&store, &prefix, second["backupId"].as_str().unwrap_or_default()).await?;
    check_quiet_backup(&env, &store, &prefix, second["backupId"].as_str().unwrap_or_default()).await?;
    let p = &manifest2.topics.iter().find(|t| t.name == payments).expect("payments").partitions[0];
    // A whole restore point from the log start, of which this backup read only 250..300.
    assert_eq!((p.start_offset, p.read_from, p.end_offset), (0, Some(250), 300));
    assert_eq!(manifest2.written.as_ref().map(|w| w.records), Some(50));
    let mut all_payments = want[&(payments.clone(), 0)].clone();
    all_payments.extend(more.clone());
    assert_eq!(got2[&(payments.clone(), 0)], all_payments);
    assert_eq!(got2[&(orders.clone(), 1)], want[&(orders.clone(), 1)], "orders held as before");

    // Restoring the incremental backup restores every record.
    let restore = format!(
        "{}topics:\n  include: [\"{payments}\"]\ntopicMapping:\n  - sourceTopic: {payments}\n    targetTopic: {payments}-restored\n",
        base_config(&env, &prefix, None)?
    );
    let result = run_ok(&env, "restore", &restore, &[])?;
    assert_eq!(result["restoredRecords"], 300);
    assert_eq!(
        without_offsets(&consume_all(&env, &format!("{payments}-restored"), 0)?),
        without_offsets(&all_payments)
    );
    Ok(())
}

#[tokio::test]
async fn aborted_transactions_are_left_out_and_accounted_for() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-txn-{suffix}/");
    let topic = format!("txn{suffix}");
    create_topic(&env, &topic, 1, &[]).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("transactional.id", format!("e2e-{suffix}"))
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
    check_quiet_backup(&env, &store, &prefix, result["backupId"].as_str().unwrap_or_default()).await?;

    // Restored: the committed records only, densely; a group that had read the first
    // transaction (offset 11, past its marker) resumes at the first record of the third.
    let group = format!("txn-group-{suffix}");
    strimzi_backup_e2e::dataplane::commit(&env, &group, &topic, 0, 11)?;
    run_ok(
        &env,
        "backup",
        &format!("{}consumerGroups:\n  include: [\"{group}\"]\n", config(&env, &prefix, &topic, "")?),
        &[],
    )?;
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {topic}-restored\n",
        base_config(&env, &prefix, None)?
    );
    run_ok(&env, "restore", &restore, &[])?;
    let restored = consume_all(&env, &format!("{topic}-restored"), 0)?;
    assert_eq!(restored.len(), 20);
    assert_eq!(restored.last().map(|r| r.offset), Some(19), "no markers, no aborted records");
    assert_eq!(committed(&env, &group, &format!("{topic}-restored"), 0)?, Some(10));
    Ok(())
}

#[tokio::test]
async fn verify_passes_a_sound_backup_and_names_a_corrupted_byte() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-verify-{suffix}/");
    let topic = format!("vf{suffix}");
    create_topic(&env, &topic, 1, &[]).await?;
    produce(&env, &topic, 0, &records(&topic, 0, 3000, recent())).await?;
    let backup = run(&env, "backup", &config(&env, &prefix, &topic, "")?, &[])?;
    let log = String::from_utf8_lossy(&backup.stderr);
    assert!(backup.status.success(), "{log}");
    let result: serde_json::Value = strimzi_backup_e2e::dataplane::result_line(&backup.stdout)?;
    assert_eq!(result["records"], 3000, "{log}");
    let sound = run(&env, "verify", &config(&env, &prefix, &topic, "")?, &[])?;
    assert!(sound.status.success(), "{}", String::from_utf8_lossy(&sound.stderr));
    let report: serde_json::Value = strimzi_backup_e2e::dataplane::result_line(&sound.stdout)?;
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

    let broken = run(&env, "verify", &config(&env, &prefix, &topic, "")?, &[])?;
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

#[tokio::test]
async fn a_compacted_topic_round_trips_with_its_gaps_and_groups_land_on_survivors() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-compact-{suffix}/");
    let (topic, group) = (format!("cp{suffix}"), format!("cp-group-{suffix}"));
    // Small segments and an eager cleaner, so the broker really compacts within seconds.
    create_topic(
        &env,
        &topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "100"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "0"),
        ],
    )
    .await?;
    let base = recent();
    for round in 0..20i64 {
        let batch: Vec<Record> = (0..10i64)
            .map(|k| Record {
                offset: 0,
                timestamp: base + round * 10 + k,
                timestamp_type: strimzi_backup_operator::format::record::TimestampType::CreateTime,
                key: Some(format!("key-{k}").into()),
                // Key 9 ends as a tombstone, which compaction keeps (delete.retention.ms).
                value: (!(k == 9 && round == 19)).then(|| format!("round-{round}").into()),
                headers: Vec::new(),
            })
            .collect();
        produce(&env, &topic, 0, &batch).await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let compacted = loop {
        let now = consume_all(&env, &topic, 0)?;
        if now.len() < 200 {
            break now;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the broker never compacted ({} records)",
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // A committed offset that compaction removed: the group resumes at the next survivor.
    let missing = (1..200).find(|o| !compacted.iter().any(|r| r.offset == *o)).unwrap_or(1);
    let next_survivor = compacted.iter().position(|r| r.offset >= missing).unwrap_or(compacted.len());
    commit(&env, &group, &topic, 0, missing)?;

    let result = run_ok(
        &env,
        "backup",
        &format!("{}consumerGroups:\n  include: [\"{group}\"]\n", config(&env, &prefix, &topic, "")?),
        &[],
    )?;
    let (manifest, got) =
        read_backup(&store, &prefix, result["backupId"].as_str().unwrap_or_default()).await?;
    // The survivors exactly, at their original offsets; the gaps are accounted for.
    assert_eq!(got[&(topic.clone(), 0)], compacted);
    check_quiet_backup(&env, &store, &prefix, result["backupId"].as_str().unwrap_or_default()).await?;
    assert_eq!(manifest.topics[0].configs.get("cleanup.policy").map(String::as_str), Some("compact"));

    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n",
        base_config(&env, &prefix, None)?
    );
    let restored = run_ok(&env, "restore", &restore, &[])?;
    assert_eq!(restored["restoredRecords"], compacted.len(), "the survivors exactly");
    // The restored topic is compacted with the same eager settings, so its own cleaner may have
    // run since (the commit marker rolls the segment): what it holds is the survivors in order,
    // and every key's latest value.
    let held = without_offsets(&consume_all(&env, &target, 0)?);
    let mut rest = without_offsets(&compacted).into_iter();
    assert!(held.iter().all(|r| rest.any(|c| c == *r)), "in the survivors' order: {held:?}");
    let latest = |records: &[Record]| -> std::collections::BTreeMap<Option<bytes::Bytes>, Record> {
        records.iter().map(|r| (r.key.clone(), r.clone())).collect()
    };
    assert_eq!(latest(&held), latest(&without_offsets(&compacted)));
    assert_eq!(
        topic_configs(&env, &target).await?.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    assert_eq!(committed(&env, &group, &target, 0)?, Some(next_survivor as i64));
    Ok(())
}

#[tokio::test]
async fn an_encrypted_backup_is_unreadable_without_its_key() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-enc-{suffix}/");
    let topic = format!("en{suffix}");
    create_topic(&env, &topic, 1, &[]).await?;
    let secret = format!("card-number-4111-{suffix}");
    let recs: Vec<Record> = records(&topic, 0, 200, recent())
        .into_iter()
        .map(|mut r| {
            r.value = Some(secret.clone().into());
            r
        })
        .collect();
    produce(&env, &topic, 0, &recs).await?;
    let dir = std::env::temp_dir().join(format!("sbo-keys-{suffix}"));
    std::fs::create_dir_all(&dir)?;
    let (key, wrong) = (dir.join("key"), dir.join("wrong"));
    std::fs::write(&key, "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=\n")?;
    std::fs::write(&wrong, "0000000000000000000000000000000000000000000000000000000000000000")?;
    let with_key = |file: &std::path::Path| format!("encryptionKeyFile: {}\n", file.display());
    let backup = config(
        &env,
        &prefix,
        &topic,
        &format!("backup:\n  compression: none\n  encryption:\n    enabled: true\n{}", with_key(&key)),
    )?;
    let result = run_ok(&env, "backup", &backup, &[])?;

    // Decoded independently (AES-256-GCM as docs/format.md says) with the key: every record, and
    // the manifest names the key by its SHA-256 prefix; with another key nothing is readable.
    let id = result["backupId"].as_str().unwrap_or_default();
    let raw_key = b"12345678901234567890123456789012"; // the base64 in the key file
    let (decoded, got) = read_backup_oracle(&store, &prefix, id, Some(raw_key)).await?;
    assert_eq!(got[&(topic.clone(), 0)].iter().cloned().map(product_record).collect::<Vec<_>>(), recs);
    let key_id = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(raw_key)[..8]);
    assert_eq!(decoded.raw["encoding"]["encryptionKeyId"], key_id.as_str());
    assert!(
        read_backup_oracle(&store, &prefix, id, Some(&[0u8; 32])).await.is_err(),
        "read with another key"
    );

    // Not a byte of the values in storage, even uncompressed.
    let manifest_name =
        format!("{prefix}backups/{}/manifest.json", result["backupId"].as_str().unwrap_or_default());
    let manifest = strimzi_backup_operator::format::manifest::Manifest::from_json(
        &store.get(&object_store::path::Path::from(manifest_name.as_str())).await?.bytes().await?,
        &manifest_name,
    )?;
    for s in &manifest.topics[0].partitions[0].segments {
        let data = store.get(&object_store::path::Path::from(s.object.as_str())).await?.bytes().await?;
        assert!(!data.windows(secret.len()).any(|w| w == secret.as_bytes()), "plaintext in {}", s.object);
    }

    let plain = config(&env, &prefix, &topic, "")?;
    let refused = strimzi_backup_e2e::dataplane::run_err(&env, "verify", &plain, &[])?;
    assert!(refused.contains("is encrypted"), "{refused}");
    let target = format!("{topic}-restored");
    let restore = |key_line: &str| -> anyhow::Result<String> {
        Ok(format!(
            "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n{key_line}",
            base_config(&env, &prefix, None)?
        ))
    };
    let refused = strimzi_backup_e2e::dataplane::run_err(&env, "restore", &restore(&with_key(&wrong))?, &[])?;
    assert!(refused.contains("wrong encryption key"), "{refused}");
    assert_eq!(strimzi_backup_e2e::dataplane::partition_count(&env, &target)?, None, "nothing created");
    run_ok(&env, "verify", &format!("{plain}{}", with_key(&key)), &[])?;
    run_ok(&env, "restore", &restore(&with_key(&key))?, &[])?;
    assert_eq!(without_offsets(&consume_all(&env, &target, 0)?), without_offsets(&recs));
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[tokio::test]
async fn retention_prunes_old_restore_points_but_never_a_protected_one_or_a_segment_a_kept_one_needs()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let suffix = unique_suffix();
    let prefix = format!("e2e-retention-{suffix}/");
    let topic = format!("rt{suffix}");
    create_topic(&env, &topic, 1, &[]).await?;
    let mut ids = Vec::new();
    let full = |extra: &str| config(&env, &prefix, &topic, &format!("backup:\n  mode: full\n{extra}"));
    for round in 0..3 {
        produce(&env, &topic, 0, &records(&topic, 0, 10, recent() + round)).await?;
        let result = run_ok(&env, "backup", &full("")?, &["--backup-id", &format!("full-{round}")])?;
        ids.push(result["backupId"].as_str().unwrap_or_default().to_string());
        assert_eq!(result["backupCount"], round + 1);
    }
    // A restore reads full-0: it stays although it is beyond maxBackups.
    let protected = full("retention:\n  maxBackups: 2\nprotectedBackups: [full-0]\n")?;
    let result = run_ok(&env, "backup", &protected, &["--backup-id", "full-3"])?;
    assert_eq!(result["pruned"], serde_json::json!(["full-1"]));
    assert_eq!(result["backupCount"], 3);
    let result = run_ok(&env, "backup", &full("retention:\n  maxBackups: 2\n")?, &["--backup-id", "full-4"])?;
    assert_eq!(result["pruned"], serde_json::json!(["full-0", "full-2"]));
    assert_eq!(result["backupCount"], 2);
    let gone = Layout::new(&prefix).manifest("full-0");
    assert!(store.head(&object_store::path::Path::from(gone.as_str())).await.is_err());
    let segments = object_store::path::Path::from(format!("{prefix}backups/full-0"));
    assert!(futures::TryStreamExt::try_collect::<Vec<_>>(store.list(Some(&segments))).await?.is_empty());

    // Incrementals on top of full-4 with maxBackups 1: each is a whole restore point, so the
    // older ones go — but the segments of full-4 and inc-5 stay, since inc-6 lists them.
    let incremental =
        config(&env, &prefix, &topic, "backup:\n  mode: incremental\nretention:\n  maxBackups: 1\n")?;
    for round in 5..7 {
        produce(&env, &topic, 0, &records(&topic, 0, 5, recent() + round)).await?;
        let result = run_ok(&env, "backup", &incremental, &["--backup-id", &format!("inc-{round}")])?;
        assert_eq!(result["records"], 5, "only what is new");
        assert_eq!(
            result["pruned"],
            if round == 5 { serde_json::json!(["full-3", "full-4"]) } else { serde_json::json!(["inc-5"]) }
        );
        assert_eq!(result["backupCount"], 1);
    }
    let listed = |dir: &str| {
        let path = object_store::path::Path::from(format!("{prefix}backups/{dir}"));
        futures::TryStreamExt::try_collect::<Vec<_>>(store.list(Some(&path)))
    };
    assert!(listed("full-3").await?.is_empty(), "nothing of full-3 is needed any more");
    let full4 = listed("full-4").await?;
    assert!(!full4.is_empty(), "inc-6 still needs the segments of full-4");
    assert!(!full4.iter().any(|o| o.location.as_ref().ends_with("manifest.json")), "{full4:?}");
    // inc-6 alone restores every record.
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {topic}-restored\n",
        base_config(&env, &prefix, None)?
    );
    let result = run_ok(&env, "restore", &restore, &[])?;
    assert_eq!(result["restoredRecords"], 3 * 10 + 2 * 5);
    Ok(())
}
