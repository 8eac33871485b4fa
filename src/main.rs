//! The one binary of the product. Each subcommand is one role of the same image.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Back up and restore Apache Kafka on Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "strimzi-backup-operator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions of all kinds as YAML.
    Crdgen {
        /// Write one `<group>_<plural>.yaml` file per CRD into this directory instead.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
    /// Back up Kafka topics and consumer-group offsets to object storage (what backup Jobs run).
    /// Prints the result as JSON on stdout and, in a pod, as its termination message.
    Backup {
        /// Backup configuration (YAML or JSON; see docs/data-plane.md). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Backup id to write (overrides the file's `backupId`).
        #[arg(long)]
        backup_id: Option<String>,
    },
    /// Restore topics and consumer-group offsets from a backup into a Kafka cluster (what restore
    /// Jobs run). Prints the result as JSON on stdout and, in a pod, a summary as its termination
    /// message. Running it again with the same restore id resumes without duplicating a record.
    Restore {
        /// Restore configuration (YAML or JSON; see docs/data-plane.md). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Backup to restore (overrides the file's `backupId`; default: the latest).
        #[arg(long)]
        backup_id: Option<String>,
        /// Names the run's resume state (overrides the file's `restoreId`); give the id of an
        /// interrupted run to resume it.
        #[arg(long)]
        restore_id: Option<String>,
        /// Work out what would be restored and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check a stored backup end to end: checksums, record counts, offset order and coverage.
    /// Exits non-zero and names object and byte/offset of every problem.
    Verify {
        /// Storage configuration (a backup config file works as is). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Backup to check (default: the latest).
        #[arg(long)]
        backup_id: Option<String>,
    },
}

/// Where Kubernetes reads a container's termination message from.
const TERMINATION_LOG: &str = "/dev/termination-log";

/// Writes the termination message when running in a pod (the file exists there); the message is
/// what the operator reads back, so it is the JSON result or the error.
fn termination_message(message: &str) {
    if Path::new(TERMINATION_LOG).exists() {
        // Kubernetes keeps at most 4096 bytes.
        let cut = message.char_indices().map(|(i, _)| i).take_while(|i| *i <= 4096).last().unwrap_or(0);
        let message = if message.len() > 4096 { &message[..cut] } else { message };
        if let Err(e) = std::fs::write(TERMINATION_LOG, message) {
            eprintln!("warning: cannot write {TERMINATION_LOG}: {e}");
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRIMZI_BACKUP_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn backup(config: &Path, backup_id: Option<String>) -> anyhow::Result<()> {
    let mut cfg = strimzi_backup_operator::backup::BackupConfig::load(config)?;
    if backup_id.is_some() {
        cfg.backup_id = backup_id;
    }
    let result = strimzi_backup_operator::backup::run(&cfg).await?;
    let json = serde_json::to_string(&result)?;
    println!("{json}");
    termination_message(&json);
    Ok(())
}

async fn restore(
    config: &Path,
    backup_id: Option<String>,
    restore_id: Option<String>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let mut cfg = strimzi_backup_operator::restore::RestoreConfig::load(config)?;
    cfg.backup_id = backup_id.or(cfg.backup_id);
    cfg.restore_id = restore_id.or(cfg.restore_id);
    cfg.restore.dry_run |= dry_run;
    let result = strimzi_backup_operator::restore::run(&cfg).await?;
    println!("{}", serde_json::to_string(&result)?);
    termination_message(&serde_json::to_string(&result.summary())?);
    Ok(())
}

async fn verify(config: &Path, backup_id: Option<String>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(config).map_err(|e| anyhow::anyhow!("reading {}: {e}", config.display()))?;
    let mut cfg: strimzi_backup_operator::verify::VerifyConfig =
        serde_yaml_ng::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    if backup_id.is_some() {
        cfg.backup_id = backup_id;
    }
    let report = strimzi_backup_operator::verify::verify(&cfg).await?;
    let json = serde_json::to_string(&report)?;
    println!("{json}");
    termination_message(&json);
    if report.problems.is_empty() {
        return Ok(());
    }
    for p in &report.problems {
        eprintln!("problem: {p}");
    }
    anyhow::bail!("backup {} has {} problem(s)", report.backup_id, report.problems.len())
}

/// Runs one data-plane command on a fresh runtime.
fn block_on(f: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    init_tracing();
    tokio::runtime::Runtime::new()?.block_on(f)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crdgen { output_dir: None } => {
            strimzi_backup_operator::crdgen::render_all().map(|yaml| print!("{yaml}"))
        }
        Command::Crdgen { output_dir: Some(dir) } => {
            strimzi_backup_operator::crdgen::write_all(&dir).map(|paths| {
                for p in paths {
                    eprintln!("wrote {}", p.display());
                }
            })
        }
        Command::Backup { config, backup_id } => block_on(backup(&config, backup_id)),
        Command::Restore { config, backup_id, restore_id, dry_run } => {
            block_on(restore(&config, backup_id, restore_id, dry_run))
        }
        Command::Verify { config, backup_id } => block_on(verify(&config, backup_id)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let message = format!("error: {err:#}");
            eprintln!("{message}");
            termination_message(&message);
            ExitCode::FAILURE
        }
    }
}
