use std::collections::BTreeMap;

use super::*;
use crate::format::manifest::{
    Encoding, Gap, GapReason, GroupEntry, LineageBreak, LineageBreakReason, PartitionEntry, SegmentEntry,
    TopicEntry, Totals,
};

fn segment(first: i64, last: i64, records: u64, min_ts: i64, max_ts: i64) -> SegmentEntry {
    SegmentEntry {
        object: format!("backups/b/segments/t/0/{first:020}.kbseg"),
        first_offset: first,
        last_offset: last,
        records,
        offsets_skipped: 0,
        min_timestamp: min_ts,
        max_timestamp: max_ts,
        raw_bytes: records * 10,
        stored_bytes: records * 4,
        sha256: "00".into(),
        max_record_bytes: Some(10),
    }
}

fn manifest(id: &str, started: &str, completed: &str) -> Manifest {
    Manifest {
        format_version: 2,
        backup_id: id.into(),
        parent_id: Some("nightly-1".into()),
        started_at: started.into(),
        completed_at: completed.into(),
        cluster_id: Some("cluster-a".into()),
        encoding: Encoding {
            compression: "zstd".into(),
            encryption_key_id: Some("k1".into()),
            data_keys: Vec::new(),
        },
        topics: vec![
            TopicEntry {
                name: "orders".into(),
                partition_count: 2,
                replication_factor: 1,
                topic_id: None,
                configs: BTreeMap::new(),
                partitions: vec![
                    PartitionEntry {
                        partition: 0,
                        start_offset: 0,
                        end_offset: 100,
                        read_from: Some(50),
                        lineage_start: Some("nightly-1".into()),
                        lineage_break: None,
                        segments: vec![segment(0, 49, 50, 1_000, 2_000), segment(50, 99, 50, 2_000, 3_000)],
                        gaps: vec![],
                    },
                    PartitionEntry {
                        partition: 1,
                        start_offset: 0,
                        end_offset: 40,
                        read_from: Some(0),
                        lineage_start: Some(id.into()),
                        lineage_break: Some(LineageBreak {
                            reason: LineageBreakReason::TopicRecreated,
                            message: "another topic id".into(),
                        }),
                        // A record without a timestamp (-1) bounds nothing.
                        segments: vec![segment(10, 39, 30, -1, 5_000)],
                        gaps: vec![Gap { from: 0, to: 10, reason: GapReason::RetentionDeleted }],
                    },
                ],
            },
            TopicEntry {
                name: "empty".into(),
                partition_count: 1,
                replication_factor: 1,
                topic_id: None,
                configs: BTreeMap::new(),
                partitions: vec![PartitionEntry {
                    partition: 0,
                    start_offset: 0,
                    end_offset: 0,
                    read_from: Some(0),
                    lineage_start: None,
                    lineage_break: None,
                    segments: vec![],
                    gaps: (0..25)
                        .map(|i| Gap { from: i, to: i + 1, reason: GapReason::NotReturned })
                        .collect(),
                }],
            },
        ],
        consumer_groups: vec![GroupEntry { group: "g".into(), offsets: vec![] }],
        totals: Totals::default(),
        written: None,
        cluster_metadata: None,
        schema_registry: None,
        strimzi_resources: None,
        revision: None,
    }
}

#[test]
fn a_manifest_summarises_per_topic_with_gaps_lineage_and_its_time_range() {
    let m = manifest("nightly-2", "2026-02-13T02:00:00.000Z", "2026-02-13T02:05:00.000Z");
    let s = summarize(&m, Some("ns/nightly".into()));
    assert_eq!(s.backup_id, "nightly-2");
    assert_eq!(s.owner.as_deref(), Some("ns/nightly"));
    assert_eq!((s.format_version, s.compression.as_str()), (2, "zstd"));
    assert_eq!(s.encryption_key_id.as_deref(), Some("k1"));
    assert_eq!(s.captured_at, "2026-02-13T02:00:00.000Z");
    assert_eq!(
        s.totals,
        RestorePointTotals { topics: 2, partitions: 3, records: 130, raw_bytes: 1300, stored_bytes: 520 }
    );
    let orders = &s.topics[0];
    assert_eq!((orders.partitions, orders.records, orders.bytes), (2, 130, 520));
    assert_eq!(orders.first_timestamp.as_deref(), Some("1970-01-01T00:00:01.000Z"));
    assert_eq!(orders.last_timestamp.as_deref(), Some("1970-01-01T00:00:05.000Z"));
    assert_eq!(orders.gap_count, 1);
    assert_eq!(
        orders.gaps[0],
        GapSummary { partition: 1, from: 0, to: 10, reason: "RetentionDeleted".into() }
    );
    // At most 20 gaps listed, all counted; an empty topic has no time range.
    let empty = &s.topics[1];
    assert_eq!((empty.gaps.len(), empty.gap_count, empty.first_timestamp.as_ref()), (20, 25, None));
    assert_eq!(s.restorable_from.as_deref(), Some("1970-01-01T00:00:01.000Z"));
    assert_eq!(s.restorable_to.as_deref(), Some("1970-01-01T00:00:05.000Z"));
    assert_eq!(s.lineage.parent_id.as_deref(), Some("nightly-1"));
    assert_eq!(s.lineage.started_by, ["nightly-1", "nightly-2"]);
    assert_eq!(
        s.lineage.breaks,
        [LineageBreakSummary { topic: "orders".into(), partition: 1, reason: "TopicRecreated".into() }]
    );
    assert_eq!(s.consumer_groups, 1);
}

#[test]
fn names_are_readable_valid_and_stable() {
    assert_eq!(object_name("nightly", "nightly-29390400"), "nightly-29390400");
    assert_eq!(object_name("dr", "backup-20260213-020000"), "dr-backup-20260213-020000");
    let odd = object_name("dr", "Backup_2026");
    assert!(odd.starts_with("dr-") && odd.len() == 15, "{odd}");
    assert_eq!(odd, object_name("dr", "Backup_2026"));
    assert_ne!(odd, object_name("dr", "Backup_2027"));
    let long = object_name(&"a".repeat(250), "x");
    assert!(long.len() <= 253 && is_dns_subdomain(&long), "{long}");
}

#[test]
fn the_window_runs_from_the_oldest_record_to_the_newest_cut() {
    let mut old =
        summarize(&manifest("nightly-2", "1970-01-01T00:00:06.000Z", "1970-01-01T00:00:07.000Z"), None);
    old.restorable_from = Some("1970-01-01T00:00:00.500Z".into());
    let newer =
        summarize(&manifest("nightly-3", "1970-01-01T00:00:09.000Z", "1970-01-01T00:00:10.000Z"), None);
    let w = recoverability([&newer, &old]);
    let ms = |t: &Option<String>| {
        chrono::DateTime::parse_from_rfc3339(t.as_deref()?).ok().map(|t| t.timestamp_millis())
    };
    assert_eq!(ms(&w.first_recoverability_point), Some(500));
    // The newest point's cut (9 s) is later than its newest record (5 s).
    assert_eq!(ms(&w.last_recoverability_point), Some(9_000));
    assert_eq!(ms(&w.last_successful_backup), Some(10_000));
    assert_eq!(recoverability([]), Recoverability::default());
}

#[test]
fn a_restore_outside_the_window_or_of_an_unkept_backup_is_named_with_the_window() {
    let old = summarize(&manifest("nightly-2", "1970-01-01T00:00:06.000Z", "1970-01-01T00:00:07.000Z"), None);
    let newer =
        summarize(&manifest("nightly-3", "1970-01-01T00:00:09.000Z", "1970-01-01T00:00:10.000Z"), None);
    let points = [old.clone(), newer.clone()];
    let window = recoverability(&points);
    let judge = |id: Option<&str>, t: Option<&str>| {
        restore_target_problems(
            "KafkaBackup ns/nightly",
            id.map(|i| ("spec.backupRef.backupId", i)),
            t,
            &points,
            &window,
        )
    };
    assert!(judge(None, Some("1970-01-01T00:00:03.000Z")).is_empty());
    assert!(judge(None, None).is_empty());
    let early = judge(None, Some("1970-01-01T00:00:00.999Z"));
    assert_eq!(early[0].path, "spec.pointInTime.timestamp");
    assert!(
        early[0].message.contains("before the oldest record")
            && early[0].message.contains("1970-01-01T00:00:01.000Z to 1970-01-01T00:00:09.000Z"),
        "{}",
        early[0].message
    );
    let late = judge(None, Some("1970-01-01T00:00:09.001Z"));
    assert!(late[0].message.contains("after the newest restore point"), "{}", late[0].message);
    // A named backup has its own window: nightly-2's cut is at 6 s.
    assert!(
        judge(Some("nightly-2"), Some("1970-01-01T00:00:07.000Z"))[0]
            .message
            .contains("to 1970-01-01T00:00:06.000Z")
    );
    assert!(judge(Some("nightly-2"), Some("1970-01-01T00:00:05.000Z")).is_empty());
    let unknown = judge(Some("nightly-1"), None);
    assert_eq!(unknown[0].path, "spec.backupRef.backupId");
    assert!(unknown[0].message.contains("kept: nightly-2, nightly-3"), "{}", unknown[0].message);
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).expect("time").to_utc()
}

#[test]
fn the_newest_evidence_per_backup_is_the_one_written_last_whatever_the_listing_order() {
    let listed = [
        ("b1", "nightly-20261201", "2026-12-01T03:00:00Z"),
        ("b1", "nightly-20261203", "2026-12-03T03:00:00Z"),
        ("b1", "adhoc", "2026-12-02T12:00:00Z"),
        ("b2", "z-first", "2026-12-01T03:00:00Z"),
        ("b2", "a-second", "2026-12-01T03:00:00Z"),
    ];
    let mut orders = vec![listed.to_vec()];
    orders.push(listed.iter().rev().copied().collect());
    for order in orders {
        let mut newest = NewestEvidence::default();
        for (backup, drill, written) in order {
            newest.offer(backup, drill, at(written));
        }
        assert_eq!(newest.len(), 2, "one entry per backup");
        assert_eq!(newest.of("b1").map(|w| w.drill_id.as_str()), Some("nightly-20261203"));
        // Written at the same instant: the greater drill id, in any order.
        assert_eq!(newest.of("b2").map(|w| w.drill_id.as_str()), Some("z-first"));
        assert_eq!(newest.of("b3"), None);
    }
}

#[test]
fn evidence_replaces_a_shown_verification_only_when_it_completed_later() {
    let done = |t: &str| Verification {
        completion_time: crate::time::parse(t),
        drill: Some(t.into()),
        ..Default::default()
    };
    let (old, new) = (done("2026-12-01T03:00:00Z"), done("2026-12-02T03:00:00Z"));
    assert!(supersedes(&new, None), "anything beats nothing");
    assert!(supersedes(&new, Some(&old)));
    assert!(!supersedes(&old, Some(&new)), "an older drill never replaces a newer one");
    assert!(!supersedes(&new, Some(&new)), "the same drill is not written again");
    assert!(supersedes(&new, Some(&Verification::default())), "one without a time is the older");
    assert!(!supersedes(&Verification::default(), Some(&old)));
}

#[test]
fn a_drill_result_becomes_the_verification_state_it_names() {
    let result = crate::drill::DrillResult {
        drill_id: "nightly-20261203".into(),
        backup_id: "b1".into(),
        start_time: "2026-12-03T02:00:00.000Z".into(),
        completion_time: "2026-12-03T02:01:30.500Z".into(),
        restore_seconds: 42.5,
        records: 465,
        mismatches: 2,
        result: crate::api::restore_point::VerificationResult::Failed,
        message: "m".repeat(5000),
        ..Default::default()
    };
    let v = verification_of(&result);
    assert_eq!(v.drill.as_deref(), Some("nightly-20261203"));
    assert_eq!((v.records, v.mismatches, v.rto_seconds), (465, 2, Some(42.5)));
    assert_eq!(v.result, crate::api::restore_point::VerificationResult::Failed);
    assert_eq!(v.completion_time, crate::time::parse("2026-12-03T02:01:30.500Z"));
    assert_eq!(v.start_time, crate::time::parse("2026-12-03T02:00:00.000Z"));
    assert!(v.message.is_some_and(|m| m.chars().count() == 1001), "the message is cut");
}
