//! `restore KB --to TIME`: writes a `KafkaRestore` and prints the plan the operator posts for it.
//!
//! The object is built as JSON, not as the typed spec, for the fields this build may know before
//! the cluster's CRD does (`spec.restore.approval`): the API server prunes a field its schema
//! lacks, so after creating the plugin checks that `approval` survived and deletes the restore
//! if not — a restore asked to wait for approval must never run without it. Status is read as
//! plain JSON too: `phase` and `plan` print whatever the operator writes there.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use serde_json::{Value, json};
use strimzi_backup_operator::api::restore::APPROVE_ANNOTATION;
use strimzi_backup_operator::api::{KafkaBackup, KafkaRestore, KafkaRestorePoint};

use crate::client::{ApiResult, Target, get};
use crate::output::{self, Format, human_bytes, human_duration, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The KafkaBackup to restore from (optional with --point: then the one that lists the point).
    #[arg(value_name = "KAFKABACKUP", required_unless_present = "point")]
    kafka_backup: Option<String>,
    /// Restore records up to this time: RFC 3339 (2026-12-03T01:30:00Z), `now`, `-2h` (before
    /// now), or `end-2h` (before the end of the backup). Default: everything in the backup.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    to: Option<String>,
    /// Restore only this topic (repeatable; exact names). Default: every backed-up topic.
    #[arg(long = "topic", value_name = "TOPIC")]
    topics: Vec<String>,
    /// Restore topic SOURCE under the name TARGET (repeatable).
    #[arg(long = "rename", value_name = "SOURCE=TARGET", value_parser = parse_rename)]
    renames: Vec<(String, String)>,
    /// Restore into this Strimzi Kafka cluster (default: the KafkaBackup's own cluster).
    #[arg(long, value_name = "KAFKA", conflicts_with = "bootstrap_servers")]
    cluster: Option<String>,
    /// Restore into the Kafka cluster at these bootstrap servers (plaintext, no authentication).
    #[arg(long, value_name = "HOST:PORT,...")]
    bootstrap_servers: Option<String>,
    /// Restore this KafkaRestorePoint (spec.restorePointRef) instead of the KafkaBackup's latest.
    #[arg(long, value_name = "POINT")]
    point: Option<String>,
    /// `Manual`: the restore waits after its plan until approved; `Automatic` (the operator's
    /// default) goes on at once.
    #[arg(long, value_parser = ["Automatic", "Manual"])]
    approval: Option<String>,
    /// Name of the KafkaRestore (default: generated, `<KAFKABACKUP>-restore-xxxxx`).
    #[arg(long)]
    name: Option<String>,
    /// `server` (the default when given bare): the API server and its webhooks judge the
    /// KafkaRestore and store nothing; `client`: print it without contacting the server.
    #[arg(long, value_name = "server|client", num_args = 0..=1, default_missing_value = "server",
          value_parser = ["server", "client"])]
    dry_run: Option<String>,
    /// Only compute the plan: the operator reports what it would restore and writes nothing
    /// (spec.restore.dryRun).
    #[arg(long)]
    plan_only: bool,
    /// Wait for the operator to post the plan and print it.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "true|false")]
    wait_plan: bool,
    /// How long to wait for the plan, e.g. 30s, 2m.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    timeout: Duration,
    /// Output format of the KafkaRestore: json or yaml.
    #[arg(short = 'o', long = "output")]
    output: Option<Format>,
}

fn parse_rename(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((from, to)) if !from.is_empty() && !to.is_empty() => Ok((from.into(), to.into())),
        _ => Err(format!("{text:?}: write SOURCE=TARGET, e.g. orders=orders-restored")),
    }
}

/// A duration flag such as `30s` or `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let ms = strimzi_backup_operator::api::duration::parse_millis(text)?;
    u64::try_from(ms).map(Duration::from_millis).map_err(|_| format!("{text:?} is negative"))
}

pub async fn run(target: &Target, args: Args) -> anyhow::Result<ExitCode> {
    let ns = &target.namespace;
    let point_in_time = args
        .to
        .as_deref()
        .map(|t| crate::to::parse(t, Utc::now()))
        .transpose()
        .map_err(anyhow::Error::msg)?;

    // The KafkaBackup whose cluster is the default target: named, or the one listing --point.
    // Read even for `--dry-run=client`, which only sends nothing to be written.
    let client_only = args.dry_run.as_deref() == Some("client");
    let kb_name = match (&args.kafka_backup, &args.point) {
        (Some(kb), _) => Some(kb.clone()),
        (None, Some(p)) => {
            let point = get(&target.api::<KafkaRestorePoint>(), "KafkaRestorePoint", p, ns).await?;
            (point.spec.source.kind == "KafkaBackup").then_some(point.spec.source.name)
        }
        (None, _) => None,
    };
    let needs_default_cluster = args.cluster.is_none() && args.bootstrap_servers.is_none();
    let kb = match &kb_name {
        Some(name) if needs_default_cluster => {
            Some(get(&target.api::<KafkaBackup>(), "KafkaBackup", name, ns).await?)
        }
        _ => None,
    };
    let cluster = match (&args.cluster, &args.bootstrap_servers, &kb) {
        (Some(kafka), _, _) => json!({"strimziClusterRef": {"name": kafka}}),
        (None, Some(bootstrap), _) => json!({"kafkaCluster": {"bootstrapServers": bootstrap}}),
        (None, None, Some(kb)) => serde_json::to_value(&kb.spec.cluster)?,
        (None, None, None) => bail!(
            "the target cluster is unknown: the restore point is not listed by a KafkaBackup; name one with --cluster or --bootstrap-servers"
        ),
    };

    let base = kb_name.clone().or_else(|| args.point.clone()).unwrap_or_else(|| "kafka".into());
    let object = restore_object(&args, &base, cluster, point_in_time)?;
    if client_only {
        output::print_object(args.output.unwrap_or(Format::Yaml), &object)?;
        return Ok(ExitCode::SUCCESS);
    }

    let api: Api<DynamicObject> =
        Api::namespaced_with(target.client.clone(), ns, &ApiResource::erase::<KafkaRestore>(&()));
    let dry_run = args.dry_run.is_some();
    let params = PostParams { dry_run, field_manager: Some("kubectl-kafkabackup".into()) };
    let created = api.create(&params, &serde_json::from_value(object)?).await.api()?;
    let name = created.name_any();
    if let Some(approval) = &args.approval
        && created.data["spec"]["restore"]["approval"].as_str() != Some(approval)
    {
        if !dry_run {
            api.delete(&name, &DeleteParams::default()).await.api()?;
        }
        bail!(
            "this cluster's KafkaRestore CRD has no spec.restore.approval (the operator predates restore plans): KafkaRestore {name} {}",
            if dry_run { "was not created" } else { "was deleted again" }
        );
    }
    let announce = |suffix: &str| {
        if args.output.is_none() {
            println!("kafkarestore.kafkabackup.com/{name} created{suffix}");
        }
    };
    if dry_run {
        announce(" (server dry run)");
        if let Some(f) = args.output {
            output::print_object(f, &created)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    announce("");
    if !args.wait_plan {
        if let Some(f) = args.output {
            output::print_object(f, &created)?;
        }
        return Ok(ExitCode::SUCCESS);
    }

    let latest = wait_for_plan(&api, &name, args.timeout).await?;
    if let Some(f) = args.output {
        output::print_object(f, &latest)?;
        return Ok(ExitCode::SUCCESS);
    }
    let status = &latest.data["status"];
    print!("{}", plan_text(&name, status));
    Ok(if status["phase"] == "Failed" { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The `KafkaRestore` the flags describe, as JSON.
fn restore_object(
    args: &Args,
    base: &str,
    cluster: Value,
    point_in_time: Option<strimzi_backup_operator::api::restore::PointInTime>,
) -> anyhow::Result<Value> {
    let mut spec = cluster;
    let spec_map = spec.as_object_mut().context("cluster connection is not an object")?;
    match (&args.point, &args.kafka_backup) {
        (Some(point), _) => spec_map.insert("restorePointRef".into(), json!({"name": point})),
        (None, Some(kb)) => spec_map.insert("backupRef".into(), json!({"name": kb})),
        (None, None) => None,
    };
    if let Some(pit) = point_in_time {
        spec_map.insert("pointInTime".into(), serde_json::to_value(pit)?);
    }
    if !args.topics.is_empty() {
        let include: Vec<String> = args.topics.iter().map(|t| regex::escape(t)).collect();
        spec_map.insert("topics".into(), json!({"include": include}));
    }
    if !args.renames.is_empty() {
        let mapping: Vec<Value> =
            args.renames.iter().map(|(s, t)| json!({"sourceTopic": s, "targetTopic": t})).collect();
        spec_map.insert("topicMapping".into(), Value::Array(mapping));
    }
    let mut restore = serde_json::Map::new();
    if let Some(approval) = &args.approval {
        restore.insert("approval".into(), json!(approval));
    }
    if args.plan_only {
        restore.insert("dryRun".into(), json!(true));
    }
    if !restore.is_empty() {
        spec_map.insert("restore".into(), Value::Object(restore));
    }
    let metadata = match &args.name {
        Some(name) => json!({"name": name}),
        None => json!({"generateName": format!("{base}-restore-")}),
    };
    Ok(
        json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestore", "metadata": metadata, "spec": spec}),
    )
}

/// Follows the restore until it has a plan, or is past planning (running or over: an operator
/// without restore plans goes straight there), or `timeout` passes.
async fn wait_for_plan(
    api: &Api<DynamicObject>,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<DynamicObject> {
    let mut events = kube::runtime::watcher::watch_object(api.clone(), name).boxed();
    let mut last_phase = String::from("<none>");
    let waited = tokio::time::timeout(timeout, async {
        while let Some(event) = events.next().await {
            let Some(object) = event.context("watching the KafkaRestore")? else {
                bail!("KafkaRestore {name} was deleted");
            };
            let status = &object.data["status"];
            last_phase = status["phase"].as_str().unwrap_or("<none>").to_string();
            let past_planning = matches!(last_phase.as_str(), "Running" | "Completed" | "Failed");
            if !status["plan"].is_null() || past_planning {
                return Ok(object);
            }
        }
        bail!("the watch of KafkaRestore {name} ended")
    })
    .await;
    match waited {
        Ok(result) => result,
        Err(_) => bail!(
            "no plan for KafkaRestore {name} within {}s (phase: {last_phase}); is the operator running? Follow it with `kubectl kafkabackup watch {name}`",
            timeout.as_secs()
        ),
    }
}

/// `phase`, the plan, and what to do next. The plan is read by its field names (`hash`,
/// `backupId`, `pointInTime`, `topics[]`, `records`, `bytes`, `consumerGroups`,
/// `estimatedDurationSeconds`); a field it lacks shows as `-`.
fn plan_text(name: &str, status: &Value) -> String {
    let phase = status["phase"].as_str().unwrap_or("<none>");
    let mut out = format!("phase: {phase}\n");
    if let Some(message) = ready_message(status)
        && phase == "Failed"
    {
        out.push_str(&format!("message: {message}\n"));
    }
    let plan = &status["plan"];
    if plan.is_null() {
        out.push_str(&format!(
            "plan: <none> (the operator posted no plan); follow it with `kubectl kafkabackup watch {name}`\n"
        ));
        return out;
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "-".into(),
    };
    let bytes = |v: &Value| v.as_i64().map(human_bytes).unwrap_or_else(|| "-".into());
    out.push_str(&format!("plan:   {}\n", text(&plan["hash"])));
    out.push_str(&format!("backup: {}\n", text(&plan["backupId"])));
    out.push_str(&format!("to:     {}\n", plan["pointInTime"].as_str().unwrap_or("the end of the backup")));
    let topics = plan["topics"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = topics
        .iter()
        .map(|t| {
            let cells = [&t["source"], &t["target"], &t["action"], &t["partitions"], &t["records"]];
            let mut row: Vec<String> = cells.into_iter().map(text).collect();
            row.push(bytes(&t["bytes"]));
            row
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(&["SOURCE", "TARGET", "ACTION", "PARTITIONS", "RECORDS", "SIZE"], &rows));
    }
    let count = plan["topicCount"].as_u64().unwrap_or(topics.len() as u64);
    if count > topics.len() as u64 {
        out.push_str(&format!("({} more topics not listed)\n", count - topics.len() as u64));
    }
    out.push_str(&format!(
        "total:  {count} topics, {} records, {}\n",
        text(&plan["records"]),
        bytes(&plan["bytes"])
    ));
    let groups = &plan["consumerGroups"];
    let names: Vec<String> = groups["names"].as_array().into_iter().flatten().map(text).collect();
    let listed = if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) };
    out.push_str(&format!("groups: {}{listed}\n", groups["count"].as_i64().unwrap_or(0)));
    let estimate =
        plan["estimatedDurationSeconds"].as_i64().map(human_duration).unwrap_or_else(|| "-".into());
    out.push_str(&format!("estimated duration: {estimate}\n"));
    if let (Some(hash), "Planned") = (plan["hash"].as_str(), phase) {
        out.push_str(&format!(
            "approve with: kubectl annotate kafkarestore {name} {APPROVE_ANNOTATION}={hash}\n"
        ));
    }
    out
}

/// The message of the `Ready` condition, if any.
pub fn ready_message(status: &Value) -> Option<String> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["message"].as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(line: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("restore").chain(line.iter().copied())).expect("parses").args
    }

    #[test]
    fn flags_become_the_spec_with_exact_topic_names() {
        let a = args(&[
            "orders",
            "--topic",
            "orders.v1",
            "--rename",
            "orders.v1=orders.restored",
            "--approval",
            "Manual",
        ]);
        let o =
            restore_object(&a, "orders", json!({"strimziClusterRef": {"name": "c"}}), None).expect("builds");
        assert_eq!(o["spec"]["backupRef"], json!({"name": "orders"}));
        assert_eq!(o["spec"]["topics"]["include"], json!(["orders\\.v1"]));
        assert_eq!(
            o["spec"]["topicMapping"],
            json!([{"sourceTopic": "orders.v1", "targetTopic": "orders.restored"}])
        );
        assert_eq!(o["spec"]["restore"]["approval"], "Manual");
        assert_eq!(o["metadata"]["generateName"], "orders-restore-");
    }

    #[test]
    fn a_point_is_restored_by_reference_and_relative_times_are_accepted() {
        let a = args(&["--point", "p1", "--to", "-2h", "--name", "r"]);
        let o = restore_object(&a, "p1", json!({"kafkaCluster": {"bootstrapServers": "b:9092"}}), None)
            .expect("builds");
        assert_eq!(o["spec"]["restorePointRef"], json!({"name": "p1"}));
        assert!(o["spec"].get("backupRef").is_none());
        assert_eq!(o["metadata"]["name"], "r");
        assert_eq!(a.to.as_deref(), Some("-2h"));
    }

    #[test]
    fn the_plan_prints_with_how_to_approve_it() {
        let status = json!({"phase": "Planned", "plan": {"hash": "abc", "backupId": "b1", "topicCount": 3,
            "topics": [{"source": "s", "target": "t", "action": "create", "partitions": 2, "records": 10, "bytes": 2048}],
            "records": 10, "bytes": 2048, "consumerGroups": {"count": 1, "names": ["g"]}, "estimatedDurationSeconds": 90}});
        let text = plan_text("r", &status);
        assert!(
            text.starts_with("phase: Planned\nplan:   abc\nbackup: b1\nto:     the end of the backup\n"),
            "{text}"
        );
        assert!(text.contains("s        t        create   2            10        2.0 KiB"), "{text}");
        assert!(text.contains("(2 more topics not listed)") && text.contains("groups: 1 (g)"), "{text}");
        assert!(text.contains("estimated duration: 90s"), "{text}");
        assert!(text.contains("kubectl annotate kafkarestore r kafkabackup.com/approve=abc"), "{text}");
        let text =
            plan_text("r", &json!({"phase": "Failed", "conditions": [{"type": "Ready", "message": "boom"}]}));
        assert!(text.contains("message: boom") && text.contains("plan: <none>"), "{text}");
    }
}
