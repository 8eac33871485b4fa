//! The `KafkaBackup` controller.
//!
//! - [`schedule`]: when a run is due (pure).
//! - [`run_config`]: the config a run's Job gets (pure).

pub mod run_config;
pub mod schedule;
