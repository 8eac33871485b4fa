//! `drill KB`: a restore drill now (docs/restore-drills.md). A drill is a `KafkaRestoreDrill`;
//! this command starts the one that drills the KafkaBackup (or, with `--location`, the
//! KafkaBackupLocation) by a new value of the `kafkabackup.com/trigger` annotation, or — when
//! none does — creates one without a schedule, which the operator runs once at once.
//!
//! With `--wait` it follows the drill until `status.lastVerification` holds a drill started no
//! earlier than the trigger (or the creation), prints its evidence (records, mismatches, RTO,
//! the first mismatches by topic, partition and offset) and exits 0 when it passed, 1 when it
//! failed. Objects are handled as plain JSON, like `restore`, so a status field added later by
//! the operator does not break an older plugin.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use strimzi_backup_operator::api::backup::TRIGGER_ANNOTATION;
use strimzi_backup_operator::api::{KafkaBackup, KafkaBackupLocation, KafkaRestoreDrill};

use crate::client::{ApiResult, Target, get};
use crate::output::{self, Format, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The KafkaBackup whose restore points to drill.
    #[arg(value_name = "KAFKABACKUP", required_unless_present = "location", conflicts_with = "location")]
    kafka_backup: Option<String>,
    /// Drill the restore points of this KafkaBackupLocation instead (needs --cluster or
    /// --bootstrap-servers: the cluster the scratch topics are restored into).
    #[arg(long, value_name = "KAFKABACKUPLOCATION")]
    location: Option<String>,
    /// The KafkaRestoreDrill to start, created when absent. Default: the one that drills the
    /// KafkaBackup (or location), else a new `<name>-drill`.
    #[arg(long, value_name = "NAME")]
    drill: Option<String>,
    /// Restore the scratch topics into this Strimzi Kafka cluster (a new drill; default with a
    /// KafkaBackup: its own cluster).
    #[arg(long, value_name = "KAFKA", conflicts_with = "bootstrap_servers")]
    cluster: Option<String>,
    /// Restore the scratch topics into the Kafka cluster at these bootstrap servers (a new drill;
    /// plaintext, no authentication).
    #[arg(long, value_name = "HOST:PORT,...")]
    bootstrap_servers: Option<String>,
    /// Drill only this topic (repeatable; exact names; a new drill). Default: every topic.
    #[arg(long = "topic", value_name = "TOPIC")]
    topics: Vec<String>,
    /// Scratch topics are named `<PREFIX><topic>` (a new drill). Default: `drill-<drill name>-`.
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Which restore point each drill restores (a new drill).
    #[arg(long, value_parser = ["Newest", "Sampled"])]
    restore_point: Option<String>,
    /// Refuse a drill of more records than this (a new drill).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    max_records: Option<i64>,
    /// Wait until the drill ends and print its result: exit 0 when it passed, 1 when it failed.
    #[arg(long)]
    wait: bool,
    /// How long to wait with --wait, e.g. 10m.
    #[arg(long, default_value = "30m", value_parser = crate::restore::parse_duration)]
    timeout: Duration,
    /// Output format of the KafkaRestoreDrill: json or yaml.
    #[arg(short = 'o', long = "output")]
    output: Option<Format>,
}

impl Args {
    /// The flags that only describe a drill to create, as the user wrote them.
    fn creation_flags(&self) -> Vec<&'static str> {
        let set = [
            ("--cluster", self.cluster.is_some()),
            ("--bootstrap-servers", self.bootstrap_servers.is_some()),
            ("--topic", !self.topics.is_empty()),
            ("--prefix", self.prefix.is_some()),
            ("--restore-point", self.restore_point.is_some()),
            ("--max-records", self.max_records.is_some()),
        ];
        set.into_iter().filter(|(_, on)| *on).map(|(flag, _)| flag).collect()
    }
}

/// What is drilled: `("backupRef", KB)` or `("locationRef", KBL)`.
struct Source<'a> {
    field: &'static str,
    kind: &'static str,
    name: &'a str,
}

impl Source<'_> {
    fn drilled_by(&self, drill: &DynamicObject) -> bool {
        drill.data["spec"][self.field]["name"].as_str() == Some(self.name)
    }
}

pub async fn run(target: &Target, args: Args) -> anyhow::Result<ExitCode> {
    let ns = &target.namespace;
    let source = match (&args.kafka_backup, &args.location) {
        (Some(kb), _) => {
            get(&target.api::<KafkaBackup>(), "KafkaBackup", kb, ns).await?;
            Source { field: "backupRef", kind: "KafkaBackup", name: kb }
        }
        (None, Some(kbl)) => {
            if args.cluster.is_none() && args.bootstrap_servers.is_none() {
                bail!(
                    "a drill of KafkaBackupLocation {kbl} needs the cluster to restore into: name it with --cluster or --bootstrap-servers"
                );
            }
            get(&target.api::<KafkaBackupLocation>(), "KafkaBackupLocation", kbl, ns).await?;
            Source { field: "locationRef", kind: "KafkaBackupLocation", name: kbl }
        }
        (None, None) => bail!("name a KafkaBackup, or a KafkaBackupLocation with --location"),
    };
    let api: Api<DynamicObject> =
        Api::namespaced_with(target.client.clone(), ns, &ApiResource::erase::<KafkaRestoreDrill>(&()));
    let existing = match &args.drill {
        Some(name) => api.get_opt(name).await.api()?,
        None => {
            let mut drilling: Vec<DynamicObject> = api
                .list(&ListParams::default())
                .await
                .api()?
                .items
                .into_iter()
                .filter(|d| source.drilled_by(d))
                .collect();
            match drilling.len() {
                0 => api.get_opt(&format!("{}-drill", source.name)).await.api()?,
                1 => drilling.pop(),
                _ => {
                    let names: Vec<String> = drilling.iter().map(|d| d.name_any()).collect();
                    bail!(
                        "{} {} is drilled by {} KafkaRestoreDrills ({}): name one with --drill",
                        source.kind,
                        source.name,
                        names.len(),
                        names.join(", ")
                    );
                }
            }
        }
    };

    // The drill started no earlier than this (a Kubernetes time has whole seconds).
    let since = Utc::now();
    let since_second = DateTime::from_timestamp(since.timestamp(), 0).unwrap_or(since);
    let (name, object) = match existing {
        Some(drill) => {
            let name = drill.name_any();
            if !source.drilled_by(&drill) {
                bail!(
                    "KafkaRestoreDrill {name} does not drill {} {}: name another with --drill",
                    source.kind,
                    source.name
                );
            }
            let flags = args.creation_flags();
            if !flags.is_empty() {
                bail!(
                    "{} describe a new drill, but KafkaRestoreDrill {name} exists: change its spec with `kubectl edit kafkarestoredrill {name}`, or name a new drill with --drill",
                    flags.join(", ")
                );
            }
            let value = since.to_rfc3339_opts(SecondsFormat::Millis, true);
            let patch = json!({"metadata": {"annotations": {TRIGGER_ANNOTATION: value}}});
            let patched = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.api()?;
            if args.output.is_none() {
                println!("kafkarestoredrill.kafkabackup.com/{name} triggered: {TRIGGER_ANNOTATION}={value}");
            }
            (name, patched)
        }
        None => {
            let name = args.drill.clone().unwrap_or_else(|| format!("{}-drill", source.name));
            let object = drill_object(&args, &source, &name);
            let params = PostParams { dry_run: false, field_manager: Some("kubectl-kafkabackup".into()) };
            let created = api.create(&params, &serde_json::from_value(object)?).await.api()?;
            if args.output.is_none() {
                println!("kafkarestoredrill.kafkabackup.com/{name} created");
            }
            (name, created)
        }
    };
    if !args.wait {
        if let Some(f) = args.output {
            output::print_object(f, &object)?;
        }
        return Ok(ExitCode::SUCCESS);
    }

    // The evidence already there when triggered: a drill that ended within the trigger's second
    // has a time no earlier than it, but is not the one asked for.
    let before = object.data["status"]["lastVerification"].clone();
    let waited = tokio::time::timeout(args.timeout, wait_for_drill(api, &name, since_second, &before)).await;
    let Ok(result) = waited else {
        bail!(
            "no drill of KafkaRestoreDrill {name} ended within {}s; is the operator running? See `kubectl describe kafkarestoredrill {name}`",
            args.timeout.as_secs()
        );
    };
    let latest = result?;
    let run = &latest.data["status"]["lastVerification"];
    let passed = run["result"] == "Passed";
    match args.output {
        Some(f) => output::print_object(f, &latest)?,
        None => print!("{}", result_text(&name, run)),
    }
    if passed {
        return Ok(ExitCode::SUCCESS);
    }
    let why = run["message"].as_str().unwrap_or("no message");
    eprintln!("error: drill {name} Failed: {why}");
    Ok(ExitCode::FAILURE)
}

/// The `KafkaRestoreDrill` the flags describe: no schedule, so it runs once, now.
fn drill_object(args: &Args, source: &Source, name: &str) -> Value {
    let mut spec = serde_json::Map::new();
    spec.insert(source.field.into(), json!({"name": source.name}));
    match (&args.cluster, &args.bootstrap_servers) {
        (Some(kafka), _) => spec.insert("target".into(), json!({"strimziClusterRef": {"name": kafka}})),
        (None, Some(bootstrap)) => {
            spec.insert("target".into(), json!({"kafkaCluster": {"bootstrapServers": bootstrap}}))
        }
        (None, None) => None,
    };
    if let Some(choice) = &args.restore_point {
        spec.insert("restorePoint".into(), json!(choice));
    }
    if !args.topics.is_empty() {
        let include: Vec<String> = args.topics.iter().map(|t| regex::escape(t)).collect();
        spec.insert("topics".into(), json!({"include": include}));
    }
    if let Some(prefix) = &args.prefix {
        spec.insert("topicPrefix".into(), json!(prefix));
    }
    if let Some(max) = args.max_records {
        spec.insert("maxRecords".into(), json!(max));
    }
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestoreDrill",
           "metadata": {"name": name}, "spec": spec})
}

/// Follows the drill until `status.lastVerification` is a drill started at or after `since`
/// (by its `startTime`, else its `completionTime`) other than `before`: a drill that was already
/// over, or already running, when the trigger was set is not the one asked for.
async fn wait_for_drill(
    api: Api<DynamicObject>,
    name: &str,
    since: DateTime<Utc>,
    before: &Value,
) -> anyhow::Result<DynamicObject> {
    let mut events = kube::runtime::watcher::watch_object(api, name).boxed();
    while let Some(event) = events.next().await {
        let Some(object) = event.context("watching the KafkaRestoreDrill")? else {
            bail!("KafkaRestoreDrill {name} was deleted");
        };
        let run = &object.data["status"]["lastVerification"];
        let started = [&run["startTime"], &run["completionTime"]]
            .into_iter()
            .find_map(|t| t.as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        if run != before && started.is_some_and(|t| t >= since) {
            return Ok(object);
        }
    }
    bail!("the watch of KafkaRestoreDrill {name} ended")
}

/// A finished drill's evidence, as printed by `--wait`.
fn result_text(name: &str, run: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "-".into(),
    };
    let result = run["result"].as_str().unwrap_or("<unknown>");
    let point = run["restorePoint"].as_str().or(run["backupId"].as_str()).unwrap_or("<none>");
    let rto = run["rtoSeconds"].as_f64().map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into());
    let mut out = format!(
        "drill {name} {result}: restore point {point}, {} records, {} mismatches, RTO {rto}",
        text(&run["records"]),
        text(&run["mismatches"])
    );
    if let Some(rate) = run["mbPerSecond"].as_f64() {
        out.push_str(&format!(" ({rate:.1} MB/s)"));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = run["firstMismatches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            [&m["topic"], &m["partition"], &m["offset"], &m["restoredOffset"], &m["what"]]
                .into_iter()
                .map(text)
                .collect()
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(&["TOPIC", "PARTITION", "OFFSET", "RESTORED OFFSET", "WHAT"], &rows));
    }
    if result != "Passed"
        && let Some(message) = run["message"].as_str()
    {
        out.push_str(&format!("message: {message}\n"));
    }
    if run["scratchTopicsDeleted"] == false {
        out.push_str("warning: not every scratch topic was deleted; see the drill's Events\n");
    }
    out
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

    fn args(line: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("drill").chain(line.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn a_new_drill_of_a_location_names_its_target_and_exact_topics() {
        let a = args(&[
            "--location",
            "prod",
            "--cluster",
            "dr",
            "--topic",
            "orders.v1",
            "--restore-point",
            "Sampled",
            "--max-records",
            "1000",
            "--prefix",
            "check-",
        ])
        .expect("parses");
        let source = Source { field: "locationRef", kind: "KafkaBackupLocation", name: "prod" };
        let o = drill_object(&a, &source, "prod-drill");
        assert_eq!(
            o["spec"],
            json!({"locationRef": {"name": "prod"}, "target": {"strimziClusterRef": {"name": "dr"}},
                   "restorePoint": "Sampled", "topics": {"include": ["orders\\.v1"]},
                   "topicPrefix": "check-", "maxRecords": 1000})
        );
        assert!(o["spec"].get("schedule").is_none());
        assert_eq!(
            a.creation_flags(),
            ["--cluster", "--topic", "--prefix", "--restore-point", "--max-records"]
        );
    }

    #[test]
    fn a_backup_or_a_location_but_not_both() {
        assert!(args(&[]).is_err());
        assert!(args(&["orders", "--location", "prod"]).is_err());
        assert!(args(&["orders", "--max-records", "0"]).is_err());
        assert!(args(&["orders", "--restore-point", "Oldest"]).is_err());
        assert!(args(&["orders"]).expect("parses").creation_flags().is_empty());
    }

    #[test]
    fn a_failed_drill_prints_its_first_mismatches() {
        let run = json!({"result": "Failed", "restorePoint": "orders-b1", "records": 1500, "mismatches": 2,
            "rtoSeconds": 12.34, "message": "orders/1 offset 17: value differs",
            "firstMismatches": [
                {"topic": "orders", "partition": 1, "offset": 17, "restoredOffset": 17, "what": "value"},
                {"topic": "orders", "partition": 2, "offset": 3, "what": "missing"}]});
        let text = result_text("d", &run);
        assert!(
            text.starts_with(
                "drill d Failed: restore point orders-b1, 1500 records, 2 mismatches, RTO 12.3s\n"
            ),
            "{text}"
        );
        assert!(text.contains("orders   1           17       17                value\n"), "{text}");
        assert!(text.contains("orders   2           3        -                 missing\n"), "{text}");
        assert!(text.ends_with("message: orders/1 offset 17: value differs\n"), "{text}");
        let text = result_text(
            "d",
            &json!({"result": "Passed", "restorePoint": "p", "records": 5, "mismatches": 0}),
        );
        assert_eq!(text, "drill d Passed: restore point p, 5 records, 0 mismatches, RTO -\n");
    }
}
