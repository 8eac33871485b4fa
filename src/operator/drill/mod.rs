//! The `KafkaRestoreDrill` controller: on its cron (or once, plus on every new value of the
//! trigger annotation) a drill Job (`drill` subcommand) restores a restore point of a
//! `KafkaBackup` or `KafkaBackupLocation` into scratch topics, compares every record and deletes
//! them; the operator records the evidence in the drill's status, on the restore point, as an
//! Event and as metrics.
//!
//! - [`decide`]: pure — what a reconcile does, which restore point, the history.
//! - [`controller`]: the reconcile: observe, decide, act, status.

pub mod controller;
pub mod decide;

#[cfg(test)]
mod reconcile_tests;
