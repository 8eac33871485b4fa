//! The `KafkaDataErasure` controller: a kind of the one-shot lifecycle
//! ([`crate::operator::oneshot`]).
//!
//! - [`controller`]: what an erasure adds to the lifecycle (`impl OneShot`): the licence, the
//!   location (a `KafkaBackup`'s or a `KafkaBackupLocation`'s), the Job, the report into the
//!   status and the audit log.
//! - [`run_config`]: the config the `erase` Job gets, and the key files it mounts (pure).

pub mod controller;
pub mod run_config;

#[cfg(test)]
mod reconcile_tests;
