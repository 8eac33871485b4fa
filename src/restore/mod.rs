//! The `restore` data plane: writes the records of a backup (and of the backups it continues)
//! into a Kafka cluster, in partition order, with their original keys, values, headers and
//! timestamps, optionally only up to a point in time and under new topic names; then restores
//! consumer-group offsets translated to where the same records now are.
//!
//! A restore records where each target partition stood before it wrote anything
//! (`<prefix>restores/<restore-id>/state.json`), so a run killed at any point and started again
//! skips exactly what is already written: every record lands once.
//!
//! - [`config`]: what one restore run is told.
//! - [`run`]: the run from start to finish, and its result.
//! - [`source`]: a partition's segments across the backup chain, the point-in-time target, and
//!   the records in order.
//! - [`topics`]: the target topics: checked, created, emptied.
//! - [`state`]: the resume state.
//! - [`partition`]: writing one partition.
//! - [`offsets`]: translating consumer-group offsets to the restored records.

pub mod config;
pub mod offsets;
pub mod partition;
pub mod run;
pub mod source;
pub mod state;
pub mod topics;

pub use config::RestoreConfig;
pub use run::{RestoreResult, run};
