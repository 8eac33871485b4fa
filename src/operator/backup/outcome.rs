//! What a finished backup run does to the `KafkaBackup`'s status: the run recorded as
//! `lastBackup` and at the head of the bounded `backupHistory`, the location's inventory, and the
//! `Ready` condition. Pure: the controller reads the Job's termination message and applies this.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::backup::{
    BACKUP_HISTORY_LIMIT, BackupRecord, BackupRunStatus, CapturedMetadata, KafkaBackupStatus,
};
use crate::api::condition::{self, Condition, ConditionStatus};
use crate::backup::BackupResult;
use crate::time::parse as time;

fn record(status: &mut KafkaBackupStatus, run: BackupRecord) {
    status.backup_history.retain(|r| r.id != run.id);
    status.backup_history.insert(0, run.clone());
    status.backup_history.truncate(BACKUP_HISTORY_LIMIT);
    status.last_backup = Some(run);
    status.active_job = None;
}

/// A run that completed, from the data plane's result (the Job's termination message).
pub fn completed(status: &mut KafkaBackupStatus, result: &BackupResult, now: Time) {
    let run = BackupRecord {
        id: result.backup_id.clone(),
        status: BackupRunStatus::Completed,
        start_time: time(&result.started_at),
        completion_time: time(&result.completed_at),
        size_bytes: i64::try_from(result.size_bytes).ok(),
        records: i64::try_from(result.records).ok(),
        topics_backed_up: i32::try_from(result.topics).ok(),
        partitions_backed_up: i32::try_from(result.partitions).ok(),
        oldest_timestamp: result.oldest_timestamp.as_deref().and_then(time),
        newest_timestamp: result.newest_timestamp.as_deref().and_then(time),
        message: None,
        kafka_topics_backed_up: result
            .strimzi_resources
            .as_ref()
            .and_then(|r| i32::try_from(r.kafka_topics).ok()),
        kafka_users_backed_up: result
            .strimzi_resources
            .as_ref()
            .and_then(|r| i32::try_from(r.kafka_users).ok()),
        schema_subjects: result.schema_registry.as_ref().and_then(|r| i32::try_from(r.subjects).ok()),
        schema_versions: result.schema_registry.as_ref().and_then(|r| i32::try_from(r.versions).ok()),
        cluster_metadata: result.cluster_metadata.as_ref().map(CapturedMetadata::from_ref),
        // The committing worker's share says how many there were; one worker prints no share.
        workers: result.worker.as_ref().and_then(|w| i32::try_from(w.workers).ok()),
    };
    if let Some(inventory) = &result.inventory {
        status.backup_count = i64::try_from(inventory.backup_count).ok();
        status.storage_bytes = i64::try_from(inventory.storage_bytes).ok();
    }
    let message = format!(
        "backup {} completed: {} records, {} bytes stored",
        result.backup_id, result.records, result.size_bytes
    );
    record(status, run);
    condition::set(
        &mut status.conditions,
        Condition::new("Ready", ConditionStatus::True, "BackupCompleted", message),
        now,
    );
}

/// A run that failed, with the reason the Job gave (its termination message or its condition).
pub fn failed(
    status: &mut KafkaBackupStatus,
    backup_id: &str,
    started: Option<Time>,
    reason: &str,
    now: Time,
) {
    let message = format!("backup {backup_id} failed: {reason}");
    record(
        status,
        BackupRecord {
            id: backup_id.into(),
            status: BackupRunStatus::Failed,
            start_time: started,
            completion_time: Some(now.clone()),
            message: Some(reason.into()),
            ..Default::default()
        },
    );
    condition::set(
        &mut status.conditions,
        Condition::new("Ready", ConditionStatus::False, "BackupFailed", message),
        now,
    );
}

/// A scheduled run not started because the previous one still ran (`Forbid`) or it was missed.
pub fn skipped(status: &mut KafkaBackupStatus, backup_id: &str, why: &str, now: Time) {
    let run = BackupRecord {
        id: backup_id.into(),
        status: BackupRunStatus::Skipped,
        completion_time: Some(now),
        message: Some(why.into()),
        ..Default::default()
    };
    status.backup_history.insert(0, run);
    status.backup_history.truncate(BACKUP_HISTORY_LIMIT);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str) -> BackupResult {
        serde_json::from_value(serde_json::json!({
            "backupId": id, "location": "s3://b/", "startedAt": "2026-11-21T02:00:00.000Z",
            "completedAt": "2026-11-21T02:03:00.000Z", "sizeBytes": 1024, "rawBytes": 4096, "records": 40,
            "topics": 1, "partitions": 3, "consumerGroups": 0, "newestTimestamp": "2026-11-21T01:59:59.000Z",
            "pruned": ["old"], "backupCount": 7, "storageBytes": 7168
        }))
        .expect("the data plane's JSON")
    }

    fn now() -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(1_795_000_000).unwrap_or_default())
    }

    #[test]
    fn a_completed_run_updates_everything_and_history_stays_bounded() {
        let mut status = KafkaBackupStatus { active_job: Some("nightly-1".into()), ..Default::default() };
        for i in 0..25 {
            completed(&mut status, &result(&format!("b{i}")), now());
        }
        assert_eq!(status.backup_history.len(), BACKUP_HISTORY_LIMIT);
        assert_eq!(status.backup_history[0].id, "b24");
        let last = status.last_backup.as_ref().expect("last");
        assert_eq!((last.records, last.partitions_backed_up), (Some(40), Some(3)));
        assert_eq!(last.start_time, time("2026-11-21T02:00:00Z"));
        assert_eq!((status.backup_count, status.storage_bytes), (Some(7), Some(7168)));
        assert_eq!(status.active_job, None);
        assert_eq!(status.conditions[0].reason.as_deref(), Some("BackupCompleted"));
        assert_eq!(last.workers, None, "one worker");
    }

    #[test]
    fn a_run_across_workers_says_how_many_and_the_whole_backups_figures() {
        let mut r: serde_json::Value = serde_json::to_value(result("b1")).expect("as JSON");
        r["worker"] = serde_json::json!({"index": 2, "workers": 4, "partitions": 6, "records": 10,
            "bytes": 256, "committed": true});
        let mut status = KafkaBackupStatus::default();
        completed(&mut status, &serde_json::from_value(r).expect("a result"), now());
        let last = status.last_backup.expect("last");
        assert_eq!((last.workers, last.records, last.size_bytes), (Some(4), Some(40), Some(1024)));
    }

    #[test]
    fn the_cluster_metadata_captured_and_not_captured_reaches_the_status() {
        let mut r = result("b1");
        r.cluster_metadata = serde_json::from_value(serde_json::json!({
            "object": "backups/b1/cluster-metadata.json", "sha256": "00", "acls": 4, "scramUsers": 2,
            "notCaptured": [{"what": "quotas", "reason": "read over PLAINTEXT connections only"}]
        }))
        .expect("a metadata reference");
        let mut status = KafkaBackupStatus::default();
        completed(&mut status, &r, now());
        let m = status.last_backup.and_then(|b| b.cluster_metadata).expect("cluster metadata in the status");
        assert_eq!((m.acls, m.quotas, m.scram_users), (Some(4), None, Some(2)));
        assert_eq!(m.not_captured, ["quotas: read over PLAINTEXT connections only"]);
    }

    #[test]
    fn a_failure_is_not_ready_with_the_reason_and_keeps_the_inventory() {
        let mut status = KafkaBackupStatus::default();
        completed(&mut status, &result("b1"), now());
        failed(&mut status, "b2", None, "storage s3://b/ unreachable", now());
        assert_eq!(status.conditions[0].status, ConditionStatus::False);
        assert!(status.conditions[0].message.as_deref().unwrap_or_default().contains("unreachable"));
        assert_eq!(status.backup_history[0].status, BackupRunStatus::Failed);
        assert_eq!(status.backup_count, Some(7), "the last known inventory stays");
        skipped(&mut status, "b3", "previous run still active (concurrencyPolicy Forbid)", now());
        assert_eq!(status.backup_history[0].status, BackupRunStatus::Skipped);
        assert_eq!(status.last_backup.as_ref().map(|b| b.id.as_str()), Some("b2"));
    }
}
