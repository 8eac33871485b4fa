//! The reasons of a `KafkaBackup`'s `Ready` condition, typed. A KafkaBackup is a schedule, not a
//! run, so `Ready` says whether it is doing its job: True while backups run and complete (or the
//! first one is still to come), False while something keeps it from backing up.

use super::cluster::ReferenceReason;
use super::condition::ReadyReason;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackupReason {
    /// The spec breaks a rule the webhook checks too (the webhook was bypassed or absent).
    InvalidSpec,
    /// Enterprise settings the licence does not (or no longer) cover; see the `LicenseInvalid`
    /// condition of the same name.
    LicenseInvalid,
    /// A running Job's pod cannot start (missing Secret or key, image pull).
    JobPodBlocked,
    /// What the spec refers to cannot be used (its Kafka cluster, or an object in another
    /// namespace that does not opt in).
    Reference(ReferenceReason),
    /// The last finished backup failed.
    BackupFailed,
    /// The last finished backup completed.
    BackupCompleted,
    /// The first backup is running.
    BackupRunning,
    /// Waiting for the first scheduled run.
    Scheduled,
    /// `backup.mode: continuous`: its Deployment has an available pod, committing a restore
    /// point every `commitInterval`.
    ContinuousBackupRunning,
    /// `backup.mode: continuous`: its Deployment has no available pod yet (starting, rolling
    /// out after a spec change, or its pod cannot start).
    ContinuousBackupNotRunning,
}

impl BackupReason {
    /// Every reason, for tests that hold the strings to their contract.
    pub const ALL: [BackupReason; 14] = [
        Self::InvalidSpec,
        Self::LicenseInvalid,
        Self::JobPodBlocked,
        Self::Reference(ReferenceReason::KafkaNotFound),
        Self::Reference(ReferenceReason::KafkaNotReady),
        Self::Reference(ReferenceReason::ListenerNotFound),
        Self::Reference(ReferenceReason::InvalidAuthentication),
        Self::Reference(ReferenceReason::CrossNamespaceRefNotAllowed),
        Self::BackupFailed,
        Self::BackupCompleted,
        Self::BackupRunning,
        Self::Scheduled,
        Self::ContinuousBackupRunning,
        Self::ContinuousBackupNotRunning,
    ];
}

impl ReadyReason for BackupReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSpec => "InvalidSpec",
            Self::LicenseInvalid => "LicenseInvalid",
            Self::JobPodBlocked => "JobPodBlocked",
            Self::Reference(r) => r.as_str(),
            Self::BackupFailed => "BackupFailed",
            Self::BackupCompleted => "BackupCompleted",
            Self::BackupRunning => "BackupRunning",
            Self::Scheduled => "Scheduled",
            Self::ContinuousBackupRunning => "ContinuousBackupRunning",
            Self::ContinuousBackupNotRunning => "ContinuousBackupNotRunning",
        }
    }

    fn is_ready(self) -> bool {
        matches!(
            self,
            Self::BackupCompleted | Self::BackupRunning | Self::Scheduled | Self::ContinuousBackupRunning
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_reasons_keep_the_strings_users_match_on_and_only_working_ones_are_ready() {
        let strings: Vec<_> = BackupReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            strings,
            [
                "InvalidSpec",
                "LicenseInvalid",
                "JobPodBlocked",
                "KafkaNotFound",
                "KafkaNotReady",
                "ListenerNotFound",
                "InvalidAuthentication",
                "CrossNamespaceRefNotAllowed",
                "BackupFailed",
                "BackupCompleted",
                "BackupRunning",
                "Scheduled",
                "ContinuousBackupRunning",
                "ContinuousBackupNotRunning"
            ]
        );
        let ready: Vec<_> = BackupReason::ALL.iter().filter(|r| r.is_ready()).map(|r| r.as_str()).collect();
        assert_eq!(ready, ["BackupCompleted", "BackupRunning", "Scheduled", "ContinuousBackupRunning"]);
    }
}
