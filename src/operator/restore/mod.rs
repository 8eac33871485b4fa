//! The `KafkaRestore` controller.
//!
//! - [`run_config`]: the config the restore Job gets (pure).

pub mod run_config;
