//! The `KafkaOffsetReset` controller.
//!
//! - [`run_config`]: the config the offset-reset Job gets (pure).

pub mod run_config;
