//! The Helm chart (`config/helm/strimzi-backup-operator`) installed on the local API server as a
//! user would install it, and the operator it deploys working with exactly the chart's RBAC.
//!
//! The chart is rendered by `helm template --namespace <release namespace>` (self-signed webhook
//! certificates, `watchNamespaces` = one fresh namespace) and every object is server-side applied
//! (strict field validation); its CRDs come from the chart's `crds/`, which must be
//! `config/crd/bases` byte for byte, so applying them changes nothing other tests rely on. The
//! Deployment's pod is run by the pod harness (the image maps to our built binary, the
//! ServiceAccount's token is the pod's credential, the Deployment and ReplicaSet controllers of
//! the local controller manager create it). The test checks that:
//! - every rendered object exists;
//! - the pod becomes Ready, the operator answers `/readyz`, its `/metrics` answers through the
//!   metrics Service's ClusterIP, and it takes the leader Lease in the release namespace;
//! - the webhooks answer through the webhook Service (the harness's stand-in for kube-proxy):
//!   a bad KafkaBackup in the watched namespace is denied, a minimal one is stored with every
//!   default filled in, the controller adds its finalizer and writes the status, and removes the
//!   finalizer when the backup is deleted;
//! - rendering again as an upgrade against the cluster (`helm template --is-upgrade
//!   --dry-run=server`, which runs the chart's `lookup`) reuses the certificate Secret, so the
//!   CA bundle and the pods' checksum annotation do not change.
//!
//! Cleanup (also when the test fails): the webhook configurations first (they would refuse writes
//! in the watched namespace once the operator is gone), the release namespace (waiting until it is
//! gone, so the operator has stopped), leftover finalizers and the watched namespace, then the
//! ClusterRoles and ClusterRoleBindings. The CRDs stay: other tests use them.
//!
//! Fixed ports: the chart's pod listens on the host's 9090 (metrics) and 9443 (webhooks), because
//! the harness runs pods on the host network and the chart's ports are fixed (its Services use
//! them as their own ports, so the pod's wildcard sockets answer on the ClusterIPs). Other tests
//! run their operators on free ports, but any test running the chart's or config/default's
//! Deployment needs the same two, so from before the Deployment is applied until its pod is gone
//! this test holds an exclusive `flock(2)` on [`FIXED_PORTS_LOCK`]; such a test must take the same
//! lock. (`std::fs::File::lock` is newer than the workspace's rust-version; flock is what it
//! does on Linux.) Like the other install tests it is `#[ignore]`d in `make e2e`'s parallel pass
//! and run alone after the rest (`-- --ignored`).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::json;
use strimzi_backup_e2e::defaults;
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::{Cluster, http_get, unique_suffix, wait_until};
use strimzi_backup_operator::api::backup::KafkaBackup;

/// Held (exclusive `flock`) while a pod listening on the host's fixed ports 9090 and 9443 runs.
pub const FIXED_PORTS_LOCK: &str = "/tmp/strimzi-backup-e2e-fixed-ports.lock";

const CHART: &str = "config/helm/strimzi-backup-operator";
/// The operator's metrics and webhook ports (config/manager/manager.yaml).
const METRICS_PORT: u16 = 9090;
const LEASE: &str = "strimzi-backup-operator-leader";
const FINALIZER: &str = "kafkabackup.com/cleanup";

/// The exclusive lock on [`FIXED_PORTS_LOCK`]; released when dropped (the file is closed).
struct FixedPorts {
    _file: std::fs::File,
}

async fn lock_fixed_ports() -> anyhow::Result<FixedPorts> {
    tokio::task::spawn_blocking(|| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(FIXED_PORTS_LOCK)
            .with_context(|| format!("opening {FIXED_PORTS_LOCK}"))?;
        loop {
            // SAFETY: flock(2) on a descriptor this function owns; it blocks until the lock is free.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(FixedPorts { _file: file });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(anyhow::Error::new(err).context(format!("locking {FIXED_PORTS_LOCK}")));
            }
        }
    })
    .await?
}

/// The helm binary: `$HELM`, else the one `hack/tools.sh` builds (`hack/tools.sh helm`).
fn helm_binary() -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os("HELM") {
        Some(p) => PathBuf::from(p),
        None => {
            let out = Command::new("bash")
                .args(["-c", ". hack/tools.sh && printf %s \"$HELM\""])
                .current_dir(workspace_root())
                .output()
                .context("sourcing hack/tools.sh for $HELM")?;
            ensure!(out.status.success(), "hack/tools.sh: {}", String::from_utf8_lossy(&out.stderr));
            PathBuf::from(String::from_utf8(out.stdout)?)
        }
    };
    ensure!(path.is_file(), "helm not found at {}: run `hack/tools.sh helm` (or set HELM)", path.display());
    Ok(path)
}

/// Runs helm; its stdout.
fn helm(binary: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(binary)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .with_context(|| format!("running helm {args:?}"))?;
    ensure!(out.status.success(), "helm {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

/// The objects of a rendered chart.
fn documents(yaml: &str) -> anyhow::Result<Vec<DynamicObject>> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value: serde_json::Value = serde::Deserialize::deserialize(doc)?;
        if !value.is_null() {
            docs.push(serde_json::from_value(value)?);
        }
    }
    Ok(docs)
}

/// An object applied from the chart: where it lives.
#[derive(Debug, Clone)]
struct Applied {
    kind: String,
    /// `<plural>.<group>` (or `<plural>` for the core group), as kubectl takes it.
    resource: String,
    name: String,
    /// `None`: cluster-scoped.
    namespace: Option<String>,
    api: Api<DynamicObject>,
}

/// Server-side applies `obj` (strict field validation, [`Cluster::apply_located`]) into its
/// namespace, `default_ns` when it names none, or cluster-wide when its kind is cluster-scoped.
async fn apply(cluster: &Cluster, default_ns: &str, obj: &DynamicObject) -> anyhow::Result<Applied> {
    let (applied, at) = cluster.apply_located(default_ns, obj).await?;
    let kind = obj.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
    let resource = match at.resource.group.as_str() {
        "" => at.resource.plural.clone(),
        group => format!("{}.{group}", at.resource.plural),
    };
    Ok(Applied {
        kind,
        resource,
        name: applied.metadata.name.unwrap_or_default(),
        namespace: at.namespace,
        api: at.api,
    })
}

/// Removes what the test installed, in an order that cannot get stuck, also when the test fails
/// (kubectl, synchronously, like the webhook registrations of the other tests).
/// The fixed-ports lock is a field: fields are dropped after `drop`, so the lock is released only
/// once the pod is gone.
struct Cleanup {
    kubectl_bin: PathBuf,
    kubeconfig: PathBuf,
    release_ns: String,
    watched_ns: String,
    /// (kind, `<plural>.<group>`, name) of each cluster-scoped object applied.
    cluster_scoped: Vec<(String, String, String)>,
    ports: Option<FixedPorts>,
}

impl Cleanup {
    fn kubectl(&self, args: &[&str]) -> Option<String> {
        let out =
            Command::new(&self.kubectl_bin).arg("--kubeconfig").arg(&self.kubeconfig).args(args).output();
        match out {
            Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
            Ok(o) => {
                eprintln!("cleanup: kubectl {args:?}: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("cleanup: kubectl {args:?}: {e}");
                None
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let webhooks = |kind: &str| kind.ends_with("WebhookConfiguration");
        // 1. The webhooks: without the operator they would refuse every write in the watched
        //    namespace, the finalizer removals below included.
        for (_, resource, name) in self.cluster_scoped.iter().filter(|(k, _, _)| webhooks(k)) {
            self.kubectl(&["delete", &format!("{resource}/{name}"), "--ignore-not-found"]);
        }
        // 2. The release namespace, waiting until it is gone: the operator has stopped (it would
        //    put back a finalizer removed under it) and its ports are free before the lock goes.
        let delete_namespace = |ns: &str| {
            self.kubectl(&["delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=120s"]);
        };
        delete_namespace(&self.release_ns);
        // 3. Finalizers the operator had no chance to remove, then the watched namespace.
        if let Some(names) = self.kubectl(&["-n", &self.watched_ns, "get", "kafkabackups", "-o", "name"]) {
            for name in names.lines().filter(|l| !l.is_empty()) {
                self.kubectl(&[
                    "-n",
                    &self.watched_ns,
                    "patch",
                    name,
                    "--type=merge",
                    "-p",
                    r#"{"metadata":{"finalizers":null}}"#,
                ]);
            }
        }
        delete_namespace(&self.watched_ns);
        // 4. The cluster-wide RBAC. Never the CRDs.
        for (_, resource, name) in self.cluster_scoped.iter().filter(|(k, _, _)| !webhooks(k)) {
            self.kubectl(&["delete", &format!("{resource}/{name}"), "--ignore-not-found"]);
        }
    }
}

/// Webhook configurations on `kafkabackup.com` other than the release's (another install left
/// running judges the test's objects too), for failure messages.
async fn other_webhooks(cluster: &Cluster, ours: &str) -> String {
    let mut found = Vec::new();
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(cluster.client.clone());
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(cluster.client.clone());
    let on_our_group = |rules: Option<&Vec<RuleWithOperations>>| {
        rules
            .into_iter()
            .flatten()
            .any(|r| r.api_groups.iter().flatten().any(|g| g == "kafkabackup.com" || g == "*"))
    };
    if let Ok(list) = mutating.list(&ListParams::default()).await {
        for c in list.items {
            if c.webhooks.iter().flatten().any(|w| on_our_group(w.rules.as_ref())) {
                found.push(format!("MutatingWebhookConfiguration {}", c.metadata.name.unwrap_or_default()));
            }
        }
    }
    if let Ok(list) = validating.list(&ListParams::default()).await {
        for c in list.items {
            if c.webhooks.iter().flatten().any(|w| on_our_group(w.rules.as_ref())) {
                found.push(format!("ValidatingWebhookConfiguration {}", c.metadata.name.unwrap_or_default()));
            }
        }
    }
    found.retain(|f| !f.ends_with(&format!(" {ours}")));
    if found.is_empty() {
        String::new()
    } else {
        format!(" (other webhooks judge kafkabackup.com objects too: {})", found.join(", "))
    }
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "install test: runs alone after the rest (make e2e's second pass, --ignored)"]
async fn the_chart_installs_an_operator_that_works_with_its_own_rbac_and_webhooks() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let helm_bin = helm_binary()?;
    let root = workspace_root();

    // The chart's CRDs are the generated ones, so applying them leaves other tests' CRDs as they are.
    let mut crd_files = Vec::new();
    for entry in std::fs::read_dir(root.join("config/crd/bases"))? {
        let base = entry?.path();
        let copy = root.join(CHART).join("crds").join(base.file_name().context("CRD file name")?);
        ensure!(
            std::fs::read(&copy).ok() == Some(std::fs::read(&base)?),
            "{} is not {}: run hack/helm-sync.sh",
            copy.display(),
            base.display()
        );
        crd_files.push(copy);
    }
    cluster.install_crd_files(&crd_files).await?;

    let release_ns = cluster.namespace("helm-release").await?;
    let watched_ns = cluster.namespace("helm-watched").await?;
    let mut cleanup = Cleanup {
        kubectl_bin: cluster.env.kubectl().to_path_buf(),
        kubeconfig: cluster.env.kubeconfig().to_path_buf(),
        release_ns: release_ns.clone(),
        watched_ns: watched_ns.clone(),
        cluster_scoped: Vec::new(),
        ports: None,
    };
    let release = format!("e2e-helm-{}", unique_suffix());
    let fullname = format!("{release}-strimzi-backup-operator");
    let values = std::env::temp_dir().join(format!("{release}-values.yaml"));
    std::fs::write(
        &values,
        format!(
            // replicaCount 1: the pod harness runs pods on the host network, where a second
            // replica could not bind the fixed ports (the chart's default is 2).
            "watchNamespaces: [{watched_ns}]\nlogLevel: info,kube=warn\nreplicaCount: 1\nwebhook:\n  certs:\n    mode: selfSigned"
        ),
    )?;
    let values_arg = values.to_string_lossy().into_owned();
    let rendered =
        helm(&helm_bin, &["template", &release, CHART, "--namespace", &release_ns, "-f", &values_arg])?;
    let objects = documents(&rendered)?;
    ensure!(!objects.is_empty(), "helm template rendered nothing");

    // From here on the pod may run: the fixed ports are ours until the cleanup is done.
    eprintln!("waiting for {FIXED_PORTS_LOCK}");
    cleanup.ports = Some(lock_fixed_ports().await?);
    let mut applied = Vec::new();
    for obj in &objects {
        let a = apply(&cluster, &release_ns, obj).await?;
        if a.namespace.is_none() {
            cleanup.cluster_scoped.push((a.kind.clone(), a.resource.clone(), a.name.clone()));
        }
        applied.push(a);
    }

    // Every object is there, in the namespace it belongs to.
    for a in &applied {
        ensure!(
            a.api.get_opt(&a.name).await?.is_some(),
            "{} {} ({:?}) was not created",
            a.kind,
            a.name,
            a.namespace
        );
    }
    let kinds: Vec<&str> = applied.iter().map(|a| a.kind.as_str()).collect();
    for kind in [
        "ServiceAccount",
        "Secret",
        "ClusterRole",
        "RoleBinding",
        "Role",
        "Service",
        "Deployment",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        ensure!(kinds.contains(&kind), "the chart rendered no {kind}: {kinds:?}");
    }
    ensure!(!kinds.contains(&"ClusterRoleBinding"), "a ClusterRoleBinding although one namespace is watched");
    let bound =
        applied.iter().any(|a| a.kind == "RoleBinding" && a.namespace.as_deref() == Some(&watched_ns));
    ensure!(bound, "no RoleBinding in the watched namespace");

    // The pod runs (the harness runs our binary for the chart's image) and becomes Ready.
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &release_ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &release_ns);
    let selector = format!("app.kubernetes.io/instance={release},app.kubernetes.io/component=operator");
    let pod = wait_until(Duration::from_secs(90), "the operator pod Ready", || async {
        let list = pods.list(&ListParams::default().labels(&selector)).await?;
        Ok(list.items.into_iter().find(is_ready))
    })
    .await?;
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    ensure!(
        pod.spec.as_ref().and_then(|s| s.service_account_name.as_deref()) == Some(fullname.as_str()),
        "the pod does not run as the chart's ServiceAccount {fullname}"
    );
    wait_until(Duration::from_secs(60), "the Deployment's ready replica", || async {
        let d = deployments.get(&fullname).await?;
        Ok((d.status.and_then(|s| s.ready_replicas) == Some(1)).then_some(()))
    })
    .await?;
    let pod_log = || {
        let dir = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(strimzi_backup_e2e::kubelet::LOG_DIR_ANNOTATION));
        format!("the operator pod's logs: {}", dir.map(String::as_str).unwrap_or("(no harness annotation)"))
    };

    // The operator itself: ready, and holding the Lease in the release namespace (its Role there).
    wait_until(Duration::from_secs(60), "/readyz of the operator", || async {
        Ok((http_get(("127.0.0.1", METRICS_PORT), "/readyz").await?.0 == 200).then_some(()))
    })
    .await
    .with_context(pod_log)?;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &release_ns);
    wait_until(Duration::from_secs(60), "the operator holding its Lease", || async {
        let holder = leases.get_opt(LEASE).await?.and_then(|l| l.spec).and_then(|s| s.holder_identity);
        Ok((holder.as_deref() == Some(pod_name.as_str())).then_some(()))
    })
    .await
    .with_context(pod_log)?;

    // /metrics through the metrics Service's ClusterIP.
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &release_ns);
    let metrics_ip = services
        .get(&format!("{fullname}-metrics"))
        .await?
        .spec
        .and_then(|s| s.cluster_ip)
        .context("the metrics Service has no ClusterIP")?;
    wait_until(Duration::from_secs(60), "/metrics through the metrics Service", || async {
        let (status, body) = http_get((metrics_ip.as_str(), METRICS_PORT), "/metrics").await?;
        Ok((status == 200 && body.contains("strimzi_backup_license_info")).then_some(()))
    })
    .await?;

    // The webhooks, called by the API server through the webhook Service: a bad spec is denied
    // by the operator (a cron only the webhook checks).
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &watched_ns);
    let backup = |name: &str, cron: &str| -> anyhow::Result<KafkaBackup> {
        Ok(serde_json::from_value(json!({
            "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup", "metadata": {"name": name},
            "spec": {"kafkaCluster": {"bootstrapServers": "127.0.0.1:1"},
                     "storage": {"type": "s3", "s3": {"bucket": "backups", "region": "r"}},
                     "schedule": {"cron": cron, "suspend": true}}
        }))?)
    };
    let probe = backup("probe", "61 * * * *")?;
    let dry_run = PostParams { dry_run: true, ..PostParams::default() };
    let others = other_webhooks(&cluster, &fullname).await;
    let webhook_context = || format!("{}{others}", pod_log());
    wait_until(Duration::from_secs(60), "the webhooks to deny a bad cron", || async {
        match backups.create(&dry_run, &probe).await {
            Ok(_) => bail!("a cron of 61 minutes was accepted: the webhooks were not called"),
            Err(e) if e.to_string().contains("denied the request") => Ok(Some(())),
            Err(e) => Err(e.into()),
        }
    })
    .await
    .with_context(webhook_context)?;

    // A minimal backup is stored with every default. It goes to the API server as written (a
    // typed KafkaBackup would carry the client's serde defaults and prove nothing).
    let given = json!({"kafkaCluster": {"bootstrapServers": "127.0.0.1:1"},
        "storage": {"type": "s3", "s3": {"bucket": "backups", "region": "r"}},
        "schedule": {"cron": "0 2 * * *", "suspend": true}});
    let minimal: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup", "metadata": {"name": "minimal"},
        "spec": given,
    }))?;
    cluster.apply(&watched_ns, &minimal).await.with_context(webhook_context)?;
    // Read untyped: a typed KafkaBackup would fill in serde's defaults on the way in.
    let untyped: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &watched_ns,
        &kube::api::ApiResource::erase::<KafkaBackup>(&()),
    );
    let stored = serde_json::to_value(untyped.get("minimal").await?)?;
    let spec = &stored["spec"];
    assert_eq!(spec, &defaults::applied(&defaults::kafka_backup(), &given), "SPEC §2.2 defaults");
    assert_eq!(spec["backup"]["compression"], "zstd");
    assert_eq!(spec["schedule"]["timezone"], "UTC");
    assert_eq!(spec["deletionPolicy"], "Retain");

    // The controller (bound in the watched namespace only) takes it on: finalizer and status.
    wait_until(Duration::from_secs(60), "the controller's finalizer and status", || async {
        let kb = backups.get("minimal").await?;
        let finalized = kb.metadata.finalizers.iter().flatten().any(|f| f == FINALIZER);
        let reported = kb.status.is_some_and(|s| !s.conditions.is_empty());
        Ok((finalized && reported).then_some(()))
    })
    .await
    .with_context(pod_log)?;
    backups.delete("minimal", &DeleteParams::default()).await?;
    wait_until(Duration::from_secs(60), "the backup deleted (finalizer removed)", || async {
        Ok(backups.get_opt("minimal").await?.is_none().then_some(()))
    })
    .await
    .with_context(pod_log)?;

    // An upgrade renders the same certificate: the chart's lookup finds the Secret in the cluster.
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &release_ns);
    let installed = secrets.get(&format!("{fullname}-webhook-cert")).await?;
    let kubeconfig = cluster.env.kubeconfig().to_string_lossy().into_owned();
    let upgrade = helm(
        &helm_bin,
        &[
            "template",
            &release,
            CHART,
            "--namespace",
            &release_ns,
            "-f",
            &values_arg,
            "--is-upgrade",
            "--dry-run=server",
            "--kubeconfig",
            &kubeconfig,
        ],
    )?;
    let upgraded = documents(&upgrade)?;
    let secret = upgraded
        .iter()
        .find(|o| {
            o.types.as_ref().is_some_and(|t| t.kind == "Secret") && o.metadata.name == installed.metadata.name
        })
        .context("no certificate Secret in the upgrade's rendering")?;
    let installed_data = serde_json::to_value(&installed.data)?;
    ensure!(
        secret.data["data"] == installed_data,
        "the upgrade generated a new certificate instead of reusing the installed one"
    );
    let checksum = |objs: &[DynamicObject]| {
        objs.iter()
            .find(|o| o.types.as_ref().is_some_and(|t| t.kind == "Deployment"))
            .map(|d| d.data["spec"]["template"]["metadata"]["annotations"]["checksum/webhook-cert"].clone())
    };
    ensure!(checksum(&upgraded) == checksum(&objects), "the pods' checksum annotation changed on upgrade");
    let ca_bundles = |objs: &[DynamicObject]| -> Vec<serde_json::Value> {
        objs.iter()
            .filter(|o| o.types.as_ref().is_some_and(|t| t.kind.ends_with("WebhookConfiguration")))
            .flat_map(|o| o.data["webhooks"].as_array().cloned().unwrap_or_default())
            .map(|w| w["clientConfig"]["caBundle"].clone())
            .collect()
    };
    let bundles = ca_bundles(&upgraded);
    ensure!(
        // A mutating and a validating webhook per kind users write.
        bundles.len() == 2 * strimzi_backup_operator::admission::KINDS.len()
            && bundles.iter().all(|b| b == &installed_data["ca.crt"]),
        "the upgrade's caBundles are not the installed CA"
    );

    let _ = std::fs::remove_file(&values);
    drop(cleanup);
    Ok(())
}
