//! The order a restore registers a backup's versions in (pure): a version after every version it
//! references and after its subject's earlier versions, otherwise by original schema id (so ids
//! handed out afresh, when they cannot be kept, come out in the original order).

use std::collections::{BTreeMap, BTreeSet};

use crate::format::schemas::SchemaRegistryBackup;

/// A version: subject and version number.
pub type Node = (String, i32);

/// The versions of `backup` in registration order, or the versions on a reference cycle.
pub fn registration_order(backup: &SchemaRegistryBackup) -> Result<Vec<Node>, String> {
    let mut deps: BTreeMap<Node, BTreeSet<Node>> = BTreeMap::new();
    let mut id: BTreeMap<Node, i32> = BTreeMap::new();
    for s in &backup.subjects {
        let mut previous: Option<Node> = None;
        let mut versions: Vec<_> = s.versions.iter().collect();
        versions.sort_by_key(|v| v.version);
        for v in versions {
            let node = (s.subject.clone(), v.version);
            id.insert(node.clone(), v.id);
            let entry = deps.entry(node.clone()).or_default();
            entry.extend(previous.iter().cloned());
            entry.extend(v.references.iter().map(|r| (r.subject.clone(), r.version)));
            previous = Some(node);
        }
    }
    // References to versions the backup lacks must already be in the target: not ordered here.
    let known: BTreeSet<Node> = deps.keys().cloned().collect();
    for d in deps.values_mut() {
        d.retain(|n| known.contains(n));
    }
    let mut dependents: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
    for (n, d) in &deps {
        for on in d {
            dependents.entry(on.clone()).or_default().push(n.clone());
        }
    }
    let mut waiting: BTreeMap<Node, usize> = deps.iter().map(|(n, d)| (n.clone(), d.len())).collect();
    let key = |n: &Node| (id.get(n).copied().unwrap_or(i32::MAX), n.clone());
    let mut ready: BTreeSet<(i32, Node)> =
        waiting.iter().filter(|(_, c)| **c == 0).map(|(n, _)| key(n)).collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(first) = ready.pop_first() {
        let node = first.1;
        waiting.remove(&node);
        for d in dependents.get(&node).into_iter().flatten() {
            if let Some(c) = waiting.get_mut(d) {
                *c -= 1;
                if *c == 0 {
                    ready.insert(key(d));
                }
            }
        }
        order.push(node);
    }
    if !waiting.is_empty() {
        let cycle: Vec<String> = waiting.keys().map(|(s, v)| format!("{s} version {v}")).collect();
        return Err(format!(
            "the backup's schema references form a cycle (a schema registry refuses those, so the backup \
             was altered or the registry is inconsistent): {}",
            cycle.join(", ")
        ));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::schemas::{SCHEMAS_VERSION, SchemaReference, SchemaVersion, Subject};

    /// A version: number, id, references (subject, version).
    type V<'a> = (i32, i32, Vec<(&'a str, i32)>);

    fn backup(subjects: Vec<(&str, Vec<V<'_>>)>) -> SchemaRegistryBackup {
        SchemaRegistryBackup {
            schemas_version: SCHEMAS_VERSION,
            backup_id: "b".into(),
            captured_at: "t".into(),
            url: "u".into(),
            compatibility: None,
            mode: None,
            subjects: subjects
                .into_iter()
                .map(|(name, versions)| Subject {
                    subject: name.into(),
                    compatibility: None,
                    mode: None,
                    versions: versions
                        .into_iter()
                        .map(|(version, id, refs)| SchemaVersion {
                            version,
                            id,
                            schema_type: "AVRO".into(),
                            schema: String::new(),
                            references: refs
                                .into_iter()
                                .map(|(s, v)| SchemaReference {
                                    name: s.into(),
                                    subject: s.into(),
                                    version: v,
                                })
                                .collect(),
                            deleted: false,
                        })
                        .collect(),
                })
                .collect(),
            not_captured: Vec::new(),
        }
    }

    fn names(order: Vec<Node>) -> Vec<String> {
        order.into_iter().map(|(s, v)| format!("{s}/{v}")).collect()
    }

    #[test]
    fn references_come_first_then_ids_and_each_subjects_versions_ascend() {
        // `a` (id 1) references `z` v2 (id 5), whose v1 has id 4: z/1, z/2 before a/1.
        let b = backup(vec![
            ("a", vec![(1, 1, vec![("z", 2)]), (2, 2, vec![])]),
            ("m", vec![(1, 3, vec![])]),
            ("z", vec![(2, 5, vec![]), (1, 4, vec![])]),
        ]);
        assert_eq!(names(registration_order(&b).expect("order")), ["m/1", "z/1", "z/2", "a/1", "a/2"]);
    }

    #[test]
    fn a_reference_outside_the_backup_does_not_hold_anything_back() {
        let b = backup(vec![("a", vec![(1, 7, vec![("elsewhere", 1)])])]);
        assert_eq!(names(registration_order(&b).expect("order")), ["a/1"]);
    }

    #[test]
    fn a_cycle_is_refused_naming_its_versions() {
        let b = backup(vec![
            ("a", vec![(1, 1, vec![("b", 1)])]),
            ("b", vec![(1, 2, vec![("a", 1)])]),
            ("c", vec![(1, 3, vec![])]),
        ]);
        let err = registration_order(&b).expect_err("cycle");
        assert!(err.contains("a version 1, b version 1") && !err.contains("c version"), "{err}");
    }
}
