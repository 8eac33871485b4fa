//! Consumer-group offsets after a restore. A committed offset names the next record a group
//! would read; after the restore the same records sit at other offsets (the target partition
//! started elsewhere, compaction and transaction markers left gaps, a point in time cut the
//! tail). So each offset is translated to the target offset of the first restored record at or
//! after it — the consumer resumes exactly where it was, on the same record.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::api::restore::RestoreConsumerGroups;
use crate::api::selection::NameFilter;
use crate::format::manifest::{CommittedOffset, GroupEntry};

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

/// Translates the selected groups' offsets on the restored partitions. `translated` maps a
/// backed-up partition to its source -> target offsets; `target_topic` names its topic in the
/// target cluster.
pub fn plan(
    groups: &[GroupEntry],
    selection: &GroupSelection,
    translated: &HashMap<(String, i32), BTreeMap<i64, i64>>,
    target_topic: impl Fn(&str) -> String,
) -> Vec<GroupPlan> {
    let mut plans: Vec<GroupPlan> = Vec::new();
    for g in groups {
        let Some(target_group) = selection.target(&g.group) else { continue };
        let offsets: Vec<CommittedOffset> = g
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
        let plans = plan(&groups, &selection, &translated, |t| format!("{t}-restored"));
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
}
