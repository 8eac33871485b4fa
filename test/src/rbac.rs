//! The operator of a test runs as the operator of an install does: as the ServiceAccount
//! `strimzi-backup-operator`, with exactly the rules of `config/rbac` — the leader-election Role in
//! its own namespace and the controllers' ClusterRole, bound as dist/install.yaml binds it — and
//! a token of that ServiceAccount in its kubeconfig. So least privilege is tested by every operator test, not only by the install
//! tests: a call the rules do not allow fails the test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use serde_yaml_ng::Value;

use crate::env::{TestEnv, workspace_root};

/// The ClusterRole the tests bind: `config/rbac/all-namespaces/role.yaml` under a name of its own,
/// so the install tests' role is left to them.
const CLUSTER_ROLE: &str = "e2e-strimzi-backup-operator";
const SERVICE_ACCOUNT: &str = "strimzi-backup-operator";

fn kubectl(env: &TestEnv, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let mut child = Command::new(env.kubectl())
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running kubectl")?;
    if let Some(text) = stdin {
        child.stdin.take().context("kubectl stdin")?.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read(path: &str) -> anyhow::Result<Value> {
    let file = workspace_root().join(path);
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    Ok(serde_yaml_ng::from_str(&text)?)
}

fn apply(env: &TestEnv, objects: &[Value]) -> anyhow::Result<()> {
    let mut text = String::new();
    for o in objects {
        text.push_str("---\n");
        text.push_str(&serde_yaml_ng::to_string(o)?);
    }
    kubectl(
        env,
        &["apply", "--server-side", "--force-conflicts", "--field-manager=e2e-rbac", "-f", "-"],
        Some(&text),
    )?;
    Ok(())
}

/// Sets `metadata.namespace` and every ServiceAccount subject's namespace to `ns`.
fn in_namespace(mut object: Value, ns: &str) -> Value {
    object["metadata"]["namespace"] = Value::from(ns);
    if let Some(subjects) = object.get_mut("subjects").and_then(Value::as_sequence_mut) {
        for s in subjects {
            s["namespace"] = Value::from(ns);
        }
    }
    object
}

fn binding(kind: &str, name: &str, account: &str) -> anyhow::Result<Value> {
    Ok(serde_yaml_ng::to_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": IDENTITIES}],
    }))?)
}

/// Where the tests' operator ServiceAccounts live: a namespace no test deletes. An operator's
/// identity in the namespace it watches would be deleted with that namespace, its token with
/// it, and the operator could then no longer remove its finalizers there: the namespace hung in
/// Terminating whenever the namespace controller reached the ServiceAccount first.
const IDENTITIES: &str = "e2e-operator-identities";

/// The ServiceAccount (in [`IDENTITIES`]) of the operator living in `namespace`.
fn account(namespace: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    namespace.hash(&mut h);
    format!("{SERVICE_ACCOUNT}-{:016x}", h.finish())
}

/// One per operator namespace, like its ServiceAccount; both are gone with the environment.
fn cluster_binding(namespace: &str) -> String {
    format!("e2e-sbo-{namespace}")
}

/// Sets up the ServiceAccount and rules of an operator living in `namespace` and watching
/// `watched` (one, a comma list, or `*`), and returns a kubeconfig with its token.
pub fn operator_kubeconfig(
    env: &TestEnv,
    namespace: &str,
    watched: &str,
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let mut role = read("config/rbac/all-namespaces/role.yaml")?;
    role["metadata"]["name"] = Value::from(CLUSTER_ROLE);
    let account = account(namespace);
    let mut service_account = in_namespace(read("config/rbac/service_account.yaml")?, IDENTITIES);
    service_account["metadata"]["name"] = Value::from(account.as_str());
    let mut leader_binding = in_namespace(read("config/rbac/leader_election_role_binding.yaml")?, namespace);
    if let Some(subjects) = leader_binding.get_mut("subjects").and_then(Value::as_sequence_mut) {
        for s in subjects {
            s["name"] = Value::from(account.as_str());
            s["namespace"] = Value::from(IDENTITIES);
        }
    }
    let identities = serde_yaml_ng::to_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": IDENTITIES},
    }))?;
    let mut objects = vec![
        identities,
        role,
        service_account,
        in_namespace(read("config/rbac/leader_election_role.yaml")?, namespace),
        leader_binding,
    ];
    // Bound cluster-wide, as dist/install.yaml binds it (the operator's own setting limits where
    // it looks). A RoleBinding per watched namespace would be deleted with the namespace before
    // the operator could remove its finalizers from the objects there, and the namespace would
    // hang in Terminating.
    let _ = watched;
    objects.push(binding("ClusterRoleBinding", &cluster_binding(namespace), &account)?);
    apply(env, &objects)?;
    let token = kubectl(env, &["-n", IDENTITIES, "create", "token", &account, "--duration", "24h"], None)?;

    // The API server and its CA from the admin kubeconfig; the user is the ServiceAccount.
    let admin: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(env.kubeconfig())?)?;
    let cluster = admin["clusters"][0]["cluster"].clone();
    anyhow::ensure!(!cluster.is_null(), "{} names no cluster", env.kubeconfig().display());
    let config = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": serde_json::to_value(&cluster)?}],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token.trim()}}],
        "contexts": [{"name": "operator", "context": {"cluster": "e2e", "user": SERVICE_ACCOUNT, "namespace": namespace}}],
        "current-context": "operator",
    });
    std::fs::create_dir_all(dir)?;
    let path = dir.join("operator.kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&config)?)?;
    Ok(path)
}
