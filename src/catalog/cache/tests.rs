//! The cache against the in-memory store: what each scan reads, counted by the cache.

use object_store::{ObjectStoreExt, PutPayload};

use super::*;
use crate::format::manifest::{Encoding, PartitionEntry, SegmentEntry, TopicEntry, Totals};

/// A self-contained manifest of backup `id` listing `segments` segments of one partition,
/// completed at second `second`.
fn manifest(id: &str, second: u32, segments: usize) -> Manifest {
    let segment = |i: usize| SegmentEntry {
        object: format!("backups/{id}/orders/0/{i:020}.seg"),
        first_offset: i as i64 * 100,
        last_offset: i as i64 * 100 + 99,
        records: 100,
        offsets_skipped: 0,
        min_timestamp: 1_000,
        max_timestamp: 2_000,
        raw_bytes: 100_000,
        stored_bytes: 40_000,
        sha256: "ab".repeat(32),
        max_record_bytes: Some(1_024),
    };
    Manifest {
        format_version: 2,
        backup_id: id.into(),
        parent_id: None,
        started_at: format!("2026-12-05T00:00:{second:02}.000Z"),
        completed_at: format!("2026-12-05T00:00:{second:02}.500Z"),
        cluster_id: Some("cluster-a".into()),
        encoding: Encoding { compression: "zstd".into(), encryption_key_id: None, data_keys: Vec::new() },
        topics: vec![TopicEntry {
            name: "orders".into(),
            partition_count: 1,
            replication_factor: 1,
            topic_id: None,
            configs: Default::default(),
            partitions: vec![PartitionEntry {
                partition: 0,
                start_offset: 0,
                end_offset: segments as i64 * 100,
                read_from: Some(0),
                lineage_start: Some(id.into()),
                lineage_break: None,
                segments: (0..segments).map(segment).collect(),
                gaps: vec![],
            }],
        }],
        consumer_groups: vec![],
        totals: Totals { records: 100 * segments as u64, topics: 1, partitions: 1, ..Default::default() },
        written: None,
        cluster_metadata: None,
        schema_registry: None,
        strimzi_resources: None,
        revision: None,
    }
}

async fn put(storage: &Storage, m: &Manifest) {
    let at = object_store::path::Path::from(storage.layout.manifest(&m.backup_id));
    storage.store.put(&at, PutPayload::from(m.to_json().expect("json"))).await.expect("stored");
}

async fn put_raw(storage: &Storage, id: &str, bytes: &'static [u8]) {
    let at = object_store::path::Path::from(storage.layout.manifest(id));
    storage.store.put(&at, PutPayload::from(bytes)).await.expect("stored");
}

/// The ids a scan found, sorted, and the GETs it took.
async fn scanned(cache: &ManifestCache, storage: &Storage) -> (Vec<String>, u64) {
    let before = cache.reads();
    let scan = cache.scan(storage).await.expect("scanned");
    let mut ids: Vec<String> = scan.manifests.iter().map(|m| m.backup_id.clone()).collect();
    ids.sort();
    (ids, cache.reads() - before)
}

#[tokio::test]
async fn a_second_scan_of_an_unchanged_location_reads_no_manifest() {
    let s = Storage::in_memory("pre/");
    for i in 0..20 {
        put(&s, &manifest(&format!("b{i:02}"), i, 3)).await;
    }
    // A segment beside the manifests is listed but never read.
    let seg = object_store::path::Path::from("pre/backups/b00/orders/0/00000000000000000000.seg");
    s.store.put(&seg, PutPayload::from("records")).await.expect("segment");
    let cache = ManifestCache::with_budget(LONG_RUNNING_BUDGET);
    let (ids, reads) = scanned(&cache, &s).await;
    assert_eq!((ids.len(), reads), (20, 20), "the first scan reads each manifest once");
    let (again, reads) = scanned(&cache, &s).await;
    assert_eq!((again, reads), (ids, 0), "the second reads none");
    put(&s, &manifest("b20", 20, 3)).await;
    let (ids, reads) = scanned(&cache, &s).await;
    assert_eq!((ids.len(), reads), (21, 1), "only the new one");
    assert_eq!(cache.held().0, 21);
    let kept = cache.peek(&s.layout.manifest("b20")).expect("kept");
    assert_eq!((kept.backup_id.as_str(), cache.reads()), ("b20", 21));
    assert!(cache.peek(&s.layout.manifest("b99")).is_none());
    // The newest through the same cache: nothing read.
    let latest = crate::catalog::latest_in(&s, "", &cache).await.expect("latest").expect("one");
    assert_eq!((latest.backup_id.as_str(), cache.reads()), ("b20", 21));
    let parent = crate::catalog::latest_in(&s, "b20", &cache).await.expect("latest").expect("one");
    assert_eq!(parent.backup_id, "b19");
}

#[tokio::test]
async fn a_manifest_rewritten_in_place_is_read_again() {
    let s = Storage::in_memory("");
    put(&s, &manifest("a", 1, 2)).await;
    put(&s, &manifest("b", 2, 2)).await;
    let cache = ManifestCache::with_budget(LONG_RUNNING_BUDGET);
    scanned(&cache, &s).await;
    // A revision (an erasure) rewrites b under the same name with other content.
    let mut revised = manifest("b", 2, 1);
    revised.revision =
        Some(crate::format::manifest::Revision { number: 1, erasures: vec!["erase-1".into()] });
    put(&s, &revised).await;
    let (_, reads) = scanned(&cache, &s).await;
    assert_eq!(reads, 1, "b again, not a");
    let scan = cache.scan(&s).await.expect("scanned");
    let b = scan.manifests.iter().find(|m| m.backup_id == "b").expect("b");
    assert_eq!(b.revision.as_ref().map(|r| r.number), Some(1), "the revised content");
    assert_eq!(b.topics[0].partitions[0].segments.len(), 1);
    // The same bytes written again are a new object too: read again (the tag changed).
    put(&s, &revised).await;
    assert_eq!(scanned(&cache, &s).await.1, 1);
}

#[tokio::test]
async fn a_deleted_manifest_is_gone_from_the_scan_and_the_cache() {
    let s = Storage::in_memory("");
    for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
        put(&s, &manifest(id, i as u32, 2)).await;
    }
    let cache = ManifestCache::with_budget(LONG_RUNNING_BUDGET);
    scanned(&cache, &s).await;
    let (_, before) = cache.held();
    s.store.delete(&object_store::path::Path::from(s.layout.manifest("b"))).await.expect("deleted");
    let (ids, reads) = scanned(&cache, &s).await;
    assert_eq!((ids, reads), (vec!["a".to_string(), "c".to_string()], 0));
    let (held, size) = cache.held();
    assert_eq!(held, 2);
    assert!(size < before && size > 0, "{size} of {before}");
    // Deleted and written again: read again.
    put(&s, &manifest("b", 1, 2)).await;
    assert_eq!(scanned(&cache, &s).await.1, 1);
}

#[tokio::test]
async fn an_unreadable_manifest_is_reported_at_every_scan_and_read_once() {
    let s = Storage::in_memory("");
    put(&s, &manifest("a", 1, 2)).await;
    put_raw(&s, "z", br#"{"manifest": {"formatVersion": 99}}"#).await;
    let cache = ManifestCache::with_budget(LONG_RUNNING_BUDGET);
    for expected_reads in [2, 0] {
        let before = cache.reads();
        let scan = cache.scan(&s).await.expect("scanned");
        assert_eq!(scan.manifests.len(), 1);
        assert_eq!(scan.unreadable.len(), 1, "reported every time");
        let (object, why) = &scan.unreadable[0];
        assert_eq!(object, "backups/z/manifest.json");
        assert!(why.contains("99"), "{why}");
        assert_eq!(cache.reads() - before, expected_reads);
    }
    // Fixed in place: read again, and readable.
    put(&s, &manifest("z", 2, 1)).await;
    let scan = cache.scan(&s).await.expect("scanned");
    assert_eq!((scan.manifests.len(), scan.unreadable.len()), (2, 0));
}

#[tokio::test]
async fn the_cache_keeps_no_more_than_its_budget_and_reads_the_rest_each_time() {
    let s = Storage::in_memory("");
    for i in 0..10 {
        put(&s, &manifest(&format!("b{i}"), i, 4)).await;
    }
    let one = manifest("b0", 0, 4).to_json().expect("json").len() as u64;
    // Room for three and a half.
    let cache = ManifestCache::with_budget(one * 7 / 2);
    assert_eq!(scanned(&cache, &s).await.1, 10);
    let (held, size) = cache.held();
    assert_eq!(held, 3);
    assert!(size <= one * 7 / 2, "{size}");
    assert_eq!(scanned(&cache, &s).await, ((0..10).map(|i| format!("b{i}")).collect(), 7));
    // No cache at all (`catalog::scan`): every manifest every time, nothing kept.
    let none = ManifestCache::with_budget(0);
    assert_eq!(scanned(&none, &s).await.1, 10);
    assert_eq!(scanned(&none, &s).await.1, 10);
    assert_eq!(none.held(), (0, 0));
}

#[tokio::test]
async fn a_manifest_gone_between_listing_and_read_is_a_storage_failure() {
    let s = Storage::in_memory("");
    put(&s, &manifest("a", 1, 2)).await;
    // A manifest the listing names but that a GET cannot find (deleted in between) is a store
    // failure, as before the cache: the caller retries.
    let cache = ManifestCache::with_budget(LONG_RUNNING_BUDGET);
    let gone = ObjectMeta {
        location: object_store::path::Path::from("backups/x/manifest.json"),
        last_modified: chrono::Utc::now(),
        size: 10,
        e_tag: Some("1".into()),
        version: None,
    };
    let err = read(&s, &gone, "x").await.expect_err("not there");
    assert!(format!("{err:#}").contains("backup x not found"), "{err:#}");
    assert_eq!(scanned(&cache, &s).await.1, 1);
}

#[tokio::test]
async fn room_left_by_deleted_manifests_is_used_by_the_same_scan() {
    let s = Storage::in_memory("");
    for i in 0..3 {
        put(&s, &manifest(&format!("old{i}"), i, 4)).await;
    }
    let one = manifest("old0", 0, 4).to_json().expect("json").len() as u64;
    let cache = ManifestCache::with_budget(one * 3 + one / 2);
    assert_eq!(scanned(&cache, &s).await.1, 3);
    assert_eq!(cache.held().0, 3, "full");
    // Retention pruned two, two new ones came: they take the room the pruned ones left.
    for id in ["old0", "old1"] {
        s.store.delete(&object_store::path::Path::from(s.layout.manifest(id))).await.expect("deleted");
    }
    put(&s, &manifest("new0", 10, 4)).await;
    put(&s, &manifest("new1", 11, 4)).await;
    assert_eq!(scanned(&cache, &s).await.1, 2);
    assert_eq!(cache.held().0, 3);
    assert_eq!(scanned(&cache, &s).await.1, 0, "all three kept");
}
