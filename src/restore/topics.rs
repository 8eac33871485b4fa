//! The target topics: what exists, what the restore does with each (decided for all of them
//! before anything is written, with every problem reported together), creating missing topics
//! with their backed-up configs, and emptying topics under `existingTopicPolicy: overwrite`.
//!
//! Its room: Kafka's admin API, the API's restore settings and the shared
//! [`result`](super::result) types; not [`run`](super::run) or [`state`](super::state).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::result::TopicAction;
use crate::api::restore::{ExistingTopicPolicy, RestoreSettings, TopicCreation};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Restoring with the broker's own time would replace every original timestamp, so a topic
/// backed up with this setting is created with `CreateTime` and switched after the restore.
const TIMESTAMP_TYPE: &str = "message.timestamp.type";

/// Restored records keep their original timestamps, so the target's time-based retention would
/// delete old ones as soon as its next check runs — while the restore is still writing, or
/// minutes after it completed. Created topics therefore hold retention off (`-1`) during the
/// restore; [`finish`] sets it back, raised where restored records are already past it.
const RETENTION_MS: &str = "retention.ms";
const RETENTION_BYTES: &str = "retention.bytes";

pub use crate::api::restore::RetentionAdjustment;

/// A topic to restore, as it will be in the target cluster.
#[derive(Clone, Debug)]
pub struct TargetTopic {
    /// Name in the backup.
    pub source: String,
    /// Name in the target cluster.
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub configs: BTreeMap<String, String>,
    /// The partition count is asked for (`topicMapping[].partitions`, the field's path): an
    /// existing target topic must have exactly that many.
    pub partitions_field: Option<String>,
    /// The backup's partition count differs from [`Self::partitions`]: the records are placed
    /// by key ([`repartition`](super::repartition)), not one partition to one.
    pub repartitioned: bool,
}

impl TargetTopic {
    /// The replication factor the topic is created with: the backed-up one, capped at the
    /// target's broker count (a DR cluster is often smaller).
    pub fn replication_on(&self, cluster: &Cluster) -> i32 {
        self.replication_factor.clamp(1, cluster.brokers.max(1))
    }
}

/// What the target cluster has.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    /// Partition count of every topic.
    pub topics: HashMap<String, i32>,
    pub brokers: i32,
    /// A broker to read the cluster's default configs from.
    pub broker_id: Option<i32>,
}

fn admin(client: &ClientConfig) -> anyhow::Result<crate::kafka::Admin> {
    client.create_with_context(crate::kafka::DataPlaneContext).context("creating the Kafka admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(TIMEOUT)).operation_timeout(Some(TIMEOUT))
}

/// Reads the target cluster's topics and broker count.
pub async fn describe(client: &ClientConfig) -> anyhow::Result<Cluster> {
    let consumer: crate::kafka::Reader =
        client.create_with_context(crate::kafka::DataPlaneContext).context("creating the Kafka client")?;
    let metadata = tokio::task::spawn_blocking(move || {
        crate::kafka::metadata(&consumer, "reading the target cluster's metadata")
    })
    .await??;
    Ok(Cluster {
        topics: metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len() as i32))
            .collect(),
        brokers: metadata.brokers().len() as i32,
        broker_id: metadata.brokers().first().map(|b| b.id()),
    })
}

/// Decides what happens to every target topic, or says everything that stops the restore.
/// Topics already claimed by an earlier run of the same restore keep their action.
pub fn decide(
    targets: &[TargetTopic],
    cluster: &Cluster,
    settings: &RestoreSettings,
    claimed: &BTreeMap<String, TopicAction>,
) -> Result<BTreeMap<String, TopicAction>, Vec<String>> {
    let mut actions = BTreeMap::new();
    let mut problems = Vec::new();
    for t in targets {
        let existing = cluster.topics.get(&t.name).copied();
        if let (Some(have), Some(field)) = (existing, &t.partitions_field)
            && have != t.partitions
        {
            problems.push(format!(
                "{field}: target topic {} exists with {have} partitions, not {}: records are placed by key \
                 for {} partitions, so the topic must have exactly that many. Set {field} to {have}, change \
                 the topic's partition count (Kafka can only add partitions), or restore under another name",
                t.name, t.partitions, t.partitions
            ));
            continue;
        }
        if let Some(have) = existing
            && have < t.partitions
        {
            problems.push(format!(
                "target topic {} has {have} partitions but {} had {} in the backup: add partitions \
                 (KafkaTopic spec.partitions or kafka-topics.sh --alter --partitions {}) or restore under \
                 another name with spec.topicMapping",
                t.name, t.source, t.partitions, t.partitions
            ));
            continue;
        }
        let action = match (claimed.get(&t.name), existing) {
            (Some(action), _) => *action,
            (None, None) if settings.topic_creation != TopicCreation::Manual => TopicAction::Create,
            (None, None) => {
                problems.push(format!(
                    "target topic {} does not exist and spec.restore.topicCreation is manual: create it \
                     (e.g. a Strimzi KafkaTopic with {} partitions) or set topicCreation to auto",
                    t.name, t.partitions
                ));
                continue;
            }
            (None, Some(_)) => match settings.existing_topic_policy {
                ExistingTopicPolicy::Fail => {
                    problems.push(format!(
                        "target topic {} already exists and spec.restore.existingTopicPolicy is fail: delete \
                         it, restore under another name with spec.topicMapping, or set existingTopicPolicy \
                         to append or overwrite",
                        t.name
                    ));
                    continue;
                }
                ExistingTopicPolicy::Append => TopicAction::Append,
                ExistingTopicPolicy::Overwrite => TopicAction::Overwrite,
            },
        };
        actions.insert(t.name.clone(), action);
    }
    if problems.is_empty() { Ok(actions) } else { Err(problems) }
}

/// The configs a topic is created with: the backed-up ones, with the replication settings fitted
/// to the target cluster and the timestamp type held at `CreateTime` until [`finish`].
fn creation_configs(t: &TargetTopic, replication_factor: i32) -> BTreeMap<String, String> {
    let mut configs = t.configs.clone();
    configs.remove(TIMESTAMP_TYPE);
    if let Some(min_isr) = configs.get_mut("min.insync.replicas")
        && min_isr.parse::<i32>().is_ok_and(|n| n > replication_factor)
    {
        *min_isr = replication_factor.to_string();
    }
    configs
}

/// The dynamic configs a created topic has once the restore is done — all of them, since
/// [`finish`] sets them with AlterConfigs, which replaces the whole set: the backed-up ones fitted
/// to the cluster, and `retention.ms` as raised when it was (`raised_ms`). What a
/// `topicCreation: strimzi` restore declares in the topic's `KafkaTopic`.
pub fn final_configs(t: &TargetTopic, cluster: &Cluster, raised_ms: Option<i64>) -> BTreeMap<String, String> {
    let mut configs = creation_configs(t, t.replication_on(cluster));
    configs.extend(t.configs.get(TIMESTAMP_TYPE).map(|v| (TIMESTAMP_TYPE.to_string(), v.clone())));
    if let Some(ms) = raised_ms {
        configs.insert(RETENTION_MS.into(), ms.to_string());
    }
    configs
}

/// Creates the topics to create and empties those to overwrite.
pub async fn prepare(
    client: &ClientConfig,
    targets: &[TargetTopic],
    actions: &BTreeMap<String, TopicAction>,
    cluster: &Cluster,
) -> anyhow::Result<()> {
    let admin = admin(client)?;
    for t in targets {
        match actions.get(&t.name) {
            Some(TopicAction::Create) => {
                let rf = t.replication_on(cluster);
                let mut configs = creation_configs(t, rf);
                configs.insert(RETENTION_MS.into(), "-1".into());
                configs.insert(RETENTION_BYTES.into(), "-1".into());
                let mut new = NewTopic::new(&t.name, t.partitions, TopicReplication::Fixed(rf));
                for (k, v) in &configs {
                    new = new.set(k, v);
                }
                for result in admin.create_topics([&new], &options()).await? {
                    match result {
                        Ok(_) => {
                            tracing::info!(topic = %t.name, partitions = t.partitions, replication_factor = rf, "created topic")
                        }
                        // Created by an earlier run of this restore.
                        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((name, code)) => anyhow::bail!(
                            "creating topic {name} ({} partitions, replication factor {rf}, configs {configs:?}): {code}",
                            t.partitions
                        ),
                    }
                }
            }
            Some(TopicAction::Overwrite) => {
                let mut tpl = TopicPartitionList::new();
                for p in 0..t.partitions {
                    tpl.add_partition_offset(&t.name, p, Offset::End)?;
                }
                let deleted = admin.delete_records(&tpl, &options()).await;
                let failed = deleted
                    .as_ref()
                    .map(|list| list.elements().iter().find_map(|e| e.error().err()))
                    .map_err(|e| e.clone());
                match failed {
                    Ok(None) => tracing::info!(topic = %t.name, "deleted the records of the existing topic"),
                    Ok(Some(e)) | Err(e)
                        if e.rdkafka_error_code() == Some(RDKafkaErrorCode::PolicyViolation) =>
                    {
                        anyhow::bail!(
                            "cannot overwrite topic {}: Kafka refuses to delete records of a topic with \
                             cleanup.policy=compact; delete the topic (with topicCreation auto it is \
                             recreated) or restore under another name with spec.topicMapping",
                            t.name
                        )
                    }
                    Ok(Some(e)) | Err(e) => {
                        anyhow::bail!(
                            "deleting the records of topic {} (existingTopicPolicy overwrite): {e}",
                            t.name
                        )
                    }
                }
            }
            Some(TopicAction::Append) | None => {}
        }
    }
    Ok(())
}

/// Gives created topics the configs held back during the restore: the timestamp type, and their
/// retention — raised where restored records are already older than it (`oldest`: the oldest
/// restored timestamp per target topic, `now_ms`: the end of the restore), so that the oldest is
/// kept for a whole retention period from now instead of being deleted at the broker's next check.
/// Returns those raised.
pub async fn finish(
    client: &ClientConfig,
    targets: &[TargetTopic],
    actions: &BTreeMap<String, TopicAction>,
    cluster: &Cluster,
    oldest: &BTreeMap<String, i64>,
    now_ms: i64,
) -> anyhow::Result<Vec<RetentionAdjustment>> {
    let admin = admin(client)?;
    let mut default_retention = None;
    let mut adjusted = Vec::new();
    for t in targets {
        if actions.get(&t.name) != Some(&TopicAction::Create) {
            continue;
        }
        let retention_ms = match t.configs.get(RETENTION_MS).and_then(|v| v.parse::<i64>().ok()) {
            Some(ms) => ms,
            None => match default_retention {
                Some(ms) => ms,
                None => {
                    let ms = broker_retention_ms(&admin, cluster).await?;
                    default_retention = Some(ms);
                    ms
                }
            },
        };
        let mut raised = None;
        if let Some(oldest) = oldest.get(&t.name)
            && retention_ms >= 0
            && now_ms - oldest > retention_ms
        {
            let applied_ms = (now_ms - oldest).saturating_add(retention_ms);
            tracing::warn!(topic = %t.name, retention_ms, applied_ms,
                "restored records are older than the topic's retention: retention.ms raised so they are kept");
            raised = Some(applied_ms);
            adjusted.push(RetentionAdjustment { topic: t.name.clone(), retention_ms, applied_ms });
        }
        // AlterConfigs replaces a topic's whole dynamic config, so the full set goes again.
        let configs = final_configs(t, cluster, raised);
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(&t.name));
        for (k, v) in &configs {
            alter = alter.set(k, v);
        }
        let altered = admin
            .alter_configs([&alter], &options())
            .await
            .with_context(|| format!("setting the configs of topic {}", t.name))?;
        for result in altered {
            result.map_err(|(_, code)| anyhow::anyhow!("setting the configs of topic {}: {code}", t.name))?;
        }
    }
    Ok(adjusted)
}

/// What Kafka adds around one record in a batch: the batch header (61 bytes) and the record's
/// own framing (attributes, length and delta varints), with room to spare.
const BATCH_OVERHEAD: u64 = 100;

/// The largest record a restore sends to one target partition, and the segment holding it.
#[derive(Clone, Debug)]
pub struct Largest {
    pub bytes: u64,
    pub object: String,
}

/// Records the target would refuse for their size, found before anything is written: one line
/// per partition with the record's size (key, value and headers, uncompressed), the segment
/// holding it and the topic's limit (`max.message.bytes`: a created topic's backed-up value, else
/// the brokers' `message.max.bytes`; an existing topic's own).
pub async fn oversized(
    client: &ClientConfig,
    targets: &[TargetTopic],
    actions: &BTreeMap<String, TopicAction>,
    cluster: &Cluster,
    largest: &BTreeMap<(String, i32), Largest>,
) -> anyhow::Result<Vec<String>> {
    if largest.is_empty() {
        return Ok(Vec::new());
    }
    let admin = admin(client)?;
    let existing = topic_configs(&admin, targets.iter().filter(|t| !created(actions, t))).await?;
    let mut broker_limit = None;
    let mut problems = Vec::new();
    for t in targets {
        let limit = match (actions.get(&t.name), t.configs.get(MAX_MESSAGE_BYTES)) {
            (Some(TopicAction::Create), Some(v)) => v.parse::<i64>().ok(),
            (Some(TopicAction::Create), None) => {
                if broker_limit.is_none() {
                    broker_limit = Some(broker_config(&admin, cluster, "message.max.bytes").await?);
                }
                broker_limit.flatten()
            }
            _ => existing.get(&t.name).and_then(|c| c.get(MAX_MESSAGE_BYTES)).and_then(|v| v.parse().ok()),
        };
        let Some(limit) = limit.and_then(|l| u64::try_from(l).ok()) else { continue };
        for ((topic, partition), l) in largest.range((t.name.clone(), i32::MIN)..=(t.name.clone(), i32::MAX))
        {
            debug_assert_eq!(topic, &t.name);
            if l.bytes + BATCH_OVERHEAD > limit {
                problems.push(format!(
                    "{topic}/{partition}: a record of {} bytes (in {}) is larger than the topic accepts \
                     (max.message.bytes {limit}): raise max.message.bytes of {topic}{}",
                    l.bytes,
                    l.object,
                    if actions.get(&t.name) == Some(&TopicAction::Create) {
                        " (or the brokers' message.max.bytes)"
                    } else {
                        ", or restore under another name"
                    }
                ));
            }
        }
    }
    Ok(problems)
}

const MAX_MESSAGE_BYTES: &str = "max.message.bytes";

/// One config of a topic (as the broker applies it) or of a broker (its default for topics).
async fn config_value(
    admin: &crate::kafka::Admin,
    resource: ResourceSpecifier<'_>,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let what = format!("{resource:?}");
    let described = admin
        .describe_configs(&[resource], &options())
        .await
        .with_context(|| format!("describing the configs of {what}"))?;
    let resource = described
        .into_iter()
        .next()
        .with_context(|| format!("no answer describing the configs of {what}"))?
        .map_err(|e| anyhow::anyhow!("describing the configs of {what}: {e}"))?;
    Ok(resource.entries.into_iter().find(|e| e.name == name).and_then(|e| e.value))
}

/// The target topics whose `cleanup.policy` includes `compact`: a created topic by its backed-up
/// configs, an existing one by its own. Their cleaner may remove restored records whose key a
/// later restored record has, which a resumed restore must tolerate when it reads them back.
pub async fn compacted(
    client: &ClientConfig,
    targets: &[TargetTopic],
    actions: &BTreeMap<String, TopicAction>,
) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let is_compact = |policy: &str| policy.split(',').any(|p| p.trim() == "compact");
    let admin = admin(client)?;
    let existing = topic_configs(&admin, targets.iter().filter(|t| !created(actions, t))).await?;
    let mut out = std::collections::BTreeSet::new();
    for t in targets {
        let policy = match actions.get(&t.name) {
            Some(TopicAction::Create) => t.configs.get("cleanup.policy").cloned(),
            _ => existing.get(&t.name).and_then(|c| c.get("cleanup.policy")).cloned(),
        };
        if policy.as_deref().is_some_and(is_compact) {
            out.insert(t.name.clone());
        }
    }
    Ok(out)
}

/// Whether the restore creates `t` (its configs are then the backed-up ones, not the broker's).
fn created(actions: &BTreeMap<String, TopicAction>, t: &TargetTopic) -> bool {
    actions.get(&t.name) == Some(&TopicAction::Create)
}

/// The configs of existing target topics as the brokers apply them, by topic, in one
/// DescribeConfigs request for all of them (before: one request per topic, in turn). A topic the
/// broker cannot describe fails it, named as a single topic's request named it.
async fn topic_configs<'a>(
    admin: &crate::kafka::Admin,
    targets: impl Iterator<Item = &'a TargetTopic>,
) -> anyhow::Result<HashMap<String, BTreeMap<String, String>>> {
    let names: Vec<&str> = targets.map(|t| t.name.as_str()).collect();
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let specs: Vec<ResourceSpecifier> = names.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let described =
        admin.describe_configs(&specs, &options()).await.with_context(|| match specs.as_slice() {
            [one] => format!("describing the configs of {one:?}"),
            _ => format!("describing the configs of {} topics", specs.len()),
        })?;
    anyhow::ensure!(
        described.len() == specs.len(),
        "describing the configs of {} topics: {} answered",
        specs.len(),
        described.len()
    );
    let mut out = HashMap::new();
    // librdkafka answers in the order asked.
    for ((name, spec), result) in names.iter().zip(&specs).zip(described) {
        let resource = result.map_err(|e| anyhow::anyhow!("describing the configs of {spec:?}: {e}"))?;
        let values = resource.entries.into_iter().filter_map(|e| e.value.map(|v| (e.name, v))).collect();
        out.insert(name.to_string(), values);
    }
    Ok(out)
}

async fn broker_config(
    admin: &crate::kafka::Admin,
    cluster: &Cluster,
    name: &str,
) -> anyhow::Result<Option<i64>> {
    let Some(noted) = cluster.broker_id else { return Ok(None) };
    // Every broker answers for the cluster's defaults, and a broker config is asked of that very
    // broker: the one noted when the restore started may be down by the end of it (a rolling
    // restart, a failed node), so the brokers listed now are asked in turn, that one last.
    let listed = tokio::task::block_in_place(|| {
        admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .map(|m| m.brokers().iter().map(|b| b.id()).filter(|id| *id != noted).collect::<Vec<_>>())
    })
    .unwrap_or_default();
    let mut failed = None;
    for id in listed.into_iter().chain([noted]) {
        match config_value(admin, ResourceSpecifier::Broker(id), name).await {
            Ok(value) => return Ok(value.and_then(|v| v.parse().ok())),
            Err(e) => {
                tracing::warn!(broker = id, config = name, error = %format!("{e:#}"), "broker did not answer; asking another");
                failed = Some(e);
            }
        }
    }
    Err(failed.unwrap_or_else(|| anyhow::anyhow!("no broker to read {name} from")))
}

/// The brokers' default `retention.ms`: `log.retention.ms`, else `.minutes`, else `.hours`
/// (Kafka's own precedence); `-1` is unlimited.
async fn broker_retention_ms(admin: &crate::kafka::Admin, cluster: &Cluster) -> anyhow::Result<i64> {
    anyhow::ensure!(cluster.broker_id.is_some(), "the target cluster lists no broker");
    let value = |name: &'static str| broker_config(admin, cluster, name);
    Ok(match value("log.retention.ms").await? {
        Some(ms) => ms,
        None => match value("log.retention.minutes").await? {
            Some(m) => m.saturating_mul(60_000),
            None => {
                value("log.retention.hours").await?.map_or(168 * 3_600_000, |h| h.saturating_mul(3_600_000))
            }
        },
    })
}

/// High watermarks of every partition of `topics` (`(name, partition count)`), by topic. A topic
/// created a moment ago may not have a leader for every partition yet: the broker brings them up
/// one after another (about 11 s for 1,000 on the bench's broker), so the query is repeated
/// every half second for up to 60 s plus 30 ms per partition, then asked per partition to name
/// the one that failed. All partitions go in one round of ListOffsets requests per attempt
/// ([`crate::watermarks`]); before, each was asked and waited for in turn.
///
/// Every attempt uses a new client. librdkafka caches what a metadata answer said and treats
/// "this partition has no leader", "the topic has fewer partitions" and "no such topic" as
/// permanent: it does not ask the broker again until the cache entry expires (minutes), so a
/// client that asked while the broker was still electing the new topic's leaders failed every
/// later attempt with `UnknownPartition`, whatever the wait (a restore failed so before writing
/// anything, a few times in ten on a loaded machine). A new client asks the broker afresh.
pub async fn high_watermarks(
    client: &ClientConfig,
    topics: &[(String, i32)],
) -> anyhow::Result<BTreeMap<String, BTreeMap<i32, i64>>> {
    let fresh = || -> anyhow::Result<Arc<crate::kafka::Reader>> {
        Ok(Arc::new(
            client
                .create_with_context::<_, crate::kafka::Reader>(crate::kafka::DataPlaneContext)
                .context("creating the Kafka client")?,
        ))
    };
    let keys = Arc::new(crate::watermarks::keys(topics.iter().map(|(name, count)| (name.as_str(), *count))));
    let deadline = std::time::Instant::now() + wait_for_leaders(keys.len());
    let found = loop {
        let (c, k) = (fresh()?, keys.clone());
        match tokio::task::spawn_blocking(move || crate::watermarks::batched(&c, &k, TIMEOUT)).await? {
            Ok(found) => break found,
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::debug!(partitions = keys.len(), error = %format!("{e:#}"), "high watermarks not available yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(_) => {
                let (c, k) = (fresh()?, keys.clone());
                break tokio::task::spawn_blocking(move || {
                    crate::watermarks::watermarks(&c, &k, TIMEOUT, |t, p| {
                        format!("reading the high watermark of {t}/{p}")
                    })
                })
                .await??;
            }
        }
    };
    let mut out: BTreeMap<String, BTreeMap<i32, i64>> =
        topics.iter().map(|(name, _)| (name.clone(), BTreeMap::new())).collect();
    for ((topic, partition), (_, high)) in found {
        out.entry(topic).or_default().insert(partition, high);
    }
    Ok(out)
}

/// How long [`high_watermarks`] waits for the partitions of new topics to get leaders. A broker
/// under load (seen with several restores and a producer at full rate on two cores) took more
/// than 30 s to answer for topics just created, and the restore failed before writing anything.
fn wait_for_leaders(partitions: usize) -> Duration {
    Duration::from_secs(60)
        + Duration::from_millis(30).saturating_mul(u32::try_from(partitions).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, partitions: i32) -> TargetTopic {
        TargetTopic {
            source: name.into(),
            name: name.into(),
            partitions,
            replication_factor: 3,
            configs: BTreeMap::new(),
            partitions_field: None,
            repartitioned: false,
        }
    }

    #[test]
    fn an_existing_topic_must_have_the_partition_count_asked_for() {
        let asked = TargetTopic {
            partitions_field: Some("spec.topicMapping[0].partitions".into()),
            repartitioned: true,
            ..target("orders", 5)
        };
        let settings =
            RestoreSettings { existing_topic_policy: ExistingTopicPolicy::Overwrite, ..Default::default() };
        let problems =
            decide(std::slice::from_ref(&asked), &cluster(&[("orders", 8)]), &settings, &BTreeMap::new())
                .expect_err("8 partitions, not 5");
        assert!(
            problems[0].starts_with("spec.topicMapping[0].partitions: target topic orders exists with 8"),
            "{problems:?}"
        );
        let actions =
            decide(std::slice::from_ref(&asked), &cluster(&[("orders", 5)]), &settings, &BTreeMap::new());
        assert_eq!(actions.ok().and_then(|a| a.get("orders").copied()), Some(TopicAction::Overwrite));
        let actions = decide(&[asked], &cluster(&[]), &settings, &BTreeMap::new());
        assert_eq!(actions.ok().and_then(|a| a.get("orders").copied()), Some(TopicAction::Create));
        // Not asked for: a larger existing topic is restored into as before.
        let actions = decide(&[target("orders", 5)], &cluster(&[("orders", 8)]), &settings, &BTreeMap::new());
        assert!(actions.is_ok());
    }

    fn cluster(topics: &[(&str, i32)]) -> Cluster {
        Cluster {
            topics: topics.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
            brokers: 1,
            broker_id: Some(1),
        }
    }

    #[test]
    fn every_problem_is_reported_together() {
        let targets = [target("a", 3), target("b", 6), target("c", 1)];
        let settings = RestoreSettings { topic_creation: TopicCreation::Manual, ..Default::default() };
        let problems = decide(&targets, &cluster(&[("a", 3), ("b", 4)]), &settings, &BTreeMap::new())
            .expect_err("three problems");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].contains("target topic a already exists")
                && problems[0].contains("existingTopicPolicy")
        );
        assert!(problems[1].contains("b has 4 partitions but b had 6"));
        assert!(problems[2].contains("c does not exist") && problems[2].contains("topicCreation"));
    }

    #[test]
    fn policies_and_claims() {
        let targets = [target("a", 3), target("new", 2)];
        let overwrite =
            RestoreSettings { existing_topic_policy: ExistingTopicPolicy::Overwrite, ..Default::default() };
        let actions = decide(&targets, &cluster(&[("a", 5)]), &overwrite, &BTreeMap::new()).expect("ok");
        assert_eq!(actions["a"], TopicAction::Overwrite);
        assert_eq!(actions["new"], TopicAction::Create);
        // A rerun finds the topic it created: still its own, not "already exists".
        let claimed = BTreeMap::from([("new".to_string(), TopicAction::Create)]);
        let actions =
            decide(&[target("new", 2)], &cluster(&[("new", 2)]), &RestoreSettings::default(), &claimed)
                .expect("ok");
        assert_eq!(actions["new"], TopicAction::Create);
    }

    #[test]
    fn creation_fits_the_cluster_and_defers_log_append_time() {
        let mut t = target("a", 1);
        t.configs = BTreeMap::from([
            ("min.insync.replicas".to_string(), "2".to_string()),
            (TIMESTAMP_TYPE.to_string(), "LogAppendTime".to_string()),
            ("cleanup.policy".to_string(), "compact".to_string()),
        ]);
        let c = creation_configs(&t, 1);
        assert_eq!(c.get("min.insync.replicas").map(String::as_str), Some("1"));
        assert!(!c.contains_key(TIMESTAMP_TYPE));
        assert_eq!(c.get("cleanup.policy").map(String::as_str), Some("compact"));
    }
}
