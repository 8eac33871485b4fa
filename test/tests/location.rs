//! A storage location as its writers and readers share it (issue 12 §2, §3): one owner, whose
//! claim every other writer meets before it writes anything; and restores in progress, whose
//! leases retention and `delete` respect, whoever runs them.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, minio, produce, recent, records, run_err, run_ok, spawn,
    without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_e2e::proxy::Proxy;

async fn objects_under(store: &impl ObjectStore, prefix: &str) -> anyhow::Result<Vec<String>> {
    let path = object_store::path::Path::from(prefix.trim_end_matches('/'));
    let listed: Vec<_> = store.list(Some(&path)).try_collect().await?;
    Ok(listed.into_iter().map(|o| o.location.to_string()).collect())
}

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
    let first = records(&topic, 0, 20_000, recent());
    produce(&env, &topic, 0, &first).await?;
    let backup = |extra: &str| -> anyhow::Result<String> {
        Ok(format!("{}topics: {{include: [\"{topic}\"]}}\nbackup: {{mode: full}}\n{extra}", base_config(&env, &prefix, None)?))
    };
    run_ok(&env, "backup", &backup("")?, &["--backup-id", "full-1"])?;

    // A restore of full-1 reads through a proxy that is cut off while it runs: it holds its lease.
    let minio_addr = env.get("MINIO_ENDPOINT")?.trim_start_matches("http://").to_string();
    let proxy = Proxy::start(&minio_addr).await?;
    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\nrestore: {{parallelism: 1}}\n",
        base_config(&env, &prefix, Some(&proxy.url()))?
    );
    let child = spawn(&env, "restore", &restore, &["--backup-id", "full-1", "--restore-id", &format!("r-{s}")])?;
    let lease = format!("{prefix}restores/r-{s}/lease.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while strimzi_backup_e2e::dataplane::watermarks(&env, &target, 0).map_or(0, |w| w.1) == 0 {
        anyhow::ensure!(Instant::now() < deadline, "the restore never started writing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.cut().await;
    assert!(store.head(&object_store::path::Path::from(lease.as_str())).await.is_ok(), "the lease is there");

    // A backup with maxBackups 1 would prune full-1 now; the lease keeps it, manifest and segments.
    produce(&env, &topic, 0, &records(&topic, 0, 10, recent() + 100_000)).await?;
    let pruning = run_ok(&env, "backup", &backup("retention: {maxBackups: 1}\n")?, &["--backup-id", "full-2"])?;
    assert_eq!(pruning["pruned"], serde_json::Value::Null, "{pruning}");
    assert_eq!(pruning["backupCount"], 2, "{pruning}");
    // delete keeps it too, deletes the rest, and fails naming it, so its cleanup Job retries.
    let refused = run_err(&env, "delete", &backup("")?, &[])?;
    assert!(refused.contains("running restores read (full-1)"), "{refused}");
    assert!(store.head(&object_store::path::Path::from(format!("{prefix}backups/full-2/manifest.json"))).await.is_err());

    proxy.heal();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    assert!(out.status.success(), "the restore finishes: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(without_offsets(&consume_all(&env, &target, 0)?), without_offsets(&first));
    assert!(store.head(&object_store::path::Path::from(lease.as_str())).await.is_err(), "lease released");
    // Without the lease, delete empties the location.
    run_ok(&env, "delete", &backup("")?, &[])?;
    assert!(objects_under(&store, &format!("{prefix}backups/")).await?.is_empty());

    // A lease from elsewhere (a restore in another cluster) counts the same; an expired one not.
    run_ok(&env, "backup", &backup("")?, &["--backup-id", "full-3"])?;
    let foreign = |expires: chrono::DateTime<chrono::Utc>| {
        PutPayload::from(
            serde_json::json!({"restoreId": "dr", "backupId": "full-3", "expiresAt": expires.to_rfc3339()}).to_string(),
        )
    };
    let dr = object_store::path::Path::from(format!("{prefix}restores/dr/lease.json"));
    store.put(&dr, foreign(chrono::Utc::now() + chrono::Duration::minutes(5))).await?;
    assert!(run_err(&env, "delete", &backup("")?, &[])?.contains("(full-3)"));
    store.put(&dr, foreign(chrono::Utc::now() - chrono::Duration::minutes(5))).await?;
    run_ok(&env, "delete", &backup("")?, &[])?;
    Ok(())
}
