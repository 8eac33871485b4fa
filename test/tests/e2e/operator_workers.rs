//! One backup across worker pods through the operator (`spec.backup.workers`, issue 18 §3): the
//! KafkaBackup's Job is an Indexed Job run by the real job controller, its pods by the pod
//! harness (each learns its index from `JOB_COMPLETION_INDEX`, a downward-API variable). One
//! worker's process is SIGKILLed mid-run: the Job retries that index alone (per-index backoff),
//! the others are not run again, and the restore point the retry commits equals a one-worker
//! backup of the same topics record for record, and restores to what was produced.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use object_store::{ObjectStore, ObjectStoreExt};
use strimzi_backup_e2e::dataplane::objects_under;
use strimzi_backup_e2e::dataplane::{
    fill_topics, minio, partition_ranges, read_backup, restores_renamed_to, signal,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, backup_completed, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::condition::ConditionStatus;
use strimzi_backup_operator::backup::shared_plan::SharedPlan;

/// The annotation the job controller puts on an Indexed Job's pods.
const INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// A KafkaBackup of `topics` across `workers` pods; `backoff_limit` is `job.backoffLimit` (the
/// retries of each worker), absent when `None`.
fn kafka_backup(
    env: &TestEnv,
    name: &str,
    topics: &[String],
    prefix: &str,
    workers: u32,
    backoff_limit: Option<u32>,
) -> anyhow::Result<String> {
    let include = topics.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
    let job = backoff_limit.map(|n| format!("  job: {{backoffLimit: {n}}}\n")).unwrap_or_default();
    Ok(format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: [{include}]}}\n  backup: {{segmentSize: 1048576, parallelism: 1, workers: {workers}}}\n{job}{}",
        minio_storage(env, prefix, "minio-credentials", 2)?
    ))
}

/// The one backup Job of the KafkaBackup `name`, once it exists.
async fn job_of(jobs: &Api<Job>, name: &str) -> anyhow::Result<Job> {
    wait_until(Duration::from_secs(120), &format!("the backup Job of {name}"), || async {
        let selector = format!("app.kubernetes.io/instance={name},app.kubernetes.io/component=backup");
        Ok(jobs.list(&ListParams::default().labels(&selector)).await?.items.into_iter().next())
    })
    .await
}

/// Waits for the plan of backup `id` (run by the Indexed Job `job_name` of `workers` pods),
/// then SIGKILLs a worker that did not make it, once that worker has written a segment of its
/// share and while it still runs. Returns the victim's index and the partitions planned.
async fn kill_a_worker(
    store: &impl ObjectStore,
    prefix: &str,
    job_name: &str,
    id: &str,
    workers: u32,
) -> anyhow::Result<(u32, usize)> {
    let plan_name = format!("{prefix}backups/{id}/plan.json");
    let plan = wait_until(Duration::from_secs(180), "a worker publishing the plan", || async {
        Ok(match store.get(&object_store::path::Path::from(plan_name.as_str())).await {
            Ok(got) => Some(SharedPlan::from_json(&got.bytes().await?, &plan_name, id)?),
            Err(_) => None,
        })
    })
    .await?;
    assert_eq!(plan.workers, workers);
    let victim = (plan.planned_by + 1) % workers;
    let share = strimzi_backup_operator::backup::workers::share(&plan.partitions, workers, victim);
    anyhow::ensure!(!share.is_empty(), "worker {victim} has nothing to read");
    let pod_prefix = format!("{job_name}-{victim}-");
    let killed = wait_until(Duration::from_secs(300), "the victim writing a segment", || async {
        let pids = strimzi_backup_e2e::procfs::pod_processes(&pod_prefix);
        let mut wrote = false;
        for i in &share {
            let p = &plan.partitions[*i];
            let dir = format!("{prefix}backups/{id}/segments/{}/{}/", p.topic, p.partition);
            wrote |= !objects_under(store, &dir).await?.is_empty();
        }
        if !wrote {
            return Ok(None);
        }
        anyhow::ensure!(!pids.is_empty(), "worker {victim} ended before it could be killed");
        for pid in &pids {
            signal(*pid, libc::SIGKILL)?;
        }
        Ok(Some(pids))
    })
    .await?;
    eprintln!("killed worker {victim} of {job_name} (pids {killed:?})");
    Ok((victim, plan.partitions.len()))
}

#[tokio::test(flavor = "multi_thread")]
async fn four_worker_pods_with_one_killed_commit_the_restore_point_of_one_worker() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "workers").await?;
    let store = minio(env)?;
    let s = unique_suffix();
    // 24 partitions in topics of different sizes: the split is by bytes, not by topic.
    let topics: Vec<String> = (0..3).map(|t| format!("ow{t}{s}")).collect();
    let mut produced = BTreeMap::new();
    for (t, topic) in topics.iter().enumerate() {
        produced.extend(fill_topics(env, std::slice::from_ref(topic), 8, 1_500 * (t + 1)).await?);
    }
    let total: usize = produced.values().map(Vec::len).sum();
    let operator = Operator::start(env, &ns)?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);

    // Four workers.
    let prefix = format!("e2e-opworkers-{s}/");
    cluster.apply_yaml(&ns, &kafka_backup(env, "four", &topics, &prefix, 4, None)?).await?;
    let job = job_of(&jobs, "four").await.map_err(|e| e.context(operator.log_text()))?;
    let spec = job.spec.clone().unwrap_or_default();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!((spec.completions, spec.parallelism, spec.max_failed_indexes), (Some(4), Some(4), Some(0)));
    assert_eq!(spec.backoff_limit_per_index, Some(3));
    let (job_name, id) = (job.name_any(), job.annotations().get("kafkabackup.com/backup-id").cloned());
    let id = id.unwrap_or_else(|| job_name.clone());

    let (victim, planned) = kill_a_worker(&store, &prefix, &job_name, &id, 4)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(planned, 24);
    eprintln!("killed worker {victim} at {:?}", started.elapsed());
    let manifest = object_store::path::Path::from(format!("{prefix}backups/{id}/manifest.json"));
    anyhow::ensure!(store.head(&manifest).await.is_err(), "committed without worker {victim}'s part");

    backup_completed(&backups, "four", Duration::from_secs(420))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    eprintln!("four workers completed at {:?}", started.elapsed());
    let st = backups.get("four").await?.status.unwrap_or_default();
    let last = st.last_backup.clone().unwrap_or_default();
    assert_eq!(
        (last.status, last.id.as_str(), last.records, last.partitions_backed_up),
        (BackupRunStatus::Completed, id.as_str(), Some(total as i64), Some(24)),
        "{st:?}"
    );
    assert_eq!(st.backup_history.len(), 1, "one run, recorded once: {:?}", st.backup_history);
    assert_eq!(last.workers, Some(4), "{last:?}");

    // The killed index ran twice, every other index once.
    let listed = pods.list(&ListParams::default().labels(&format!("job-name={job_name}"))).await?.items;
    let mut by_index: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in &listed {
        let index = p.annotations().get(INDEX).cloned().unwrap_or_default();
        let phase = p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        by_index.entry(index).or_default().push((p.name_any(), phase));
    }
    let runs: BTreeMap<String, usize> = by_index.iter().map(|(i, p)| (i.clone(), p.len())).collect();
    let want: BTreeMap<String, usize> =
        (0..4).map(|i| (i.to_string(), if i == victim { 2 } else { 1 })).collect();
    assert_eq!(runs, want, "pods per index: {by_index:?}");
    let phases: Vec<&str> = by_index[&victim.to_string()].iter().map(|(_, phase)| phase.as_str()).collect();
    assert!(phases.contains(&"Failed") && phases.contains(&"Succeeded"), "{by_index:?}");
    let job = jobs.get(&job_name).await?;
    let status = job.status.unwrap_or_default();
    assert_eq!((status.completed_indexes.as_deref(), status.failed), (Some("0-3"), Some(1)), "{status:?}");

    // The same topics backed up by one worker (a single-pod Job, as before workers existed).
    let one_prefix = format!("e2e-opworkers-one-{s}/");
    cluster.apply_yaml(&ns, &kafka_backup(env, "one", &topics, &one_prefix, 1, None)?).await?;
    let one_job = job_of(&jobs, "one").await?;
    let one_spec = one_job.spec.clone().unwrap_or_default();
    assert_eq!(
        (one_spec.completion_mode.as_deref(), one_spec.completions, one_spec.backoff_limit_per_index),
        (Some("NonIndexed"), Some(1), None),
        "workers 1: one pod, as the API server defaults a Job without a completion mode"
    );
    backup_completed(&backups, "one", Duration::from_secs(300))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let one = backups.get("one").await?.status.and_then(|s| s.last_backup).unwrap_or_default();
    assert_eq!((one.records, one.workers), (Some(total as i64), None));

    // Record for record: the same offsets, keys, values, headers and timestamps in every
    // partition, read by the independent decoder; the same ranges.
    let (m_one, r_one) = read_backup(&store, &one_prefix, &one.id).await?;
    let (m_four, r_four) = read_backup(&store, &prefix, &id).await?;
    assert_eq!(r_four.len(), 24);
    assert_eq!(r_four, r_one);
    assert_eq!(partition_ranges(&m_four), partition_ranges(&m_one));
    assert_eq!((m_four.totals.records, m_four.totals.partitions), (m_one.totals.records, 24));

    // And the four workers' restore point restores to what was produced.
    restores_renamed_to(env, &prefix, &id, &topics, &produced, "")?;
    eprintln!("done at {:?}", started.elapsed());
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// A worker that fails for good (`job.backoffLimit: 0`, so its index has no retry) fails the
/// whole run through the real job controller (`maxFailedIndexes: 0`): the Job fails, the other
/// workers are stopped, the KafkaBackup records the run as failed with the worker's reason, and
/// nothing of it is visible at the location — no manifest, no restore point; its segments are
/// an orphan for the next run's cleanup.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_fails_for_good_fails_the_run_and_leaves_nothing_visible() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "workers-fail").await?;
    let store = minio(env)?;
    let s = unique_suffix();
    let topics: Vec<String> = (0..2).map(|t| format!("owf{t}{s}")).collect();
    for topic in &topics {
        fill_topics(env, std::slice::from_ref(topic), 6, 2_000).await?;
    }
    let operator = Operator::start(env, &ns)?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let prefix = format!("e2e-opworkers-fail-{s}/");
    cluster.apply_yaml(&ns, &kafka_backup(env, "fails", &topics, &prefix, 3, Some(0))?).await?;
    let job = job_of(&jobs, "fails").await.map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(job.spec.as_ref().and_then(|s| s.backoff_limit_per_index), Some(0));
    let (job_name, id) = (job.name_any(), job.annotations().get("kafkabackup.com/backup-id").cloned());
    let id = id.unwrap_or_else(|| job_name.clone());
    let (victim, _) = kill_a_worker(&store, &prefix, &job_name, &id, 3)
        .await
        .map_err(|e| e.context(operator.log_text()))?;

    let failed = wait_until(Duration::from_secs(300), "the run recorded as failed", || async {
        let st = backups.get("fails").await?.status.unwrap_or_default();
        Ok(st.last_backup.filter(|b| b.status == BackupRunStatus::Failed).map(|b| (b, st.conditions)))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let (last, conditions) = failed;
    assert_eq!(last.id, id, "{last:?}");
    let ready = conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    assert_eq!(
        (ready.status, ready.reason.as_deref()),
        (ConditionStatus::False, Some("BackupFailed")),
        "{ready:?}"
    );
    eprintln!("worker {victim} killed; the run failed: {:?}", last.message);
    // Said as a kill, not as whatever the worker logged last.
    let said = last.message.clone().unwrap_or_default();
    assert!(said.contains("killed by signal 9 (SIGKILL"), "{said}");

    // The job controller failed the Job for the index and stopped the rest.
    let status = jobs.get(&job_name).await.ok().and_then(|j| j.status);
    if let Some(status) = status {
        let failed_indexes = status.failed_indexes.clone().unwrap_or_default();
        assert!(failed_indexes.contains(&victim.to_string()), "{status:?}");
        assert!(status.active.unwrap_or(0) == 0, "no worker still runs: {status:?}");
    }
    let manifest = object_store::path::Path::from(format!("{prefix}backups/{id}/manifest.json"));
    anyhow::ensure!(store.head(&manifest).await.is_err(), "a failed run committed a manifest");
    let st = backups.get("fails").await?.status.unwrap_or_default();
    assert_eq!(st.backup_history.iter().filter(|b| b.status == BackupRunStatus::Completed).count(), 0);
    let points = strimzi_backup_operator::operator::restore_points::list(
        &cluster.client,
        &backups.get("fails").await?,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(points.is_empty(), "no restore point of a failed run: {points:?}");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
