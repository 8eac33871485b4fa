//! The `KafkaBackup` controller.
//!
//! - [`schedule`]: when a run is due (pure).
//! - [`run_config`]: the config a run's Job gets (pure).
//! - [`outcome`]: what a finished run does to the status (pure).

pub mod outcome;
pub mod run_config;
pub mod schedule;
