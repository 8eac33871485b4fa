//! Data-plane guarantees of SPEC §5 that no other test exercises: a transaction still open when a
//! backup starts lies after its cut and comes with the next backup once decided; and a backup
//! leaves no consumer group behind on the cluster it reads.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, produce, recent, records, run_ok, watermarks, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;

/// The consumer groups the cluster knows.
fn groups(env: &TestEnv) -> anyhow::Result<Vec<String>> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", env.kafka_bootstrap()).create()?;
    let list = consumer.fetch_group_list(None, Duration::from_secs(10))?;
    Ok(list.groups().iter().map(|g| g.name().to_string()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_open_at_the_cut_waits_for_the_next_backup_and_no_group_is_left_behind()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("opentx{s}"), format!("e2e-opentx-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    let committed = records(&topic, 0, 100, recent());
    produce(&env, &topic, 0, &committed).await?;

    // A transaction begun and left open: 20 records the broker holds but may not show yet.
    let txn: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("transactional.id", format!("e2e-open-{s}"))
        .create()?;
    txn.init_transactions(Duration::from_secs(30))?;
    txn.begin_transaction()?;
    let pending: Vec<_> = (0..20).map(|i| format!("pending-{i}")).collect();
    for v in &pending {
        txn.send(BaseRecord::<(), str>::to(&topic).partition(0).payload(v.as_str())).map_err(|(e, _)| e)?;
    }
    txn.flush(Duration::from_secs(30))?;
    let (_, high) = watermarks(&env, &topic, 0)?;
    assert_eq!(high, 120, "the open transaction's records are in the log");

    // The first backup cuts at the last stable offset: the 100 committed records, and it ends.
    let config = format!("{}topics: {{include: [\"{topic}\"]}}\n", base_config(&env, &prefix, None)?);
    let first = run_ok(&env, "backup", &config, &[])?;
    assert_eq!(first["records"], 100, "{first}");
    let first_id = first["backupId"].as_str().unwrap_or_default().to_string();
    let group = format!("strimzi-backup-{first_id}");
    assert!(!groups(&env)?.contains(&group), "the backup left its consumer group {group} behind");

    // Decided: committed. The next backup reads the transaction (and its marker) and nothing twice.
    txn.commit_transaction(Duration::from_secs(30))?;
    let second = run_ok(&env, "backup", &config, &[])?;
    assert_eq!(second["records"], 20, "{second}");
    assert_eq!(second["parentId"].as_str(), Some(first_id.as_str()));

    // Restoring the second restore point gives all 120, in order, exactly once.
    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n",
        base_config(&env, &prefix, None)?
    );
    run_ok(&env, "restore", &restore, &[])?;
    let got = consume_all(&env, &target, 0)?;
    assert_eq!(got.len(), 120);
    assert_eq!(without_offsets(&got[..100]), without_offsets(&committed));
    let values: Vec<String> = got[100..]
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(values, pending);
    Ok(())
}
