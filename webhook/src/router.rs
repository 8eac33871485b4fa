//! The routes: one POST route per webhook, `/healthz` and `/readyz` (a server that answers is
//! both: the certificate is loaded before the listener opens). Bodies above [`BODY_LIMIT`] are
//! refused with 413 before they are read whole.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::metrics::{Metrics, RequestLabels, WebhookLabels};
use crate::review::{self, Admit, Answer, Webhook};

/// Largest body read. The API server sends the object and, on updates, the old object; etcd
/// keeps objects up to 1.5 MiB, so 2 × 1.5 MiB plus the envelope fits in 4 MiB.
pub const BODY_LIMIT: usize = 4 << 20;

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
            post(move |body: Bytes| async move { serve(admit.as_ref(), &hook, &metrics, body).await }),
        );
    }
    router.layer(DefaultBodyLimit::max(BODY_LIMIT))
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
