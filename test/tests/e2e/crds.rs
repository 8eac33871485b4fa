//! The CRDs in a real kube-apiserver: they install and become Established, `kubectl get` shows
//! the printer columns, the CEL rules reject bad objects with readable messages, and every sample
//! applies cleanly with strict field validation.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::{Cluster, MANAGER};
use strimzi_backup_operator::api::{
    KafkaBackup, KafkaBackupLocation, KafkaOffsetReset, KafkaRestore, KafkaRestoreDrill, KafkaRestorePoint,
};

async fn setup(prefix: &str) -> anyhow::Result<(Cluster, String)> {
    let cluster = Cluster::connect().await?;
    cluster.install_crds().await?;
    let ns = cluster.namespace(prefix).await?;
    Ok((cluster, ns))
}

#[tokio::test]
async fn crds_install_and_become_established() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let names = cluster.install_crds().await?;
    assert_eq!(
        names,
        [
            "kafkabackuplocations.kafkabackup.com",
            "kafkabackups.kafkabackup.com",
            "kafkabackupschedules.kafkabackup.com",
            "kafkadataerasures.kafkabackup.com",
            "kafkaoffsetresets.kafkabackup.com",
            "kafkarestoredrills.kafkabackup.com",
            "kafkarestorepoints.kafkabackup.com",
            "kafkarestores.kafkabackup.com"
        ]
    );
    // Short names and the category resolve through discovery, as users type them.
    let out = cluster.kubectl(&["api-resources", "--api-group=kafkabackup.com", "-o", "wide"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in ["kb", "kr", "kor", "kbl", "krp", "krd", "kbs", "strimzi-backup"] {
        assert!(
            text.split_whitespace().any(|w| w.split(',').any(|p| p == expected)),
            "{expected} in:\n{text}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn every_sample_applies_cleanly() -> anyhow::Result<()> {
    let (cluster, ns) = setup("samples").await?;
    let mut files = Vec::new();
    for dir in ["config/samples", "config/samples/examples"] {
        for entry in std::fs::read_dir(workspace_root().join(dir))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml")
                && path.file_name().is_some_and(|n| n != "kustomization.yaml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut applied = 0;
    for file in &files {
        applied += cluster.apply_file(&ns, file).await?.len();
    }
    assert!(applied >= 11, "applied only {applied} objects from {} files", files.len());
    // They come back typed, with the schema defaults filled in by the apiserver.
    let backups: Vec<KafkaBackup> =
        Api::namespaced(cluster.client.clone(), &ns).list(&Default::default()).await?.items;
    let restores: Vec<KafkaRestore> =
        Api::namespaced(cluster.client.clone(), &ns).list(&Default::default()).await?.items;
    let resets: Vec<KafkaOffsetReset> =
        Api::namespaced(cluster.client.clone(), &ns).list(&Default::default()).await?.items;
    let locations: Vec<KafkaBackupLocation> =
        Api::namespaced(cluster.client.clone(), &ns).list(&Default::default()).await?.items;
    let drills: Vec<KafkaRestoreDrill> =
        Api::namespaced(cluster.client.clone(), &ns).list(&Default::default()).await?.items;
    let schedules: Vec<strimzi_backup_operator::api::KafkaBackupSchedule> =
        Api::namespaced(cluster.client.clone(), &ns).list(&Default::default()).await?.items;
    let erasures: Vec<strimzi_backup_operator::api::KafkaDataErasure> =
        Api::namespaced(cluster.client.clone(), &ns).list(&Default::default()).await?.items;
    assert_eq!(
        backups.len()
            + restores.len()
            + resets.len()
            + locations.len()
            + drills.len()
            + schedules.len()
            + erasures.len(),
        applied
    );
    assert!(!erasures.is_empty(), "no KafkaDataErasure among the samples");
    assert!(!schedules.is_empty(), "no KafkaBackupSchedule among the samples");
    assert!(!locations.is_empty(), "no KafkaBackupLocation among the samples");
    assert!(!drills.is_empty(), "no KafkaRestoreDrill among the samples");
    let daily =
        backups.iter().find(|b| b.metadata.name.as_deref() == Some("prod-backup-daily")).expect("sample");
    assert_eq!(daily.spec.topics.exclude, ["__.*"], "schema default applied by the apiserver");
    assert_eq!(daily.spec.schedule.as_ref().map(|s| s.timezone.as_str()), Some("UTC"));
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// The CSV's `alm-examples` (what the OpenShift console offers as "Create KafkaBackup") are valid
/// objects: every key is in the schema (strict field validation), CEL rules pass, one per kind
/// users create. KafkaRestorePoint, which the operator alone writes, has none and is marked an
/// internal object, so the console offers no form for it.
#[tokio::test]
async fn the_bundles_alm_examples_apply_with_strict_field_validation() -> anyhow::Result<()> {
    let (cluster, ns) = setup("alm-examples").await?;
    let csv: serde_json::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(
        workspace_root().join("bundle/manifests/strimzi-backup-operator.clusterserviceversion.yaml"),
    )?)?;
    let examples: Vec<DynamicObject> = serde_json::from_str(
        csv.pointer("/metadata/annotations/alm-examples").and_then(|v| v.as_str()).unwrap_or("[]"),
    )?;
    let mut kinds: Vec<String> = Vec::new();
    for example in &examples {
        anyhow::ensure!(example.data.get("status").is_none(), "an alm-example carries a status");
        cluster.apply(&ns, example).await?;
        kinds.extend(example.types.as_ref().map(|t| t.kind.clone()));
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "KafkaBackup",
            "KafkaBackupLocation",
            "KafkaBackupSchedule",
            "KafkaDataErasure",
            "KafkaOffsetReset",
            "KafkaRestore",
            "KafkaRestoreDrill"
        ]
    );
    let internal: Vec<String> = serde_json::from_str(
        csv.pointer("/metadata/annotations/operators.operatorframework.io~1internal-objects")
            .and_then(|v| v.as_str())
            .unwrap_or("[]"),
    )?;
    assert_eq!(internal, ["kafkarestorepoints.kafkabackup.com"]);
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() -> anyhow::Result<()> {
    let (cluster, ns) = setup("columns").await?;
    let sample = workspace_root().join("config/samples");
    cluster.apply_file(&ns, &sample.join("kafkabackup.com_v1alpha1_kafkabackup.yaml")).await?;
    cluster.apply_file(&ns, &sample.join("kafkabackup.com_v1alpha1_kafkarestore.yaml")).await?;
    cluster.apply_file(&ns, &sample.join("kafkabackup.com_v1alpha1_kafkaoffsetreset.yaml")).await?;
    cluster.apply_file(&ns, &sample.join("kafkabackup.com_v1alpha1_kafkabackuplocation.yaml")).await?;
    cluster.apply_file(&ns, &sample.join("kafkabackup.com_v1alpha1_kafkarestoredrill.yaml")).await?;
    cluster.apply_file(&ns, &sample.join("kafkabackup.com_v1alpha1_kafkadataerasure.yaml")).await?;
    // A restore point as the operator writes it (no sample: users never create one).
    cluster.apply(&ns, &serde_json::from_value(restore_point("backup-20260213-020000"))?).await?;

    // Status as the controller will write it, through the status subresource.
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "BackupScheduled",
                        "lastTransitionTime": "2026-02-13T02:15:23Z"}],
        "lastBackup": {"id": "backup-20260213-020000", "status": "Completed",
                       "completionTime": "2026-02-13T02:15:23Z", "sizeBytes": 53687091200_i64},
        "storageBytes": 53687091200_i64,
        "nextScheduledBackup": "2026-02-14T01:00:00Z"
    }});
    backups.patch_status("my-cluster-nightly", &PatchParams::default(), &Patch::Merge(&status)).await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let status =
        json!({"status": {"phase": "Running", "progress": {"percent": 42, "recordsRestored": 4200}}});
    restores.patch_status("orders-before-incident", &PatchParams::default(), &Patch::Merge(&status)).await?;
    let resets: Api<KafkaOffsetReset> = Api::namespaced(cluster.client.clone(), &ns);
    let status = json!({"status": {"phase": "Completed", "groupsReset": 2, "groupsFailed": 0}});
    resets.patch_status("reprocess-since-1430", &PatchParams::default(), &Patch::Merge(&status)).await?;
    let locations: Api<KafkaBackupLocation> = Api::namespaced(cluster.client.clone(), &ns);
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "Synced",
                        "lastTransitionTime": "2026-02-13T02:20:00Z"}],
        "restorePoints": 31, "lastSyncTime": "2026-02-13T02:20:00Z"
    }});
    locations.patch_status("my-cluster-nightly-dr", &PatchParams::default(), &Patch::Merge(&status)).await?;
    let points: Api<KafkaRestorePoint> = Api::namespaced(cluster.client.clone(), &ns);
    let status = json!({"status": {"verification": {"result": "Passed", "records": 1200, "mismatches": 0}}});
    points.patch_status("backup-20260213-020000", &PatchParams::default(), &Patch::Merge(&status)).await?;
    let drills: Api<KafkaRestoreDrill> = Api::namespaced(cluster.client.clone(), &ns);
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "DrillPassed",
                        "lastTransitionTime": "2026-02-15T03:12:00Z"}],
        "lastVerification": {"restorePoint": "backup-20260213-020000", "result": "Passed", "records": 1200,
                             "rtoSeconds": 41.5, "completionTime": "2026-02-15T03:12:00Z"}
    }});
    drills.patch_status("my-cluster-weekly-drill", &PatchParams::default(), &Patch::Merge(&status)).await?;

    let get = |kind: &str| -> anyhow::Result<Vec<String>> {
        let out = cluster.kubectl(&["-n", &ns, "get", kind])?;
        anyhow::ensure!(out.status.success(), "kubectl get {kind}: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect())
    };
    let kb = get("kb")?;
    assert!(
        kb[0]
            .split_whitespace()
            .eq(["NAME", "CLUSTER", "SCHEDULE", "LAST", "BACKUP", "STATUS", "SIZE", "AGE"]),
        "{kb:?}"
    );
    for cell in ["my-cluster-nightly", "my-cluster", "0 2 * * *", "BackupScheduled", "53687091200"] {
        assert!(kb[1].contains(cell), "{cell} in {kb:?}");
    }
    let kr = get("kr")?;
    assert!(
        kr[0].split_whitespace().eq(["NAME", "PHASE", "BACKUP", "POINT", "IN", "TIME", "PROGRESS", "AGE"]),
        "{kr:?}"
    );
    for cell in ["orders-before-incident", "Running", "my-cluster-nightly", "2026-02-13T01:30:00.000Z", "42"]
    {
        assert!(kr[1].contains(cell), "{cell} in {kr:?}");
    }
    let kor = get("kor")?;
    assert!(kor[0].split_whitespace().eq(["NAME", "STRATEGY", "PHASE", "GROUPS", "RESET", "AGE"]), "{kor:?}");
    for cell in ["reprocess-since-1430", "to-timestamp", "Completed", "2"] {
        assert!(kor[1].contains(cell), "{cell} in {kor:?}");
    }
    let erasures: Api<strimzi_backup_operator::api::KafkaDataErasure> =
        Api::namespaced(cluster.client.clone(), &ns);
    let status = json!({"status": {"phase": "Completed", "report": {"restorePointsRewritten": 12, "recordsRemoved": 345,
        "objectsRead": 40, "objectsRewritten": 20, "objectsWritten": 22, "objectsDeleted": 20, "keysSelected": 1}}});
    erasures.patch_status("gdpr-request-4711", &PatchParams::default(), &Patch::Merge(&status)).await?;
    let kde = get("kde")?;
    assert!(
        kde[0].split_whitespace().eq(["NAME", "PHASE", "RESTORE", "POINTS", "RECORDS", "REMOVED", "AGE"]),
        "{kde:?}"
    );
    for cell in ["gdpr-request-4711", "Completed", "12", "345"] {
        assert!(kde[1].contains(cell), "{cell} in {kde:?}");
    }
    let kbl = get("kbl")?;
    assert!(
        kbl[0].split_whitespace().eq(["NAME", "TYPE", "RESTORE", "POINTS", "LAST", "SYNC", "STATUS", "AGE"]),
        "{kbl:?}"
    );
    for cell in ["my-cluster-nightly-dr", "s3", "31", "Synced"] {
        assert!(kbl[1].contains(cell), "{cell} in {kbl:?}");
    }
    // `kubectl get krp` is the catalog of what can be restored (issue 15 §1).
    let krp = get("krp")?;
    assert!(
        krp[0].split_whitespace().eq(["NAME", "BACKUP", "TOPICS", "FROM", "TO", "SIZE", "VERIFIED", "AGE"]),
        "{krp:?}"
    );
    for cell in [
        "backup-20260213-020000",
        "2026-02-12T02:00:00.000Z",
        "2026-02-13T01:59:59.999Z",
        "53687091200",
        "Passed",
    ] {
        assert!(krp[1].contains(cell), "{cell} in {krp:?}");
    }
    // `kubectl get krd`: whether the restore points restore (issue 15 §4).
    let krd = get("krd")?;
    assert!(
        krd[0]
            .split_whitespace()
            .eq(["NAME", "SCHEDULE", "RESTORE", "POINT", "RESULT", "RTO", "LAST", "DRILL", "STATUS", "AGE"]),
        "{krd:?}"
    );
    for cell in
        ["my-cluster-weekly-drill", "0 4 * * 0", "backup-20260213-020000", "Passed", "41.5", "DrillPassed"]
    {
        assert!(krd[1].contains(cell), "{cell} in {krd:?}");
    }
    // The category lists every kind at once.
    let all = get("strimzi-backup")?.join("\n");
    for name in [
        "kafkabackup.kafkabackup.com/my-cluster-nightly",
        "kafkarestore.kafkabackup.com/orders-before-incident",
        "kafkabackuplocation.kafkabackup.com/my-cluster-nightly-dr",
        "kafkarestorepoint.kafkabackup.com/backup-20260213-020000",
        "kafkarestoredrill.kafkabackup.com/my-cluster-weekly-drill",
    ] {
        assert!(all.contains(name), "{name} in {all}");
    }
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// Applies `obj` and returns the apiserver's rejection message (fails if it was accepted).
async fn rejection(cluster: &Cluster, ns: &str, obj: serde_json::Value) -> anyhow::Result<String> {
    let obj: DynamicObject = serde_json::from_value(obj)?;
    match cluster.apply(ns, &obj).await {
        Ok(_) => anyhow::bail!("the apiserver accepted an invalid object: {obj:?}"),
        Err(err) => Ok(format!("{err:#}")),
    }
}

/// A `KafkaRestorePoint` named after its backup id, as the operator writes it from a manifest.
fn restore_point(id: &str) -> serde_json::Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestorePoint", "metadata": {"name": id},
        "spec": {"backupId": id, "source": {"kind": "KafkaBackupLocation", "name": "my-cluster-nightly-dr"},
            "formatVersion": 2, "capturedAt": "2026-02-13T02:00:00Z", "completedAt": "2026-02-13T02:15:23Z",
            "restorableFrom": "2026-02-12T02:00:00.000Z", "restorableTo": "2026-02-13T01:59:59.999Z",
            "compression": "zstd",
            "totals": {"topics": 2, "partitions": 12, "records": 1200, "rawBytes": 107374182400_i64,
                       "storedBytes": 53687091200_i64},
            "topics": [{"name": "orders", "partitions": 6, "records": 600, "bytes": 26843545600_i64},
                       {"name": "payments", "partitions": 6, "records": 600, "bytes": 26843545600_i64}]}})
}

fn backup(spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup",
           "metadata": {"name": "bad"}, "spec": spec})
}

#[tokio::test]
async fn cel_rules_reject_bad_objects_with_readable_messages() -> anyhow::Result<()> {
    let (cluster, ns) = setup("cel").await?;
    let pvc = json!({"type": "filesystem", "filesystem": {"claimName": "backups"}});

    let msg = rejection(
        &cluster,
        &ns,
        backup(json!({
            "strimziClusterRef": {"name": "my-cluster"},
            "kafkaCluster": {"bootstrapServers": "kafka:9092"},
            "storage": pvc,
        })),
    )
    .await?;
    assert!(
        msg.contains("spec: Invalid value") && msg.contains("set exactly one of spec.strimziClusterRef"),
        "{msg}"
    );

    let msg = rejection(&cluster, &ns, backup(json!({"storage": pvc}))).await?;
    assert!(msg.contains("set exactly one of spec.strimziClusterRef"), "neither cluster given: {msg}");

    let msg = rejection(
        &cluster,
        &ns,
        backup(json!({
            "kafkaCluster": {"bootstrapServers": "kafka:9092"},
            "storage": {"type": "s3", "filesystem": {"claimName": "backups"}},
        })),
    )
    .await?;
    assert!(
        msg.contains("spec.storage") && msg.contains("storage.s3 must be set when storage.type is s3"),
        "{msg}"
    );
    assert!(
        msg.contains("storage.filesystem must be set when storage.type is filesystem, and only then"),
        "{msg}"
    );

    let msg = rejection(&cluster, &ns, backup(json!({
        "kafkaCluster": {"bootstrapServers": "kafka:9092"}, "storage": pvc, "retention": {"pruneOnSchedule": true},
    }))).await?;
    assert!(msg.contains("spec.retention") && msg.contains("retention needs at least one bound"), "{msg}");

    let msg = rejection(&cluster, &ns, backup(json!({
        "kafkaCluster": {"bootstrapServers": "kafka:9092"}, "storage": pvc, "backup": {"compression": "brotli"},
    }))).await?;
    assert!(
        msg.contains("spec.backup.compression")
            && msg.contains(r#"supported values: "zstd", "lz4", "none", "gzip", "snappy""#),
        "{msg}"
    );

    let msg = rejection(
        &cluster,
        &ns,
        backup(json!({
            "kafkaCluster": {"bootstrapServers": "kafka:9092"}, "storage": pvc,
            "authentication": {"type": "scram-sha-512", "username": "backup"},
        })),
    )
    .await?;
    assert!(msg.contains("spec.authentication") && msg.contains("both username and passwordSecret"), "{msg}");

    let restore = |spec: serde_json::Value| {
        json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestore",
        "metadata": {"name": "restore"}, "spec": spec})
    };
    let msg = rejection(
        &cluster,
        &ns,
        restore(json!({
            "kafkaCluster": {"bootstrapServers": "kafka:9092"}, "backupRef": {"name": "daily"},
            "pointInTime": {"timestamp": "2026-02-13T01:30:00.000Z", "offsetFromEnd": "2h"},
        })),
    )
    .await?;
    assert!(
        msg.contains("spec.pointInTime") && msg.contains("exactly one of timestamp or offsetFromEnd"),
        "{msg}"
    );

    let reset = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaOffsetReset",
        "metadata": {"name": "reset"}, "spec": {"kafkaCluster": {"bootstrapServers": "kafka:9092"},
        "consumerGroups": ["orders"], "resetStrategy": "to-timestamp"}});
    let msg = rejection(&cluster, &ns, reset).await?;
    assert!(msg.contains("resetStrategy to-timestamp needs resetTimestamp"), "{msg}");

    // An empty group id and two mappings into one target topic: schema rules, no webhook needed.
    let reset = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaOffsetReset",
        "metadata": {"name": "reset"}, "spec": {"kafkaCluster": {"bootstrapServers": "kafka:9092"},
        "consumerGroups": ["orders", ""], "resetStrategy": "to-earliest"}});
    let msg = rejection(&cluster, &ns, reset).await?;
    assert!(msg.contains("spec.consumerGroups[1]") && msg.contains("at least 1 chars long"), "{msg}");
    let msg = rejection(
        &cluster,
        &ns,
        restore(json!({
            "kafkaCluster": {"bootstrapServers": "kafka:9092"}, "backupRef": {"name": "daily"},
            "topicMapping": [{"sourceTopic": "a", "targetTopic": "x"}, {"sourceTopic": "b", "targetTopic": "x"}],
        })),
    )
    .await?;
    // Server-side apply words it so; a client-side create says "Duplicate value" at the same path.
    assert!(
        msg.contains("spec.topicMapping") && msg.contains(r#"duplicate entries for key [targetTopic="x"]"#),
        "{msg}"
    );

    // Restore and offset-reset specs are immutable; status still changes.
    let good =
        restore(json!({"kafkaCluster": {"bootstrapServers": "kafka:9092"}, "backupRef": {"name": "daily"}}));
    cluster.apply(&ns, &serde_json::from_value(good.clone())?).await?;
    let mut changed = good;
    changed["spec"]["restore"] = json!({"parallelism": 8});
    let msg = rejection(&cluster, &ns, changed).await?;
    assert!(msg.contains("spec is immutable: a KafkaRestore is one run"), "{msg}");
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    restores
        .patch_status(
            "restore",
            &PatchParams::apply(MANAGER),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await?;
    let rejected_reset = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaOffsetReset",
        "metadata": {"name": "reset"}, "spec": {"kafkaCluster": {"bootstrapServers": "kafka:9092"},
        "consumerGroups": ["orders"], "resetStrategy": "to-earliest"}});
    cluster.apply(&ns, &serde_json::from_value(rejected_reset.clone())?).await?;
    let mut changed = rejected_reset;
    changed["spec"]["dryRun"] = json!(true);
    let msg = rejection(&cluster, &ns, changed).await?;
    assert!(msg.contains("spec is immutable: a KafkaOffsetReset is one run"), "{msg}");

    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// The schema rules of the two kinds of issue 15: a restore point's spec is what its manifest
/// holds and never changes (its status does: drills write it), and a location's sync period and
/// access mode are checked before any operator sees them.
#[tokio::test]
async fn restore_points_are_immutable_and_locations_checked_by_the_schema() -> anyhow::Result<()> {
    let (cluster, ns) = setup("cel-restore-points").await?;
    let point = restore_point("backup-20260214-020000");
    cluster.apply(&ns, &serde_json::from_value(point.clone())?).await?;
    let mut changed = point;
    changed["spec"]["totals"]["records"] = json!(1);
    let msg = rejection(&cluster, &ns, changed).await?;
    assert!(
        msg.contains(
            "a KafkaRestorePoint's spec is what its manifest holds: it changes only with a newer revision"
        ),
        "{msg}"
    );
    // A data erasure's newer manifest revision is the one change the schema admits; an older
    // or equal revision after it is refused again.
    let mut revised = restore_point("backup-20260214-020000");
    revised["spec"]["revision"] = json!(2);
    revised["spec"]["totals"]["records"] = json!(1190);
    cluster.apply(&ns, &serde_json::from_value(revised.clone())?).await?;
    let mut back = revised;
    back["spec"]["revision"] = json!(1);
    let msg = rejection(&cluster, &ns, back).await?;
    assert!(msg.contains("changes only with a newer revision"), "{msg}");
    let points: Api<KafkaRestorePoint> = Api::namespaced(cluster.client.clone(), &ns);
    let status = json!({"status": {"verification": {"result": "Failed", "mismatches": 1,
        "message": "orders/0 offset 42: record differs"}}});
    points.patch_status("backup-20260214-020000", &PatchParams::default(), &Patch::Merge(&status)).await?;

    let location = |spec: serde_json::Value| {
        json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackupLocation",
            "metadata": {"name": "dr"}, "spec": spec})
    };
    let pvc = json!({"type": "filesystem", "filesystem": {"claimName": "backups"}});
    let msg = rejection(&cluster, &ns, location(json!({"storage": pvc, "syncPeriod": "5 minutes"}))).await?;
    assert!(msg.contains("spec.syncPeriod"), "{msg}");
    let msg = rejection(&cluster, &ns, location(json!({"storage": pvc, "accessMode": "WriteOnly"}))).await?;
    assert!(msg.contains("spec.accessMode") && msg.contains(r#""ReadOnly", "ReadWrite""#), "{msg}");
    let msg = rejection(
        &cluster,
        &ns,
        location(json!({"storage": {"type": "s3", "filesystem": {"claimName": "b"}}})),
    )
    .await?;
    assert!(msg.contains("storage.s3 must be set when storage.type is s3"), "{msg}");
    // Left out, syncPeriod and accessMode get the schema defaults.
    let applied = cluster.apply(&ns, &serde_json::from_value(location(json!({"storage": pvc})))?).await?;
    let location: KafkaBackupLocation = serde_json::from_value(serde_json::to_value(&applied)?)?;
    assert_eq!(location.spec.sync_period, "5m");
    assert_eq!(location.spec.access_mode, strimzi_backup_operator::api::location::AccessMode::ReadOnly);

    cluster.delete_namespace(&ns).await?;
    Ok(())
}
