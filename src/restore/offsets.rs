//! Consumer-group offsets after a restore. A committed offset names the next record a group
//! would read; after the restore the same records sit at other offsets (the target partition
//! started elsewhere, compaction and transaction markers left gaps, a point in time cut the
//! tail). So each offset is translated to the target offset of the first restored record at or
//! after it — the consumer resumes exactly where it was, on the same record.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::api::restore::RestoreConsumerGroups;
use crate::api::selection::NameFilter;
use crate::format::manifest::{CommittedOffset, GroupEntry, Manifest};

/// The groups of a backup that are restored, and under which name.
pub struct GroupSelection {
    filter: NameFilter,
    mapping: HashMap<String, String>,
    enabled: bool,
}

impl GroupSelection {
    pub fn new(spec: Option<&RestoreConsumerGroups>) -> Result<Self, String> {
        let spec = spec.cloned().unwrap_or_default();
        let include = spec.include.clone().unwrap_or_else(|| vec![".*".to_string()]);
        Ok(Self {
            filter: NameFilter::new(&include, &[], "spec.consumerGroups")?,
            mapping: spec.mapping.iter().map(|m| (m.source_group.clone(), m.target_group.clone())).collect(),
            enabled: spec.restore,
        })
    }

    /// The target name of a backed-up group, if it is restored.
    pub fn target(&self, group: &str) -> Option<String> {
        (self.enabled && self.filter.matches(group))
            .then(|| self.mapping.get(group).cloned().unwrap_or_else(|| group.to_string()))
    }
}

/// The group offsets a restore moves consumers to, and which backup captured them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capture {
    pub groups: Vec<GroupEntry>,
    /// The backup whose start read them, and when (RFC 3339); `None` when no backup captured
    /// offsets at or before the point in time.
    pub backup_id: Option<String>,
    pub captured_at: Option<String>,
}

/// Which group offsets a restore to the point in time `target` (milliseconds) uses. Offsets are
/// read when a backup starts; those of the restored backup are later than a point in time
/// inside it, and a consumer moved there would skip what was unconsumed at that time. So a
/// point-in-time restore uses the offsets of the backup that started last at or before the
/// point in time — among `candidates` (the backups at the location), and for each partition only
/// when that backup read the same lineage as the restored one (a recreated topic's old offsets
/// mean nothing in the new one). Without a point in time: the restored backup's own. Pure.
pub fn capture_for(restored: &Manifest, candidates: &[Manifest], target: Option<i64>) -> Capture {
    let millis =
        |m: &Manifest| chrono::DateTime::parse_from_rfc3339(&m.started_at).ok().map(|t| t.timestamp_millis());
    let own = |m: &Manifest| Capture {
        groups: m.consumer_groups.clone(),
        backup_id: Some(m.backup_id.clone()),
        captured_at: Some(m.started_at.clone()),
    };
    let Some(target) = target else { return own(restored) };
    let chosen = candidates
        .iter()
        .chain([restored])
        .filter_map(|m| millis(m).filter(|t| *t <= target).map(|t| (t, m)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, m)| m);
    let Some(chosen) = chosen else { return Capture::default() };
    if chosen.backup_id == restored.backup_id {
        return own(restored);
    }
    let same_lineage = |topic: &str, partition: i32| match (
        chosen.partition(topic, partition),
        restored.partition(topic, partition),
    ) {
        (Some((_, a)), Some((_, b))) if restored.self_contained() && chosen.self_contained() => {
            a.lineage_start.is_some() && a.lineage_start == b.lineage_start
        }
        // Version 1: the candidates are the restored backup's own chain.
        (Some(_), Some(_)) => !restored.self_contained() && !chosen.self_contained(),
        _ => false,
    };
    let groups = chosen
        .consumer_groups
        .iter()
        .map(|g| GroupEntry {
            group: g.group.clone(),
            offsets: g.offsets.iter().filter(|o| same_lineage(&o.topic, o.partition)).cloned().collect(),
        })
        .filter(|g| !g.offsets.is_empty())
        .collect();
    Capture {
        groups,
        backup_id: Some(chosen.backup_id.clone()),
        captured_at: Some(chosen.started_at.clone()),
    }
}

/// Committed source offsets per backed-up partition, ascending: what the partition restores must
/// translate.
pub fn committed_by_partition(
    groups: &[GroupEntry],
    selection: &GroupSelection,
) -> HashMap<(String, i32), Vec<i64>> {
    let mut by: HashMap<(String, i32), Vec<i64>> = HashMap::new();
    for g in groups.iter().filter(|g| selection.target(&g.group).is_some()) {
        for o in &g.offsets {
            by.entry((o.topic.clone(), o.partition)).or_default().push(o.offset);
        }
    }
    for list in by.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    by
}

/// One group's offsets in the target cluster.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupPlan {
    pub group: String,
    pub target_group: String,
    pub offsets: Vec<CommittedOffset>,
}

/// The offsets of groups on topics restored into another partition count, worked out by
/// [`repartition`](super::repartition): (group, source topic) -> the target partitions' offsets
/// and the metadata to commit with them.
pub type Moved = BTreeMap<(String, String), (Vec<(i32, i64)>, Option<String>)>;

/// Translates the selected groups' offsets on the restored partitions. `translated` maps a
/// backed-up partition to its source -> target offsets; `moved` holds the offsets on
/// repartitioned topics (whose source offsets `translated` does not hold); `target_topic` names
/// a topic in the target cluster.
pub fn plan(
    groups: &[GroupEntry],
    selection: &GroupSelection,
    translated: &HashMap<(String, i32), BTreeMap<i64, i64>>,
    moved: &Moved,
    target_topic: impl Fn(&str) -> String,
) -> Vec<GroupPlan> {
    let mut plans: Vec<GroupPlan> = Vec::new();
    for g in groups {
        let Some(target_group) = selection.target(&g.group) else { continue };
        let mut offsets: Vec<CommittedOffset> = g
            .offsets
            .iter()
            .filter_map(|o| {
                let to = translated.get(&(o.topic.clone(), o.partition))?.get(&o.offset)?;
                Some(CommittedOffset {
                    topic: target_topic(&o.topic),
                    partition: o.partition,
                    offset: *to,
                    metadata: o.metadata.clone(),
                })
            })
            .collect();
        for ((_, source), (on, metadata)) in moved.iter().filter(|((group, _), _)| *group == g.group) {
            offsets.extend(on.iter().map(|(partition, offset)| CommittedOffset {
                topic: target_topic(source),
                partition: *partition,
                offset: *offset,
                metadata: metadata.clone(),
            }));
        }
        if offsets.is_empty() {
            continue;
        }
        // Two groups mapped to one target: their offsets merge, the later group wins a partition.
        match plans.iter_mut().find(|p| p.target_group == target_group) {
            Some(existing) => {
                for o in offsets {
                    existing
                        .offsets
                        .retain(|e| (e.topic.as_str(), e.partition) != (o.topic.as_str(), o.partition));
                    existing.offsets.push(o);
                }
            }
            None => plans.push(GroupPlan { group: g.group.clone(), target_group, offsets }),
        }
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::restore::GroupMapping;

    fn group(name: &str, offsets: &[(&str, i32, i64)]) -> GroupEntry {
        GroupEntry {
            group: name.into(),
            offsets: offsets
                .iter()
                .map(|(t, p, o)| CommittedOffset {
                    topic: t.to_string(),
                    partition: *p,
                    offset: *o,
                    metadata: None,
                })
                .collect(),
        }
    }

    #[test]
    fn offsets_follow_the_records_and_the_names() {
        let groups =
            [group("billing", &[("orders", 0, 40), ("audit", 0, 3)]), group("ops", &[("orders", 0, 7)])];
        let spec = RestoreConsumerGroups {
            restore: true,
            include: Some(vec!["bill.*".into()]),
            mapping: vec![GroupMapping { source_group: "billing".into(), target_group: "billing-dr".into() }],
        };
        let selection = GroupSelection::new(Some(&spec)).expect("valid");
        let committed = committed_by_partition(&groups, &selection);
        assert_eq!(committed[&("orders".to_string(), 0)], vec![40], "ops is not selected");
        // orders/0 was restored (audit was not): source offset 40 is now target offset 1012.
        let translated = HashMap::from([(("orders".to_string(), 0), BTreeMap::from([(40, 1012)]))]);
        let plans = plan(&groups, &selection, &translated, &Moved::new(), |t| format!("{t}-restored"));
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].target_group, "billing-dr");
        assert_eq!(plans[0].offsets.len(), 1, "audit/0 was not restored");
        assert_eq!(
            (plans[0].offsets[0].topic.as_str(), plans[0].offsets[0].offset),
            ("orders-restored", 1012)
        );
    }

    #[test]
    fn restore_false_restores_no_group() {
        let spec = RestoreConsumerGroups { restore: false, include: None, mapping: Vec::new() };
        let selection = GroupSelection::new(Some(&spec)).expect("valid");
        assert_eq!(selection.target("any"), None);
    }

    fn backup(id: &str, started: &str, lineage: &str, offset: i64) -> Manifest {
        use crate::format::manifest::{Encoding, PartitionEntry, TopicEntry, Totals};
        Manifest {
            format_version: 2,
            backup_id: id.into(),
            parent_id: None,
            started_at: started.into(),
            completed_at: started.into(),
            cluster_id: Some("c".into()),
            encoding: Encoding { compression: "zstd".into(), encryption_key_id: None, data_keys: Vec::new() },
            topics: vec![TopicEntry {
                name: "orders".into(),
                partition_count: 1,
                replication_factor: 1,
                topic_id: Some("T".into()),
                configs: Default::default(),
                partitions: vec![PartitionEntry {
                    partition: 0,
                    start_offset: 0,
                    end_offset: 1000,
                    read_from: Some(0),
                    lineage_start: Some(lineage.into()),
                    lineage_break: None,
                    segments: Vec::new(),
                    gaps: Vec::new(),
                }],
            }],
            consumer_groups: vec![group("billing", &[("orders", 0, offset)])],
            totals: Totals::default(),
            written: None,
            cluster_metadata: None,
            schema_registry: None,
            strimzi_resources: None,
            revision: None,
        }
    }

    fn ms(t: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(t).map(|t| t.timestamp_millis()).unwrap_or_default()
    }

    #[test]
    fn a_point_in_time_takes_the_offsets_captured_last_at_or_before_it_from_the_same_lineage() {
        let b1 = backup("b1", "2026-11-01T01:00:00.000Z", "b1", 60);
        let b2 = backup("b2", "2026-11-01T02:00:00.000Z", "b1", 160);
        let b3 = backup("b3", "2026-11-01T03:00:00.000Z", "b1", 260);
        let all = [b1.clone(), b2.clone(), b3.clone()];
        let offset = |c: &Capture| c.groups.first().map(|g| g.offsets[0].offset);
        // No point in time: the restored backup's own.
        assert_eq!(offset(&capture_for(&b3, &all, None)), Some(260));
        // Between b2 and b3: b2's, captured at its start.
        let c = capture_for(&b3, &all, Some(ms("2026-11-01T02:30:00.000Z")));
        assert_eq!((offset(&c), c.backup_id.as_deref()), (Some(160), Some("b2")));
        assert_eq!(c.captured_at.as_deref(), Some("2026-11-01T02:00:00.000Z"));
        // Exactly at b1's start: b1's.
        assert_eq!(offset(&capture_for(&b3, &all, Some(ms("2026-11-01T01:00:00.000Z")))), Some(60));
        // Before every backup: none at all.
        assert_eq!(capture_for(&b3, &all, Some(ms("2026-10-31T00:00:00.000Z"))), Capture::default());
        // After the restored backup: its own.
        assert_eq!(offset(&capture_for(&b3, &all, Some(ms("2026-11-02T00:00:00.000Z")))), Some(260));
        // b2 read another lineage of the partition (the topic was recreated since): its offsets
        // are dropped, never applied to the new topic.
        let other = backup("b2", "2026-11-01T02:00:00.000Z", "b0", 160);
        let c = capture_for(&b3, &[b1, other, b3.clone()], Some(ms("2026-11-01T02:30:00.000Z")));
        assert!(c.groups.is_empty(), "{c:?}");
        assert_eq!(c.backup_id.as_deref(), Some("b2"));
    }
}
