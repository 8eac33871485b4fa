//! `drill`: a restore drill — proves a restore point restores. It restores the restore point
//! into scratch topics (`<topicPrefix><topic>`, never a real topic) with the product's own
//! restore, measures the time to restore (RTO) and throughput, reads the scratch topics back and
//! compares them with what the backup holds record for record, then deletes the scratch topics
//! and the restore's state and lease, whatever happened (docs/data-plane.md, "drill").
//!
//! - [`config`]: what a drill is told, and the restore it runs.
//! - [`run`]: the drill start to finish.
//! - [`compare`]: record-for-record comparison (pure).
//! - [`readback`]: reading a scratch partition back.
//! - [`cleanup`]: removing scratch topics, resume state and lease.
//! - [`result`]: what a drill reports.
//! - [`evidence`]: the result written at the location for every cluster that syncs it.

pub mod cleanup;
pub mod compare;
pub mod config;
pub mod evidence;
pub mod readback;
pub mod result;
pub mod run;

pub use config::DrillConfig;
pub use result::{DrillResult, Mismatch};
pub use run::run;
