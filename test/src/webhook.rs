//! The operator's admission webhooks registered with the local API server, as `make demo` does
//! it: by URL with the CA of the operator's self-signed certificate, through
//! `hack/register-webhooks.sh`. Each registration is limited to one test namespace (by a
//! namespace label) and removed when dropped, so a test's webhooks never judge another test's
//! objects and never outlive it (a leftover webhook with `failurePolicy: Fail` and no server
//! would refuse every write it matches).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use strimzi_backup_operator::api::KafkaBackup;

use crate::env::{TestEnv, workspace_root};
use crate::fixtures::{Cluster, wait_until};
use crate::operator::Operator;

/// The namespace label the test registrations select on.
pub const LABEL: &str = "kafkabackup.com/webhook-e2e";

/// Webhook configurations named after a test namespace; deleted on drop.
pub struct Registration {
    pub name: String,
    url: String,
    namespace: String,
    env: TestEnv,
}

fn script(env: &TestEnv, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new(workspace_root().join("hack/register-webhooks.sh"))
        .args(args)
        .env("KUBECTL", env.kubectl())
        .env("KUBECONFIG", env.kubeconfig())
        .output()
        .context("running hack/register-webhooks.sh")?;
    anyhow::ensure!(
        out.status.success(),
        "hack/register-webhooks.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

impl Registration {
    /// Labels `namespace`, waits for `operator`'s certificate and registers its webhooks for that
    /// namespace only.
    pub async fn new(cluster: &Cluster, operator: &Operator, namespace: &str) -> anyhow::Result<Self> {
        let ca = operator.cert_dir.join("ca.crt");
        wait_until(Duration::from_secs(30), "the operator's self-signed CA", || async {
            Ok(ca.exists().then_some(()))
        })
        .await?;
        let label = serde_json::json!({"metadata": {"labels": {LABEL: namespace}}});
        Api::<Namespace>::all(cluster.client.clone())
            .patch(namespace, &PatchParams::default(), &Patch::Merge(&label))
            .await?;
        let registration = Self {
            name: format!("sbo-{namespace}"),
            url: format!("https://127.0.0.1:{}", operator.webhook_port),
            namespace: namespace.into(),
            env: cluster.env.clone(),
        };
        registration.use_ca(&ca)?;
        Ok(registration)
    }

    /// Registers again with the CA bundle in `ca_file` (one CA or several, as during a rotation).
    pub fn use_ca(&self, ca_file: &Path) -> anyhow::Result<()> {
        let label = format!("{LABEL}={}", self.namespace);
        let ca = ca_file.to_string_lossy();
        script(
            &self.env,
            &["--url", &self.url, "--ca-file", &ca, "--name", &self.name, "--namespace-label", &label],
        )
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Err(e) = script(&self.env, &["--delete", "--name", &self.name]) {
            eprintln!("removing webhook registration {}: {e:#}", self.name);
        }
    }
}

/// Waits until the webhooks judge objects in `ns`: a server-side dry run of a backup with an
/// invalid cron (which only the webhook refuses) is denied by it. Before the registration is in
/// effect the dry run passes; with a server the API server cannot call, it fails otherwise.
pub async fn answering(cluster: &Cluster, ns: &str, operator: &Operator) -> anyhow::Result<()> {
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), ns);
    let probe: KafkaBackup = serde_json::from_value(json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup", "metadata": {"name": "probe"},
        "spec": {"kafkaCluster": {"bootstrapServers": "127.0.0.1:1"}, "storage": {"type": "s3", "s3": {"bucket": "backups", "region": "r"}},
                 "schedule": {"cron": "61 * * * *"}}
    }))?;
    let params = PostParams { dry_run: true, ..PostParams::default() };
    wait_until(Duration::from_secs(30), "the webhooks to answer", || async {
        match api.create(&params, &probe).await {
            Ok(_) => Ok(None),
            Err(e) if e.to_string().contains("denied the request") => Ok(Some(())),
            Err(e) => Err(e.into()),
        }
    })
    .await
    .map_err(|e| e.context(operator.log_text()))
}
