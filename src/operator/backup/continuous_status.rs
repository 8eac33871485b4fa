//! What a continuous backup's commits do to the `KafkaBackup`'s status, read from its pod's log
//! (pure; the I/O is in [`super::continuous`]).
//!
//! The continuous process prints each committed iteration's result as one JSON line, exactly the
//! line a backup Job prints (`crate::backup::continuous`). Each line's restore points are relative
//! to the line before: `added` lists those new since then (the first line after a start lists them
//! all), `present` names every one left after the iteration's pruning. The operator has no storage
//! credentials, so these lines are what it knows of the commits:
//!
//! - every line newer than `status.lastBackup` is recorded as a finished Job's result is
//!   ([`super::outcome::completed`]), oldest first: `lastBackup`, the bounded `backupHistory`, the
//!   location's inventory;
//! - the restore points are mirrored from the union of the new lines' `added` (those the newest
//!   line still names present) and the newest line's `present` ([`restore_points`]);
//! - ids the newest line names present that neither an existing restore point nor a line read
//!   describes are a [`gap`] (the operator was away while the pod's log rotated, a line was lost):
//!   a sync Job lists the location to fill it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::outcome;
use crate::api::backup::{BackupRecord, KafkaBackupStatus};
use crate::backup::BackupResult;
use crate::sync::SyncResult;

/// How much of the pod's log a reconcile reads: its end, where the newest result lines are. A
/// commit logs a few lines besides its result, so this covers the commits of far longer than a
/// reconcile's period; older lines are in the status already or are a [`gap`].
pub const LOG_TAIL_LINES: i64 = 500;

/// How much of the log a reconcile reads first: the commits of about one reconcile period
/// (a commit logs about four lines). Only when it reaches back to no recorded commit is the
/// longer [`LOG_TAIL_LINES`] read: each result line names every restore point present, so a
/// long tail at every look would read the location's list over and over.
pub const SHORT_TAIL_LINES: i64 = 40;

/// Whether `log` reaches back to a commit `status` recorded already (or before it): then it holds
/// every commit since, and no longer tail is needed.
pub fn reaches_recorded(log: &str, status: &KafkaBackupStatus) -> bool {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Line {
        backup_id: String,
        completed_at: String,
    }
    let Some(last) = status.last_backup.as_ref() else { return false };
    let last_done = last.completion_time.as_ref().map(|t| t.0);
    log.lines().filter(|l| l.starts_with('{')).filter_map(|l| serde_json::from_str::<Line>(l).ok()).any(|l| {
        l.backup_id == last.id
            || status.backup_history.iter().any(|r| r.id == l.backup_id)
            || crate::time::parse(&l.completed_at).zip(last_done).is_some_and(|(done, last)| done.0 <= last)
    })
}

/// The result lines of `log` not yet recorded in `status`, oldest first, each once: a line is new
/// when its backup is neither `lastBackup` nor in the history and it completed after `lastBackup`
/// (ids and times only grow along one lineage).
pub fn new_results(log: &str, status: &KafkaBackupStatus) -> Vec<BackupResult> {
    let last = status.last_backup.as_ref();
    let last_done = last.and_then(|l| l.completion_time.as_ref()).map(|t| t.0);
    let known = |id: &str| {
        last.is_some_and(|l| l.id == id) || status.backup_history.iter().any(|r: &BackupRecord| r.id == id)
    };
    let mut found: Vec<(k8s_openapi::jiff::Timestamp, BackupResult)> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<BackupResult>(l).ok())
        .filter(|r| !known(&r.backup_id))
        .filter_map(|r| Some((crate::time::parse(&r.completed_at)?.0, r)))
        .filter(|(done, _)| last_done.is_none_or(|last| *done > last))
        .collect();
    found.sort_by(|a, b| (a.0, &a.1.backup_id).cmp(&(b.0, &b.1.backup_id)));
    found.dedup_by(|a, b| a.1.backup_id == b.1.backup_id);
    found.into_iter().map(|(_, r)| r).collect()
}

/// Records `results` (oldest first, from [`new_results`]) in `status` as finished runs.
pub fn record(status: &mut KafkaBackupStatus, results: &[BackupResult], now: &Time) {
    for r in results {
        outcome::completed(status, r, now.clone());
    }
}

/// What `results` (oldest first) say of the location's restore points, as one sync would: the
/// newest line's `present` (and whether it is complete, its unreadable manifests), and the union
/// of every line's `added` that the newest still names present (a later summary of a backup wins:
/// a revised manifest). `None` when no line carries restore points (its pruning could not read
/// the location).
pub fn restore_points(results: &[BackupResult]) -> Option<SyncResult> {
    let lines: Vec<&SyncResult> =
        results.iter().filter_map(|r| r.inventory.as_ref()?.restore_points.as_ref()).collect();
    let newest = *lines.last()?;
    let mut merged = SyncResult { added: Vec::new(), ..newest.clone() };
    for line in &lines {
        for spec in &line.added {
            if !newest.present.contains(&spec.backup_id) {
                continue;
            }
            merged.added.retain(|a| a.backup_id != spec.backup_id);
            merged.added.push(spec.clone());
        }
    }
    merged.added.sort_by(|a, b| a.backup_id.cmp(&b.backup_id));
    Some(merged)
}

/// The restore points `sync` names present that no restore point in `existing` holds and no line
/// describes: what only a listing of the location can fill.
pub fn gap(sync: &SyncResult, existing: &[String]) -> Vec<String> {
    sync.present
        .iter()
        .filter(|id| !existing.contains(id) && !sync.added.iter().any(|a| &a.backup_id == *id))
        .cloned()
        .collect()
}

/// The `Ready` message while the Deployment has an available pod: the newest restore point and
/// when it was committed. Not its age: a status that changed at every look would wake the
/// reconcile with its own write (the pod's `..._last_commit_timestamp_seconds` gives the age).
pub fn running_message(deployment: &str, interval: &str, newest: Option<&BackupRecord>) -> String {
    let newest = newest.filter(|r| r.status == crate::api::backup::BackupRunStatus::Completed);
    match newest {
        Some(r) => {
            let at = r.completion_time.as_ref().map_or_else(|| "?".into(), |t| t.0.to_string());
            format!(
                "Deployment {deployment} runs the continuous backup, one restore point every {interval}; the newest is {} (committed {at})",
                r.id
            )
        }
        None => format!(
            "Deployment {deployment} runs the continuous backup and committed a restore point; one every {interval}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A result line of the continuous process: backup `id` completed at `at` (seconds past
    /// 10:00), with `added` new and `present` all.
    fn line(id: &str, at: u32, added: &[&str], present: &[&str]) -> String {
        let spec = |b: &str| {
            serde_json::to_value(crate::api::restore_point::KafkaRestorePointSpec {
                backup_id: b.into(),
                completed_at: format!("2026-11-21T10:00:{at:02}Z"),
                ..Default::default()
            })
            .expect("a summary as JSON")
        };
        json!({
            "backupId": id, "location": "s3://b/", "startedAt": format!("2026-11-21T10:00:{:02}.000Z", at.saturating_sub(1)),
            "completedAt": format!("2026-11-21T10:00:{at:02}.500Z"), "sizeBytes": 10, "rawBytes": 20, "records": 3,
            "topics": 1, "partitions": 3, "consumerGroups": 0, "backupCount": present.len(), "storageBytes": 100,
            "restorePoints": {"location": "s3://b/", "present": present,
                "added": added.iter().map(|a| spec(a)).collect::<Vec<_>>()}
        })
        .to_string()
    }

    fn now() -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(1_795_000_000).unwrap_or_default())
    }

    #[test]
    fn every_line_newer_than_the_last_backup_is_read_once_oldest_first_among_the_logs_other_lines() {
        let log = [
            "2026-11-21T10:00:00Z INFO continuous backup started".into(),
            line("c1", 10, &["a", "c1"], &["a", "c1"]),
            "{\"not\": \"a result\"}".into(),
            line("c3", 30, &["c3"], &["a", "c1", "c2", "c3"]),
            line("c2", 20, &["c2"], &["a", "c1", "c2"]),
            line("c3", 30, &["c3"], &["a", "c1", "c2", "c3"]),
            "{\"backupId\": broken".into(),
        ]
        .join("\n");
        let mut status = KafkaBackupStatus::default();
        let found = new_results(&log, &status);
        let ids: Vec<&str> = found.iter().map(|r| r.backup_id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2", "c3"]);
        record(&mut status, &found, &now());
        assert_eq!(status.last_backup.as_ref().map(|b| b.id.as_str()), Some("c3"));
        let history: Vec<&str> = status.backup_history.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(history, ["c3", "c2", "c1"]);
        assert_eq!(status.backup_count, Some(4));
        // The next look finds nothing new in the same log, and only what came after.
        assert!(new_results(&log, &status).is_empty());
        let more = format!("{log}\n{}", line("c4", 40, &["c4"], &["c1", "c2", "c3", "c4"]));
        let ids: Vec<String> = new_results(&more, &status).into_iter().map(|r| r.backup_id).collect();
        assert_eq!(ids, ["c4"]);
        // A line older than the last backup (another pod's, a log read again) is not news.
        let older = line("b0", 5, &["b0"], &["b0"]);
        assert!(new_results(&older, &status).is_empty());
    }

    #[test]
    fn a_short_tail_is_enough_when_it_reaches_back_to_a_recorded_commit() {
        let mut status = KafkaBackupStatus::default();
        assert!(!reaches_recorded(&line("c1", 10, &[], &[]), &status), "nothing recorded: read it all");
        let found = new_results(&line("c1", 10, &[], &[]), &status);
        record(&mut status, &found, &now());
        let tail = [line("c1", 10, &[], &[]), line("c2", 20, &[], &[])].join("\n");
        assert!(reaches_recorded(&tail, &status));
        let tail = [line("c2", 20, &[], &[]), line("c3", 30, &[], &[])].join("\n");
        assert!(!reaches_recorded(&tail, &status), "c1 is not in it: commits may lie before");
        assert!(!reaches_recorded("INFO restore point committed", &status));
    }

    #[test]
    fn the_history_stays_bounded_however_many_lines_a_look_finds() {
        let log: Vec<String> =
            (1..=45).map(|i| line(&format!("c{i:02}"), i, &[&format!("c{i:02}")], &["x"])).collect();
        let mut status = KafkaBackupStatus::default();
        let found = new_results(&log.join("\n"), &status);
        record(&mut status, &found, &now());
        assert_eq!(status.backup_history.len(), crate::api::backup::BACKUP_HISTORY_LIMIT);
        assert_eq!(status.backup_history[0].id, "c45");
        assert_eq!(status.last_backup.map(|b| b.id), Some("c45".into()));
    }

    #[test]
    fn the_restore_points_are_the_union_of_what_was_added_still_present_and_the_newest_present() {
        let lines: Vec<BackupResult> = [
            line("c1", 10, &["a", "b", "c1"], &["a", "b", "c1"]),
            line("c2", 20, &["c2"], &["b", "c1", "c2"]),
            line("c3", 30, &["c3"], &["b", "c1", "c2", "c3"]),
        ]
        .iter()
        .map(|l| serde_json::from_str(l).expect("a result"))
        .collect();
        let sync = restore_points(&lines).expect("restore points");
        assert_eq!(sync.present, ["b", "c1", "c2", "c3"]);
        let added: Vec<&str> = sync.added.iter().map(|a| a.backup_id.as_str()).collect();
        assert_eq!(added, ["b", "c1", "c2", "c3"], "`a` was pruned by c2: not created");
        assert!(sync.complete);
        assert!(gap(&sync, &[]).is_empty());
        // Only the newest line read: `b` and `c1` are neither known nor described.
        let newest = restore_points(&lines[2..]).expect("restore points");
        assert_eq!(gap(&newest, &["c2".into()]), ["b", "c1"]);
        assert!(gap(&newest, &["b".into(), "c1".into(), "c2".into()]).is_empty());
        assert!(restore_points(&[]).is_none());
    }

    #[test]
    fn ready_names_the_newest_restore_point_and_when_it_was_committed() {
        let mut status = KafkaBackupStatus::default();
        let found = new_results(&line("c7", 10, &[], &[]), &status);
        record(&mut status, &found, &now());
        let m = running_message("nightly-continuous", "10s", status.last_backup.as_ref());
        assert!(m.contains("the newest is c7 (committed 2026-11-21T10:00:10"), "{m}");
        assert!(running_message("d", "10s", None).contains("committed a restore point"));
    }
}
