//! Least privilege (issue 14 §2): the operator reads no Secret but its own licence. Credentials
//! reach Jobs by reference, and the kubelet — which must read them anyway — says in the pod's
//! status when one is missing; the controller reports that as `Ready=False JobPodBlocked`.
//!
//! The operator here runs as installed (its own ServiceAccount with config/rbac's rules, which
//! grant no `secrets` verb in watched namespaces), against the real API server, broker and MinIO;
//! the pod harness reports a missing Secret as a kubelet does (`CreateContainerConfigError`,
//! `secret "x" not found`) and retries until it appears.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::api::Api;
use serde_yaml_ng::Value;
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, backup_completed, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::condition::ConditionStatus;

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_whose_storage_secret_is_missing_says_so_and_runs_once_it_is_created() -> anyhow::Result<()>
{
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "leastpriv").await?;
    let operator = Operator::start(env, &ns)?;
    let s = unique_suffix();
    let topic = format!("leastpriv{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 25, recent())).await?;
    let secret = format!("late-creds-{s}");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: late}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &format!("e2e-leastpriv-{s}/"), &secret, 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let started = Instant::now();
    let blocked = wait_until(Duration::from_secs(120), "Ready=False JobPodBlocked", || async {
        let st = backups.get("late").await?.status.unwrap_or_default();
        Ok(st
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.reason.as_deref() == Some("JobPodBlocked")))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let seen_after = started.elapsed();
    let message = blocked.message.clone().unwrap_or_default();
    assert_eq!(blocked.status, ConditionStatus::False, "{blocked:?}");
    // The pod, the kubelet's own words, and the field of the spec that names the Secret.
    assert!(message.contains(": pod late-"), "{message}");
    assert!(
        message.contains(&format!("CreateContainerConfigError: secret \"{secret}\" not found")),
        "{message}"
    );
    assert!(message.contains("spec.storage.s3.credentialsSecret.name"), "{message}");

    // The fix is the user's alone: create the Secret; the kubelet retries, the run goes on.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: {secret}}}\nstringData: {{id: '{}', secret: '{}'}}\n",
                env.get("MINIO_ACCESS_KEY")?,
                env.get("MINIO_SECRET_KEY")?
            ),
        )
        .await?;
    backup_completed(&backups, "late", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let status = backups.get("late").await?.status.unwrap_or_default();
    assert_eq!(status.last_backup.and_then(|b| b.records), Some(25));
    eprintln!(
        "JobPodBlocked seen {seen_after:?} after the apply; completed {:?} after it",
        started.elapsed()
    );
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every YAML document of the shipped file `path` (relative to the repository).
fn documents(path: &str) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(repo().join(path))?;
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = <Value as serde::Deserialize>::deserialize(doc)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

/// Rules that reach Secrets: `secrets` or `*` among their resources in the core group.
fn secret_rules(rules: &Value) -> Vec<Value> {
    rules
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|r| {
            let core = strings(&r["apiGroups"]).iter().any(|g| g.is_empty() || g == "*");
            core && strings(&r["resources"]).iter().any(|x| x == "secrets" || x == "*")
        })
        .cloned()
        .collect()
}

/// A namespaced grant on Secrets is allowed only by name and only to read (the licence, the
/// audit log's URL, the restore-authorization key), or to create and nothing else: the operator
/// makes its restore-authorization key on first start (docs/enterprise.md), and RBAC cannot
/// narrow `create` by name; creating reads nothing.
fn by_name_read_only(rule: &Value) -> bool {
    let verbs = strings(&rule["verbs"]);
    let read_by_name = !strings(&rule["resourceNames"]).is_empty()
        && verbs.iter().all(|v| matches!(v.as_str(), "get" | "list" | "watch"));
    read_by_name || (!verbs.is_empty() && verbs.iter().all(|v| v == "create"))
}

#[test]
fn no_shipped_cluster_role_grants_a_secrets_verb() -> anyhow::Result<()> {
    let mut cluster_roles = 0;
    let mut problems = Vec::new();
    for path in [
        "config/rbac/all-namespaces/role.yaml",
        "config/helm/strimzi-backup-operator/files/rbac/role.yaml",
        "config/rbac/leader_election_role.yaml",
        "dist/install.yaml",
    ] {
        for doc in documents(path)? {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let rules = secret_rules(&doc["rules"]);
            match kind.as_str() {
                "ClusterRole" => {
                    cluster_roles += 1;
                    if !rules.is_empty() {
                        problems.push(format!("{path}: ClusterRole {name} grants {rules:?}"));
                    }
                }
                "Role" => {
                    if let Some(r) = rules.iter().find(|r| !by_name_read_only(r)) {
                        problems.push(format!("{path}: Role {name} grants {r:?}"));
                    }
                }
                _ => {}
            }
        }
    }
    // The OLM bundle: clusterPermissions are cluster-wide; permissions become Roles (per watched
    // namespace with OwnNamespace/MultiNamespace, cluster-wide with AllNamespaces), so neither
    // may reach Secrets except the licence by name.
    let csv_path = "bundle/manifests/strimzi-backup-operator.clusterserviceversion.yaml";
    let csv = documents(csv_path)?.into_iter().next().ok_or_else(|| anyhow::anyhow!("empty CSV"))?;
    let install = &csv["spec"]["install"]["spec"];
    for (field, by_name_ok) in [("clusterPermissions", false), ("permissions", true)] {
        for entry in install[field].as_sequence().into_iter().flatten() {
            for r in secret_rules(&entry["rules"]) {
                if !(by_name_ok && by_name_read_only(&r)) {
                    problems.push(format!(
                        "{csv_path}: {field} of {:?} grants {r:?}",
                        entry["serviceAccountName"]
                    ));
                }
            }
        }
    }
    assert!(cluster_roles >= 3, "found {cluster_roles} ClusterRoles: the files moved?");
    assert!(problems.is_empty(), "Secrets reachable beyond the licence:\n{}", problems.join("\n"));
    Ok(())
}
