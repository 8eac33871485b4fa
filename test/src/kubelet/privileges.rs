//! Test-only code that stands in for a container runtime: what the forked child does after its
//! mounts and before `exec`, in the order runc does it — join the container's memory cgroup,
//! empty the capability bounding set (root with `drop: [ALL]`), `setgroups`, `setgid`, `setuid`
//! (which clears a non-root process's capabilities), `PR_SET_NO_NEW_PRIVS`.
//!
//! Mounting needs root, so this comes after [`super::mounts::MountPlan::apply`]; everything is
//! prepared in the parent and the child only makes async-signal-safe syscalls.

use std::ffi::CString;
use std::io;
use std::path::Path;

use super::user::Identity;

const CGROUP_FAILED: &[u8] = b"pod-harness: joining the container's memory cgroup failed\n";
const BOUNDING_FAILED: &[u8] = b"pod-harness: dropping the capability bounding set failed\n";
const GROUPS_FAILED: &[u8] = b"pod-harness: setgroups failed\n";
const GID_FAILED: &[u8] = b"pod-harness: setgid failed\n";
const UID_FAILED: &[u8] = b"pod-harness: setuid failed\n";
const NNP_FAILED: &[u8] = b"pod-harness: prctl(PR_SET_NO_NEW_PRIVS) failed\n";

/// The privilege drop of one process, prepared before `fork`.
#[derive(Debug, Clone)]
pub struct Privileges {
    /// `cgroup.procs` of the container's memory cgroup (the child writes `0`: itself).
    cgroup_procs: Option<CString>,
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    no_new_privs: bool,
    /// The highest capability number to drop from the bounding set, when it is dropped.
    bounding_last_cap: Option<libc::c_int>,
}

/// The highest capability the kernel knows (`/proc/sys/kernel/cap_last_cap`; 40 if unreadable).
fn last_cap() -> libc::c_int {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

impl Privileges {
    pub fn new(identity: &Identity, cgroup_procs: Option<&Path>) -> Self {
        use std::os::unix::ffi::OsStrExt;
        Privileges {
            cgroup_procs: cgroup_procs.and_then(|p| CString::new(p.as_os_str().as_bytes()).ok()),
            uid: identity.uid,
            gid: identity.gid,
            groups: identity.groups.clone(),
            no_new_privs: identity.no_new_privs,
            bounding_last_cap: identity.drop_bounding_set.then(last_cap),
        }
    }

    /// Runs in the forked child. Allocates nothing; on failure writes a prepared message to
    /// stderr (the container log) and returns the OS error.
    pub fn apply(&self) -> io::Result<()> {
        // SAFETY: plain syscalls on data prepared before fork; no allocation.
        unsafe {
            if let Some(procs) = &self.cgroup_procs {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(fail(CGROUP_FAILED));
                }
                // cgroup v1: writing 0 moves the writing process.
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                libc::close(fd);
                if !ok {
                    return Err(fail(CGROUP_FAILED));
                }
            }
            if let Some(last) = self.bounding_last_cap {
                for cap in 0..=last {
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0
                        && *libc::__errno_location() != libc::EINVAL
                    {
                        return Err(fail(BOUNDING_FAILED));
                    }
                }
            }
            if libc::setgroups(self.groups.len(), self.groups.as_ptr()) != 0 {
                return Err(fail(GROUPS_FAILED));
            }
            if libc::setgid(self.gid) != 0 {
                return Err(fail(GID_FAILED));
            }
            if libc::setuid(self.uid) != 0 {
                return Err(fail(UID_FAILED));
            }
            if self.no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(fail(NNP_FAILED));
            }
        }
        Ok(())
    }
}

/// Captures errno, writes `msg` to stderr, returns the error. Async-signal-safe.
fn fail(msg: &[u8]) -> io::Error {
    let err = io::Error::last_os_error();
    // SAFETY: write(2) of a valid buffer; the result is deliberately ignored.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
    err
}
