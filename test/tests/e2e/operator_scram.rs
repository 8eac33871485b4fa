//! A Strimzi cluster's `tls` listener with `scram-sha-512` authentication, end to end through the
//! operator: the cluster CA from `<cluster>-cluster-ca-cert`, the user name from the `KafkaUser`'s
//! status and the password from the Secret the User Operator writes, all mounted into the Job by
//! reference. The local broker's SASL_SSL listener checks them for real; a wrong password is a
//! failed backup with the broker's reason, and the password appears nowhere.
//!
//! Without `listenerName`, a SCRAM connection takes the TLS listener that declares SCRAM (issue
//! 14): the local broker's plain listener has no SASL at all, so a backup that completes went
//! over TLS.

use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup, KafkaBackupStatus};

fn strimzi(kind: &str, plural: &str) -> kube::api::ApiResource {
    strimzi_backup_e2e::fixtures::strimzi_resource("v1beta2", kind, plural)
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_over_tls_from_a_kafka_user_and_a_wrong_password_fails_readably() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "kb-scram").await?;
    let ca = std::fs::read_to_string(env.get("KAFKA_CA_FILE")?)?;
    // What the Cluster Operator publishes: a tls listener with its CA, and the CA Secret.
    let kafkas: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), &ns, &strimzi("Kafka", "kafkas"));
    let status = serde_json::json!({"status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "listeners": [
            {"name": "plain", "bootstrapServers": env.kafka_bootstrap()},
            {"name": "tls", "bootstrapServers": env.get("KAFKA_TLS_BOOTSTRAP")?, "certificates": [ca]},
        ],
    }});
    kafkas.patch_status("my-cluster", &PatchParams::default(), &Patch::Merge(&status)).await?;
    let secret = |name: &str, key: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n  {key}: {}\n",
            serde_json::to_string(value).unwrap_or_default()
        )
    };
    cluster.apply_yaml(&ns, &secret("my-cluster-cluster-ca-cert", "ca.crt", &ca)).await?;
    // What the User Operator writes for two KafkaUsers: the real one and one with a wrong password.
    let users: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), &ns, &strimzi("KafkaUser", "kafkausers"));
    let user = env.get("KAFKA_SCRAM_USER")?;
    for (name, password) in [("backup", env.get("KAFKA_SCRAM_PASSWORD")?), ("stale", "not-the-password")] {
        cluster
            .apply_yaml(&ns, &format!("apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaUser\nmetadata: {{name: {name}, labels: {{strimzi.io/cluster: my-cluster}}}}\nspec: {{authentication: {{type: scram-sha-512}}}}\n"))
            .await?;
        let st = serde_json::json!({"status": {"username": user, "secret": name}});
        users.patch_status(name, &PatchParams::default(), &Patch::Merge(&st)).await?;
        cluster.apply_yaml(&ns, &secret(name, "password", password)).await?;
    }
    let s = unique_suffix();
    let topic = format!("scram{s}");
    create_topic(env, &topic, 2, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 70, recent())).await?;
    produce(env, &topic, 1, &records(&topic, 1, 30, recent())).await?;
    let operator = Operator::start(env, &ns)?;
    // The listeners as a SCRAM user of Strimzi declares them: the password on the TLS one.
    let listeners = serde_json::json!({"spec": {"kafka": {"listeners": [
        {"name": "plain", "port": 9092, "type": "internal", "tls": false},
        {"name": "tls", "port": 9093, "type": "internal", "tls": true, "authentication": {"type": "scram-sha-512"}},
    ]}}});
    kafkas.patch("my-cluster", &PatchParams::default(), &Patch::Merge(&listeners)).await?;
    let backup = |name: &str, user: &str| -> anyhow::Result<String> {
        let listener = if name == "chosen" { String::new() } else { ", listenerName: tls".to_string() };
        Ok(format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster{listener}}}\n  authentication: {{type: scram-sha-512, kafkaUserRef: {{name: {user}}}}}\n  topics: {{include: ['{topic}']}}\n{}  job: {{backoffLimit: 0}}\n",
            minio_storage(env, &format!("e2e-op-scram-{name}-{s}/"), "minio-credentials", 2)?
        ))
    };
    cluster.apply_yaml(&ns, &backup("secure", "backup")?).await?;
    cluster.apply_yaml(&ns, &backup("denied", "stale")?).await?;
    cluster.apply_yaml(&ns, &backup("chosen", "backup")?).await?;
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let finished = |name: &'static str| {
        let api = api.clone();
        async move {
            let st: KafkaBackupStatus = api.get(name).await?.status.unwrap_or_default();
            let done = st
                .backup_history
                .iter()
                .any(|b| matches!(b.status, BackupRunStatus::Completed | BackupRunStatus::Failed));
            anyhow::Ok(done.then_some(st))
        }
    };
    let ok = wait_until(Duration::from_secs(180), "the SCRAM backup", || finished("secure"))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let last = ok.last_backup.clone().unwrap_or_default();
    assert_eq!((last.status, last.records), (BackupRunStatus::Completed, Some(100)), "{ok:?}");
    let chosen =
        wait_until(Duration::from_secs(180), "the backup without listenerName", || finished("chosen"))
            .await
            .map_err(|e| e.context(operator.log_text()))?;
    let last = chosen.last_backup.clone().unwrap_or_default();
    assert_eq!((last.status, last.records), (BackupRunStatus::Completed, Some(100)), "{chosen:?}");
    let bad = wait_until(Duration::from_secs(180), "the denied backup", || finished("denied"))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let ready = bad.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    assert_eq!(ready.reason.as_deref(), Some("BackupFailed"), "{bad:?}");
    let message = ready.message.unwrap_or_default();
    assert!(message.to_lowercase().contains("authentication"), "a readable reason: {message}");
    assert!(!message.contains("not-the-password") && !operator.log_text().contains("not-the-password"));
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
