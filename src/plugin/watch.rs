//! `watch KR`: follows a `KafkaRestore` through the API server's watch until its phase is final.
//! Exit 0 when it completes, 1 when it fails (with its `Ready` message) or disappears. Status is
//! read as plain JSON (`phase`, `progress`), so fields an operator adds later do no harm.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use strimzi_backup_operator::api::KafkaRestore;

use crate::client::{Target, get};
use crate::progress::{self, Sample};
use crate::restore::ready_message;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The KafkaRestore.
    #[arg(value_name = "KAFKARESTORE")]
    restore: String,
    /// Give up after this long (e.g. 30m); default: wait until the restore ends.
    #[arg(long, value_parser = crate::restore::parse_duration)]
    timeout: Option<Duration>,
}

pub async fn run(target: &Target, args: Args) -> anyhow::Result<ExitCode> {
    let name = &args.restore;
    let api: Api<DynamicObject> = Api::namespaced_with(
        target.client.clone(),
        &target.namespace,
        &ApiResource::erase::<KafkaRestore>(&()),
    );
    get(&api, "KafkaRestore", name, &target.namespace).await?;
    let follow = follow(api, name);
    match args.timeout {
        None => follow.await,
        Some(t) => tokio::time::timeout(t, follow)
            .await
            .unwrap_or_else(|_| bail!("KafkaRestore {name} did not end within {}s", t.as_secs())),
    }
}

async fn follow(api: Api<DynamicObject>, name: &str) -> anyhow::Result<ExitCode> {
    let terminal = std::io::stdout().is_terminal();
    let mut events = kube::runtime::watcher::watch_object(api, name).boxed();
    let mut first: Option<Sample> = None;
    let mut shown = String::new();
    while let Some(event) = events.next().await {
        let Some(object) = event.context("watching the KafkaRestore")? else {
            end_line(terminal, &shown);
            bail!("KafkaRestore {name} was deleted");
        };
        let status = &object.data["status"];
        let phase = status["phase"].as_str().unwrap_or("Pending");
        let line = match Sample::read(status, Utc::now()) {
            Some(latest) => progress::line(first.get_or_insert(latest), &latest),
            None => phase.to_string(),
        };
        if line != shown {
            if terminal {
                print!("\r{line}\x1b[K");
            } else {
                println!("{line}");
            }
            let _ = std::io::stdout().flush();
            shown = line;
        }
        match phase {
            "Completed" => {
                end_line(terminal, &shown);
                let records =
                    status["restore"]["restoredRecords"].as_i64().map(|r| format!(": {r} records restored"));
                println!("KafkaRestore {name} Completed{}", records.unwrap_or_default());
                return Ok(ExitCode::SUCCESS);
            }
            "Failed" => {
                end_line(terminal, &shown);
                let why = ready_message(status).unwrap_or_else(|| "no message".into());
                eprintln!("error: KafkaRestore {name} Failed: {why}");
                return Ok(ExitCode::FAILURE);
            }
            _ => {}
        }
    }
    bail!("the watch of KafkaRestore {name} ended")
}

/// A redrawn line ends before anything else prints.
fn end_line(terminal: bool, shown: &str) {
    if terminal && !shown.is_empty() {
        println!();
    }
}
