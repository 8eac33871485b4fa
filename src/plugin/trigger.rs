//! `backup KB`: a backup now, by the annotation the operator already honours
//! (`kafkabackup.com/trigger`, set to the current time so each call is a new value). With
//! `--wait` it follows the KafkaBackup until the operator echoes the value in
//! `status.lastTrigger` — the run it started is then `status.lastBackup` — and until that run
//! ends: exit 0 when it completed, 1 when it failed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use strimzi_backup_operator::api::KafkaBackup;
use strimzi_backup_operator::api::backup::TRIGGER_ANNOTATION;

use crate::client::{ApiResult, Target, get};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The KafkaBackup.
    #[arg(value_name = "KAFKABACKUP")]
    kafka_backup: String,
    /// Wait until the backup run ends.
    #[arg(long)]
    wait: bool,
    /// How long to wait with --wait, e.g. 10m.
    #[arg(long, default_value = "30m", value_parser = crate::restore::parse_duration)]
    timeout: Duration,
}

pub async fn run(target: &Target, args: Args) -> anyhow::Result<ExitCode> {
    let name = &args.kafka_backup;
    let api: Api<DynamicObject> = Api::namespaced_with(
        target.client.clone(),
        &target.namespace,
        &ApiResource::erase::<KafkaBackup>(&()),
    );
    // A merge patch of a missing object would be NotFound too, but in the server's words.
    get(&api, "KafkaBackup", name, &target.namespace).await?;
    let value = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let patch = json!({"metadata": {"annotations": {TRIGGER_ANNOTATION: value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.api()?;
    println!("kafkabackup.kafkabackup.com/{name} triggered: {TRIGGER_ANNOTATION}={value}");
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let waited = tokio::time::timeout(args.timeout, wait_for_run(api, name, &value)).await;
    let Ok(result) = waited else {
        bail!("the backup of KafkaBackup {name} did not end within {}s", args.timeout.as_secs());
    };
    let (id, run) = result?;
    let status = run["status"].as_str().unwrap_or("<unknown>");
    let records = run["records"].as_i64().map(|r| format!(", {r} records")).unwrap_or_default();
    match status {
        "Completed" => {
            println!("backup {id} Completed{records}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            let why = run["message"].as_str().unwrap_or("no message");
            eprintln!("error: backup {id} {status}: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Follows the KafkaBackup until the run started for `value` has ended: (its id, its record).
async fn wait_for_run(api: Api<DynamicObject>, name: &str, value: &str) -> anyhow::Result<(String, Value)> {
    let mut events = kube::runtime::watcher::watch_object(api, name).boxed();
    let mut run_id: Option<String> = None;
    while let Some(event) = events.next().await {
        let Some(object) = event.context("watching the KafkaBackup")? else {
            bail!("KafkaBackup {name} was deleted");
        };
        let status = &object.data["status"];
        if run_id.is_none() && status["lastTrigger"].as_str() == Some(value) {
            run_id = status["lastBackup"]["id"].as_str().map(str::to_string);
            if let Some(id) = &run_id {
                println!("backup {id} started");
            }
        }
        let Some(id) = &run_id else { continue };
        let records = std::iter::once(&status["lastBackup"])
            .chain(status["backupHistory"].as_array().into_iter().flatten());
        if let Some(run) = records.into_iter().find(|r| r["id"].as_str() == Some(id))
            && run["status"].as_str().is_some_and(|s| s != "Running")
        {
            return Ok((id.clone(), run.clone()));
        }
    }
    bail!("the watch of KafkaBackup {name} ended")
}
