//! `pod-harness`: test-only code that stands in for a kubelet on the local control plane
//! (etcd + kube-apiserver + kube-controller-manager, no kubelet, no container engine), so that
//! Jobs really run. See `strimzi_backup_e2e::kubelet` for what it does and does not do.
//!
//! Runs until SIGTERM / SIGINT, then stops its pods' processes (SIGTERM, SIGKILL after a grace)
//! and exits 0.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Parser;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use strimzi_backup_e2e::kubelet::logs::LogServerConfig;
use strimzi_backup_e2e::kubelet::{self, HarnessConfig, ImageEntrypoint, ImageUser};
use tracing::{error, info};

/// Test-only stand-in for a kubelet: binds pods to one node and runs them as host processes.
#[derive(Debug, Parser)]
#[command(name = "pod-harness", version, about, long_about = None)]
struct Cli {
    /// Kubeconfig of the cluster (first path of KUBECONFIG when not given).
    #[arg(long, env = "KUBECONFIG", value_name = "PATH")]
    kubeconfig: PathBuf,

    /// Name of the Node the harness registers and runs pods for.
    #[arg(long, default_value = "harness")]
    node_name: String,

    /// Directory for per-pod state: volumes, logs, termination messages.
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,

    /// Directory of our built binaries: a command whose file name exists here runs from here.
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,

    /// PATTERN=PATH: containers without `command` whose image contains PATTERN (or matches it as
    /// a glob with `*`/`?`) run PATH. Repeatable.
    #[arg(long = "image-entrypoint", value_name = "PATTERN=PATH")]
    image_entrypoints: Vec<ImageEntrypoint>,

    /// PATTERN=UID[:GID]: containers whose image contains PATTERN (or matches it as a glob) run as
    /// UID (GID, default 0) unless their securityContext names a user; the first match wins, and
    /// these come before the built-in ones (our image: 1001:0, busybox: 0:0). Images matching
    /// none run as 65532:65532, never as root. Repeatable.
    #[arg(long = "image-user", value_name = "PATTERN=UID[:GID]")]
    image_users: Vec<ImageUser>,

    /// What pods get as KUBERNETES_SERVICE_HOST.
    #[arg(long, default_value = "127.0.0.1")]
    apiserver_host: String,

    /// What pods get as KUBERNETES_SERVICE_PORT (default: the port of the kubeconfig's server).
    #[arg(long)]
    apiserver_port: Option<u16>,

    /// Host directory backing PersistentVolumeClaims (`<DIR>/<namespace>/<claim>`).
    #[arg(long, value_name = "DIR")]
    pvc_root: Option<PathBuf>,

    /// Longest wait between SIGTERM and SIGKILL for the pods' processes when the harness stops.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    shutdown_grace_seconds: u64,

    /// Port on 127.0.0.1 of the kubelet API (container logs, HTTPS), advertised as the node's
    /// kubelet port, so that `kubectl logs` works through the apiserver. Without it there is no
    /// such server and the node advertises port 0. Needs --tls-cert-file and --tls-private-key-file.
    #[arg(long, value_name = "PORT", requires_all = ["tls_cert_file", "tls_private_key_file"])]
    kubelet_port: Option<u16>,

    /// Serving certificate (PEM) of the kubelet API; must be valid for IP 127.0.0.1.
    #[arg(long, value_name = "PATH")]
    tls_cert_file: Option<PathBuf>,

    /// Private key (PEM) of --tls-cert-file.
    #[arg(long, value_name = "PATH")]
    tls_private_key_file: Option<PathBuf>,

    /// CA (PEM) whose client certificates the kubelet API accepts (it requires one: the
    /// apiserver's --kubelet-client-certificate). Default: the cluster CA of the kubeconfig.
    #[arg(long, value_name = "PATH")]
    client_ca_file: Option<PathBuf>,

    /// Do not serve Service ClusterIPs (the harness's stand-in for kube-proxy forwards
    /// `<clusterIP>:<port>` in 127.0.0.0/8 to the ready pods it runs).
    #[arg(long)]
    no_service_proxy: bool,
}

/// The PEM of the current context's cluster CA.
fn cluster_ca(kubeconfig: &Kubeconfig, kubeconfig_path: &Path) -> anyhow::Result<Vec<u8>> {
    let context_name = kubeconfig.current_context.clone().context("the kubeconfig has no current-context")?;
    let cluster_name = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .with_context(|| format!("context {context_name:?} not found in the kubeconfig"))?;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .with_context(|| format!("cluster {cluster_name:?} not found in the kubeconfig"))?;
    if let Some(data) = &cluster.certificate_authority_data {
        return base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .context("certificate-authority-data is not base64");
    }
    if let Some(file) = &cluster.certificate_authority {
        let mut path = PathBuf::from(file);
        if path.is_relative()
            && let Some(dir) = kubeconfig_path.parent()
        {
            path = dir.join(path);
        }
        return std::fs::read(&path).with_context(|| format!("reading the CA {}", path.display()));
    }
    bail!("cluster {cluster_name:?} of the kubeconfig has no certificate authority")
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let kubeconfig_path = cli
        .kubeconfig
        .to_str()
        .and_then(|s| s.split(':').find(|p| !p.is_empty()))
        .map(PathBuf::from)
        .unwrap_or_else(|| cli.kubeconfig.clone());
    let kubeconfig = Kubeconfig::read_from(&kubeconfig_path)
        .with_context(|| format!("reading the kubeconfig {}", kubeconfig_path.display()))?;
    let ca_crt = cluster_ca(&kubeconfig, &kubeconfig_path)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .context("loading the kubeconfig")?;
    let apiserver_port = match cli.apiserver_port {
        Some(p) => p,
        None => config.cluster_url.port_u16().unwrap_or(443),
    };
    let client = Client::try_from(config).context("creating the Kubernetes client")?;
    let log_server = match (cli.kubelet_port, cli.tls_cert_file, cli.tls_private_key_file) {
        (Some(port), Some(cert_file), Some(key_file)) => Some(LogServerConfig {
            port,
            cert_file,
            key_file,
            client_ca: match &cli.client_ca_file {
                Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                None => ca_crt.clone(),
            },
        }),
        (Some(_), _, _) => bail!("--kubelet-port needs --tls-cert-file and --tls-private-key-file"),
        (None, _, _) => None,
    };
    let state_dir = std::path::absolute(&cli.state_dir)?;
    let cfg = HarnessConfig {
        node_name: cli.node_name,
        pvc_root: match cli.pvc_root {
            Some(p) => std::path::absolute(p)?,
            None => state_dir.join("pvc"),
        },
        state_dir,
        bin_dir: cli.bin_dir.map(std::path::absolute).transpose()?,
        image_entrypoints: cli.image_entrypoints,
        image_users: cli.image_users.into_iter().chain(kubelet::user::default_image_users()).collect(),
        apiserver_host: cli.apiserver_host,
        apiserver_port,
        ca_crt,
        shutdown_grace: Duration::from_secs(cli.shutdown_grace_seconds),
        log_server,
        service_proxy: !cli.no_service_proxy,
    };
    info!(
        node = %cfg.node_name,
        state_dir = %cfg.state_dir.display(),
        apiserver = %format!("{}:{}", cfg.apiserver_host, cfg.apiserver_port),
        kubelet_port = cfg.log_server.as_ref().map(|l| l.port).unwrap_or(0),
        service_proxy = cfg.service_proxy,
        "pod-harness starting (test-only kubelet stand-in)"
    );
    kubelet::run(client, cfg, shutdown_signal()).await
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    // Explicit, so that a workspace build enabling both rustls providers (ring and aws-lc-rs)
    // does not leave the client without a default. An already installed provider is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
