//! Test-only code that stands in for a kubelet: the life of one pod on the harness's node.
//!
//! Volumes first (retried every 2 s while a secret, config map or service account is missing),
//! then the init containers one after the other (each must exit 0), then the one main container.
//! `restartPolicy` `OnFailure` / `Always` restart a container with exponential back-off (1 s, 2 s,
//! 4 s ... 30 s). A graceful deletion sends SIGTERM to the process group, SIGKILL after
//! `terminationGracePeriodSeconds` and writes the final status; the dispatcher then deletes the
//! pod with grace 0.
//!
//! Each container runs as its pod's user ([`super::user`]; a refused one waits in
//! `CreateContainerConfigError` like on a kubelet), in a memory cgroup with its
//! `limits.memory` ([`super::cgroup`]; an OOM kill is reported `OOMKilled`), probed
//! ([`super::probe`]: `started` and `ready` follow the startup and readiness probes, a failed
//! liveness or startup probe kills the container, which restarts per `restartPolicy`, with the
//! kubelet's `Unhealthy` and `Killing` events). Lifecycle hooks and sidecar init containers are
//! not implemented.
//!
//! A container's stdout and stderr go to one log file per container (`<container>.log`, every
//! attempt appended in turn); each attempt is recorded in `<container>.attempts` for the log
//! server ([`super::logs`]), which serves them to `kubectl logs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::cgroup::MemoryCgroup;
use super::env::{self, ContainerEnv, PodFacts};
use super::events::Recorder;
use super::logs;
use super::mounts::{self, MountPlan};
use super::privileges::Privileges;
use super::probe::{self, ProbeEvent};
use super::process;
use super::quantity;
use super::status::{self, Phase, PodStatusModel, State, Terminated, now};
use super::user::{self, Identity};
use super::volumes::{self, ApiSource, PodVolumes, PrepError, VolumeContext};
use super::{Ctx, LOG_DIR_ANNOTATION};

/// What the dispatcher tells a pod task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Keep running.
    Run,
    /// Graceful deletion: SIGTERM, SIGKILL after `grace`, final status (the dispatcher then
    /// deletes the pod with grace 0).
    Delete { grace: Duration },
    /// The pod object is gone (force-deleted): kill at once, write nothing.
    Gone,
    /// The harness stops: kill (SIGTERM, then SIGKILL after the shutdown grace).
    Shutdown,
}

/// Aborts a task when dropped.
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Init(usize),
    Main(usize),
}

enum Outcome {
    /// The pod reached a terminal phase (status written).
    Finished,
    /// The dispatcher stopped the pod.
    Stopped(Control),
}

enum ContainerExit {
    Exited(Terminated),
    Stopped(Control),
}

/// Waits until the control is anything but `Run`.
async fn stop_requested(ctl: &mut watch::Receiver<Control>) -> Control {
    loop {
        let current = ctl.borrow_and_update().clone();
        if current != Control::Run {
            return current;
        }
        if ctl.changed().await.is_err() {
            return Control::Shutdown;
        }
    }
}

/// Waits until the control is `Gone`.
async fn gone_requested(ctl: &mut watch::Receiver<Control>) {
    loop {
        if *ctl.borrow_and_update() == Control::Gone {
            return;
        }
        if ctl.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Runs `pod` until it is terminal, deleted or the harness stops.
pub async fn run_pod(ctx: Arc<Ctx>, pod: Pod, ctl: watch::Receiver<Control>) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let root = ctx.cfg.state_dir.join("pods").join(&ns).join(&name);
    let facts = PodFacts {
        node_name: ctx.cfg.node_name.clone(),
        host_ip: "127.0.0.1".to_owned(),
        apiserver_host: ctx.cfg.apiserver_host.clone(),
        apiserver_port: ctx.cfg.apiserver_port,
    };
    let mut runner = Runner {
        api: Api::namespaced(ctx.client.clone(), &ns),
        events: Recorder::new(&ctx.client, &pod, &ctx.cfg.node_name),
        status: PodStatusModel::new(&pod, &facts.host_ip),
        restart_policy: pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".to_owned()),
        ctx,
        pod,
        ns,
        name,
        root,
        facts,
        ctl,
        last_config_error: None,
    };
    info!("starting pod");
    match runner.lifecycle().await {
        Outcome::Finished => info!(phase = runner.status.phase.as_str(), "pod finished"),
        Outcome::Stopped(Control::Delete { .. }) => runner.finish_deleted().await,
        Outcome::Stopped(Control::Gone) => info!("pod object gone; processes killed"),
        Outcome::Stopped(Control::Shutdown) => runner.finish_shutdown().await,
        Outcome::Stopped(Control::Run) => {}
    }
}

struct Runner {
    ctx: Arc<Ctx>,
    pod: Pod,
    api: Api<Pod>,
    ns: String,
    name: String,
    /// `<state-dir>/pods/<namespace>/<pod>`.
    root: PathBuf,
    facts: PodFacts,
    ctl: watch::Receiver<Control>,
    status: PodStatusModel,
    restart_policy: String,
    last_config_error: Option<String>,
    events: Recorder,
}

/// One started container instance.
struct Started {
    child: Child,
    termination_file: PathBuf,
    log: PathBuf,
    log_start: u64,
    cgroup: Option<MemoryCgroup>,
    privileges: Privileges,
}

/// How waiting for a running container ended.
enum Wait {
    Exited(std::io::Result<std::process::ExitStatus>),
    Stopped(std::io::Result<std::process::ExitStatus>, Control),
}

impl Runner {
    fn uid(&self) -> String {
        self.pod.metadata.uid.clone().unwrap_or_default()
    }

    fn containers(&self, which: Which) -> Option<&Container> {
        let spec = self.pod.spec.as_ref()?;
        match which {
            Which::Init(i) => spec.init_containers.as_ref()?.get(i),
            Which::Main(i) => spec.containers.get(i),
        }
    }

    fn cstatus(&mut self, which: Which) -> Option<&mut status::ContainerStatus> {
        match which {
            Which::Init(i) => self.status.init.get_mut(i),
            Which::Main(i) => self.status.containers.get_mut(i),
        }
    }

    async fn write(&mut self) -> bool {
        self.status.write(&self.api, &self.name).await
    }

    /// The current control, if it asks to stop.
    fn pending_stop(&mut self) -> Option<Control> {
        let c = self.ctl.borrow_and_update().clone();
        (c != Control::Run).then_some(c)
    }

    /// Sleeps `d` unless a stop is requested first.
    async fn pause(&mut self, d: Duration) -> Option<Control> {
        tokio::select! {
            _ = tokio::time::sleep(d) => None,
            c = stop_requested(&mut self.ctl) => Some(c),
        }
    }

    /// Fails the pod before anything ran.
    async fn fail_pod(&mut self, reason: &str, message: String) {
        warn!(reason, detail = %message, "pod cannot run");
        self.status.phase = Phase::Failed;
        self.status.reason = Some(reason.to_owned());
        self.status.message = Some(message.clone());
        for c in self.status.init.iter_mut().chain(self.status.containers.iter_mut()) {
            if !matches!(c.state, State::Terminated(_)) {
                c.state = State::Terminated(Terminated {
                    exit_code: 128,
                    signal: None,
                    reason: "StartError".to_owned(),
                    message: Some(message.clone()),
                    started_at: None,
                    finished_at: now(),
                    container_id: None,
                });
            }
        }
        self.write().await;
    }

    fn validate(&self) -> Result<(), String> {
        let spec = self.pod.spec.as_ref().ok_or("pod has no spec")?;
        if spec.containers.len() != 1 {
            let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "pod-harness runs exactly one main container per pod; this pod has {}: [{}]",
                names.len(),
                names.join(", ")
            ));
        }
        if let Some(c) =
            spec.init_containers.iter().flatten().find(|c| c.restart_policy.as_deref() == Some("Always"))
        {
            return Err(format!(
                "init container {:?} is a sidecar (restartPolicy: Always), which pod-harness does not support",
                c.name
            ));
        }
        Ok(())
    }

    /// Creates the pod's directories; wipes volumes left by an earlier pod of the same name.
    fn prepare_dirs(&self) -> std::io::Result<()> {
        let uid_file = self.root.join("uid");
        let previous = std::fs::read_to_string(&uid_file).unwrap_or_default();
        if previous != self.uid() {
            for sub in ["volumes", "termination"] {
                let d = self.root.join(sub);
                if d.exists() {
                    std::fs::remove_dir_all(&d)?;
                }
            }
        }
        std::fs::create_dir_all(self.root.join("volumes"))?;
        std::fs::create_dir_all(self.root.join("termination"))?;
        std::fs::write(uid_file, self.uid())
    }

    async fn annotate_log_dir(&self) {
        let patch =
            json!({"metadata": {"annotations": {LOG_DIR_ANNOTATION: self.root.display().to_string()}}});
        if let Err(e) = self.api.patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            warn!(error = %e, "cannot annotate the pod with its log directory");
        }
    }

    async fn lifecycle(&mut self) -> Outcome {
        if let Some(c) = self.pending_stop() {
            return Outcome::Stopped(c);
        }
        if let Err(m) = self.validate() {
            self.fail_pod("Unsupported", m).await;
            return Outcome::Finished;
        }
        if let Err(e) = self.prepare_dirs() {
            self.fail_pod("HarnessError", format!("cannot create {}: {e}", self.root.display())).await;
            return Outcome::Finished;
        }
        self.annotate_log_dir().await;
        self.write().await;

        let volumes = loop {
            let ctx = self.ctx.clone();
            let volumes_dir = self.root.join("volumes");
            let cx = VolumeContext {
                client: &ctx.client,
                pod: &self.pod,
                facts: &self.facts,
                dir: &volumes_dir,
                pvc_root: &ctx.cfg.pvc_root,
                ca_crt: &ctx.cfg.ca_crt,
            };
            let mut source = ApiSource::new(&ctx.client, &self.ns);
            match volumes::materialise(&cx, &mut source).await {
                Ok(v) => break v,
                Err(PrepError::Fatal(m)) => {
                    self.fail_pod("Unsupported", m).await;
                    return Outcome::Finished;
                }
                Err(PrepError::Wait(m)) => {
                    if self.last_config_error.as_ref() != Some(&m) {
                        warn!(detail = %m, "volumes not ready; retrying every 2s");
                        self.last_config_error = Some(m.clone());
                    }
                    for c in self.status.init.iter_mut().chain(self.status.containers.iter_mut()) {
                        c.state = State::Waiting {
                            reason: "ContainerCreating".to_owned(),
                            message: Some(m.clone()),
                        };
                    }
                    self.write().await;
                    if let Some(c) = self.pause(Duration::from_secs(2)).await {
                        return Outcome::Stopped(c);
                    }
                }
            }
        };
        self.last_config_error = None;
        let _refresher = AbortOnDrop(tokio::spawn(volumes::refresh_tokens(
            self.ctx.client.clone(),
            self.pod.clone(),
            volumes.service_account.clone(),
            volumes.tokens.clone(),
        )));
        let _sources = AbortOnDrop(tokio::spawn(volumes::refresh_sources(
            self.ctx.client.clone(),
            self.pod.clone(),
            self.root.join("volumes"),
        )));

        let init_count = self.status.init.len();
        for i in 0..init_count {
            loop {
                match self.run_container(Which::Init(i), &volumes).await {
                    ContainerExit::Stopped(c) => return Outcome::Stopped(c),
                    ContainerExit::Exited(t) if t.exit_code == 0 => break,
                    ContainerExit::Exited(_) if self.restart_policy == "Never" => {
                        self.status.phase = Phase::Failed;
                        self.write().await;
                        return Outcome::Finished;
                    }
                    ContainerExit::Exited(_) => {
                        if let Some(c) = self.back_off(Which::Init(i)).await {
                            return Outcome::Stopped(c);
                        }
                    }
                }
            }
        }
        for c in &mut self.status.containers {
            if matches!(&c.state, State::Waiting { reason, .. } if reason == "PodInitializing") {
                c.state = State::Waiting { reason: "ContainerCreating".to_owned(), message: None };
            }
        }

        loop {
            match self.run_container(Which::Main(0), &volumes).await {
                ContainerExit::Stopped(c) => return Outcome::Stopped(c),
                ContainerExit::Exited(t) => {
                    let restart = match self.restart_policy.as_str() {
                        "Never" => false,
                        "OnFailure" => t.exit_code != 0,
                        _ => true,
                    };
                    if !restart {
                        self.status.phase = if t.exit_code == 0 { Phase::Succeeded } else { Phase::Failed };
                        self.write().await;
                        return Outcome::Finished;
                    }
                    if let Some(c) = self.back_off(Which::Main(0)).await {
                        return Outcome::Stopped(c);
                    }
                }
            }
        }
    }

    /// Waits before restarting a container (CrashLoopBackOff), then counts the restart.
    async fn back_off(&mut self, which: Which) -> Option<Control> {
        let pod_ref = format!("{}_{}({})", self.name, self.ns, self.uid());
        let cs = self.cstatus(which)?;
        let delay = Duration::from_secs(1u64 << cs.restart_count.clamp(0, 5)).min(Duration::from_secs(30));
        if let State::Terminated(t) = &cs.state {
            cs.last_state = Some(t.clone());
        }
        cs.state = State::Waiting {
            reason: "CrashLoopBackOff".to_owned(),
            message: Some(format!(
                "back-off {}s restarting failed container={} pod={pod_ref}",
                delay.as_secs(),
                cs.name
            )),
        };
        cs.ready = false;
        cs.started = false;
        info!(container = %cs.name, delay_s = delay.as_secs(), "restarting container after back-off");
        self.write().await;
        if let Some(c) = self.pause(delay).await {
            return Some(c);
        }
        if let Some(cs) = self.cstatus(which) {
            cs.restart_count += 1;
        }
        None
    }

    /// Runs one instance of a container to its end (or until stopped).
    async fn run_container(&mut self, which: Which, volumes: &PodVolumes) -> ContainerExit {
        let Some(container) = self.containers(which).cloned() else {
            return ContainerExit::Stopped(Control::Gone);
        };
        if let Some(c) = self.pending_stop() {
            return ContainerExit::Stopped(c);
        }
        let (env, identity) = loop {
            let mut source = ApiSource::new(&self.ctx.client, &self.ns);
            let resolved = match env::container_env(&mut source, &self.pod, &container, &self.facts).await {
                Ok(env) => {
                    user::resolve(&self.pod, &container, &self.ctx.cfg.image_users).map(|id| (env, id))
                }
                Err(m) => Err(m),
            };
            match resolved {
                Ok(ok) => break ok,
                Err(m) => {
                    if self.last_config_error.as_ref() != Some(&m) {
                        self.events
                            .record(&container.name, "Warning", "Failed", &format!("Error: {m}"))
                            .await;
                    }
                    if self.last_config_error.as_ref() != Some(&m) {
                        warn!(container = %container.name, detail = %m, "CreateContainerConfigError; retrying every 2s");
                        self.last_config_error = Some(m.clone());
                    }
                    if let Some(cs) = self.cstatus(which) {
                        cs.state = State::Waiting {
                            reason: "CreateContainerConfigError".to_owned(),
                            message: Some(m),
                        };
                    }
                    self.write().await;
                    if let Some(c) = self.pause(Duration::from_secs(2)).await {
                        return ContainerExit::Stopped(c);
                    }
                }
            }
        };
        self.last_config_error = None;

        let started_at = now();
        let Started { mut child, termination_file, log, log_start, cgroup, privileges } =
            match self.start(&container, &env, &identity, volumes) {
                Ok(started) => started,
                Err(message) => {
                    warn!(container = %container.name, detail = %message, "container could not start");
                    let t = Terminated {
                        exit_code: 128,
                        signal: None,
                        reason: "StartError".to_owned(),
                        message: Some(message),
                        started_at: None,
                        finished_at: now(),
                        container_id: None,
                    };
                    if let Some(cs) = self.cstatus(which) {
                        cs.state = State::Terminated(t.clone());
                        cs.ready = false;
                    }
                    return ContainerExit::Exited(t);
                }
            };
        let pid = child.id().unwrap_or_default();
        let container_id = format!("harness://{pid}");
        info!(container = %container.name, pid, uid = identity.uid, gid = identity.gid, log = %log.display(), "container started");
        // Before the status names the container ID: the log server finds the attempt by it.
        if let Err(e) = logs::record_attempt(&self.root, &container.name, &self.uid(), pid, log_start) {
            warn!(container = %container.name, error = %e, "cannot record the attempt in the log index");
        }
        // Until this function returns, i.e. until the process exited: followers of its log stop then.
        let _running = self.ctx.running.enter(&log, pid);
        // Probes only exist on main containers (the API refuses them on init containers).
        let main = matches!(which, Which::Main(_));
        let has_startup = main && container.startup_probe.is_some();
        let has_probes = main
            && (has_startup || container.readiness_probe.is_some() || container.liveness_probe.is_some());
        if let Some(cs) = self.cstatus(which) {
            cs.state = State::Running { started_at: started_at.clone() };
            cs.container_id = Some(container_id.clone());
            cs.started = !has_startup;
            cs.ready = main && !has_startup && container.readiness_probe.is_none();
        }
        if main {
            self.status.phase = Phase::Running;
        }
        self.write().await;

        let (probe_tx, mut probe_rx) = mpsc::channel(16);
        let _probes = has_probes.then(|| {
            let target = probe::Target {
                container: container.clone(),
                pid,
                env: env.to_process_env(),
                path_var: env.effective("PATH").unwrap_or(env::DEFAULT_PATH).to_owned(),
                privileges: privileges.clone(),
            };
            AbortOnDrop(tokio::spawn(probe::run(std::sync::Arc::new(target), probe_tx)))
        });
        let waited =
            self.wait_running(&container, &mut child, pid, &mut probe_rx, cgroup.as_ref(), which).await;
        let (exit, stopped) = match waited {
            Wait::Exited(s) => (s, None),
            Wait::Stopped(s, c) => (s, Some(c)),
        };
        // Like a container runtime, nothing of the container outlives its main process.
        process::signal_group(pid, libc::SIGKILL);
        let oom_killed = cgroup.as_ref().is_some_and(MemoryCgroup::oom_killed);
        if let Some(cg) = cgroup {
            cg.remove().await;
        }

        let (exit_code, signal) = match exit {
            Ok(s) => process::exit_info(s),
            Err(e) => {
                warn!(container = %container.name, error = %e, "waiting for the container failed");
                (255, None)
            }
        };
        let file = read_head(&termination_file, status::MAX_MESSAGE_BYTES + 4);
        let log_tail = read_tail(&log, log_start, 64 * 1024);
        let message = status::termination_message(
            &file,
            exit_code,
            container.termination_message_policy.as_deref(),
            &log_tail,
        );
        let reason = match (oom_killed, exit_code) {
            (true, _) => "OOMKilled",
            (false, 0) => "Completed",
            (false, _) => "Error",
        };
        let t = Terminated {
            exit_code,
            signal,
            reason: reason.to_owned(),
            message,
            started_at: Some(started_at),
            finished_at: now(),
            container_id: Some(container_id),
        };
        info!(container = %container.name, pid, exit_code, signal, reason, "container exited");
        if let Some(cs) = self.cstatus(which) {
            cs.state = State::Terminated(t.clone());
            cs.ready = false;
        }
        match stopped {
            Some(c) => ContainerExit::Stopped(c),
            None => ContainerExit::Exited(t),
        }
    }

    /// Waits until the container exits, is stopped by the dispatcher or killed after a failed
    /// liveness / startup probe; follows the probes' results meanwhile.
    async fn wait_running(
        &mut self,
        container: &Container,
        child: &mut Child,
        pid: u32,
        probes: &mut mpsc::Receiver<ProbeEvent>,
        cgroup: Option<&MemoryCgroup>,
        which: Which,
    ) -> Wait {
        let name = container.name.as_str();
        loop {
            let event = tokio::select! {
                s = child.wait() => return Wait::Exited(s),
                () = oom_kill(cgroup) => {
                    // Like cgroup v2's memory.oom.group (the kubelet's default since 1.28): an
                    // OOM kill of one process ends the whole container.
                    warn!(container = name, pid, "OOM killer struck the container: killing it");
                    process::signal_group(pid, libc::SIGKILL);
                    if let Some(cg) = cgroup {
                        cg.kill_all();
                    }
                    return Wait::Exited(child.wait().await);
                }
                c = stop_requested(&mut self.ctl) => {
                    let grace = match &c {
                        Control::Delete { grace } => *grace,
                        Control::Shutdown => self.grace_period().min(self.ctx.cfg.shutdown_grace),
                        _ => Duration::ZERO,
                    };
                    info!(container = name, pid, grace_s = grace.as_secs(), reason = ?c, "stopping container");
                    return Wait::Stopped(terminate(child, pid, grace, &mut self.ctl).await, c);
                }
                // Without probes the sender is gone: `None` disables this branch.
                Some(e) = probes.recv() => e,
            };
            match event {
                ProbeEvent::Started => {
                    if let Some(cs) = self.cstatus(which) {
                        cs.started = true;
                    }
                    self.write().await;
                }
                ProbeEvent::Ready(ready) => {
                    info!(container = name, ready, "readiness changed");
                    if let Some(cs) = self.cstatus(which) {
                        cs.ready = ready;
                    }
                    self.write().await;
                }
                ProbeEvent::Unhealthy { kind, message } => {
                    let message = format!("{} probe failed: {}", kind.as_str(), message.trim_end());
                    self.events.record(name, "Warning", "Unhealthy", &message).await;
                }
                ProbeEvent::Kill { kind } => {
                    let message = format!(
                        "Container {name} failed {} probe, will be restarted",
                        kind.as_str().to_ascii_lowercase()
                    );
                    info!(container = name, pid, "{message}");
                    self.events.record(name, "Normal", "Killing", &message).await;
                    let probe = match kind {
                        probe::Kind::Startup => container.startup_probe.as_ref(),
                        _ => container.liveness_probe.as_ref(),
                    };
                    let grace = probe
                        .and_then(|p| p.termination_grace_period_seconds)
                        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
                        .unwrap_or_else(|| self.grace_period());
                    if let Some(cs) = self.cstatus(which) {
                        cs.ready = false;
                    }
                    self.write().await;
                    let exit = terminate(child, pid, grace, &mut self.ctl).await;
                    return match self.pending_stop() {
                        Some(c) => Wait::Stopped(exit, c),
                        None => Wait::Exited(exit),
                    };
                }
            }
        }
    }

    fn grace_period(&self) -> Duration {
        let secs = self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30);
        Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    }

    /// Resolves the command, prepares mounts, cgroup and log, spawns as `identity`. `Err` is a
    /// StartError message.
    fn start(
        &self,
        container: &Container,
        env: &ContainerEnv,
        identity: &Identity,
        volumes: &PodVolumes,
    ) -> Result<Started, String> {
        let cfg = &self.ctx.cfg;
        let (program, argv) = process::resolve_command(
            container,
            env,
            &cfg.image_entrypoints,
            cfg.bin_dir.as_deref(),
            process::is_executable,
        )?;
        let termination_file = self.root.join("termination").join(&container.name);
        std::fs::write(&termination_file, b"")
            .and_then(|()| {
                // Like the kubelet: any user of the container may write it.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&termination_file, std::fs::Permissions::from_mode(0o666))
            })
            .map_err(|e| format!("cannot create {}: {e}", termination_file.display()))?;
        let termination_path =
            container.termination_message_path.as_deref().unwrap_or("/dev/termination-log");
        let mounts = mounts::plan(container, volumes, env, Some((&termination_file, termination_path)))?;
        for created in mounts::prepare_host(&mounts)? {
            info!(container = %container.name, "created mount point {created} on the host");
        }
        let workdir = match container.working_dir.as_deref().filter(|w| !w.is_empty()) {
            Some(w) => {
                let w = PathBuf::from(w);
                if !w.exists() {
                    std::fs::create_dir_all(&w)
                        .map_err(|e| format!("cannot create workingDir {}: {e}", w.display()))?;
                    info!(container = %container.name, "created workingDir {} on the host", w.display());
                }
                w
            }
            None => self.root.clone(),
        };
        let read_only_root =
            container.security_context.as_ref().and_then(|s| s.read_only_root_filesystem).unwrap_or(false);
        let plan = MountPlan::new(&mounts, read_only_root, &workdir, &program)?;
        let log = logs::log_file(&self.root, &container.name);
        let log_start = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let limit =
            container.resources.as_ref().and_then(|r| r.limits.as_ref()).and_then(|l| l.get("memory"));
        let cgroup = match limit {
            Some(q) => {
                let bytes = quantity::parse_bytes(&q.0).map_err(|e| format!("limits.memory: {e}"))?;
                let name = format!("{}-{}-{}", self.uid(), container.name, log_start);
                MemoryCgroup::create(&name, bytes)
            }
            None => None,
        };
        let privileges = Privileges::new(identity, cgroup.as_ref().map(MemoryCgroup::procs_file).as_deref());
        // containerd sets HOME from the image's passwd entry, "/" for a UID it lacks.
        let mut env = env.clone();
        if identity.uid != 0 && env.vars.get("HOME").is_none() {
            env.image.set("HOME", "/");
        }
        info!(container = %container.name, program = %program.display(), ?argv, "starting container");
        let spawned = process::spawn(&program, &argv, &env.to_process_env(), &log, plan, privileges.clone())
            .map_err(|e| match last_harness_line(&log) {
                Some(line) => format!("{line}: {e}"),
                None => format!("cannot start {}: {e}", program.display()),
            });
        let child = match spawned {
            Ok(c) => c,
            Err(m) => {
                if let Some(cg) = cgroup {
                    tokio::spawn(cg.remove());
                }
                return Err(m);
            }
        };
        Ok(Started { child, termination_file, log, log_start, cgroup, privileges })
    }

    /// After a graceful deletion: terminal phase, final status (the dispatcher then deletes the
    /// pod with grace 0).
    async fn finish_deleted(&mut self) {
        let all_ok = self.status.containers.iter().all(|c| c.succeeded());
        self.status.phase = if all_ok { Phase::Succeeded } else { Phase::Failed };
        for c in self.status.init.iter_mut().chain(self.status.containers.iter_mut()) {
            c.ready = false;
        }
        self.write().await;
    }

    /// The harness stops: a pod whose container ran is marked failed.
    async fn finish_shutdown(&mut self) {
        if !self.status.containers.iter().chain(self.status.init.iter()).any(|c| c.container_id.is_some()) {
            return;
        }
        self.status.phase = Phase::Failed;
        self.status.reason = Some("NodeShutdown".to_owned());
        self.status.message = Some("pod-harness stopped while the container ran".to_owned());
        let status = self.status.to_json();
        let patch = json!({ "status": status });
        let (pp, patch) = (PatchParams::default(), Patch::Merge(&patch));
        let write = self.api.patch_status(&self.name, &pp, &patch);
        match tokio::time::timeout(Duration::from_secs(3), write).await {
            Ok(Ok(_)) => info!("pod marked Failed: the harness stopped"),
            Ok(Err(e)) => warn!(error = %e, "cannot mark the pod Failed at shutdown"),
            Err(_) => warn!("timed out marking the pod Failed at shutdown"),
        }
    }
}

/// Returns once the OOM killer killed a process of `cgroup` (never without a cgroup). Cgroup v1
/// has no pollable file for it, so the counter is read every 200 ms.
async fn oom_kill(cgroup: Option<&MemoryCgroup>) {
    let Some(cg) = cgroup else { return std::future::pending().await };
    while !cg.oom_killed() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERM to the group, SIGKILL after `grace` (or at once when the pod object disappears).
async fn terminate(
    child: &mut Child,
    pgid: u32,
    grace: Duration,
    ctl: &mut watch::Receiver<Control>,
) -> std::io::Result<std::process::ExitStatus> {
    if !grace.is_zero() {
        process::signal_group(pgid, libc::SIGTERM);
        let done = tokio::select! {
            s = child.wait() => Some(s),
            _ = tokio::time::sleep(grace) => None,
            _ = gone_requested(ctl) => None,
        };
        if let Some(s) = done {
            return s;
        }
    }
    process::signal_group(pgid, libc::SIGKILL);
    child.wait().await
}

/// Deletes the pod with grace period 0 (the kubelet confirming a graceful deletion).
pub async fn confirm_deletion(api: &Api<Pod>, name: &str, uid: &str) {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: Some(uid.to_owned()), resource_version: None }),
        ..Default::default()
    };
    for attempt in 1..=5u64 {
        match api.delete(name, &dp).await {
            Ok(_) => {
                info!("pod deleted (grace period 0)");
                return;
            }
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => return,
            Err(e) => {
                warn!(error = %e, attempt, "confirming the pod's deletion failed");
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
        }
    }
}

/// At most `max` bytes from the start of `path` (empty if unreadable).
fn read_head(path: &Path, max: usize) -> Vec<u8> {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(path) else { return Vec::new() };
    let mut buf = Vec::new();
    let _ = f.take(max as u64).read_to_end(&mut buf);
    buf
}

/// What this container instance wrote: the log from offset `from` on, at most its last `max`
/// bytes (empty if unreadable).
fn read_tail(path: &Path, from: u64, max: u64) -> Vec<u8> {
    use std::io::{Read, Seek};
    let Ok(mut f) = std::fs::File::open(path) else { return Vec::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = from.max(len.saturating_sub(max));
    if f.seek(std::io::SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    buf
}

/// The last line the mount setup wrote to the container log, if it was one of ours.
fn last_harness_line(log: &Path) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let start = text.len().saturating_sub(4096);
    let tail = String::from_utf8_lossy(&text[start..]).into_owned();
    tail.lines().last().filter(|l| l.starts_with("pod-harness:")).map(str::to_owned)
}
