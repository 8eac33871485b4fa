//! The `KafkaBackupLocation` controller: every `syncPeriod` a sync Job lists the location
//! (`sync` subcommand, the operator never holds storage credentials), and its result is mirrored
//! into `KafkaRestorePoint`s ([`crate::operator::restore_points`]).
//!
//! - [`decide`]: pure — what a reconcile does, from the object, its sync Jobs and `now`.
//! - [`controller`]: the reconcile: observe, decide, act, status.

pub mod controller;
pub mod decide;

#[cfg(test)]
mod reconcile_tests;
