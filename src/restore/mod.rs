//! The `restore` data plane: writes the records of a backup (and of the backups it continues)
//! into a Kafka cluster, in partition order, with their original keys, values, headers and
//! timestamps, optionally only up to a point in time and under new topic names; then restores
//! consumer-group offsets translated to where the same records now are.
//!
//! A restore records where each target partition stood before it wrote anything
//! (`<prefix>restores/<restore-id>/state.json`) and writes through one transactional producer
//! of its own. A run killed at any point and started again fences the earlier attempt, reads
//! back what is in the target from there, proves it is the restore's own records in order, and
//! continues after them: every record lands once, or the restore is refused (`TargetChanged`).
//!
//! - [`config`]: what one restore run is told.
//! - [`run`]: the run from start to finish.
//! - [`result`]: what a run reports and what it did to each topic (shared by `run`, `state`
//!   and `topics`, importing none of them: no cycle among the three).
//! - [`source`]: a partition's segments across the backup chain, the point-in-time target, and
//!   the records in order.
//! - [`topics`]: the target topics: checked, created, emptied.
//! - [`state`]: the resume state.
//! - [`writer`]: the transactional producer: fencing earlier attempts, periodic commits.
//! - [`target`]: reading a target partition back.
//! - [`partition`]: writing one partition.
//! - [`repartition`]: restoring a topic into another partition count (`topicMapping[].partitions`):
//!   placement by Kafka's default partitioner, the merged order, resuming, consumer offsets.
//! - [`offsets`]: translating consumer-group offsets to the restored records.
//! - [`metadata`]: the backup's ACLs and quotas (`restore.metadata`), SCRAM users reported.
//! - [`schemas`]: the backup's Schema Registry subjects, re-registered before any record.
//! - [`masking`]: `spec.masking`, applied to each record as it leaves the backup.
//! - [`workers`]: one restore across several workers (`restore.workers`): each worker's share,
//!   and the waits between them; [`worker_result`]: what each stores and prints.

pub mod config;
pub mod masking;
pub mod metadata;
pub mod offsets;
pub mod partition;
pub mod repartition;
pub mod result;
pub mod run;
pub mod schemas;
pub mod source;
pub mod state;
pub mod strimzi_resources;
pub mod target;
pub mod topics;
pub mod worker_result;
pub mod workers;
pub mod writer;

pub use config::RestoreConfig;
pub use result::RestoreResult;
pub use run::{Outcome, run, run_worker};
