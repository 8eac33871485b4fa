//! The TLS listener: rustls with TLS 1.2 and 1.3, ALPN for HTTP/2 and HTTP/1.1 (the API server
//! speaks HTTP/2 to webhooks), each connection served by hyper. The certificate is asked of the
//! [`CertStore`] at every handshake, so a rotated certificate serves new connections at once
//! while established ones finish on the old one.
//!
//! Anyone in the cluster can reach the webhook port unless a NetworkPolicy says otherwise, so
//! the listener bounds what one client can hold: [`MAX_CONNECTIONS`] in all and
//! [`MAX_CONNECTIONS_PER_PEER`] per source address (so one noisy pod cannot take every slot
//! from the API server), [`HANDSHAKE_TIMEOUT`] to finish TLS, [`HEADER_READ_TIMEOUT`] to send
//! a request's headers (a slowloris that trickles them a byte at a time is cut off),
//! [`IDLE_TIMEOUT`] of silence before a kept-alive connection is closed, and
//! [`MAX_STREAMS_PER_CONNECTION`] requests in flight on one HTTP/2 connection. The body limit,
//! body read timeout and the bound on requests handled at once are the router's
//! ([`crate::router`]).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::certs::{self, CertStore};

/// Connections served at once. The API server multiplexes its calls over a few HTTP/2
/// connections per replica, so this is far above what it needs; it bounds memory (each TLS
/// connection holds some tens of KiB of buffers, the pod's limit is 256 MiB). Past it, new
/// connections wait in the kernel's accept queue until one ends.
pub const MAX_CONNECTIONS: usize = 512;

/// Connections one source address may hold: half of [`MAX_CONNECTIONS`], so a single client
/// (a pod holding connections open) can never take the slots the API server needs. Further
/// connections from that address are closed as soon as they are accepted.
pub const MAX_CONNECTIONS_PER_PEER: usize = MAX_CONNECTIONS / 2;

/// Time to complete the TLS handshake. The API server's takes milliseconds; a client that
/// connects and says nothing is dropped after this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Time to send a request's headers once it has begun (HTTP/1.1; HTTP/2 headers come in one
/// frame). A slowloris sending headers a byte at a time is cut off after this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Silence (nothing read from the client) after which a connection is closed gracefully:
/// requests in flight finish, HTTP/2 clients get a GOAWAY and reconnect. Longer than any
/// admission call (the API server gives a webhook at most 30 s), shorter than Go's 90 s idle
/// timeout, so idle connections do not pile up.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(40);

/// Requests in flight on one HTTP/2 connection (HTTP/1.1 has one at a time). The API server
/// needs a handful; hyper's default, 200, would let one connection queue a lot of work.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 32;

/// Largest request head: HTTP/1.1 read buffer, HTTP/2 header list. An AdmissionReview call's
/// headers are a few hundred bytes.
pub const MAX_HEADER_BYTES: usize = 64 << 10;

/// The rustls configuration serving `store`'s certificate.
pub fn tls_config(store: Arc<CertStore>) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(certs::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Connections held per source address; a [`PeerSlot`] gives its one back when dropped.
#[derive(Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = held.entry(ip).or_default();
        if *n >= MAX_CONNECTIONS_PER_PEER {
            return None;
        }
        *n += 1;
        Some(PeerSlot { peers: self.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut held = self.peers.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// A stream that notes when it last read something, for [`IDLE_TIMEOUT`].
struct Watched<T> {
    inner: T,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last read that returned bytes.
    last_read: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let now = self.epoch.elapsed().as_millis() as u64;
            self.last_read.store(now, Ordering::Relaxed);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    store: Arc<CertStore>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), rustls::Error> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(store)?));
    let service = TowerToHyperService::new(router);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let peers = Arc::new(Peers::default());
    tokio::pin!(shutdown);
    loop {
        // A slot first, then the connection: past MAX_CONNECTIONS clients wait in the backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return Ok(()), // never closed
            },
            () = &mut shutdown => return Ok(()),
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "webhook listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let Some(peer_slot) = peers.take(peer.ip()) else {
            tracing::debug!(%peer, "webhook connection refused: too many from this address");
            continue;
        };
        let (acceptor, service) = (acceptor.clone(), service.clone());
        tokio::spawn(async move {
            let _slots = (slot, peer_slot);
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "webhook TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "webhook TLS handshake timed out");
                    return;
                }
            };
            let last_read = Arc::new(AtomicU64::new(0));
            let epoch = Instant::now();
            let io = Watched { inner: tls, epoch, last_read: last_read.clone() };
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
                .max_header_list_size(MAX_HEADER_BYTES as u32);
            let connection = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(connection);
            let mut check = tokio::time::interval(IDLE_TIMEOUT / 4);
            let mut closing = false;
            let ended = loop {
                tokio::select! {
                    ended = connection.as_mut() => break ended,
                    _ = check.tick(), if !closing => {
                        let idle = epoch.elapsed().saturating_sub(Duration::from_millis(last_read.load(Ordering::Relaxed)));
                        if idle >= IDLE_TIMEOUT {
                            tracing::debug!(%peer, "webhook connection idle: closing it");
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "webhook connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::self_signed::Authority;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn connect(
        address: std::net::SocketAddr,
        ca_pem: &str,
        alpn: &[u8],
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("ca")).expect("root");
        let mut config = rustls::ClientConfig::builder_with_provider(certs::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let tcp = tokio::net::TcpStream::connect(address).await.expect("tcp");
        let name = ServerName::try_from("localhost").expect("name");
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("handshake")
    }

    #[test]
    fn one_address_holds_at_most_its_share_of_connections() {
        let peers = Arc::new(Peers::default());
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let mut held: Vec<PeerSlot> =
            (0..MAX_CONNECTIONS_PER_PEER).map(|_| peers.take(a).expect("within the share")).collect();
        assert!(peers.take(a).is_none(), "one past the share is refused");
        assert!(peers.take(b).is_some(), "another address is not");
        held.pop();
        assert!(peers.take(a).is_some(), "a closed connection gives its place back");
    }

    #[tokio::test]
    async fn a_client_trickling_its_headers_is_cut_off() {
        let dir = std::env::temp_dir().join(format!("webhook-slowloris-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = Authority::new().expect("ca");
        let leaf = ca.issue(&["localhost".into()]).expect("leaf");
        std::fs::write(dir.join(certs::CERT_FILE), &leaf.cert_pem).expect("write");
        std::fs::write(dir.join(certs::KEY_FILE), &leaf.key_pem).expect("write");
        let store = Arc::new(CertStore::load(&dir).expect("load"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let router = Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let server = tokio::spawn(serve(listener, store, router, std::future::pending()));

        let mut slow = connect(address, &ca.ca_pem(), b"http/1.1").await;
        let started = std::time::Instant::now();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nx-slow: ").await.expect("send");
        // A byte every 250 ms until the server gives up on the headers.
        let cut = tokio::time::timeout(HEADER_READ_TIMEOUT * 3, async {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if slow.write_all(b"a").await.and(slow.flush().await).is_err() {
                    return;
                }
                let mut byte = [0u8; 1];
                if let Ok(read) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await {
                    // An answer (408) or the end of the connection: cut off either way.
                    let _ = read;
                    return;
                }
            }
        })
        .await;
        assert!(cut.is_ok(), "still connected after {:?}", started.elapsed());
        assert!(started.elapsed() >= HEADER_READ_TIMEOUT, "cut off early: {:?}", started.elapsed());
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn serves_http1_and_h2_and_new_connections_get_the_rotated_certificate() {
        let dir = std::env::temp_dir().join(format!("webhook-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = Authority::new().expect("ca");
        let first = ca.issue(&["localhost".into()]).expect("leaf");
        std::fs::write(dir.join(certs::CERT_FILE), &first.cert_pem).expect("write");
        std::fs::write(dir.join(certs::KEY_FILE), &first.key_pem).expect("write");
        let store = Arc::new(CertStore::load(&dir).expect("load"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let router = Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let server = tokio::spawn(serve(listener, store.clone(), router, std::future::pending()));

        let h2 = connect(address, &ca.ca_pem(), b"h2").await;
        assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut h1 = connect(address, &ca.ca_pem(), b"http/1.1").await;
        h1.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await
            .expect("send");
        let mut reply = String::new();
        h1.read_to_string(&mut reply).await.expect("read");
        assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("ok"), "{reply}");

        let second = ca.issue(&["localhost".into()]).expect("leaf");
        std::fs::write(dir.join(certs::KEY_FILE), &second.key_pem).expect("write");
        std::fs::write(dir.join(certs::CERT_FILE), &second.cert_pem).expect("write");
        assert!(store.reload().expect("reload"));
        let after = connect(address, &ca.ca_pem(), b"http/1.1").await;
        let served = after.get_ref().1.peer_certificates().expect("certificate")[0].clone();
        assert_eq!(
            served.as_ref(),
            CertificateDer::from_pem_slice(second.cert_pem.as_bytes()).expect("der").as_ref()
        );
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
