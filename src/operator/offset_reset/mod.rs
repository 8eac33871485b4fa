//! The `KafkaOffsetReset` controller: a kind of the one-shot lifecycle
//! ([`crate::operator::oneshot`]).
//!
//! - [`controller`]: what an offset reset adds to the lifecycle (`impl OneShot`), and its
//!   reconcile.
//! - [`snapshot`]: offset snapshots as ConfigMaps, written and mounted (I/O for the mount).
//! - [`run_config`]: the config the offset-reset Job gets (pure).

pub mod controller;
pub mod run_config;
pub mod snapshot;

#[cfg(test)]
mod reconcile_tests;
