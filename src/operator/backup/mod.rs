//! The `KafkaBackup` controller.
//!
//! - [`controller`]: the reconcile (I/O, in steps).
//! - [`schedule`]: when a run is due (pure).
//! - [`run_config`]: the config a run's Job gets (pure).
//! - [`outcome`]: what a finished run does to the status (pure).

pub mod controller;
pub mod outcome;
pub mod run_config;
pub mod schedule;
