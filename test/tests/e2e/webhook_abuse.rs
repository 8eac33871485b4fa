//! The admission webhook server under abuse: while other clients hold slowloris connections
//! and flood it with 4 MiB bodies, the API server's admissions still succeed, each one, and
//! their p99 stays near what it is on a quiet server.
//!
//! The operator binary serves the webhooks as in `webhook.rs`. The admissions of "the API
//! server" come from 127.0.0.1; the abusers are other loopback addresses, as other pods would
//! be: 127.0.0.2 holds slowloris connections (some never finish TLS, the rest send a request's
//! headers a byte at a time), 127.0.0.3 sends valid AdmissionReviews of 4 MiB back to back. The
//! abusers run on their own runtime thread with their own sockets.
//!
//! A load test, not a timing oracle for CI: ignored, run alone with
//! `cargo test -p strimzi-backup-e2e --test webhook_abuse -- --ignored --nocapture`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use strimzi_backup_e2e::fixtures::{Cluster, wait_until};
use strimzi_backup_e2e::operator::Operator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

const MUTATE: &str = "/mutate-kafkabackup-com-v1alpha1-kafkabackup";
/// Admissions measured per phase, one after the other, each on a new connection (the harder
/// case: every one goes through the accept queue and a handshake, as an API server that has
/// just started or lost its connection does).
const ADMISSIONS: usize = 300;
/// Pause between two measured admissions: a steady trickle, not a load of its own.
const PACE: Duration = Duration::from_millis(10);
/// Slowloris connections held from 127.0.0.2: more than a single client may hold.
const SLOWLORIS_TLS: usize = 240;
const SLOWLORIS_SILENT: usize = 60;
/// Concurrent senders of 4 MiB bodies from 127.0.0.3.
const FLOODERS: usize = 16;
const FLOOD_BODY: usize = 4 << 20;

fn tls_config(ca_pem: &[u8]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem).context("the CA certificate")?)?;
    let mut config = rustls::ClientConfig::builder_with_provider(strimzi_backup_webhook::certs::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP connection to `port` on 127.0.0.1 from `source`.
async fn tcp_from(source: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await
}

async fn tls_from(
    config: &Arc<rustls::ClientConfig>,
    source: Ipv4Addr,
    port: u16,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let tcp = tcp_from(source, port).await?;
    let name = ServerName::try_from("127.0.0.1")?;
    Ok(tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp).await?)
}

fn review(uid: &str, object: Value) -> Value {
    let gvk = json!({"group": "kafkabackup.com", "version": "v1alpha1", "kind": "KafkaBackup"});
    let gvr = json!({"group": "kafkabackup.com", "version": "v1alpha1", "resource": "kafkabackups"});
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": object["metadata"]["name"], "namespace": "abuse", "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
            "object": object, "oldObject": null, "dryRun": false
        }
    })
}

fn backup(annotation: &str) -> Value {
    json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup",
        "metadata": {"name": "minimal", "namespace": "abuse", "annotations": {"padding": annotation}},
        "spec": {
            "strimziClusterRef": {"name": "my-cluster"},
            "storage": {"type": "s3", "s3": {"bucket": "b", "region": "eu-west-1", "credentialsSecret": {"name": "s"}}}
        }
    })
}

/// A valid review of exactly [`FLOOD_BODY`] bytes: the server that reads it parses all of it.
fn flood_body() -> Vec<u8> {
    let bare = review("flood", backup("")).to_string().len();
    let body = review("flood", backup(&"x".repeat(FLOOD_BODY - bare))).to_string().into_bytes();
    assert_eq!(body.len(), FLOOD_BODY);
    body
}

/// One admission as the API server makes it, on a new connection from 127.0.0.1: its latency,
/// or why it failed (anything but an allowed answer echoing our uid is a failure).
async fn admit(config: &Arc<rustls::ClientConfig>, port: u16, uid: &str) -> anyhow::Result<Duration> {
    let body = review(uid, backup("")).to_string();
    let started = Instant::now();
    let exchange = async {
        let mut tls = tls_from(config, Ipv4Addr::LOCALHOST, port).await?;
        let head = format!(
            "POST {MUTATE} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).await?;
        tls.write_all(body.as_bytes()).await?;
        let mut reply = Vec::new();
        if let Err(e) = tls.read_to_end(&mut reply).await
            && reply.is_empty()
        {
            return Err(anyhow::Error::from(e));
        }
        Ok(reply)
    };
    let reply =
        tokio::time::timeout(Duration::from_secs(30), exchange).await.context("no answer in 30 s")??;
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&reply);
    let (head, json) = text.split_once("\r\n\r\n").context("an HTTP answer without a body")?;
    ensure!(head.starts_with("HTTP/1.1 200"), "admission {uid}: {head}");
    let answer: Value = serde_json::from_str(json).with_context(|| format!("admission {uid}: {json}"))?;
    ensure!(
        answer["response"]["allowed"] == true && answer["response"]["uid"] == uid,
        "admission {uid} not allowed: {answer}"
    );
    Ok(elapsed)
}

/// [`ADMISSIONS`] admissions one after the other: the latencies, sorted. Any failure fails.
async fn measure(
    config: &Arc<rustls::ClientConfig>,
    port: u16,
    phase: &str,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(ADMISSIONS);
    for i in 0..ADMISSIONS {
        latencies.push(
            admit(config, port, &format!("{phase}-{i}")).await.with_context(|| format!("{phase} phase"))?,
        );
        tokio::time::sleep(PACE).await;
    }
    latencies.sort();
    Ok(latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

/// What the abusers saw.
#[derive(Default)]
struct Tally {
    /// Connections the server closed on a slowloris that had not finished its headers.
    slowloris_cut: AtomicU64,
    /// Connections refused or dropped before TLS was done (per-address cap, handshake timeout).
    refused: AtomicU64,
    /// Flood requests answered 413, answered otherwise (200: read and judged whole), cut off.
    flood_413: AtomicU64,
    flood_other: AtomicU64,
    flood_cut: AtomicU64,
}

/// A connection that never finishes TLS: it waits for the server to give up on it.
async fn silent(port: u16, stop: &AtomicBool, tally: &Tally) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut tcp) = tcp_from(Ipv4Addr::new(127, 0, 0, 2), port).await {
            let mut byte = [0u8; 1];
            let _ = tokio::time::timeout(Duration::from_secs(60), tcp.read(&mut byte)).await;
        }
        tally.refused.fetch_add(1, Ordering::Relaxed);
        // An attacker that backs off a little, so the refusals do not become a CPU flood.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request whose headers come a byte every 200 ms, forever.
async fn slowloris(config: Arc<rustls::ClientConfig>, port: u16, stop: &AtomicBool, tally: &Tally) {
    let head = format!("POST {MUTATE} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ");
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tls) = tls_from(&config, Ipv4Addr::new(127, 0, 0, 2), port).await else {
            tally.refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut sent = tls.write_all(head.as_bytes()).await.and(tls.flush().await);
        while sent.is_ok() && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            sent = tls.write_all(b"a").await.and(tls.flush().await);
        }
        if sent.is_err() {
            tally.slowloris_cut.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// 4 MiB reviews back to back on new connections, each read and written at once.
async fn flood(
    config: Arc<rustls::ClientConfig>,
    port: u16,
    body: Arc<Vec<u8>>,
    stop: &AtomicBool,
    tally: &Tally,
) {
    let head = format!(
        "POST {MUTATE} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    while !stop.load(Ordering::Relaxed) {
        let Ok(tls) = tls_from(&config, Ipv4Addr::new(127, 0, 0, 3), port).await else {
            tally.refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (mut read, mut write) = tokio::io::split(tls);
        let send = async {
            write.write_all(head.as_bytes()).await?;
            write.write_all(&body).await?;
            write.flush().await
        };
        let receive = async {
            let mut reply = Vec::new();
            let _ = read.read_to_end(&mut reply).await;
            reply
        };
        let (_, reply) = tokio::join!(send, receive);
        let counter = if reply.starts_with(b"HTTP/1.1 413") {
            &tally.flood_413
        } else if reply.is_empty() {
            &tally.flood_cut
        } else {
            &tally.flood_other
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs the abusers on a runtime thread of their own until `stop` is set.
fn start_abuse(
    config: Arc<rustls::ClientConfig>,
    port: u16,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("the abusers' runtime");
        runtime.block_on(async move {
            let body = Arc::new(flood_body());
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..SLOWLORIS_SILENT {
                let (stop, tally) = (stop.clone(), tally.clone());
                tasks.spawn(async move { silent(port, &stop, &tally).await });
            }
            for _ in 0..SLOWLORIS_TLS {
                let (config, stop, tally) = (config.clone(), stop.clone(), tally.clone());
                tasks.spawn(async move { slowloris(config, port, &stop, &tally).await });
            }
            for _ in 0..FLOODERS {
                let (config, body, stop, tally) = (config.clone(), body.clone(), stop.clone(), tally.clone());
                tasks.spawn(async move { flood(config, port, body, &stop, &tally).await });
            }
            // The silent ones wait on their server; once the measurement is over they go.
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "a load test: minutes of both cores, run alone with --ignored --nocapture"]
async fn slowloris_and_4mib_floods_keep_others_admissions_near_their_normal_p99() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    cluster.install_crds().await?;
    let ns = cluster.namespace("webhook-abuse").await?;
    let operator = Operator::start(&cluster.env, &ns)?;
    let ca = operator.cert_dir.join("ca.crt");
    wait_until(Duration::from_secs(60), "the operator's self-signed CA", || async {
        Ok(ca.exists().then_some(()))
    })
    .await?;
    let config = tls_config(&std::fs::read(&ca)?)?;
    let port = operator.webhook_port;
    wait_until(Duration::from_secs(60), "the webhook to answer", || async {
        Ok(admit(&config, port, "ready").await.ok())
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;

    let normal = measure(&config, port, "normal").await?;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let abusers = start_abuse(config.clone(), port, stop.clone(), tally.clone());
    // The abuse is in full swing once the server has cut a slowloris off (HEADER_READ_TIMEOUT)
    // and answered a flood request: measure from then on.
    let swing = wait_until(Duration::from_secs(60), "the abuse to be in full swing", || async {
        let cut = tally.slowloris_cut.load(Ordering::Relaxed);
        let flooded = tally.flood_413.load(Ordering::Relaxed)
            + tally.flood_other.load(Ordering::Relaxed)
            + tally.flood_cut.load(Ordering::Relaxed);
        Ok((cut > 0 && flooded > 0).then_some(()))
    })
    .await;
    let abused = match swing {
        Ok(()) => measure(&config, port, "abused").await,
        Err(e) => Err(e),
    };
    stop.store(true, Ordering::Relaxed);
    abusers.join().map_err(|_| anyhow::anyhow!("the abusers' thread panicked"))?;
    let abused = abused?;

    let (p50, p99) = (percentile(&normal, 50.0), percentile(&normal, 99.0));
    let (ap50, ap99) = (percentile(&abused, 50.0), percentile(&abused, 99.0));
    println!("admissions alone:       p50 {p50:?}  p99 {p99:?}  max {:?}", normal[normal.len() - 1]);
    println!("admissions under abuse: p50 {ap50:?}  p99 {ap99:?}  max {:?}", abused[abused.len() - 1]);
    println!(
        "abusers: {} slowloris cut off, {} connections refused or dropped before TLS, flood answers: {} × 413, {} other, {} cut",
        tally.slowloris_cut.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        tally.flood_413.load(Ordering::Relaxed),
        tally.flood_other.load(Ordering::Relaxed),
        tally.flood_cut.load(Ordering::Relaxed),
    );
    // The median first: it shows whether the server spends itself on the abusers for the
    // typical admission (without the limits, whole 4 MiB parses occupy both worker threads and
    // the median rises tenfold), and unlike the p99 it is not at the mercy of whatever else the
    // 2 shared cores are doing in these few seconds.
    let median_bound = p50 * 3 + Duration::from_millis(20);
    ensure!(
        ap50 <= median_bound,
        "p50 under abuse {ap50:?} is above 3 × the normal p50 + 20 ms = {median_bound:?}"
    );
    // Generous on purpose: on 2 shared cores the abusers' own TLS work and every handshake the
    // server completes for them take CPU from the admissions whatever the limits, so some rise
    // is expected. What the limits prevent is the server spending itself on the abusers (whole
    // 4 MiB parses on both worker threads, slots held without end): that shows as admissions
    // waiting hundreds of milliseconds to seconds, far past this bound.
    let bound = p99 * 5 + Duration::from_millis(200);
    ensure!(ap99 <= bound, "p99 under abuse {ap99:?} is above 5 × the normal p99 + 200 ms = {bound:?}");
    Ok(())
}
