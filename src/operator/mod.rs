//! The operator: controllers that turn `KafkaBackup`, `KafkaRestore` and `KafkaOffsetReset`
//! resources into Jobs running the data plane, and report back.
//!
//! - [`backup`]: the `KafkaBackup` controller.
//! - [`backup_schedule`]: the `KafkaBackupSchedule` controller (one owned `KafkaBackup` per
//!   selected Strimzi `Kafka`).
//! - [`children`]: the ConfigMaps and Jobs of runs, and what finished Jobs left.
//! - [`context`]: what every reconcile shares (client, settings, metrics, Events).
//! - [`dereference`]: reading the Strimzi `Kafka` and `KafkaUser` a resource refers to.
//! - [`drill`]: the `KafkaRestoreDrill` controller (drill Jobs → evidence in status, on the
//!   restore point, Events, metrics).
//! - [`connection`]: a resource's cluster connection resolved into what its Job mounts and is
//!   told.
//! - [`error`]: reconcile errors and their retry delays.
//! - [`erasure`]: the `KafkaDataErasure` controller (one `erase` Job per object).
//! - [`event`]: the Events the pure steps decide on, one type for every kind.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` on the operator's plain HTTP port.
//! - [`job`]: the Jobs that run the data plane, and the labels on everything created.
//! - [`launch`]: starting a run (its ConfigMap and Job).
//! - [`license`]: the installed licence, watched in its Secret, with its metrics and Events.
//! - [`location`]: the `KafkaBackupLocation` controller (sync Jobs → `KafkaRestorePoint`s).
//! - [`metrics`]: the Prometheus families of SPEC §6.
//! - [`offset_reset`]: the `KafkaOffsetReset` controller.
//! - [`oneshot`]: the run lifecycle every one-shot kind (restore, offset reset) shares.
//! - [`process`]: the `operator` subcommand: leader election, controllers, shutdown.
//! - [`restore`]: the `KafkaRestore` controller.
//! - [`restore_points`]: mirroring what a location holds into `KafkaRestorePoint`s.
//! - [`settings`]: the operator's settings from its environment.
//! - [`status`]: writing status (server-side apply) and the `Ready` condition.
//! - [`storage_access`]: a storage block's credentials, volume and encryption key for a Job.

pub mod backup;
pub mod backup_schedule;
pub mod children;
pub mod connection;
pub mod context;
pub mod dereference;
pub mod drill;
pub mod erasure;
pub mod error;
pub mod event;
#[cfg(test)]
mod fixtures;
pub mod http;
pub mod job;
pub mod kms_access;
pub mod launch;
pub mod leader;
pub mod license;
pub mod location;
pub mod metrics;
pub mod offset_reset;
pub mod oneshot;
pub mod process;
pub mod restore;
pub mod restore_points;
pub mod schema_registry;
pub mod settings;
pub mod status;
pub mod storage_access;
