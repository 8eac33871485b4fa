//! The `KafkaBackupLocation` controller: every `syncPeriod` a sync Job lists the location
//! (`sync` subcommand, the operator never holds storage credentials), and its result is mirrored
//! into `KafkaRestorePoint`s ([`crate::operator::restore_points`]).
//!
//! - [`decide`]: pure — what a reconcile does, from the object, its sync Jobs and `now`.
//! - [`controller`]: the reconcile: observe, decide, act, status.
//! - [`sync_job`]: a sync Job and its result, for the location and for a continuous
//!   `KafkaBackup` alike.

pub mod controller;
pub mod decide;
pub mod sync_job;

#[cfg(test)]
mod reconcile_tests;
