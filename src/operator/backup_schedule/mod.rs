//! The `KafkaBackupSchedule` controller: one `KafkaBackup` per Strimzi `Kafka` its selector
//! matches, owned by the schedule; the `KafkaBackup` controller runs their backups.
//!
//! - [`decide`]: pure — which `KafkaBackup`s should exist with which spec and labels, which
//!   of them to apply, and the schedule's status, from the schedule, the `Kafka`s seen and the
//!   `KafkaBackup`s there are.
//! - [`controller`]: the reconcile: validate → observe (list `Kafka`s, list owned
//!   `KafkaBackup`s) → decide → act (server-side apply of each changed `KafkaBackup`, Events) →
//!   status; and [`controller::wakes`], which `Kafka` changes wake which schedules.

pub mod controller;
pub mod decide;
#[cfg(test)]
mod reconcile_tests;
