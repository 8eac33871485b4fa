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
//! - [`share`]: reading one worker's share of the partitions.
//! - [`shared_plan`], [`worker_result`], [`commit`]: one backup across several workers — the
//!   plan they share, what each read, and the manifest built from both (the commit point).
//! - [`keys`]: the key a run seals with (its own, or the shared plan's).
//! - [`compact`], [`merge`]: merging a lineage's small inherited segments into larger ones, so
//!   a restore point's manifest lists few segments per partition however long its lineage.

pub mod commit;
pub mod compact;
pub mod config;
pub mod continuous;
pub mod continuous_metrics;
pub mod fence;
pub mod keys;
pub mod merge;
pub mod metadata;
pub mod partition;
pub mod plan;
pub mod run;
pub mod schemas;
pub mod share;
pub mod shared_plan;
pub mod strimzi_resources;
pub mod worker_result;
pub mod workers;

pub use config::BackupConfig;
pub use run::{BackupResult, Outcome, Slot, run, run_worker};
