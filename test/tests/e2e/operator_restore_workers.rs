//! One restore across worker pods through the operator (`spec.restore.workers`, issue 18 §3):
//! the KafkaRestore's Job is an Indexed Job run by the real job controller, its pods by the pod
//! harness (each learns its index from `JOB_COMPLETION_INDEX`). One worker's process is
//! SIGKILLed mid-write: the Job retries that index alone (per-index backoff), and the restore
//! completes with every record once and the group's offsets committed where the records the
//! group had not consumed begin.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use strimzi_backup_e2e::dataplane::{
    base_config, commit, committed, consume_all, fill_topics, minio, read_backup, restore_share, run_ok,
    signal, watermarks, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, finished_run, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::condition::ConditionStatus;
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};
use strimzi_backup_operator::format::manifest::Manifest;

/// The annotation the job controller puts on an Indexed Job's pods.
const INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// SIGKILLs the processes of worker `victim` (of `workers`, run by the Indexed Job `job_name`)
/// once it has written to a partition of its share (the targets are `<topic>-op`), while it
/// still runs. Returns the pids killed.
async fn kill_when_writing(
    env: &TestEnv,
    manifest: &Manifest,
    job_name: &str,
    workers: u32,
    victim: u32,
) -> anyhow::Result<Vec<u32>> {
    let share = restore_share(manifest, workers, victim);
    anyhow::ensure!(!share.is_empty(), "worker {victim} has nothing to write");
    let pod_prefix = format!("{job_name}-{victim}-");
    wait_until(Duration::from_secs(300), "the victim writing", || async {
        let wrote =
            share.iter().any(|(t, p)| watermarks(env, &format!("{t}-op"), *p).is_ok_and(|(_, h)| h > 0));
        if !wrote {
            return Ok(None);
        }
        let pids = strimzi_backup_e2e::procfs::pod_processes(&pod_prefix);
        anyhow::ensure!(!pids.is_empty(), "worker {victim} ended before it could be killed");
        for pid in &pids {
            signal(*pid, libc::SIGKILL)?;
        }
        Ok(Some(pids))
    })
    .await
}

/// Backs up `topics` with `group`'s offsets by the data plane at `prefix` (backup `b-<s>`),
/// starts the operator and applies the KafkaRestore `name` of them into `<topic>-op`, `spec`
/// being its `restore:` (and `job:`) lines. Returns the backup's manifest, the operator and the
/// restore's Job once it exists.
#[allow(clippy::too_many_arguments)]
async fn restoring(
    cluster: &Cluster,
    ns: &str,
    prefix: &str,
    s: &str,
    topics: &[String],
    group: &str,
    name: &str,
    spec: &str,
) -> anyhow::Result<(Manifest, Operator, Job)> {
    let env = &cluster.env;
    let include = topics.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
    let backup_id = format!("b-{s}");
    run_ok(
        env,
        "backup",
        &format!(
            "{}topics:\n  include: [{include}]\nconsumerGroups:\n  include: [\"{group}\"]\nbackup:\n  segmentSize: 1048576\n",
            base_config(env, prefix, None)?
        ),
        &["--backup-id", &backup_id],
    )?;
    let (manifest, _) = read_backup(&minio(env)?, prefix, &backup_id).await?;
    let operator = Operator::start(env, ns)?;
    let mapping: String =
        topics.iter().map(|t| format!("{{sourceTopic: {t}, targetTopic: {t}-op}}, ")).collect();
    cluster
        .apply_yaml(
            ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: {name}}}\nspec:\n  kafkaCluster: {{bootstrapServers: '{}'}}\n  source:\n{}  topicMapping: [{}]\n  consumerGroups:\n    mapping: [{{sourceGroup: {group}, targetGroup: {group}-op}}]\n{spec}",
                env.kafka_bootstrap(),
                minio_storage(env, prefix, "minio-credentials", 4)?,
                mapping.trim_end_matches(", ")
            ),
        )
        .await?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let selector = format!("app.kubernetes.io/instance={name},app.kubernetes.io/component=restore");
    let job = wait_until(Duration::from_secs(240), "the restore Job", || async {
        Ok(jobs.list(&ListParams::default().labels(&selector)).await?.items.into_iter().next())
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    Ok((manifest, operator, job))
}

#[tokio::test(flavor = "multi_thread")]
async fn four_worker_pods_with_one_killed_restore_every_record_once_and_commit_the_offsets()
-> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "rworkers").await?;
    let s = unique_suffix();
    let topics: Vec<String> = (0..3).map(|t| format!("orw{t}{s}")).collect();
    let mut produced = BTreeMap::new();
    for (t, topic) in topics.iter().enumerate() {
        produced.extend(fill_topics(env, std::slice::from_ref(topic), 8, 1_000 * (t + 1)).await?);
    }
    let total: usize = produced.values().map(Vec::len).sum();
    let group = format!("orwg{s}");
    for topic in &topics {
        for p in 0..8 {
            commit(env, &group, topic, p, 10 * i64::from(p) + 3)?;
        }
    }
    // The backup, made by the data plane at the location the restore reads.
    let (manifest, operator, job) = restoring(
        &cluster,
        &ns,
        &format!("e2e-oprworkers-{s}/"),
        &s,
        &topics,
        &group,
        "four",
        "  restore: {workers: 4, parallelism: 1}\n",
    )
    .await?;
    let spec = job.spec.clone().unwrap_or_default();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!((spec.completions, spec.parallelism, spec.max_failed_indexes), (Some(4), Some(4), Some(0)));
    assert_eq!(spec.backoff_limit_per_index, Some(3));
    let job_name = job.name_any();

    // Worker 1 is SIGKILLed once it has written to its share.
    let victim = 1u32;
    let killed = kill_when_writing(env, &manifest, &job_name, 4, victim)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    eprintln!("killed worker {victim} of {job_name} (pids {killed:?}) at {:?}", started.elapsed());

    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    // status.progress while it runs, every second: the highest recordsRestored it showed.
    let watched = tokio::spawn({
        let restores = restores.clone();
        async move {
            let mut highest = (0i64, 0i32);
            loop {
                if let Ok(r) = restores.get("four").await {
                    let st = r.status.unwrap_or_default();
                    if let Some(p) = st.progress {
                        highest = highest.max((p.records_restored, p.percent));
                    }
                    if matches!(st.phase, Some(RunPhase::Completed | RunPhase::Failed)) {
                        return highest;
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    let run = finished_run(&restores, "four", Duration::from_secs(420), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let st = run.status.unwrap_or_default();
    eprintln!("the restore finished at {:?}", started.elapsed());
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}");
    let result = st.restore.clone().unwrap_or_default();
    assert_eq!(
        (
            result.restored_records,
            result.restored_partitions,
            result.consumer_groups_restored,
            result.workers
        ),
        (Some(total as i64), Some(24), Some(1), Some(4)),
        "{st:?}"
    );

    // The progress was every worker's, summed: more than worker 0's share ever holds (worker 0
    // finishes the restore, and its share is written well before the others' end), never more
    // than the whole restore.
    let (highest, percent) = tokio::time::timeout(Duration::from_secs(30), watched).await??;
    let share0: usize = restore_share(&manifest, 4, 0).iter().map(|key| produced[key].len()).sum();
    eprintln!("progress: at most {highest} records ({percent} %) of {total}; worker 0's share {share0}");
    assert!(
        highest > share0 as i64 && highest <= total as i64 && percent <= 99,
        "status.progress reached {highest} records ({percent} %): worker 0's share is {share0}, the restore {total}"
    );

    // The killed index ran twice, every other index once.
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let listed = pods.list(&ListParams::default().labels(&format!("job-name={job_name}"))).await?.items;
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    for p in &listed {
        *runs.entry(p.annotations().get(INDEX).cloned().unwrap_or_default()).or_default() += 1;
    }
    let want: BTreeMap<String, usize> =
        (0..4).map(|i| (i.to_string(), if i == victim { 2 } else { 1 })).collect();
    assert_eq!(runs, want, "pods per index");

    // Every record once, by content; the group resumes at the first record it had not consumed
    // (the offsets themselves may be moved by the killed worker's aborted records).
    for ((topic, p), want) in &produced {
        let got = consume_all(env, &format!("{topic}-op"), *p)?;
        assert_eq!(without_offsets(&got), without_offsets(want), "{topic}/{p}");
        let at = committed(env, &format!("{group}-op"), &format!("{topic}-op"), *p)?
            .ok_or_else(|| anyhow::anyhow!("{topic}-op/{p}: no committed offset"))?;
        let next: Vec<_> = got.into_iter().filter(|r| r.offset >= at).collect();
        let skip = usize::try_from(10 * i64::from(*p) + 3)?;
        assert_eq!(without_offsets(&next), without_offsets(&want[skip..]), "{topic}/{p} from {at}");
    }
    eprintln!("done at {:?}", started.elapsed());
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// A worker that fails for good (`job.backoffLimit: 0`, so its index is not retried) fails the
/// whole restore: the job controller fails the Indexed Job (`maxFailedIndexes: 0`) and stops
/// the other workers, worker 0 among them — it ends the restore only once every share is
/// written, so it never commits the group's offsets; the KafkaRestore says Failed, naming the
/// kill, and nothing says Completed.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_worker_that_fails_for_good_fails_the_restore_and_commits_no_offsets() -> anyhow::Result<()>
{
    let started = std::time::Instant::now();
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "rworkers-fail").await?;
    let s = unique_suffix();
    let topics: Vec<String> = (0..2).map(|t| format!("orf{t}{s}")).collect();
    let mut produced = BTreeMap::new();
    for topic in &topics {
        produced.extend(fill_topics(env, std::slice::from_ref(topic), 6, 2_000).await?);
    }
    let group = format!("orfg{s}");
    for topic in &topics {
        for p in 0..6 {
            commit(env, &group, topic, p, 5)?;
        }
    }
    let (manifest, operator, job) = restoring(
        &cluster,
        &ns,
        &format!("e2e-oprworkers-fail-{s}/"),
        &s,
        &topics,
        &group,
        "fails",
        "  restore: {workers: 3, parallelism: 1}\n  job: {backoffLimit: 0}\n",
    )
    .await?;
    let spec = job.spec.clone().unwrap_or_default();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!((spec.completions, spec.max_failed_indexes), (Some(3), Some(0)));
    assert_eq!(spec.backoff_limit_per_index, Some(0));
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let job_name = job.name_any();

    // Every pod of the Job as last seen, every half second: (index, phase, the container's end,
    // whether it was being deleted), to say what became of the workers that were not killed.
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    type Seen = BTreeMap<String, (String, String, String, bool)>;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::new()));
    let watcher = tokio::spawn({
        let (pods, selector, seen) = (pods.clone(), format!("job-name={job_name}"), seen.clone());
        async move {
            loop {
                if let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await {
                    for p in list.items {
                        let index = p.annotations().get(INDEX).cloned().unwrap_or_default();
                        let status = p.status.clone().unwrap_or_default();
                        let end = status
                            .container_statuses
                            .iter()
                            .flatten()
                            .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
                            .map(|t| format!("exit {} {:?}", t.exit_code, t.reason))
                            .next()
                            .unwrap_or_default();
                        let deleting = p.metadata.deletion_timestamp.is_some();
                        let Ok(mut seen) = seen.lock() else { return };
                        let entry = seen.entry(p.name_any()).or_default();
                        *entry = (index, status.phase.unwrap_or_default(), end, entry.3 || deleting);
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    let victim = 1u32;
    let killed = kill_when_writing(env, &manifest, &job_name, 3, victim)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    eprintln!("killed worker {victim} of {job_name} (pids {killed:?}) at {:?}", started.elapsed());

    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let run = finished_run(&restores, "fails", Duration::from_secs(300), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let st = run.status.unwrap_or_default();
    eprintln!("the restore finished at {:?}: {:?}", started.elapsed(), st.conditions);
    assert_eq!(st.phase, Some(RunPhase::Failed), "{st:?}");
    assert!(st.progress.is_none(), "a finished run shows no progress: {st:?}");
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    assert_eq!(
        (ready.status, ready.reason.as_deref()),
        (ConditionStatus::False, Some("RestoreFailed")),
        "{ready:?}"
    );
    // Said as a kill, not as whatever the worker logged last.
    let said = ready.message.clone().unwrap_or_default();
    assert!(said.contains("killed by signal 9 (SIGKILL"), "{said}");
    assert!(
        st.conditions.iter().all(|c| c.status != ConditionStatus::True || c.type_ != "Ready"),
        "nothing claims success: {:?}",
        st.conditions
    );

    // The job controller failed the Job for the index and stopped the other workers.
    let status = wait_until(Duration::from_secs(120), "no worker of the failed Job running", || async {
        let status = jobs.get(&job_name).await?.status.unwrap_or_default();
        Ok((status.active.unwrap_or(0) == 0).then_some(status))
    })
    .await?;
    let failed_indexes = status.failed_indexes.clone().unwrap_or_default();
    assert_eq!(failed_indexes, victim.to_string(), "{status:?}");
    let failed = status.conditions.iter().flatten().find(|c| c.type_ == "Failed" && c.status == "True");
    assert!(failed.is_some(), "the Job failed: {status:?}");
    assert!(status.succeeded.unwrap_or(0) < 3, "{status:?}");
    eprintln!("the Job failed: {:?} at {:?}", failed.and_then(|c| c.reason.clone()), started.elapsed());
    let listed = pods.list(&ListParams::default().labels(&format!("job-name={job_name}"))).await?.items;
    let mut runs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &listed {
        let phase = p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        runs.entry(p.annotations().get(INDEX).cloned().unwrap_or_default()).or_default().push(phase);
    }
    watcher.abort();
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    eprintln!("pods left per index, by phase: {runs:?}; as seen while running: {seen:?}");
    // The victim ran once (not retried); worker 0 — which commits the offsets once every share
    // is written — did not succeed: the job controller stopped it (a graceful deletion).
    assert_eq!(runs.get(&victim.to_string()).map(Vec::len), Some(1), "{runs:?}");
    let zero = runs.get("0").cloned().unwrap_or_default();
    assert!(zero.iter().all(|ph| ph != "Succeeded" && ph != "Running"), "{runs:?}");
    let zeros: Vec<_> = seen.values().filter(|(i, ..)| i == "0").collect();
    assert!(!zeros.is_empty(), "worker 0 was never seen: {seen:?}");
    assert!(zeros.iter().all(|(_, phase, ..)| phase != "Succeeded"), "worker 0 succeeded: {seen:?}");
    // No worker's process is left either (the harness stops a deleted pod's processes).
    let left = strimzi_backup_e2e::procfs::pod_processes(&format!("{job_name}-"));
    assert!(left.is_empty(), "workers still run: {left:?}");

    // The group's offsets are not committed on any target partition.
    for (topic, p) in produced.keys() {
        let at = committed(env, &format!("{group}-op"), &format!("{topic}-op"), *p)?;
        assert_eq!(at, None, "{topic}-op/{p}: offsets committed by a failed restore");
    }
    eprintln!("done at {:?}", started.elapsed());
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
