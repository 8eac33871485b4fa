//! Restore points in the cluster (issue 15 §1–§2), end to end on the real API server, broker,
//! MinIO and job controller: a `KafkaBackup` lists its own restore points with its
//! recoverability window; a fresh namespace with only a `KafkaBackupLocation` (disaster recovery)
//! sees the same restore points, follows pruning at the location, and restores one by
//! `restorePointRef`; the webhook refuses a restore outside a backup's recoverability window.
//! The backups are encrypted: the location says so with its own `encryption` block and a copy of
//! the key in the DR namespace, as a disaster-recovery cluster without the `KafkaBackup` must.

use std::time::Duration;

use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use object_store::ObjectStoreExt;
use strimzi_backup_e2e::dataplane::{consume_all, create_topic, minio, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::licences;
use strimzi_backup_e2e::operator::{Operator, event, finished_run, minio_storage, namespace_with_kafka};
use strimzi_backup_e2e::webhook;
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::location::KafkaBackupLocation;
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};
use strimzi_backup_operator::api::restore_point::KafkaRestorePoint;

/// The restore points `source` lists in `ns`, by backup id.
async fn points(
    cluster: &Cluster,
    ns: &str,
    kind: &str,
    source: &str,
) -> anyhow::Result<Vec<KafkaRestorePoint>> {
    let api: Api<KafkaRestorePoint> = Api::namespaced(cluster.client.clone(), ns);
    let selector = format!("kafkabackup.com/source-kind={kind},kafkabackup.com/source={source}");
    let mut items = api.list(&ListParams::default().labels(&selector)).await?.items;
    items.sort_by(|a, b| a.spec.backup_id.cmp(&b.spec.backup_id));
    Ok(items)
}

/// The AES-256 key of the backups (64 hex characters), in a Secret `aes` of each namespace.
const KEY_HEX: &str = "5f1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100aa";

fn ms(rfc3339: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339?).ok().map(|t| t.timestamp_millis())
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_points_of_a_backup_are_seen_pruned_and_restored_from_a_location_in_a_fresh_namespace()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let source_ns = namespace_with_kafka(&cluster, "krp").await?;
    let dr_ns = namespace_with_kafka(&cluster, "krp-dr").await?;
    let s = unique_suffix();
    let topic = format!("krp{s}-orders");
    create_topic(env, &topic, 2, &[]).await?;
    let base = recent();
    let first = records(&topic, 0, 120, base);
    produce(env, &topic, 0, &first).await?;
    produce(env, &topic, 1, &records(&topic, 1, 30, base + 500)).await?;
    let key_secret =
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: aes}}\nstringData: {{key: {KEY_HEX}}}\n");
    for ns in [&source_ns, &dr_ns] {
        cluster.apply_yaml(ns, &key_secret).await?;
    }
    // Encryption is an Enterprise feature for the writer; reading it back never needs one.
    licences::install(&cluster, &source_ns, licences::VALID).await?;
    let operator = Operator::start_watching(
        env,
        &source_ns,
        &format!("{source_ns},{dr_ns}"),
        strimzi_backup_e2e::dataplane::binary(),
    )?;
    let prefix = format!("e2e-krp-{s}/");
    cluster
        .apply_yaml(
            &source_ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  backup: {{encryption: {{enabled: true, keySecret: {{name: aes, key: key}}}}}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &source_ns);
    let completed = |n: usize| {
        let backups = backups.clone();
        async move {
            let st = backups.get("orders").await?.status.unwrap_or_default();
            let done = st.backup_history.iter().filter(|b| b.status == BackupRunStatus::Completed).count();
            anyhow::Ok((done >= n).then_some(st))
        }
    };
    wait_until(Duration::from_secs(120), "the first backup", || completed(1))
        .await
        .map_err(|e| e.context(operator.log_text()))?;

    // The KafkaBackup lists its own restore point, with what the manifest holds.
    let own = wait_until(Duration::from_secs(30), "the KafkaBackup's restore point", || async {
        let p = points(&cluster, &source_ns, "KafkaBackup", "orders").await?;
        Ok((p.len() == 1).then_some(p))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let point = &own[0].spec;
    let st = backups.get("orders").await?.status.unwrap_or_default();
    assert_eq!(Some(&point.backup_id), st.last_backup.as_ref().map(|b| &b.id));
    assert_eq!(
        (point.totals.topics, point.totals.partitions, point.totals.records),
        (1, 2, 150),
        "{point:?}"
    );
    assert_eq!(point.topics[0].name, topic);
    assert_eq!(point.topics[0].records, 150);
    assert_eq!(point.owner.as_deref(), Some(format!("{source_ns}/orders").as_str()));
    // The exact first and last record timestamps.
    assert_eq!(ms(point.restorable_from.as_deref()), Some(base));
    assert_eq!(ms(point.restorable_to.as_deref()), Some(base + 529));
    let window = &st.recoverability;
    assert_eq!(window.first_recoverability_point.as_deref().and_then(|t| ms(Some(t))), Some(base));
    let cut = ms(Some(&point.captured_at)).unwrap_or_default();
    assert_eq!(
        window.last_recoverability_point.as_deref().and_then(|t| ms(Some(t))),
        Some(cut.max(base + 529))
    );
    assert_eq!(
        window.last_successful_backup.as_deref().and_then(|t| ms(Some(t))),
        ms(Some(&point.completed_at))
    );

    // A second backup: two restore points.
    let more: Vec<_> = records(&topic, 0, 180, base).into_iter().skip(120).collect();
    produce(env, &topic, 0, &more).await?;
    let trigger = serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": "second"}}});
    backups.patch("orders", &PatchParams::default(), &Patch::Merge(&trigger)).await?;
    wait_until(Duration::from_secs(120), "the second backup", || completed(2))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let own = wait_until(Duration::from_secs(30), "two restore points", || async {
        let p = points(&cluster, &source_ns, "KafkaBackup", "orders").await?;
        Ok((p.len() == 2).then_some(p))
    })
    .await?;

    // The webhook holds restores to what the restore points hold: a point in time outside the
    // window, or a backup id that is not kept, is refused naming the window; one inside passes.
    let _registration = webhook::Registration::new(&cluster, &operator, &source_ns).await?;
    webhook::answering(&cluster, &source_ns, &operator).await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &source_ns);
    let dry = PostParams { dry_run: true, ..PostParams::default() };
    let restore = |pit: i64, backup_id: Option<&str>| -> anyhow::Result<KafkaRestore> {
        let mut backup_ref = serde_json::json!({"name": "orders"});
        if let Some(id) = backup_id {
            backup_ref["backupId"] = id.into();
        }
        Ok(serde_json::from_value(serde_json::json!({
            "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestore", "metadata": {"name": "probe"},
            "spec": {"strimziClusterRef": {"name": "my-cluster"}, "backupRef": backup_ref,
                     "pointInTime": {"timestamp": strimzi_backup_operator::format::millis_to_rfc3339(pit)}}
        }))?)
    };
    let refused = |r: Result<KafkaRestore, kube::Error>| match r {
        Ok(_) => "admitted".to_string(),
        Err(e) => e.to_string(),
    };
    let early = refused(restores.create(&dry, &restore(base - 1, None)?).await);
    assert!(
        early.contains("spec.pointInTime.timestamp") && early.contains("before the oldest record"),
        "{early}"
    );
    let first_ms = ms(Some(&own[0].spec.captured_at)).unwrap_or_default().max(base + 529);
    let after_first =
        refused(restores.create(&dry, &restore(first_ms + 1, Some(&own[0].spec.backup_id))?).await);
    assert!(after_first.contains("after the newest restore point"), "{after_first}");
    let unknown = refused(restores.create(&dry, &restore(base + 10, Some("not-a-backup"))?).await);
    assert!(
        unknown.contains("spec.backupRef.backupId") && unknown.contains("is not a kept restore point"),
        "{unknown}"
    );
    assert_eq!(
        refused(restores.create(&dry, &restore(base + 10, Some(&own[0].spec.backup_id))?).await),
        "admitted"
    );
    assert_eq!(refused(restores.create(&dry, &restore(base + 10, None)?).await), "admitted");

    // Disaster recovery: another namespace with nothing but a location at the same storage.
    cluster
        .apply_yaml(
            &dr_ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackupLocation\nmetadata: {{name: dr}}\nspec:\n  syncPeriod: 30s\n  encryption: {{enabled: true, keySecret: {{name: aes, key: key}}}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let locations: Api<KafkaBackupLocation> = Api::namespaced(cluster.client.clone(), &dr_ns);
    let seen = wait_until(Duration::from_secs(90), "the location's first sync", || async {
        let p = points(&cluster, &dr_ns, "KafkaBackupLocation", "dr").await?;
        let st = locations.get("dr").await?.status.unwrap_or_default();
        Ok((p.len() == 2 && st.restore_points == Some(2)).then_some((p, st)))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let (dr_points, dr_status) = seen;
    for (a, b) in own.iter().zip(&dr_points) {
        // The same facts, listed by another object.
        assert_eq!(b.spec.source.kind, "KafkaBackupLocation");
        let mut same = a.spec.clone();
        same.source = b.spec.source.clone();
        assert_eq!(same, b.spec);
    }
    let ready = dr_status.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    assert_eq!(ready.reason.as_deref(), Some("Synced"), "{ready:?}");
    assert_eq!(
        dr_status.recoverability.first_recoverability_point.as_deref().and_then(|t| ms(Some(t))),
        Some(base)
    );
    event(&cluster, &dr_ns, "RestorePointsSynced", Duration::from_secs(10)).await?;
    // The sync Job is gone once recorded; no Job piles up per period.
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(cluster.client.clone(), &dr_ns);
    wait_until(Duration::from_secs(20), "the recorded sync Job deleted", || async {
        let left = jobs.list(&ListParams::default().labels("app.kubernetes.io/component=sync")).await?.items;
        Ok(left.iter().all(|j| j.metadata.deletion_timestamp.is_some()).then_some(()))
    })
    .await?;

    // Pruned at the location (the manifest goes first, as retention does): the next sync
    // deletes its restore point.
    let older = dr_points[0].spec.backup_id.clone();
    let store = minio(env)?;
    store.delete(&object_store::path::Path::from(format!("{prefix}backups/{older}/manifest.json"))).await?;
    let left = wait_until(Duration::from_secs(120), "the pruned restore point deleted", || async {
        let p = points(&cluster, &dr_ns, "KafkaBackupLocation", "dr").await?;
        Ok((p.len() == 1).then_some(p))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_ne!(left[0].spec.backup_id, older);

    // Restore the restore point that is left, by name, into a new topic.
    let target = format!("{topic}-dr");
    cluster
        .apply_yaml(
            &dr_ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: from-point}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  restorePointRef: {{name: {}}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\n",
                left[0].metadata.name.clone().unwrap_or_default()
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &dr_ns);
    let run = finished_run(&restores, "from-point", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let st = run.status.unwrap_or_default();
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    assert_eq!(st.restore.as_ref().and_then(|r| r.backup_id.clone()), Some(left[0].spec.backup_id.clone()));
    assert_eq!(st.restore.as_ref().and_then(|r| r.restored_records), Some(210));
    let restored = consume_all(env, &target, 0)?;
    assert_eq!(restored.len(), 180);
    Ok(())
}
