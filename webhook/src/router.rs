//! The routes: one POST route per webhook, `/healthz` and `/readyz` (a server that answers is
//! both: the certificate is loaded before the listener opens). Bodies above [`BODY_LIMIT`] are
//! refused with 413 (at once when their Content-Length says so, else as soon as the limit is
//! passed), bodies not received within [`BODY_READ_TIMEOUT`] with 408, and at most
//! [`MAX_IN_FLIGHT`] requests are handled at once; the rest wait their turn, first come first
//! served, rather than being refused (a refused admission is a failed `kubectl apply`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::metrics::{Metrics, RequestLabels, WebhookLabels};
use crate::review::{self, Admit, Answer, Webhook};

/// Largest body read: 3.5 MiB. The API server sends the object and, on updates, the old
/// object; etcd keeps objects up to 1.5 MiB, so 2 × 1.5 MiB leaves half a MiB for the review's
/// envelope (userInfo, options, managed fields are inside the objects already). Our own kinds
/// are a few KiB; the margin is for the limit being etcd's, not ours.
pub const BODY_LIMIT: usize = (7 << 20) / 2;

/// Time to receive a whole body once the headers are in. The API server sends its review at
/// once; 3.5 MiB over the slowest in-cluster link takes well under a second. A client that
/// trickles a body holds one of the [`MAX_IN_FLIGHT`] places for at most this long.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests handled at once (body read, decision, answer), over all connections. Bounds the
/// memory of buffered bodies (32 × 3.5 MiB = 112 MiB, under the pod's 256 MiB limit) and keeps
/// the two worker threads from being shared among more parses than they can finish; later
/// requests wait in line for a place, they are not refused.
pub const MAX_IN_FLIGHT: usize = 32;

/// Reads `request`'s body within [`BODY_READ_TIMEOUT`] and [`BODY_LIMIT`]: the body, or the
/// answer refusing it.
async fn read_body(request: Request) -> Result<Bytes, Response> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("bodies above {BODY_LIMIT} bytes are refused"))
            .into_response());
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, Bytes::from_request(request, &())).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(rejection)) => Err(rejection.into_response()),
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {}s", BODY_READ_TIMEOUT.as_secs()),
        )
            .into_response()),
    }
}

async fn serve<A: Admit>(admit: &A, webhook: &Webhook, metrics: &Metrics, body: Bytes) -> Response {
    let started = Instant::now();
    let answer = review::answer(admit, webhook, &body).await;
    let verdict = answer.verdict();
    let response = match answer {
        Answer::Review(review, _) => match serde_json::to_vec(&review) {
            Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
            Err(e) => {
                (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the answer: {e}")).into_response()
            }
        },
        Answer::BadRequest(why) => (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let name = webhook.name.clone();
    metrics
        .requests
        .get_or_create(&RequestLabels { webhook: name.clone(), verdict: verdict.as_str().into() })
        .inc();
    metrics.duration.get_or_create(&WebhookLabels { webhook: name }).observe(started.elapsed().as_secs_f64());
    response
}

/// The routes of `webhooks`, answered by `admit`.
pub fn router<A: Admit>(admit: Arc<A>, webhooks: &[Webhook], metrics: Arc<Metrics>) -> Router {
    let mut router =
        Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(|| async { "ready" }));
    for webhook in webhooks {
        let (admit, metrics, hook) = (admit.clone(), metrics.clone(), webhook.clone());
        router = router.route(
            &webhook.path,
            post(move |request: Request| async move {
                match read_body(request).await {
                    Ok(body) => serve(admit.as_ref(), &hook, &metrics, body).await,
                    Err(refused) => refused,
                }
            }),
        );
    }
    router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(MAX_IN_FLIGHT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use kube::core::DynamicObject;
    use kube::core::admission::{AdmissionRequest, AdmissionResponse};
    use prometheus_client::registry::Registry;
    use tower::ServiceExt;

    struct DenyAll;

    impl Admit for DenyAll {
        async fn admit(&self, _: &Webhook, request: AdmissionRequest<DynamicObject>) -> AdmissionResponse {
            AdmissionResponse::from(&request).deny("no")
        }
    }

    #[tokio::test]
    async fn routes_limits_and_metrics() {
        let mut registry = Registry::default();
        let metrics = Arc::new(Metrics::register(&mut registry));
        let hook =
            Webhook::kubebuilder(crate::Operation::Validate, "kafkabackup.com", "v1alpha1", "KafkaBackup");
        let app = router(Arc::new(DenyAll), std::slice::from_ref(&hook), metrics);
        let post = |path: &str, body: Vec<u8>| Request::post(path).body(Body::from(body)).expect("request");
        let r = app.clone().oneshot(post(&hook.path, b"[]".to_vec())).await.expect("served");
        assert_eq!(r.status(), StatusCode::OK, "an AdmissionReview error, not a 4xx");
        let r = app.clone().oneshot(post(&hook.path, b"\xff".to_vec())).await.expect("served");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = app.clone().oneshot(post(&hook.path, vec![b' '; BODY_LIMIT + 1])).await.expect("served");
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // A declared length above the limit is refused before a byte of the body is read: this
        // body never yields one.
        let never = Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
        let declared = Request::post(&hook.path)
            .header(header::CONTENT_LENGTH, (4u64 << 20).to_string())
            .body(never)
            .expect("request");
        let r = tokio::time::timeout(Duration::from_secs(5), app.clone().oneshot(declared))
            .await
            .expect("refused without reading the body")
            .expect("served");
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let r = app.clone().oneshot(post("/validate-something-else", b"{}".to_vec())).await.expect("served");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app
            .oneshot(Request::get("/healthz").body(Body::empty()).expect("request"))
            .await
            .expect("served");
        assert_eq!(r.status(), StatusCode::OK);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(text.contains("strimzi_backup_webhook_requests_total{webhook=\"validate-kafkabackup\",verdict=\"invalid\"} 1"), "{text}");
        assert!(text.contains("verdict=\"malformed\"} 1"), "{text}");
        assert!(
            text.contains(
                "strimzi_backup_webhook_duration_seconds_count{webhook=\"validate-kafkabackup\"} 2"
            ),
            "{text}"
        );
    }
}
