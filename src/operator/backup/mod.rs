//! The `KafkaBackup` controller.
//!
//! - [`continuous`]: `backup.mode: continuous`, a Deployment instead of Jobs (I/O).
//! - [`continuous_status`]: what its commits, read from its pod's log, do to the status (pure).
//! - [`controller`]: the reconcile's wiring (finalizer, one clock read) — I/O only through the
//!   steps below.
//! - [`observe`]: what a reconcile reads (I/O).
//! - [`plan`]: what it does about it (pure; table-tested in `plan/tests.rs`).
//! - [`act`]: carrying the plan out (I/O).
//! - [`cleanup`]: the `deletionPolicy` when the resource is deleted (I/O).
//! - [`schedule`]: when a run is due (pure).
//! - [`run_config`]: the config a run's Job gets (pure).
//! - [`outcome`]: what a finished run does to the status (pure).
//! - [`metrics`]: what a reconcile sets in the metrics.
//! - [`strimzi_resources`]: the `KafkaTopic`s and `KafkaUser`s handed to a run (I/O).

pub mod act;
pub mod cleanup;
pub mod continuous;
pub mod continuous_status;
pub mod controller;
pub mod metrics;
pub mod observe;
pub mod outcome;
pub mod plan;
pub mod run_config;
pub mod schedule;
pub mod strimzi_resources;

#[cfg(test)]
mod reconcile_tests;
