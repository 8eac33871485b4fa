//! The operator as the end-to-end tests run it: the built binary's `operator` subcommand as a
//! host process, watching one test namespace and holding its Lease there, so tests run side by
//! side, each with its own operator, against the one local control plane. Its Jobs run through
//! the real job controller and the pod harness, which maps [`IMAGE`] to the same binary.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use kube::api::{Api, DynamicObject, Patch, PatchParams};

use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::condition::ConditionStatus;
use strimzi_backup_operator::api::restore::RunPhase;

use crate::dataplane::binary;
use crate::env::TestEnv;
use crate::fixtures::{Cluster, last_lines, unique_suffix, wait_until};

/// The image the operator's Jobs run (the harness runs our binary for it).
pub const IMAGE: &str = "quay.io/strimzi-backup/strimzi-backup-operator:dev";

/// A running operator process.
pub struct Operator {
    child: Child,
    pub metrics_port: u16,
    /// The admission webhooks' HTTPS port (self-signed certificate in [`Operator::cert_dir`]).
    pub webhook_port: u16,
    /// The webhook's certificate directory: `tls.crt`, `tls.key`, and the CA as `ca.crt`.
    pub cert_dir: PathBuf,
    pub log: PathBuf,
    namespace: String,
    watched: String,
    kubeconfig: PathBuf,
    program: PathBuf,
    /// Further environment of the process (e.g. proxy variables), kept across restarts.
    extra_env: Vec<(String, String)>,
}

/// A port nothing listens on now (the kernel's choice).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Two distinct ports nothing listens on now.
pub fn two_free_ports() -> anyhow::Result<(u16, u16)> {
    let a = std::net::TcpListener::bind("127.0.0.1:0")?;
    let b = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

impl Operator {
    /// Starts an operator watching `namespace`.
    pub fn start(env: &TestEnv, namespace: &str) -> anyhow::Result<Self> {
        Self::start_binary(env, namespace, binary())
    }

    /// Starts `program` (e.g. a release build) as the operator watching `namespace`.
    pub fn start_binary(env: &TestEnv, namespace: &str, program: PathBuf) -> anyhow::Result<Self> {
        Self::start_watching(env, namespace, namespace, program)
    }

    /// Starts an operator living in `namespace` (its Lease) that watches `watched`
    /// (`STRIMZI_BACKUP_NAMESPACE`: one, a comma list, `*`).
    pub fn start_watching(
        env: &TestEnv,
        namespace: &str,
        watched: &str,
        program: PathBuf,
    ) -> anyhow::Result<Self> {
        Self::start_logged(env, namespace, watched, program, Vec::new())
    }

    /// Starts an operator watching `namespace` with further environment variables, as a
    /// Deployment's `env` (OLM adds the cluster-wide proxy this way).
    pub fn start_with_env(env: &TestEnv, namespace: &str, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_program(env, namespace, binary(), extra)
    }

    /// [`Self::start_with_env`] running `program` (the release build of `make dist-build`).
    pub fn start_program(
        env: &TestEnv,
        namespace: &str,
        program: PathBuf,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let extra = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start_logged(env, namespace, namespace, program, extra)
    }

    /// Every start: a fresh log file under the temp dir of `namespace`, then [`Self::spawn`].
    fn start_logged(
        env: &TestEnv,
        namespace: &str,
        watched: &str,
        program: PathBuf,
        extra_env: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("sbo-operator-{namespace}"));
        std::fs::create_dir_all(&dir)?;
        let log = dir.join(format!("operator-{}.log", unique_suffix()));
        // As installed: its own ServiceAccount and config/rbac's rules, never the admin.
        let kubeconfig = crate::rbac::operator_kubeconfig(env, namespace, watched, &dir)?;
        Self::spawn(program, kubeconfig, namespace, watched, log, extra_env)
    }

    fn spawn(
        program: PathBuf,
        kubeconfig: PathBuf,
        namespace: &str,
        watched: &str,
        log: PathBuf,
        extra_env: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        // Both held open while picked: two picks one after the other may get the same port back
        // (seen in CI: the webhook server found its port taken by the metrics server).
        let (port, webhook_port) = two_free_ports()?;
        let cert_dir = log.with_extension("certs");
        let out = File::create(&log)?;
        let child = Command::new(&program)
            .args(["operator", "--metrics-address", &format!("127.0.0.1:{port}")])
            .args(["--webhook-address", &format!("127.0.0.1:{webhook_port}"), "--webhook-self-signed"])
            .arg("--webhook-cert-dir")
            .arg(&cert_dir)
            .env_clear()
            .env("KUBECONFIG", &kubeconfig)
            .env("STRIMZI_BACKUP_IMAGE", IMAGE)
            .env("STRIMZI_BACKUP_NAMESPACE", watched)
            .env("POD_NAMESPACE", namespace)
            .env("STRIMZI_BACKUP_LOG_LEVEL", "info,kube=warn")
            // Short, so a test that kills a leader sees the standby take over soon; a test may
            // set its own in `extra_env`.
            .env("STRIMZI_BACKUP_LEASE_SECONDS", "4")
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()?;
        Ok(Self {
            child,
            metrics_port: port,
            webhook_port,
            cert_dir,
            log,
            namespace: namespace.into(),
            watched: watched.into(),
            kubeconfig,
            program,
            extra_env,
        })
    }

    /// Kills the process without warning (SIGKILL) and starts a new one, as a crashed pod
    /// restarted by its Deployment.
    pub fn crash_and_restart(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        let log = self.log.with_extension("restarted.log");
        let (namespace, watched) = (self.namespace.clone(), self.watched.clone());
        let extra = std::mem::take(&mut self.extra_env);
        *self = Self::spawn(self.program.clone(), self.kubeconfig.clone(), &namespace, &watched, log, extra)?;
        Ok(())
    }

    /// Asks the operator to stop (SIGTERM, as Kubernetes does) and waits for it to exit;
    /// returns whether it exited cleanly.
    pub fn stop(&mut self) -> anyhow::Result<bool> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        Ok(self.child.wait()?.success())
    }

    /// The process id (for its memory and CPU in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the log's tail when the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!(
                "the operator exited ({status}); log {}:\n{}",
                self.log.display(),
                last_lines(&self.log_text(), 20)
            );
        }
        Ok(())
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        metrics_text(self.metrics_port).await
    }

    /// The sum of a metric's samples whose labels contain all of `labels`.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> anyhow::Result<f64> {
        Ok(metric_sum(&self.metrics().await?, name, labels))
    }

    /// The operator's log so far (for failure messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The sum of the samples of metric `name` in `/metrics` text whose labels contain all of `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// The `/metrics` text of the operator whose metrics port is `port`.
pub async fn metrics_text(port: u16) -> anyhow::Result<String> {
    let (status, body) = crate::fixtures::http_get(("127.0.0.1", port), "/metrics").await?;
    anyhow::ensure!(status == 200, "GET /metrics: {status} {body}");
    Ok(body)
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Strimzi's KafkaTopic CRD (0.51.0: `v1` and `v1beta2` served), generated by
/// hack/strimzi-topic-crd.sh, installed.
pub async fn install_kafka_topic_crd(cluster: &Cluster) -> anyhow::Result<()> {
    use anyhow::Context;
    let root = crate::env::workspace_root();
    let out = Command::new(root.join("hack/strimzi-topic-crd.sh")).current_dir(&root).output()?;
    anyhow::ensure!(
        out.status.success(),
        "hack/strimzi-topic-crd.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("STRIMZI_TOPIC_CRD="))
        .context("hack/strimzi-topic-crd.sh printed no STRIMZI_TOPIC_CRD")?;
    cluster.install_crd_dir(std::path::Path::new(dir)).await?;
    Ok(())
}

/// A namespace with our CRDs, Strimzi's CRDs (of the 0.49–0.5x line, both versions served), a
/// Ready `Kafka` `my-cluster` whose plain listener is the local broker, and the MinIO credentials
/// Secret `minio-credentials` (keys `id`, `secret`).
pub async fn namespace_with_kafka(cluster: &Cluster, prefix: &str) -> anyhow::Result<String> {
    cluster.install_crds().await?;
    cluster.install_crd_files(&crate::strimzi::StrimziLine::Both.files()?).await?;
    kafka_namespace(cluster, prefix, "v1beta2").await
}

/// [`namespace_with_kafka`] with the Strimzi CRDs as they are (a test of Strimzi's versions
/// installs its own), the `Kafka` written in `version` as a user of that Strimzi does.
pub async fn kafka_namespace(cluster: &Cluster, prefix: &str, version: &str) -> anyhow::Result<String> {
    let ns = cluster.namespace(prefix).await?;
    ready_kafka(cluster, &ns, "my-cluster", version, cluster.env.kafka_bootstrap()).await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: minio-credentials}}\nstringData: {{id: '{}', secret: '{}'}}\n",
                cluster.env.get("MINIO_ACCESS_KEY")?,
                cluster.env.get("MINIO_SECRET_KEY")?
            ),
        )
        .await?;
    Ok(ns)
}

/// A Strimzi `Kafka` `name` in `ns`, written in `version` as a user of Strimzi writes it
/// ([`crate::strimzi::kafka_yaml`]), with the status Strimzi's Cluster Operator reports once it is
/// Ready, its plain listener at `bootstrap` ([`crate::strimzi::ready_kafka_status`]).
pub async fn ready_kafka(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    version: &str,
    bootstrap: &str,
) -> anyhow::Result<()> {
    let applied = cluster.apply_yaml(ns, &crate::strimzi::kafka_yaml(name, version)).await?;
    let generation = applied.first().and_then(|k| k.metadata.generation).unwrap_or(1);
    let resource = crate::fixtures::strimzi_resource(version, "Kafka", "kafkas");
    let kafkas: Api<DynamicObject> = Api::namespaced_with(cluster.client.clone(), ns, &resource);
    let status = crate::strimzi::ready_kafka_status(generation, bootstrap);
    kafkas.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await?;
    Ok(())
}

/// The first Event of `reason` in `ns`, waiting up to `timeout` for it.
pub async fn event(
    cluster: &Cluster,
    ns: &str,
    reason: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<k8s_openapi::api::core::v1::Event> {
    wait_until(timeout, &format!("a {reason} Event"), || async {
        let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(cluster.client.clone(), ns);
        Ok(events
            .list(&kube::api::ListParams::default())
            .await?
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason)))
    })
    .await
}

/// A `storage:` block (YAML, indented by `indent` spaces) for MinIO under `prefix`, with the
/// credentials Secret `secret`.
pub fn minio_storage(env: &TestEnv, prefix: &str, secret: &str, indent: usize) -> anyhow::Result<String> {
    let pad = " ".repeat(indent);
    Ok(format!(
        "{pad}storage:\n{pad}  type: s3\n{pad}  s3:\n{pad}    bucket: {}\n{pad}    region: {}\n{pad}    endpoint: '{}'\n{pad}    forcePathStyle: true\n{pad}    prefix: {prefix}\n{pad}    credentialsSecret: {{name: {secret}, accessKeyIdKey: id, secretAccessKeyKey: secret}}\n",
        env.get("MINIO_BUCKET")?,
        env.get("MINIO_REGION")?,
        env.get("MINIO_ENDPOINT")?,
    ))
}

/// Waits up to `timeout` for the one-shot run `name` (a `KafkaRestore` or `KafkaOffsetReset`,
/// whose phase `phase` reads) to end, `Completed` or `Failed`, and returns it as it ended.
pub async fn finished_run<K>(
    api: &Api<K>,
    name: &str,
    timeout: std::time::Duration,
    phase: impl Fn(&K) -> Option<RunPhase>,
) -> anyhow::Result<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    wait_until(timeout, &format!("{} {name} to finish", K::kind(&())), || async {
        let run = api.get(name).await?;
        Ok(matches!(phase(&run), Some(RunPhase::Completed | RunPhase::Failed)).then_some(run))
    })
    .await
}

/// Waits up to `timeout` until the `KafkaBackup` `name` is `Ready` with reason
/// `BackupCompleted`: a backup of it has completed (and none failed since).
pub async fn backup_completed(
    api: &Api<KafkaBackup>,
    name: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    wait_until(timeout, &format!("a backup of {name} completed"), || async {
        let st = api.get(name).await?.status.unwrap_or_default();
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready");
        let completed = ready.is_some_and(|c| {
            c.status == ConditionStatus::True && c.reason.as_deref() == Some("BackupCompleted")
        });
        Ok(completed.then_some(()))
    })
    .await
}

/// The logs (last `tail` lines each) of the operator pods in `namespace` — a Deployment's, as an
/// install creates it — for failure messages; empty when there are none.
pub async fn operator_pod_logs(cluster: &Cluster, namespace: &str, tail: i64) -> String {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let selector = kube::api::ListParams::default().labels("app.kubernetes.io/name=strimzi-backup-operator");
    let Ok(list) = pods.list(&selector).await else { return String::new() };
    let mut text = String::new();
    for pod in list.items {
        let name = pod.metadata.name.unwrap_or_default();
        let params = kube::api::LogParams { tail_lines: Some(tail), ..Default::default() };
        text.push_str(&format!("--- pod {name} ---\n"));
        text.push_str(&pods.logs(&name, &params).await.unwrap_or_default());
    }
    text
}
