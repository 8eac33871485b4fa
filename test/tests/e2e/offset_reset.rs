//! The `offset-reset` data plane against the real broker: every strategy moves a real group's
//! committed offsets where it should, a dry run changes nothing, a group with a live member is
//! skipped with the reason, and the snapshot of the run rolls it back.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use strimzi_backup_e2e::dataplane::{commit, committed, create_topic, produce, recent, records};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;

fn reset(
    env: &TestEnv,
    groups: &[&str],
    topic: &str,
    strategy: &str,
    extra: &str,
) -> anyhow::Result<serde_json::Value> {
    let config = format!(
        "kafka: {{bootstrapServers: '{}'}}\nconsumerGroups: [{}]\ntopics: ['{topic}']\nresetStrategy: {strategy}\n{extra}",
        env.kafka_bootstrap(),
        groups.join(", ")
    );
    strimzi_backup_e2e::dataplane::run_ok(env, "offset-reset", &config, &[])
}

#[tokio::test]
async fn every_strategy_moves_real_offsets_and_the_snapshot_rolls_back() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let (topic, group) = (format!("or{s}"), format!("or-group-{s}"));
    create_topic(&env, &topic, 2, &[]).await?;
    let base = recent();
    let mut recs = records(&topic, 0, 100, base);
    for (i, r) in recs.iter_mut().enumerate() {
        r.timestamp = base + i as i64 * 1000;
    }
    produce(&env, &topic, 0, &recs).await?;
    produce(&env, &topic, 1, &records(&topic, 1, 50, base)).await?;
    commit(&env, &group, &topic, 0, 40)?;
    commit(&env, &group, &topic, 1, 10)?;
    let at = |p| committed(&env, &group, &topic, p);

    let planned = reset(&env, &[&group], &topic, "to-latest", "dryRun: true\n")?;
    assert_eq!(planned["groups"][0]["outcome"], "Planned");
    assert_eq!((at(0)?, at(1)?), (Some(40), Some(10)), "a dry run changes nothing");

    let latest = reset(&env, &[&group], &topic, "to-latest", "")?;
    assert_eq!(latest["groupsReset"], 1);
    assert_eq!((at(0)?, at(1)?), (Some(100), Some(50)));
    let snapshot = latest["snapshot"].clone();

    reset(&env, &[&group], &topic, "shift-by", "shiftBy: -30\n")?;
    assert_eq!((at(0)?, at(1)?), (Some(70), Some(20)));
    reset(&env, &[&group], &topic, "to-offset", "resetOffset: 75\n")?;
    assert_eq!((at(0)?, at(1)?), (Some(75), Some(50)), "clamped to partition 1's end");
    let ts = strimzi_backup_operator::format::millis_to_rfc3339(base + 60_500).unwrap_or_default();
    reset(&env, &[&group], &topic, "to-timestamp", &format!("resetTimestamp: '{ts}'\n"))?;
    assert_eq!(at(0)?, Some(61), "the first record at or after the time");
    reset(&env, &[&group], &topic, "to-earliest", "")?;
    assert_eq!((at(0)?, at(1)?), (Some(0), Some(0)));

    // Roll back to the offsets from before the to-latest run.
    let dir = std::env::temp_dir().join(format!("sbo-snapshot-{s}"));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("snapshot.json");
    std::fs::write(&file, serde_json::to_vec(&snapshot)?)?;
    reset(&env, &[&group], &topic, "to-snapshot", &format!("snapshotFile: {}\n", file.display()))?;
    assert_eq!((at(0)?, at(1)?), (Some(40), Some(10)));
    std::fs::remove_dir_all(&dir).ok();

    // A group with a live member is skipped with the reason; the others still move. Both of
    // Kafka's group protocols: the classic one, and KIP-848's `consumer` (Kafka 4's default for
    // new clients), whose groups the classic DescribeGroups does not describe.
    let (busy, busy_848) = (format!("or-busy-{s}"), format!("or-busy-848-{s}"));
    let member = |group: &str, protocol: &str| -> anyhow::Result<StreamConsumer> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", env.kafka_bootstrap())
            .set("group.id", group)
            .set("group.protocol", protocol)
            .create()?;
        consumer.subscribe(&[&topic])?;
        Ok(consumer)
    };
    let consumers = [member(&busy, "classic")?, member(&busy_848, "consumer")?];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for consumer in &consumers {
        while consumer.assignment()?.count() == 0 {
            anyhow::ensure!(std::time::Instant::now() < deadline, "consumer never joined");
            let _ = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await;
        }
    }
    let out = strimzi_backup_e2e::dataplane::run(
        &env,
        "offset-reset",
        &format!(
            "kafka: {{bootstrapServers: '{}'}}\nconsumerGroups: [{group}, {busy}, {busy_848}]\ntopics: ['{topic}']\nresetStrategy: to-latest\n",
            env.kafka_bootstrap()
        ),
        &[],
    )?;
    let result: serde_json::Value = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    assert_eq!(result["groupsReset"], 1, "{result}");
    for skipped in [1, 2] {
        assert_eq!(result["groups"][skipped]["outcome"], "Skipped", "{result}");
        assert!(
            result["groups"][skipped]["message"].as_str().unwrap_or_default().contains("active member"),
            "{result}"
        );
    }
    assert_eq!(at(0)?, Some(100));
    drop(consumers);
    Ok(())
}
