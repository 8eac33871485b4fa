//! The webhook's Prometheus families, registered into the operator's registry so they are
//! served on its `/metrics` beside the controllers'.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `validate-kafkabackup`, `mutate-kafkarestore`, …
    pub webhook: String,
    /// `allowed`, `denied`, `invalid` (not an AdmissionReview we can judge), `malformed` (HTTP 400).
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub webhook: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to 2 s: admission decisions are sub-millisecond unless a Secret lookup is slow.
    Histogram::new([0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0])
}

pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<WebhookLabels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        };
        registry.register(
            "strimzi_backup_webhook_requests",
            "Admission requests answered, by webhook and verdict",
            m.requests.clone(),
        );
        registry.register(
            "strimzi_backup_webhook_duration_seconds",
            "Time to answer an admission request, body read to answer written",
            m.duration.clone(),
        );
        m
    }
}
