//! A TCP proxy in front of a real service, for outages on demand: while it is down, every open
//! connection is cut mid-stream and new ones are accepted and dropped at once — what a client
//! sees when a storage endpoint or load balancer fails. Only the client using the proxy is
//! affected; the service itself and other tests go on undisturbed.
//!
//! [`Proxy::stall`] is the other kind of failure: the connections open at that moment stay open
//! and carry nothing more in either direction (a half-dead load balancer, a NAT entry dropped on
//! one side), while new connections work — what only a client that opens a new one survives.
//! [`Proxy::retarget`] points it at an upstream known only after the proxy's own address was
//! needed (a broker advertising the proxy).
//!
//! [`Proxy::start_with_credentials`] makes it an HTTP proxy that demands Basic credentials, as a
//! corporate proxy does: a connection whose first request carries no matching
//! `Proxy-Authorization` is answered `407` and closed (later requests on an accepted keep-alive
//! connection are not checked again: the client proved it has the password).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

pub struct Proxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    upstream: Arc<std::sync::Mutex<String>>,
    /// Raised by [`Proxy::stall`]: connections opened before hold still.
    stalls: tokio::sync::watch::Sender<u64>,
    /// The connections stalled, kept open until the proxy is dropped.
    held: Arc<std::sync::Mutex<Vec<(TcpStream, TcpStream)>>>,
    connections: Arc<Mutex<JoinSet<()>>>,
    refused: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    /// Connections answered 407 (no or wrong credentials).
    unauthorized: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

/// The head of the first request on `client` (up to the blank line), at most 64 KiB.
async fn read_head(client: &mut TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        head.extend_from_slice(&buf[..n]);
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    Some(head)
}

/// Whether `head` carries `Proxy-Authorization: Basic <expected>`.
fn authorized(head: &[u8], expected: &str) -> bool {
    String::from_utf8_lossy(head).lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("proxy-authorization")
                && value.trim().strip_prefix("Basic ").is_some_and(|v| v.trim() == expected)
        })
    })
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        Self::listen(upstream, None).await
    }

    /// [`Self::start`], demanding Basic credentials `user`:`password` of every connection's first
    /// request (`407 Proxy Authentication Required` without them).
    pub async fn start_with_credentials(upstream: &str, user: &str, password: &str) -> anyhow::Result<Self> {
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self::listen(upstream, Some(expected)).await
    }

    async fn listen(upstream: &str, credentials: Option<String>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let down = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let unauthorized = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let upstream = Arc::new(std::sync::Mutex::new(upstream.to_string()));
        let (stalls, _) = tokio::sync::watch::channel(0u64);
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let (down, refused, connections) = (down.clone(), refused.clone(), connections.clone());
            let (accepted, unauthorized) = (accepted.clone(), unauthorized.clone());
            let (target, stalls, held) = (upstream.clone(), stalls.clone(), held.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    if down.load(Ordering::SeqCst) {
                        refused.fetch_add(1, Ordering::Relaxed);
                        drop(client);
                        continue;
                    }
                    let upstream = target.lock().map(|u| u.clone()).unwrap_or_default();
                    let (credentials, unauthorized) = (credentials.clone(), unauthorized.clone());
                    let (mut stalled, held) = (stalls.subscribe(), held.clone());
                    let opened_in = *stalled.borrow_and_update();
                    connections.lock().await.spawn(async move {
                        use tokio::io::AsyncWriteExt;
                        let mut head = Vec::new();
                        if let Some(expected) = &credentials {
                            match read_head(&mut client).await {
                                Some(h) if authorized(&h, expected) => head = h,
                                _ => {
                                    unauthorized.fetch_add(1, Ordering::Relaxed);
                                    let _ = client
                                        .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"e2e\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                        .await;
                                    return;
                                }
                            }
                        }
                        if let Ok(mut server) = TcpStream::connect(&upstream).await
                            && server.write_all(&head).await.is_ok()
                        {
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = stalled.wait_for(|n| *n > opened_in) => {
                                    if let Ok(mut held) = held.lock() {
                                        held.push((client, server));
                                    }
                                }
                            }
                        }
                    });
                }
            }
        });
        Ok(Self { addr, down, upstream, stalls, held, connections, refused, accepted, unauthorized, accept })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts an outage: open connections are cut, new ones dropped.
    pub async fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.connections.lock().await.abort_all();
    }

    /// Every connection open now stops carrying bytes, both ways, and stays open; connections
    /// opened later are forwarded as before.
    pub fn stall(&self) {
        self.stalls.send_modify(|n| *n += 1);
    }

    /// Connections held still by [`Self::stall`] so far.
    pub fn stalled(&self) -> usize {
        self.held.lock().map(|h| h.len()).unwrap_or_default()
    }

    /// New connections go to `upstream` (`host:port`) from now on.
    pub fn retarget(&self, upstream: &str) {
        if let Ok(mut u) = self.upstream.lock() {
            *u = upstream.to_string();
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Ends the outage.
    pub fn heal(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// Connections accepted so far (forwarded or dropped): proof that a client went through here.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections answered 407 for want of the right credentials.
    pub fn unauthorized(&self) -> u64 {
        self.unauthorized.load(Ordering::Relaxed)
    }

    /// `http://user:password@127.0.0.1:<port>`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// Connections dropped during outages: proof the client did try.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
