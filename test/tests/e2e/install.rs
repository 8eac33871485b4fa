//! `dist/install.yaml` on the local control plane, applied the way the README says, with a real
//! cert-manager issuing the webhook certificate. The operator runs as the Deployment's pod (the
//! pod harness runs it with its ServiceAccount's token, so every API call goes through the RBAC
//! the file grants), its webhooks answer through their Service, and a backup, a location's
//! restore point, a point-in-time restore, an offset reset and a restore drill complete under
//! that RBAC alone.
//!
//! The plain install watches all namespaces and registers webhooks for all of them, so this test
//! takes over the cluster: it is `#[ignore]`d in the parallel pass and run alone by `make e2e`.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use serde_json::Value;
use strimzi_backup_e2e::certmanager::CertManager;
use strimzi_backup_e2e::dataplane::{consume_all, create_topic, produce, recent, records};
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{
    backup_completed, finished_run, metric_sum, metrics_text, minio_storage, namespace_with_kafka,
    operator_pod_logs,
};
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::drill::KafkaRestoreDrill;
use strimzi_backup_operator::api::offset_reset::KafkaOffsetReset;
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};
use strimzi_backup_operator::api::restore_point::{KafkaRestorePoint, VerificationResult};

const NAMESPACE: &str = "strimzi-backup-system";
const DEPLOYMENT: &str = "strimzi-backup-operator";

fn install_yaml() -> PathBuf {
    workspace_root().join("dist/install.yaml")
}

/// Removes what the install created, except the CRDs (other tests use them).
fn uninstall(cluster: &Cluster) -> anyhow::Result<()> {
    let all = std::fs::read_to_string(install_yaml())?;
    let kept: Vec<&str> =
        all.split("\n---\n").filter(|doc| !doc.contains("kind: CustomResourceDefinition")).collect();
    let file = std::env::temp_dir().join(format!("install-without-crds-{}.yaml", unique_suffix()));
    std::fs::write(&file, kept.join("\n---\n"))?;
    let out =
        cluster.kubectl(&["delete", "--ignore-not-found", "--wait=false", "-f", &file.to_string_lossy()])?;
    let _ = std::fs::remove_file(&file);
    anyhow::ensure!(out.status.success(), "kubectl delete: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "takes over the cluster (webhooks and an operator for all namespaces): run alone by `make e2e`"]
async fn install_yaml_runs_the_operator_under_its_own_rbac_with_cert_manager_certificates()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let _cert_manager = CertManager::start(&cluster).await?;
    // The CRDs in the file are ours; make sure the namespace of a previous run is gone.
    wait_until(Duration::from_secs(120), "no strimzi-backup-system from an earlier run", || async {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client.clone());
        Ok(namespaces.get_opt(NAMESPACE).await?.is_none().then_some(()))
    })
    .await?;

    // As shipped but with one replica: the pod harness runs pods on the host network, where a
    // second could not bind 9443 and 9090. The file ships two, a PodDisruptionBudget keeping one
    // and a NetworkPolicy admitting 9443 and 9090 only (docs/webhooks.md).
    let shipped = std::fs::read_to_string(install_yaml())?;
    let deployment = shipped
        .split("\n---\n")
        .find(|doc| doc.contains("kind: Deployment\n"))
        .ok_or_else(|| anyhow::anyhow!("dist/install.yaml has no Deployment"))?;
    anyhow::ensure!(deployment.contains("\n  replicas: 2\n"), "the shipped Deployment runs 2 replicas");
    for (kind, what) in [("PodDisruptionBudget", "minAvailable: 1"), ("NetworkPolicy", "port: 9443")] {
        anyhow::ensure!(
            shipped
                .split("\n---\n")
                .any(|doc| doc.contains(&format!("kind: {kind}\n")) && doc.contains(what)),
            "dist/install.yaml has no {kind} with {what}"
        );
    }
    let one_replica = std::env::temp_dir().join(format!("install-one-replica-{}.yaml", unique_suffix()));
    std::fs::write(
        &one_replica,
        shipped.replacen(deployment, &deployment.replacen("\n  replicas: 2\n", "\n  replicas: 1\n", 1), 1),
    )?;
    let out = cluster.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=e2e-install",
        "-f",
        &one_replica.to_string_lossy(),
    ])?;
    let _ = std::fs::remove_file(&one_replica);
    let result = run(&cluster).await;
    let log = if result.is_err() { operator_pod_logs(&cluster, NAMESPACE, 60).await } else { String::new() };
    uninstall(&cluster)?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl apply -f dist/install.yaml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    result.map_err(|e| e.context(format!("operator pod log:\n{log}")))
}

async fn run(cluster: &Cluster) -> anyhow::Result<()> {
    let env = &cluster.env;
    let started = k8s_openapi::jiff::Timestamp::now();
    // cert-manager issues the certificate and injects its CA; the pod starts once the Secret
    // exists and is Ready once the operator serves.
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    wait_until(Duration::from_secs(180), "the operator Deployment available", || async {
        let d = deployments.get(DEPLOYMENT).await?;
        let available = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
        Ok((available >= 1).then_some(()))
    })
    .await?;
    for kind in ["validatingwebhookconfiguration", "mutatingwebhookconfiguration"] {
        wait_until(Duration::from_secs(60), &format!("caBundle injected into the {kind}"), || async {
            let out = cluster.kubectl(&[
                "get",
                kind,
                "strimzi-backup-operator",
                "-o",
                "jsonpath={.webhooks[*].clientConfig.caBundle}",
            ])?;
            let bundles = String::from_utf8_lossy(&out.stdout).to_string();
            // One webhook of each configuration per kind users write.
            let kinds = strimzi_backup_operator::admission::KINDS.len();
            Ok((bundles.split_whitespace().count() == kinds).then_some(()))
        })
        .await?;
    }

    let ns = namespace_with_kafka(cluster, "install").await?;
    let s = unique_suffix();
    let topic = format!("inst{s}");
    create_topic(env, &topic, 2, &[]).await?;
    let base = recent();
    produce(env, &topic, 0, &records(&topic, 0, 120, base)).await?;
    produce(env, &topic, 1, &records(&topic, 1, 80, base)).await?;

    // The validating webhook (through its Service, with cert-manager's certificate) refuses a
    // bad spec and names the field.
    let bad = format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: bad}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n{}  schedule: {{cron: '0 2 * * *', timezone: Mars/Olympus}}\n",
        minio_storage(env, &format!("e2e-install-bad-{s}/"), "minio-credentials", 2)?
    );
    let refused = match cluster.apply_yaml(&ns, &bad).await {
        Ok(_) => anyhow::bail!("a KafkaBackup with an unknown timezone was admitted"),
        Err(e) => format!("{e:#}"),
    };
    anyhow::ensure!(refused.contains("spec.schedule.timezone"), "{refused}");

    // The mutating webhook fills in the defaults; the operator backs up under its RBAC.
    let prefix = format!("e2e-install-{s}/");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let stored = backups.get("orders").await?;
    let spec = serde_json::to_value(&stored.spec)?;
    anyhow::ensure!(
        spec.pointer("/backup/compression") == Some(&Value::from("zstd")),
        "not defaulted: {spec}"
    );
    backup_completed(&backups, "orders", Duration::from_secs(180)).await?;

    // The same storage as a location: its sync Job lists the backup as a restore point.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackupLocation\nmetadata: {{name: orders-dr}}\nspec:\n  syncPeriod: 30s\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let points: Api<KafkaRestorePoint> = Api::namespaced(cluster.client.clone(), &ns);
    let point = wait_until(Duration::from_secs(120), "the location's restore point", || async {
        let found =
            points
                .list(&ListParams::default().labels(
                    "kafkabackup.com/source-kind=KafkaBackupLocation,kafkabackup.com/source=orders-dr",
                ))
                .await?
                .items;
        Ok(found.first().and_then(|p| p.metadata.name.clone()))
    })
    .await?;

    // A restore of that restore point into a renamed topic, and an offset reset dry run, both
    // under the same RBAC.
    let renamed = format!("{topic}-restored");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: again}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  restorePointRef: {{name: {point}}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {renamed}}}]\n"
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let st = finished_run(&restores, "again", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await?
        .status
        .unwrap_or_default();
    anyhow::ensure!(st.phase == Some(RunPhase::Completed), "the restore failed: {:?}", st.conditions);
    let restored = consume_all(env, &renamed, 0)?.len() + consume_all(env, &renamed, 1)?.len();
    anyhow::ensure!(restored == 200, "{restored} records restored, 200 backed up");

    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaOffsetReset\nmetadata: {{name: rewind}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  consumerGroups: ['inst-{s}']\n  topics: ['{topic}']\n  resetStrategy: to-earliest\n  dryRun: true\n"
            ),
        )
        .await?;
    let resets: Api<KafkaOffsetReset> = Api::namespaced(cluster.client.clone(), &ns);
    let st = finished_run(&resets, "rewind", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await?
        .status
        .unwrap_or_default();
    anyhow::ensure!(st.phase == Some(RunPhase::Completed), "the offset reset failed: {:?}", st.conditions);

    // A drill of the location's restore point into scratch topics on the same cluster, under the
    // same RBAC: it reads the drill, writes its status and the restore point's verification.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestoreDrill\nmetadata: {{name: proof}}\nspec:\n  locationRef: {{name: orders-dr}}\n  target: {{strimziClusterRef: {{name: my-cluster}}}}\n  topics: {{include: ['{topic}']}}\n  topicPrefix: drill-inst{s}-\n"
            ),
        )
        .await?;
    let drills: Api<KafkaRestoreDrill> = Api::namespaced(cluster.client.clone(), &ns);
    let last = wait_until(Duration::from_secs(240), "the drill's evidence", || async {
        let krd = drills.get("proof").await?;
        Ok(krd.status.and_then(|s| s.last_verification))
    })
    .await?;
    anyhow::ensure!(
        last.result == VerificationResult::Passed && last.records == 200,
        "the drill did not pass with 200 records: {last:?}"
    );
    let verified = points.get(&point).await?.status.and_then(|s| s.verification);
    anyhow::ensure!(
        verified.is_some_and(|v| v.result == VerificationResult::Passed),
        "the restore point {point} does not carry the drill's verification"
    );

    // The API server called the pod's webhooks (through the webhook Service, verifying
    // cert-manager's certificate): the pod's own counters say so. The pod shares the host's
    // network, so its metrics port is 127.0.0.1:9090.
    let metrics = metrics_text(9090).await?;
    let count = |webhook: &str, verdict: &str| {
        metric_sum(
            &metrics,
            "strimzi_backup_webhook_requests_total",
            &[&format!("webhook=\"{webhook}\""), &format!("verdict=\"{verdict}\"")],
        )
    };
    for (webhook, verdict) in [
        ("mutate-kafkabackup", "allowed"),
        ("validate-kafkabackup", "denied"),
        ("validate-kafkarestore", "allowed"),
        ("mutate-kafkabackuplocation", "allowed"),
        ("validate-kafkarestoredrill", "allowed"),
    ] {
        anyhow::ensure!(
            count(webhook, verdict) >= 1.0,
            "no {verdict} request counted for {webhook}:\n{metrics}"
        );
    }

    // Least privilege, measured: every rule the install grants was used by the operator in this
    // run (from the API server's audit log), but for the ones this run cannot exercise.
    let used = used_by_operator(env.get("AUDIT_LOG")?, started)?;
    let granted = granted()?;
    let unexercised: Vec<&Grant> = granted.iter().filter(|g| !used.contains(g)).collect();
    let unexpected: Vec<&&Grant> = unexercised.iter().filter(|g| why_unused(g).is_none()).collect();
    anyhow::ensure!(
        unexpected.is_empty(),
        "granted but not used by the operator, and no reason known: {unexpected:?}\nused: {used:?}"
    );
    let denied: Vec<&Grant> = used.iter().filter(|u| !granted.contains(u)).collect();
    anyhow::ensure!(denied.is_empty(), "used without a grant (forbidden): {denied:?}");

    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// One permission: API group, resource (with `/subresource`), verb.
type Grant = (String, String, String);

/// What the ServiceAccount of the install did since `since`, from the audit log (requests that
/// were allowed; a 404 on a get is still a use of `get`).
fn used_by_operator(
    log: &str,
    since: k8s_openapi::jiff::Timestamp,
) -> anyhow::Result<std::collections::BTreeSet<Grant>> {
    let user = format!("system:serviceaccount:{NAMESPACE}:strimzi-backup-operator");
    let mut used = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(log)?.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        if event.pointer("/user/username").and_then(Value::as_str) != Some(&user) {
            continue;
        }
        let at =
            event["stageTimestamp"].as_str().and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
        if at.is_none_or(|at| at < since)
            || event.pointer("/responseStatus/code").and_then(Value::as_u64) == Some(403)
        {
            continue;
        }
        let Some(object) = event.get("objectRef") else { continue };
        let mut resource = object["resource"].as_str().unwrap_or_default().to_string();
        if let Some(sub) = object["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        let group = object["apiGroup"].as_str().unwrap_or_default().to_string();
        used.insert((group, resource, event["verb"].as_str().unwrap_or_default().to_string()));
    }
    Ok(used)
}

/// What the install grants the operator: the controllers' ClusterRole and its Role.
fn granted() -> anyhow::Result<std::collections::BTreeSet<Grant>> {
    let mut all = std::collections::BTreeSet::new();
    for file in ["config/rbac/all-namespaces/role.yaml", "config/rbac/leader_election_role.yaml"] {
        let role: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(workspace_root().join(file))?)?;
        for rule in role["rules"].as_array().into_iter().flatten() {
            let list = |key: &str| -> Vec<String> {
                rule[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            };
            for group in list("apiGroups") {
                for resource in list("resources") {
                    for verb in list("verbs") {
                        all.insert((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
    }
    Ok(all)
}

/// Grants this run cannot exercise, and why they are there.
fn why_unused(grant: &Grant) -> Option<&'static str> {
    match (grant.0.as_str(), grant.1.as_str(), grant.2.as_str()) {
        (_, r, "update") if r.ends_with("/finalizers") => Some(
            "checked by OwnerReferencesPermissionEnforcement (OpenShift) when a Job's owner reference blocks owner deletion; never a request",
        ),
        ("batch", "jobs", "delete") => Some("concurrencyPolicy Replace and deletionPolicy Delete"),
        ("apps", "deployments", "get" | "create" | "patch" | "delete") | ("", "configmaps", "patch") => Some(
            "backup.mode continuous: a KafkaBackup's Deployment and its ConfigMap by server-side apply (create is authorized, patch audited), deleted when the mode changes back (operator_continuous.rs)",
        ),
        ("", "configmaps", "get") => {
            Some("a run's ConfigMap left by an earlier attempt; to-snapshot offset resets")
        }
        ("kafka.strimzi.io", "kafkausers", "get") => {
            Some("SCRAM credentials of a KafkaUser (operator_scram.rs)")
        }
        ("kafka.strimzi.io", "kafkausers", "create") => {
            Some("restore.strimziResources recreates backed-up KafkaUsers (strimzi_resources.rs)")
        }
        ("kafka.strimzi.io", "kafkausers", "list") => Some(
            "backup.strimziResources stores the cluster's KafkaUsers, restore checks the target's (strimzi_resources.rs)",
        ),
        ("kafka.strimzi.io", "kafkatopics", "list" | "create") => {
            Some("restore.topicCreation: strimzi declares restored topics as KafkaTopics (strimzi_topics.rs)")
        }
        ("events.k8s.io", "events", "patch") => Some("a repeated Event (series)"),
        ("", "secrets", "create") => Some(
            "the restore authorization key, Secret strimzi-backup-restore-authorization, made on the operator's first start in its namespace; later starts only get it (enterprise_restore_access.rs)",
        ),
        ("kafkabackup.com", "kafkarestorepoints", "patch") => {
            Some("a restore point a data erasure rewrote shows its new revision (data_erasure.rs)")
        }
        ("kafkabackup.com", "kafkarestorepoints", "delete") => {
            Some("a restore point pruned at its location (restore_points.rs)")
        }
        ("kafkabackup.com", "kafkabackups", "create") => Some(
            "a KafkaBackupSchedule's KafkaBackup is created by server-side apply: authorized as create, audited as patch (kafka_backup_schedule.rs)",
        ),
        ("kafkabackup.com", "kafkabackupschedules", "get")
        | ("kafkabackup.com", "kafkabackupschedules/status", "patch") => {
            Some("a KafkaBackupSchedule reconciled (kafka_backup_schedule.rs)")
        }
        ("kafkabackup.com", "kafkadataerasures", "get" | "list" | "watch")
        | ("kafkabackup.com", "kafkadataerasures/status", "patch") => {
            Some("a KafkaDataErasure reconciled (data_erasure.rs)")
        }
        ("authorization.k8s.io", "localsubjectaccessreviews", "create") => {
            Some("a reference into another namespace is admitted (tenancy.rs)")
        }
        ("coordination.k8s.io", "leases", "watch") => Some(
            "a standby replica watches the Lease to take it as soon as it is released; the one replica here leads at once (operator_leader.rs)",
        ),
        _ => None,
    }
}
