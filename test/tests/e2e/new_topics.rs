//! A restore reads the high watermarks of topics it created a moment ago
//! (`restore::topics::high_watermarks`). The broker answers for such a topic in steps, and
//! librdkafka caches an answer that lacks a partition ("no leader yet", or "the topic has fewer
//! partitions") as permanent: it does not ask the broker again until the entry expires, minutes
//! later. A client kept across the attempts failed every one of them with `UnknownPartition`, and
//! the restore with it, before writing anything (a few times in ten on a loaded machine, when the
//! first answer came while the broker was still electing the new partitions' leaders).
//!
//! The leader election is too quick to be caught on purpose, so the test makes the broker give
//! the other answer librdkafka caches the same way: the topic first has one partition of the
//! three asked for, and gets the other two while high watermarks are being asked.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;

#[tokio::test]
async fn high_watermarks_of_partitions_that_appear_while_they_are_asked() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let topic = format!("e2e-late-{}", unique_suffix());
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", env.kafka_bootstrap());
    let admin: AdminClient<DefaultClientContext> = client.create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for created in
        admin.create_topics(&[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))], &options).await?
    {
        created.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }

    let asking = tokio::spawn({
        let (client, topic) = (client.clone(), topic.clone());
        async move { strimzi_backup_operator::restore::topics::high_watermarks(&client, &[(topic, 3)]).await }
    });
    // Long enough for several attempts to be answered without partitions 1 and 2.
    tokio::time::sleep(Duration::from_secs(3)).await;
    anyhow::ensure!(!asking.is_finished(), "high_watermarks returned before the partitions existed");
    for added in admin.create_partitions(&[NewPartitions::new(&topic, 3)], &options).await? {
        added.map_err(|(t, e)| anyhow::anyhow!("adding partitions to {t}: {e}"))?;
    }

    let found = asking.await??;
    let partitions = found.get(&topic).map(|p| p.iter().map(|(p, hw)| (*p, *hw)).collect::<Vec<_>>());
    assert_eq!(partitions, Some(vec![(0, 0), (1, 0), (2, 0)]), "every partition of the empty topic");
    admin.delete_topics(&[&topic], &AdminOptions::new()).await?;
    Ok(())
}
