//! The operator's plain HTTP endpoint (`:9090`): `/metrics` for Prometheus, `/healthz` for the
//! liveness probe (the process serves), `/readyz` for the readiness probe (the controllers are
//! running and, with several replicas, this one leads or stands by ready to).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

/// What the endpoint serves.
#[derive(Clone)]
pub struct Probe {
    pub registry: Arc<Registry>,
    pub ready: Arc<AtomicBool>,
}

async fn metrics(State(probe): State<Probe>) -> impl IntoResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &probe.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {e}")).into_response(),
    }
}

async fn ready(State(probe): State<Probe>) -> impl IntoResponse {
    if probe.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

pub fn router(probe: Probe) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(probe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_path(router: Router, path: &str) -> (StatusCode, String) {
        let response =
            router.oneshot(Request::get(path).body(Body::empty()).expect("request")).await.expect("served");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, String::from_utf8_lossy(&bytes).to_string())
    }

    #[tokio::test]
    async fn metrics_health_and_readiness() {
        let mut registry = Registry::default();
        let m = super::super::metrics::Metrics::register(&mut registry);
        m.reconciles
            .get_or_create(&super::super::metrics::ControllerLabels { controller: "kafkabackup".into() })
            .inc();
        let probe = Probe { registry: Arc::new(registry), ready: Arc::new(AtomicBool::new(false)) };
        let router = router(probe.clone());
        let (status, body) = get_path(router.clone(), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("strimzi_backup_reconcile_total{controller=\"kafkabackup\"} 1"), "{body}");
        assert_eq!(get_path(router.clone(), "/healthz").await.0, StatusCode::OK);
        assert_eq!(get_path(router.clone(), "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        probe.ready.store(true, Ordering::Relaxed);
        assert_eq!(get_path(router, "/readyz").await.0, StatusCode::OK);
    }
}
