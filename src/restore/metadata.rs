//! The backup's cluster metadata in a restore (`restore.metadata: {acls, quotas}`): read and
//! checked against its manifest before anything is written — a part asked for that the backup
//! does not hold refuses the restore then — and written into the target after the records and
//! consumer groups.
//!
//! ACLs: a `LITERAL` `TOPIC` binding whose resource is a topic of `topicMapping` names the target
//! topic; every other binding is created as it was. A `PREFIXED` topic binding is never rewritten
//! (its prefix may cover mapped and unmapped topics alike, and a mapping does not say what the
//! new prefix would be): the result lists those whose prefix matches a mapped topic, to be looked
//! at. SCRAM users are never restored — the backup has no credentials — and the result says so.

use std::time::Duration;

use anyhow::Context;

use super::RestoreConfig;
use super::result::MetadataOutcome;
use crate::format::manifest::Manifest;
use crate::format::metadata::{AclEntry, ClusterMetadata};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Reads the backup's cluster metadata, when it has some or the restore asks for it; fails when
/// a part asked for is not in the backup, naming why.
pub async fn load(
    cfg: &RestoreConfig,
    storage: &crate::storage::Storage,
    last: &Manifest,
) -> anyhow::Result<Option<ClusterMetadata>> {
    let asked = cfg.restore.metadata;
    let Some(reference) = &last.cluster_metadata else {
        anyhow::ensure!(
            asked.is_none(),
            "restore.metadata: backup {} holds no cluster metadata (backup.clusterMetadata was off, or it \
             was written before backups captured it): nothing was written",
            last.backup_id
        );
        return Ok(None);
    };
    let bytes = storage.read_whole(&reference.object).await?;
    let metadata = ClusterMetadata::from_object(&bytes, reference)?;
    let missing = |what: &str| {
        let why = metadata
            .not_captured
            .iter()
            .find(|n| n.what == what)
            .map_or_else(|| "not recorded".to_string(), |n| n.reason.clone());
        format!(
            "restore.metadata.{what}: backup {} did not capture the source's {what} ({why}): nothing was written",
            last.backup_id
        )
    };
    anyhow::ensure!(!asked.acls || metadata.acls.is_some(), "{}", missing("acls"));
    anyhow::ensure!(!asked.quotas || metadata.quotas.is_some(), "{}", missing("quotas"));
    if asked.quotas
        && let Some(why) = crate::kafka::quota::unsupported(&cfg.kafka)
    {
        anyhow::bail!("restore.metadata.quotas: {why}: nothing was written");
    }
    Ok(Some(metadata))
}

/// The ACLs to create in the target: literal topic bindings of mapped topics renamed. Returns
/// them, how many were renamed, and notes for the result.
pub fn mapped_acls(cfg: &RestoreConfig, acls: &[AclEntry]) -> (Vec<AclEntry>, u32, Vec<String>) {
    let mut out = Vec::with_capacity(acls.len());
    let (mut renamed, mut notes) = (0u32, Vec::new());
    for a in acls {
        if a.resource_name.is_empty()
            || a.resource_type.starts_with("UNKNOWN")
            || a.pattern_type.starts_with("UNKNOWN")
        {
            notes.push(format!("ACL {a}: a resource this build cannot create; not restored"));
            continue;
        }
        let mut a = a.clone();
        if a.resource_type == "TOPIC" {
            if a.pattern_type == "LITERAL" {
                let target = cfg.target_topic(&a.resource_name).to_string();
                if target != a.resource_name {
                    a.resource_name = target;
                    renamed += 1;
                }
            } else if a.pattern_type == "PREFIXED" {
                let covered: Vec<&str> = cfg
                    .topic_mapping
                    .iter()
                    .filter(|m| m.source_topic.starts_with(&a.resource_name))
                    .map(|m| m.source_topic.as_str())
                    .collect();
                if !covered.is_empty() {
                    notes.push(format!(
                        "ACL {a}: its prefix matches the mapped topic(s) {}; created unchanged (grant the \
                         target topics yourself if they need it)",
                        covered.join(", ")
                    ));
                }
            }
        }
        out.push(a);
    }
    out.sort();
    out.dedup();
    (out, renamed, notes)
}

/// Writes what `restore.metadata` asks into the target (nothing in a dry run) and reports it.
pub async fn apply(
    cfg: &RestoreConfig,
    client: &rdkafka::ClientConfig,
    metadata: ClusterMetadata,
    dry_run: bool,
) -> anyhow::Result<MetadataOutcome> {
    let asked = cfg.restore.metadata;
    let mut outcome = MetadataOutcome::default();
    let scram = metadata.scram_users.as_ref().map_or(0, Vec::len);
    if scram > 0 {
        outcome.scram_users_not_restored = u32::try_from(scram).unwrap_or(u32::MAX);
        outcome.notes.push(format!(
            "{scram} SCRAM user(s) in the backup are not restored: Kafka never reveals SCRAM credentials, so \
             the backup holds only their mechanisms; create the users and their passwords again"
        ));
    }
    if asked.acls
        && let Some(acls) = &metadata.acls
    {
        let (acls, renamed, notes) = mapped_acls(cfg, acls);
        outcome.notes.extend(notes);
        if !dry_run {
            let admin: crate::kafka::Admin = client
                .create_with_context(crate::kafka::DataPlaneContext)
                .context("creating the Kafka admin client")?;
            let to_create = acls.clone();
            tokio::task::spawn_blocking(move || crate::kafka::acl::create(&admin, &to_create, TIMEOUT))
                .await?
                .map_err(|e| anyhow::anyhow!("restoring the ACLs: {}", e.message))?;
            tracing::info!(acls = acls.len(), renamed, "restored the ACLs");
        }
        outcome.acls_restored = Some(u32::try_from(acls.len()).unwrap_or(u32::MAX));
        outcome.acls_renamed = renamed;
    }
    if asked.quotas
        && let Some(quotas) = metadata.quotas
    {
        let n = u32::try_from(quotas.len()).unwrap_or(u32::MAX);
        if !dry_run {
            let conn = cfg.kafka.clone();
            tokio::task::spawn_blocking(move || crate::kafka::quota::alter(&conn, &quotas, TIMEOUT))
                .await?
                .map_err(|e| anyhow::anyhow!("restoring the client quotas: {}", e.message))?;
            tracing::info!(quotas = n, "restored the client quotas");
        }
        outcome.quotas_restored = Some(n);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::restore::TopicMapping;

    fn acl(kind: &str, name: &str, pattern: &str) -> AclEntry {
        AclEntry {
            resource_type: kind.into(),
            resource_name: name.into(),
            pattern_type: pattern.into(),
            principal: "User:alice".into(),
            host: "*".into(),
            operation: "READ".into(),
            permission_type: "ALLOW".into(),
        }
    }

    #[test]
    fn literal_topic_acls_follow_the_mapping_and_prefixed_ones_are_kept_and_named() {
        let cfg: RestoreConfig = serde_json::from_value(serde_json::json!({
            "kafka": {"bootstrapServers": "k:9092"}, "storage": {"type": "filesystem"},
        }))
        .map(|mut c: RestoreConfig| {
            c.topic_mapping = vec![TopicMapping {
                source_topic: "orders".into(),
                target_topic: "orders-dr".into(),
                partitions: None,
            }];
            c
        })
        .expect("config");
        let (acls, renamed, notes) = mapped_acls(
            &cfg,
            &[
                acl("TOPIC", "orders", "LITERAL"),
                acl("TOPIC", "ord", "PREFIXED"),
                acl("GROUP", "orders", "LITERAL"),
                acl("TOPIC", "audit", "LITERAL"),
                acl("UNKNOWN(6)", "x", "LITERAL"),
            ],
        );
        let names: Vec<(&str, &str)> =
            acls.iter().map(|a| (a.resource_type.as_str(), a.resource_name.as_str())).collect();
        assert_eq!(
            names,
            [("GROUP", "orders"), ("TOPIC", "audit"), ("TOPIC", "ord"), ("TOPIC", "orders-dr")]
        );
        assert_eq!(renamed, 1);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("mapped topic(s) orders") && notes[1].contains("cannot create"),
            "{notes:?}"
        );
    }
}
