//! Consumer-group offsets as the data plane reads and writes them: listing groups, reading
//! committed offsets, refusing groups that have live members, and committing new offsets.
//!
//! Offsets are committed by a client that never joins the group (generation -1), which Kafka
//! accepts only while the group has no members — so a restore or reset can never move offsets
//! under a running consumer, and checking for members first turns that refusal into a clear
//! reason instead of an error.

use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::format::manifest::{CommittedOffset, GroupEntry};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A client bound to `group` that never joins it and never commits on its own.
fn group_client(client: &ClientConfig, group: &str) -> anyhow::Result<crate::kafka::Reader> {
    let mut config = client.clone();
    config.set("group.id", group).set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
    config
        .create_with_context(crate::kafka::DataPlaneContext)
        .with_context(|| format!("creating a client for consumer group {group}"))
}

/// Runs a group request (blocking), again while the group coordinator is still loading or moving:
/// a broker that just started answers `COORDINATOR_LOAD_IN_PROGRESS` until it has read
/// `__consumer_offsets`, which is a wait, not an error. Up to 60 s.
fn while_coordinator_loads<T>(request: impl FnMut() -> KafkaResult<T>) -> KafkaResult<T> {
    use rdkafka::types::RDKafkaErrorCode as C;
    retry_while(request, |e: &rdkafka::error::KafkaError| {
        matches!(
            e.rdkafka_error_code(),
            Some(C::CoordinatorLoadInProgress | C::CoordinatorNotAvailable | C::NotCoordinator)
        )
    })
}

/// Runs `request` (blocking) again while its error is one `waiting` says to wait out, 0.2 s
/// doubling to 2 s between attempts, for up to 60 s: the one retry of every group request
/// whose coordinator loads or moves.
fn retry_while<T, E: std::fmt::Display>(
    mut request: impl FnMut() -> Result<T, E>,
    waiting: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut pause = Duration::from_millis(200);
    loop {
        match request() {
            Err(e) if waiting(&e) && std::time::Instant::now() < deadline => {
                tracing::info!(error = %e, "group coordinator not ready yet; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// Names of all consumer groups of the cluster.
pub async fn list(client: &ClientConfig) -> anyhow::Result<Vec<String>> {
    let consumer: crate::kafka::Reader =
        client.create_with_context(crate::kafka::DataPlaneContext).context("creating the Kafka client")?;
    let mut names: Vec<String> = tokio::task::spawn_blocking(move || {
        while_coordinator_loads(|| consumer.fetch_group_list(None, TIMEOUT))
            .map(|l| l.groups().iter().map(|g| g.name().to_string()).collect::<Vec<_>>())
    })
    .await?
    .context("listing consumer groups")?;
    names.sort();
    Ok(names)
}

/// The offsets `group` has committed on the given partitions (partitions without one are left
/// out).
pub async fn committed(
    client: &ClientConfig,
    group: &str,
    partitions: &[(String, i32)],
) -> anyhow::Result<Vec<CommittedOffset>> {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in partitions {
        tpl.add_partition(topic, *partition);
    }
    let reader = group_client(client, group)?;
    let committed = tokio::task::spawn_blocking(move || {
        while_coordinator_loads(|| reader.committed_offsets(tpl.clone(), TIMEOUT))
    })
    .await?
    .with_context(|| format!("reading the committed offsets of group {group}"))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some(CommittedOffset {
                topic: e.topic().to_string(),
                partition: e.partition(),
                offset,
                metadata: Some(e.metadata().to_string()).filter(|m| !m.is_empty()),
            }),
            _ => None,
        })
        .collect())
}

/// Offset requests in flight at once in [`committed_of`].
const OFFSETS_IN_FLIGHT: usize = 16;

/// The offsets each of `groups` committed on `partitions`, as a manifest records them: in the
/// order of `groups`, partitions without an offset left out, groups without any left out. One
/// admin client asks each group's coordinator, up to
/// [`OFFSETS_IN_FLIGHT`] groups at a time: clusters have hundreds of groups, and librdkafka
/// reads one group per request ([`crate::kafka::group_offsets`]). Asked again while a
/// coordinator loads or moves, as [`committed`] does.
pub async fn committed_of(
    client: &ClientConfig,
    groups: Vec<String>,
    partitions: &[(String, i32)],
) -> anyhow::Result<Vec<GroupEntry>> {
    use futures::{StreamExt, TryStreamExt};
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let admin: std::sync::Arc<crate::kafka::Admin> = std::sync::Arc::new(
        client
            .clone()
            .set("socket.timeout.ms", SOCKET_TIMEOUT)
            .create_with_context(crate::kafka::DataPlaneContext)
            .context("creating the Kafka client")?,
    );
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in partitions {
        tpl.add_partition(topic, *partition);
    }
    let tpl = std::sync::Arc::new(tpl);
    futures::stream::iter(groups)
        .map(|group| {
            let (admin, tpl) = (admin.clone(), tpl.clone());
            async move {
                let name = group.clone();
                let offsets = tokio::task::spawn_blocking(move || {
                    retry_while(
                        || crate::kafka::group_offsets::committed(&admin, &name, &tpl, TIMEOUT),
                        |e| e.retriable,
                    )
                })
                .await??;
                let offsets = offsets
                    .into_iter()
                    .map(|c| CommittedOffset {
                        topic: c.topic,
                        partition: c.partition,
                        offset: c.offset,
                        metadata: Some(c.metadata).filter(|m| !m.is_empty()),
                    })
                    .collect();
                anyhow::Ok(GroupEntry { group, offsets })
            }
        })
        .buffered(OFFSETS_IN_FLIGHT)
        .try_filter(|g| std::future::ready(!g.offsets.is_empty()))
        .try_collect()
        .await
}

/// How long [`busy`] waits for the group's coordinator to answer. A broker that hangs is fenced
/// by the controller within its session timeout (9 s by default in KRaft) and another broker
/// takes its groups over; librdkafka looks the coordinator up again by itself meanwhile.
///
/// This is one long request on purpose, not short ones retried: librdkafka aborts the process
/// when a coordinator admin request times out while its coordinator lookup is still in flight
/// (librdkafka issues #4605, #3663). So the request's timeout is kept far beyond what a
/// coordinator move takes, and each single exchange with a silent broker is cut short by
/// [`SOCKET_TIMEOUT`] instead, which librdkafka retries itself.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one request may go unanswered before librdkafka gives up on that broker's
/// connection (its default is 60 s).
const SOCKET_TIMEOUT: &str = "10000";

/// Why offsets of `group` must not be changed now, if they must not: it has live members.
/// Only the group's coordinator is asked (see [`crate::kafka::group_describe`]), again while it
/// moves or does not answer.
pub async fn busy(client: &ClientConfig, group: &str) -> anyhow::Result<Option<String>> {
    let admin: crate::kafka::Admin = client
        .clone()
        .set("socket.timeout.ms", SOCKET_TIMEOUT)
        .create_with_context(crate::kafka::DataPlaneContext)
        .context("creating the Kafka client")?;
    let name = group.to_string();
    let described = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + DESCRIBE_TIMEOUT;
        let mut pause = Duration::from_millis(200);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match crate::kafka::group_describe::consumer_group(&admin, &name, left) {
                // An answer that the coordinator is loading or elsewhere: ask again.
                Err(e) if e.retriable && left > Duration::from_secs(1) => {
                    tracing::info!(error = %e, group = %name, "group coordinator not answering yet; asking again");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    })
    .await?
    .with_context(|| format!("describing consumer group {group}"))?;
    Ok((described.members > 0).then(|| {
        format!(
            "group {group} has {} active member(s) (state {}): stop its consumers, then run again",
            described.members, described.state
        )
    }))
}

/// Commits `offsets` for `group` in one request.
pub async fn commit(client: &ClientConfig, group: &str, offsets: &[CommittedOffset]) -> anyhow::Result<()> {
    let mut tpl = TopicPartitionList::new();
    for o in offsets {
        let mut e = tpl.add_partition(&o.topic, o.partition);
        e.set_offset(Offset::Offset(o.offset))?;
        if let Some(m) = &o.metadata {
            e.set_metadata(m.as_str());
        }
    }
    let writer = group_client(client, group)?;
    tokio::task::spawn_blocking(move || while_coordinator_loads(|| writer.commit(&tpl, CommitMode::Sync)))
        .await?
        .with_context(|| format!("committing the offsets of group {group}"))
}
