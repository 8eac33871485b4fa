//! Test-only pod harness: stands in for a kubelet (and a scheduler and a container runtime) on a
//! local control plane that has neither, so that Jobs really run.
//!
//! It registers one `Node` (deleted again when the harness stops), binds unscheduled pods to it, and runs each pod's containers as host
//! processes: a clean environment like the kubelet builds, volumes materialised as host
//! directories and bind-mounted at their `mountPath` in a private mount namespace, run as the
//! pod's (non-root) user with its memory limit and probes, pod status written like the kubelet
//! writes it, graceful deletion honoured. The binary is `pod-harness`.
//! Never use any of this outside tests: the harness runs as root, and its pods share the host's
//! network, processes and filesystem (only mounts, user and memory are per container).
//!
//! - [`node`]: the `Node` object and its heartbeat.
//! - [`logs`]: the kubelet's HTTPS API for container logs (`kubectl logs` through the apiserver).
//! - [`scheduler`]: binding pods to the node.
//! - [`services`]: a stand-in for kube-proxy: Service ClusterIPs (loopback) forwarded to pods.
//! - [`pod`]: the life of one pod (containers, restarts, deletion).
//! - [`env`]: container environment, `$(VAR)` expansion, downward API.
//! - [`volumes`]: volumes as host directories; service-account tokens.
//! - [`mounts`]: the mount namespace of a container.
//! - [`ownership`]: volume file modes and `fsGroup`.
//! - [`user`]: the UID/GID/groups a container runs as, `runAsNonRoot`.
//! - [`privileges`]: joining the cgroup and dropping root in the child, after the mounts.
//! - [`cgroup`]: the memory cgroup of a container (`limits.memory`, `OOMKilled`).
//! - [`probe`]: startup, readiness and liveness probes.
//! - [`events`]: the Events the kubelet records (`Unhealthy`, `Killing`, `Failed`).
//! - [`process`]: command resolution, spawning, signals.
//! - [`status`]: pod status and termination messages.
//! - [`quantity`]: resource quantities for `resourceFieldRef` and memory limits.

pub mod cgroup;
pub mod env;
pub mod events;
pub mod logs;
pub mod mounts;
pub mod node;
pub mod ownership;
pub mod pod;
pub mod privileges;
pub mod probe;
pub mod process;
pub mod quantity;
pub mod scheduler;
pub mod services;
pub mod status;
pub mod user;
pub mod volumes;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{Instrument, info, info_span, warn};

use self::pod::{AbortOnDrop, Control};
pub use self::process::ImageEntrypoint;
pub use self::user::ImageUser;

/// Annotation the harness puts on each pod it runs: the directory with its logs and volumes.
pub const LOG_DIR_ANNOTATION: &str = "harness.strimzi-backup.dev/log-dir";

/// How the harness is set up (see the `pod-harness` binary for the flags).
#[derive(Debug, Clone)]
pub struct HarnessConfig {
    pub node_name: String,
    /// Per-pod directories: `<state-dir>/pods/<namespace>/<pod>/`.
    pub state_dir: PathBuf,
    /// Where our built binaries live; a command whose file name exists here runs from here.
    pub bin_dir: Option<PathBuf>,
    pub image_entrypoints: Vec<ImageEntrypoint>,
    /// Which user an image runs as when the pod does not say ([`user`]).
    pub image_users: Vec<ImageUser>,
    /// What pods get as `KUBERNETES_SERVICE_HOST` / `_PORT`.
    pub apiserver_host: String,
    pub apiserver_port: u16,
    /// Host directory backing PersistentVolumeClaims: `<pvc-root>/<namespace>/<claim>`.
    pub pvc_root: PathBuf,
    /// The apiserver CA (PEM), written as `ca.crt` of the service-account volume.
    pub ca_crt: Vec<u8>,
    /// Longest wait between SIGTERM and SIGKILL when the harness stops.
    pub shutdown_grace: Duration,
    /// The container-log server (the kubelet API the apiserver proxies `pods/log` to); `None`:
    /// no server, and the node advertises kubelet port 0.
    pub log_server: Option<logs::LogServerConfig>,
    /// Serve Service ClusterIPs (in 127.0.0.0/8) for this node's pods ([`services`]).
    pub service_proxy: bool,
}

/// What every pod task shares.
pub struct Ctx {
    pub client: Client,
    pub cfg: HarnessConfig,
    /// Container attempts running now (the log server's followers stop when theirs left).
    pub running: Arc<logs::Running>,
}

struct Tracked {
    namespace: String,
    name: String,
    control: watch::Sender<Control>,
    task: tokio::task::JoinHandle<()>,
    /// Turns true once `task` returned: then a deletion is confirmed ([`Dispatcher::spawn_confirm`]).
    done: watch::Receiver<bool>,
}

struct Dispatcher {
    ctx: Arc<Ctx>,
    /// Pods this harness runs (or ran), by uid; kept until the pod object is gone.
    pods: HashMap<String, Tracked>,
    /// Uids whose deletion is confirmed (grace 0) or being confirmed.
    confirmed: HashSet<String>,
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn deletion_grace(pod: &Pod) -> Duration {
    let secs = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30);
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

impl Dispatcher {
    fn on_pod(&mut self, pod: Pod, startup: bool) {
        let uid = uid_of(&pod);
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        if scheduler::wants_scheduling(&pod) {
            let client = self.ctx.client.clone();
            let uid = pod.metadata.uid.clone();
            tokio::spawn(scheduler::bind(client, ns, name, uid, self.ctx.cfg.node_name.clone()));
            return;
        }
        if node != self.ctx.cfg.node_name {
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            // A pod running here stops its containers and writes its final status first.
            let running = self.pods.get(&uid).map(|t| {
                let grace = deletion_grace(&pod);
                t.control.send_if_modified(|c| {
                    if *c == Control::Run {
                        *c = Control::Delete { grace };
                        true
                    } else {
                        false
                    }
                });
                t.done.clone()
            });
            if self.confirmed.insert(uid.clone()) {
                if running.is_none() {
                    info!(namespace = %ns, name = %name, "pod being deleted and not running here: confirming deletion");
                }
                self.spawn_confirm(ns, name, uid, running);
            }
            return;
        }
        if self.pods.contains_key(&uid) {
            return;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        if startup {
            kill_leftovers(&pod);
        }
        match phase.as_str() {
            "" | "Pending" => self.start(pod, uid, ns, name),
            "Running" if startup => {
                let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
                let span = info_span!("pod", namespace = %ns, name = %name);
                tokio::spawn(mark_lost(api, pod).instrument(span));
            }
            _ => {}
        }
    }

    fn start(&mut self, pod: Pod, uid: String, namespace: String, name: String) {
        let (control, rx) = watch::channel(Control::Run);
        let (finished, done) = watch::channel(false);
        let span = info_span!("pod", namespace = %namespace, name = %name);
        let run = pod::run_pod(self.ctx.clone(), pod, rx).instrument(span);
        let task = tokio::spawn(async move {
            run.await;
            finished.send_replace(true);
        });
        self.pods.insert(uid, Tracked { namespace, name, control, task, done });
    }

    /// Confirms a pod's deletion (deletes it with grace 0) once the task running it, if any, has
    /// returned (`done`): its containers stopped and its final status written. The one place a
    /// deletion is confirmed: when the task confirmed it itself, a deletion that came while it
    /// was already writing a terminal status was never confirmed, and the pod stayed
    /// terminating for ever, holding its namespace.
    fn spawn_confirm(
        &self,
        namespace: String,
        name: String,
        uid: String,
        done: Option<watch::Receiver<bool>>,
    ) {
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &namespace);
        let span = info_span!("pod", namespace = %namespace, name = %name);
        let confirm = async move {
            if let Some(mut done) = done {
                let _ = done.wait_for(|d| *d).await;
            }
            pod::confirm_deletion(&api, &name, &uid).await;
        };
        tokio::spawn(confirm.instrument(span));
    }

    fn on_gone(&mut self, uid: &str) {
        if let Some(t) = self.pods.remove(uid)
            && !t.task.is_finished()
        {
            info!(namespace = %t.namespace, name = %t.name, "pod object disappeared: killing its processes");
            t.control.send_replace(Control::Gone);
        }
        self.confirmed.remove(uid);
    }

    async fn shutdown(self) {
        let grace = self.ctx.cfg.shutdown_grace;
        let mut running = Vec::new();
        for (_, t) in self.pods {
            if !t.task.is_finished() {
                t.control.send_if_modified(|c| {
                    if matches!(c, Control::Run | Control::Delete { .. }) {
                        *c = Control::Shutdown;
                        true
                    } else {
                        false
                    }
                });
                running.push((t.namespace, t.name, t.task, t.control));
            }
        }
        info!(pods = running.len(), "stopping the pods' processes");
        for (ns, name, task, _control) in running {
            if tokio::time::timeout(grace + Duration::from_secs(5), task).await.is_err() {
                warn!(namespace = %ns, name = %name, "pod task did not stop in time");
            }
        }
    }
}

/// Kills the processes an earlier harness process started for `pod` and left behind (it was
/// killed without stopping its pods): every process group named by a `harness://<pid>`
/// container ID whose members' environment names the pod (`HOSTNAME=<pod>`).
fn kill_leftovers(pod: &Pod) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let needle = format!("HOSTNAME={name}");
    let Some(status) = pod.status.as_ref() else { return };
    let pgids: Vec<u32> = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .filter_map(|c| c.container_id.as_deref()?.strip_prefix("harness://")?.parse().ok())
        .collect();
    if pgids.is_empty() {
        return;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    let mut found = HashSet::new();
    for pid in entries.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // Fields after the command name: state, ppid, pgrp, ...
        let pgrp =
            stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok());
        let Some(pgrp) = pgrp.filter(|g| pgids.contains(g)) else { continue };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if environ.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            found.insert(pgrp);
        }
    }
    for pgid in found {
        if process::signal_group(pgid, libc::SIGKILL) {
            warn!(pgid, pod = %name, "killed processes an earlier pod-harness left running");
        }
    }
}

/// Marks a pod that was running when an earlier harness process stopped as Failed.
async fn mark_lost(api: Api<Pod>, pod: Pod) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let message = "pod-harness restarted while the container ran";
    let now = status::now();
    let statuses: Vec<Value> = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|cs| {
            let mut v = serde_json::to_value(&cs).unwrap_or(Value::Null);
            if let Some(running) = cs.state.as_ref().and_then(|s| s.running.as_ref()) {
                v["state"] = json!({"terminated": {
                    "exitCode": 137, "reason": "Error", "message": message,
                    "startedAt": running.started_at.as_ref().map(|t| t.0.to_string()),
                    "finishedAt": now,
                    "containerID": cs.container_id,
                }});
            }
            v["ready"] = json!(false);
            v
        })
        .filter(|v| !v.is_null())
        .collect();
    let patch = json!({"status": {
        "phase": "Failed",
        "reason": "NodeLost",
        "message": message,
        "containerStatuses": statuses,
    }});
    warn!("{message}: marking the pod Failed");
    status::patch_status(&api, &name, patch).await;
}

/// Runs the harness until `shutdown` completes, then stops its pods' processes.
pub async fn run(
    client: Client,
    cfg: HarnessConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut shutdown = pin!(shutdown);
    // Bound before the node advertises the port, so that a taken port fails the start.
    let log_server = match &cfg.log_server {
        Some(c) => Some(logs::LogServer::bind(c).await.context("starting the container-log server")?),
        None => None,
    };
    let kubelet_port = log_server.as_ref().map(logs::LogServer::port).unwrap_or(0);
    // The apiserver may still be starting: retry registration for a while.
    let mut attempt = 0u32;
    loop {
        tokio::select! {
            r = node::register(&client, &cfg.node_name, kubelet_port) => match r {
                Ok(()) => break,
                Err(e) if attempt < 30 => {
                    attempt += 1;
                    warn!(error = %e, attempt, "registering the node failed; retrying");
                }
                Err(e) => return Err(e.context("registering the node")),
            },
            _ = &mut shutdown => return Ok(()),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    std::fs::create_dir_all(cfg.state_dir.join("pods"))?;
    std::fs::create_dir_all(&cfg.pvc_root)?;

    let _heartbeat = AbortOnDrop(tokio::spawn(node::keep_alive(
        client.clone(),
        cfg.node_name.clone(),
        kubelet_port,
        Duration::from_secs(30),
    )));
    let running = Arc::new(logs::Running::default());
    let _log_server = log_server.map(|server| {
        AbortOnDrop(tokio::spawn(server.run(
            client.clone(),
            cfg.node_name.clone(),
            cfg.state_dir.join("pods"),
            running.clone(),
        )))
    });
    let service_proxy = cfg
        .service_proxy
        .then(|| AbortOnDrop(tokio::spawn(services::run(client.clone(), cfg.node_name.clone()))));
    let ctx = Arc::new(Ctx { client: client.clone(), cfg, running });
    let mut dispatcher = Dispatcher { ctx, pods: HashMap::new(), confirmed: HashSet::new() };

    let mut events = pin!(watcher(Api::<Pod>::all(client), watcher::Config::default()).default_backoff());
    let mut startup = true;
    let mut listed: HashSet<String> = HashSet::new();
    info!("watching pods");
    loop {
        let event = tokio::select! {
            _ = &mut shutdown => break,
            e = events.next() => e,
        };
        match event {
            None => {
                warn!("pod watch ended");
                break;
            }
            Some(Err(e)) => warn!(error = %e, "pod watch failed; retrying with back-off"),
            Some(Ok(watcher::Event::Init)) => listed.clear(),
            Some(Ok(watcher::Event::InitApply(pod))) => {
                listed.insert(uid_of(&pod));
                dispatcher.on_pod(pod, startup);
            }
            Some(Ok(watcher::Event::InitDone)) => {
                // Tracked pods missing from a fresh listing were deleted while the watch was down.
                let gone: Vec<String> =
                    dispatcher.pods.keys().filter(|u| !listed.contains(*u)).cloned().collect();
                for uid in gone {
                    dispatcher.on_gone(&uid);
                }
                listed.clear();
                startup = false;
            }
            Some(Ok(watcher::Event::Apply(pod))) => dispatcher.on_pod(pod, false),
            Some(Ok(watcher::Event::Delete(pod))) => dispatcher.on_gone(&uid_of(&pod)),
        }
    }
    let node_name = dispatcher.ctx.cfg.node_name.clone();
    let client = dispatcher.ctx.client.clone();
    // Listeners first: no new connections to pods that are stopping.
    drop(service_proxy);
    dispatcher.shutdown().await;
    node::deregister(&client, &node_name).await;
    info!("pod harness stopped");
    Ok(())
}
