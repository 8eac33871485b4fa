//! The `KafkaOffsetReset` controller.
//!
//! - [`controller`]: the reconcile (I/O, in steps).
//! - [`run_config`]: the config the offset-reset Job gets (pure).

pub mod controller;
pub mod run_config;
