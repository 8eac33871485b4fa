//! What a drill leaves behind, removed whatever happened: its scratch topics, and its restore's
//! resume state and lease at the location (a failed restore leaves its lease until it expires,
//! and a drill must not keep a restore point from retention longer than it runs).

use std::time::Duration;

use anyhow::Context;
use object_store::ObjectStoreExt;
use rdkafka::ClientConfig;
use rdkafka::admin::AdminOptions;
use rdkafka::error::RDKafkaErrorCode;

use crate::storage::Storage;

/// How long deleted topics may stay listed in the cluster's metadata.
const GONE_WITHIN: Duration = Duration::from_secs(60);

/// The topics among `names` the cluster lists.
pub async fn existing(client: &ClientConfig, names: &[String]) -> anyhow::Result<Vec<String>> {
    let cluster = crate::restore::topics::describe(client).await?;
    Ok(names.iter().filter(|n| cluster.topics.contains_key(n.as_str())).cloned().collect())
}

/// Deletes the topics (those already gone count as deleted) and waits until the cluster no
/// longer lists them.
pub async fn delete_topics(client: &ClientConfig, names: &[String]) -> anyhow::Result<()> {
    let present = existing(client, names).await?;
    if present.is_empty() {
        return Ok(());
    }
    let admin: crate::kafka::Admin = client
        .create_with_context(crate::kafka::DataPlaneContext)
        .context("creating the Kafka admin client")?;
    let refs: Vec<&str> = present.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut failed = Vec::new();
    for r in admin.delete_topics(&refs, &options).await.context("deleting the scratch topics")? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, e)) => failed.push(format!("{topic}: {e}")),
        }
    }
    anyhow::ensure!(failed.is_empty(), "deleting the scratch topics: {}", failed.join("; "));
    let deadline = tokio::time::Instant::now() + GONE_WITHIN;
    loop {
        let left = existing(client, &present).await?;
        if left.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the scratch topics {} are still listed {} s after their deletion",
            left.join(", "),
            GONE_WITHIN.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Removes the restore's resume state and lease (absent ones are fine).
pub async fn forget_restore(storage: &Storage, restore_id: &str) -> anyhow::Result<()> {
    for name in [storage.layout.restore_state(restore_id), storage.layout.restore_lease(restore_id)] {
        match storage.store.delete(&object_store::path::Path::from(name.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("deleting {name}"))),
        }
    }
    Ok(())
}
