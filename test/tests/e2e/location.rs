//! A storage location as its writers and readers share it (issue 12 §2, §3): one owner, whose
//! claim every other writer meets before it writes anything; and restores in progress, whose
//! leases retention and `delete` respect, whoever runs them.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use strimzi_backup_e2e::dataplane::objects_under;
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, minio, partition_count, produce, recent, records, run_err,
    run_ok, spawn, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;

fn owner(ns: &str, name: &str) -> String {
    format!("owner: {{kind: KafkaBackup, namespace: {ns}, name: {name}, uid: uid-{ns}-{name}}}\n")
}

#[tokio::test]
async fn a_second_writer_is_refused_before_it_writes_anything_until_it_takes_over() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("owned{s}"), format!("e2e-owned-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    produce(&env, &topic, 0, &records(&topic, 0, 50, recent())).await?;
    let config = |who: &str| -> anyhow::Result<String> {
        Ok(format!("{}topics: {{include: [\"{topic}\"]}}\n{who}", base_config(&env, &prefix, None)?))
    };
    // Two KafkaBackups named alike in two namespaces, given the same bucket and prefix.
    run_ok(&env, "backup", &config(&owner("team-a", "nightly"))?, &["--backup-id", "a-1"])?;
    let refused = run_err(&env, "backup", &config(&owner("team-b", "nightly"))?, &["--backup-id", "b-1"])?;
    assert!(refused.contains("belongs to KafkaBackup team-a/nightly"), "names the owner: {refused}");
    assert!(refused.contains("take-over-location"), "says how to take over: {refused}");
    assert!(objects_under(&store, &format!("{prefix}backups/b-1/")).await?.is_empty(), "wrote nothing");
    // Nor may it delete the owner's backups, nor may a run by hand.
    let refused = run_err(&env, "delete", &config(&owner("team-b", "nightly"))?, &[])?;
    assert!(refused.contains("belongs to KafkaBackup team-a/nightly"), "{refused}");
    let refused = run_err(&env, "backup", &config("")?, &["--backup-id", "cli-1"])?;
    assert!(refused.contains("belongs to KafkaBackup team-a/nightly"), "{refused}");
    // The same KafkaBackup created again (a new uid) is the same owner.
    let again = config(&owner("team-a", "nightly"))?.replace("uid-team-a-nightly", "another-uid");
    run_ok(&env, "backup", &again, &["--backup-id", "a-2"])?;

    // Taking over is deliberate; the previous owner is refused from then on.
    run_ok(
        &env,
        "backup",
        &config(&format!("{}takeOverLocation: true\n", owner("team-b", "nightly")))?,
        &["--backup-id", "b-2"],
    )?;
    let refused = run_err(&env, "backup", &config(&owner("team-a", "nightly"))?, &["--backup-id", "a-3"])?;
    assert!(refused.contains("belongs to KafkaBackup team-b/nightly"), "{refused}");
    // Reading needs no ownership: a restore from the location works for anybody.
    let restored = run_ok(
        &env,
        "restore",
        &format!(
            "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {topic}-read}}]\n",
            base_config(&env, &prefix, None)?
        ),
        &[],
    )?;
    assert_eq!(restored["restoredRecords"], 50);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_delete_leave_alone_what_a_running_restore_reads() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("leased{s}"), format!("e2e-leased-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    let first = records(&topic, 0, 100_000, recent());
    produce(&env, &topic, 0, &first).await?;
    let backup = |extra: &str| -> anyhow::Result<String> {
        Ok(format!(
            "{}topics: {{include: [\"{topic}\"]}}\nbackup: {{mode: full}}\n{extra}",
            base_config(&env, &prefix, None)?
        ))
    };
    run_ok(&env, "backup", &backup("")?, &["--backup-id", "full-1"])?;

    // A restore of full-1 into a cluster that stops answering once the restore writes: it is
    // held mid-way, holding (and renewing) its lease.
    let dr = strimzi_backup_e2e::broker::PrivateBroker::start(&env)?;
    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\nrestore: {{parallelism: 1}}\n",
        base_config(&dr.env, &prefix, None)?
    );
    let child =
        spawn(&dr.env, "restore", &restore, &["--backup-id", "full-1", "--restore-id", &format!("r-{s}")])?;
    let lease = format!("{prefix}restores/r-{s}/lease.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while strimzi_backup_e2e::dataplane::watermarks(&dr.env, &target, 0).map_or(0, |w| w.1) == 0 {
        anyhow::ensure!(Instant::now() < deadline, "the restore never started writing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dr.freeze()?;
    assert!(store.head(&object_store::path::Path::from(lease.as_str())).await.is_ok(), "the lease is there");

    // A backup with maxBackups 1 would prune full-1 now; the lease keeps it, manifest and segments.
    produce(&env, &topic, 0, &records(&topic, 0, 10, recent() + 100_000)).await?;
    let pruning =
        run_ok(&env, "backup", &backup("retention: {maxBackups: 1}\n")?, &["--backup-id", "full-2"])?;
    assert_eq!(pruning["pruned"], serde_json::Value::Null, "{pruning}");
    assert_eq!(pruning["backupCount"], 2, "{pruning}");
    // delete keeps it too, deletes the rest, and fails naming it, so its cleanup Job retries.
    let refused = run_err(&env, "delete", &backup("")?, &[])?;
    assert!(refused.contains("running restores read (full-1)"), "{refused}");
    assert!(
        store
            .head(&object_store::path::Path::from(format!("{prefix}backups/full-2/manifest.json")))
            .await
            .is_err()
    );

    dr.thaw()?;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    assert!(out.status.success(), "the restore finishes: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(without_offsets(&consume_all(&dr.env, &target, 0)?), without_offsets(&first));
    assert!(store.head(&object_store::path::Path::from(lease.as_str())).await.is_err(), "lease released");
    // Without the lease, delete empties the location.
    run_ok(&env, "delete", &backup("")?, &[])?;
    assert!(objects_under(&store, &format!("{prefix}backups/")).await?.is_empty());

    // A lease from elsewhere (a restore in another cluster) counts the same; an expired one not.
    run_ok(&env, "backup", &backup("")?, &["--backup-id", "full-3"])?;
    let foreign = |expires: chrono::DateTime<chrono::Utc>| {
        PutPayload::from(
            serde_json::json!({"restoreId": "dr", "backupId": "full-3", "expiresAt": expires.to_rfc3339()})
                .to_string(),
        )
    };
    let dr = object_store::path::Path::from(format!("{prefix}restores/dr/lease.json"));
    store.put(&dr, foreign(chrono::Utc::now() + chrono::Duration::minutes(5))).await?;
    assert!(run_err(&env, "delete", &backup("")?, &[])?.contains("(full-3)"));
    store.put(&dr, foreign(chrono::Utc::now() - chrono::Duration::minutes(5))).await?;
    run_ok(&env, "delete", &backup("")?, &[])?;
    Ok(())
}

/// The stored bytes of the segments under a prefix.
async fn stored_bytes(store: &impl ObjectStore, prefix: &str) -> anyhow::Result<u64> {
    let path = object_store::path::Path::from(format!("{prefix}backups"));
    let listed: Vec<_> = store.list(Some(&path)).try_collect().await?;
    Ok(listed.iter().filter(|o| o.location.as_ref().ends_with(".kbseg")).map(|o| o.size).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_follows_the_sources_retention_and_every_kept_restore_point_restores_exactly()
-> anyhow::Result<()> {
    let env = TestEnv::load()?;
    // A source whose retention runs every half second.
    let source = strimzi_backup_e2e::broker::PrivateBroker::start_with(
        &env,
        &[
            ("log.retention.check.interval.ms", "500"),
            ("log.initial.task.delay.ms", "500"),
            ("file.delete.delay.ms", "1000"),
        ],
    )?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("bounded{s}"), format!("e2e-bounded-{s}/"));
    // Records live about six seconds in the source; segments roll every half second.
    create_topic(&source.env, &topic, 1, &[("retention.ms", "6000"), ("segment.ms", "500")]).await?;
    let config = format!(
        "{}topics: {{include: [\"{topic}\"]}}\nbackup: {{compression: none}}\nretention: {{maxBackups: 2}}\n",
        base_config(&source.env, &prefix, None)?
    );
    let mut produced = Vec::new();
    let mut written = 0u64;
    let mut ids = Vec::new();
    for round in 0..8 {
        let batch: Vec<_> = records(&topic, 0, 200, chrono::Utc::now().timestamp_millis())
            .into_iter()
            .map(|mut r| {
                r.value = Some(bytes::Bytes::from(format!("round {round}: {:0500}", r.offset)));
                r
            })
            .collect();
        produce(&source.env, &topic, 0, &batch).await?;
        produced.extend(batch);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let id = format!("round-{round}");
        let result = run_ok(&source.env, "backup", &config, &["--backup-id", &id])?;
        written += result["sizeBytes"].as_u64().unwrap_or_default();
        ids.push(id);
    }
    // The source has long deleted its first rounds; so has the location.
    let (log_start, _) = strimzi_backup_e2e::dataplane::watermarks(&source.env, &topic, 0)?;
    assert!(log_start > 0, "the source's retention ran");
    let stored = stored_bytes(&store, &prefix).await?;
    assert!(
        stored * 10 < written * 6,
        "stored {stored} bytes of the {written} the backups wrote: data the source deleted is gone once no restore point needs it"
    );
    // Both kept restore points restore exactly what the source held at their cut, and what its
    // retention deleted before a backup could read it (under load) is a gap it records, never a
    // record it claims.
    let mut restored_records = 0;
    for id in &ids[ids.len() - 2..] {
        let path = object_store::path::Path::from(format!("{prefix}backups/{id}/manifest.json"));
        let stored: serde_json::Value = serde_json::from_slice(&store.get(&path).await?.bytes().await?)?;
        let p = &stored["manifest"]["topics"][0]["partitions"][0];
        let (start, end) =
            (p["startOffset"].as_u64().unwrap_or(0) as usize, p["endOffset"].as_u64().unwrap_or(0) as usize);
        anyhow::ensure!(start > 0 && end > start, "{id}: the restore point is {start}..{end}");
        // Restored into the shared broker, into a topic of its own config (a week's retention).
        let target = format!("{topic}-{id}");
        create_topic(&env, &target, 1, &[]).await?;
        let result = run_ok(
            &env,
            "restore",
            &format!(
                "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\nrestore: {{existingTopicPolicy: append}}\n",
                base_config(&env, &prefix, None)?
            ),
            &["--backup-id", id],
        )?;
        let restored = without_offsets(&consume_all(&env, &target, 0)?);
        let gaps: Vec<(usize, usize)> = p["gaps"]
            .as_array()
            .map(|g| {
                g.iter()
                    .map(|g| {
                        (g["from"].as_u64().unwrap_or(0) as usize, g["to"].as_u64().unwrap_or(0) as usize)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let held: Vec<_> = (start..end)
            .filter(|o| !gaps.iter().any(|(from, to)| (*from..*to).contains(o)))
            .map(|o| produced[o].clone())
            .collect();
        let expected = without_offsets(&held);
        restored_records += restored.len();
        // The restore's own account beside the counts: the records themselves run to megabytes.
        anyhow::ensure!(
            restored == expected,
            "{id}: offsets {start}..{end}: read back {} records, expected {}; the restore reported {result}; the target's watermarks {:?}",
            restored.len(),
            expected.len(),
            strimzi_backup_e2e::dataplane::watermarks(&env, &target, 0)?
        );
    }
    anyhow::ensure!(
        restored_records > 0,
        "the kept restore points held no records at all (every backup too slow?)"
    );
    Ok(())
}

#[tokio::test]
async fn a_manifest_this_build_cannot_read_is_skipped_with_its_name_and_never_deleted() -> anyhow::Result<()>
{
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("future{s}"), format!("e2e-future-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    let want = records(&topic, 0, 40, recent());
    produce(&env, &topic, 0, &want).await?;
    let config = |extra: &str| -> anyhow::Result<String> {
        Ok(format!("{}topics: {{include: [\"{topic}\"]}}\n{extra}", base_config(&env, &prefix, None)?))
    };
    run_ok(&env, "backup", &config("")?, &["--backup-id", "b1"])?;
    // A backup written by a later version (or damaged), with a segment of its own.
    let future = format!("{prefix}backups/zz-future/manifest.json");
    let its_segment = format!("{prefix}backups/zz-future/segments/{topic}/0/00000000000000000000.kbseg");
    store
        .put(
            &object_store::path::Path::from(future.as_str()),
            PutPayload::from(
                r#"{"manifest": {"formatVersion": 99, "backupId": "zz-future"}, "sha256": "00"}"#,
            ),
        )
        .await?;
    store
        .put(&object_store::path::Path::from(its_segment.as_str()), PutPayload::from("not ours to judge"))
        .await?;

    // Backups, retention and orphan cleanup go on around it, and say which object they skipped.
    let out = strimzi_backup_e2e::dataplane::run(
        &env,
        "backup",
        &config("retention: {maxBackups: 1}\norphanGracePeriod: 0s\n")?,
        &["--backup-id", "b2"],
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&future) && stderr.contains("format version 99"), "names it: {stderr}");
    let result = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    assert_eq!(result["pruned"], serde_json::json!(["b1"]), "{result}");
    for kept in [&future, &its_segment] {
        assert!(
            store.head(&object_store::path::Path::from(kept.as_str())).await.is_ok(),
            "{kept} never deleted"
        );
    }
    // Restore and verify of the latest readable backup work.
    run_ok(&env, "verify", &config("")?, &[])?;
    let restored = run_ok(
        &env,
        "restore",
        &format!(
            "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {topic}-r}}]\n",
            base_config(&env, &prefix, None)?
        ),
        &[],
    )?;
    assert_eq!(restored["backupId"], "b2");
    assert_eq!(without_offsets(&consume_all(&env, &format!("{topic}-r"), 0)?), without_offsets(&want));
    Ok(())
}

/// A manifest damaged in place (still valid JSON, one number changed under its unchanged
/// checksum: the damage a reader that trusts JSON would take for data): restoring or verifying
/// that backup is refused naming the object, before anything is written; the next backup,
/// retention and orphan cleanup go on around it and never delete it or what it lists.
#[tokio::test]
async fn a_damaged_manifest_is_refused_by_name_and_nothing_it_lists_is_deleted() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("damaged{s}"), format!("e2e-damaged-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    let want = records(&topic, 0, 40, recent());
    produce(&env, &topic, 0, &want).await?;
    let config = |extra: &str| -> anyhow::Result<String> {
        Ok(format!("{}topics: {{include: [\"{topic}\"]}}\n{extra}", base_config(&env, &prefix, None)?))
    };
    run_ok(&env, "backup", &config("")?, &["--backup-id", "b1"])?;
    let b1 = format!("{prefix}backups/b1/manifest.json");
    let b1_path = object_store::path::Path::from(b1.as_str());
    let mut manifest: serde_json::Value = serde_json::from_slice(&store.get(&b1_path).await?.bytes().await?)?;
    let segment = &mut manifest["manifest"]["topics"][0]["partitions"][0]["segments"][0];
    let its_segment = segment["object"].as_str().unwrap_or_default().to_string();
    let records_field = segment["records"].as_i64().unwrap_or_default();
    anyhow::ensure!(records_field == 40 && !its_segment.is_empty(), "unexpected manifest: {manifest}");
    segment["records"] = serde_json::json!(41);
    store.put(&b1_path, PutPayload::from(serde_json::to_vec_pretty(&manifest)?)).await?;

    // Restore and verify of that backup are refused, naming the object and why.
    let target = format!("{topic}-r");
    let restore = |id: Option<&str>| -> anyhow::Result<String> {
        Ok(format!(
            "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\n{}",
            base_config(&env, &prefix, None)?,
            id.map(|id| format!("backupId: {id}\n")).unwrap_or_default()
        ))
    };
    let refused = run_err(&env, "restore", &restore(Some("b1"))?, &[])?;
    assert!(refused.contains(&b1) && refused.contains("checksum"), "{refused}");
    assert_eq!(partition_count(&env, &target)?, None, "nothing was created or written");
    let refused = run_err(&env, "verify", &config("")?, &["--backup-id", "b1"])?;
    assert!(refused.contains(&b1) && refused.contains("checksum"), "{refused}");

    // The next backup, with retention and orphan cleanup, skips it by name and deletes nothing
    // of it (its segment is no readable manifest's: only the damaged one's).
    let out = strimzi_backup_e2e::dataplane::run(
        &env,
        "backup",
        &config("retention: {maxBackups: 1}\norphanGracePeriod: 0s\n")?,
        &["--backup-id", "b2"],
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&b1) && stderr.contains("checksum"), "names it: {stderr}");
    let result = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
    assert!(result["pruned"].as_array().is_none_or(|p| p.is_empty()), "nothing pruned: {result}");
    assert_eq!(result["records"], 40, "b2 is whole, not continued from the damaged b1: {result}");
    for kept in [&b1, &its_segment] {
        assert!(
            store.head(&object_store::path::Path::from(kept.as_str())).await.is_ok(),
            "{kept} never deleted"
        );
    }
    // The latest readable backup restores, whole.
    let restored = run_ok(&env, "restore", &restore(None)?, &[])?;
    assert_eq!(restored["backupId"], "b2");
    assert_eq!(without_offsets(&consume_all(&env, &target, 0)?), without_offsets(&want));
    Ok(())
}

/// Default backup ids were the start time to the second: two runs started together got one id,
/// and the second failed at its commit after writing over the first one's segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_backups_started_together_get_ids_of_their_own_and_both_commit() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let store = minio(&env)?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("twin{s}"), format!("e2e-twin-{s}/"));
    create_topic(&env, &topic, 2, &[]).await?;
    for p in 0..2 {
        produce(&env, &topic, p, &records(&topic, p, 2_000, recent())).await?;
    }
    let config = format!("{}topics: {{include: [\"{topic}\"]}}\n", base_config(&env, &prefix, None)?);
    let (a, b) = (spawn(&env, "backup", &config, &[])?, spawn(&env, "backup", &config, &[])?);
    let (a, b) =
        tokio::task::spawn_blocking(move || anyhow::Ok((a.wait_with_output()?, b.wait_with_output()?)))
            .await??;
    let mut ids = Vec::new();
    for out in [a, b] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let result = strimzi_backup_e2e::dataplane::result_line(&out.stdout)?;
        assert_eq!(result["records"], 4_000, "{result}");
        ids.push(result["backupId"].as_str().unwrap_or_default().to_string());
    }
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        let verified = run_ok(&env, "verify", &config, &["--backup-id", id])?;
        assert_eq!(verified["records"], 4_000, "{id}: {verified}");
    }
    let manifests =
        objects_under(&store, &prefix).await?.into_iter().filter(|o| o.ends_with("manifest.json")).count();
    assert_eq!(manifests, 2);
    Ok(())
}
