//! The one binary of the product. Each subcommand is one role of the same image.

// The test licence key is public: a binary that trusts it gives Enterprise features to anyone.
// Optimized builds (release, dist: what images ship) refuse the feature outright, so no packaging
// mistake can turn it on there; hack/dist-build.sh proves this guard still fires.
#[cfg(all(feature = "test-license", not(debug_assertions)))]
compile_error!(
    "feature `test-license` trusts the public test licence key: it is for debug builds only, never release or dist"
);

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strimzi_backup_operator::api::offset_reset::GroupResetOutcome;
use strimzi_backup_operator::api::restore::{PointInTime, TopicMapping};
use strimzi_backup_operator::backup::BackupConfig;
use strimzi_backup_operator::config_flags::{self, ConfigFlags};
use strimzi_backup_operator::offset_reset::OffsetResetConfig;
use strimzi_backup_operator::operator::process;
use strimzi_backup_operator::operator::settings::Settings;
use strimzi_backup_operator::restore::RestoreConfig;
use strimzi_backup_operator::verify::VerifyConfig;

/// Back up and restore Apache Kafka on Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "strimzi-backup-operator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controllers (what the operator's Deployment runs). Settings come from the
    /// environment: STRIMZI_BACKUP_IMAGE (required), STRIMZI_BACKUP_NAMESPACE, POD_NAMESPACE.
    Operator {
        /// Where /metrics, /healthz and /readyz are served.
        #[arg(
            long,
            value_name = "ADDRESS",
            default_value = "0.0.0.0:9090",
            env = "STRIMZI_BACKUP_METRICS_ADDRESS"
        )]
        metrics_address: std::net::SocketAddr,
        /// Seconds the leader Lease holds without renewal before a standby replica takes over.
        #[arg(long, value_name = "SECONDS", default_value_t = 15, env = "STRIMZI_BACKUP_LEASE_SECONDS")]
        lease_seconds: u64,
        #[command(flatten)]
        webhook: WebhookFlags,
    },
    /// Issue a licence signed with the TEST key (test builds only: feature `test-license`;
    /// what `hack/license` runs). A release build has no such command and does not trust the key.
    #[cfg(feature = "test-license")]
    License {
        /// Customer the licence is for.
        #[arg(long, default_value = "Local Test")]
        customer: String,
        /// Licence id.
        #[arg(long, default_value = "test-0001")]
        id: String,
        /// Enterprise features granted (repeat; `*` for all).
        #[arg(long = "feature", default_value = "*")]
        features: Vec<String>,
        /// Days from now until it expires (negative: already expired).
        #[arg(long, default_value_t = 30, allow_hyphen_values = true)]
        days: i64,
    },
    /// Print the CustomResourceDefinitions of all kinds as YAML, or write them and their
    /// reference pages into directories.
    Crdgen {
        /// Write one `<group>_<plural>.yaml` file per CRD into this directory instead.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// Write the API reference into this directory: `<kind>.md` per CRD with every field,
        /// and `README.md` as the index (with or without --output-dir).
        #[arg(long, value_name = "DIR")]
        docs_dir: Option<PathBuf>,
    },
    /// Back up Kafka topics and consumer-group offsets to object storage (what backup Jobs run).
    /// Prints the result as JSON on stdout and, in a pod, as its termination message.
    Backup {
        /// Backup configuration (YAML or JSON; see docs/data-plane.md). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: ConfigFlags,
        /// Backup id to write (overrides the file's `backupId`).
        #[arg(long)]
        backup_id: Option<String>,
        /// Processes one backup runs across, each started alike with the same backup id
        /// (default: the config's `backup.workers`, else 1: the whole backup in this one). The
        /// last to finish its share commits.
        #[arg(long, value_name = "N")]
        workers: Option<u32>,
        /// Which of the `--workers` this is, from 0 (an Indexed Job's pod has it in
        /// JOB_COMPLETION_INDEX).
        #[arg(long, value_name = "I", env = "JOB_COMPLETION_INDEX")]
        worker_index: Option<u32>,
    },
    /// Restore topics and consumer-group offsets from a backup into a Kafka cluster (what restore
    /// Jobs run). Prints the result as JSON on stdout and, in a pod, a summary as its termination
    /// message. Running it again with the same restore id resumes without duplicating a record.
    Restore {
        /// Restore configuration (YAML or JSON; see docs/data-plane.md). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: ConfigFlags,
        /// Restore only records up to this RFC 3339 time (pointInTime.timestamp).
        #[arg(long, value_name = "TIME")]
        point_in_time: Option<String>,
        /// Restore a topic under another name, `source=target`; repeat for several
        /// (topicMapping).
        #[arg(long = "rename", value_name = "SOURCE=TARGET")]
        renames: Vec<String>,
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
        /// Restore also the older records that earlier backups of the same lineage still keep
        /// (`restore.scope: allRetained`), not only what Kafka held at the backup's cut.
        #[arg(long)]
        all_retained: bool,
        /// Processes one restore runs across, each started alike with the same restore id
        /// (default: the config's `restore.workers`, else 1). Worker 0 plans and, once every
        /// worker wrote its share, finishes (consumer-group offsets committed once).
        #[arg(long, value_name = "N")]
        workers: Option<u32>,
        /// Which of the `--workers` this is, from 0 (an Indexed Job's pod has it in
        /// JOB_COMPLETION_INDEX).
        #[arg(long, value_name = "I", env = "JOB_COMPLETION_INDEX")]
        worker_index: Option<u32>,
    },
    /// Move the committed offsets of consumer groups (what offset-reset Jobs run). Prints the
    /// per-group result and the snapshot of the offsets from before (for to-snapshot rollback).
    OffsetReset {
        /// Offset reset configuration (YAML or JSON; see docs/data-plane.md). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Work out the new offsets and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete every backup at a storage location (what the cleanup Job of a KafkaBackup with
    /// `deletionPolicy: Delete` runs when the resource is deleted). Prints the ids deleted.
    Delete {
        /// Storage configuration (a backup config file works as is). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: ConfigFlags,
    },
    /// List the restore points at a storage location (what the sync Jobs of a KafkaBackupLocation
    /// run): the ids there, and a summary of each one not in the config's `known` list.
    Sync {
        /// Sync configuration (YAML or JSON; see docs/data-plane.md). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: ConfigFlags,
    },
    /// Restore drill: restore a backup into scratch topics, read them back, compare them record
    /// for record with the backup, and delete them. Exits non-zero when a record differs.
    Drill {
        /// Drill configuration (YAML or JSON; see docs/data-plane.md). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: ConfigFlags,
    },
    /// Right to be forgotten: remove the records a selection names (keys, headers, time range)
    /// from every kept restore point at a storage location (what KafkaDataErasure Jobs run). Each
    /// affected segment is written anew without them and each affected restore point gets a new
    /// manifest revision; then the superseded segments are deleted. Prints the erasure report
    /// (key digests, never keys). Running it again with the same erasure id resumes.
    Erase {
        /// Erasure configuration (YAML or JSON; see docs/data-plane.md).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: ConfigFlags,
        /// Erasure id (overrides the file's `erasureId`).
        #[arg(long)]
        erasure_id: Option<String>,
    },
    /// Check a stored backup end to end: checksums, record counts, offset order and coverage.
    /// Exits non-zero and names object and byte/offset of every problem.
    Verify {
        /// Storage configuration (a backup config file works as is). Holds no secrets.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: ConfigFlags,
        /// Backup to check (default: the latest).
        #[arg(long)]
        backup_id: Option<String>,
    },
    /// Check the audit log's hash chain in its PostgreSQL database (docs/enterprise.md): prints
    /// the rows checked; exits non-zero naming the first row changed, deleted or out of order.
    /// The URL (password included) is read from a file or STRIMZI_BACKUP_AUDIT_URL, never an
    /// argument.
    VerifyAudit {
        /// File holding the database URL (e.g. the audit Secret's `url` key, mounted).
        #[arg(long, value_name = "FILE", env = "STRIMZI_BACKUP_AUDIT_URL_FILE")]
        url_file: Option<PathBuf>,
        /// CA certificate of the database server (the audit Secret's `ca.crt`).
        #[arg(long, value_name = "FILE", env = "STRIMZI_BACKUP_AUDIT_CA_FILE")]
        ca_file: Option<PathBuf>,
    },
}

/// The admission webhook server's flags (`operator`).
#[derive(Debug, clap::Args)]
struct WebhookFlags {
    /// Where the admission webhooks are served (HTTPS).
    #[arg(
        long,
        value_name = "ADDRESS",
        default_value = "0.0.0.0:9443",
        env = "STRIMZI_BACKUP_WEBHOOK_ADDRESS"
    )]
    webhook_address: std::net::SocketAddr,
    /// Directory with the serving certificate `tls.crt` and key `tls.key` (OLM and cert-manager
    /// mount them here); read again when they change.
    #[arg(
        long,
        value_name = "DIR",
        default_value = strimzi_backup_webhook::certs::DEFAULT_DIR,
        env = "STRIMZI_BACKUP_WEBHOOK_CERT_DIR"
    )]
    webhook_cert_dir: PathBuf,
    /// Make a CA and a serving certificate into the certificate directory at start (local runs
    /// without OLM or cert-manager); the CA is written there as `ca.crt` for the registration.
    #[arg(long)]
    webhook_self_signed: bool,
    /// DNS name or IP address of the self-signed certificate (repeat).
    #[arg(long = "webhook-host", value_name = "NAME", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
    webhook_hosts: Vec<String>,
    /// Run without the admission webhook server.
    #[arg(long, env = "STRIMZI_BACKUP_DISABLE_WEBHOOK")]
    disable_webhook: bool,
}

impl WebhookFlags {
    fn options(self) -> Option<process::WebhookOptions> {
        (!self.disable_webhook).then_some(process::WebhookOptions {
            address: self.webhook_address,
            cert_dir: self.webhook_cert_dir,
            self_signed: self.webhook_self_signed,
            hosts: self.webhook_hosts,
        })
    }
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
    // Colours only on a terminal: in a pod the log goes to a file that `kubectl logs`, log
    // collectors and grep read, where escape codes are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

async fn backup(
    config: Option<&Path>,
    flags: &ConfigFlags,
    backup_id: Option<String>,
    slot: (Option<u32>, Option<u32>),
) -> anyhow::Result<()> {
    use strimzi_backup_operator::backup::{Outcome, Slot};
    let mut cfg: BackupConfig = config_flags::read(flags.merge(config, true)?, "backup")?;
    cfg.backup_id = backup_id.or(cfg.backup_id);
    if cfg.backup.mode == strimzi_backup_operator::api::backup::BackupMode::Continuous {
        return strimzi_backup_operator::backup::continuous::main(cfg).await;
    }
    // `--workers` over the config's `backup.workers` (the operator passes both alike).
    let workers = slot.0.unwrap_or_else(|| u32::try_from(cfg.backup.workers).unwrap_or(1).max(1));
    let slot = Slot { workers, index: slot.1.unwrap_or(0) };
    match strimzi_backup_operator::backup::run_worker(&cfg, slot).await? {
        Outcome::Committed(result) => report(&result, &result.summary()),
        // This worker's share is stored; another worker commits the backup.
        Outcome::PartDone(line) => report(&line, &line),
    }
}

/// Prints a run's last line (`line` as JSON on stdout) and leaves `message` as the pod's
/// termination message: a worker's whole result and its summary, or its share line twice.
fn report(line: &impl serde::Serialize, message: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(line)?);
    termination_message(&serde_json::to_string(message)?);
    Ok(())
}

/// What `restore` is told besides the config file and the common flags.
struct RestoreFlags {
    backup_id: Option<String>,
    restore_id: Option<String>,
    point_in_time: Option<String>,
    renames: Vec<String>,
    dry_run: bool,
    all_retained: bool,
    /// `--workers`, `--worker-index`.
    slot: (Option<u32>, Option<u32>),
}

async fn restore(config: Option<&Path>, flags: &ConfigFlags, extra: RestoreFlags) -> anyhow::Result<()> {
    let mut cfg: RestoreConfig = config_flags::read(flags.merge(config, true)?, "restore")?;
    cfg.backup_id = extra.backup_id.or(cfg.backup_id);
    cfg.restore_id = extra.restore_id.or(cfg.restore_id);
    cfg.restore.dry_run |= extra.dry_run;
    if extra.all_retained {
        cfg.restore.scope = strimzi_backup_operator::api::restore::RestoreScope::AllRetained;
    }
    if let Some(timestamp) = extra.point_in_time {
        cfg.point_in_time = Some(PointInTime { timestamp: Some(timestamp), offset_from_end: None });
    }
    for rename in extra.renames {
        let (source, target) = rename
            .split_once('=')
            .filter(|(s, t)| !s.is_empty() && !t.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--rename {rename}: expected source=target"))?;
        cfg.topic_mapping.push(TopicMapping {
            source_topic: source.into(),
            target_topic: target.into(),
            partitions: None,
        });
    }
    use strimzi_backup_operator::restore::{Outcome, workers::Slot};
    // `--workers` over the config's `restore.workers` (the operator passes both alike).
    let workers = extra.slot.0.unwrap_or_else(|| u32::try_from(cfg.restore.workers).unwrap_or(1).max(1));
    let slot = Slot { workers, index: extra.slot.1.unwrap_or(0) };
    match strimzi_backup_operator::restore::run_worker(&cfg, slot).await? {
        Outcome::Finished(result) => report(&result, &result.summary()),
        // This worker's share is written; worker 0 finishes the restore.
        Outcome::PartDone(line) => report(&line, &line),
    }
}

async fn offset_reset(config: &Path, dry_run: bool) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(config).map_err(|e| anyhow::anyhow!("reading {}: {e}", config.display()))?;
    let mut cfg: OffsetResetConfig = serde_yaml_ng::from_str(&text)
        .map_err(|e| anyhow::anyhow!("offset-reset config {}: {e}", config.display()))?;
    cfg.dry_run |= dry_run;
    let result = strimzi_backup_operator::offset_reset::run(&cfg).await?;
    let json = serde_json::to_string(&result)?;
    println!("{json}");
    termination_message(&json);
    anyhow::ensure!(
        !result.groups.iter().any(|g| g.outcome == GroupResetOutcome::Failed),
        "{} group(s) failed",
        result.groups.iter().filter(|g| g.outcome == GroupResetOutcome::Failed).count()
    );
    Ok(())
}

async fn verify(config: Option<&Path>, flags: &ConfigFlags, backup_id: Option<String>) -> anyhow::Result<()> {
    let mut cfg: VerifyConfig = config_flags::read(flags.merge(config, false)?, "verify")?;
    cfg.backup_id = backup_id.or(cfg.backup_id);
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

async fn erase(config: Option<&Path>, flags: &ConfigFlags, erasure_id: Option<String>) -> anyhow::Result<()> {
    let mut cfg: strimzi_backup_operator::erase::EraseConfig =
        config_flags::read(flags.merge(config, false)?, "erase")?;
    if let Some(id) = erasure_id {
        cfg.erasure_id = id;
    }
    let report = strimzi_backup_operator::erase::run(&cfg).await?;
    println!("{}", serde_json::to_string(&report)?);
    termination_message(&serde_json::to_string(&report.summary())?);
    match &report.deletion_pending {
        None => Ok(()),
        Some(why) => anyhow::bail!("erasure {} is not finished: {why}", report.erasure_id),
    }
}

async fn sync(config: Option<&Path>, flags: &ConfigFlags) -> anyhow::Result<()> {
    let cfg: strimzi_backup_operator::sync::SyncConfig =
        config_flags::read(flags.merge(config, false)?, "sync")?;
    let result = strimzi_backup_operator::sync::run(&cfg).await?;
    println!("{}", serde_json::to_string(&result)?);
    termination_message(&serde_json::to_string(&result.summary())?);
    Ok(())
}

async fn drill(config: Option<&Path>, flags: &ConfigFlags) -> anyhow::Result<()> {
    let cfg: strimzi_backup_operator::drill::DrillConfig =
        config_flags::read(flags.merge(config, true)?, "drill")?;
    let result = strimzi_backup_operator::drill::run(&cfg).await?;
    println!("{}", serde_json::to_string(&result)?);
    termination_message(&serde_json::to_string(&result.summary())?);
    anyhow::ensure!(result.passed(), "the drill found the restore differing from the backup");
    Ok(())
}

async fn delete(config: Option<&Path>, flags: &ConfigFlags) -> anyhow::Result<()> {
    let cfg: VerifyConfig = config_flags::read(flags.merge(config, false)?, "delete")?;
    let storage = strimzi_backup_operator::storage::open(&cfg.storage, &cfg.filesystem_root)?;
    let owner = cfg.owner.clone().unwrap_or_else(strimzi_backup_operator::location::Owner::cli);
    strimzi_backup_operator::location::claim(&storage, &owner, None, cfg.take_over_location).await?;
    let deleted = strimzi_backup_operator::catalog::delete_all(&storage).await?;
    let json = serde_json::json!({ "location": storage.location, "deleted": deleted }).to_string();
    println!("{json}");
    termination_message(&json);
    Ok(())
}

async fn verify_audit(target: strimzi_backup_operator::audit::verify::Target) -> anyhow::Result<()> {
    let report = strimzi_backup_operator::audit::verify::run(&target).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Prints a licence token signed with the test key.
#[cfg(feature = "test-license")]
fn test_license(customer: String, id: String, features: Vec<String>, days: i64) -> anyhow::Result<()> {
    use strimzi_backup_operator::license::{self, Claims, Edition};
    let now = chrono::Utc::now();
    let (issued_at, expires_at) = if days > 0 {
        (now, now + chrono::Duration::days(days))
    } else {
        (now + chrono::Duration::days(days - 1), now + chrono::Duration::days(days))
    };
    let claims = Claims { id, customer, edition: Edition::Enterprise, features, issued_at, expires_at };
    println!("{}", license::issue(&claims, &license::test_key::SEED).map_err(anyhow::Error::msg)?);
    Ok(())
}

/// `crdgen` with directories: the CRD files into `output_dir`, the reference pages into
/// `docs_dir`, each when given.
fn crdgen_write(output_dir: Option<&Path>, docs_dir: Option<&Path>) -> anyhow::Result<()> {
    use strimzi_backup_operator::crdgen;
    let mut written = Vec::new();
    if let Some(dir) = output_dir {
        written.extend(crdgen::write_all(dir)?);
    }
    if let Some(dir) = docs_dir {
        written.extend(crdgen::docs::write_all(dir)?);
    }
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Runs one data-plane command on a fresh runtime.
fn block_on(f: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    init_tracing();
    tokio::runtime::Runtime::new()?.block_on(f)
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per core), and memory
/// freed on another thread than the one that allocated it stays in that arena. librdkafka's
/// threads allocate every fetched record and our tasks free them, so with the default the peak
/// RSS of a backup was a third higher for no benefit. Two arenas keep that in check.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "test-license")]
        Command::License { customer, id, features, days } => test_license(customer, id, features, days),
        Command::Crdgen { output_dir: None, docs_dir: None } => {
            strimzi_backup_operator::crdgen::render_all().map(|yaml| print!("{yaml}"))
        }
        Command::Crdgen { output_dir, docs_dir } => crdgen_write(output_dir.as_deref(), docs_dir.as_deref()),
        Command::Operator { metrics_address, lease_seconds, webhook } => block_on(async move {
            let settings = Settings::from_env(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
            let options = process::Options { metrics_address, lease_seconds, webhook: webhook.options() };
            process::run(settings, options).await
        }),
        Command::Backup { config, flags, backup_id, workers, worker_index } => {
            block_on(backup(config.as_deref(), &flags, backup_id, (workers, worker_index)))
        }
        Command::Restore {
            config,
            flags,
            point_in_time,
            renames,
            backup_id,
            restore_id,
            dry_run,
            all_retained,
            workers,
            worker_index,
        } => {
            let slot = (workers, worker_index);
            let extra =
                RestoreFlags { backup_id, restore_id, point_in_time, renames, dry_run, all_retained, slot };
            block_on(restore(config.as_deref(), &flags, extra))
        }
        Command::OffsetReset { config, dry_run } => block_on(offset_reset(&config, dry_run)),
        Command::Delete { config, flags } => block_on(delete(config.as_deref(), &flags)),
        Command::Sync { config, flags } => block_on(sync(config.as_deref(), &flags)),
        Command::Drill { config, flags } => block_on(drill(config.as_deref(), &flags)),
        Command::Erase { config, flags, erasure_id } => {
            block_on(erase(config.as_deref(), &flags, erasure_id))
        }
        Command::Verify { config, flags, backup_id } => {
            block_on(verify(config.as_deref(), &flags, backup_id))
        }
        Command::VerifyAudit { url_file, ca_file } => {
            block_on(verify_audit(strimzi_backup_operator::audit::verify::Target { url_file, ca_file }))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            // A refusal's message leads with its reason, which the operator reads back.
            match strimzi_backup_operator::refusal::Refusal::find(&err) {
                Some(refusal) => {
                    termination_message(&format!("error: {refusal}"));
                    ExitCode::from(strimzi_backup_operator::refusal::EXIT_CODE)
                }
                None => {
                    termination_message(&format!("error: {err:#}"));
                    ExitCode::FAILURE
                }
            }
        }
    }
}
