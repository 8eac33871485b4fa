//! Test-only code that stands in for a kubelet and container runtime: turns a container into a
//! host process (command resolution, spawning in its own process group, mount namespace and
//! memory cgroup as the container's user, signalling).
//!
//! There are no images: a container without `command` runs the program that `--image-entrypoint`
//! maps its image to. A `command[0]` whose file name exists in `--bin-dir` runs that file, so a
//! Job's `/usr/local/bin/strimzi-backup-operator` runs the freshly built binary.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::str::FromStr;

use k8s_openapi::api::core::v1::Container;
use tokio::process::{Child, Command};

use super::env::{self, ContainerEnv};
use super::mounts::MountPlan;
use super::privileges::Privileges;

/// `--image-entrypoint PATTERN=PATH`: containers whose image matches PATTERN (a substring, or a
/// glob with `*` / `?` matched against the whole image) run PATH when they have no `command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntrypoint {
    pub pattern: String,
    pub path: PathBuf,
}

impl FromStr for ImageEntrypoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((pattern, path)) if !pattern.is_empty() && !path.is_empty() => {
                Ok(ImageEntrypoint { pattern: pattern.to_owned(), path: PathBuf::from(path) })
            }
            _ => Err(format!("expected PATTERN=PATH, got {s:?}")),
        }
    }
}

impl ImageEntrypoint {
    /// Whether `image` matches the pattern.
    pub fn matches(&self, image: &str) -> bool {
        if self.pattern.contains(['*', '?']) {
            glob_match(&self.pattern, image)
        } else {
            image.contains(&self.pattern)
        }
    }
}

/// Glob matching with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether `path` is an executable regular file.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Where a command runs from: its file name in `bin_dir` if there, else an absolute (or
/// relative, with a `/`) path as is, else the first match in the container's `PATH`.
pub fn resolve_program(
    name: &str,
    path_var: &str,
    bin_dir: Option<&Path>,
    is_exec: impl Fn(&Path) -> bool,
) -> Result<PathBuf, String> {
    if name.is_empty() {
        return Err("exec: empty command".to_owned());
    }
    if let (Some(bin), Some(base)) = (bin_dir, Path::new(name).file_name()) {
        let candidate = bin.join(base);
        if is_exec(&candidate) {
            return Ok(candidate);
        }
    }
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|c| is_exec(c))
        .ok_or_else(|| format!("exec: \"{name}\": executable file not found in $PATH"))
}

/// The argv of `container` (`command` + `args` with `$(VAR)` expanded, or the image entrypoint
/// + `args`) and the program to execute.
pub fn resolve_command(
    container: &Container,
    env: &ContainerEnv,
    entrypoints: &[ImageEntrypoint],
    bin_dir: Option<&Path>,
    is_exec: impl Fn(&Path) -> bool,
) -> Result<(PathBuf, Vec<String>), String> {
    let expand = |s: &String| env::expand(s, |v| env.lookup(v));
    let mut argv: Vec<String> = match container.command.as_ref().filter(|c| !c.is_empty()) {
        Some(cmd) => cmd.iter().map(expand).collect(),
        None => {
            let image = container.image.as_deref().unwrap_or_default();
            let entry = entrypoints.iter().find(|e| e.matches(image)).ok_or_else(|| {
                format!(
                    "container {:?} has no command and no --image-entrypoint of pod-harness matches its image {image:?}",
                    container.name
                )
            })?;
            vec![entry.path.display().to_string()]
        }
    };
    argv.extend(container.args.iter().flatten().map(expand));
    let path_var = env.effective("PATH").unwrap_or(env::DEFAULT_PATH);
    let program = resolve_program(&argv[0], path_var, bin_dir, is_exec)?;
    Ok((program, argv))
}

/// Starts `program` with `argv` (argv[0] kept as written) and exactly `env`, stdout and stderr
/// appended to `log`, in a new process group, after `plan` set up its mount namespace and then
/// `privileges` moved it into its cgroup and dropped root (in that order: mounting needs root).
pub fn spawn(
    program: &Path,
    argv: &[String],
    env: &[(String, String)],
    log: &Path,
    plan: MountPlan,
    privileges: Privileges,
) -> io::Result<Child> {
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(plan.exec_path(program));
    cmd.arg0(argv.first().map(String::as_str).unwrap_or_default())
        .args(argv.iter().skip(1))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(false);
    // SAFETY: both `apply`s only make async-signal-safe syscalls on data prepared before fork.
    unsafe {
        cmd.pre_exec(move || {
            plan.apply()?;
            privileges.apply()
        });
    }
    cmd.spawn()
}

/// Starts `program` in the running container whose main process is `pid` (its mount namespace,
/// working directory `/`), as `privileges` say, in a new process group, output captured: the
/// kubelet's `exec` for probes.
pub fn spawn_in_container(
    pid: u32,
    program: &Path,
    argv: &[String],
    env: &[(String, String)],
    privileges: Privileges,
) -> io::Result<Child> {
    use std::os::fd::AsRawFd;
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))?;
    let ns_fd = ns.as_raw_fd();
    let mut cmd = Command::new(program);
    cmd.arg0(argv.first().map(String::as_str).unwrap_or_default())
        .args(argv.iter().skip(1))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: setns, chdir and `apply` are async-signal-safe syscalls on data prepared before
    // fork; `ns` outlives the spawn.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns_fd, libc::CLONE_NEWNS) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            privileges.apply()
        });
    }
    let child = cmd.spawn();
    drop(ns);
    child
}

/// Sends `signal` to the whole process group `pgid`. `false` if no process was left.
pub fn signal_group(pgid: u32, signal: i32) -> bool {
    let Ok(pgid) = i32::try_from(pgid) else { return false };
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe { libc::kill(-pgid, signal) == 0 }
}

/// `(exitCode, signal)` as Kubernetes reports them (a signal `n` is exit code `128 + n`).
pub fn exit_info(status: ExitStatus) -> (i32, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(sig)) => (128 + sig, Some(sig)),
        (None, None) => (255, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec_in(files: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p: &Path| files.iter().any(|f| Path::new(f) == p)
    }

    #[test]
    fn parses_and_matches_image_entrypoints() {
        let e: ImageEntrypoint = "strimzi-backup-operator=/bin/op".parse().unwrap_or_else(|_| unreachable!());
        assert!(e.matches("quay.io/x/strimzi-backup-operator:latest"));
        assert!(!e.matches("busybox"));
        let g: ImageEntrypoint = "quay.io/*/op:?.?=/bin/op".parse().unwrap_or_else(|_| unreachable!());
        assert!(g.matches("quay.io/team/op:1.2"));
        assert!(!g.matches("quay.io/team/op:1.22"));
        assert!("nopath".parse::<ImageEntrypoint>().is_err());
        assert!("=x".parse::<ImageEntrypoint>().is_err());
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b", "aXc"));
    }

    #[test]
    fn resolves_programs() {
        let files = exec_in(&["/target/debug/strimzi-backup-operator", "/usr/bin/sh", "/bin/sh"]);
        let bin = Some(Path::new("/target/debug"));
        let path = env::DEFAULT_PATH;
        assert_eq!(
            resolve_program("/usr/local/bin/strimzi-backup-operator", path, bin, &files),
            Ok(PathBuf::from("/target/debug/strimzi-backup-operator"))
        );
        assert_eq!(
            resolve_program("strimzi-backup-operator", path, bin, &files),
            Ok(PathBuf::from("/target/debug/strimzi-backup-operator"))
        );
        assert_eq!(resolve_program("sh", path, bin, &files), Ok(PathBuf::from("/usr/bin/sh")));
        assert_eq!(resolve_program("sh", "/bin", bin, &files), Ok(PathBuf::from("/bin/sh")));
        assert_eq!(resolve_program("/opt/tool", path, bin, &files), Ok(PathBuf::from("/opt/tool")));
        assert_eq!(
            resolve_program("nope", path, bin, &files),
            Err("exec: \"nope\": executable file not found in $PATH".to_owned())
        );
    }

    #[test]
    fn resolves_commands_with_expansion_and_entrypoints() {
        let mut env = ContainerEnv::default();
        env.vars.set("NAME", "world");
        let files = exec_in(&["/usr/bin/echo", "/target/op"]);
        let c = Container {
            name: "main".into(),
            image: Some("busybox".into()),
            command: Some(vec!["echo".into()]),
            args: Some(vec!["hello $(NAME)".into(), "$$(NAME)".into()]),
            ..Default::default()
        };
        assert_eq!(
            resolve_command(&c, &env, &[], None, &files),
            Ok((PathBuf::from("/usr/bin/echo"), vec!["echo".into(), "hello world".into(), "$(NAME)".into()]))
        );
        let entry = ImageEntrypoint { pattern: "operator".into(), path: "/target/op".into() };
        let c = Container {
            name: "main".into(),
            image: Some("ghcr.io/x/operator:1".into()),
            args: Some(vec!["backup".into()]),
            ..Default::default()
        };
        assert_eq!(
            resolve_command(&c, &env, std::slice::from_ref(&entry), None, &files),
            Ok((PathBuf::from("/target/op"), vec!["/target/op".into(), "backup".into()]))
        );
        let c = Container { name: "main".into(), image: Some("busybox".into()), ..Default::default() };
        let err = resolve_command(&c, &env, &[entry], None, &files).err().unwrap_or_default();
        assert!(err.contains("no --image-entrypoint"), "{err}");
    }

    #[test]
    fn exit_codes_of_signals() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_info(ExitStatus::from_raw(0)), (0, None));
        assert_eq!(exit_info(ExitStatus::from_raw(3 << 8)), (3, None));
        assert_eq!(exit_info(ExitStatus::from_raw(9)), (137, Some(9)));
    }
}
