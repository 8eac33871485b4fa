//! Test-only code that stands in for a kubelet: the environment of a container.
//!
//! Like the kubelet, a container gets (in this order, later definitions winning) the image's
//! defaults (`PATH`, `HOME`, `HOSTNAME`), the `KUBERNETES_SERVICE_*` variables of the apiserver,
//! the variables of `envFrom` and then those of `env`. `$(VAR)` references in `env[].value`
//! are expanded from the variables defined before them, exactly like the kubelet's expansion
//! (`$$` escapes, unknown references stay as written). The harness's own environment never
//! leaks into a container.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ObjectFieldSelector, Pod, ResourceFieldSelector, Secret,
};

use super::node;
use super::quantity;

/// `PATH` of a container, as most images set it.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An ordered list of variables; setting a name again replaces its value in place.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnvList {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl EnvList {
    /// Sets `name` to `value`, replacing an earlier definition.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.index.get(&name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push((name, value));
            }
        }
    }

    /// The value of `name`, if defined.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }

    /// The variables in definition order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The environment of one container.
#[derive(Debug, Clone, Default)]
pub struct ContainerEnv {
    /// What the image would define (`PATH`, `HOME`, `HOSTNAME`); not visible to `$(VAR)`.
    pub image: EnvList,
    /// What the kubelet defines: service variables, `envFrom`, `env`.
    pub vars: EnvList,
}

impl ContainerEnv {
    /// Looks a variable up for `$(VAR)` expansion in command, args and `subPathExpr`.
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(str::to_owned)
    }

    /// The value the process sees for `name`.
    pub fn effective(&self, name: &str) -> Option<&str> {
        self.vars.get(name).or_else(|| self.image.get(name))
    }

    /// The complete process environment.
    pub fn to_process_env(&self) -> Vec<(String, String)> {
        let mut all = self.image.clone();
        for (k, v) in self.vars.iter() {
            all.set(k, v);
        }
        all.vars
    }
}

/// Where the pods reach the apiserver, and what the downward API reports about the node.
#[derive(Debug, Clone)]
pub struct PodFacts {
    pub node_name: String,
    pub host_ip: String,
    pub apiserver_host: String,
    pub apiserver_port: u16,
}

/// Expands `$(VAR)` references like the kubelet (`third_party/forked/golang/expansion`):
/// `$$` is a literal `$`, an unknown `$(VAR)` stays as written, a lone `$` stays.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match after.chars().next() {
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after[1..].find(')') {
                Some(end) => {
                    let name = &after[1..1 + end];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(c) => {
                out.push('$');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The service account a pod runs as (the ServiceAccount admission plugin, disabled on the
/// local apiserver, would have defaulted it to `default`).
pub fn service_account_name(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| {
            s.service_account_name.clone().filter(|n| !n.is_empty()).or_else(|| s.service_account.clone())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// Resolves a downward-API `fieldRef` path against the pod.
///
/// Supports `metadata.name|namespace|uid`, `metadata.labels['k']`, `metadata.annotations['k']`,
/// `metadata.labels` / `metadata.annotations` (all, one `k="v"` per line, for volumes),
/// `spec.nodeName`, `spec.serviceAccountName`, `status.podIP(s)`, `status.hostIP(s)`.
pub fn field_ref(pod: &Pod, facts: &PodFacts, path: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    let annotations = meta.annotations.as_ref().unwrap_or(&empty);
    if let Some(key) = subscript(path, "metadata.labels") {
        return Ok(labels.get(key).cloned().unwrap_or_default());
    }
    if let Some(key) = subscript(path, "metadata.annotations") {
        return Ok(annotations.get(key).cloned().unwrap_or_default());
    }
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(labels),
        "metadata.annotations" => format_map(annotations),
        "spec.nodeName" => facts.node_name.clone(),
        "spec.serviceAccountName" => service_account_name(pod),
        "status.podIP" | "status.podIPs" | "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        other => return Err(format!("unsupported fieldRef fieldPath {other:?}")),
    };
    Ok(value)
}

/// `metadata.labels['key']` → `key` (also with double quotes).
fn subscript<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let inner = path.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
}

/// All labels or annotations as the downward API volume writes them: sorted `k="v"` lines.
fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}={}", go_quote(v))).collect::<Vec<_>>().join("\n")
}

/// Go's `%q` quoting, which the kubelet uses for label and annotation values.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Resolves a `resourceFieldRef` (`limits.cpu`, `requests.memory`, ... with a divisor) for a
/// container: `ceil(value / divisor)`. Unset limits report the node's allocatable amount, like
/// the kubelet; unset requests report 0.
pub fn resource_field_ref(
    container: &Container,
    resource: &str,
    divisor: Option<&str>,
) -> Result<String, String> {
    let (kind, name) = resource
        .split_once('.')
        .filter(|(kind, name)| matches!(*kind, "limits" | "requests") && !name.is_empty())
        .ok_or_else(|| format!("unsupported resourceFieldRef resource {resource:?}"))?;
    let resources = container.resources.as_ref();
    let set = match kind {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        _ => resources.and_then(|r| r.requests.as_ref()),
    };
    let value = match set.and_then(|m| m.get(name)) {
        Some(q) => q.0.clone(),
        None if kind == "limits" => node::allocatable(name)
            .ok_or_else(|| format!("no limit and no node allocatable for resource {name:?}"))?
            .to_owned(),
        None => "0".to_owned(),
    };
    let divisor = divisor.filter(|d| !d.is_empty()).unwrap_or("1");
    quantity::divide_ceil(&value, divisor).map(|v| v.to_string())
}

/// Resolves a `resourceFieldRef` whose `containerName` may name another container of the pod.
pub fn resource_field_ref_in_pod(
    pod: &Pod,
    default_container: Option<&Container>,
    sel: &ResourceFieldSelector,
) -> Result<String, String> {
    let container = match sel.container_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
            .find(|c| c.name == name)
            .ok_or_else(|| format!("resourceFieldRef names unknown container {name:?}"))?,
        None => default_container.ok_or("resourceFieldRef needs a containerName in a volume")?,
    };
    resource_field_ref(container, &sel.resource, sel.divisor.as_ref().map(|d| d.0.as_str()))
}

/// Resolves an `ObjectFieldSelector`.
pub fn field_selector(pod: &Pod, facts: &PodFacts, sel: &ObjectFieldSelector) -> Result<String, String> {
    field_ref(pod, facts, &sel.field_path)
}

/// Where secrets and config maps come from (the apiserver; a fake in unit tests).
pub trait DataSource {
    /// The secret, `None` when it does not exist; `Err` for other failures.
    fn secret(&mut self, name: &str) -> impl Future<Output = Result<Option<Secret>, String>> + Send;
    /// The config map, `None` when it does not exist; `Err` for other failures.
    fn config_map(&mut self, name: &str) -> impl Future<Output = Result<Option<ConfigMap>, String>> + Send;
}

/// The environment variables the kubelet gives every container for the `kubernetes` service.
pub fn service_env(facts: &PodFacts) -> EnvList {
    let (host, port) = (&facts.apiserver_host, facts.apiserver_port);
    let mut env = EnvList::default();
    env.set("KUBERNETES_SERVICE_HOST", host.as_str());
    env.set("KUBERNETES_SERVICE_PORT", port.to_string());
    env.set("KUBERNETES_SERVICE_PORT_HTTPS", port.to_string());
    env.set("KUBERNETES_PORT", format!("tcp://{host}:{port}"));
    env.set("KUBERNETES_PORT_443_TCP", format!("tcp://{host}:{port}"));
    env.set("KUBERNETES_PORT_443_TCP_PROTO", "tcp");
    env.set("KUBERNETES_PORT_443_TCP_PORT", port.to_string());
    env.set("KUBERNETES_PORT_443_TCP_ADDR", host.as_str());
    env
}

/// Builds the environment of `container`. `Err` is the message of a
/// `CreateContainerConfigError` (a missing secret, config map or key; the caller retries).
pub async fn container_env<S: DataSource>(
    source: &mut S,
    pod: &Pod,
    container: &Container,
    facts: &PodFacts,
) -> Result<ContainerEnv, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut image = EnvList::default();
    image.set("PATH", DEFAULT_PATH);
    image.set("HOME", "/root");
    image.set("HOSTNAME", pod.metadata.name.clone().unwrap_or_default());
    let mut vars = service_env(facts);

    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.secret_ref {
            match source.secret(&r.name).await? {
                Some(secret) => {
                    for (k, v) in secret.data.iter().flatten() {
                        vars.set(format!("{prefix}{k}"), String::from_utf8_lossy(&v.0));
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret \"{}\" not found", r.name)),
            }
        }
        if let Some(r) = &from.config_map_ref {
            match source.config_map(&r.name).await? {
                Some(cm) => {
                    for (k, v) in cm.data.iter().flatten() {
                        vars.set(format!("{prefix}{k}"), v.as_str());
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap \"{}\" not found", r.name)),
            }
        }
    }

    for var in container.env.iter().flatten() {
        if let Some(value) = var.value.as_deref().filter(|v| !v.is_empty()) {
            let expanded = expand(value, |name| vars.get(name).map(str::to_owned));
            vars.set(var.name.as_str(), expanded);
            continue;
        }
        let Some(from) = &var.value_from else {
            vars.set(var.name.as_str(), "");
            continue;
        };
        if let Some(sel) = &from.secret_key_ref {
            let optional = sel.optional == Some(true);
            match source.secret(&sel.name).await? {
                Some(secret) => match secret.data.as_ref().and_then(|d| d.get(&sel.key)) {
                    Some(v) => vars.set(var.name.as_str(), String::from_utf8_lossy(&v.0)),
                    None if optional => {}
                    None => return Err(format!("couldn't find key {} in Secret {ns}/{}", sel.key, sel.name)),
                },
                None if optional => {}
                None => return Err(format!("secret \"{}\" not found", sel.name)),
            }
        } else if let Some(sel) = &from.config_map_key_ref {
            let optional = sel.optional == Some(true);
            match source.config_map(&sel.name).await? {
                Some(cm) => match cm.data.as_ref().and_then(|d| d.get(&sel.key)) {
                    Some(v) => vars.set(var.name.as_str(), v.as_str()),
                    None if optional => {}
                    None => {
                        return Err(format!("couldn't find key {} in ConfigMap {ns}/{}", sel.key, sel.name));
                    }
                },
                None if optional => {}
                None => return Err(format!("configmap \"{}\" not found", sel.name)),
            }
        } else if let Some(sel) = &from.field_ref {
            vars.set(var.name.as_str(), field_selector(pod, facts, sel)?);
        } else if let Some(sel) = &from.resource_field_ref {
            vars.set(var.name.as_str(), resource_field_ref_in_pod(pod, Some(container), sel)?);
        } else {
            return Err(format!("env {}: unsupported valueFrom", var.name));
        }
    }
    Ok(ContainerEnv { image, vars })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{
        EnvFromSource, EnvVar, EnvVarSource, PodSpec, ResourceRequirements, SecretEnvSource,
        SecretKeySelector,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_follows_the_kubelet() {
        assert_eq!(expand("x-$(A)-y", lookup), "x-alpha-y");
        assert_eq!(expand("$(A)$(A)", lookup), "alphaalpha");
        assert_eq!(expand("$(MISSING)", lookup), "$(MISSING)");
        assert_eq!(expand("$$(A)", lookup), "$(A)");
        assert_eq!(expand("$$$(A)", lookup), "$alpha");
        assert_eq!(expand("a$b", lookup), "a$b");
        assert_eq!(expand("end$", lookup), "end$");
        assert_eq!(expand("$(A", lookup), "$(A");
        assert_eq!(expand("$()", lookup), "$()");
        assert_eq!(expand("[$(EMPTY)]", lookup), "[]");
        assert_eq!(expand("ünï$(A)cödé", lookup), "ünïalphacödé");
        assert_eq!(expand("$ü", lookup), "$ü");
    }

    fn facts() -> PodFacts {
        PodFacts {
            node_name: "harness".into(),
            host_ip: "127.0.0.1".into(),
            apiserver_host: "127.0.0.1".into(),
            apiserver_port: 6443,
        }
    }

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p1".into()),
                namespace: Some("ns1".into()),
                uid: Some("u-1".into()),
                labels: Some(BTreeMap::from([
                    ("app".into(), "x".into()),
                    ("b".into(), "say \"hi\"\n".into()),
                ])),
                annotations: Some(BTreeMap::from([
                    ("note".into(), "n".into()),
                    ("batch.kubernetes.io/job-completion-index".into(), "2".into()),
                ])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "main".into(),
                    resources: Some(ResourceRequirements {
                        limits: Some(BTreeMap::from([("memory".into(), Quantity("256Mi".into()))])),
                        requests: Some(BTreeMap::from([("cpu".into(), Quantity("250m".into()))])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn field_refs() {
        let (p, f) = (pod(), facts());
        assert_eq!(field_ref(&p, &f, "metadata.name").as_deref(), Ok("p1"));
        assert_eq!(field_ref(&p, &f, "metadata.namespace").as_deref(), Ok("ns1"));
        assert_eq!(field_ref(&p, &f, "metadata.uid").as_deref(), Ok("u-1"));
        assert_eq!(field_ref(&p, &f, "metadata.labels['app']").as_deref(), Ok("x"));
        assert_eq!(field_ref(&p, &f, "metadata.labels['nope']").as_deref(), Ok(""));
        assert_eq!(field_ref(&p, &f, "metadata.annotations['note']").as_deref(), Ok("n"));
        // How an Indexed Job's pod learns its index (JOB_COMPLETION_INDEX, set by the job
        // controller): a key with dots and a slash.
        assert_eq!(
            field_ref(&p, &f, "metadata.annotations['batch.kubernetes.io/job-completion-index']").as_deref(),
            Ok("2")
        );
        assert_eq!(field_ref(&p, &f, "metadata.labels").as_deref(), Ok("app=\"x\"\nb=\"say \\\"hi\\\"\\n\""));
        assert_eq!(field_ref(&p, &f, "spec.nodeName").as_deref(), Ok("harness"));
        assert_eq!(field_ref(&p, &f, "spec.serviceAccountName").as_deref(), Ok("default"));
        assert_eq!(field_ref(&p, &f, "status.podIP").as_deref(), Ok("127.0.0.1"));
        assert_eq!(field_ref(&p, &f, "status.hostIP").as_deref(), Ok("127.0.0.1"));
        assert!(field_ref(&p, &f, "spec.bogus").is_err());
    }

    #[test]
    fn resource_field_refs() {
        let p = pod();
        let c = &p.spec.as_ref().map(|s| s.containers[0].clone()).unwrap_or_default();
        assert_eq!(resource_field_ref(c, "limits.memory", None).as_deref(), Ok("268435456"));
        assert_eq!(resource_field_ref(c, "limits.memory", Some("1Mi")).as_deref(), Ok("256"));
        assert_eq!(resource_field_ref(c, "requests.cpu", Some("1m")).as_deref(), Ok("250"));
        assert_eq!(resource_field_ref(c, "requests.cpu", None).as_deref(), Ok("1"));
        // No CPU limit: the node's allocatable CPU.
        assert_eq!(resource_field_ref(c, "limits.cpu", None).as_deref(), Ok("2"));
        assert_eq!(resource_field_ref(c, "requests.memory", None).as_deref(), Ok("0"));
        assert!(resource_field_ref(c, "bogus", None).is_err());
    }

    struct Fake {
        secrets: BTreeMap<String, Secret>,
    }

    impl DataSource for Fake {
        async fn secret(&mut self, name: &str) -> Result<Option<Secret>, String> {
            Ok(self.secrets.get(name).cloned())
        }
        async fn config_map(&mut self, _name: &str) -> Result<Option<ConfigMap>, String> {
            Ok(None)
        }
    }

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec()))).collect(),
            ),
            ..Default::default()
        }
    }

    fn secret_ref(name: &str, key: &str, optional: Option<bool>) -> EnvVarSource {
        EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: name.into(), key: key.into(), optional }),
            ..Default::default()
        }
    }

    fn run_env(fake: &mut Fake, container: &Container) -> Result<ContainerEnv, String> {
        let rt = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
        rt.block_on(container_env(fake, &pod(), container, &facts()))
    }

    #[test]
    fn builds_a_clean_environment_with_secrets_and_expansion() -> Result<(), String> {
        let mut fake = Fake { secrets: BTreeMap::from([("creds".to_owned(), secret(&[("user", "bob")]))]) };
        let container = Container {
            name: "main".into(),
            env_from: Some(vec![EnvFromSource {
                prefix: Some("S_".into()),
                secret_ref: Some(SecretEnvSource { name: "creds".into(), optional: None }),
                ..Default::default()
            }]),
            env: Some(vec![
                EnvVar {
                    name: "USER".into(),
                    value_from: Some(secret_ref("creds", "user", None)),
                    value: None,
                },
                EnvVar {
                    name: "GREETING".into(),
                    value: Some("hi $(USER) on $(POD)".into()),
                    value_from: None,
                },
                EnvVar {
                    name: "OPT".into(),
                    value_from: Some(secret_ref("missing", "k", Some(true))),
                    value: None,
                },
                EnvVar { name: "P".into(), value: Some("$(PATH)".into()), value_from: None },
            ]),
            ..Default::default()
        };
        let env = run_env(&mut fake, &container)?;
        assert_eq!(env.vars.get("S_user"), Some("bob"));
        assert_eq!(env.vars.get("USER"), Some("bob"));
        assert_eq!(env.vars.get("GREETING"), Some("hi bob on $(POD)"));
        assert_eq!(env.vars.get("OPT"), None);
        // PATH comes from the "image", which `$(VAR)` does not see (like the kubelet).
        assert_eq!(env.vars.get("P"), Some("$(PATH)"));
        assert_eq!(env.effective("PATH"), Some(DEFAULT_PATH));
        assert_eq!(env.effective("HOSTNAME"), Some("p1"));
        assert_eq!(env.vars.get("KUBERNETES_SERVICE_PORT"), Some("6443"));
        let process = env.to_process_env();
        assert!(process.iter().all(|(k, _)| k != "KUBECONFIG"));
        assert_eq!(process.iter().filter(|(k, _)| k == "PATH").count(), 1);
        Ok(())
    }

    #[test]
    fn missing_secret_or_key_is_a_config_error() {
        let mut fake = Fake { secrets: BTreeMap::from([("creds".to_owned(), secret(&[("user", "bob")]))]) };
        let with = |src: EnvVarSource| Container {
            name: "main".into(),
            env: Some(vec![EnvVar { name: "X".into(), value_from: Some(src), value: None }]),
            ..Default::default()
        };
        let err = run_env(&mut fake, &with(secret_ref("nope", "k", None)));
        assert_eq!(err.err().as_deref(), Some("secret \"nope\" not found"));
        let err = run_env(&mut fake, &with(secret_ref("creds", "password", None)));
        assert_eq!(err.err().as_deref(), Some("couldn't find key password in Secret ns1/creds"));
        assert!(run_env(&mut fake, &with(secret_ref("creds", "password", Some(true)))).is_ok());
    }
}
