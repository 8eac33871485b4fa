//! Test-only code that stands in for a container runtime: a cgroup v1 memory cgroup per container
//! with `resources.limits.memory`, so that a container using more is OOM-killed like in a real
//! cluster (reported `OOMKilled`, exit code 137).
//!
//! Each container with a memory limit gets `<harness's memory cgroup>/pod-harness/<name>` under
//! the v1 memory hierarchy at `/sys/fs/cgroup/memory` (nested in the harness's own cgroup, so
//! that whatever limits the harness is under still hold), with `memory.limit_in_bytes` and
//! `memory.memsw.limit_in_bytes` (when the kernel has swap accounting) set to the limit: no
//! swap, like the kubelet on cgroup v1. The child joins it before `exec`; the cgroup is removed
//! when the container ended (its remaining processes are killed first). When the OOM killer
//! kills one process, the pod runner kills the whole container, like cgroup v2's
//! `memory.oom.group` that the kubelet sets since 1.28. `limits.cpu` is not applied.
//!
//! Where there is no writable v1 memory hierarchy (cgroup v2 only, or no root), the harness
//! logs a warning once and runs the container without a limit — it never fails the pod for that.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use tracing::warn;

/// Where the v1 memory controller is mounted.
const MEMORY_ROOT: &str = "/sys/fs/cgroup/memory";

static UNAVAILABLE: Once = Once::new();

/// The harness's own memory cgroup (relative), from `/proc/self/cgroup`.
fn own_memory_cgroup() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == "memory").then(|| path.trim_start_matches('/').to_owned())
    })
}

/// The memory cgroup of one container.
#[derive(Debug)]
pub struct MemoryCgroup {
    dir: PathBuf,
}

impl MemoryCgroup {
    /// Creates the cgroup `name` (unique per container attempt) limited to `limit_bytes`. `None`
    /// (with a warning, once per harness) where no writable v1 memory hierarchy exists.
    pub fn create(name: &str, limit_bytes: u64) -> Option<Self> {
        match Self::try_create(name, limit_bytes) {
            Ok(cg) => Some(cg),
            Err(e) => {
                UNAVAILABLE.call_once(|| {
                    warn!(error = %e, "no writable cgroup v1 memory controller: memory limits are not applied");
                });
                None
            }
        }
    }

    fn try_create(name: &str, limit_bytes: u64) -> Result<Self, String> {
        let root = Path::new(MEMORY_ROOT);
        if !root.join("memory.limit_in_bytes").exists() {
            return Err(format!("{MEMORY_ROOT} is not a cgroup v1 memory hierarchy"));
        }
        let own = own_memory_cgroup().ok_or("no memory cgroup in /proc/self/cgroup")?;
        let dir = root.join(own).join("pod-harness").join(name);
        if dir.exists() {
            // A leftover of an earlier harness: empty it and start afresh.
            kill_members(&dir);
            remove_dir_now(&dir)?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cg = MemoryCgroup { dir };
        let limit = limit_bytes.to_string();
        cg.write("memory.limit_in_bytes", &limit)?;
        if cg.dir.join("memory.memsw.limit_in_bytes").exists() {
            cg.write("memory.memsw.limit_in_bytes", &limit)?;
        }
        Ok(cg)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        let path = self.dir.join(file);
        std::fs::write(&path, value).map_err(|e| format!("writing {value} to {}: {e}", path.display()))
    }

    /// The file a process writes to join the cgroup.
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// Whether the OOM killer killed a process of this cgroup (`oom_kill` of `memory.oom_control`).
    pub fn oom_killed(&self) -> bool {
        std::fs::read_to_string(self.dir.join("memory.oom_control"))
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()))
            })
            .is_some_and(|n| n > 0)
    }

    /// SIGKILL to every process in the cgroup.
    pub fn kill_all(&self) {
        kill_members(&self.dir);
    }

    /// Kills what is left in the cgroup and removes it (waits up to 5 s for the processes to go).
    pub async fn remove(self) {
        kill_members(&self.dir);
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            // Killed processes leave the cgroup only once reaped; poll until then.
            tokio::time::sleep(Duration::from_millis(100)).await;
            kill_members(&self.dir);
        }
        warn!(cgroup = %self.dir.display(), "cannot remove the container's memory cgroup");
    }
}

fn kill_members(dir: &Path) {
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()).filter(|p| *p > 1) {
        // SAFETY: kill(2) of a pid; no memory involved.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

fn remove_dir_now(dir: &Path) -> Result<(), String> {
    for _ in 0..50 {
        if std::fs::remove_dir(dir).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("cannot remove the stale cgroup {}", dir.display()))
}
