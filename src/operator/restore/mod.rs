//! The `KafkaRestore` controller.
//!
//! - [`controller`]: the reconcile (I/O, in steps).
//! - [`run_config`]: the config the restore Job gets (pure).

pub mod controller;
pub mod run_config;
