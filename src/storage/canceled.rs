//! Makes object_store retry requests that hyper cancelled before sending them.
//!
//! When a pooled connection dies between requests (a storage outage, a load balancer closing idle
//! connections), hyper hands the next request a connection that is not ready and fails it with a
//! "canceled: connection was not ready" error. The request never left the process, so it is safe
//! to send again — but object_store (0.14) classifies that error as `Unknown` and fails the
//! operation at once, which turned a storage outage the backup had already ridden out into a
//! failed backup (seen in the resilience e2e test). This connector wraps object_store's own
//! reqwest client and reports those errors as `Request` ("not sent, can retry"), so
//! object_store's retry loop, with its backoff and time budget, sends them again. Nothing else
//! changes.

use std::future::Future;
use std::pin::Pin;

use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};

/// object_store's reqwest connector, with cancelled-before-sent requests made retryable.
#[derive(Debug, Default)]
pub struct Connector;

impl HttpConnector for Connector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(Service(ReqwestConnector::default().connect(options)?)))
    }
}

#[derive(Debug)]
struct Service(HttpClient);

impl HttpService for Service {
    // The trait is declared with `async_trait`; this is the signature that macro expands to.
    fn call<'life0, 'async_trait>(
        &'life0 self,
        req: HttpRequest,
    ) -> Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.0.execute(req).await.map_err(reclassify) })
    }
}

/// `Request` for an error hyper raised because it cancelled the request before sending it; the
/// error unchanged otherwise.
fn reclassify(e: HttpError) -> HttpError {
    if e.kind() == HttpErrorKind::Unknown && cancelled_before_sending(&e) {
        HttpError::new(HttpErrorKind::Request, e)
    } else {
        e
    }
}

/// Whether the error's causes include hyper's "canceled" (a request dropped before it was
/// written, e.g. on a pooled connection that was not ready).
fn cancelled_before_sending(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_canceled) {
            return true;
        }
        cause = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;

    #[test]
    fn other_errors_keep_their_kind() {
        for kind in
            [HttpErrorKind::Unknown, HttpErrorKind::Connect, HttpErrorKind::Timeout, HttpErrorKind::Decode]
        {
            assert_eq!(reclassify(HttpError::new(kind, Boom)).kind(), kind);
        }
        assert!(!cancelled_before_sending(&Boom));
    }

    /// A real hyper "canceled" error: a request on a connection whose other end is gone before
    /// the request is sent. hyper's errors cannot be built by hand.
    #[tokio::test]
    async fn hypers_cancelled_request_is_retryable() -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (server_side, _) = listener.accept().await?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, String>(io).await?;
        let driver = tokio::spawn(conn);
        drop(server_side);
        // The connection task ends when the peer closes; a request after that is cancelled.
        let _ = driver.await;
        let err =
            sender.send_request(http::Request::new(String::new())).await.expect_err("the connection is gone");
        // The error the resilience test met: hyper::Error(Canceled, "connection was not ready").
        assert!(err.is_canceled(), "{err:?}");
        let e = reclassify(HttpError::new(HttpErrorKind::Unknown, err));
        assert_eq!(e.kind(), HttpErrorKind::Request);
        Ok(())
    }
}
