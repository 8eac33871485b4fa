//! A restore's plan (`status.plan`) from its dry run, its hash, and whether the run may start
//! (`spec.restore.approval`, the annotation `kafkabackup.com/approve`). Pure: no client, no
//! clock.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde::Serialize;
use sha2::Digest;

use crate::api::restore::{
    APPROVE_ANNOTATION, Approval, KafkaRestore, PLAN_GROUPS_LISTED, PLAN_TOPICS_LISTED, PlannedGroups,
    PlannedTopic, RestorePlan,
};
use crate::restore::RestoreResult;
use crate::restore::result::TopicAction;

/// Records per second a restore writes: 91,743, the slower of the two restore cases measured in
/// docs/benchmarks.md ("After the fixes", 1 partition, 1 KiB records, on 2 cores).
const RECORDS_PER_SECOND: f64 = 91_743.0;
/// Bytes per second a restore writes: 89.6 MiB/s, the same measurement.
const BYTES_PER_SECOND: f64 = 89.6 * 1024.0 * 1024.0;

/// The plan of a dry run's result, hashed. `computed_at` and `job` only say when and by
/// which Job: they are not part of the hash.
pub fn from_result(r: &RestoreResult, computed_at: Option<Time>, job: &str) -> RestorePlan {
    let mut topics: Vec<PlannedTopic> = r
        .topics
        .iter()
        .map(|t| PlannedTopic {
            source: t.source.clone(),
            target: t.target.clone(),
            action: match t.action {
                TopicAction::Create => "create",
                TopicAction::Append => "append",
                TopicAction::Overwrite => "overwrite",
            }
            .into(),
            partitions: t.partitions,
            records: t.records,
            bytes: i64::try_from(t.bytes).unwrap_or(i64::MAX),
        })
        .collect();
    topics.sort_by(|a, b| a.target.cmp(&b.target));
    let topic_count = i32::try_from(topics.len()).unwrap_or(i32::MAX);
    topics.truncate(PLAN_TOPICS_LISTED);
    let mut names: Vec<String> = r.consumer_groups.iter().map(|g| g.target_group.clone()).collect();
    names.sort();
    names.dedup();
    let count = i32::try_from(names.len()).unwrap_or(i32::MAX);
    names.truncate(PLAN_GROUPS_LISTED);
    let bytes = i64::try_from(r.restored_bytes).unwrap_or(i64::MAX);
    let mut plan = RestorePlan {
        hash: String::new(),
        backup_id: r.backup_id.clone(),
        point_in_time: r.point_in_time_target.clone(),
        topics,
        topic_count,
        consumer_groups: PlannedGroups { count, names },
        records: r.restored_records,
        bytes,
        estimated_duration_seconds: Some(estimate_seconds(r.restored_records, bytes)),
        computed_at,
        job_name: Some(job.to_string()),
    };
    plan.hash = hash(&plan);
    plan
}

/// Seconds a restore of `records` and `bytes` takes at the measured rate (whichever of records
/// and bytes takes longer), at least one.
pub fn estimate_seconds(records: i64, bytes: i64) -> i64 {
    let by_records = records.max(0) as f64 / RECORDS_PER_SECOND;
    let by_bytes = bytes.max(0) as f64 / BYTES_PER_SECOND;
    (by_records.max(by_bytes).ceil() as i64).max(1)
}

/// The first 16 hex digits of the SHA-256 of the plan's canonical JSON: what the restore will
/// do (backup, point in time, topics with actions and figures, groups, totals), in a fixed
/// field order, without the hash itself, the estimate, the time or the Job.
pub fn hash(plan: &RestorePlan) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Canonical<'a> {
        backup_id: &'a str,
        point_in_time: Option<&'a str>,
        topics: &'a [PlannedTopic],
        topic_count: i32,
        consumer_groups: &'a PlannedGroups,
        records: i64,
        bytes: i64,
    }
    let canonical = Canonical {
        backup_id: &plan.backup_id,
        point_in_time: plan.point_in_time.as_deref(),
        topics: &plan.topics,
        topic_count: plan.topic_count,
        consumer_groups: &plan.consumer_groups,
        records: plan.records,
        bytes: plan.bytes,
    };
    // Serializing plain structs, strings and numbers cannot fail; an empty input would still hash.
    let json = serde_json::to_vec(&canonical).unwrap_or_default();
    hex::encode(&sha2::Sha256::digest(&json)[..8])
}

/// Whether a planned restore may write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approved {
    Yes,
    /// Not yet: no approval annotation.
    Waiting {
        command: String,
    },
    /// The annotation names another plan.
    WrongHash {
        given: String,
        command: String,
    },
}

/// `Automatic` is approved by itself; `Manual` once `kafkabackup.com/approve` equals the
/// plan's hash (surrounding blanks ignored).
pub fn approved(kr: &KafkaRestore, plan: &RestorePlan) -> Approved {
    if kr.spec.restore.approval == Approval::Automatic {
        return Approved::Yes;
    }
    let command =
        format!("kubectl annotate kafkarestore {} {APPROVE_ANNOTATION}={}", kr.name_any(), plan.hash);
    match kr.annotations().get(APPROVE_ANNOTATION).map(|v| v.trim()) {
        None => Approved::Waiting { command },
        Some(v) if v == plan.hash => Approved::Yes,
        Some(v) => Approved::WrongHash { given: v.to_string(), command },
    }
}

/// One line saying what the plan does, for `Ready` and Events.
pub fn summary(plan: &RestorePlan) -> String {
    let pit = plan.point_in_time.as_deref().map(|t| format!(" up to {t}")).unwrap_or_default();
    format!(
        "plan {}: backup {}{pit}, {} records ({} bytes) into {} topics, {} consumer groups, about {} s",
        plan.hash,
        plan.backup_id,
        plan.records,
        plan.bytes,
        plan.topic_count,
        plan.consumer_groups.count,
        plan.estimated_duration_seconds.unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::result::{GroupOutcome, TopicOutcome};

    fn result() -> RestoreResult {
        RestoreResult {
            backup_id: "nightly-1".into(),
            dry_run: true,
            restored_records: 1_000,
            restored_bytes: 4_096,
            point_in_time_target: Some("2026-11-21T10:00:00.123Z".into()),
            topics: vec![
                TopicOutcome {
                    source: "orders".into(),
                    target: "orders-dr".into(),
                    action: TopicAction::Create,
                    partitions: 3,
                    records: 900,
                    bytes: 4_000,
                    replication_factor: None,
                    configs: Default::default(),
                },
                TopicOutcome {
                    source: "audit".into(),
                    target: "audit".into(),
                    action: TopicAction::Append,
                    partitions: 1,
                    records: 100,
                    bytes: 96,
                    replication_factor: None,
                    configs: Default::default(),
                },
            ],
            consumer_groups: vec![GroupOutcome {
                group: "billing".into(),
                target_group: "billing-dr".into(),
                offsets: Vec::new(),
                committed: false,
                reason: Some("dry run".into()),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_plan_lists_each_topic_with_its_action_and_totals_and_hashes_what_it_does() {
        let plan = from_result(&result(), None, "dr-plan");
        let targets: Vec<(&str, &str)> =
            plan.topics.iter().map(|t| (t.target.as_str(), t.action.as_str())).collect();
        assert_eq!(targets, [("audit", "append"), ("orders-dr", "create")], "sorted by target");
        assert_eq!((plan.records, plan.bytes, plan.topic_count), (1_000, 4_096, 2));
        assert_eq!(plan.consumer_groups, PlannedGroups { count: 1, names: vec!["billing-dr".into()] });
        assert_eq!(plan.point_in_time.as_deref(), Some("2026-11-21T10:00:00.123Z"));
        assert_eq!(plan.hash.len(), 16);
        assert!(plan.hash.bytes().all(|b| b.is_ascii_hexdigit()));
        // When and by whom it was computed does not change it; what it does does.
        let again = from_result(&result(), crate::time::kube(chrono::Utc::now()), "other");
        assert_eq!(again.hash, plan.hash);
        let mut more = result();
        more.topics[0].action = TopicAction::Overwrite;
        assert_ne!(from_result(&more, None, "dr-plan").hash, plan.hash, "another action, another plan");
        let mut later = result();
        later.point_in_time_target = Some("2026-11-21T10:00:00.124Z".into());
        assert_ne!(from_result(&later, None, "dr-plan").hash, plan.hash, "another point in time");
    }

    #[test]
    fn the_estimate_is_the_slower_of_records_and_bytes_at_the_measured_rate() {
        assert_eq!(estimate_seconds(0, 0), 1);
        assert_eq!(estimate_seconds(917_430, 0), 10);
        assert_eq!(estimate_seconds(10, (896.0 * 1024.0 * 1024.0) as i64), 10);
    }

    #[test]
    fn manual_approval_needs_the_plans_own_hash() {
        let plan = from_result(&result(), None, "dr-plan");
        let mut kr = KafkaRestore::new("dr", Default::default());
        assert_eq!(approved(&kr, &plan), Approved::Yes, "automatic by default");
        kr.spec.restore.approval = Approval::Manual;
        let command = format!("kubectl annotate kafkarestore dr kafkabackup.com/approve={}", plan.hash);
        assert_eq!(approved(&kr, &plan), Approved::Waiting { command: command.clone() });
        kr.metadata.annotations =
            Some([(APPROVE_ANNOTATION.to_string(), "0123456789abcdef".to_string())].into());
        assert_eq!(approved(&kr, &plan), Approved::WrongHash { given: "0123456789abcdef".into(), command });
        kr.metadata.annotations = Some([(APPROVE_ANNOTATION.to_string(), plan.hash.clone())].into());
        assert_eq!(approved(&kr, &plan), Approved::Yes);
    }
}
