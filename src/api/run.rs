//! What every one-shot run kind (`KafkaRestore`, `KafkaOffsetReset`, and the kinds to come:
//! restore drills, erasure, schema restore) shares in its status: the [`RunPhase`], the
//! [`RunReason`]s of its `Ready` condition, and the [`RunStatus`] and [`RunSpec`] fields the operator's
//! shared lifecycle (`operator::oneshot`) uses. Each kind keeps its own flat status struct, so the CRD
//! schemas users see stay as they are; [`RunStatus`] only lends the lifecycle those fields.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::ClusterConnection;
use super::cluster::ReferenceReason;
use super::condition::Condition;
use super::erasure::{KafkaDataErasureSpec, KafkaDataErasureStatus};
use super::offset_reset::{KafkaOffsetResetSpec, KafkaOffsetResetStatus};
use super::restore::{KafkaRestoreSpec, KafkaRestoreStatus};
use super::template::JobOptions;

/// Phase of a one-shot run (restore or offset reset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RunPhase {
    /// Accepted, Job not started yet.
    #[default]
    Pending,
    /// A plan was computed (what the run will do, in the kind's status: a restore's `plan`) and
    /// nothing was written yet; the run starts from here once approved (at once when automatic).
    Planned,
    /// Job running.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error; see the Ready condition.
    Failed,
}

impl RunPhase {
    /// Completed or Failed: the run is over for good (its spec cannot change).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// The reason of a one-shot run's `Ready` condition. The strings are a contract: users'
/// alerts, `kubectl wait` scripts and the e2e tests match on them, so a variant's string never
/// changes once released. A new kind adds its own variants here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunReason {
    /// The spec breaks a rule the webhook checks too (the webhook was bypassed or absent), or
    /// names neither of two alternatives; a one-shot spec cannot change, so this is final.
    InvalidSpec,
    /// What the spec refers to cannot be used (its Kafka cluster, or an object in another
    /// namespace that does not opt in).
    Reference(ReferenceReason),
    /// Restore: the `KafkaBackup` of `spec.backupRef` does not exist.
    BackupNotFound,
    /// Restore: the `KafkaBackup` has no completed backup to restore yet.
    NoCompletedBackup,
    /// Offset reset: the `spec.snapshotRef` ConfigMap is missing or has no snapshot.
    SnapshotNotFound,
    /// Restore: the Job is running.
    RestoreRunning,
    /// Restore: finished; the records and offsets are in the target.
    RestoreCompleted,
    /// Restore: the Job failed.
    RestoreFailed,
    /// Restore refused: a target partition changed under it (see `crate::refusal`).
    TargetChanged,
    /// Offset reset: the Job is running.
    ResetRunning,
    /// Offset reset: every group moved.
    OffsetsReset,
    /// Offset reset: done, but some groups were skipped (they had active members).
    GroupsSkipped,
    /// Offset reset: the Job failed, or some group could not be moved.
    ResetFailed,
    /// The Job's pod cannot start (missing Secret or key, image pull): the run goes on by itself
    /// once that is fixed.
    JobPodBlocked,
    /// Restore: the plan Job is computing what the restore will do (a dry run); nothing written.
    RestorePlanning,
    /// Restore: the plan is in `status.plan`; the restore starts now (`approval: Automatic`).
    RestorePlanned,
    /// Restore: the plan is in `status.plan` and waits for the annotation
    /// `kafkabackup.com/approve=<plan hash>` (`approval: Manual`).
    AwaitingApproval,
    /// Restore: the `KafkaRestorePoint` of `spec.restorePointRef` does not exist.
    RestorePointNotFound,
    /// Restore: the `KafkaBackupLocation` a restore point names as its source does not exist.
    LocationNotFound,
    /// Restore: the spec uses an Enterprise field (`spec.masking`) and the installed licence
    /// does not grant it (none, expired, feature missing): no Job starts until one does.
    LicenseInvalid,
    /// Restore: the backup's `restorePolicy` does not allow it (no authorization of the user's
    /// `restore` verb by the webhook, a target cluster or approval the policy does not allow).
    RestoreNotAuthorized,
    /// Erasure: the Job is rewriting the restore points.
    ErasureRunning,
    /// Erasure: finished; no kept restore point holds a selected record.
    DataErased,
    /// Erasure: the Job failed (run again by the Job's retries, it resumes).
    ErasureFailed,
}

impl RunReason {
    /// Every reason, for tests that hold the strings to their contract.
    pub const ALL: [RunReason; 28] = [
        Self::InvalidSpec,
        Self::Reference(ReferenceReason::KafkaNotFound),
        Self::Reference(ReferenceReason::KafkaNotReady),
        Self::Reference(ReferenceReason::ListenerNotFound),
        Self::Reference(ReferenceReason::InvalidAuthentication),
        Self::Reference(ReferenceReason::CrossNamespaceRefNotAllowed),
        Self::BackupNotFound,
        Self::NoCompletedBackup,
        Self::SnapshotNotFound,
        Self::RestoreRunning,
        Self::RestoreCompleted,
        Self::RestoreFailed,
        Self::TargetChanged,
        Self::ResetRunning,
        Self::OffsetsReset,
        Self::GroupsSkipped,
        Self::ResetFailed,
        Self::JobPodBlocked,
        Self::RestorePlanning,
        Self::RestorePlanned,
        Self::AwaitingApproval,
        Self::RestorePointNotFound,
        Self::LocationNotFound,
        Self::LicenseInvalid,
        Self::RestoreNotAuthorized,
        Self::ErasureRunning,
        Self::DataErased,
        Self::ErasureFailed,
    ];

    /// The CamelCase string written as the condition's (and its Event's) reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSpec => "InvalidSpec",
            Self::Reference(r) => r.as_str(),
            Self::BackupNotFound => "BackupNotFound",
            Self::NoCompletedBackup => "NoCompletedBackup",
            Self::SnapshotNotFound => "SnapshotNotFound",
            Self::RestoreRunning => "RestoreRunning",
            Self::RestoreCompleted => "RestoreCompleted",
            Self::RestoreFailed => "RestoreFailed",
            Self::TargetChanged => "TargetChanged",
            Self::ResetRunning => "ResetRunning",
            Self::OffsetsReset => "OffsetsReset",
            Self::GroupsSkipped => "GroupsSkipped",
            Self::ResetFailed => "ResetFailed",
            Self::JobPodBlocked => "JobPodBlocked",
            Self::RestorePlanning => "RestorePlanning",
            Self::RestorePlanned => "RestorePlanned",
            Self::AwaitingApproval => "AwaitingApproval",
            Self::RestorePointNotFound => "RestorePointNotFound",
            Self::LocationNotFound => "LocationNotFound",
            Self::LicenseInvalid => "LicenseInvalid",
            Self::RestoreNotAuthorized => "RestoreNotAuthorized",
            Self::ErasureRunning => "ErasureRunning",
            Self::DataErased => "DataErased",
            Self::ErasureFailed => "ErasureFailed",
        }
    }
}

impl super::condition::ReadyReason for RunReason {
    fn as_str(self) -> &'static str {
        RunReason::as_str(self)
    }

    /// True only once the run did what it was for; running, waiting and failing are False, so
    /// `kubectl wait --for=condition=Ready` waits for the result.
    fn is_ready(self) -> bool {
        matches!(self, Self::RestoreCompleted | Self::OffsetsReset | Self::DataErased)
    }
}

impl std::fmt::Display for RunReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status fields every one-shot kind has and the shared lifecycle writes.
pub struct RunFields<'a> {
    pub conditions: &'a mut Vec<Condition>,
    pub observed_generation: &'a mut Option<i64>,
    pub phase: &'a mut Option<RunPhase>,
    pub job_name: &'a mut Option<String>,
}

/// A one-shot kind's status, as the shared lifecycle sees it.
pub trait RunStatus: Clone + Default + PartialEq + Serialize + Send + Sync {
    /// The lifecycle's fields, to read and write.
    fn run(&mut self) -> RunFields<'_>;
    /// Where the run is.
    fn phase(&self) -> Option<RunPhase>;
}

/// A one-shot kind's spec, as the shared lifecycle sees it: what its Job connects to and runs
/// with.
pub trait RunSpec {
    fn cluster(&self) -> &ClusterConnection;
    fn job_options(&self) -> &JobOptions;
}

/// [`RunSpec`] and [`RunStatus`] for a kind whose spec has `cluster` and `job_options` and whose
/// status has `conditions`, `observedGeneration`, `phase` and `jobName` — every one-shot kind's
/// shape; a kind that differs writes the two impls out.
macro_rules! one_shot_fields {
    ($spec:ty, $status:ty) => {
        impl RunSpec for $spec {
            fn cluster(&self) -> &ClusterConnection {
                &self.cluster
            }
            fn job_options(&self) -> &JobOptions {
                &self.job_options
            }
        }
        impl RunStatus for $status {
            fn run(&mut self) -> RunFields<'_> {
                RunFields {
                    conditions: &mut self.conditions,
                    observed_generation: &mut self.observed_generation,
                    phase: &mut self.phase,
                    job_name: &mut self.job_name,
                }
            }
            fn phase(&self) -> Option<RunPhase> {
                self.phase
            }
        }
    };
}

one_shot_fields!(KafkaRestoreSpec, KafkaRestoreStatus);
one_shot_fields!(KafkaOffsetResetSpec, KafkaOffsetResetStatus);
one_shot_fields!(KafkaDataErasureSpec, KafkaDataErasureStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reasons_keep_the_strings_users_match_on() {
        let strings: Vec<&str> = RunReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            strings,
            [
                "InvalidSpec",
                "KafkaNotFound",
                "KafkaNotReady",
                "ListenerNotFound",
                "InvalidAuthentication",
                "CrossNamespaceRefNotAllowed",
                "BackupNotFound",
                "NoCompletedBackup",
                "SnapshotNotFound",
                "RestoreRunning",
                "RestoreCompleted",
                "RestoreFailed",
                "TargetChanged",
                "ResetRunning",
                "OffsetsReset",
                "GroupsSkipped",
                "ResetFailed",
                "JobPodBlocked",
                "RestorePlanning",
                "RestorePlanned",
                "AwaitingApproval",
                "RestorePointNotFound",
                "LocationNotFound",
                "LicenseInvalid",
                "RestoreNotAuthorized",
                "ErasureRunning",
                "DataErased",
                "ErasureFailed",
            ]
        );
    }

    #[test]
    fn only_a_run_that_did_its_job_is_ready() {
        use crate::api::condition::ReadyReason;
        let ready: Vec<&str> =
            RunReason::ALL.iter().filter(|r| ReadyReason::is_ready(**r)).map(|r| r.as_str()).collect();
        assert_eq!(ready, ["RestoreCompleted", "OffsetsReset", "DataErased"]);
    }

    #[test]
    fn only_completed_and_failed_are_final() {
        assert!(RunPhase::Completed.is_final() && RunPhase::Failed.is_final());
        assert!(!RunPhase::Pending.is_final() && !RunPhase::Running.is_final());
        assert!(!RunPhase::Planned.is_final(), "a planned run goes on once approved");
    }
}
