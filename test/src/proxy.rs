//! A TCP proxy in front of a real service, for outages on demand: while it is down, every open
//! connection is cut mid-stream and new ones are accepted and dropped at once — what a client
//! sees when a storage endpoint or load balancer fails. Only the client using the proxy is
//! affected; the service itself and other tests go on undisturbed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

pub struct Proxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    connections: Arc<Mutex<JoinSet<()>>>,
    refused: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let down = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let upstream = upstream.to_string();
        let accept = tokio::spawn({
            let (down, refused, connections) = (down.clone(), refused.clone(), connections.clone());
            let accepted = accepted.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    if down.load(Ordering::SeqCst) {
                        refused.fetch_add(1, Ordering::Relaxed);
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    connections.lock().await.spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
            }
        });
        Ok(Self { addr, down, connections, refused, accepted, accept })
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

    /// Ends the outage.
    pub fn heal(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// Connections accepted so far (forwarded or dropped): proof that a client went through here.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
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
