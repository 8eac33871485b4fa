//! The next revision of a restore point: its manifest with every rewritten segment replaced by
//! the pieces written in its place and the `Erased` gaps between them, totals counted again.
//! Pure, so the offset accounting is tested without storage.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::format::manifest::{Gap, Manifest, Revision, SegmentEntry};

/// What one original segment became: pieces (new segment objects) and `Erased` gaps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    pub topic: String,
    pub partition: i32,
    /// The original's manifest entry (the object deleted once no manifest lists it).
    pub original: SegmentEntry,
    pub pieces: Vec<SegmentEntry>,
    pub gaps: Vec<Gap>,
    /// Records removed.
    pub removed: u64,
    /// SHA-256 of each distinct key removed (hex); never the keys.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub key_digests: BTreeSet<String>,
}

/// Whether `manifest` lists a segment `replacements` replaces.
pub fn affected(manifest: &Manifest, replacements: &BTreeMap<String, Replacement>) -> bool {
    manifest.objects().any(|s| replacements.contains_key(&s.object))
}

/// The next revision of `manifest` with `replacements` applied by erasure `erasure_id`, or
/// `None` when it lists none of them.
pub fn revise(
    manifest: &Manifest,
    replacements: &BTreeMap<String, Replacement>,
    erasure_id: &str,
) -> Option<Manifest> {
    if !affected(manifest, replacements) {
        return None;
    }
    let mut next = manifest.clone();
    for p in next.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
        if !p.segments.iter().any(|s| replacements.contains_key(&s.object)) {
            continue;
        }
        let mut segments = Vec::with_capacity(p.segments.len());
        let mut gaps = p.gaps.clone();
        for s in std::mem::take(&mut p.segments) {
            match replacements.get(&s.object) {
                Some(r) => {
                    segments.extend(r.pieces.iter().cloned());
                    gaps.extend(r.gaps.iter().cloned());
                }
                None => segments.push(s),
            }
        }
        // A version 2 manifest lists an inherited segment whole, also when the log start moved
        // into it; cut around erased records, what ends before the start is not part of this
        // restore point (older ones still list it), and a gap is cut at the start.
        if p.start_offset < p.end_offset {
            let start = p.start_offset;
            segments.retain(|s| s.last_offset >= start);
            gaps = gaps
                .into_iter()
                .filter(|g| g.to > start)
                .map(|g| Gap { from: g.from.max(start), ..g })
                .collect();
        }
        segments.sort_by_key(|s| s.first_offset);
        gaps.sort_by_key(|g| g.from);
        p.segments = segments;
        p.gaps = gaps;
    }
    let mut totals = next.totals.clone();
    (totals.records, totals.raw_bytes, totals.stored_bytes) = (0, 0, 0);
    (totals.oldest_timestamp, totals.newest_timestamp) = (None, None);
    for s in next.objects() {
        totals.count(s);
    }
    next.totals = totals;
    let mut revision = next.revision.take().unwrap_or_default();
    revision.number += 1;
    if !revision.erasures.iter().any(|e| e == erasure_id) {
        revision.erasures.push(erasure_id.to_string());
    }
    next.revision = Some(Revision { number: revision.number, erasures: revision.erasures });
    next.format_version = next.format_version.max(crate::format::MANIFEST_VERSION_ERASED);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::{Encoding, GapReason, PartitionEntry, TopicEntry, Totals};

    fn seg(object: &str, first: i64, last: i64, records: u64) -> SegmentEntry {
        SegmentEntry {
            object: object.into(),
            first_offset: first,
            last_offset: last,
            records,
            offsets_skipped: (last - first + 1) as u64 - records,
            min_timestamp: first,
            max_timestamp: last,
            raw_bytes: records * 10,
            stored_bytes: records * 5,
            sha256: "00".into(),
            max_record_bytes: Some(10),
        }
    }

    fn manifest(start: i64, segments: Vec<SegmentEntry>, end: i64) -> Manifest {
        Manifest {
            format_version: 3,
            backup_id: "b2".into(),
            parent_id: Some("b1".into()),
            started_at: "2026-12-04T00:00:00.000Z".into(),
            completed_at: "2026-12-04T00:00:01.000Z".into(),
            cluster_id: None,
            encoding: Encoding { compression: "zstd".into(), encryption_key_id: None, data_keys: Vec::new() },
            topics: vec![TopicEntry {
                name: "t".into(),
                partition_count: 1,
                replication_factor: 1,
                topic_id: None,
                configs: Default::default(),
                partitions: vec![PartitionEntry {
                    partition: 0,
                    start_offset: start,
                    end_offset: end,
                    read_from: None,
                    lineage_start: None,
                    lineage_break: None,
                    segments,
                    gaps: vec![],
                }],
            }],
            consumer_groups: vec![],
            totals: Totals { records: 999, topics: 1, partitions: 1, ..Default::default() },
            written: None,
            cluster_metadata: None,
            schema_registry: None,
            strimzi_resources: None,
            revision: None,
        }
    }

    fn erased(from: i64, to: i64) -> Gap {
        Gap { from, to, reason: GapReason::Erased }
    }

    fn replacing(
        original: SegmentEntry,
        pieces: Vec<SegmentEntry>,
        gaps: Vec<Gap>,
    ) -> BTreeMap<String, Replacement> {
        BTreeMap::from([(
            original.object.clone(),
            Replacement {
                topic: "t".into(),
                partition: 0,
                original,
                pieces,
                gaps,
                removed: 1,
                key_digests: Default::default(),
            },
        )])
    }

    #[test]
    fn a_rewritten_segment_becomes_pieces_and_erased_gaps_that_account_for_every_offset() {
        let s1 = seg("b1/s0", 0, 99, 100);
        let s2 = seg("b2/s100", 100, 149, 50);
        let m = manifest(0, vec![s1.clone(), s2.clone()], 150);
        let r = replacing(s1, vec![seg("b1/p0", 0, 41, 42), seg("b1/p43", 43, 99, 57)], vec![erased(42, 43)]);
        let next = revise(&m, &r, "e1").expect("affected");
        let p = &next.topics[0].partitions[0];
        assert!(p.coverage_problems().is_empty(), "{:?}", p.coverage_problems());
        assert_eq!(
            p.segments.iter().map(|s| s.object.as_str()).collect::<Vec<_>>(),
            ["b1/p0", "b1/p43", "b2/s100"]
        );
        assert_eq!(p.gaps, [erased(42, 43)]);
        assert_eq!(next.totals.records, 149);
        assert_eq!((next.totals.oldest_timestamp, next.totals.newest_timestamp), (Some(0), Some(149)));
        assert_eq!(next.revision, Some(Revision { number: 1, erasures: vec!["e1".into()] }));
        let json = next.to_json().expect("json");
        let back = Manifest::from_json(&json, "m").expect("reads");
        assert_eq!(back.format_version, crate::format::MANIFEST_VERSION_ERASED);
        assert_eq!(back, next);
        // Once more by another erasure: revision 2, both named; unaffected manifests stay.
        let again =
            revise(&next, &replacing(seg("b2/s100", 100, 149, 50), vec![], vec![erased(100, 150)]), "e2")
                .expect("affected");
        assert_eq!(again.revision, Some(Revision { number: 2, erasures: vec!["e1".into(), "e2".into()] }));
        assert!(again.topics[0].partitions[0].coverage_problems().is_empty());
        assert!(revise(&again, &r, "e1").is_none(), "the original is no longer listed");
    }

    #[test]
    fn an_inherited_segment_below_the_log_start_is_cut_at_the_start() {
        // The log start moved to 100 inside the inherited segment 90..=120; 96..=101 erased.
        let s = seg("b1/s90", 90, 120, 31);
        let m = manifest(100, vec![s.clone()], 121);
        assert!(m.topics[0].partitions[0].coverage_problems().is_empty());
        let r =
            replacing(s, vec![seg("b1/p90", 90, 95, 6), seg("b1/p102", 102, 120, 19)], vec![erased(96, 102)]);
        let next = revise(&m, &r, "e1").expect("affected");
        let p = &next.topics[0].partitions[0];
        assert!(p.coverage_problems().is_empty(), "{:?}", p.coverage_problems());
        assert_eq!(p.segments.len(), 1);
        assert_eq!(p.gaps, [erased(100, 102)]);
        // Erased up to the start exactly: the piece after begins at the start.
        let s = seg("b1/s90", 90, 120, 31);
        let r =
            replacing(s, vec![seg("b1/p90", 90, 95, 6), seg("b1/p100", 100, 120, 21)], vec![erased(96, 100)]);
        let next = revise(&m, &r, "e1").expect("affected");
        let p = &next.topics[0].partitions[0];
        assert!(p.coverage_problems().is_empty(), "{:?}", p.coverage_problems());
        assert!(p.gaps.is_empty());
    }
}
