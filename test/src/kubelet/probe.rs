//! Test-only code that stands in for a kubelet: startup, readiness and liveness probes.
//!
//! Like the kubelet's probe workers: while a startup probe has not succeeded, the container is
//! not `started` and the other probes do not run; failing it `failureThreshold` times kills the
//! container. Then readiness decides `ready` (a container without one is ready once started) and
//! liveness kills the container after `failureThreshold` consecutive failures; the container is
//! then restarted per `restartPolicy`. A result changes after `successThreshold` successes or
//! `failureThreshold` failures in a row. The first probe runs `initialDelaySeconds` after the
//! start, then one every `periodSeconds` (the kubelet adds a random offset within the first
//! period; the harness does not), each limited to `timeoutSeconds`.
//!
//! Pods run on the host network: `httpGet` and `tcpSocket` probe `127.0.0.1:<port>` (the pod
//! IP) unless they name a `host`. HTTPS is not verified, as the kubelet does not verify it.
//! `exec` runs in the container's mount namespace and memory cgroup, as the container's user.
//! `grpc` probes are not supported: they fail, saying so.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::privileges::Privileges;
use super::process;

/// The three kinds of probe, named as the kubelet names them in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Startup,
    Readiness,
    Liveness,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Readiness => "Readiness",
            Kind::Liveness => "Liveness",
        }
    }
}

/// The timing fields of a probe, with the API's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

fn secs(v: Option<i32>, default: u64, min: u64) -> Duration {
    Duration::from_secs(v.and_then(|s| u64::try_from(s).ok()).unwrap_or(default).max(min))
}

fn count(v: Option<i32>, default: u32) -> u32 {
    v.and_then(|s| u32::try_from(s).ok()).filter(|n| *n > 0).unwrap_or(default)
}

impl Timing {
    /// Defaults: no delay, every 10 s, 1 s timeout, 1 success, 3 failures. Liveness and startup
    /// probes have a success threshold of 1 whatever is set (the API enforces it).
    pub fn of(probe: &Probe, kind: Kind) -> Self {
        Timing {
            initial_delay: secs(probe.initial_delay_seconds, 0, 0),
            period: secs(probe.period_seconds, 10, 1),
            timeout: secs(probe.timeout_seconds, 1, 1),
            success_threshold: if kind == Kind::Readiness { count(probe.success_threshold, 1) } else { 1 },
            failure_threshold: count(probe.failure_threshold, 3),
        }
    }

    /// When probe `n` (from 0) runs, after the container started.
    pub fn due(&self, n: u32) -> Duration {
        self.initial_delay + self.period * n
    }
}

/// The result of a probe across attempts, like the kubelet's worker keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    /// The current result: readiness starts failed, liveness succeeded, startup unknown.
    pub result: Option<bool>,
    last: Option<bool>,
    run: u32,
}

impl Tracker {
    pub fn new(kind: Kind) -> Self {
        let result = match kind {
            Kind::Readiness => Some(false),
            Kind::Liveness => Some(true),
            Kind::Startup => None,
        };
        Tracker { result, last: None, run: 0 }
    }

    /// Records one attempt; returns the new result when it changed.
    pub fn record(&mut self, ok: bool, timing: &Timing) -> Option<bool> {
        if self.last == Some(ok) {
            self.run += 1;
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let threshold = if ok { timing.success_threshold } else { timing.failure_threshold };
        if self.run < threshold || self.result == Some(ok) {
            return None;
        }
        self.result = Some(ok);
        Some(ok)
    }
}

/// What the probes tell the container's runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeEvent {
    /// The startup probe succeeded (or there is none).
    Started,
    /// The readiness result changed.
    Ready(bool),
    /// One probe attempt failed: an `Unhealthy` event.
    Unhealthy { kind: Kind, message: String },
    /// Liveness or startup failed for good: kill and restart the container.
    Kill { kind: Kind },
}

/// Where and as whom the probes of one running container run.
#[derive(Debug, Clone)]
pub struct Target {
    pub container: Container,
    /// The container's main process (its mount namespace, for `exec`).
    pub pid: u32,
    pub env: Vec<(String, String)>,
    pub path_var: String,
    pub privileges: Privileges,
}

/// Runs the container's probes until it dies (the task is aborted) or a liveness/startup probe
/// fails for good. Reports through `tx`.
pub async fn run(target: Arc<Target>, tx: mpsc::Sender<ProbeEvent>) {
    let start = tokio::time::Instant::now();
    let c = &target.container;
    if let Some(p) = &c.startup_probe
        && !watch(&target, p, Kind::Startup, start, &tx).await
    {
        return;
    }
    if tx.send(ProbeEvent::Started).await.is_err() {
        return;
    }
    // Readiness and liveness start counting when the container counts as started.
    let started = tokio::time::Instant::now();
    let readiness = async {
        match &c.readiness_probe {
            Some(p) => {
                watch(&target, p, Kind::Readiness, started, &tx).await;
            }
            None => {
                let _ = tx.send(ProbeEvent::Ready(true)).await;
            }
        }
        std::future::pending::<()>().await
    };
    let liveness = async {
        match &c.liveness_probe {
            Some(p) => {
                watch(&target, p, Kind::Liveness, started, &tx).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    // Liveness ending means the container is killed: stop everything then.
    tokio::select! {
        _ = readiness => {}
        _ = liveness => {}
    }
}

/// Probes on schedule. Startup: returns `true` once it succeeded. Liveness/startup: sends `Kill`
/// and returns `false` once failed. Readiness: runs forever.
async fn watch(
    target: &Target,
    probe: &Probe,
    kind: Kind,
    start: tokio::time::Instant,
    tx: &mpsc::Sender<ProbeEvent>,
) -> bool {
    let timing = Timing::of(probe, kind);
    let mut tracker = Tracker::new(kind);
    for n in 0u32.. {
        tokio::time::sleep_until(start + timing.due(n)).await;
        let outcome = match tokio::time::timeout(timing.timeout, check(target, probe, timing.timeout)).await {
            Ok(r) => r,
            Err(_) => Err(format!("probe timed out after {}s", timing.timeout.as_secs())),
        };
        if let Err(message) = &outcome
            && tx.send(ProbeEvent::Unhealthy { kind, message: message.clone() }).await.is_err()
        {
            return false;
        }
        match (kind, tracker.record(outcome.is_ok(), &timing)) {
            (Kind::Startup, Some(true)) => return true,
            (Kind::Startup | Kind::Liveness, Some(false)) => {
                let _ = tx.send(ProbeEvent::Kill { kind }).await;
                return false;
            }
            (Kind::Readiness, Some(ready)) if tx.send(ProbeEvent::Ready(ready)).await.is_err() => {
                return false;
            }
            _ => {}
        }
    }
    false
}

/// One probe attempt. `Err` carries the failure message of the kubelet's event.
async fn check(target: &Target, probe: &Probe, timeout: Duration) -> Result<(), String> {
    if let Some(h) = &probe.http_get {
        http_get(&target.container, h).await
    } else if let Some(t) = &probe.tcp_socket {
        tcp_socket(&target.container, t).await
    } else if let Some(e) = &probe.exec {
        exec(target, e.command.as_deref().unwrap_or_default(), timeout).await
    } else if probe.grpc.is_some() {
        Err("grpc probes are not supported by pod-harness".to_owned())
    } else {
        Err("probe has no handler".to_owned())
    }
}

/// A numeric port, or a named one looked up in the container's ports.
pub fn resolve_port(container: &Container, port: &IntOrString) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port number: {n}")),
        IntOrString::String(name) => {
            if let Ok(n) = name.parse::<u16>() {
                return Ok(n);
            }
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("couldn't find port: {name} in {}", container.name))
        }
    }
}

/// An I/O error as Go (the kubelet) words it: `connection refused`, not `Connection refused (os
/// error 111)`.
fn go_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn host_of(host: Option<&String>) -> String {
    host.filter(|h| !h.is_empty()).cloned().unwrap_or_else(|| "127.0.0.1".to_owned())
}

async fn tcp_socket(container: &Container, t: &TCPSocketAction) -> Result<(), String> {
    let port = resolve_port(container, &t.port)?;
    let host = host_of(t.host.as_ref());
    TcpStream::connect((host.as_str(), port))
        .await
        .map(drop)
        .map_err(|e| format!("dial tcp {host}:{port}: connect: {}", go_error(&e)))
}

async fn http_get(container: &Container, h: &HTTPGetAction) -> Result<(), String> {
    let port = h.port.clone();
    let port = resolve_port(container, &port)?;
    let host = host_of(h.host.as_ref());
    let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
    let path = h.path.as_deref().filter(|p| !p.is_empty()).unwrap_or("/");
    let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
    let url = format!("{scheme}://{host}:{port}{path}");
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    let headers = h.http_headers.iter().flatten();
    if !h.http_headers.iter().flatten().any(|x| x.name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {host}:{port}\r\n"));
    }
    if !h.http_headers.iter().flatten().any(|x| x.name.eq_ignore_ascii_case("user-agent")) {
        request.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !h.http_headers.iter().flatten().any(|x| x.name.eq_ignore_ascii_case("accept")) {
        request.push_str("Accept: */*\r\n");
    }
    for x in headers {
        request.push_str(&format!("{}: {}\r\n", x.name, x.value));
    }
    request.push_str("Connection: close\r\n\r\n");
    let failed = |e: String| format!("Get \"{url}\": {e}");
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| failed(format!("dial tcp {host}:{port}: connect: {}", go_error(&e))))?;
    let head = if scheme == "https" {
        let config = tokio_rustls::rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification::new()))
            .with_no_client_auth();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| failed(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| failed(e.to_string()))?;
        exchange(tls, &request).await
    } else {
        exchange(tcp, &request).await
    }
    .map_err(failed)?;
    let status = head
        .split(|b| *b == b'\n')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| failed("malformed HTTP response".to_owned()))?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {status}"))
    }
}

/// Sends `request`, returns the start of the response (at most 10 KiB, like the kubelet reads).
async fn exchange(mut io: impl AsyncRead + AsyncWrite + Unpin, request: &str) -> Result<Vec<u8>, String> {
    io.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 10 * 1024 && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match io.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if buf.is_empty() => return Err(e.to_string()),
            Err(_) => break,
        }
    }
    if buf.is_empty() { Err("EOF".to_owned()) } else { Ok(buf) }
}

/// Runs `command` in the container (mount namespace, cgroup, user); exit 0 succeeds. The
/// failure message is the command's output, like the kubelet's.
async fn exec(target: &Target, command: &[String], timeout: Duration) -> Result<(), String> {
    let name = command.first().ok_or("exec probe without a command")?;
    let program: PathBuf = process::resolve_program(name, &target.path_var, None, process::is_executable)?;
    let child =
        process::spawn_in_container(target.pid, &program, command, &target.env, target.privileges.clone())
            .map_err(|e| format!("exec {name}: {e}"))?;
    let pgid = child.id().unwrap_or_default();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let (code, _) = process::exit_info(out.status);
            Err(if text.trim().is_empty() { format!("command {command:?} exited with {code}") } else { text })
        }
        Ok(Err(e)) => Err(format!("exec {name}: {e}")),
        Err(_) => {
            process::signal_group(pgid, libc::SIGKILL);
            Err(format!("command timed out after {}s", timeout.as_secs()))
        }
    }
}

/// The kubelet does not verify the certificate of an HTTPS probe; the handshake's signatures are
/// still checked.
#[derive(Debug)]
struct NoVerification(Arc<tokio_rustls::rustls::crypto::CryptoProvider>);

impl NoVerification {
    fn new() -> Self {
        NoVerification(Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider()))
    }
}

impl tokio_rustls::rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[tokio_rustls::rustls::pki_types::CertificateDer<'_>],
        _server_name: &tokio_rustls::rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: tokio_rustls::rustls::pki_types::UnixTime,
    ) -> Result<tokio_rustls::rustls::client::danger::ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(tokio_rustls::rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        dss: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<tokio_rustls::rustls::client::danger::HandshakeSignatureValid, tokio_rustls::rustls::Error>
    {
        tokio_rustls::rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        dss: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<tokio_rustls::rustls::client::danger::HandshakeSignatureValid, tokio_rustls::rustls::Error>
    {
        tokio_rustls::rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<tokio_rustls::rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(delay: Option<i32>, period: Option<i32>, ok: Option<i32>, fail: Option<i32>) -> Probe {
        Probe {
            initial_delay_seconds: delay,
            period_seconds: period,
            success_threshold: ok,
            failure_threshold: fail,
            ..Default::default()
        }
    }

    #[test]
    fn timing_defaults_and_schedule() {
        let t = Timing::of(&Probe::default(), Kind::Readiness);
        assert_eq!(
            t,
            Timing {
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                success_threshold: 1,
                failure_threshold: 3,
            }
        );
        let t = Timing::of(&probe(Some(5), Some(2), Some(3), Some(4)), Kind::Readiness);
        assert_eq!([t.due(0), t.due(1), t.due(3)].map(|d| d.as_secs()), [5, 7, 11]);
        assert_eq!((t.success_threshold, t.failure_threshold), (3, 4));
        // Liveness and startup succeed after one success whatever is set.
        assert_eq!(Timing::of(&probe(None, None, Some(3), None), Kind::Liveness).success_threshold, 1);
        // A zero or negative period is the minimum of one second.
        assert_eq!(
            Timing::of(&probe(None, Some(0), None, None), Kind::Liveness).period,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn readiness_flips_after_thresholds() {
        let t = Timing::of(&probe(None, None, Some(2), Some(3)), Kind::Readiness);
        let mut r = Tracker::new(Kind::Readiness);
        assert_eq!(r.result, Some(false), "not ready before a probe succeeded");
        assert_eq!(r.record(true, &t), None, "one success of two");
        assert_eq!(r.record(false, &t), None);
        assert_eq!(r.record(true, &t), None, "the run restarted");
        assert_eq!(r.record(true, &t), Some(true));
        assert_eq!(r.record(true, &t), None, "no change");
        assert_eq!(r.record(false, &t), None);
        assert_eq!(r.record(false, &t), None);
        assert_eq!(r.record(false, &t), Some(false), "third failure in a row");
    }

    #[test]
    fn liveness_fails_after_the_failure_threshold_and_startup_starts_unknown() {
        let t = Timing::of(&probe(None, None, None, Some(2)), Kind::Liveness);
        let mut l = Tracker::new(Kind::Liveness);
        assert_eq!(l.result, Some(true));
        assert_eq!(l.record(false, &t), None);
        assert_eq!(l.record(true, &t), None);
        assert_eq!(l.record(false, &t), None);
        assert_eq!(l.record(false, &t), Some(false));
        let mut s = Tracker::new(Kind::Startup);
        assert_eq!(s.result, None);
        assert_eq!(s.record(true, &Timing::of(&Probe::default(), Kind::Startup)), Some(true));
    }

    #[test]
    fn errors_read_like_go() {
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(go_error(&refused), "connection refused");
    }

    #[test]
    fn named_and_numeric_ports() {
        let c = Container {
            name: "main".into(),
            ports: Some(vec![k8s_openapi::api::core::v1::ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(resolve_port(&c, &IntOrString::Int(9000)), Ok(9000));
        assert_eq!(resolve_port(&c, &IntOrString::String("http".into())), Ok(8080));
        assert!(resolve_port(&c, &IntOrString::String("metrics".into())).is_err());
        assert!(resolve_port(&c, &IntOrString::Int(70000)).is_err());
    }
}
