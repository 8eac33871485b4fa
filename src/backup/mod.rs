//! The `backup` data plane: reads the selected topics by direct partition assignment
//! (`read_committed`, no consumer group) from each partition's start to the cut taken when the
//! backup starts, writes segments to object storage, and commits the backup by writing its
//! manifest last.
//!
//! - [`config`]: what one backup run is told (a file the operator writes; no secrets).
//! - [`plan`]: topics, partitions, offset ranges, configs and group offsets at the start.
//! - [`partition`]: backing up one partition into segments.
//! - [`metadata`]: the cluster's ACLs, quotas and SCRAM users, stored beside the manifest.
//! - [`strimzi_resources`]: the `KafkaTopic`s and `KafkaUser`s the operator read, stored beside it.
//! - [`run`]: the whole run and its result.
//! - [`continuous`], [`continuous_metrics`]: a restore point every few seconds, its metrics.
//! - [`fence`]: at most one child per restore point (continuous backups never fork a lineage).
//! - [`workers`]: which partitions each pod reads when one backup runs in several.

pub mod config;
pub mod continuous;
pub mod continuous_metrics;
pub mod fence;
pub mod metadata;
pub mod partition;
pub mod plan;
pub mod run;
pub mod schemas;
pub mod strimzi_resources;
pub mod workers;

pub use config::BackupConfig;
pub use run::{BackupResult, run};
