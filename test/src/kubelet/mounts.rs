//! Test-only code that stands in for a kubelet and container runtime: puts a container's
//! volumes at their `mountPath`.
//!
//! There is no container image and no root filesystem of its own: the process sees the host's
//! filesystem, in a private mount namespace (`unshare(CLONE_NEWNS)`) where each volume is
//! bind-mounted over its `mountPath` (`subPath` supported, `readOnly` honoured), the per-container
//! termination-message file over `terminationMessagePath`, and `/` is remounted read-only when
//! `securityContext.readOnlyRootFilesystem` is set. Mount points missing on the host are created
//! (and logged) before the process starts. Needs `CAP_SYS_ADMIN` (the harness runs as root): the
//! process drops root only after its mounts ([`super::privileges`]).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::Container;

use super::env::{self, ContainerEnv};
use super::volumes::{self, PodVolumes, SERVICE_ACCOUNT_PATH};

/// One bind mount: host `source` at `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRequest {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
}

/// The bind mounts of `container`: its volumeMounts, the service-account token (unless the
/// container mounts something there itself) and the termination-message file.
pub fn plan(
    container: &Container,
    volumes: &PodVolumes,
    env: &ContainerEnv,
    termination: Option<(&Path, &str)>,
) -> Result<Vec<MountRequest>, String> {
    let mut out = Vec::new();
    let mut has_sa_mount = false;
    for m in container.volume_mounts.iter().flatten() {
        let volume = volumes
            .volumes
            .get(&m.name)
            .ok_or_else(|| format!("volumeMount {:?} refers to no volume of the pod", m.name))?;
        if !m.mount_path.starts_with('/') {
            return Err(format!("volumeMount {:?}: mountPath {:?} is not absolute", m.name, m.mount_path));
        }
        let sub_path = match (m.sub_path.as_deref(), m.sub_path_expr.as_deref()) {
            (Some(p), _) if !p.is_empty() => Some(p.to_owned()),
            (_, Some(expr)) if !expr.is_empty() => Some(env::expand(expr, |v| env.lookup(v))),
            _ => None,
        };
        let mut source = volume.host_path.clone();
        if let Some(sub) = sub_path {
            volumes::check_rel_path(&sub).map_err(|e| format!("volumeMount {:?}: subPath: {e}", m.name))?;
            source = source.join(&sub);
            if !source.exists() {
                // The kubelet creates a missing subPath as a directory with the mode of the
                // volume's root (0777 in an emptyDir, so a non-root user can write it).
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&volume.host_path)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o755);
                super::ownership::create_dir_with_mode(&source, mode)
                    .map_err(|e| format!("cannot create subPath {}: {e}", source.display()))?;
            }
        }
        let target = normalise(&m.mount_path);
        has_sa_mount |= target == Path::new(SERVICE_ACCOUNT_PATH);
        out.push(MountRequest { source, target, read_only: m.read_only == Some(true) || volume.read_only });
    }
    if let Some(sa) = volumes.service_account_volume.as_ref().and_then(|n| volumes.volumes.get(n))
        && !has_sa_mount
    {
        out.push(MountRequest {
            source: sa.host_path.clone(),
            target: PathBuf::from(SERVICE_ACCOUNT_PATH),
            read_only: true,
        });
    }
    if let Some((file, path)) = termination {
        if !path.starts_with('/') {
            return Err(format!("terminationMessagePath {path:?} is not absolute"));
        }
        out.push(MountRequest { source: file.to_path_buf(), target: normalise(path), read_only: false });
    }
    // Parents before children, so that nested mount points end up on top.
    out.sort_by_key(|m| m.target.components().count());
    Ok(out)
}

/// `/a//b/./c/` → `/a/b/c`.
fn normalise(path: &str) -> PathBuf {
    let mut p = PathBuf::from("/");
    for c in Path::new(path).components() {
        if let Component::Normal(n) = c {
            p.push(n);
        }
    }
    p
}

/// Creates missing mount points on the host (directories, or empty files for file sources).
/// Returns what it created, for the log.
pub fn prepare_host(mounts: &[MountRequest]) -> Result<Vec<String>, String> {
    let mut created = Vec::new();
    for m in mounts {
        let source = std::fs::metadata(&m.source)
            .map_err(|e| format!("mount source {} is not usable: {e}", m.source.display()))?;
        match std::fs::metadata(&m.target) {
            Ok(t) if source.is_dir() && !t.is_dir() => {
                return Err(format!(
                    "cannot mount directory {} on {}: the target exists and is not a directory",
                    m.source.display(),
                    m.target.display()
                ));
            }
            Ok(t) if !source.is_dir() && t.is_dir() => {
                return Err(format!(
                    "cannot mount file {} on {}: the target is a directory",
                    m.source.display(),
                    m.target.display()
                ));
            }
            Ok(_) => {}
            Err(_) if source.is_dir() => {
                std::fs::create_dir_all(&m.target)
                    .map_err(|e| format!("cannot create mount point {}: {e}", m.target.display()))?;
                created.push(format!("directory {}", m.target.display()));
            }
            Err(_) => {
                if let Some(parent) = m.target.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create mount point {}: {e}", parent.display()))?;
                }
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&m.target)
                    .map_err(|e| format!("cannot create mount point {}: {e}", m.target.display()))?;
                created.push(format!("file {}", m.target.display()));
            }
        }
    }
    Ok(created)
}

fn cstring(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("path {} contains a NUL byte", p.display()))
}

/// The directories from the top down to `path` (excluding `/`).
fn ancestors_top_down(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        path.ancestors().filter(|a| a.parent().is_some()).map(Path::to_path_buf).collect();
    v.reverse();
    v
}

/// One bind mount, prepared for the child (no allocation after `fork`).
#[derive(Debug)]
struct BindStep {
    /// The source path; the child opens it (`O_PATH`) before any mount, so a bind over one of
    /// its ancestors (an emptyDir at `/tmp` while the harness's state is under `/tmp`) cannot
    /// hide it from a later bind.
    source: CString,
    /// The descriptor number the opened source is moved to, and its `/proc/self/fd/<n>` path,
    /// the source the bind mount uses.
    source_fd: libc::c_int,
    source_fd_path: CString,
    target: CString,
    read_only: bool,
    /// Directories to create in the namespace (mount points inside other volumes).
    mkdirs: Vec<CString>,
    /// An empty file to create as the mount point of a file.
    mkfile: Option<CString>,
    bind_failed: Vec<u8>,
    remount_failed: Vec<u8>,
}

/// Everything the forked child does before `exec`, prepared in the parent.
#[derive(Debug)]
pub struct MountPlan {
    binds: Vec<BindStep>,
    /// The program, when a bind target hides its directory (our binary under a `/tmp` clone and
    /// an emptyDir at `/tmp`): opened before the mounts and executed as `/proc/self/fd/<n>`.
    program: Option<CString>,
    read_only_root: bool,
    workdir: CString,
    workdir_mkdirs: Vec<CString>,
}

/// Where the child keeps the opened bind sources while mounting: far above what a freshly forked
/// process has open.
const SOURCE_FD_BASE: libc::c_int = 900;

/// Where the child keeps the opened program (see [`MountPlan::exec_path`]).
const PROGRAM_FD: libc::c_int = SOURCE_FD_BASE - 1;
const PROGRAM_FAILED: &[u8] = b"pod-harness: opening the program before the mounts failed\n";

const UNSHARE_FAILED: &[u8] =
    b"pod-harness: unshare(CLONE_NEWNS) failed: the harness needs CAP_SYS_ADMIN (run it as root)\n";
const PRIVATE_FAILED: &[u8] = b"pod-harness: making / a private mount (MS_REC|MS_PRIVATE) failed\n";
const ROOT_RO_FAILED: &[u8] = b"pod-harness: remounting / read-only (readOnlyRootFilesystem) failed\n";
const CHDIR_FAILED: &[u8] = b"pod-harness: chdir to the working directory failed\n";

impl MountPlan {
    /// Prepares the mount steps (C strings, messages) for [`MountPlan::apply`].
    pub fn new(
        mounts: &[MountRequest],
        read_only_root: bool,
        workdir: &Path,
        program: &Path,
    ) -> Result<Self, String> {
        let mut binds = Vec::with_capacity(mounts.len());
        for m in mounts {
            let is_dir = m.source.is_dir();
            let dirs = if is_dir {
                ancestors_top_down(&m.target)
            } else {
                ancestors_top_down(m.target.parent().unwrap_or(Path::new("/")))
            };
            let source_fd = SOURCE_FD_BASE + libc::c_int::try_from(binds.len()).unwrap_or(0);
            binds.push(BindStep {
                source: cstring(&m.source)?,
                source_fd,
                source_fd_path: CString::new(format!("/proc/self/fd/{source_fd}"))
                    .map_err(|_| "fd path with a NUL byte".to_string())?,
                target: cstring(&m.target)?,
                read_only: m.read_only,
                mkdirs: dirs.iter().map(|d| cstring(d)).collect::<Result<_, _>>()?,
                mkfile: if is_dir { None } else { Some(cstring(&m.target)?) },
                bind_failed: format!(
                    "pod-harness: bind mount of {} at {} failed (needs CAP_SYS_ADMIN)\n",
                    m.source.display(),
                    m.target.display()
                )
                .into_bytes(),
                remount_failed: format!("pod-harness: remounting {} read-only failed\n", m.target.display())
                    .into_bytes(),
            });
        }
        let hidden = mounts.iter().any(|m| program.starts_with(&m.target));
        Ok(MountPlan {
            binds,
            program: if hidden { Some(cstring(program)?) } else { None },
            read_only_root,
            workdir: cstring(workdir)?,
            workdir_mkdirs: ancestors_top_down(workdir)
                .iter()
                .map(|d| cstring(d))
                .collect::<Result<_, _>>()?,
        })
    }

    /// What to execute: the program's path, or — when a mount hides it — the descriptor the
    /// child opened it as before mounting (the kernel resolves it before closing on exec).
    pub fn exec_path(&self, program: &Path) -> PathBuf {
        match self.program {
            Some(_) => PathBuf::from(format!("/proc/self/fd/{PROGRAM_FD}")),
            None => program.to_path_buf(),
        }
    }

    /// Runs in the forked child, before `exec`: new mount namespace, bind mounts, read-only
    /// remounts, working directory. Allocates nothing; on failure writes a prepared message to
    /// stderr (the container log) and returns the OS error.
    pub fn apply(&self) -> io::Result<()> {
        // SAFETY: plain syscalls on NUL-terminated strings prepared before fork; no allocation.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(fail(UNSHARE_FAILED));
            }
            let root = c"/";
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(fail(PRIVATE_FAILED));
            }
            if let Some(program) = &self.program {
                let fd = libc::open(program.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
                if fd < 0 || libc::dup3(fd, PROGRAM_FD, libc::O_CLOEXEC) < 0 {
                    return Err(fail(PROGRAM_FAILED));
                }
                libc::close(fd);
            }
            // Every source is opened before the first mount can shadow it (see BindStep).
            for b in &self.binds {
                let fd = libc::open(b.source.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
                if fd < 0 || libc::dup3(fd, b.source_fd, libc::O_CLOEXEC) < 0 {
                    return Err(fail(&b.bind_failed));
                }
                libc::close(fd);
            }
            for b in &self.binds {
                for d in &b.mkdirs {
                    libc::mkdir(d.as_ptr(), 0o755);
                }
                if let Some(f) = &b.mkfile {
                    let fd = libc::open(f.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644);
                    if fd >= 0 {
                        libc::close(fd);
                    }
                }
                let flags = libc::MS_BIND | libc::MS_REC;
                if libc::mount(
                    b.source_fd_path.as_ptr(),
                    b.target.as_ptr(),
                    std::ptr::null(),
                    flags,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(fail(&b.bind_failed));
                }
            }
            for b in &self.binds {
                libc::close(b.source_fd);
            }
            // Read-only remounts after all binds, so mount points inside read-only volumes exist.
            for b in self.binds.iter().filter(|b| b.read_only) {
                let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
                if libc::mount(std::ptr::null(), b.target.as_ptr(), std::ptr::null(), flags, std::ptr::null())
                    != 0
                {
                    return Err(fail(&b.remount_failed));
                }
            }
            for d in &self.workdir_mkdirs {
                libc::mkdir(d.as_ptr(), 0o755);
            }
            if self.read_only_root {
                let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
                if libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), flags, std::ptr::null())
                    != 0
                {
                    return Err(fail(ROOT_RO_FAILED));
                }
            }
            if libc::chdir(self.workdir.as_ptr()) != 0 {
                return Err(fail(CHDIR_FAILED));
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::VolumeMount;

    use crate::kubelet::volumes::Volume;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalise("/a//b/./c/"), PathBuf::from("/a/b/c"));
        assert_eq!(
            ancestors_top_down(Path::new("/a/b/c")),
            vec![PathBuf::from("/a"), PathBuf::from("/a/b"), PathBuf::from("/a/b/c")]
        );
    }

    #[test]
    fn plans_mounts_parents_first_with_read_only_and_sub_path() -> Result<(), String> {
        let base = std::env::temp_dir().join(format!("harness-mounts-test-{}", std::process::id()));
        let vols = PodVolumes {
            volumes: [
                ("data".to_owned(), Volume { host_path: base.join("data"), read_only: false }),
                ("creds".to_owned(), Volume { host_path: base.join("creds"), read_only: true }),
                ("sa".to_owned(), Volume { host_path: base.join("sa"), read_only: true }),
            ]
            .into_iter()
            .collect(),
            service_account_volume: Some("sa".into()),
            ..Default::default()
        };
        let container = Container {
            name: "main".into(),
            volume_mounts: Some(vec![
                VolumeMount {
                    name: "creds".into(),
                    mount_path: "/etc/app/creds".into(),
                    ..Default::default()
                },
                VolumeMount {
                    name: "data".into(),
                    mount_path: "/etc/app".into(),
                    sub_path: Some("sub".into()),
                    read_only: Some(true),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let term = base.join("termination-log");
        let plan = plan(&container, &vols, &ContainerEnv::default(), Some((&term, "/dev/termination-log")))?;
        let targets: Vec<_> = plan.iter().map(|m| m.target.display().to_string()).collect();
        assert_eq!(
            targets,
            [
                "/etc/app",
                "/dev/termination-log",
                "/etc/app/creds",
                "/var/run/secrets/kubernetes.io/serviceaccount"
            ]
        );
        assert!(base.join("data/sub").is_dir(), "a missing subPath is created");
        assert_eq!(plan[0].source, base.join("data/sub"));
        assert!(plan[0].read_only);
        assert!(plan[2].read_only, "secret-like volumes are read-only");
        assert!(!plan[1].read_only);
        let _ = std::fs::remove_dir_all(&base);
        Ok(())
    }

    #[test]
    fn unknown_volume_is_an_error() {
        let container = Container {
            name: "main".into(),
            volume_mounts: Some(vec![VolumeMount {
                name: "x".into(),
                mount_path: "/x".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert!(plan(&container, &PodVolumes::default(), &ContainerEnv::default(), None).is_err());
    }
}
