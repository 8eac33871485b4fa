//! The admission webhook server of strimzi-backup-operator: the transport only. It terminates
//! TLS (rustls, TLS 1.2 and 1.3, HTTP/1.1 and HTTP/2), reads `admission.k8s.io/v1`
//! AdmissionReviews, counts and times them, and hands each request to an [`Admit`]
//! implementation. The decisions themselves (defaults, validation rules, licence checks) live
//! next to the API types in the `strimzi-backup-operator` crate, which the controllers also run,
//! so a cluster where the webhook is bypassed behaves the same.
//!
//! Read top-down:
//! - [`review`]: the [`Admit`] trait, the webhooks and their kubebuilder-style paths, and how
//!   one request body becomes one AdmissionReview answer (garbage included).
//! - [`router`]: the axum routes: the webhooks, `/healthz`, `/readyz`; the body limit and
//!   read timeout, the bound on requests handled at once.
//! - [`metrics`]: request counts by webhook and verdict, latency histogram.
//! - [`certs`]: the serving certificate from a directory, reloaded when it is rotated.
//! - [`self_signed`]: a CA and serving certificate for local runs (`--webhook-self-signed`).
//! - [`server`]: the TLS listener and what one client may hold: connections (in all and per
//!   address), handshake, header and idle timeouts, HTTP/2 streams per connection.

pub mod certs;
pub mod metrics;
pub mod review;
pub mod router;
pub mod self_signed;
pub mod server;

pub use certs::CertStore;
pub use metrics::Metrics;
pub use review::{Admit, Operation, Webhook};
pub use router::router;
