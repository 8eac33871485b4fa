//! Committing a backup: its manifest, built from the plan and what every worker read, written
//! create-only. The manifest is the only commit point; until it exists the backup does not.
//!
//! The manifest is a pure function of the plan and the worker results (in any order), so when
//! several workers of one run find every result present at once, each builds the very same
//! bytes and the create-only write lets the first one in; the others read back an equal
//! manifest and succeed as well.

use anyhow::Context;
use object_store::PutPayload;

use crate::format::MANIFEST_VERSION;
use crate::format::manifest::{Encoding, Manifest, PartitionEntry, TopicEntry, Totals, Written};
use crate::storage::Storage;

use super::shared_plan::SharedPlan;
use super::worker_result::WorkerResult;

/// The manifest of `plan` read by `results` (one per worker). Fails when the results do not
/// account for every planned partition exactly once.
pub fn manifest(
    plan: &SharedPlan,
    results: &[WorkerResult],
    layout_backups_dir: &str,
) -> anyhow::Result<Manifest> {
    let backup_id = &plan.backup_id;
    let mut entries: Vec<(&str, &PartitionEntry)> =
        results.iter().flat_map(|r| r.partitions.iter().map(|p| (p.topic.as_str(), &p.entry))).collect();
    entries.sort_by(|a, b| (a.0, a.1.partition).cmp(&(b.0, b.1.partition)));
    let read: Vec<(&str, i32)> = entries.iter().map(|(t, e)| (*t, e.partition)).collect();
    let mut planned: Vec<(&str, i32)> =
        plan.partitions.iter().map(|p| (p.topic.as_str(), p.partition)).collect();
    planned.sort_unstable();
    anyhow::ensure!(
        read == planned,
        "backup {backup_id}: the workers' results hold {} partitions, the plan {}: they are not of one run",
        read.len(),
        planned.len()
    );
    let side = results.iter().find(|r| r.index == plan.planned_by);
    let completed_at = results
        .iter()
        .map(|r| r.completed_at.as_str())
        .max()
        .with_context(|| format!("backup {backup_id}: no worker result"))?
        .to_string();

    let topics: Vec<TopicEntry> = plan
        .topics
        .iter()
        .map(|t| TopicEntry {
            name: t.name.clone(),
            partition_count: t.partition_count,
            replication_factor: t.replication_factor,
            topic_id: Some(t.topic_id.clone()),
            configs: t.configs.clone(),
            partitions: entries
                .iter()
                .filter(|(name, _)| *name == t.name)
                .map(|(_, e)| (*e).clone())
                .collect(),
        })
        .collect();
    let mut totals =
        Totals { topics: plan.topics.len() as u32, partitions: entries.len() as u32, ..Default::default() };
    let mut written = Written::default();
    // Segments this backup wrote are under its own id; the rest of the restore point was written
    // by earlier backups of the partitions' lineages.
    let own = format!("{layout_backups_dir}{backup_id}/");
    for s in topics.iter().flat_map(|t| &t.partitions).flat_map(|p| &p.segments) {
        totals.count(s);
        if s.object.starts_with(&own) {
            written.records += s.records;
            written.raw_bytes += s.raw_bytes;
            written.stored_bytes += s.stored_bytes;
            written.segments += 1;
        }
    }
    // The wrapped data keys of every backup whose segments the restore point lists: this run's
    // and those its parent carried for the segments it continues.
    let data_keys = match &plan.data_key {
        Some(own) => {
            let mut known = vec![own.clone()];
            known.extend(plan.parent_data_keys.iter().cloned());
            let mut keys = crate::format::data_keys::needed(
                topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .flat_map(|p| &p.segments)
                    .map(|s| s.object.as_str()),
                &known,
            )
            .map_err(|e| anyhow::anyhow!("backup {backup_id}: {e}"))?;
            // Its own key also when it lists no segment of its own, so readers find it.
            if !keys.iter().any(|k| k.backup_id == own.backup_id) {
                keys.push(own.clone());
            }
            keys
        }
        None => Vec::new(),
    };
    Ok(Manifest {
        format_version: MANIFEST_VERSION,
        backup_id: backup_id.clone(),
        parent_id: plan.parent_id.clone(),
        started_at: plan.started_at.clone(),
        completed_at,
        cluster_id: plan.cluster_id.clone(),
        encoding: Encoding {
            compression: plan.compression.clone(),
            encryption_key_id: plan.encryption_key_id.clone(),
            data_keys,
        },
        topics,
        consumer_groups: plan.consumer_groups.clone(),
        totals,
        written: Some(written),
        cluster_metadata: side.and_then(|r| r.cluster_metadata.clone()),
        schema_registry: side.and_then(|r| r.schema_registry.clone()),
        strimzi_resources: side.and_then(|r| r.strimzi_resources.clone()),
        revision: None,
    })
}

/// Writes `manifest`: the commit point. Create-only, so two writers can never both commit one
/// id with different content; a write of ours that landed although its answer was lost, or
/// another worker of the same run that committed first, reads back as this very manifest.
pub async fn commit(storage: &Storage, manifest: &Manifest) -> anyhow::Result<()> {
    let backup_id = &manifest.backup_id;
    let manifest_path = object_store::path::Path::from(storage.layout.manifest(backup_id));
    let body = manifest.to_json()?;
    // What readers will see of ours: writing sets the format version the content needs (4 with
    // KMS data keys or erasures), so the manifest as built is not what another committer stored.
    let ours = Manifest::from_json(&body, manifest_path.as_ref())?;
    let create = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
    match storage.store.put_opts(&manifest_path, PutPayload::from(body), create).await {
        Ok(_) => {}
        Err(object_store::Error::AlreadyExists { .. }) => {
            let theirs = crate::catalog::manifest(storage, backup_id).await?;
            anyhow::ensure!(
                theirs == ours,
                "backup {backup_id} was committed by another writer while this one ran ({}): this \
                 run's segments are left for cleanup; ids are never reused",
                first_difference(&theirs, &ours)
            );
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("writing {manifest_path}"))),
    }
    storage.sync(manifest_path.as_ref()).await.with_context(|| format!("flushing {manifest_path} to disk"))
}

/// Where two manifests of one id part, as a JSON path and both values (shortened): what a
/// refused commit names, so a lost race is told from two runs that read differently.
fn first_difference(theirs: &Manifest, ours: &Manifest) -> String {
    fn walk(path: String, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                keys.into_iter().find_map(|k| {
                    let (l, r) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                    walk(format!("{path}.{k}"), l, r)
                })
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                x.iter().zip(y).enumerate().find_map(|(i, (l, r))| walk(format!("{path}[{i}]"), l, r))
            }
            _ if a == b => None,
            _ => {
                let short = |v: &Value| v.to_string().chars().take(120).collect::<String>();
                Some(format!("{path}: theirs {}, ours {}", short(a), short(b)))
            }
        }
    }
    let (a, b) = (serde_json::to_value(theirs), serde_json::to_value(ours));
    match (a, b) {
        (Ok(a), Ok(b)) => walk("manifest".into(), &a, &b).unwrap_or_else(|| "equal as JSON".into()),
        _ => "not comparable".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::worker_result::ReadPartition;
    use crate::format::manifest::SegmentEntry;
    use crate::format::metadata::MetadataRef;

    fn plan() -> SharedPlan {
        crate::backup::shared_plan::tests::sample()
    }

    fn entry(plan: &SharedPlan, partition: i32) -> ReadPartition {
        let p = &plan.partitions[partition as usize];
        let mut entry = PartitionEntry {
            partition,
            start_offset: p.log_start,
            end_offset: p.end,
            read_from: Some(p.start),
            lineage_start: Some(p.lineage.start.clone()),
            lineage_break: p.lineage.broken.clone(),
            segments: p.lineage.segments.clone(),
            gaps: p.lineage.gaps.clone(),
        };
        entry.segments.push(SegmentEntry {
            object: format!("backups/b3/segments/t/{partition}/{:020}.kbseg", p.start),
            first_offset: p.start,
            last_offset: p.end - 1,
            records: (p.end - p.start) as u64,
            offsets_skipped: 0,
            min_timestamp: 100 + i64::from(partition),
            max_timestamp: 200 + i64::from(partition),
            raw_bytes: 1000,
            stored_bytes: 500,
            sha256: format!("sha{partition}"),
            max_record_bytes: Some(10),
        });
        ReadPartition { topic: p.topic.clone(), entry }
    }

    fn result(plan: &SharedPlan, index: u32, partitions: &[i32], completed_at: &str) -> WorkerResult {
        WorkerResult {
            result_version: crate::backup::worker_result::RESULT_VERSION,
            backup_id: plan.backup_id.clone(),
            index,
            workers: plan.workers,
            completed_at: completed_at.into(),
            partitions: partitions.iter().map(|p| entry(plan, *p)).collect(),
            written: Written::default(),
            cluster_metadata: (index == plan.planned_by).then(|| MetadataRef {
                object: "backups/b3/cluster-metadata.json".into(),
                sha256: "m".into(),
                acls: Some(1),
                quotas: None,
                scram_users: None,
                scram_mechanisms: Default::default(),
                not_captured: Vec::new(),
            }),
            schema_registry: None,
            strimzi_resources: None,
        }
    }

    #[test]
    fn the_manifest_is_the_same_whichever_worker_builds_it_and_in_whatever_order() {
        let plan = plan();
        let a = result(&plan, 0, &[1], "2026-12-04T17:05:00.000Z");
        let b = result(&plan, 1, &[0], "2026-12-04T17:04:00.000Z");
        let one = manifest(&plan, &[a.clone(), b.clone()], "backups/").expect("one order");
        let other = manifest(&plan, &[b, a], "backups/").expect("the other");
        assert_eq!(one.to_json().expect("json"), other.to_json().expect("json"), "same bytes");
        assert_eq!(one.completed_at, "2026-12-04T17:05:00.000Z", "the last worker's end");
        assert_eq!(one.started_at, plan.started_at);
        let parts: Vec<i32> = one.topics[0].partitions.iter().map(|p| p.partition).collect();
        assert_eq!(parts, [0, 1], "sorted by partition");
        assert_eq!(one.written.as_ref().map(|w| (w.records, w.segments)), Some((17, 2)));
        assert_eq!(one.totals.records, 17);
        assert_eq!(one.parent_id.as_deref(), Some("b2"));
        assert_eq!(one.consumer_groups, plan.consumer_groups);
        assert_eq!(
            one.cluster_metadata.map(|m| m.sha256).as_deref(),
            Some("m"),
            "the side objects come from the planning worker's result"
        );
        for p in &one.topics[0].partitions {
            assert!(p.coverage_problems().is_empty(), "{:?}", p.coverage_problems());
        }
    }

    #[test]
    fn results_that_miss_or_repeat_a_partition_do_not_commit() {
        let plan = plan();
        let at = "2026-12-04T17:05:00.000Z";
        assert!(manifest(&plan, &[result(&plan, 0, &[0], at)], "backups/").is_err(), "partition 1 missing");
        let twice = [result(&plan, 0, &[0, 1], at), result(&plan, 1, &[1], at)];
        assert!(manifest(&plan, &twice, "backups/").is_err(), "partition 1 twice");
        assert!(manifest(&plan, &[], "backups/").is_err());
    }

    /// Two workers that both find every result commit the same manifest: the second's
    /// create-only write finds the first's and succeeds. With KMS data keys the stored manifest
    /// is format version 4 while the one built says 3; comparing the built one refused the
    /// second committer (seen in e2e: "formatVersion: theirs 4, ours 3").
    #[tokio::test]
    async fn a_second_committer_of_the_same_kms_manifest_succeeds() {
        let storage = Storage::in_memory("");
        let mut plan = plan();
        plan.data_key = Some(crate::format::data_keys::DataKeyEntry {
            backup_id: plan.backup_id.clone(),
            key_id: "k".into(),
            provider: "vaultTransit".into(),
            kms_key_id: "t".into(),
            kms_key_version: Some(1),
            wrapped: "vault:v1:x".into(),
        });
        let at = "2026-12-04T17:05:00.000Z";
        let results = [result(&plan, 0, &[1], at), result(&plan, 1, &[0], at)];
        let built = manifest(&plan, &results, "backups/").expect("a manifest");
        assert!(built.required_version() > built.format_version, "the case under test");
        commit(&storage, &built).await.expect("the first committer");
        commit(&storage, &built).await.expect("the second committer of the same manifest");
        let mut other = built.clone();
        other.completed_at = "2026-12-04T17:06:00.000Z".into();
        let refused = commit(&storage, &other).await.expect_err("a different manifest is refused");
        assert!(format!("{refused:#}").contains("manifest.completedAt"), "{refused:#}");
    }
}
