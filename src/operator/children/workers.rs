//! What an Indexed Job's pods left: a backup split across `backup.workers` pods (issue 18 §3),
//! where every worker prints a result line but only the one that committed the backup prints the
//! whole result, and the others their share (`{"backupId":…,"worker":{…,"committed":false}}`);
//! likewise a restore across `restore.workers`, whose worker 0 prints the whole result.
//!
//! The single-pod rule of [`super::output`] (the succeeded pod, else the newest) would read
//! whichever worker succeeded first. Here a succeeded Job's result is the first succeeded pod
//! whose output parses as the whole result (those whose termination message does are read first,
//! so usually one log is read); a failed Job's error is the pod that failed it (see
//! [`speakers`]), not a worker the Job controller stopped afterwards.

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde::de::DeserializeOwned;

use super::{JobState, Output};
use crate::operator::error::{Error, Result};

/// The annotation the Job controller puts on each pod of an Indexed Job: its index (and the
/// source of the pod's `JOB_COMPLETION_INDEX`).
pub const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// Whether `job` runs one pod per index (`completionMode: Indexed`).
pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

/// What a finished Job's pods left, read as a run of type `T`: for an Indexed Job the pod that
/// speaks for it ([`speakers`]), for any other Job what [`super::output`] reads.
pub async fn output_of<T: DeserializeOwned>(client: &Client, job: &Job, state: &JobState) -> Result<Output> {
    let (namespace, name) = (job.namespace().unwrap_or_default(), job.name_any());
    if !is_indexed(job) {
        return super::output(client, &namespace, &name, None).await;
    }
    let own = own_pods(client, job).await?;
    let mut first = None;
    for pod in speakers::<T>(job, state, own) {
        let output = super::read(client, &namespace, &pod, None).await;
        if !matches!(state, JobState::Succeeded) || output.result::<T>().is_some() {
            return Ok(output);
        }
        first.get_or_insert(output);
    }
    Ok(first.unwrap_or_default())
}

/// The pods of `job`: only its own, as a pod labelled with its name by anyone else says nothing.
async fn own_pods(client: &Client, job: &Job) -> Result<Vec<Pod>> {
    let (namespace, name) = (job.namespace().unwrap_or_default(), job.name_any());
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let listed = pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await
        .map_err(Error::read(format!("pods of Job {name}")))?
        .items;
    let uid = job.uid().unwrap_or_default();
    Ok(listed.into_iter().filter(|p| p.owner_references().iter().any(|o| o.uid == uid)).collect())
}

/// The latest log of one pod of a running Job, for the kind's progress.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerLog {
    /// The worker's index (`None`: a Job of one pod).
    pub index: Option<u32>,
    /// The pod succeeded: the worker's share is done (a worker may finish before the others).
    pub finished: bool,
    /// Its last lines.
    pub log: String,
}

/// Pod logs read at once by [`worker_logs`].
const LOG_READS: usize = 8;

/// What each worker of a running Indexed Job has logged so far (the last `tail_lines` of its
/// newest pod: a retried index's earlier pods say nothing of the retry), in index order: a
/// restore across workers sums their progress lines. A worker without a pod yet, or whose log
/// cannot be read, is left out.
pub async fn worker_logs(client: &Client, job: &Job, tail_lines: Option<i64>) -> Result<Vec<WorkerLog>> {
    let namespace = job.namespace().unwrap_or_default();
    let newest = newest_per_index(own_pods(client, job).await?);
    let reads = newest.into_iter().map(|(index, pod)| {
        let namespace = namespace.clone();
        async move {
            let finished = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded");
            let log = super::read(client, &namespace, &pod, tail_lines).await.log?;
            Some(WorkerLog { index: Some(index), finished, log })
        }
    });
    Ok(futures::stream::iter(reads).buffered(LOG_READS).filter_map(std::future::ready).collect().await)
}

/// The newest pod of each index, in index order. Pure, for the tests.
pub fn newest_per_index(pods: Vec<Pod>) -> Vec<(u32, Pod)> {
    let mut newest: std::collections::BTreeMap<u32, Pod> = std::collections::BTreeMap::new();
    for pod in pods {
        let Some(i) = index(&pod) else { continue };
        let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if newest.get(&i).is_none_or(|n| created(n) < created(&pod)) {
            newest.insert(i, pod);
        }
    }
    newest.into_iter().collect()
}

/// The pods that may speak for a finished Indexed Job, in the order to read them. Succeeded:
/// the succeeded pods, those whose termination message is a whole `T` first (the summary the
/// committing worker leaves there), then the newest. Failed: the failed pods, one refused by the
/// data plane first (its exit code makes the pod failure policy fail the Job), then those of an
/// index the Job gave up on (`status.failedIndexes`), then the newest; the Job controller stops
/// the other workers when the Job fails, and what they say is only that. Pure, for the tests.
pub fn speakers<T: DeserializeOwned>(job: &Job, state: &JobState, pods: Vec<Pod>) -> Vec<Pod> {
    let phase = match state {
        JobState::Succeeded => "Succeeded",
        JobState::Failed { .. } => "Failed",
        JobState::Running => return Vec::new(),
    };
    let failed_indexes = job.status.as_ref().and_then(|s| s.failed_indexes.as_deref()).map(indexes);
    let mut pods: Vec<Pod> = pods
        .into_iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase))
        .collect();
    // Newest first, then the stable sort by rank keeps that order within a rank.
    pods.sort_by_key(|p| std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)));
    pods.sort_by_key(|p| match state {
        JobState::Succeeded => u8::from(Output { message: message(p), log: None }.result::<T>().is_none()),
        _ if exit_code(p) == Some(i32::from(crate::refusal::EXIT_CODE)) => 0,
        _ if index(p).is_some_and(|i| failed_indexes.as_ref().is_some_and(|f| f.contains(&i))) => 1,
        _ => 2,
    });
    pods
}

/// The pod's index, from the Job controller's annotation.
pub fn index(pod: &Pod) -> Option<u32> {
    pod.annotations().get(INDEX_ANNOTATION).and_then(|i| i.parse().ok())
}

fn message(pod: &Pod) -> Option<String> {
    super::terminated(pod).and_then(|t| t.message.clone())
}

fn exit_code(pod: &Pod) -> Option<i32> {
    super::terminated(pod).map(|t| t.exit_code)
}

/// `status.failedIndexes` (`1,3-5`) as the indexes it lists; what does not parse is left out.
fn indexes(text: &str) -> Vec<u32> {
    text.split(',')
        .filter_map(|part| match part.trim().split_once('-') {
            Some((a, b)) => Some((a.parse::<u32>().ok()?..=b.parse::<u32>().ok()?).collect::<Vec<_>>()),
            None => part.trim().parse::<u32>().ok().map(|i| vec![i]),
        })
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobSpec, JobStatus};
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Whole {
        location: String,
    }

    fn pod(name: &str, index: u32, phase: &str, exit: i32, message: &str, minute: u32) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: Some([(INDEX_ANNOTATION.to_string(), index.to_string())].into()),
                creation_timestamp: crate::time::kube(
                    chrono::DateTime::parse_from_rfc3339(&format!("2026-12-04T10:{minute:02}:00Z"))
                        .map(|t| t.to_utc())
                        .unwrap_or_default(),
                ),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.into()),
                container_statuses: Some(vec![ContainerStatus {
                    name: "backup".into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: exit,
                            message: (!message.is_empty()).then(|| message.to_string()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn job(failed_indexes: Option<&str>) -> Job {
        Job {
            spec: Some(JobSpec { completion_mode: Some("Indexed".into()), ..Default::default() }),
            status: Some(JobStatus { failed_indexes: failed_indexes.map(Into::into), ..Default::default() }),
            ..Default::default()
        }
    }

    fn names(pods: &[Pod]) -> Vec<String> {
        pods.iter().map(ResourceExt::name_any).collect()
    }

    #[test]
    fn a_succeeded_job_speaks_through_the_worker_that_committed() {
        let share = r#"{"backupId":"b","worker":{"index":0,"workers":3,"committed":false}}"#;
        let pods = vec![
            pod("b-0", 0, "Succeeded", 0, share, 1),
            pod("b-1-killed", 1, "Failed", 137, "", 1),
            pod("b-2", 2, "Succeeded", 0, r#"{"location":"s3://x/"}"#, 2),
            pod("b-1", 1, "Succeeded", 0, share, 3),
        ];
        let order = speakers::<Whole>(&job(None), &JobState::Succeeded, pods);
        assert_eq!(names(&order), ["b-2", "b-1", "b-0"], "the whole result first, then the newest");
        // Without termination messages (gone with the node): every succeeded pod, newest first,
        // each log read until one holds the whole result.
        let bare = vec![pod("b-0", 0, "Succeeded", 0, "", 1), pod("b-1", 1, "Succeeded", 0, "", 3)];
        assert_eq!(names(&speakers::<Whole>(&job(None), &JobState::Succeeded, bare)), ["b-1", "b-0"]);
    }

    #[test]
    fn a_failed_job_speaks_through_the_pod_that_failed_it_not_the_workers_stopped_after() {
        let failed = JobState::Failed { reason: "FailedIndexes".into() };
        let pods = vec![
            pod("b-0-stopped", 0, "Failed", 143, "INFO reading", 5),
            pod("b-2-a", 2, "Failed", 1, "error: storage unreachable", 1),
            pod("b-2-b", 2, "Failed", 1, "error: storage unreachable again", 3),
            pod("b-1", 1, "Succeeded", 0, "{}", 1),
        ];
        assert_eq!(
            names(&speakers::<Whole>(&job(Some("2")), &failed, pods.clone())),
            ["b-2-b", "b-2-a", "b-0-stopped"]
        );
        let mut refused = pods;
        refused.push(pod("b-3", 3, "Failed", i32::from(crate::refusal::EXIT_CODE), "error: refused", 0));
        assert_eq!(names(&speakers::<Whole>(&job(None), &failed, refused))[0], "b-3");
    }

    #[test]
    fn each_index_speaks_through_its_newest_pod() {
        // A pod without the index annotation is no worker.
        let mut stray = pod("stray", 0, "Running", 0, "", 9);
        stray.metadata.annotations = None;
        let pods = vec![
            pod("r-1-killed", 1, "Failed", 137, "", 1),
            pod("r-0", 0, "Running", 0, "", 1),
            pod("r-1", 1, "Running", 0, "", 4),
            pod("r-2", 2, "Succeeded", 0, "", 2),
            stray,
        ];
        let newest: Vec<(u32, String)> =
            newest_per_index(pods).into_iter().map(|(i, p)| (i, p.name_any())).collect();
        assert_eq!(newest, [(0, "r-0".into()), (1, "r-1".into()), (2, "r-2".into())]);
    }

    #[test]
    fn failed_indexes_read_as_kubernetes_writes_them() {
        assert_eq!(indexes("1,3-5,7"), [1, 3, 4, 5, 7]);
        assert_eq!(indexes(""), Vec::<u32>::new());
        assert!(!is_indexed(&Job::default()) && is_indexed(&job(None)));
    }
}
