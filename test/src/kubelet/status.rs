//! Test-only code that stands in for a kubelet: the pod status the harness reports (phase,
//! conditions, container states) and the container termination message.
//!
//! Probes are not run: a started main container is reported `ready` at once.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tracing::warn;

/// Most bytes of the termination-message file that are reported (like the kubelet).
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Most log lines reported by `FallbackToLogsOnError`.
pub const MAX_LOG_LINES: usize = 80;
/// Most log bytes reported by `FallbackToLogsOnError`.
pub const MAX_LOG_BYTES: usize = 2048;

/// The current time as the API writes it (RFC 3339, seconds, `Z`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Cuts `bytes` to at most `max` bytes at the front (keeping the start), at a UTF-8 boundary.
fn head(bytes: &[u8], max: usize) -> String {
    let mut cut = &bytes[..bytes.len().min(max)];
    if bytes.len() > max
        && let Err(e) = std::str::from_utf8(cut)
        && e.error_len().is_none()
    {
        // The cut went through a multi-byte character: drop its first bytes.
        cut = &cut[..e.valid_up_to()];
    }
    String::from_utf8_lossy(cut).into_owned()
}

/// The last `max_lines` lines of `log`, then at most `max_bytes` of their end.
pub fn log_tail(log: &[u8], max_lines: usize, max_bytes: usize) -> String {
    let text = String::from_utf8_lossy(log);
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let lines: Vec<&str> = trimmed.split('\n').collect();
    let start = lines.len().saturating_sub(max_lines);
    let mut tail = lines[start..].join("\n");
    if text.ends_with('\n') && !tail.is_empty() {
        tail.push('\n');
    }
    if tail.len() > max_bytes {
        let mut cut = tail.len() - max_bytes;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = tail[cut..].to_owned();
    }
    tail
}

/// The `terminated.message` of a container, like the kubelet chooses it: the termination-message
/// file (at most 4 KiB); when that is empty, the exit code non-zero and the policy
/// `FallbackToLogsOnError`, the end of the log (80 lines, 2 KiB).
pub fn termination_message(file: &[u8], exit_code: i32, policy: Option<&str>, log: &[u8]) -> Option<String> {
    let message = head(file, MAX_MESSAGE_BYTES);
    if !message.is_empty() {
        return Some(message);
    }
    if exit_code != 0 && policy == Some("FallbackToLogsOnError") {
        let tail = log_tail(log, MAX_LOG_LINES, MAX_LOG_BYTES);
        if !tail.is_empty() {
            return Some(tail);
        }
    }
    None
}

/// How a container instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: String,
    pub container_id: Option<String>,
}

impl Terminated {
    fn to_json(&self) -> Value {
        let mut t = json!({
            "exitCode": self.exit_code,
            "reason": self.reason,
            "finishedAt": self.finished_at,
            "startedAt": self.started_at.clone().unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned()),
        });
        if let Some(s) = self.signal {
            t["signal"] = json!(s);
        }
        if let Some(m) = &self.message {
            t["message"] = json!(m);
        }
        if let Some(c) = &self.container_id {
            t["containerID"] = json!(c);
        }
        t
    }
}

/// The state of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: String },
    Terminated(Terminated),
}

impl State {
    fn to_json(&self) -> Value {
        match self {
            State::Waiting { reason, message } => {
                let mut w = json!({ "reason": reason });
                if let Some(m) = message {
                    w["message"] = json!(m);
                }
                json!({ "waiting": w })
            }
            State::Running { started_at } => json!({ "running": { "startedAt": started_at } }),
            State::Terminated(t) => json!({ "terminated": t.to_json() }),
        }
    }
}

/// One entry of `containerStatuses` / `initContainerStatuses`.
#[derive(Debug, Clone)]
pub struct ContainerStatus {
    pub name: String,
    pub image: String,
    pub state: State,
    pub last_state: Option<Terminated>,
    pub restart_count: i32,
    pub ready: bool,
    pub started: bool,
    pub container_id: Option<String>,
}

impl ContainerStatus {
    fn new(name: &str, image: &str, waiting_reason: &str) -> Self {
        ContainerStatus {
            name: name.to_owned(),
            image: image.to_owned(),
            state: State::Waiting { reason: waiting_reason.to_owned(), message: None },
            last_state: None,
            restart_count: 0,
            ready: false,
            started: false,
            container_id: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut c = json!({
            "name": self.name,
            "image": self.image,
            "imageID": format!("harness://{}", self.image),
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state.to_json(),
            "lastState": self.last_state.as_ref().map(|t| json!({"terminated": t.to_json()})).unwrap_or(json!({})),
        });
        if let Some(id) = &self.container_id {
            c["containerID"] = json!(id);
        }
        c
    }

    /// Whether the container exited with 0.
    pub fn succeeded(&self) -> bool {
        matches!(&self.state, State::Terminated(t) if t.exit_code == 0)
    }
}

/// Pod phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// The complete status of a pod as the harness sees it; serialised whole on every change.
#[derive(Debug, Clone)]
pub struct PodStatusModel {
    pub phase: Phase,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub start_time: String,
    pub host_ip: String,
    pub init: Vec<ContainerStatus>,
    pub containers: Vec<ContainerStatus>,
    /// Condition type → (status, lastTransitionTime).
    transitions: HashMap<&'static str, (bool, String)>,
    /// The last status written, to skip writes that change nothing.
    last_written: Option<Value>,
}

impl PodStatusModel {
    /// The initial status of `pod`: all containers waiting.
    pub fn new(pod: &Pod, host_ip: &str) -> Self {
        let spec = pod.spec.as_ref();
        let init: Vec<ContainerStatus> = spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten())
            .map(|c| ContainerStatus::new(&c.name, c.image.as_deref().unwrap_or_default(), "PodInitializing"))
            .collect();
        let main_reason = if init.is_empty() { "ContainerCreating" } else { "PodInitializing" };
        let containers = spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .map(|c| ContainerStatus::new(&c.name, c.image.as_deref().unwrap_or_default(), main_reason))
            .collect();
        PodStatusModel {
            phase: Phase::Pending,
            reason: None,
            message: None,
            start_time: now(),
            host_ip: host_ip.to_owned(),
            init,
            containers,
            transitions: HashMap::new(),
            last_written: None,
        }
    }

    fn initialized(&self) -> bool {
        self.init.iter().all(ContainerStatus::succeeded)
    }

    fn condition(
        &mut self,
        type_: &'static str,
        status: bool,
        reason: Option<String>,
        message: Option<String>,
    ) -> Value {
        let entry = self.transitions.entry(type_).or_insert_with(|| (status, now()));
        if entry.0 != status {
            *entry = (status, now());
        }
        let mut c = json!({
            "type": type_,
            "status": if status { "True" } else { "False" },
            "lastProbeTime": null,
            "lastTransitionTime": entry.1,
        });
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
        c
    }

    /// The `status` object (complete lists, for a merge patch).
    pub fn to_json(&mut self) -> Value {
        let terminal = self.phase.is_terminal();
        let initialized = self.initialized() || (terminal && self.containers.iter().any(|c| c.started));
        let unready: Vec<String> =
            self.containers.iter().filter(|c| !c.ready).map(|c| c.name.clone()).collect();
        let uninitialized: Vec<String> =
            self.init.iter().filter(|c| !c.succeeded()).map(|c| c.name.clone()).collect();
        let ready = unready.is_empty() && !terminal;
        let (ready_reason, ready_message) = if terminal {
            (Some("PodCompleted".to_owned()), None)
        } else if ready {
            (None, None)
        } else {
            (
                Some("ContainersNotReady".to_owned()),
                Some(format!("containers with unready status: [{}]", unready.join(" "))),
            )
        };
        let (init_reason, init_message) = if initialized {
            (terminal.then(|| "PodCompleted".to_owned()), None)
        } else {
            (
                Some("ContainersNotInitialized".to_owned()),
                Some(format!("containers with incomplete status: [{}]", uninitialized.join(" "))),
            )
        };
        let conditions = vec![
            self.condition("PodScheduled", true, None, None),
            self.condition("Initialized", initialized, init_reason, init_message),
            self.condition("ContainersReady", ready, ready_reason.clone(), ready_message.clone()),
            self.condition("Ready", ready, ready_reason, ready_message),
        ];
        json!({
            "phase": self.phase.as_str(),
            "reason": self.reason,
            "message": self.message,
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "podIP": self.host_ip,
            "podIPs": [{"ip": self.host_ip}],
            "startTime": self.start_time,
            "conditions": conditions,
            "initContainerStatuses": self.init.iter().map(ContainerStatus::to_json).collect::<Vec<_>>(),
            "containerStatuses": self.containers.iter().map(ContainerStatus::to_json).collect::<Vec<_>>(),
        })
    }

    /// Writes the status unless it is unchanged since the last write. Retries API errors a few
    /// times; returns `false` when the pod no longer exists.
    pub async fn write(&mut self, api: &Api<Pod>, name: &str) -> bool {
        let status = self.to_json();
        if self.last_written.as_ref() == Some(&status) {
            return true;
        }
        let exists = patch_status(api, name, json!({ "status": status.clone() })).await;
        self.last_written = Some(status);
        exists
    }
}

/// Merge-patches the status of pod `name`, retrying API errors a few times. `false` when the pod
/// is gone.
pub async fn patch_status(api: &Api<Pod>, name: &str, patch: Value) -> bool {
    const ATTEMPTS: u32 = 5;
    for attempt in 1..=ATTEMPTS {
        match api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => return true,
            Err(kube::Error::Api(s)) if s.code == 404 => return false,
            Err(e) => {
                warn!(error = %e, attempt, "writing pod status failed");
                if attempt < ATTEMPTS {
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_prefers_the_termination_file() {
        let msg = termination_message(b"boom\n", 1, Some("FallbackToLogsOnError"), b"log line\n");
        assert_eq!(msg.as_deref(), Some("boom\n"));
        assert_eq!(termination_message(b"done", 0, None, b"").as_deref(), Some("done"));
    }

    #[test]
    fn message_falls_back_to_logs_only_on_error_with_the_policy() {
        let log = b"one\ntwo\n";
        assert_eq!(
            termination_message(b"", 2, Some("FallbackToLogsOnError"), log).as_deref(),
            Some("one\ntwo\n")
        );
        assert_eq!(termination_message(b"", 0, Some("FallbackToLogsOnError"), log), None);
        assert_eq!(termination_message(b"", 2, Some("File"), log), None);
        assert_eq!(termination_message(b"", 2, None, log), None);
        assert_eq!(termination_message(b"", 2, Some("FallbackToLogsOnError"), b""), None);
    }

    #[test]
    fn message_file_is_truncated_to_4k() {
        let big = vec![b'a'; 10_000];
        let msg = termination_message(&big, 1, None, b"").unwrap_or_default();
        assert_eq!(msg.len(), MAX_MESSAGE_BYTES);
        // A multi-byte character cut in half is dropped, not mangled.
        let mut odd = vec![b'a'; MAX_MESSAGE_BYTES - 1];
        odd.extend("é".as_bytes());
        let msg = termination_message(&odd, 1, None, b"").unwrap_or_default();
        assert_eq!(msg.len(), MAX_MESSAGE_BYTES - 1);
    }

    #[test]
    fn log_tail_keeps_the_last_80_lines_and_2k() {
        let log: String = (1..=200).map(|i| format!("line {i}\n")).collect();
        let tail = log_tail(log.as_bytes(), MAX_LOG_LINES, 100_000);
        assert!(tail.starts_with("line 121\n"));
        assert!(tail.ends_with("line 200\n"));
        assert_eq!(tail.lines().count(), 80);
        let long: String = (1..=50).map(|i| format!("{i:0>100}\n")).collect();
        let tail = log_tail(long.as_bytes(), MAX_LOG_LINES, MAX_LOG_BYTES);
        assert_eq!(tail.len(), MAX_LOG_BYTES);
        assert!(tail.ends_with(&format!("{:0>100}\n", 50)));
        assert_eq!(log_tail("ééé".as_bytes(), 80, 3), "é");
    }

    #[test]
    fn status_json_reports_conditions_and_states() {
        let pod = Pod {
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                containers: vec![k8s_openapi::api::core::v1::Container {
                    name: "main".into(),
                    image: Some("img".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut model = PodStatusModel::new(&pod, "127.0.0.1");
        let s = model.to_json();
        assert_eq!(s["phase"], "Pending");
        assert_eq!(s["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
        model.phase = Phase::Running;
        model.containers[0].state = State::Running { started_at: now() };
        model.containers[0].ready = true;
        let s = model.to_json();
        assert_eq!(s["conditions"][3]["type"], "Ready");
        assert_eq!(s["conditions"][3]["status"], "True");
        model.phase = Phase::Failed;
        model.containers[0].ready = false;
        model.containers[0].state = State::Terminated(Terminated {
            exit_code: 137,
            signal: Some(9),
            reason: "Error".into(),
            message: Some("boom".into()),
            started_at: None,
            finished_at: now(),
            container_id: Some("harness://1".into()),
        });
        let s = model.to_json();
        assert_eq!(s["conditions"][3]["status"], "False");
        assert_eq!(s["conditions"][3]["reason"], "PodCompleted");
        let t = &s["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(t["exitCode"], 137);
        assert_eq!(t["signal"], 9);
        assert_eq!(t["message"], "boom");
    }
}
