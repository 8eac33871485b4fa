//! Building blocks of the end-to-end tests: a connection to the local cluster, a namespace per
//! test, applying YAML the way `kubectl apply --server-side` does, and polling with a deadline.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;

use crate::env::{TestEnv, workspace_root};

/// Field manager the tests apply with.
pub const MANAGER: &str = "strimzi-backup-e2e";

/// The local cluster and its environment.
pub struct Cluster {
    pub env: TestEnv,
    pub client: kube::Client,
}

impl Cluster {
    pub async fn connect() -> anyhow::Result<Self> {
        let env = TestEnv::load()?;
        let client = env.client().await?;
        Ok(Self { env, client })
    }

    /// Creates a fresh namespace `e2e-<prefix>-<suffix>` so tests never see each other's objects.
    pub async fn namespace(&self, prefix: &str) -> anyhow::Result<String> {
        let name = format!("e2e-{prefix}-{}", unique_suffix());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {
                "app.kubernetes.io/part-of": "strimzi-backup-e2e",
                // The API server's Pod Security admission judges every pod of the test (the
                // operator's Jobs, the installed operator) as the strictest clusters do.
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }}
        }))?;
        Api::<Namespace>::all(self.client.clone()).create(&PostParams::default(), &ns).await?;
        Ok(name)
    }

    /// Deletes a test namespace and waits until it is gone: the namespace controller removes
    /// what is in it, and objects with our finalizers go only while the test's operator still
    /// runs — so a test that stopped its operator first would leave them Terminating.
    pub async fn delete_namespace(&self, name: &str) -> anyhow::Result<()> {
        let namespaces = Api::<Namespace>::all(self.client.clone());
        namespaces.delete(name, &DeleteParams::default()).await?;
        let gone = wait_until(Duration::from_secs(120), &format!("namespace {name} to be gone"), || async {
            Ok(namespaces.get_opt(name).await?.is_none().then_some(()))
        })
        .await;
        match gone {
            Ok(()) => Ok(()),
            // What holds it: the namespace controller says in the conditions.
            Err(e) => {
                let left = namespaces.get_opt(name).await.ok().flatten().and_then(|n| n.status);
                Err(e.context(format!("{left:?}")))
            }
        }
    }

    /// Installs the generated CRDs from `config/crd/bases` (the files users install) and waits
    /// until the apiserver reports them Established.
    pub async fn install_crds(&self) -> anyhow::Result<Vec<String>> {
        let dir = workspace_root().join("config/crd/bases");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            files.push(entry?.path());
        }
        self.install_crd_files(&files).await
    }

    /// Installs the CRDs in the given YAML files (one or more documents each) and waits until
    /// they are established.
    pub async fn install_crd_files(&self, files: &[std::path::PathBuf]) -> anyhow::Result<Vec<String>> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let mut names = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(path)?;
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let crd: CustomResourceDefinition = serde::Deserialize::deserialize(doc)
                    .with_context(|| format!("parsing {}", path.display()))?;
                let name = crd.metadata.name.clone().context("CRD without name")?;
                crds.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd)).await?;
                names.push(name);
            }
        }
        names.sort();
        for name in &names {
            wait_until(Duration::from_secs(30), &format!("CRD {name} Established"), || async {
                let crd = crds.get(name).await?;
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                Ok(established.then_some(()))
            })
            .await?;
        }
        Ok(names)
    }

    /// [`Self::install_crd_files`] for every `*.yaml` file in `dir`, in name order (a project's
    /// CRD directory, as cert-manager and OLM ship theirs).
    pub async fn install_crd_dir(&self, dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        self.install_crd_files(&files).await
    }

    /// Server-side applies every document of a YAML file into `namespace`, rejecting unknown
    /// fields (strict field validation) like `kubectl apply --server-side --validate=strict`.
    pub async fn apply_file(&self, namespace: &str, path: &Path) -> anyhow::Result<Vec<DynamicObject>> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        self.apply_yaml(namespace, &text).await.with_context(|| format!("applying {}", path.display()))
    }

    /// Server-side applies every document of a YAML stream into `namespace`.
    pub async fn apply_yaml(&self, namespace: &str, yaml: &str) -> anyhow::Result<Vec<DynamicObject>> {
        let mut applied = Vec::new();
        for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
            let obj: DynamicObject = serde::Deserialize::deserialize(doc)?;
            applied.push(self.apply(namespace, &obj).await?);
        }
        Ok(applied)
    }

    /// Server-side applies one object: into its own namespace, else `namespace`, or cluster-wide
    /// when its kind is cluster-scoped (a ClusterRole in a bundle, say).
    pub async fn apply(&self, namespace: &str, obj: &DynamicObject) -> anyhow::Result<DynamicObject> {
        Ok(self.apply_located(namespace, obj).await?.0)
    }

    /// [`Self::apply`], also saying where the object went, for tests that clean up after it.
    pub async fn apply_located(
        &self,
        namespace: &str,
        obj: &DynamicObject,
    ) -> anyhow::Result<(DynamicObject, Located)> {
        let types = obj.types.as_ref().context("object without apiVersion/kind")?;
        let gvk = GroupVersionKind::try_from(types)?;
        let (resource, caps) = pinned_kind(&self.client, &gvk).await?;
        let name = obj.metadata.name.clone().context("object without metadata.name")?;
        let (api, namespace) = if caps.scope == kube::discovery::Scope::Cluster {
            (Api::all_with(self.client.clone(), &resource), None)
        } else {
            let ns = obj.metadata.namespace.clone().unwrap_or_else(|| namespace.to_owned());
            (Api::namespaced_with(self.client.clone(), &ns, &resource), Some(ns))
        };
        let params = PatchParams::apply(MANAGER).force().validation_strict();
        let applied = api
            .patch(&name, &params, &Patch::Apply(obj))
            .await
            .with_context(|| format!("applying {} {name}", types.kind))?;
        Ok((applied, Located { api, resource, namespace }))
    }

    /// Runs the pinned kubectl against the local cluster.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        std::process::Command::new(self.env.kubectl())
            .arg("--kubeconfig")
            .arg(self.env.kubeconfig())
            .args(args)
            .output()
            .with_context(|| format!("running kubectl {args:?}"))
    }

    /// `kubectl apply -f` of `yaml` in `ns`, with `extra` flags (e.g. `--dry-run=server`), as a
    /// user meets the API server and its webhooks: (succeeded, stdout + stderr).
    pub fn kubectl_apply(&self, ns: &str, yaml: &str, extra: &[&str]) -> anyhow::Result<(bool, String)> {
        let file = std::env::temp_dir().join(format!("e2e-apply-{}.yaml", unique_suffix()));
        std::fs::write(&file, yaml)?;
        let path = file.to_string_lossy().to_string();
        let mut args = vec!["-n", ns, "apply", "-f", &path];
        args.extend_from_slice(extra);
        let out = self.kubectl(&args);
        let _ = std::fs::remove_file(&file);
        let out = out?;
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text))
    }
}

/// Where [`Cluster::apply_located`] put an object.
pub struct Located {
    /// The object's kind, in its namespace or cluster-wide.
    pub api: Api<DynamicObject>,
    pub resource: kube::api::ApiResource,
    /// `None`: the kind is cluster-scoped.
    pub namespace: Option<String>,
}

/// Polls `check` every 250 ms until it yields `Some`, failing with `what` after `timeout`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(err) => last_error = Some(err),
        }
        if Instant::now() > deadline {
            match last_error {
                Some(err) => bail!("timed out after {timeout:?} waiting for {what}; last error: {err:#}"),
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until `client`'s user may `verb` `resource` (of `group`) in `ns`: the API server's
/// authorizer sees a new RoleBinding a moment after it was created (an informer), so a test that
/// binds a role and acts at once can be refused by RBAC it just granted.
pub async fn until_allowed(
    client: &kube::Client,
    group: &str,
    resource: &str,
    verb: &str,
    ns: &str,
) -> anyhow::Result<()> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let review: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let ask = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.into()),
                resource: Some(resource.into()),
                verb: Some(verb.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    wait_until(Duration::from_secs(30), &format!("the right to {verb} {resource} in {ns}"), || async {
        let answer = review.create(&PostParams::default(), &ask).await?;
        Ok(answer.status.is_some_and(|s| s.allowed).then_some(()))
    })
    .await
}

/// A Strimzi resource (`kafka.strimzi.io`) of `version`, for its CRDs in the tests.
pub fn strimzi_resource(version: &str, kind: &str, plural: &str) -> kube::api::ApiResource {
    kube::api::ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kafka.strimzi.io", version, kind),
        plural,
    )
}

/// A short suffix that differs between test runs and between tests of one run.
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{n}", (nanos ^ std::process::id().rotate_left(16)) & 0xffffff)
}

/// The last `n` lines of `text` (a log), for failure messages.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `GET path` over HTTP/1.0 to `addr`, within 10 s: (status code, body). An error when the
/// connection is refused, reset, or closed without an answer.
pub async fn http_get(addr: impl tokio::net::ToSocketAddrs, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let text = String::from_utf8(response)?;
        let (head, body) =
            text.split_once("\r\n\r\n").with_context(|| format!("no HTTP answer: {text:?}"))?;
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
        Ok((status, body.to_owned()))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange).await?
}
