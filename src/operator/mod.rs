//! The operator: controllers that turn `KafkaBackup`, `KafkaRestore` and `KafkaOffsetReset`
//! resources into Jobs running the data plane, and report back.
//!
//! - [`backup`]: the `KafkaBackup` controller.
//! - [`dereference`]: reading the Strimzi `Kafka` and `KafkaUser` a resource refers to.
//! - [`connection`]: a resource's cluster connection resolved into what its Job mounts and is
//!   told.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` on the operator's plain HTTP port.
//! - [`job`]: the Jobs that run the data plane, and the labels on everything created.
//! - [`metrics`]: the Prometheus families of SPEC §6.
//! - [`offset_reset`]: the `KafkaOffsetReset` controller.
//! - [`restore`]: the `KafkaRestore` controller.
//! - [`settings`]: the operator's settings from its environment.
//! - [`storage_access`]: a storage block's credentials, volume and encryption key for a Job.

pub mod backup;
pub mod connection;
pub mod dereference;
pub mod http;
pub mod job;
pub mod metrics;
pub mod offset_reset;
pub mod restore;
pub mod settings;
pub mod storage_access;
