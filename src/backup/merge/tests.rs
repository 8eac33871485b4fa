//! Merging against the in-memory store: the merged segments decode to exactly the records of
//! the small ones, gaps stay consistent, and a merge that fails leaves the entry as it was.

use object_store::{ObjectStoreExt, PutPayload};

use super::*;
use crate::format::record::Record;
use crate::format::record::tests::sample;
use crate::format::segment::SegmentWriter;

const KEY: &[u8] = b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Writes `records` as a segment of backup `backup`, and returns its manifest entry.
async fn stored(
    storage: &Storage,
    backup: &str,
    records: &[Record],
    key: Option<EncryptionKey>,
) -> SegmentEntry {
    let mut w = SegmentWriter::new(Codec::Lz4, key, 1024).expect("writer");
    for r in records {
        w.push(r).expect("push");
    }
    let (bytes, summary) = w.finish().expect("finish");
    let object = storage.layout.segment(backup, "t", 0, records[0].offset);
    let path = object_store::path::Path::from(object.as_str());
    storage.store.put(&path, PutPayload::from(bytes)).await.expect("put");
    SegmentEntry::new(object, &summary)
}

/// Every record of `segments`, read back as a restore reads them.
async fn decoded(storage: &Storage, segments: &[SegmentEntry], key: Option<EncryptionKey>) -> Vec<Record> {
    let mut out = Vec::new();
    for s in segments {
        let mut seg = CheckedSegment::open(storage, s, key.clone()).await.expect("opens");
        while let Some(block) = seg.next_block().await.expect("reads") {
            out.extend(block.records().expect("decodes"));
        }
    }
    out
}

/// A lineage of 12 backups `b0`..`b11` of partition t/0, one small segment each (every field
/// varied: null keys and values, headers with null values, both timestamp types), a transaction
/// marker after each (a `NotReturned` gap of one offset), a retention gap after the 10th; then
/// what backup `b12` read itself.
async fn lineage(storage: &Storage, key: Option<EncryptionKey>) -> (PartitionEntry, Vec<Record>) {
    let mut entry = PartitionEntry {
        partition: 0,
        start_offset: 0,
        end_offset: 0,
        read_from: None,
        lineage_start: Some("b0".into()),
        lineage_break: None,
        segments: Vec::new(),
        gaps: Vec::new(),
    };
    let mut all = Vec::new();
    let mut next = 0i64;
    for b in 0..13 {
        if b == 10 {
            entry.gaps.push(Gap { from: next, to: next + 50, reason: GapReason::RetentionDeleted });
            next += 50;
        }
        if b == 12 {
            entry.read_from = Some(next);
        }
        let records: Vec<Record> = (0..40).map(|n| sample(next + n as i64, n + b * 40)).collect();
        next += 40;
        entry.segments.push(stored(storage, &format!("b{b}"), &records, key.clone()).await);
        all.extend(records);
        entry.gaps.push(Gap { from: next, to: next + 1, reason: GapReason::NotReturned });
        next += 1;
    }
    entry.end_offset = next;
    assert!(entry.coverage_problems().is_empty(), "{:?}", entry.coverage_problems());
    (entry, all)
}

fn target<'a>(storage: &'a Storage, key: Option<EncryptionKey>) -> Target<'a> {
    // Segments of ~4 KB against 1 MiB: tier 3, eight make a merge.
    Target {
        storage,
        backup_id: "b12",
        topic: "t",
        codec: Codec::Zstd { level: 3 },
        key,
        segment_bytes: 1 << 20,
    }
}

async fn merges_exactly(key: Option<EncryptionKey>) {
    let storage = Storage::in_memory("p/");
    let (mut entry, records) = lineage(&storage, key.clone()).await;
    let before = entry.clone();
    let read_from = entry.read_from.expect("read_from");
    let keys = ReadKeys::new(key.clone(), "b12", None);
    let merged = merge_inherited(&target(&storage, key.clone()), &keys, &mut entry, read_from).await;
    assert_eq!(merged.segments_in, 10, "the ten before the retention gap");
    assert_eq!(merged.segments_out, 1);
    // One merged segment of this backup, then b10, b11 (after the retention gap) and b12's own.
    let objects: Vec<&str> = entry.segments.iter().map(|s| s.object.as_str()).collect();
    assert_eq!(objects.len(), 4, "{objects:?}");
    assert_eq!(objects[0], storage.layout.segment("b12", "t", 0, 0));
    assert_eq!(&entry.segments[1..], &before.segments[10..]);
    let m = &entry.segments[0];
    assert_eq!((m.first_offset, m.last_offset, m.records), (0, 9 * 41 + 39, 400));
    assert_eq!(m.offsets_skipped, 9, "the nine transaction markers inside it");
    assert_eq!(m.raw_bytes, merged.raw_bytes);
    // The markers inside are the segment's to account for now; the rest stay as they were.
    let kept: Vec<&Gap> = before.gaps.iter().filter(|g| g.from > m.last_offset).collect();
    assert_eq!(entry.gaps.iter().collect::<Vec<_>>(), kept);
    assert_eq!(entry.gaps.iter().filter(|g| g.reason == GapReason::RetentionDeleted).count(), 1);
    assert!(entry.coverage_problems().is_empty(), "{:?}", entry.coverage_problems());
    // The same records, field for field, in the same order; the records count and timestamps
    // the manifest says agree with them (CheckedSegment checks it).
    assert_eq!(decoded(&storage, &entry.segments, key.clone()).await, records);
    assert_eq!(decoded(&storage, &before.segments, key.clone()).await, records);
    let count = |e: &PartitionEntry| e.segments.iter().map(|s| s.records).sum::<u64>();
    assert_eq!(count(&entry), count(&before));
    // The small originals are still there (older manifests list them).
    for s in &before.segments {
        storage.store.head(&object_store::path::Path::from(s.object.as_str())).await.expect("kept");
    }
    // A second run finds nothing more to merge.
    let again = merge_inherited(&target(&storage, key), &keys, &mut entry.clone(), read_from).await;
    assert_eq!(again, Merged::default());
}

#[tokio::test]
async fn merged_segments_hold_exactly_the_records_of_the_small_ones() {
    merges_exactly(None).await;
}

#[tokio::test]
async fn an_encrypted_lineage_merges_into_segments_sealed_with_its_key() {
    let key = EncryptionKey::from_secret(KEY).expect("key");
    merges_exactly(Some(key.clone())).await;
    // Without the key nothing can be read, so nothing is merged.
    let storage = Storage::in_memory("p/");
    let (mut entry, _) = lineage(&storage, Some(key.clone())).await;
    let before = entry.clone();
    let read_from = entry.read_from.expect("read_from");
    let wrong = EncryptionKey::from_secret(&[7u8; 32]).expect("key");
    let keys = ReadKeys::new(Some(wrong.clone()), "b12", None);
    let merged = merge_inherited(&target(&storage, Some(wrong)), &keys, &mut entry, read_from).await;
    assert_eq!((merged, entry), (Merged::default(), before));
}

#[tokio::test]
async fn a_merge_that_fails_leaves_the_entry_as_it_was_and_nothing_of_it_behind() {
    let storage = Storage::in_memory("p/");
    let (mut entry, _) = lineage(&storage, None).await;
    // The 5th segment is not what its manifest entry says (replaced, or damaged).
    entry.segments[4].sha256 = "00".repeat(32);
    let before = entry.clone();
    let read_from = entry.read_from.expect("read_from");
    let merged =
        merge_inherited(&target(&storage, None), &ReadKeys::new(None, "b12", None), &mut entry, read_from)
            .await;
    assert_eq!((merged, &entry), (Merged::default(), &before));
    let own = object_store::path::Path::from("p/backups/b12");
    let left: Vec<_> =
        futures::TryStreamExt::try_collect(storage.store.list(Some(&own))).await.expect("list");
    assert!(left.iter().all(|o| before.segments.iter().any(|s| s.object == o.location.as_ref())), "{left:?}");
}

#[test]
fn gaps_other_than_not_returned_split_candidates() {
    let seg = |first: i64, last: i64| SegmentEntry {
        object: format!("backups/b/segments/t/0/{first:020}.kbseg"),
        first_offset: first,
        last_offset: last,
        records: 1,
        offsets_skipped: 0,
        min_timestamp: 0,
        max_timestamp: 0,
        raw_bytes: 10,
        stored_bytes: 10,
        sha256: String::new(),
        max_record_bytes: None,
    };
    let segments = [seg(0, 9), seg(12, 19), seg(30, 39), seg(40, 49)];
    let gaps = [
        Gap { from: 10, to: 12, reason: GapReason::NotReturned },
        Gap { from: 20, to: 30, reason: GapReason::Erased },
    ];
    let joins: Vec<bool> = candidates(&segments, &gaps).iter().map(|c| c.joins_previous).collect();
    assert_eq!(joins, [false, true, false, true]);
}
