//! A process's memory and CPU from `/proc`, for the benchmarks' footprint figures, and the
//! processes of a pod.

use anyhow::Context;

/// A `/proc/<pid>/status` field given in kB (`VmRSS:`, `VmHWM:`), in MiB.
pub fn status_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = text.lines().find(|l| l.starts_with(field)).with_context(|| format!("{field} in /proc"))?;
    let kib: f64 = line.split_whitespace().nth(1).unwrap_or("0").parse()?;
    Ok(kib / 1024.0)
}

/// CPU seconds (user + system) of a process so far.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields.get(11).unwrap_or(&"0").parse::<f64>()? + fields.get(12).unwrap_or(&"0").parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / hz.max(1.0))
}

/// The processes of a pod the test harness runs: each has the pod's name as `HOSTNAME`, as the
/// container runtime would set it. Pods whose name starts with `prefix`.
pub fn pod_processes(prefix: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0).any(|v| {
                    v.strip_prefix(b"HOSTNAME=").is_some_and(|name| name.starts_with(prefix.as_bytes()))
                })
            })
        })
        .collect()
}
