//! The `KafkaBackup` controller.
//!
//! - [`schedule`]: when a run is due (pure).

pub mod schedule;
