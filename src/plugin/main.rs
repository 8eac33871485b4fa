//! `kubectl kafkabackup`: the kubectl plugin (issue 15 §5). kubectl runs any `kubectl-<name>` on
//! the PATH, so this binary is the whole plugin; docs/kubectl-plugin.md is its manual.
//!
//! A plain kube client: it reads and writes the operator's resources through the API server and
//! never touches Kafka or storage itself (nothing of the data plane runs here). Map:
//! - `main` (this file): the command line and dispatch; errors become one `error: ...` line on
//!   stderr and exit code 1 (usage errors: 2, as clap gives them).
//! - [`client`]: the client from `--kubeconfig`/`--context`/`-n`, and API errors in kubectl's words.
//! - [`output`]: tables, sizes, ages, `-o json|yaml`.
//! - [`list`], [`describe`]: the catalog of `KafkaRestorePoint`s and one point in full.
//! - [`restore`] (with [`to`] for `--to`): writing a `KafkaRestore` and waiting for its plan.
//! - [`watch`] (with [`progress`]): a restore's live progress until it ends.
//! - [`trigger`]: `backup KB`, a backup now.
//! - [`drill`]: `drill KB`, a restore drill now (a `KafkaRestoreDrill` triggered or created).

mod client;
mod describe;
mod drill;
mod list;
mod output;
mod progress;
mod restore;
mod to;
mod trigger;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Restore points, restores and backups of strimzi-backup-operator, from kubectl.
#[derive(Parser, Debug)]
#[command(name = "kubectl kafkabackup", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    kube: client::KubeFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The catalog of restore points: of a KafkaBackup, of a KafkaBackupLocation, or all of them.
    List(list::Args),
    /// One restore point in full: topics, gaps, lineage, verification, recoverability window.
    Describe(describe::Args),
    /// Write a KafkaRestore and print its plan.
    Restore(Box<restore::Args>),
    /// Follow a KafkaRestore until it ends: records, records/s, MB/s and ETA.
    Watch(watch::Args),
    /// Run a backup of a KafkaBackup now.
    Backup(trigger::Args),
    /// Run a restore drill of a KafkaBackup (or KafkaBackupLocation) now.
    Drill(Box<drill::Args>),
    /// Print the plugin's version.
    Version(VersionArgs),
}

#[derive(clap::Args, Debug)]
struct VersionArgs {
    /// Output format: json or yaml (default: text).
    #[arg(short = 'o', long = "output")]
    output: Option<output::Format>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", client::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Version(v) = &cli.command {
        let version = serde_json::json!({"clientVersion": env!("CARGO_PKG_VERSION")});
        match v.output {
            Some(f) => output::print_object(f, &version)?,
            None => println!("kubectl-kafkabackup {}", env!("CARGO_PKG_VERSION")),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let target = client::connect(&cli.kube).await?;
    match cli.command {
        Command::List(a) => list::run(&target, a).await,
        Command::Describe(a) => describe::run(&target, a).await,
        Command::Restore(a) => restore::run(&target, *a).await,
        Command::Watch(a) => watch::run(&target, a).await,
        Command::Backup(a) => trigger::run(&target, a).await,
        Command::Drill(a) => drill::run(&target, *a).await,
        Command::Version(_) => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
