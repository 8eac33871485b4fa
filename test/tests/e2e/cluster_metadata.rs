//! Cluster metadata with each backup: ACLs, client quotas, SCRAM mechanisms, on a broker with an authorizer (issue 16 §3).
//!
//! The metadata is set up and read back with Kafka's own tools (`AclCommand`, `ConfigCommand`
//! from `$KAFKA_HOME`), so what the product stores and restores is compared with what Kafka
//! itself shows, not with the product's own reading of it.

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::Context;
use object_store::ObjectStoreExt;
use strimzi_backup_e2e::broker::PrivateBroker;
use strimzi_backup_e2e::dataplane::{
    base_config, create_topic, minio, produce, recent, records, run_err, run_ok,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;

/// Runs one of Kafka's command-line tools (`class`) against `env`'s broker; its stdout.
fn kafka_tool(env: &TestEnv, class: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("java")
        .args(["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp"])
        .arg(format!("{}/libs/*", env.get("KAFKA_HOME")?))
        .arg(class)
        .args(["--bootstrap-server", env.kafka_bootstrap()])
        .args(args)
        .output()
        .with_context(|| format!("running {class}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{class} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const ACLS: &str = "org.apache.kafka.tools.AclCommand";
const CONFIGS: &str = "kafka.admin.ConfigCommand";

/// One ACL binding: resource type, name, pattern type, principal, host, operation, permission.
type Acl = (String, String, String, String, String, String, String);

/// The value of `key=` in `text` up to the next `,` or `)`.
fn field(text: &str, key: &str) -> Option<String> {
    let start = text.find(&format!("{key}="))? + key.len() + 1;
    let rest = &text[start..];
    let end = rest.find([',', ')']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

/// Every binding `AclCommand --list` prints.
fn list_acls(env: &TestEnv) -> anyhow::Result<BTreeSet<Acl>> {
    let text = kafka_tool(env, ACLS, &["--list"])?;
    let mut out = BTreeSet::new();
    let mut resource: Option<(String, String, String)> = None;
    for line in text.lines() {
        if line.contains("ResourcePattern(") {
            resource = Some((
                field(line, "resourceType").context("resourceType")?,
                field(line, "name").context("name")?,
                field(line, "patternType").context("patternType")?,
            ));
        } else if line.contains("principal=") {
            let (t, n, p) = resource.clone().context("a binding before its resource")?;
            out.insert((
                t,
                n,
                p,
                field(line, "principal").context("principal")?,
                field(line, "host").context("host")?,
                field(line, "operation").context("operation")?,
                field(line, "permissionType").context("permissionType")?,
            ));
        }
    }
    Ok(out)
}

/// The quota lines `ConfigCommand --describe` prints for users and client ids (sorted), and the
/// SCRAM lines apart.
fn describe_configs(env: &TestEnv) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut quotas = Vec::new();
    let mut scram = Vec::new();
    for entity in ["users", "clients"] {
        for line in kafka_tool(env, CONFIGS, &["--describe", "--entity-type", entity])?.lines() {
            let line = line.trim();
            if line.starts_with("Quota configs") {
                quotas.push(line.to_string());
            } else if line.starts_with("SCRAM credential configs") {
                scram.push(line.to_string());
            }
        }
    }
    quotas.sort();
    scram.sort();
    Ok((quotas, scram))
}

/// The bindings set up on the source: literal and prefixed, topic and group, allow and deny.
fn add_acls(env: &TestEnv, topic: &str) -> anyhow::Result<()> {
    let add = |args: &[&str]| kafka_tool(env, ACLS, &[&["--add", "--force"], args].concat());
    add(&[
        "--allow-principal",
        "User:alice",
        "--operation",
        "Read",
        "--operation",
        "Describe",
        "--topic",
        topic,
    ])?;
    add(&[
        "--allow-principal",
        "User:bob",
        "--operation",
        "Write",
        "--resource-pattern-type",
        "prefixed",
        "--topic",
        "ord",
    ])?;
    add(&["--allow-principal", "User:alice", "--operation", "Read", "--group", "billing"])?;
    add(&[
        "--allow-principal",
        "User:carol",
        "--operation",
        "Read",
        "--resource-pattern-type",
        "prefixed",
        "--group",
        "app-",
    ])?;
    add(&[
        "--deny-principal",
        "User:mallory",
        "--deny-host",
        "10.0.0.1",
        "--operation",
        "All",
        "--topic",
        topic,
    ])?;
    Ok(())
}

/// Quotas for a user, a client id and the default user; SCRAM credentials for two users.
fn add_quotas_and_users(env: &TestEnv) -> anyhow::Result<()> {
    let alter = |config: &str, entity: &[&str]| {
        kafka_tool(env, CONFIGS, &[&["--alter", "--add-config", config], entity].concat())
    };
    alter(
        "producer_byte_rate=1048576,consumer_byte_rate=2097152",
        &["--entity-type", "users", "--entity-name", "alice"],
    )?;
    alter("consumer_byte_rate=4096", &["--entity-type", "clients", "--entity-name", "reporting-app"])?;
    alter("request_percentage=50", &["--entity-type", "users", "--entity-default"])?;
    alter(
        "SCRAM-SHA-512=[iterations=8192,password=alice-secret]",
        &["--entity-type", "users", "--entity-name", "alice"],
    )?;
    alter(
        "SCRAM-SHA-256=[iterations=4096,password=bob-secret]",
        &["--entity-type", "users", "--entity-name", "bob"],
    )?;
    Ok(())
}

/// A backup of a broker with an authorizer holds its ACLs, quotas and SCRAM mechanisms (never a
/// credential); a restore into another broker with the topic renamed creates the same ACLs — the
/// literal topic ones on the new name, the prefixed one unchanged and named in the result — and
/// the same quotas, and says the SCRAM users are not restored.
#[tokio::test]
async fn acls_and_quotas_round_trip_into_another_cluster_with_topics_renamed() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let (topic, target_topic) = (format!("orders{s}"), format!("orders{s}-dr"));
    let prefix = format!("e2e-metadata-{s}/");
    let source = PrivateBroker::start_with_authorizer(&env)?;
    create_topic(&source.env, &topic, 1, &[]).await?;
    produce(&source.env, &topic, 0, &records(&topic, 0, 20, recent())).await?;
    add_acls(&source.env, &topic)?;
    add_quotas_and_users(&source.env)?;
    let source_acls = list_acls(&source.env)?;
    let (source_quotas, source_scram) = describe_configs(&source.env)?;
    assert_eq!(source_acls.len(), 6, "{source_acls:?}");
    assert_eq!(source_quotas.len(), 3, "{source_quotas:?}");
    assert_eq!(source_scram.len(), 2, "{source_scram:?}");

    let config = format!("{}topics: {{include: [\"{topic}\"]}}\n", base_config(&source.env, &prefix, None)?);
    let id = format!("meta-{s}");
    let backup = run_ok(&source.env, "backup", &config, &["--backup-id", &id])?;
    let summary = &backup["clusterMetadata"];
    println!("backup's cluster metadata: {summary}");
    assert_eq!(
        (summary["acls"].as_u64(), summary["quotas"].as_u64(), summary["scramUsers"].as_u64()),
        (Some(6), Some(3), Some(2))
    );
    assert_eq!(summary["scramMechanisms"], serde_json::json!({"SCRAM-SHA-256": 1, "SCRAM-SHA-512": 1}));
    assert!(summary.get("notCaptured").is_none(), "{summary}");

    // The object beside the manifest, as the manifest names it, holds what Kafka's tools list.
    let store = minio(&env)?;
    let object = summary["object"].as_str().context("object")?;
    assert_eq!(object, format!("{prefix}backups/{id}/cluster-metadata.json"));
    let bytes = store.get(&object_store::path::Path::from(object)).await?.bytes().await?;
    let text = String::from_utf8(bytes.to_vec())?;
    for secret in ["alice-secret", "bob-secret", "\"salt\"", "\"password\"", "storedKey", "serverKey"] {
        assert!(!text.contains(secret), "the metadata object holds {secret}: {text}");
    }
    let stored: serde_json::Value = serde_json::from_str(&text)?;
    assert!(stored["scramCredentials"].as_str().is_some_and(|n| n.contains("never reveals")), "{stored}");
    let stored_acls: BTreeSet<Acl> = stored["acls"]
        .as_array()
        .context("acls")?
        .iter()
        .map(|a| {
            let f = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            (
                f("resourceType"),
                f("resourceName"),
                f("patternType"),
                f("principal"),
                f("host"),
                f("operation"),
                f("permissionType"),
            )
        })
        .collect();
    assert_eq!(stored_acls, source_acls, "the backup holds every ACL Kafka lists");
    assert_eq!(
        stored["scramUsers"],
        serde_json::json!([
            {"user": "alice", "credentials": [{"mechanism": "SCRAM-SHA-512", "iterations": 8192}]},
            {"user": "bob", "credentials": [{"mechanism": "SCRAM-SHA-256", "iterations": 4096}]}
        ])
    );
    drop(source);

    let target = PrivateBroker::start_with_authorizer(&env)?;
    assert!(list_acls(&target.env)?.is_empty());
    let restore_config = format!(
        "{}backupId: {id}\ntopicMapping: [{{sourceTopic: \"{topic}\", targetTopic: \"{target_topic}\"}}]\n\
         restore: {{metadata: {{acls: true, quotas: true}}}}\n",
        base_config(&target.env, &prefix, None)?
    );
    let restored = run_ok(&target.env, "restore", &restore_config, &[])?;
    let outcome = &restored["metadata"];
    println!("restore's metadata outcome: {outcome}");
    assert_eq!(restored["restoredRecords"], 20);
    assert_eq!(
        (
            outcome["aclsRestored"].as_u64(),
            outcome["aclsRenamed"].as_u64(),
            outcome["quotasRestored"].as_u64()
        ),
        (Some(6), Some(3), Some(3))
    );
    assert_eq!(outcome["scramUsersNotRestored"], 2);
    let notes = outcome["notes"].to_string();
    assert!(notes.contains("never reveals SCRAM credentials"), "{notes}");
    assert!(
        notes.contains("PREFIXED TOPIC:ord") && notes.contains(&format!("mapped topic(s) {topic}")),
        "{notes}"
    );

    // Read back with Kafka's tools: the source's ACLs with the literal topic ones renamed.
    let expected: BTreeSet<Acl> = source_acls
        .iter()
        .cloned()
        .map(|mut a| {
            if a.0 == "TOPIC" && a.2 == "LITERAL" && a.1 == topic {
                a.1 = target_topic.clone();
            }
            a
        })
        .collect();
    assert_eq!(list_acls(&target.env)?, expected);
    let (target_quotas, target_scram) = describe_configs(&target.env)?;
    assert_eq!(target_quotas, source_quotas, "the same quotas");
    assert!(target_scram.is_empty(), "no SCRAM user can be restored: {target_scram:?}");
    Ok(())
}

/// A backup with `backup.clusterMetadata: false` stores no metadata object and its manifest names
/// none; a restore asking for the ACLs of that backup is refused before it writes anything. On a
/// cluster without an authorizer a backup records no ACLs (none are enforced) and the rest.
#[tokio::test]
async fn a_restore_asking_for_metadata_a_backup_does_not_hold_is_refused_before_writing() -> anyhow::Result<()>
{
    let shared = TestEnv::load()?;
    // A broker of its own without an authorizer (whatever the shared one has).
    let broker = PrivateBroker::start(&shared)?;
    let env = broker.env.clone();
    let s = unique_suffix();
    let topic = format!("nometa{s}");
    let prefix = format!("e2e-metadata-off-{s}/");
    create_topic(&env, &topic, 1, &[]).await?;
    produce(&env, &topic, 0, &records(&topic, 0, 5, recent())).await?;
    let config = format!("{}topics: {{include: [\"{topic}\"]}}\n", base_config(&env, &prefix, None)?);
    let with = run_ok(&env, "backup", &config, &["--backup-id", &format!("with-{s}")])?;
    let summary = &with["clusterMetadata"];
    println!("backup's cluster metadata without an authorizer: {summary}");
    assert_eq!(
        (summary["acls"].as_u64(), summary["quotas"].as_u64(), summary["scramUsers"].as_u64()),
        (Some(0), Some(0), Some(0))
    );

    let id = format!("off-{s}");
    let off = format!("{config}backup: {{clusterMetadata: false}}\n");
    let without = run_ok(&env, "backup", &off, &["--backup-id", &id])?;
    assert!(without.get("clusterMetadata").is_none(), "{without}");
    let store = minio(&shared)?;
    let object = object_store::path::Path::from(format!("{prefix}backups/{id}/cluster-metadata.json"));
    assert!(store.head(&object).await.is_err(), "no metadata object when switched off");

    let restore_config = format!(
        "{}backupId: {id}\ntopicMapping: [{{sourceTopic: \"{topic}\", targetTopic: \"{topic}-r\"}}]\n\
         restore: {{metadata: {{acls: true}}}}\n",
        base_config(&env, &prefix, None)?
    );
    let err = run_err(&env, "restore", &restore_config, &[])?;
    assert!(err.contains("restore.metadata") && err.contains("holds no cluster metadata"), "{err}");
    assert!(
        strimzi_backup_e2e::dataplane::partition_count(&env, &format!("{topic}-r"))?.is_none(),
        "nothing was written"
    );
    Ok(())
}
