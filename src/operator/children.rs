//! The objects a run is made of — its config ConfigMap and its Job — created idempotently, and
//! what a finished Job left behind: its outcome and the data plane's result; and, while it runs,
//! whether its pod cannot start ([`blocked`]).
//!
//! Names are deterministic, so "create" means "create unless it exists": a restarted operator,
//! or a second replica that briefly thinks it leads, finds the run instead of starting another
//! (the API server refuses the second create with 409, which is success here).
//!
//! The result travels back two ways. The data plane prints it as the last JSON line of its
//! output, which the operator reads from the pod's log (complete, any size); and as the
//! container's termination message (at most 4 KiB, the fallback when the log is gone).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams, PropagationPolicy};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::error::{Error, Result};

pub mod workers;

/// Creates `object` unless an object of its name exists; returns what is there — only when it
/// is ours too: it carries an owner reference with the uid of `object`'s owner. Anyone who may
/// create ConfigMaps or Jobs in the namespace could otherwise plant one under the next run's
/// name (names are predictable) and have the operator report its outcome as the run's.
async fn create_or_get<K>(api: &Api<K>, object: &K) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + serde::Serialize + DeserializeOwned + std::fmt::Debug,
{
    let kind = K::kind(&());
    let name = object.name_any();
    match api.create(&PostParams::default(), object).await {
        Ok(created) => Ok(created),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api.get(&name).await.map_err(Error::read(format!("{kind} {name}")))?;
            let owner = object.owner_references().first().map(|o| o.uid.clone()).unwrap_or_default();
            if existing.owner_references().iter().any(|o| o.uid == owner) {
                Ok(existing)
            } else {
                Err(Error::Foreign { kind: kind.to_string(), name, uid: owner })
            }
        }
        Err(e) => Err(Error::write(format!("{kind} {name}"))(e)),
    }
}

pub async fn ensure_config_map(client: &Client, namespace: &str, cm: &ConfigMap) -> Result<ConfigMap> {
    create_or_get(&Api::namespaced(client.clone(), namespace), cm).await
}

pub async fn ensure_job(client: &Client, namespace: &str, job: &Job) -> Result<Job> {
    create_or_get(&Api::namespaced(client.clone(), namespace), job).await
}

/// Deletes a Job and its pods (a replaced or cancelled run). Gone already is fine.
pub async fn delete_job(client: &Client, namespace: &str, name: &str) -> Result<()> {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    let params =
        DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::write(format!("Job {name}"))(e)),
    }
}

/// On a Job: the owner's `metadata.generation` it was started for, so the owner's
/// `observedGeneration` says which spec the recorded run used (a spec changed while it ran stays
/// unobserved).
pub const GENERATION_ANNOTATION: &str = "kafkabackup.com/generation";

/// The owner generation `job` was started for, when it says.
pub fn launched_generation(job: &Job) -> Option<i64> {
    job.annotations().get(GENERATION_ANNOTATION).and_then(|g| g.parse::<i64>().ok())
}

/// Why the pod of `job` cannot start (a missing Secret, an image pull), while it is starting.
pub async fn blocked_while_starting(
    client: &Client,
    job: Option<&Job>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>> {
    match job {
        Some(j) if starting(j) => blocked(client, j, now).await,
        _ => Ok(None),
    }
}

/// Deletes a recorded run: its Job (with pods) and the ConfigMap of the same name it read its
/// settings from. What it found is in the owner's status by then. Gone already is fine.
pub async fn delete_run(client: &Client, namespace: &str, job: &str) -> Result<()> {
    delete_job(client, namespace, job).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.delete(job, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::write(format!("ConfigMap {job}"))(e)),
    }
}

/// The Jobs of `owner` with `app.kubernetes.io/component=<component>` — its own, by owner uid
/// (a namesake's are not) — by name.
pub async fn owned_jobs<K: Resource<DynamicType = ()>>(
    client: &Client,
    owner: &K,
    component: &str,
) -> Result<Vec<Job>> {
    let api: Api<Job> = Api::namespaced(client.clone(), &owner.namespace().unwrap_or_default());
    let selector =
        format!("app.kubernetes.io/instance={},app.kubernetes.io/component={component}", owner.name_any());
    let uid = owner.uid();
    let mut jobs: Vec<Job> = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::read(format!("{component} Jobs")))?
        .items
        .into_iter()
        .filter(|j| j.owner_references().iter().any(|o| Some(&o.uid) == uid.as_ref()))
        .collect();
    jobs.sort_by_key(|j| j.name_any());
    Ok(jobs)
}

/// Where a Job is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Running,
    Succeeded,
    /// The Job gave up (pods failed beyond `backoffLimit`, deadline exceeded); the condition's
    /// reason and message.
    Failed {
        reason: String,
    },
}

pub fn state(job: &Job) -> JobState {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref());
    for c in conditions.into_iter().flatten().filter(|c| c.status == "True") {
        match c.type_.as_str() {
            "Complete" => return JobState::Succeeded,
            "Failed" => {
                let reason = c.reason.clone().unwrap_or_else(|| "Failed".into());
                let message = c.message.clone().unwrap_or_default();
                return JobState::Failed {
                    reason: if message.is_empty() { reason } else { format!("{reason}: {message}") },
                };
            }
            _ => {}
        }
    }
    JobState::Running
}

/// What a failed Job's result line is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailedResult {
    /// The result wins even when the Job failed: `offset-reset` prints its result and then exits
    /// non-zero when a group failed, and the per-group outcome is the better report.
    Keep,
    /// A failed Job never has a result: a backup that failed must never be recorded as
    /// completed, whatever its log says.
    Ignore,
}

/// What the data plane left, read from a finished Job's pod: its result (the last JSON line of
/// the log, else the termination message) or why there is none — the pod's error, else the
/// Job's failure reason. Written once for every kind.
pub fn run_result<R: serde::de::DeserializeOwned>(
    state: &JobState,
    output: &Output,
    failed: FailedResult,
) -> Result<R, String> {
    let usable = !matches!(state, JobState::Failed { .. }) || failed == FailedResult::Keep;
    if usable && let Some(result) = output.result::<R>() {
        return Ok(result);
    }
    Err(match state {
        JobState::Failed { reason } => output.error().unwrap_or_else(|| reason.clone()),
        _ => "the Job succeeded but left no result (neither in its log nor its termination message)".into(),
    })
}

/// What a Job's pod said.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// The container's termination message (the result, or the error that ended it).
    pub message: Option<String>,
    /// The container's log (stdout and stderr), when the node still has it.
    pub log: Option<String>,
}

impl Output {
    /// The data plane's result: the last line of the log that parses as `T`, else the
    /// termination message.
    pub fn result<T: DeserializeOwned>(&self) -> Option<T> {
        self.log
            .as_deref()
            .and_then(last_json_line)
            .or_else(|| self.message.as_deref().and_then(|m| serde_json::from_str(m.trim()).ok()))
    }

    /// Why the run failed, in the data plane's words: its termination message (the error,
    /// or the log's end with `FallbackToLogsOnError`).
    pub fn error(&self) -> Option<String> {
        let message = self.message.as_deref().map(str::trim).filter(|m| !m.is_empty())?;
        // The error is the last line; anything before it is context from the log.
        let last = message.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(message);
        Some(super::context::truncate(last.trim().trim_start_matches("error: ").to_string(), 900))
    }
}

/// The last line of `text` that is a JSON object of type `T`.
pub fn last_json_line<T: DeserializeOwned>(text: &str) -> Option<T> {
    text.lines().rev().filter(|l| l.starts_with('{')).find_map(|l| serde_json::from_str(l).ok())
}

fn pod_time(pod: &Pod) -> Option<k8s_openapi::jiff::Timestamp> {
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// The Job's most relevant pod: the one that succeeded, else the newest.
async fn pod_of(client: &Client, namespace: &str, job: &str) -> Result<Option<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .map_err(Error::read(format!("pods of Job {job}")))?;
    let mut items = list.items;
    items.sort_by_key(pod_time);
    let succeeded =
        items.iter().position(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"));
    Ok(match succeeded {
        Some(i) => Some(items.swap_remove(i)),
        None => items.pop(),
    })
}

/// How long reading a finished pod's log may take before the termination message stands in.
const LOG_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads what the Job's pod left. `tail_lines` limits the log read (progress needs the end
/// only; a result needs all of it, as the data plane may log after printing it).
pub async fn output(client: &Client, namespace: &str, job: &str, tail_lines: Option<i64>) -> Result<Output> {
    let Some(pod) = pod_of(client, namespace, job).await? else { return Ok(Output::default()) };
    Ok(read(client, namespace, &pod, tail_lines).await)
}

/// The log of the running pod `pod` (its last `tail_lines`; with `previous`, of its container's
/// instance before the last restart), `None` when it cannot be read (not started yet, no
/// previous instance, a node gone or stalling past [`LOG_READ_TIMEOUT`]): a continuous backup's
/// result lines, read while its pod runs on.
pub async fn pod_log(
    client: &Client,
    namespace: &str,
    pod: &str,
    tail_lines: Option<i64>,
    previous: bool,
) -> Option<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = LogParams { tail_lines, previous, ..Default::default() };
    tokio::time::timeout(LOG_READ_TIMEOUT, pods.logs(pod, &params)).await.ok().and_then(Result::ok)
}

/// How `pod`'s (first and only) container ended, once it has.
fn terminated(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStateTerminated> {
    pod.status.as_ref()?.container_statuses.as_ref()?.first()?.state.as_ref()?.terminated.as_ref()
}

/// The termination message of a container that ended as `t`. The data plane writes its error
/// there; a process the kernel or the kubelet killed writes nothing, and the kubelet falls back
/// to the log's tail (`FallbackToLogsOnError`), whose last line is whatever the process was
/// doing. That line as "why the run failed" misleads, so a kill is said as one, with the line
/// kept as context.
fn end_message(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> Option<String> {
    let last =
        t.message.as_deref().and_then(|m| m.lines().rev().find(|l| !l.trim().is_empty())).map(str::trim);
    let said = |why: String| {
        Some(match last {
            Some(line) => format!("{why}; the last line it logged: {line}"),
            None => why,
        })
    };
    if t.reason.as_deref() == Some("OOMKilled") {
        return said(format!(
            "the container ran out of memory (OOMKilled, exit code {}): raise its memory limit or lower `parallelism` (docs/sizing.md)",
            t.exit_code
        ));
    }
    if t.exit_code > 128 && t.signal.is_none_or(|s| s == t.exit_code - 128) {
        let signal = t.exit_code - 128;
        let name = match signal {
            9 => " (SIGKILL: `kill -9`, the node's out-of-memory killer or a node lost)",
            15 => " (SIGTERM: the pod was stopped)",
            _ => "",
        };
        return said(format!("the container was killed by signal {signal}{name}, exit code {}", t.exit_code));
    }
    t.message.clone()
}

/// What `pod` left: its container's termination message and its log (`tail_lines` of it).
async fn read(client: &Client, namespace: &str, pod: &Pod, tail_lines: Option<i64>) -> Output {
    let message = terminated(pod).and_then(end_message);
    // A node that is gone or does not serve logs leaves the termination message. The read goes
    // through the API server to the kubelet: a node that accepts it and stalls must not hold
    // this object's reconcile (and with it, its deletion) for the client's 295 s timeout, which
    // pod_log bounds.
    let log = pod_log(client, namespace, &pod.name_any(), tail_lines, false).await;
    Output { message, log }
}

/// How soon a controller looks again at a running Job whose pod is not ready yet: the one way
/// to notice a pod stuck on a missing Secret or image (nothing on the Job changes then), within
/// about [`BLOCKED_GRACE`] plus this. Every kind uses it.
pub const STARTING_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);

/// A running Job none of whose pods is ready yet: the Jobs [`blocked`] is asked about.
/// `status.ready` counts ready pods (Kubernetes 1.29+; unset before, so then every running Job
/// counts, which costs a pod list per reconcile).
pub fn starting(job: &Job) -> bool {
    state(job) == JobState::Running && job.status.as_ref().and_then(|s| s.ready).unwrap_or(0) == 0
}

/// How long a Job's container may wait in a [`BLOCKED_REASONS`] state before the run is reported
/// blocked: the kubelet retries these (a Secret created right after the resource, an image pull
/// that fails once), so the first seconds of one are not yet news.
pub const BLOCKED_GRACE: chrono::Duration = chrono::Duration::seconds(15);

/// Container `waiting` reasons of a pod that cannot start without someone fixing something: a
/// missing Secret, ConfigMap or key (`CreateContainerConfigError`), an image that cannot be pulled,
/// a container the runtime cannot create. Not `ContainerCreating`/`PodInitializing` (progress).
pub const BLOCKED_REASONS: [&str; 4] =
    ["CreateContainerConfigError", "CreateContainerError", "ErrImagePull", "ImagePullBackOff"];

/// The labels the Job controller puts on its pods, newest first (`batch.kubernetes.io/job-name`
/// since Kubernetes 1.27; `job-name` before and still).
const JOB_NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];

/// Why `job`'s pod cannot start, when one of its containers has been waiting for a reason in
/// [`BLOCKED_REASONS`] since before `now -` [`BLOCKED_GRACE`]: `pod <name>: <reason>: <the kubelet's
/// message>`, e.g. `pod b-1-x7k: CreateContainerConfigError: secret "minio-creds" not found`.
/// `None` for a finished Job, a Job without such a pod, or one still within the grace.
///
/// This is how a missing Secret is reported without the operator reading Secrets (issue 14:
/// no cluster-wide `get secrets`): the kubelet, which must read it anyway, says so in the pod's
/// status, and pods are listed already for results. Needs `list pods` in the Job's namespace.
pub async fn blocked(
    client: &Client,
    job: &Job,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>> {
    if state(job) != JobState::Running {
        return Ok(None);
    }
    let (namespace, name) = (job.namespace().unwrap_or_default(), job.name_any());
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let uid = job.uid().unwrap_or_default();
    let mut found = Vec::new();
    for label in JOB_NAME_LABELS {
        let list = pods
            .list(&ListParams::default().labels(&format!("{label}={name}")))
            .await
            .map_err(Error::read(format!("pods of Job {name}")))?;
        // Only the Job's own pods: a pod labelled with its name by anyone else says nothing.
        found = list
            .items
            .into_iter()
            .filter(|p| p.owner_references().iter().any(|o| o.uid == uid))
            .collect::<Vec<_>>();
        if !found.is_empty() {
            break;
        }
    }
    Ok(found.iter().find_map(|pod| blocked_pod(pod, now)))
}

/// [`blocked`] for one pod: pure, for the tests.
pub fn blocked_pod(pod: &Pod, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    // The pod's age stands in for how long the container has waited: a waiting state carries no
    // time of its own, and a container that ran before is not in these states.
    let created = pod.metadata.creation_timestamp.as_ref().and_then(crate::time::chrono)?;
    if now - created < BLOCKED_GRACE {
        return None;
    }
    let statuses =
        status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
    statuses.filter_map(|c| c.state.as_ref()?.waiting.as_ref()).find_map(|w| {
        let reason = w.reason.as_deref().filter(|r| BLOCKED_REASONS.contains(r))?;
        let message = w.message.as_deref().map(str::trim).filter(|m| !m.is_empty());
        Some(super::context::truncate(
            match message {
                Some(m) => format!("pod {}: {reason}: {m}", pod.name_any()),
                None => format!("pod {}: {reason}", pod.name_any()),
            },
            900,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn waiting_pod(
        reason: &str,
        message: Option<&str>,
        age_secs: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("b-1-x7k".into()),
                creation_timestamp: crate::time::kube(now - chrono::Duration::seconds(age_secs)),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                container_statuses: Some(vec![ContainerStatus {
                    name: "backup".into(),
                    state: Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some(reason.into()),
                            message: message.map(Into::into),
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

    #[test]
    fn a_pod_waiting_on_a_missing_secret_past_the_grace_is_blocked_with_the_kubelets_words() {
        let now = chrono::Utc::now();
        let missing = Some("secret \"minio-creds\" not found");
        assert_eq!(
            blocked_pod(&waiting_pod("CreateContainerConfigError", missing, 16, now), now).as_deref(),
            Some("pod b-1-x7k: CreateContainerConfigError: secret \"minio-creds\" not found")
        );
        assert_eq!(
            blocked_pod(&waiting_pod("CreateContainerConfigError", missing, 5, now), now),
            None,
            "grace"
        );
        assert_eq!(blocked_pod(&waiting_pod("ContainerCreating", None, 600, now), now), None, "progress");
        assert_eq!(
            blocked_pod(&waiting_pod("ImagePullBackOff", None, 60, now), now).as_deref(),
            Some("pod b-1-x7k: ImagePullBackOff")
        );
        let mut finished = waiting_pod("ErrImagePull", None, 60, now);
        if let Some(s) = finished.status.as_mut() {
            s.phase = Some("Failed".into());
        }
        assert_eq!(blocked_pod(&finished, now), None);
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct R {
        records: u64,
    }

    #[test]
    fn the_result_is_the_last_json_line_of_the_log() {
        let out = Output {
            log: Some(
                "INFO start\n{\"records\": 1}\n{\"progress\": 3}\n{\"records\": 2}\nINFO done\n".into(),
            ),
            message: Some("{\"records\": 9}".into()),
        };
        assert_eq!(out.result::<R>(), Some(R { records: 2 }));
        let only_message = Output { log: None, ..out };
        assert_eq!(only_message.result::<R>(), Some(R { records: 9 }));
    }

    #[test]
    fn the_error_is_the_last_line_of_the_message() {
        let out = Output {
            message: Some("WARN retrying\nerror: storage s3://b/ unreachable: connection refused\n".into()),
            log: None,
        };
        assert_eq!(out.error().as_deref(), Some("storage s3://b/ unreachable: connection refused"));
    }
    #[test]
    fn a_killed_container_is_said_to_be_killed_not_to_have_failed_at_its_last_log_line() {
        use k8s_openapi::api::core::v1::ContainerStateTerminated;
        let ended = |code: i32, reason: &str, message: &str| ContainerStateTerminated {
            exit_code: code,
            reason: Some(reason.into()),
            message: Some(message.into()),
            ..Default::default()
        };
        let log = "2026-12-04T20:49:19Z INFO backup::run: this worker's share\n";
        let killed = super::end_message(&ended(137, "Error", log)).unwrap_or_default();
        assert!(killed.starts_with("the container was killed by signal 9 (SIGKILL"), "{killed}");
        assert!(killed.ends_with(
            "the last line it logged: 2026-12-04T20:49:19Z INFO backup::run: this worker's share"
        ));
        assert_eq!(killed.lines().count(), 1, "Output::error reads the last line: {killed}");
        let oom = super::end_message(&ended(137, "OOMKilled", "")).unwrap_or_default();
        assert!(oom.contains("ran out of memory") && oom.contains("parallelism"), "{oom}");
        // The data plane's own error stays as it wrote it.
        let error = ended(1, "Error", "error: storage s3://b/ unreachable");
        assert_eq!(super::end_message(&error).as_deref(), Some("error: storage s3://b/ unreachable"));
        let refused = ended(i32::from(crate::refusal::EXIT_CODE), "Error", "error: refused");
        assert_eq!(super::end_message(&refused).as_deref(), Some("error: refused"));
    }
}
