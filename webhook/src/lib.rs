//! The admission webhook server of strimzi-backup-operator: TLS (rustls) + axum transport for the
//! validating and defaulting webhooks. The rules themselves live next to the API types in the
//! `strimzi-backup-operator` crate, so the controllers run the very same checks in reconcile.
//!
//! The server is built in its own issue; until then this crate only reserves its place in the
//! workspace layout (SPEC §7).
