//! `webhook-bench`: admission latency and throughput over TLS on loopback (run by `make bench`).
//! Prints figures; asserts nothing about speed, only that every answer is the expected one.
//!
//! Two servers are loaded the same way, one after the other, by the load tool `oha`:
//! - the baseline: a trivial axum handler that allows everything, served in this process through
//!   the same TLS stack as the operator (`strimzi_backup_webhook::server::serve` with a
//!   `CertStore` and a self-signed certificate), so what separates it from the real server is
//!   the admission work: reading the review, the rules, the Secret lookup, the answer;
//! - the real one: the operator binary given by `--operator`, started against the local
//!   environment in a fresh namespace that holds the Secret the validated object names, so the
//!   validating webhook's Secret lookup finds it, as it would for a correct object.
//!
//! Each is driven over HTTP/2 (what the API server speaks to webhooks that offer it) and over
//! HTTP/1.1, with a validating CREATE of a realistic `KafkaBackup` and a mutating CREATE of a
//! minimal one, at a fixed rate (`--rate`, latency measured from when each request was due, so a
//! stalled server is not hidden) and at the highest rate it sustains with `--concurrency`
//! requests in flight. On 2 cores the load tool, the server, kube-apiserver and etcd share the
//! machine, so the table also says where the CPU went.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use clap::Parser;
use futures::FutureExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, GetParams, PostParams};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use serde_json::{Value, json};
use strimzi_backup_e2e::fixtures::Cluster;
use strimzi_backup_e2e::operator::{Operator, metrics_text};
use strimzi_backup_e2e::procfs::{cpu_seconds, status_mib};
use strimzi_backup_operator::admission::{Admission, webhooks};
use strimzi_backup_operator::operator::license::InstalledLicense;
use strimzi_backup_webhook::self_signed::{self, CA_FILE};
use strimzi_backup_webhook::{CertStore, review, server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Parser)]
struct Cli {
    /// The operator binary whose webhook server is measured.
    #[arg(long, default_value = "target/release/strimzi-backup-operator")]
    operator: PathBuf,
    /// The load tool (`hack/tools.sh oha` builds it and exports OHA_BIN).
    #[arg(long, env = "OHA_BIN", default_value = "oha")]
    oha: PathBuf,
    /// Requests per second of the fixed-rate runs.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Seconds each fixed-rate run lasts.
    #[arg(long, default_value_t = 20)]
    rate_seconds: u64,
    /// Seconds each max-throughput run lasts.
    #[arg(long, default_value_t = 10)]
    max_seconds: u64,
    /// Requests in flight: HTTP/1.1 connections, or HTTP/2 streams spread over `--h2-connections`.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// HTTP/2 connections (the API server keeps few and multiplexes on them).
    #[arg(long, default_value_t = 2)]
    h2_connections: usize,
}

/// The Secret the validated object names.
const SECRET: &str = "backup-s3-credentials";
const VALIDATE: &str = "/validate-kafkabackup-com-v1alpha1-kafkabackup";
const MUTATE: &str = "/mutate-kafkabackup-com-v1alpha1-kafkabackup";
/// How long a server gets to come up and answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Protocol {
    H2,
    H1,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::H2 => "HTTP/2",
            Protocol::H1 => "HTTP/1.1",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Rate,
    Max,
}

/// A server under load: where it listens, whose CPU it spends.
struct Target {
    name: &'static str,
    port: u16,
    ca: PathBuf,
    pid: u32,
    /// The operator's `/metrics` port, for the time spent in its handler.
    metrics_port: Option<u16>,
}

/// `oha --output-format json`, the parts used (latencies in seconds).
#[derive(Debug, Deserialize)]
struct OhaReport {
    summary: OhaSummary,
    #[serde(rename = "latencyPercentiles")]
    latency_percentiles: BTreeMap<String, Option<f64>>,
    #[serde(rename = "statusCodeDistribution", default)]
    status_codes: BTreeMap<String, u64>,
    #[serde(rename = "errorDistribution", default)]
    errors: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
struct OhaSummary {
    #[serde(rename = "requestsPerSec")]
    requests_per_sec: f64,
}

impl OhaReport {
    fn ms(&self, key: &str) -> f64 {
        self.latency_percentiles.get(key).copied().flatten().map_or(f64::NAN, |s| s * 1000.0)
    }

    /// Transport errors and answers other than 200: the API server treats both as a failed call.
    /// Requests the tool itself cut off when the run's time was up are not the server's failures.
    fn failures(&self) -> u64 {
        self.errors.iter().filter(|(e, _)| e.as_str() != DEADLINE_ABORT).map(|(_, n)| n).sum::<u64>()
            + self.status_codes.iter().filter(|(code, _)| code.as_str() != "200").map(|(_, n)| n).sum::<u64>()
    }

    fn aborted(&self) -> u64 {
        self.errors.get(DEADLINE_ABORT).copied().unwrap_or(0)
    }
}

/// oha's name for requests still in flight when the run's duration is over.
const DEADLINE_ABORT: &str = "aborted due to deadline";

/// One measured run and the CPU spent meanwhile, in % of one core.
struct Row {
    server: &'static str,
    webhook: &'static str,
    protocol: Protocol,
    mode: Mode,
    report: OhaReport,
    /// Mean time in the operator's handler (its duration histogram), body read to answer.
    handler_ms: Option<f64>,
    cpu_server: f64,
    cpu_control_plane: Option<f64>,
    cpu_oha: f64,
}

/// CPU seconds of the children this process has waited for: the load tool's runs.
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// The local control plane's kube-apiserver and etcd, which every Secret lookup reaches.
fn control_plane_pids(cluster: &Cluster) -> Vec<u32> {
    let Some(dir) = cluster.env.file.parent().map(|d| d.join("pids")) else { return Vec::new() };
    ["apiserver", "etcd"]
        .iter()
        .filter_map(|c| std::fs::read_to_string(dir.join(format!("{c}.pid"))).ok()?.trim().parse().ok())
        .filter(|pid| cpu_seconds(*pid).is_ok())
        .collect()
}

fn cpu_of(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| cpu_seconds(*p).ok()).sum()
}

/// The operator's webhook duration histogram for `webhook`: (sum of seconds, count).
async fn handler_time(port: u16, webhook: &str) -> anyhow::Result<(f64, f64)> {
    let text = metrics_text(port).await?;
    let sample = |suffix: &str| {
        let prefix = format!("strimzi_backup_webhook_duration_seconds_{suffix}{{webhook=\"{webhook}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    Ok((sample("sum"), sample("count")))
}

/// Latency (p50, p99 in ms) of `n` sequential metadata GETs of the bench's Secret from this
/// process: a consistent read, as the validating webhook does it, and with resourceVersion=0,
/// which the API server answers from its watch cache without asking etcd.
async fn secret_get_latency(cluster: &Cluster, ns: &str, n: usize) -> anyhow::Result<[(f64, f64); 2]> {
    let api: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let mut out = [(0.0, 0.0); 2];
    for (i, params) in [GetParams::default(), GetParams::any()].iter().enumerate() {
        let mut ms = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            api.get_metadata_opt_with(SECRET, params).await?.context("the bench's Secret is gone")?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let at = |p: f64| ms.get(((p / 100.0) * (ms.len().max(1) - 1) as f64).round() as usize).copied();
        out[i] = (at(50.0).unwrap_or(f64::NAN), at(99.0).unwrap_or(f64::NAN));
    }
    Ok(out)
}

/// Wall time of one decision (body parsed, rules, answer encoded) without TLS, HTTP or the
/// Secret lookup, in µs: the operator's own rules run in this process on one task, `n` times,
/// to tell their cost apart from the lookup's.
async fn decision_cost(path: &str, body: &[u8], n: usize) -> anyhow::Result<f64> {
    let admission = Admission::new(InstalledLicense::with_token(None), None);
    let hooks = webhooks();
    let hook = hooks.iter().find(|h| h.path == path).with_context(|| format!("no webhook at {path}"))?;
    let decide = async || -> anyhow::Result<()> {
        match review::answer(&admission, hook, body).await {
            review::Answer::Review(r, _) => {
                std::hint::black_box(serde_json::to_vec(&r)?);
                Ok(())
            }
            review::Answer::BadRequest(why) => bail!("{path}: {why}"),
        }
    };
    for _ in 0..n / 10 {
        decide().await?;
    }
    let t = Instant::now();
    for _ in 0..n {
        decide().await?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64)
}

/// The baseline: allows everything, echoing the uid (which the API server checks), and reads
/// no more of the review than that.
async fn allow_all(body: Bytes) -> impl IntoResponse {
    #[derive(Deserialize)]
    struct Review {
        request: Option<Request>,
    }
    #[derive(Deserialize)]
    struct Request {
        uid: String,
    }
    let uid = serde_json::from_slice::<Review>(&body).ok().and_then(|r| r.request).map(|r| r.uid);
    let answer = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": uid.unwrap_or_default(), "allowed": true}
    });
    ([(header::CONTENT_TYPE, "application/json")], answer.to_string())
}

/// Starts the baseline on a free port with a fresh self-signed certificate in `dir`; it stops
/// when the returned sender is dropped.
async fn start_baseline(dir: &Path) -> anyhow::Result<(u16, PathBuf, tokio::sync::oneshot::Sender<()>)> {
    let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
    let ca = self_signed::bootstrap(dir, &hosts).context("baseline certificate")?;
    let store = Arc::new(CertStore::load(dir).context("baseline certificate")?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let router = Router::new().route("/{*path}", post(allow_all));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = server::serve(listener, store, router, shutdown).await {
            eprintln!("webhook-bench: the baseline server stopped: {e}");
        }
    });
    Ok((port, ca, stop))
}

/// One POST over HTTP/1.1 with TLS verified against `ca`: the status and the JSON answer.
async fn post_once(port: u16, ca: &Path, path: &str, body: &[u8]) -> anyhow::Result<(u16, Value)> {
    let ca_pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(&ca_pem).context("the CA certificate")?)?;
    let config = rustls::ClientConfig::builder_with_provider(strimzi_backup_webhook::certs::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let name = ServerName::try_from("127.0.0.1")?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).await?;
        tls.write_all(body).await?;
        let mut reply = Vec::new();
        // A peer that closes without close_notify still gave us the whole answer.
        if let Err(e) = tls.read_to_end(&mut reply).await
            && reply.is_empty()
        {
            return Err(e.into());
        }
        anyhow::Ok(reply)
    };
    let reply =
        tokio::time::timeout(Duration::from_secs(10), exchange).await.context("no answer in 10 s")??;
    let text = String::from_utf8_lossy(&reply);
    let (head, body) = text.split_once("\r\n\r\n").context("an HTTP answer without a body")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Waits until the server answers `body` at `path` with an allowed review, and returns that
/// answer; `process` is checked in between so a crashed operator fails at once.
async fn ready(
    target: &Target,
    path: &str,
    body: &[u8],
    mut process: Option<&mut Operator>,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(p) = process.as_deref_mut() {
            p.check_running()?;
        }
        let error = if target.ca.exists() {
            match post_once(target.port, &target.ca, path, body).await {
                Ok((200, answer)) => {
                    let response = &answer["response"];
                    ensure!(
                        response["allowed"] == true && response["uid"] == "bench-0001",
                        "{} at {path} did not allow the bench's request: {answer}",
                        target.name
                    );
                    return Ok(answer);
                }
                Ok((status, answer)) => bail!("{} at {path} answered HTTP {status}: {answer}", target.name),
                Err(e) => e,
            }
        } else {
            anyhow::anyhow!("no {} yet", target.ca.display())
        };
        if Instant::now() > deadline {
            return Err(error.context(format!("{} did not answer within {READY_TIMEOUT:?}", target.name)));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn review(namespace: &str, object: Value) -> Value {
    let gvk = json!({"group": "kafkabackup.com", "version": "v1alpha1", "kind": "KafkaBackup"});
    let gvr = json!({"group": "kafkabackup.com", "version": "v1alpha1", "resource": "kafkabackups"});
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "bench-0001", "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": object["metadata"]["name"], "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
            "object": object, "oldObject": null, "dryRun": false,
            "options": {
                "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions",
                "fieldManager": "kubectl-client-side-apply", "fieldValidation": "Strict"
            }
        }
    })
}

/// What `kubectl apply` of the nightly backup sample (config/samples, without the KafkaUser
/// authentication) sends: the object with kubectl's last-applied annotation, which repeats it.
fn realistic_backup(namespace: &str) -> Value {
    let spec = json!({
        "strimziClusterRef": {"name": "my-cluster"},
        "topics": {"include": ["orders.*", "payments.*"], "exclude": [".*\\.internal", "__.*"]},
        "consumerGroups": {"include": [".*"]},
        "storage": {"type": "s3", "s3": {
            "bucket": "my-kafka-backups", "region": "eu-west-1", "prefix": "strimzi/my-cluster/",
            "credentialsSecret": {
                "name": SECRET, "accessKeyIdKey": "AWS_ACCESS_KEY_ID", "secretAccessKeyKey": "AWS_SECRET_ACCESS_KEY"
            }
        }},
        "backup": {
            "compression": "zstd", "compressionLevel": 3, "segmentSize": 268435456, "parallelism": 4,
            "mode": "incremental"
        },
        "schedule": {"cron": "0 2 * * *", "timezone": "Europe/Berlin", "concurrencyPolicy": "Forbid"},
        "retention": {"maxBackups": 30, "maxAge": "30d", "pruneOnSchedule": true},
        "deletionPolicy": "Retain",
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
        "job": {"backoffLimit": 3, "ttlSecondsAfterFinished": 86400}
    });
    let applied = json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup",
        "metadata": {
            "name": "my-cluster-nightly", "namespace": namespace, "labels": {"strimzi.io/cluster": "my-cluster"}
        },
        "spec": spec
    });
    let mut object = applied.clone();
    object["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": format!("{applied}\n")});
    object["metadata"]["uid"] = json!("3f1d7c2e-9b7a-4c1e-8a55-0c6f2b9d4e11");
    object["metadata"]["generation"] = json!(1);
    object["metadata"]["creationTimestamp"] = json!("2026-11-22T02:00:00Z");
    object
}

/// The smallest backup the CRD accepts: the mutating webhook has every default to add.
fn minimal_backup(namespace: &str) -> Value {
    json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup",
        "metadata": {"name": "minimal", "namespace": namespace},
        "spec": {
            "strimziClusterRef": {"name": "my-cluster"},
            "storage": {
                "type": "s3", "s3": {"bucket": "b", "region": "eu-west-1", "credentialsSecret": {"name": SECRET}}
            }
        }
    })
}

/// Runs `oha` once against `target` and reads its JSON report.
async fn oha(
    cli: &Cli,
    target: &Target,
    path: &str,
    body: &Path,
    protocol: Protocol,
    mode: Mode,
    seconds: u64,
) -> anyhow::Result<OhaReport> {
    let mut cmd = tokio::process::Command::new(&cli.oha);
    cmd.args(["--no-tui", "--output-format", "json", "-m", "POST", "-T", "application/json"])
        .arg("-D")
        .arg(body)
        .arg("--cacert")
        .arg(&target.ca)
        .args(["-z", &format!("{seconds}s"), "-w"]);
    match protocol {
        Protocol::H2 => {
            let connections = cli.h2_connections.clamp(1, cli.concurrency.max(1));
            let streams = cli.concurrency.div_ceil(connections).max(1);
            cmd.args(["--http2", "-c", &connections.to_string(), "-p", &streams.to_string()]);
        }
        Protocol::H1 => {
            cmd.args(["--http-version", "1.1", "-c", &cli.concurrency.max(1).to_string()]);
        }
    }
    if mode == Mode::Rate {
        // Latency from when each request was due, not from when a free connection sent it.
        cmd.args(["-q", &cli.rate.to_string(), "--latency-correction"]);
    }
    cmd.arg(format!("https://127.0.0.1:{}{path}", target.port));
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let out = cmd.output().await.with_context(|| format!("running {}", cli.oha.display()))?;
    ensure!(
        out.status.success(),
        "{} failed ({}): {}",
        cli.oha.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "reading oha's JSON report: {}",
            String::from_utf8_lossy(&out.stdout).chars().take(400).collect::<String>()
        )
    })
}

/// A run with the CPU the server, the control plane and the load tool spent during it.
#[allow(clippy::too_many_arguments)]
async fn measured(
    cli: &Cli,
    target: &Target,
    control_plane: &[u32],
    path: &'static str,
    body: &Path,
    protocol: Protocol,
    mode: Mode,
) -> anyhow::Result<Row> {
    let seconds = match mode {
        Mode::Rate => cli.rate_seconds,
        Mode::Max => cli.max_seconds,
    };
    let webhook = if path == VALIDATE { "validate" } else { "mutate" };
    let histogram = format!("{webhook}-kafkabackup");
    let h0 = match target.metrics_port {
        Some(port) => Some(handler_time(port, &histogram).await?),
        None => None,
    };
    let (s0, c0, o0, t0) =
        (cpu_seconds(target.pid)?, cpu_of(control_plane), children_cpu_seconds(), Instant::now());
    let report = oha(cli, target, path, body, protocol, mode, seconds).await?;
    let wall = t0.elapsed().as_secs_f64().max(1e-3);
    let share = |cpu: f64| cpu / wall * 100.0;
    let (cpu_server, cpu_control_plane, cpu_oha) = (
        share(cpu_seconds(target.pid)? - s0),
        c0.zip(cpu_of(control_plane)).map(|(a, b)| share(b - a)),
        share(children_cpu_seconds() - o0),
    );
    let handler_ms = match (h0, target.metrics_port) {
        (Some((sum0, count0)), Some(port)) => {
            let (sum, count) = handler_time(port, &histogram).await?;
            (count > count0).then(|| (sum - sum0) / (count - count0) * 1000.0)
        }
        _ => None,
    };
    Ok(Row {
        server: target.name,
        webhook,
        protocol,
        mode,
        report,
        handler_ms,
        cpu_server,
        cpu_control_plane,
        cpu_oha,
    })
}

fn print_table(cli: &Cli, rows: &[Row]) {
    println!(
        "{:<9} {:<8} {:<8} {:<6} {:>6} {:>7} {:>7} {:>7} {:>6} {:>8}   {:>6} {:>5} {:>5}",
        "server",
        "webhook",
        "protocol",
        "mode",
        "rps",
        "p50 ms",
        "p99 ms",
        "p99.9",
        "errors",
        "handler",
        "server",
        "ctl",
        "oha"
    );
    for r in rows {
        let mode = match r.mode {
            Mode::Rate => format!("{}/s", cli.rate),
            Mode::Max => "max".to_string(),
        };
        println!(
            "{:<9} {:<8} {:<8} {:<6} {:>6.0} {:>7.2} {:>7.2} {:>7.2} {:>6} {:>8}   {:>5.0}% {:>4} {:>4.0}%",
            r.server,
            r.webhook,
            r.protocol.label(),
            mode,
            r.report.summary.requests_per_sec,
            r.report.ms("p50"),
            r.report.ms("p99"),
            r.report.ms("p99.9"),
            r.report.failures(),
            r.handler_ms.map_or("-".to_string(), |ms| format!("{ms:.2} ms")),
            r.cpu_server,
            r.cpu_control_plane.map_or("-".to_string(), |c| format!("{c:.0}%")),
            r.cpu_oha,
        );
    }
    println!(
        "  latency: request sent (due, at a fixed rate) to answer read, as oha sees it; handler: the operator's"
    );
    println!(
        "  mean time from body read to answer written (its duration histogram). CPU in % of one core over the"
    );
    println!(
        "  run: server = the webhook server's process, ctl = kube-apiserver + etcd, oha = the load tool."
    );
    for r in rows.iter().filter(|r| r.report.failures() > 0) {
        println!(
            "  {} {} {} {:?}: status codes {:?}, errors {:?}",
            r.server,
            r.webhook,
            r.protocol.label(),
            r.mode,
            r.report.status_codes,
            r.report.errors
        );
    }
    let aborted: u64 = rows.iter().map(|r| r.report.aborted()).sum();
    if aborted > 0 {
        println!(
            "  not counted as errors: {aborted} requests in flight when a run's time was up, cut off by oha"
        );
    }
}

/// Everything between creating the namespace and deleting it; the operator is stopped when this
/// returns or is dropped.
async fn bench(cli: &Cli, cluster: &Cluster, ns: &str, work: &Path) -> anyhow::Result<()> {
    let program = std::fs::canonicalize(&cli.operator)
        .with_context(|| format!("{} (build it: cargo build --release)", cli.operator.display()))?;
    let oha_version = Command::new(&cli.oha)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} (build it: hack/tools.sh oha)", cli.oha.display()))?;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": SECRET},
        "stringData": {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    }))?;
    Api::<Secret>::namespaced(cluster.client.clone(), ns).create(&PostParams::default(), &secret).await?;

    let validate_body = work.join("validate.json");
    let mutate_body = work.join("mutate.json");
    let validate_json = serde_json::to_vec(&review(ns, realistic_backup(ns)))?;
    let mutate_json = serde_json::to_vec(&review(ns, minimal_backup(ns)))?;
    std::fs::write(&validate_body, &validate_json)?;
    std::fs::write(&mutate_body, &mutate_json)?;

    let (baseline_port, baseline_ca, _stop_baseline) = start_baseline(&work.join("baseline-certs")).await?;
    let baseline = Target {
        name: "baseline",
        port: baseline_port,
        ca: baseline_ca,
        pid: std::process::id(),
        metrics_port: None,
    };
    ready(&baseline, VALIDATE, &validate_json, None).await?;

    let mut operator = Operator::start_binary(&cluster.env, ns, program.clone())?;
    let real = Target {
        name: "operator",
        port: operator.webhook_port,
        ca: operator.cert_dir.join(CA_FILE),
        pid: operator.pid(),
        metrics_port: Some(operator.metrics_port),
    };
    let validated = ready(&real, VALIDATE, &validate_json, Some(&mut operator)).await?;
    let warnings: Vec<String> =
        serde_json::from_value(validated["response"]["warnings"].clone()).unwrap_or_default();
    ensure!(
        !warnings.iter().any(|w| w.contains("does not exist")),
        "the operator did not find Secret {SECRET} in {ns}, so its lookup is not the one measured: {warnings:?}"
    );
    let mutated = ready(&real, MUTATE, &mutate_json, Some(&mut operator)).await?;
    ensure!(
        mutated["response"]["patchType"] == "JSONPatch",
        "the mutating webhook added no defaults to the minimal backup: {mutated}"
    );
    let rss_idle = status_mib(real.pid, "VmRSS:")?;
    let control_plane = control_plane_pids(cluster);
    // What the control plane spends with no load from us: on 2 cores, other work there shows.
    let idle_cpu = match cpu_of(&control_plane) {
        Some(c0) => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            cpu_of(&control_plane).map(|c1| (c1 - c0) / 5.0 * 100.0)
        }
        None => None,
    };
    let [consistent, cached] = secret_get_latency(cluster, ns, 200).await?;
    let (validate_cost, mutate_cost) = (
        decision_cost(VALIDATE, &validate_json, 2000).await?,
        decision_cost(MUTATE, &mutate_json, 2000).await?,
    );

    println!(
        "admission webhooks over TLS on loopback, {} cores; load: {} ({}), namespace {ns}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cli.oha.display(),
        String::from_utf8_lossy(&oha_version.stdout).trim()
    );
    println!(
        "  validate: CREATE of a KafkaBackup naming Secret {SECRET} (exists), {} bytes{}; mutate: CREATE of a minimal one, {} bytes",
        validate_json.len(),
        if warnings.is_empty() { String::new() } else { format!(", answered with warnings {warnings:?}") },
        mutate_json.len()
    );
    println!(
        "  {} in flight (HTTP/1.1: connections; HTTP/2: streams over {} connections); fixed rate {}/s for {} s, max for {} s",
        cli.concurrency, cli.h2_connections, cli.rate, cli.rate_seconds, cli.max_seconds
    );
    println!(
        "  before the load: kube-apiserver + etcd idle at {} of a core; one Secret metadata GET from here p50/p99 {:.2}/{:.2} ms (resourceVersion=0: {:.2}/{:.2} ms)",
        idle_cpu.map_or("?".to_string(), |c| format!("{c:.0}%")),
        consistent.0,
        consistent.1,
        cached.0,
        cached.1
    );
    println!(
        "  one decision in this process without TLS, HTTP or the Secret lookup: validate {validate_cost:.0} µs, mutate {mutate_cost:.0} µs"
    );

    // Warm-up, not reported: the first connections' handshakes, the operator's connections to
    // the API server, allocator growth.
    for target in [&baseline, &real] {
        for (path, body) in [(VALIDATE, &validate_body), (MUTATE, &mutate_body)] {
            oha(cli, target, path, body, Protocol::H2, Mode::Max, 2).await?;
        }
    }

    let mut rows = Vec::new();
    for protocol in [Protocol::H2, Protocol::H1] {
        for (webhook, body) in [(VALIDATE, &validate_body), (MUTATE, &mutate_body)] {
            for mode in [Mode::Rate, Mode::Max] {
                // Baseline and real back to back, so drift in the machine's load hits both alike.
                for target in [&baseline, &real] {
                    operator.check_running()?;
                    eprintln!(
                        "webhook-bench: {} {} {} {:?}",
                        target.name,
                        if webhook == VALIDATE { "validate" } else { "mutate" },
                        protocol.label(),
                        mode
                    );
                    rows.push(measured(cli, target, &control_plane, webhook, body, protocol, mode).await?);
                }
            }
        }
    }
    operator.check_running()?;
    let (rss, peak) = (status_mib(real.pid, "VmRSS:")?, status_mib(real.pid, "VmHWM:")?);

    println!();
    print_table(cli, &rows);
    println!(
        "  operator RSS: {rss_idle:.1} MiB before the load, {rss:.1} MiB after it, peak (VmHWM) {peak:.1} MiB"
    );
    let rate_rows: Vec<&Row> =
        rows.iter().filter(|r| r.server == "operator" && r.mode == Mode::Rate).collect();
    let worst = rate_rows.iter().map(|r| r.report.ms("p99")).fold(0.0, f64::max);
    let met = rate_rows.iter().all(|r| {
        r.report.ms("p99") < 5.0
            && r.report.failures() == 0
            && r.report.summary.requests_per_sec >= 0.95 * f64::from(cli.rate)
    });
    println!(
        "  target (informational): p99 < 5 ms at {}/s on every webhook and protocol: {} (worst p99 {worst:.2} ms)",
        cli.rate,
        if met { "met" } else { "NOT met" }
    );
    drop(operator);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cluster = Cluster::connect().await?;
    cluster.install_crds().await?;
    let ns = cluster.namespace("bench-webhook").await?;
    let work = std::env::temp_dir().join(format!("webhook-bench-{ns}"));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let result = match std::fs::create_dir_all(&work) {
        Err(e) => Err(anyhow::Error::from(e).context(format!("creating {}", work.display()))),
        // Dropping the bench on a signal stops the operator, the load tool and the baseline; a
        // panic (stdout closed under `| head`, say) unwinds through the same drops and still
        // reaches the namespace's deletion below.
        Ok(()) => tokio::select! {
            r = AssertUnwindSafe(bench(&cli, &cluster, &ns, &work)).catch_unwind() => {
                r.unwrap_or_else(|_| Err(anyhow::anyhow!("the bench panicked")))
            }
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            _ = sigterm.recv() => Err(anyhow::anyhow!("terminated")),
        },
    };
    let deleted = cluster.delete_namespace(&ns).await;
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&work);
        }
        Err(_) => {
            eprintln!("webhook-bench: bodies, certificates and the operator's log are in {}", work.display())
        }
    }
    result?;
    deleted.with_context(|| format!("deleting namespace {ns}"))
}
