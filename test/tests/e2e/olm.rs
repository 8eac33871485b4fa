//! The OLM bundle installed by OLM's own `olm` operator on the local control plane: an
//! OperatorGroup (OwnNamespace) and the bundle's ClusterServiceVersion. OLM creates the operator's
//! Deployment (run by the pod harness), issues the webhook certificate, mounts it, registers the
//! CSV's webhookdefinitions for the OperatorGroup's namespace, and sets the CSV `Succeeded`. The
//! operator then watches exactly the OperatorGroup's namespace (from `olm.targetNamespaces`), its
//! webhooks answer for objects created afterwards, and a backup completes under the permissions
//! the CSV declares.
//!
//! What OLM's catalog operator would do before (resolve a Subscription, run an InstallPlan) is
//! done by the test: it creates the bundle's ServiceAccount, Role and RoleBinding from the CSV's
//! `permissions`, and the bundle's extra objects (ClusterRoles, metrics Service, ServiceMonitor,
//! PrometheusRule — with the Prometheus Operator's CRDs for the last two), then the CSV.
//! The catalog operator needs registry and bundle-unpack pods from images, which nothing here
//! can run.
//!
//! OLM registers webhooks and runs an operator in the cluster: `#[ignore]`d in the parallel pass
//! and run alone by `make e2e`.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::discovery::ApiResource;
use serde_json::{Value, json};
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::olm::Olm;
use strimzi_backup_e2e::operator::{
    backup_completed, metric_sum, metrics_text, minio_storage, namespace_with_kafka, operator_pod_logs,
};
use strimzi_backup_operator::api::backup::KafkaBackup;

const CSV_NAME: &str = "strimzi-backup-operator.v0.1.0";

fn bundle_file(name: &str) -> PathBuf {
    workspace_root().join("bundle/manifests").join(name)
}

fn csv_resource() -> ApiResource {
    ApiResource {
        group: "operators.coreos.com".into(),
        version: "v1alpha1".into(),
        api_version: "operators.coreos.com/v1alpha1".into(),
        kind: "ClusterServiceVersion".into(),
        plural: "clusterserviceversions".into(),
    }
}

/// The bundle's CSV as a JSON value.
fn csv() -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(bundle_file("strimzi-backup-operator.clusterserviceversion.yaml"))?;
    Ok(serde_yaml_ng::from_str(&text)?)
}

/// What an InstallPlan creates before the CSV: the ServiceAccount, a Role and RoleBinding per
/// entry of the CSV's `permissions`, and the bundle's other objects.
async fn install_plan(cluster: &Cluster, ns: &str, csv: &Value) -> anyhow::Result<()> {
    let permissions =
        csv.pointer("/spec/install/spec/permissions").and_then(Value::as_array).cloned().unwrap_or_default();
    anyhow::ensure!(!permissions.is_empty(), "the CSV declares no permissions");
    anyhow::ensure!(
        csv.pointer("/spec/install/spec/clusterPermissions").is_none(),
        "the CSV asks for cluster permissions"
    );
    for (i, p) in permissions.iter().enumerate() {
        let sa = p["serviceAccountName"].as_str().unwrap_or_default();
        let role = format!("{CSV_NAME}-{i}");
        let docs = json!([
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": role}, "rules": p["rules"]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": role},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
             "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]},
        ]);
        for doc in docs.as_array().into_iter().flatten() {
            cluster.apply_yaml(ns, &serde_yaml_ng::to_string(doc)?).await?;
        }
    }
    for entry in std::fs::read_dir(workspace_root().join("bundle/manifests"))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if name.ends_with("clusterserviceversion.yaml") || name.starts_with("kafkabackup.com_") {
            continue; // the CSV comes last; the CRDs are installed already
        }
        cluster.apply_file(ns, &path).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "OLM registers webhooks and runs an operator in the cluster: run alone by `make e2e`"]
async fn olm_installs_the_bundle_and_its_webhooks_answer_with_olm_issued_certificates() -> anyhow::Result<()>
{
    let cluster = Cluster::connect().await?;
    let olm = Olm::start(&cluster).await?;
    let ns = namespace_with_kafka(&cluster, "olm").await?;
    let result = run(&cluster, &ns).await;
    let log = if result.is_err() {
        format!("{}\n{}", olm.log_text(), operator_pod_logs(&cluster, &ns, 200).await)
    } else {
        String::new()
    };
    // The KafkaBackups go first, while the operator still runs to remove its finalizers; without
    // it (CSV gone) they would hold the namespace in Terminating.
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let _ = backups.delete_collection(&DeleteParams::default(), &Default::default()).await;
    let _ = wait_until(Duration::from_secs(120), "the KafkaBackups to be gone", || async {
        Ok(backups.list(&Default::default()).await?.items.is_empty().then_some(()))
    })
    .await;
    // Deleting the CSV makes OLM remove the Deployment and the webhook configurations.
    let csvs: Api<DynamicObject> = Api::namespaced_with(cluster.client.clone(), &ns, &csv_resource());
    let _ = csvs.delete(CSV_NAME, &DeleteParams::default()).await;
    let _ = wait_until(Duration::from_secs(60), "OLM removed the CSV's webhooks", || async {
        let out = cluster.kubectl(&[
            "get",
            "validatingwebhookconfigurations,mutatingwebhookconfigurations",
            "-l",
            &format!("olm.owner={CSV_NAME},olm.owner.namespace={ns}"),
            "-o",
            "name",
        ])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().is_empty().then_some(()))
    })
    .await;
    cluster.kubectl(&[
        "delete",
        "validatingwebhookconfigurations,mutatingwebhookconfigurations",
        "-l",
        &format!("olm.owner={CSV_NAME},olm.owner.namespace={ns}"),
    ])?;
    cluster.delete_namespace(&ns).await?;
    drop(olm);
    result.map_err(|e| e.context(log))
}

async fn run(cluster: &Cluster, ns: &str) -> anyhow::Result<()> {
    let env = &cluster.env;
    cluster
        .apply_yaml(
            ns,
            &format!("apiVersion: operators.coreos.com/v1\nkind: OperatorGroup\nmetadata: {{name: strimzi-backup}}\nspec: {{targetNamespaces: ['{ns}']}}\n"),
        )
        .await?;
    let mut csv = csv()?;
    // The bundle's CSV says `namespace: placeholder`; the one installed lives in the group's.
    if let Some(meta) = csv.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("namespace");
    }
    // One replica: the pod harness runs pods on the host network, where a second could not bind
    // 9443 and 9090. The bundle ships two (docs/webhooks.md).
    let replicas = csv.pointer_mut("/spec/install/spec/deployments/0/spec/replicas");
    anyhow::ensure!(replicas.as_deref() == Some(&Value::from(2)), "the bundle's Deployment runs 2 replicas");
    if let Some(r) = replicas {
        *r = Value::from(1);
    }
    // The bundle ships a ServiceMonitor and a PrometheusRule: their kinds come from the
    // Prometheus Operator (on OpenShift, its monitoring stack).
    let monitoring = std::path::PathBuf::from(env.get("PROMETHEUS_CRDS")?);
    let mut crd_files: Vec<PathBuf> =
        std::fs::read_dir(&monitoring)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    crd_files.sort();
    cluster.install_crd_files(&crd_files).await?;
    install_plan(cluster, ns, &csv).await?;
    cluster.apply_yaml(ns, &serde_yaml_ng::to_string(&csv)?).await?;

    let csvs: Api<DynamicObject> = Api::namespaced_with(cluster.client.clone(), ns, &csv_resource());
    wait_until(Duration::from_secs(240), "the CSV Succeeded", || async {
        let found = csvs.get(CSV_NAME).await?;
        let phase =
            found.data.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default().to_string();
        anyhow::ensure!(phase != "Failed", "CSV Failed: {}", found.data["status"]);
        Ok((phase == "Succeeded").then_some(()))
    })
    .await
    .map_err(|e| {
        let status = cluster.kubectl(&["-n", ns, "get", "csv", CSV_NAME, "-o", "jsonpath={.status}"]).ok();
        e.context(status.map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default())
    })?;

    for object in
        ["servicemonitor/strimzi-backup-operator-metrics", "prometheusrule/strimzi-backup-operator-alerts"]
    {
        let out = cluster.kubectl(&["-n", ns, "get", object, "-o", "name"])?;
        anyhow::ensure!(
            out.status.success(),
            "the bundle's {object}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // OLM's Deployment: its certificate mounted where the operator reads it, the watched
    // namespaces from the OperatorGroup.
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    let deployment = deployments.get("strimzi-backup-operator").await?;
    let template = deployment.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let annotations = template.metadata.as_ref().and_then(|m| m.annotations.clone()).unwrap_or_default();
    anyhow::ensure!(annotations.get("olm.targetNamespaces") == Some(&ns.to_string()), "{annotations:?}");
    let pod_spec = template.spec.unwrap_or_default();
    let mounts = pod_spec.containers.first().and_then(|c| c.volume_mounts.clone()).unwrap_or_default();
    let cert_mount = mounts
        .iter()
        .find(|m| m.mount_path == "/tmp/k8s-webhook-server/serving-certs")
        .ok_or_else(|| anyhow::anyhow!("OLM mounted no certificate at the webhook cert dir: {mounts:?}"))?;
    let secret = pod_spec
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == cert_mount.name)
        .and_then(|v| v.secret)
        .and_then(|s| s.secret_name)
        .ok_or_else(|| anyhow::anyhow!("the webhook cert volume is not a Secret"))?;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(cluster.client.clone(), ns);
    let data = secrets.get(&secret).await?.data.unwrap_or_default();
    anyhow::ensure!(
        data.contains_key("tls.crt") && data.contains_key("tls.key"),
        "OLM's Secret {secret}: {:?}",
        data.keys()
    );

    // The pod loaded that certificate and watches the OperatorGroup's namespace only.
    wait_until(
        Duration::from_secs(60),
        "the operator serving webhooks and watching its namespace",
        || async {
            let log = operator_pod_logs(cluster, ns, 200).await;
            Ok((log.contains("serving the admission webhooks")
                && log.contains(&format!("namespaces={{\"{ns}\"}}")))
            .then_some(()))
        },
    )
    .await?;

    // Webhooks for objects created now: refused with the field named, defaulted, and a backup
    // completes under the CSV's permissions.
    let s = unique_suffix();
    let bad = format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: bad}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n{}  schedule: {{cron: '0 2 * * *', timezone: Mars/Olympus}}\n",
        minio_storage(env, &format!("e2e-olm-bad-{s}/"), "minio-credentials", 2)?
    );
    let refused = match cluster.apply_yaml(ns, &bad).await {
        Ok(_) => anyhow::bail!("a KafkaBackup with an unknown timezone was admitted"),
        Err(e) => format!("{e:#}"),
    };
    anyhow::ensure!(refused.contains("spec.schedule.timezone"), "{refused}");

    let topic = format!("olm{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 50, recent())).await?;
    cluster
        .apply_yaml(
            ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &format!("e2e-olm-{s}/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), ns);
    backup_completed(&backups, "orders", Duration::from_secs(180)).await?;

    let metrics = metrics_text(9090).await?;
    for (webhook, verdict) in [
        ("mutate-kafkabackup", "allowed"),
        ("validate-kafkabackup", "denied"),
        ("validate-kafkabackup", "allowed"),
    ] {
        let n = metric_sum(
            &metrics,
            "strimzi_backup_webhook_requests_total",
            &[&format!("webhook=\"{webhook}\""), &format!("verdict=\"{verdict}\"")],
        );
        anyhow::ensure!(n >= 1.0, "no {verdict} request counted for {webhook}:\n{metrics}");
    }
    Ok(())
}
