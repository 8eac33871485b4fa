//! Restore drills through the operator (issue 15 §4), end to end on the real API server, broker,
//! MinIO and job controller: a `KafkaRestoreDrill` of a `KafkaBackup` restores its restore point
//! into scratch topics and passes with every produced record compared — in its status, on the
//! restore point, as an Event and in the metrics, the scratch topics gone; the same drill,
//! triggered again after a segment of that restore point was corrupted in MinIO, fails naming
//! topic, partition and offset.

use std::time::Duration;

use kube::api::{Api, ListParams, Patch, PatchParams};
use object_store::ObjectStoreExt;
use strimzi_backup_e2e::dataplane::{
    create_topic, delete_topic, minio, partition_count, produce, read_backup, recent, records,
};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, backup_completed, event, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::drill::{DrillRun, KafkaRestoreDrill};
use strimzi_backup_operator::api::restore_point::{KafkaRestorePoint, VerificationResult};

/// The drill's `lastVerification` once it is the record of a Job other than `after`.
async fn drilled(
    api: &Api<KafkaRestoreDrill>,
    name: &str,
    after: Option<&str>,
) -> anyhow::Result<KafkaRestoreDrill> {
    wait_until(Duration::from_secs(240), &format!("a drill of {name} recorded"), || async {
        let krd = api.get(name).await?;
        let last = krd.status.as_ref().and_then(|s| s.last_verification.as_ref());
        Ok(last.is_some_and(|r| r.job.as_deref() != after).then_some(krd))
    })
    .await
}

/// The `Ready` condition of a drill: (status, reason, message).
fn ready(krd: &KafkaRestoreDrill) -> (String, String, String) {
    let c = krd.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    c.map(|c| {
        (
            format!("{:?}", c.status),
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        )
    })
    .unwrap_or_default()
}

/// The drill Jobs left in `ns`: none once a drill is recorded.
async fn drill_jobs(cluster: &Cluster, ns: &str) -> anyhow::Result<Vec<String>> {
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(cluster.client.clone(), ns);
    let list = jobs.list(&ListParams::default().labels("app.kubernetes.io/component=drill")).await?;
    Ok(list.items.into_iter().filter_map(|j| j.metadata.name).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_passes_on_a_sound_backup_and_fails_on_a_corrupted_segment_naming_where() -> anyhow::Result<()>
{
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "drill").await?;
    let s = unique_suffix();
    let topic = format!("drl{s}-orders");
    create_topic(env, &topic, 2, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 120, recent())).await?;
    produce(env, &topic, 1, &records(&topic, 1, 80, recent())).await?;
    let produced = 200;
    let operator = Operator::start(env, &ns)?;
    let prefix = format!("e2e-op-drill-{s}/");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "orders", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let points: Api<KafkaRestorePoint> = Api::namespaced(cluster.client.clone(), &ns);
    let point = wait_until(Duration::from_secs(30), "the KafkaBackup's restore point", || async {
        let list = points.list(&ListParams::default().labels("kafkabackup.com/source=orders")).await?;
        Ok(list.items.into_iter().next())
    })
    .await?;
    let point_name = point.metadata.name.clone().unwrap_or_default();

    // A drill without a schedule runs once, at once, into the scratch prefix.
    let scratch_prefix = format!("drill{s}-");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestoreDrill\nmetadata: {{name: check}}\nspec:\n  backupRef: {{name: orders}}\n  topicPrefix: {scratch_prefix}\n"
            ),
        )
        .await?;
    let drills: Api<KafkaRestoreDrill> = Api::namespaced(cluster.client.clone(), &ns);
    let krd = drilled(&drills, "check", None).await.map_err(|e| e.context(operator.log_text()))?;
    let st = krd.status.clone().unwrap_or_default();
    let last: DrillRun = st.last_verification.clone().unwrap_or_default();
    assert_eq!(last.result, VerificationResult::Passed, "{last:?}\n{}", operator.log_text());
    assert_eq!(last.records, produced, "every produced record restored and compared: {last:?}");
    assert_eq!(last.mismatches, 0);
    assert_eq!(last.restore_point.as_deref(), Some(point_name.as_str()));
    assert_eq!(last.backup_id.as_deref(), Some(point.spec.backup_id.as_str()));
    assert_eq!(last.scratch_topics_deleted, Some(true));
    assert!(last.rto_seconds.is_some_and(|r| r > 0.0) && last.bytes > 0, "{last:?}");
    assert!(last.start_time.is_some() && last.completion_time.is_some(), "{last:?}");
    let (status, reason, message) = ready(&krd);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "DrillPassed"), "{message}");
    assert!(st.last_success_time.is_some() && st.history.len() == 1, "{st:?}");
    let first_job = last.job.clone().unwrap_or_default();

    // The restore point carries the evidence, an Event says so, the metrics show it, and the
    // scratch topic and the drill's Job are gone.
    let verification = points.get(&point_name).await?.status.and_then(|s| s.verification);
    let verification = verification.ok_or_else(|| anyhow::anyhow!("no verification on {point_name}"))?;
    assert_eq!(verification.result, VerificationResult::Passed);
    assert_eq!(verification.drill.as_deref(), Some(format!("{ns}/check").as_str()));
    assert_eq!(verification.records, produced);
    let passed = event(&cluster, &ns, "DrillPassed", Duration::from_secs(30)).await?;
    assert_eq!(passed.type_.as_deref(), Some("Normal"));
    assert_eq!(partition_count(env, &format!("{scratch_prefix}{topic}"))?, None, "the scratch topic is gone");
    wait_until(Duration::from_secs(30), "the recorded drill Job deleted", || async {
        Ok(drill_jobs(&cluster, &ns).await?.is_empty().then_some(()))
    })
    .await?;
    let labels = [format!("namespace=\"{ns}\""), "name=\"check\"".to_string()];
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    assert_eq!(operator.metric("strimzi_backup_drill_last_result", &labels).await?, 1.0);
    assert_eq!(operator.metric("strimzi_backup_drill_mismatches", &labels).await?, 0.0);
    let with = |extra: &'static str| labels.iter().copied().chain([extra]).collect::<Vec<_>>();
    assert_eq!(operator.metric("strimzi_backup_drills_total", &with("result=\"Passed\"")).await?, 1.0);

    // One byte flipped in the middle of a segment of partition 1, as bit rot in the bucket would.
    let store = minio(env)?;
    let (manifest, _) = read_backup(&store, &prefix, &point.spec.backup_id).await?;
    let (_, part) =
        manifest.partition(&topic, 1).ok_or_else(|| anyhow::anyhow!("no {topic}/1 in the backup"))?;
    let segment = part.segments.first().ok_or_else(|| anyhow::anyhow!("no segment"))?.clone();
    let path = object_store::path::Path::from(segment.object.as_str());
    let mut bytes = store.get(&path).await?.bytes().await?.to_vec();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    store.put(&path, bytes.into()).await?;

    // Drilled again on demand: it fails, naming where.
    let trigger =
        serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": "after-corruption"}}});
    drills.patch("check", &PatchParams::default(), &Patch::Merge(&trigger)).await?;
    let krd =
        drilled(&drills, "check", Some(&first_job)).await.map_err(|e| e.context(operator.log_text()))?;
    let st = krd.status.clone().unwrap_or_default();
    let last = st.last_verification.clone().unwrap_or_default();
    assert_eq!(last.result, VerificationResult::Failed, "{last:?}");
    let named = format!("topic {topic} partition 1 offset {}", segment.first_offset);
    let in_mismatches = last
        .first_mismatches
        .iter()
        .any(|m| m.topic == topic && m.partition == 1 && m.offset == Some(segment.first_offset));
    let said = last.message.clone().unwrap_or_default();
    assert!(
        said.contains(&named) || in_mismatches,
        "`{named}` neither in {said} nor {:?}",
        last.first_mismatches
    );
    let (status, reason, message) = ready(&krd);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "DrillFailed"), "{message}");
    assert!(message.contains(&named), "`{named}` not in the Ready message: {message}");
    assert_eq!(st.history.len(), 2, "{st:?}");
    assert!(st.last_success_time.is_some(), "the earlier pass stays the last success");
    let verification = points.get(&point_name).await?.status.and_then(|s| s.verification);
    assert_eq!(
        verification.map(|v| v.result),
        Some(VerificationResult::Failed),
        "the restore point says so too"
    );
    let failed = event(&cluster, &ns, "DrillFailed", Duration::from_secs(30)).await?;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert!(failed.message.unwrap_or_default().contains(&named));
    assert_eq!(partition_count(env, &format!("{scratch_prefix}{topic}"))?, None, "the scratch topic is gone");
    assert_eq!(operator.metric("strimzi_backup_drill_last_result", &labels).await?, 0.0);
    assert_eq!(operator.metric("strimzi_backup_drills_total", &with("result=\"Failed\"")).await?, 1.0);

    // Deleting the drill drops its gauges.
    drills.delete("check", &Default::default()).await?;
    wait_until(Duration::from_secs(30), "the drill's gauges dropped", || async {
        let text = operator.metrics().await?;
        Ok((!text
            .lines()
            .any(|l| l.starts_with("strimzi_backup_drill_last_result{") && l.contains("name=\"check\"")))
        .then_some(()))
    })
    .await?;
    cluster.delete_namespace(&ns).await?;
    delete_topic(env, &topic).await
}
