//! Test-only code that stands in for a kubelet: the kubelet's HTTPS API, as far as container logs
//! go, so that `kubectl logs`, kube-rs `Api::<Pod>::logs` / `log_stream` and the operator read
//! the logs of the pods the harness runs exactly as on a real cluster.
//!
//! Why it exists: nobody reads a pod's log from the node's disk. The apiserver serves
//! `GET /api/v1/namespaces/{ns}/pods/{pod}/log` by proxying it to the kubelet of the pod's node, at
//! the node's preferred address (here `InternalIP` 127.0.0.1) and
//! `status.daemonEndpoints.kubeletEndpoint.Port`, path `/containerLogs/{ns}/{pod}/{container}`.
//! Without a server there every log request fails, so this module is that server.
//!
//! Served:
//! - `GET /containerLogs/{namespace}/{pod}/{container}` with the kubelet's query parameters
//!   `follow`, `previous`, `tailLines` (and the legacy `tail`), `limitBytes`, `timestamps=false`
//!   and `stream=All`. Not supported, answered 400 with the reason: `timestamps=true`,
//!   `sinceSeconds`, `sinceTime` (the harness keeps no per-line timestamps) and `stream=Stdout` /
//!   `Stderr` (stdout and stderr share one log). Unknown parameters are ignored, like the kubelet.
//!   A pod that is not on this node or a container not in the pod's spec: 404; a bad parameter or
//!   a container without logs (waiting, never started, no previous instance): 400, with the
//!   kubelet's messages. The apiserver turns these into its own 404 / 400 answers.
//! - `GET /healthz`: `ok`.
//!
//! The log of a container is what [`super::pod`] writes: one file per container,
//! `<state-dir>/pods/<ns>/<pod>/<container>.log` ([`log_file`]), to which the process's stdout
//! and stderr are appended through one shared open file, so their lines are in exactly the order
//! the process wrote them (a real kubelet interleaves the two streams in the order the runtime
//! read them, which is the same one stream of lines). Every attempt (restart) of the container,
//! and of an earlier pod of the same name, appends to the same file; `<container>.attempts`
//! ([`record_attempt`]) says where each attempt starts: one line `<pod uid> <pid> <offset>` per
//! attempt, in start order. A request is answered from the attempt the pod's status names, chosen
//! like the kubelet chooses it (the running or last terminated instance; with `previous` the
//! `lastState` one): container ID `harness://<pid>` and the pod's uid select the attempt, which
//! ends where the next one starts. `follow` streams until the container process exited (and its
//! last bytes were sent); the harness notes running attempts in [`Running`].
//!
//! Authentication: TLS with the serving certificate given to the harness (`--tls-cert-file`, made
//! by `hack/env-up.sh`, IP SAN 127.0.0.1, verified by the apiserver through
//! `--kubelet-certificate-authority`). The harness **requires** a client certificate and verifies
//! it against the client CA (`--client-ca-file`, by default the cluster CA of the kubeconfig): the
//! apiserver presents its `--kubelet-client-certificate`. Any certificate of that CA is accepted;
//! there is no authorization step (a kubelet would ask the apiserver whether the user may
//! `get nodes/proxy`).

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::Client;
use kube::api::Api;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

/// How often a follower looks for new bytes and for the end of the container.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Most bytes sent in one chunk.
const CHUNK: u64 = 64 * 1024;
/// Prefix of the container IDs the harness reports (`harness://<pid>`).
const CONTAINER_ID_PREFIX: &str = "harness://";

/// Where the log server listens and the credentials it uses.
#[derive(Debug, Clone)]
pub struct LogServerConfig {
    /// Port on 127.0.0.1; the node advertises it as `daemonEndpoints.kubeletEndpoint.Port`.
    pub port: u16,
    /// Serving certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// CA certificates (PEM) whose client certificates are accepted.
    pub client_ca: Vec<u8>,
}

/// The log file of `container` in the pod directory `pod_dir`.
pub fn log_file(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join(format!("{container}.log"))
}

fn attempts_file(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join(format!("{container}.attempts"))
}

/// Notes that an attempt of `container` of pod `uid`, process `pid`, started writing the log at
/// byte `start`.
pub fn record_attempt(pod_dir: &Path, container: &str, uid: &str, pid: u32, start: u64) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(attempts_file(pod_dir, container))?;
    f.write_all(format!("{uid} {pid} {start}\n").as_bytes())
}

/// One line of `<container>.attempts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub uid: String,
    pub pid: u32,
    pub start: u64,
}

/// The attempts of an attempts file, in start order (malformed lines skipped).
pub fn parse_attempts(text: &str) -> Vec<Attempt> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (uid, pid, start) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            Some(Attempt { uid: uid.to_owned(), pid, start })
        })
        .collect()
}

/// The bytes of attempt `pid` of pod `uid`: from its start to where the next attempt starts
/// (`None`: the last attempt, to the end of the file).
pub fn attempt_range(attempts: &[Attempt], uid: &str, pid: u32) -> Option<(u64, Option<u64>)> {
    let i = attempts.iter().rposition(|a| a.uid == uid && a.pid == pid)?;
    Some((attempts[i].start, attempts.get(i + 1).map(|a| a.start)))
}

/// The container attempts running right now, by log file and pid: a follower stops once the
/// attempt it follows is gone from here.
#[derive(Debug, Default)]
pub struct Running(Mutex<HashSet<(PathBuf, u32)>>);

impl Running {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<(PathBuf, u32)>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks the attempt running until the guard is dropped (drop it once the process exited).
    pub fn enter(self: &Arc<Self>, log: &Path, pid: u32) -> RunningGuard {
        let key = (log.to_path_buf(), pid);
        self.set().insert(key.clone());
        RunningGuard { running: self.clone(), key }
    }

    pub fn contains(&self, log: &Path, pid: u32) -> bool {
        self.set().contains(&(log.to_path_buf(), pid))
    }
}

/// See [`Running::enter`].
pub struct RunningGuard {
    running: Arc<Running>,
    key: (PathBuf, u32),
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.running.set().remove(&self.key);
    }
}

/// The query parameters of `/containerLogs` the harness honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub tail_lines: Option<u64>,
    pub limit_bytes: Option<u64>,
}

/// A boolean as Go's `strconv.ParseBool` reads it.
fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid {name}={v:?}: not a boolean")),
    }
}

fn parse_int(name: &str, v: &str) -> Result<i64, String> {
    v.parse().map_err(|_| format!("invalid {name}={v:?}: not an integer"))
}

impl LogOptions {
    /// Parses a query string; the first of repeated parameters counts. `Err`: the 400 message.
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut first: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if !first.iter().any(|(seen, _)| *seen == k) {
                first.push((k.into_owned(), v.into_owned()));
            }
        }
        let get = |name: &str| first.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let mut o = LogOptions::default();
        if let Some(v) = get("follow") {
            o.follow = parse_bool("follow", v)?;
        }
        if let Some(v) = get("previous") {
            o.previous = parse_bool("previous", v)?;
        }
        if let Some(v) = get("timestamps")
            && parse_bool("timestamps", v)?
        {
            return Err(
                "timestamps=true is not supported by pod-harness (it keeps no per-line timestamps)".into()
            );
        }
        // The kubelet's legacy `tail` (a number or "all") wins over `tailLines`.
        let tail = match get("tail") {
            Some("all") => None,
            Some(v) => Some(("tail", v)),
            None => get("tailLines").map(|v| ("tailLines", v)),
        };
        if let Some((name, v)) = tail {
            let n = parse_int(name, v)?;
            o.tail_lines = Some(u64::try_from(n).map_err(|_| format!("invalid {name}={n}: must be >= 0"))?);
        }
        if let Some(v) = get("limitBytes") {
            let n = parse_int("limitBytes", v)?;
            o.limit_bytes = Some(
                u64::try_from(n)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("invalid limitBytes={n}: must be > 0"))?,
            );
        }
        match (get("sinceSeconds"), get("sinceTime")) {
            (Some(_), Some(_)) => {
                return Err("at most one of sinceTime or sinceSeconds may be specified".into());
            }
            (Some(v), None) => {
                let n = parse_int("sinceSeconds", v)?;
                if n < 1 {
                    return Err(format!("invalid sinceSeconds={n}: must be > 0"));
                }
                return Err(
                    "sinceSeconds is not supported by pod-harness (it keeps no per-line timestamps)".into()
                );
            }
            (None, Some(_)) => {
                return Err(
                    "sinceTime is not supported by pod-harness (it keeps no per-line timestamps)".into()
                );
            }
            (None, None) => {}
        }
        match get("stream") {
            None | Some("All") => {}
            Some(s @ ("Stdout" | "Stderr")) => {
                return Err(format!(
                    "unable to return the given log stream: {s:?}: pod-harness keeps stdout and stderr in one log"
                ));
            }
            Some(s) => return Err(format!("invalid stream type {s:?}")),
        }
        Ok(o)
    }
}

/// The container ID whose log a request reads, chosen from the pod status like the kubelet does
/// (`validateContainerLogStatus`). `Err`: why there is no such log (the kubelet's messages).
pub fn container_id_for_logs(
    status: &PodStatus,
    container: &str,
    pod: &str,
    previous: bool,
) -> Result<String, String> {
    let cs =
        [&status.container_statuses, &status.init_container_statuses, &status.ephemeral_container_statuses]
            .into_iter()
            .flatten()
            .flatten()
            .find(|c| c.name == container)
            .ok_or_else(|| format!("container {container:?} in pod {pod:?} is not available"))?;
    let last = cs
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.container_id.clone().unwrap_or_default());
    let state = cs.state.clone().unwrap_or_default();
    let terminated = || format!("container {container:?} in pod {pod:?} is terminated");
    let id = if previous {
        last.filter(|id| !id.is_empty())
            .ok_or_else(|| format!("previous terminated container {container:?} in pod {pod:?} not found"))?
    } else if state.running.is_some() {
        cs.container_id.clone().unwrap_or_default()
    } else if let Some(t) = &state.terminated {
        match t.container_id.clone().filter(|id| !id.is_empty()) {
            Some(id) => id,
            None => last.filter(|id| !id.is_empty()).ok_or_else(terminated)?,
        }
    } else if let Some(id) = last {
        if id.is_empty() {
            return Err(terminated());
        }
        id
    } else if let Some(w) = &state.waiting {
        return Err(format!(
            "container {container:?} in pod {pod:?} is waiting to start: {}",
            w.reason.as_deref().unwrap_or_default()
        ));
    } else {
        return Err(format!("container {container:?} in pod {pod:?} is waiting to start - no logs yet"));
    };
    if id.is_empty() {
        return Err(format!("container {container:?} in pod {pod:?} is waiting to start - no logs yet"));
    }
    Ok(id)
}

/// Where the last `n` lines of bytes `[start, end)` of `r` begin. A last line without its
/// newline counts as a line (like `tail -n`); `n == 0` gives `end`.
pub fn tail_start<R: Read + Seek>(r: &mut R, start: u64, end: u64, n: u64) -> io::Result<u64> {
    tail_start_in_blocks(r, start, end, n, 8192)
}

fn tail_start_in_blocks<R: Read + Seek>(
    r: &mut R,
    start: u64,
    end: u64,
    n: u64,
    block: usize,
) -> io::Result<u64> {
    if n == 0 || end <= start {
        return Ok(end.max(start));
    }
    let mut buf = vec![0u8; block];
    let mut seen = 0u64;
    let mut right = end;
    while right > start {
        let left = right.saturating_sub(block as u64).max(start);
        let len = usize::try_from(right - left).unwrap_or(block);
        r.seek(SeekFrom::Start(left))?;
        r.read_exact(&mut buf[..len])?;
        for (i, b) in buf[..len].iter().enumerate().rev() {
            let pos = left + i as u64;
            // The newline that ends the last line does not start another one.
            if *b == b'\n' && pos + 1 != end {
                seen += 1;
                if seen == n {
                    return Ok(pos + 1);
                }
            }
        }
        right = left;
    }
    Ok(start)
}

/// What is left to send of one log: bytes from `pos` to `end` (or, following, until the
/// container exited), at most `remaining`.
struct LogReader {
    file: tokio::fs::File,
    pos: u64,
    end: Option<u64>,
    remaining: u64,
    /// Following the running attempt `(log, pid)`.
    follow: Option<(Arc<Running>, PathBuf, u32)>,
    /// The followed attempt was seen gone; the next end of file is the end.
    exited: bool,
}

impl LogReader {
    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            let mut want = CHUNK.min(self.remaining);
            if let Some(end) = self.end {
                want = want.min(end.saturating_sub(self.pos));
            }
            if want == 0 {
                return None;
            }
            let mut buf = vec![0u8; usize::try_from(want).unwrap_or(CHUNK as usize)];
            let n = match self.file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            if n > 0 {
                buf.truncate(n);
                self.pos += n as u64;
                self.remaining -= n as u64;
                return Some(Ok(Bytes::from(buf)));
            }
            let (running, log, pid) = self.follow.as_ref()?;
            if self.exited {
                return None;
            }
            if !running.contains(log, *pid) {
                // The process exited before it left `running`: one more read gets its last bytes.
                self.exited = true;
                continue;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    fn into_body(self) -> Body {
        Body::from_stream(futures::stream::unfold(self, |mut r| async move {
            r.next_chunk().await.map(|chunk| (chunk, r))
        }))
    }
}

/// A request that cannot be answered with a log.
#[derive(Debug)]
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.1).into_response()
    }
}

fn bad_request(message: String) -> Failure {
    Failure(StatusCode::BAD_REQUEST, message)
}

/// What the request handlers share.
struct Shared {
    client: Client,
    node_name: String,
    /// `<state-dir>/pods`.
    pods_dir: PathBuf,
    running: Arc<Running>,
}

impl Shared {
    async fn container_logs(
        &self,
        namespace: &str,
        pod_name: &str,
        container: &str,
        query: &str,
    ) -> Result<Body, Failure> {
        let opts = LogOptions::parse(query).map_err(bad_request)?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = api.get_opt(pod_name).await.map_err(|e| {
            Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read pod {namespace}/{pod_name}: {e}"))
        })?;
        let pod = pod
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(self.node_name.as_str()))
            .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("pod {pod_name:?} does not exist")))?;
        let spec = pod.spec.clone().unwrap_or_default();
        let in_spec = spec.containers.iter().any(|c| c.name == container)
            || spec.init_containers.iter().flatten().any(|c| c.name == container)
            || spec.ephemeral_containers.iter().flatten().any(|c| c.name == container);
        if !in_spec {
            return Err(Failure(
                StatusCode::NOT_FOUND,
                format!("container {container:?} not found in pod {pod_name:?}"),
            ));
        }
        let status = pod.status.clone().unwrap_or_default();
        let id = container_id_for_logs(&status, container, pod_name, opts.previous).map_err(bad_request)?;
        let pid: u32 = id
            .strip_prefix(CONTAINER_ID_PREFIX)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| bad_request(format!("container ID {id:?} was not started by pod-harness")))?;
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let pod_dir = self.pods_dir.join(namespace).join(pod_name);
        let log = log_file(&pod_dir, container);
        let (container, pod_name) = (container.to_owned(), pod_name.to_owned());
        let (file, start, end, last) = tokio::task::spawn_blocking({
            let log = log.clone();
            move || open_attempt(&pod_dir, &log, &container, &pod_name, &uid, pid, opts.tail_lines)
        })
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the log: {e}")))??;
        // Without `follow` the answer is the log as it is now; following reads on to the end of
        // the attempt (only the last attempt can still be running).
        let follow = opts.follow && last;
        let end = (!follow).then_some(end);
        debug!(log = %log.display(), pid, start, ?end, follow, "serving a container log");
        let reader = LogReader {
            file: tokio::fs::File::from_std(file),
            pos: start,
            end,
            remaining: opts.limit_bytes.unwrap_or(u64::MAX),
            follow: follow.then(|| (self.running.clone(), log, pid)),
            exited: false,
        };
        Ok(reader.into_body())
    }
}

/// Opens the log of attempt `pid` of pod `uid`, positioned at its first byte to send. Returns the
/// file, that position, the end of the attempt (the end of the file now, if it is the last) and
/// whether it is the last attempt.
fn open_attempt(
    pod_dir: &Path,
    log: &Path,
    container: &str,
    pod: &str,
    uid: &str,
    pid: u32,
    tail_lines: Option<u64>,
) -> Result<(std::fs::File, u64, u64, bool), Failure> {
    let internal = |what: &str, path: &Path, e: io::Error| {
        Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} {}: {e}", path.display()))
    };
    let no_log =
        || bad_request(format!("no log of container {container:?} (harness://{pid}) in pod {pod:?}"));
    let index = attempts_file(pod_dir, container);
    let attempts = match std::fs::read_to_string(&index) {
        Ok(text) => parse_attempts(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(no_log()),
        Err(e) => return Err(internal("reading", &index, e)),
    };
    let (start, next) = attempt_range(&attempts, uid, pid).ok_or_else(no_log)?;
    let mut file = std::fs::File::open(log).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => no_log(),
        _ => internal("opening", log, e),
    })?;
    let len = file.metadata().map_err(|e| internal("reading", log, e))?.len();
    let end = next.unwrap_or(len).min(len);
    let from = match tail_lines {
        Some(n) => tail_start(&mut file, start, end, n).map_err(|e| internal("reading", log, e))?,
        None => start.min(end),
    };
    file.seek(SeekFrom::Start(from)).map_err(|e| internal("reading", log, e))?;
    Ok((file, from, end, next.is_none()))
}

async fn container_logs(
    State(shared): State<Arc<Shared>>,
    UrlPath((namespace, pod, container)): UrlPath<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    match shared.container_logs(&namespace, &pod, &container, query.as_deref().unwrap_or_default()).await {
        Ok(body) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response(),
        Err(f) => {
            debug!(%namespace, %pod, %container, status = f.0.as_u16(), message = %f.1, "log request refused");
            f.into_response()
        }
    }
}

fn read_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The TLS configuration: serving certificate and key, client certificates required and verified
/// against `client_ca`. All PEM.
pub fn tls_config(cert: &[u8], key: &[u8], client_ca: &[u8]) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .context("parsing the serving certificate")?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in the serving certificate file");
    let key = PrivateKeyDer::from_pem_slice(key).context("parsing the serving key")?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca) {
        roots.add(ca.context("parsing the client CA")?).context("adding the client CA")?;
    }
    anyhow::ensure!(!roots.is_empty(), "no certificate in the client CA");
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .context("building the client certificate verifier")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("the serving certificate and key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The log server, bound (so a taken port fails the start, before the node advertises it).
pub struct LogServer {
    listener: TcpListener,
    acceptor: TlsAcceptor,
}

impl LogServer {
    /// Loads the credentials and binds 127.0.0.1:`port`.
    pub async fn bind(cfg: &LogServerConfig) -> anyhow::Result<Self> {
        let tls = tls_config(&read_pem(&cfg.cert_file)?, &read_pem(&cfg.key_file)?, &cfg.client_ca)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, cfg.port));
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        Ok(LogServer { listener, acceptor: TlsAcceptor::from(Arc::new(tls)) })
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// Serves until dropped (aborted): each connection TLS, then HTTP/1.1.
    pub async fn run(self, client: Client, node_name: String, pods_dir: PathBuf, running: Arc<Running>) {
        let shared = Arc::new(Shared { client, node_name, pods_dir, running });
        let app = Router::new()
            .route("/containerLogs/{namespace}/{pod}/{container}", get(container_logs))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(shared);
        info!(port = self.port(), "serving container logs (kubelet API) on 127.0.0.1");
        loop {
            let (tcp, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (acceptor, app) = (self.acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
                if let Err(e) = served {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use k8s_openapi::api::core::v1::ContainerStatus;
    use serde_json::json;

    use super::*;

    fn tail(text: &str, n: u64) -> String {
        tail_in(text, 0, text.len() as u64, n, 3)
    }

    /// The bytes `tail_start` keeps of `[start, end)`, with a tiny block size so lines cross blocks.
    fn tail_in(text: &str, start: u64, end: u64, n: u64, block: usize) -> String {
        let mut c = Cursor::new(text.as_bytes());
        let from = tail_start_in_blocks(&mut c, start, end, n, block).unwrap_or(u64::MAX);
        text.get(from as usize..end as usize).unwrap_or("<out of range>").to_owned()
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let log = "one\ntwo\nthree\n";
        assert_eq!(tail(log, 1), "three\n");
        assert_eq!(tail(log, 2), "two\nthree\n");
        assert_eq!(tail(log, 3), log);
        assert_eq!(tail(log, 10), log);
        assert_eq!(tail(log, 0), "");
        // An unterminated last line counts.
        assert_eq!(tail("one\ntwo\nthr", 1), "thr");
        assert_eq!(tail("one\ntwo\nthr", 2), "two\nthr");
        // Empty lines are lines.
        assert_eq!(tail("a\n\n\nb\n", 3), "\n\nb\n");
        assert_eq!(tail("", 2), "");
        // Long lines across many blocks, with the real block size too.
        let long = format!("{}\n{}\n", "x".repeat(20_000), "y".repeat(9_000));
        let mut c = Cursor::new(long.as_bytes());
        assert_eq!(tail_start(&mut c, 0, long.len() as u64, 1).ok(), Some(20_001));
        assert_eq!(tail_start(&mut c, 0, long.len() as u64, 2).ok(), Some(0));
    }

    #[test]
    fn tail_stays_inside_the_attempt() {
        // Attempt 2 is "c\nd\n" (bytes 4..8); attempt 3 starts at 8.
        let log = "a\nb\nc\nd\ne\n";
        assert_eq!(tail_in(log, 4, 8, 1, 3), "d\n");
        assert_eq!(tail_in(log, 4, 8, 5, 3), "c\nd\n");
        assert_eq!(tail_in(log, 4, 8, 0, 3), "");
        assert_eq!(tail_in(log, 8, 8, 2, 3), "");
    }

    #[tokio::test]
    async fn reader_applies_the_byte_limit_and_the_attempt_end() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("logs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("main.log");
        std::fs::write(&path, "first\nsecond\nthird\n")?;
        let read = |pos: u64, end: Option<u64>, remaining: u64| {
            let path = path.clone();
            async move {
                let mut file = tokio::fs::File::open(&path).await?;
                tokio::io::AsyncSeekExt::seek(&mut file, SeekFrom::Start(pos)).await?;
                let mut r = LogReader { file, pos, end, remaining, follow: None, exited: false };
                let mut out = Vec::new();
                while let Some(chunk) = r.next_chunk().await {
                    out.extend_from_slice(&chunk?);
                }
                anyhow::Ok(String::from_utf8(out)?)
            }
        };
        assert_eq!(read(0, None, u64::MAX).await?, "first\nsecond\nthird\n");
        assert_eq!(read(0, None, 8).await?, "first\nse");
        assert_eq!(read(6, Some(13), u64::MAX).await?, "second\n");
        assert_eq!(read(6, Some(13), 3).await?, "sec");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[tokio::test]
    async fn following_ends_after_the_process_left() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("logs-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("main.log");
        std::fs::write(&path, "early\n")?;
        let running = Arc::new(Running::default());
        let guard = running.enter(&path, 42);
        let file = tokio::fs::File::open(&path).await?;
        let follow = Some((running.clone(), path.clone(), 42));
        let mut r = LogReader { file, pos: 0, end: None, remaining: u64::MAX, follow, exited: false };
        assert_eq!(r.next_chunk().await.transpose()?.as_deref(), Some(&b"early\n"[..]));
        let writer = {
            let path = path.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let mut f = OpenOptions::new().append(true).open(&path)?;
                f.write_all(b"late\n")?;
                drop(guard);
                io::Result::Ok(())
            })
        };
        assert_eq!(r.next_chunk().await.transpose()?.as_deref(), Some(&b"late\n"[..]));
        assert!(r.next_chunk().await.is_none());
        writer.await??;
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn attempts_index() {
        let text = "uid-a 10 0\nuid-b 20 100\ngarbage\nuid-b 30 150\n";
        let attempts = parse_attempts(text);
        assert_eq!(attempts.len(), 3);
        assert_eq!(attempt_range(&attempts, "uid-a", 10), Some((0, Some(100))));
        assert_eq!(attempt_range(&attempts, "uid-b", 20), Some((100, Some(150))));
        assert_eq!(attempt_range(&attempts, "uid-b", 30), Some((150, None)));
        assert_eq!(attempt_range(&attempts, "uid-a", 30), None);
    }

    #[test]
    fn parses_options() {
        assert_eq!(LogOptions::parse(""), Ok(LogOptions::default()));
        assert_eq!(
            LogOptions::parse("follow=true&tailLines=2&limitBytes=10&timestamps=false&stream=All&x=y"),
            Ok(LogOptions { follow: true, previous: false, tail_lines: Some(2), limit_bytes: Some(10) })
        );
        assert_eq!(LogOptions::parse("previous=1").map(|o| o.previous), Ok(true));
        assert_eq!(LogOptions::parse("tail=5&tailLines=2").map(|o| o.tail_lines), Ok(Some(5)));
        assert_eq!(LogOptions::parse("tail=all&tailLines=2").map(|o| o.tail_lines), Ok(None));
        assert_eq!(LogOptions::parse("tailLines=0").map(|o| o.tail_lines), Ok(Some(0)));
        for bad in [
            "tailLines=-1",
            "tailLines=x",
            "limitBytes=0",
            "limitBytes=-3",
            "follow=maybe",
            "timestamps=true",
            "sinceSeconds=10",
            "sinceSeconds=0",
            "sinceTime=2024-01-01T00:00:00Z",
            "sinceSeconds=1&sinceTime=2024-01-01T00:00:00Z",
            "stream=Stdout",
            "stream=Other",
        ] {
            assert!(LogOptions::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    fn status(containers: serde_json::Value) -> PodStatus {
        let statuses: Vec<ContainerStatus> = serde_json::from_value(containers).unwrap_or_default();
        assert!(!statuses.is_empty());
        PodStatus { container_statuses: Some(statuses), ..Default::default() }
    }

    #[test]
    fn picks_the_container_like_the_kubelet() {
        let base = json!({"name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 1});
        let with = |extra: serde_json::Value| {
            let mut c = base.clone();
            if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
                c.extend(extra.clone());
            }
            status(json!([c]))
        };
        let running = with(json!({
            "containerID": "harness://2",
            "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "harness://1"}},
        }));
        assert_eq!(container_id_for_logs(&running, "main", "p", false), Ok("harness://2".into()));
        assert_eq!(container_id_for_logs(&running, "main", "p", true), Ok("harness://1".into()));
        assert!(
            container_id_for_logs(&running, "other", "p", false).is_err_and(|e| e.contains("not available"))
        );
        let backing_off = with(json!({
            "containerID": "harness://1",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "harness://1"}},
        }));
        assert_eq!(container_id_for_logs(&backing_off, "main", "p", false), Ok("harness://1".into()));
        let done = with(json!({"state": {"terminated": {"exitCode": 0, "containerID": "harness://7"}}}));
        assert_eq!(container_id_for_logs(&done, "main", "p", false), Ok("harness://7".into()));
        assert_eq!(
            container_id_for_logs(&done, "main", "p", true),
            Err("previous terminated container \"main\" in pod \"p\" not found".into())
        );
        let never_started = with(json!({"state": {"terminated": {"exitCode": 128, "reason": "StartError"}}}));
        assert!(
            container_id_for_logs(&never_started, "main", "p", false)
                .is_err_and(|e| e.contains("terminated"))
        );
        let waiting = with(json!({"state": {"waiting": {"reason": "ContainerCreating"}}}));
        assert_eq!(
            container_id_for_logs(&waiting, "main", "p", false),
            Err("container \"main\" in pod \"p\" is waiting to start: ContainerCreating".into())
        );
    }
}
