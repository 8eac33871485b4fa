//! The TLS listener: rustls with TLS 1.2 and 1.3, ALPN for HTTP/2 and HTTP/1.1 (the API server
//! speaks HTTP/2 to webhooks), each connection served by hyper. The certificate is asked of the
//! [`CertStore`] at every handshake, so a rotated certificate serves new connections at once
//! while established ones finish on the old one.
//!
//! A client that connects and never completes the handshake is dropped after
//! [`HANDSHAKE_TIMEOUT`]; one that never sends its headers, after hyper's header timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::certs::{self, CertStore};

pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls configuration serving `store`'s certificate.
pub fn tls_config(store: Arc<CertStore>) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(certs::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
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
    tokio::pin!(shutdown);
    loop {
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
        let (acceptor, service) = (acceptor.clone(), service.clone());
        tokio::spawn(async move {
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
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(HANDSHAKE_TIMEOUT);
            builder.http2().timer(TokioTimer::new());
            if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
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
