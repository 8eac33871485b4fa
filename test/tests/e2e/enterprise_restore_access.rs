//! e2e: the restore access policy (issue 17 §1, Enterprise feature `restore-policy`), through the
//! real API server, real RBAC and the operator's webhooks. Two users, impersonated by the test:
//! alice, bound to (a copy of) the ClusterRole `strimzi-backup-restorer`, and bob, with only the
//! aggregated editor roles of kafkabackups and kafkarestores. A `KafkaBackup` with a
//! `restorePolicy`:
//!
//! - bob's restore is refused naming the backup, the verb and the role, also when he runs
//!   `kubectl kafkabackup restore`; alice's restore through the plugin (a generated name) is
//!   stamped, plans, waits for approval (`approval: Manual`) and restores every record;
//! - a target outside `allowedTargetClusters` and an `Automatic` restore are refused at their
//!   fields;
//! - licences: none refuses a policy, a valid one accepts it, an expired one keeps the existing
//!   policy enforced (bob still refused, alice still restores) and refuses a new or changed one;
//! - without the webhooks the controller holds an unstamped or forged restore with
//!   `RestoreNotAuthorized` and no Job, and lets it go once the policy is removed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use strimzi_backup_e2e::dataplane::{consume_all, create_topic, produce, recent, records};
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, until_allowed, wait_until};
use strimzi_backup_e2e::licences;
use strimzi_backup_e2e::operator::{Operator, backup_completed, minio_storage, namespace_with_kafka};
use strimzi_backup_e2e::webhook::{Registration, answering};
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::restore::{KafkaRestore, KafkaRestoreStatus, RunPhase};
use strimzi_backup_operator::api::restore_point::KafkaRestorePoint;
use strimzi_backup_operator::api::restore_policy::{REASON, RESTORER_ROLE};
use strimzi_backup_operator::license::feature;
use strimzi_backup_operator::restore_access::{
    AUTHORIZATION_ANNOTATION, AUTHORIZED_BY_ANNOTATION, KEY_SECRET,
};

const API: &str = "kafkabackup.com/v1alpha1";

/// A client acting as `user` (impersonated through the admin kubeconfig), so RBAC and the
/// webhook's userInfo are the user's.
async fn as_user(cluster: &Cluster, user: &str) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.env.kubeconfig())?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?;
    config.auth_info.impersonate = Some(user.into());
    config.auth_info.impersonate_groups = Some(vec!["system:authenticated".into()]);
    Ok(kube::Client::try_from(config)?)
}

/// The admin kubeconfig acting as `user` (`as`, `as-groups`), for the plugin.
fn user_kubeconfig(cluster: &Cluster, user: &str) -> anyhow::Result<PathBuf> {
    let mut config: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(cluster.env.kubeconfig())?)?;
    for u in config["users"].as_array_mut().into_iter().flatten() {
        u["user"]["as"] = json!(user);
        u["user"]["as-groups"] = json!(["system:authenticated"]);
    }
    let dir = std::env::temp_dir().join(format!("sbo-restore-access-{}", unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{user}.kubeconfig"));
    std::fs::write(&path, serde_yaml_ng::to_string(&config)?)?;
    Ok(path)
}

/// `kubectl kafkabackup` (the binary `cargo build --workspace --bins` leaves) as `kubeconfig`'s
/// user in `ns`: exit code, stdout, stderr.
async fn plugin(kubeconfig: &PathBuf, ns: &str, args: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let binary = std::env::var_os("KUBECTL_KAFKABACKUP")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/kubectl-kafkabackup"));
    let mut cmd = tokio::process::Command::new(&binary);
    cmd.arg("--kubeconfig").arg(kubeconfig).args(["-n", ns]).args(args);
    cmd.env_remove("KUBECONFIG").stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
        .await
        .context("the plugin ran for over 240 s")?
        .with_context(|| format!("running {} (run `cargo build --workspace --bins`)", binary.display()))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    ))
}

/// alice and bob, once the API server's authorizer sees the roles [`roles`] bound them in `ns`.
async fn users(cluster: &Cluster, ns: &str) -> anyhow::Result<(kube::Client, kube::Client)> {
    let (alice, bob) = (as_user(cluster, "alice").await?, as_user(cluster, "bob").await?);
    until_allowed(&alice, "kafkabackup.com", "kafkabackups", "restore", ns).await?;
    until_allowed(&bob, "kafkabackup.com", "kafkarestores", "create", ns).await?;
    Ok((alice, bob))
}

/// Copies of the shipped roles (unique names, deleted at the end: cluster-wide objects shared by
/// concurrent tests), bound in `ns`: the restorer role to alice, the kafkabackup and kafkarestore
/// editor roles to bob. Returns the copies' names.
async fn roles(cluster: &Cluster, ns: &str, s: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for (file, user) in [
        ("kafkabackup_restorer_role.yaml", "alice"),
        ("kafkabackup_editor_role.yaml", "bob"),
        ("kafkarestore_editor_role.yaml", "bob"),
    ] {
        let mut role: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(
            workspace_root().join("config/rbac").join(file),
        )?)?;
        let name = format!("{}-{s}", role["metadata"]["name"].as_str().unwrap_or_default());
        if file.contains("restorer") {
            // The shipped restorer role is never aggregated: its copy must not be either.
            let labels = role["metadata"]["labels"].as_object().cloned().unwrap_or_default();
            anyhow::ensure!(
                !labels.keys().any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-")),
                "{file} is aggregated: {labels:?}"
            );
        } else {
            let verbs = role["rules"].to_string();
            anyhow::ensure!(!verbs.contains("\"restore\""), "{file} grants restore: {verbs}");
        }
        role["metadata"] = json!({"name": name});
        cluster.apply(ns, &serde_json::from_value(role)?).await?;
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]});
        cluster.apply(ns, &serde_json::from_value(binding)?).await?;
        names.push(name);
    }
    Ok(names)
}

fn delete_roles(cluster: &Cluster, names: &[String]) {
    for name in names {
        let _ = cluster.kubectl(&["delete", "clusterrole", name, "--ignore-not-found"]);
    }
}

/// A `KafkaBackup` `name` of `topic` with `policy` as its `restorePolicy` (none: `Value::Null`).
fn backup(cluster: &Cluster, name: &str, topic: &str, prefix: &str, policy: Value) -> anyhow::Result<Value> {
    let storage = minio_storage(&cluster.env, prefix, "minio-credentials", 0)?;
    let mut spec: Value = serde_yaml_ng::from_str(&format!(
        "strimziClusterRef: {{name: my-cluster}}\ntopics: {{include: ['{topic}']}}\n{storage}"
    ))?;
    if !policy.is_null() {
        spec["restorePolicy"] = policy;
    }
    Ok(json!({"apiVersion": API, "kind": "KafkaBackup", "metadata": {"name": name}, "spec": spec}))
}

/// A restore of `orders` into the Strimzi `Kafka` `kafka`, with `approval`.
fn restore(name: &str, kafka: &str, approval: &str) -> Value {
    json!({"apiVersion": API, "kind": "KafkaRestore", "metadata": {"name": name},
        "spec": {"strimziClusterRef": {"name": kafka}, "backupRef": {"name": "orders"},
                 "restore": {"approval": approval}}})
}

/// Creates `object` in `ns` as `client`; `dry_run`: a server-side dry run (admission in full,
/// nothing stored). The refusal's message, or `None` when admitted.
async fn create(
    client: &kube::Client,
    ns: &str,
    object: &Value,
    dry_run: bool,
) -> anyhow::Result<Option<String>> {
    let object: DynamicObject = serde_json::from_value(object.clone())?;
    let kind = object.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
    let resource = kube::api::ApiResource {
        group: "kafkabackup.com".into(),
        version: "v1alpha1".into(),
        api_version: API.into(),
        plural: format!("{}s", kind.to_lowercase()),
        kind,
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    match api.create(&PostParams { dry_run, ..PostParams::default() }, &object).await {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(s)) => Ok(Some(s.message)),
        Err(e) => Err(e.into()),
    }
}

/// Expects `object` refused by the webhook with a message holding each of `parts`.
async fn refused(client: &kube::Client, ns: &str, object: &Value, parts: &[&str]) -> anyhow::Result<String> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let message =
        create(client, ns, object, true).await?.ok_or_else(|| anyhow::anyhow!("{name} was admitted"))?;
    anyhow::ensure!(message.contains("denied the request"), "{name}: not the webhook's refusal: {message}");
    for part in parts {
        anyhow::ensure!(message.contains(part), "{name}: the refusal does not say {part:?}: {message}");
    }
    Ok(message)
}

fn ready(st: &KafkaRestoreStatus) -> (String, String) {
    let c = st.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    (c.reason.unwrap_or_default(), c.message.unwrap_or_default())
}

/// Installs `token` and waits until the webhook judges by it: `probe` (a KafkaBackup with a
/// policy) admitted by a dry run when `refusal` is empty, else refused saying `refusal`.
async fn licensed(
    cluster: &Cluster,
    ns: &str,
    token: &str,
    probe: &Value,
    refusal: &str,
    operator: &Operator,
) -> anyhow::Result<()> {
    licences::install(cluster, ns, token).await?;
    wait_until(Duration::from_secs(30), "the webhook to judge by the new licence", || async {
        let judged = match create(&cluster.client, ns, probe, true).await? {
            None => refusal.is_empty(),
            Some(m) => !refusal.is_empty() && m.contains(refusal),
        };
        Ok(judged.then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_user_rbac_lets_restore_a_protected_backup_restores_it_within_its_targets_and_approval()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "kra").await?;
    let s = unique_suffix();
    let topic = format!("kra{s}-orders");
    create_topic(env, &topic, 1, &[]).await?;
    let produced = records(&topic, 0, 50, recent());
    produce(env, &topic, 0, &produced).await?;
    // The operator outlives the test's body: deleting the namespace needs it (the backup's
    // cleanup finalizer).
    let operator = Operator::start(env, &ns)?;
    let role_copies = roles(&cluster, &ns, &s).await?;
    let result = async {
        let registration = Registration::new(&cluster, &operator, &ns).await?;
        answering(&cluster, &ns, &operator).await?;
        let (alice, bob) = users(&cluster, &ns).await?;
        let policy = json!({"allowedTargetClusters": [{"name": "my-cluster"}], "approval": "Manual"});
        let orders = backup(&cluster, "orders", &topic, &format!("e2e-restore-access-{s}/"), policy)?;
        licensed(&cluster, &ns, &licences::issued(&[feature::RESTORE_POLICY], 30)?, &orders, "", &operator)
            .await?;
        // Bob, an editor, creates the protected backup: editing needs no restore right.
        anyhow::ensure!(create(&bob, &ns, &orders, false).await?.is_none(), "bob's KafkaBackup refused");
        let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
        backup_completed(&backups, "orders", Duration::from_secs(180))
            .await
            .map_err(|e| e.context(operator.log_text()))?;

        // Bob may edit both kinds but not restore: refused naming user, backup, verb and role.
        let bob_says = [
            "spec.backupRef",
            "user bob may not restore",
            &format!("KafkaBackup {ns}/orders"),
            "`restore`",
            RESTORER_ROLE,
        ];
        let refusal = refused(&bob, &ns, &restore("bob", "my-cluster", "Manual"), &bob_says).await?;
        // The same words through the plugin, which creates a KafkaRestore as bob.
        let bob_config = user_kubeconfig(&cluster, "bob")?;
        let (code, _, stderr) = plugin(
            &bob_config,
            &ns,
            &["restore", "orders", "--cluster", "my-cluster", "--approval", "Manual", "--wait-plan=false"],
        )
        .await?;
        anyhow::ensure!(
            code == 1 && stderr.contains("user bob may not restore"),
            "plugin as bob: {code} {stderr}"
        );
        anyhow::ensure!(stderr.contains(RESTORER_ROLE), "plugin as bob: {stderr}\nAPI: {refusal}");
        // Nor by one of the backup's restore points: the policy follows it to its KafkaBackup.
        let points: Api<KafkaRestorePoint> = Api::namespaced(cluster.client.clone(), &ns);
        let point = wait_until(Duration::from_secs(60), "a restore point of orders", || async {
            Ok(points.list(&ListParams::default()).await?.items.into_iter().find_map(|p| p.metadata.name))
        })
        .await?;
        let mut by_point = restore("bob-point", "my-cluster", "Manual");
        if let Some(spec) = by_point["spec"].as_object_mut() {
            spec.remove("backupRef");
        }
        by_point["spec"]["restorePointRef"] = json!({"name": point});
        let point_says =
            ["spec.restorePointRef", "user bob may not restore", &format!("KafkaBackup {ns}/orders")];
        refused(&bob, &ns, &by_point, &point_says).await?;
        by_point["metadata"]["name"] = json!("alice-point");
        anyhow::ensure!(
            create(&alice, &ns, &by_point, true).await?.is_none(),
            "alice's restore by a restore point refused"
        );

        // Alice may restore, but only into the listed cluster and only with manual approval.
        refused(
            &alice,
            &ns,
            &restore("elsewhere", "other-cluster", "Manual"),
            &[
                "spec.strimziClusterRef",
                &format!("Kafka {ns}/other-cluster is not among the clusters"),
                "allowedTargetClusters",
            ],
        )
        .await?;
        refused(
            &alice,
            &ns,
            &restore("automatic", "my-cluster", "Automatic"),
            &["spec.restore.approval", "requires the manual approval"],
        )
        .await?;
        let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
        anyhow::ensure!(
            restores.list(&ListParams::default()).await?.items.is_empty(),
            "a refused restore was stored"
        );

        // Alice restores through the plugin (a generated name, stamped by the webhook) under a
        // new topic name; the plan waits for approval, then every record is restored.
        let target = format!("{topic}-restored");
        let alice_config = user_kubeconfig(&cluster, "alice")?;
        let rename = format!("{topic}={target}");
        let (code, stdout, stderr) = plugin(
            &alice_config,
            &ns,
            &[
                "restore",
                "orders",
                "--cluster",
                "my-cluster",
                "--approval",
                "Manual",
                "--rename",
                &rename,
                "--timeout",
                "3m",
            ],
        )
        .await?;
        anyhow::ensure!(code == 0, "plugin as alice: {code}\n{stdout}\n{stderr}\n{}", operator.log_text());
        let name = stdout
            .lines()
            .find_map(|l| {
                l.strip_prefix("kafkarestore.kafkabackup.com/").and_then(|l| l.split_whitespace().next())
            })
            .map(String::from)
            .with_context(|| format!("no restore named in {stdout}"))?;
        anyhow::ensure!(name.starts_with("orders-restore-"), "{name}");
        let kr = restores.get(&name).await?;
        let annotations = kr.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations.get(AUTHORIZED_BY_ANNOTATION).map(String::as_str),
            Some("alice"),
            "{annotations:?}"
        );
        assert!(annotations.get(AUTHORIZATION_ANNOTATION).is_some_and(|m| m.len() == 64), "{annotations:?}");
        // Bob cannot move the stamp: the webhook keeps the old one on every update.
        let forged = json!({"metadata": {"annotations": {AUTHORIZED_BY_ANNOTATION: "bob"}}});
        Api::<KafkaRestore>::namespaced(bob.clone(), &ns)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&forged))
            .await?;
        let after = restores.get(&name).await?.metadata.annotations.unwrap_or_default();
        assert_eq!(after.get(AUTHORIZED_BY_ANNOTATION).map(String::as_str), Some("alice"), "{after:?}");
        let planned =
            wait_until(Duration::from_secs(180), "alice's restore planned, awaiting approval", || async {
                let st = restores.get(&name).await?.status.unwrap_or_default();
                Ok((st.phase == Some(RunPhase::Planned) && ready(&st).0 == "AwaitingApproval").then_some(st))
            })
            .await
            .map_err(|e| e.context(operator.log_text()))?;
        let hash = planned.plan.map(|p| p.hash).unwrap_or_default();
        let approve = json!({"metadata": {"annotations": {"kafkabackup.com/approve": hash}}});
        restores.patch(&name, &PatchParams::default(), &Patch::Merge(&approve)).await?;
        let done = wait_until(Duration::from_secs(180), "alice's restore to finish", || async {
            let kr = restores.get(&name).await?;
            let phase = kr.status.as_ref().and_then(|s| s.phase);
            Ok(matches!(phase, Some(RunPhase::Completed | RunPhase::Failed)).then_some(kr))
        })
        .await
        .map_err(|e| e.context(operator.log_text()))?;
        let st = done.status.unwrap_or_default();
        anyhow::ensure!(st.phase == Some(RunPhase::Completed), "{:?}", ready(&st));
        let restored = consume_all(env, &target, 0)?;
        assert_eq!(restored.len(), produced.len(), "records restored into {target}");

        // The key the stamps are made with is the operator's Secret.
        let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
        anyhow::ensure!(secrets.get_opt(KEY_SECRET).await?.is_some(), "no Secret {KEY_SECRET}");
        drop(registration);
        anyhow::Ok(())
    }
    .await;
    delete_roles(&cluster, &role_copies);
    result?;
    cluster.delete_namespace(&ns).await?;
    drop(operator);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_needs_the_licence_to_be_written_and_stays_enforced_after_it_expired() -> anyhow::Result<()>
{
    let cluster = Cluster::connect().await?;
    let ns = namespace_with_kafka(&cluster, "krl").await?;
    let s = unique_suffix();
    let operator = Operator::start(&cluster.env, &ns)?;
    let role_copies = roles(&cluster, &ns, &s).await?;
    let result = async {
        let registration = Registration::new(&cluster, &operator, &ns).await?;
        answering(&cluster, &ns, &operator).await?;
        let (alice, bob) = users(&cluster, &ns).await?;
        let prefix = format!("e2e-restore-access-licence-{s}/");
        let policy = json!({"approval": "Manual"});
        let mut orders = backup(&cluster, "orders", "krl-none", &prefix, policy.clone())?;
        // A schedule that never fires: this test is about admission, not backups.
        orders["spec"]["schedule"] = json!({"cron": "0 0 1 1 *", "suspend": true});
        let says = ["spec.restorePolicy", "licence feature `restore-policy`"];

        // No licence: refused, naming the field and the feature.
        refused(&cluster.client, &ns, &orders, &says).await?;
        // A licence without the feature: refused.
        let without = "does not grant the `restore-policy` feature";
        licensed(&cluster, &ns, &licences::issued(&[feature::ENCRYPTION], 30)?, &orders, without, &operator)
            .await?;
        // Granted: accepted, and enforced.
        licensed(&cluster, &ns, &licences::issued(&[feature::RESTORE_POLICY], 30)?, &orders, "", &operator)
            .await?;
        anyhow::ensure!(
            create(&cluster.client, &ns, &orders, false).await?.is_none(),
            "refused with the licence"
        );
        let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
        wait_until(Duration::from_secs(60), "the policy accepted by the controller", || async {
            Ok(backups.get("orders").await?.status.and_then(|s| s.licensed_settings))
        })
        .await
        .map_err(|e| e.context(operator.log_text()))?;
        refused(&bob, &ns, &restore("bob", "my-cluster", "Manual"), &["user bob may not restore"]).await?;
        anyhow::ensure!(
            create(&alice, &ns, &restore("alice", "my-cluster", "Manual"), true).await?.is_none()
        );

        // Expired: the existing policy still protects the backup and alice still restores it;
        // a new policy or a changed one is refused.
        let mut other = orders.clone();
        other["metadata"]["name"] = json!("payments");
        licensed(
            &cluster,
            &ns,
            &licences::issued(&[feature::RESTORE_POLICY], -1)?,
            &other,
            "expired",
            &operator,
        )
        .await?;
        refused(&cluster.client, &ns, &other, &["spec.restorePolicy", "expired"]).await?;
        refused(&bob, &ns, &restore("bob", "my-cluster", "Manual"), &["user bob may not restore"]).await?;
        refused(&alice, &ns, &restore("auto", "my-cluster", "Automatic"), &["spec.restore.approval"]).await?;
        anyhow::ensure!(
            create(&alice, &ns, &restore("alice", "my-cluster", "Manual"), true).await?.is_none(),
            "alice's restore refused after expiry"
        );
        // For real: the controller, too, lets her stamped restore through (to wait for the
        // backup's first run, which this suspended schedule never makes).
        anyhow::ensure!(
            create(&alice, &ns, &restore("alice", "my-cluster", "Manual"), false).await?.is_none(),
            "alice's restore refused after expiry"
        );
        let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
        wait_until(Duration::from_secs(60), "alice's restore past the policy after expiry", || async {
            let st = restores.get("alice").await?.status.unwrap_or_default();
            Ok(Some(ready(&st)).filter(|(reason, _)| reason == "NoCompletedBackup"))
        })
        .await
        .map_err(|e| e.context(operator.log_text()))?;
        let label = json!({"metadata": {"labels": {"team": "payments"}}});
        backups.patch("orders", &PatchParams::default(), &Patch::Merge(&label)).await?;
        let changed = json!({"spec": {"restorePolicy": {"approval": "Automatic"}}});
        let patched = backups.patch("orders", &PatchParams::default(), &Patch::Merge(&changed)).await;
        match patched {
            Err(kube::Error::Api(s)) => {
                anyhow::ensure!(s.message.contains("spec.restorePolicy"), "{}", s.message)
            }
            other => anyhow::bail!("a changed policy was admitted after expiry: {other:?}"),
        }
        // Removing the policy needs no licence.
        let lifted = json!({"spec": {"restorePolicy": null}});
        backups.patch("orders", &PatchParams::default(), &Patch::Merge(&lifted)).await?;
        let left = backups.get("orders").await?.spec.restore_policy;
        anyhow::ensure!(left.is_none(), "the policy is still there: {left:?}");
        drop(registration);
        anyhow::Ok(())
    }
    .await;
    delete_roles(&cluster, &role_copies);
    result?;
    cluster.delete_namespace(&ns).await?;
    drop(operator);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_webhooks_the_controller_holds_restores_of_a_protected_backup_it_cannot_verify()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "krc").await?;
    let s = unique_suffix();
    let topic = format!("krc{s}-orders");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 10, recent())).await?;
    let operator = Operator::start(env, &ns)?;
    // A completed backup first (a policy without a licence holds the backup's own runs), so a
    // restore of it could start its plan Job at once: only the policy stops it.
    let prefix = format!("e2e-restore-access-ctl-{s}/");
    cluster
        .apply(&ns, &serde_json::from_value(backup(&cluster, "orders", &topic, &prefix, Value::Null)?)?)
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "orders", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    // A restore of the unprotected backup plans and waits for approval; the policy added below
    // holds it before its next Job.
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let mut early = restore("early", "my-cluster", "Manual");
    early["spec"]["restore"]["existingTopicPolicy"] = json!("append");
    cluster.apply(&ns, &serde_json::from_value(early)?).await?;
    let planned = wait_until(Duration::from_secs(180), "the early restore planned", || async {
        let st = restores.get("early").await?.status.unwrap_or_default();
        Ok((st.phase == Some(RunPhase::Planned) && ready(&st).0 == "AwaitingApproval").then_some(st))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    // No webhook, so no licence check at admission: the policy is written, the KafkaBackup
    // controller holds the backup for its licence, and the policy is enforced all the same.
    let protect = json!({"spec": {"restorePolicy": {"approval": "Manual"}}});
    backups.patch("orders", &PatchParams::default(), &Patch::Merge(&protect)).await?;
    wait_until(
        Duration::from_secs(60),
        "the policy held by the KafkaBackup controller for its licence",
        || async {
            let st = backups.get("orders").await?.status.unwrap_or_default();
            let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned();
            Ok(ready.filter(|c| c.reason.as_deref() == Some("LicenseInvalid")))
        },
    )
    .await
    .map(|c| assert!(c.message.as_deref().unwrap_or_default().contains("spec.restorePolicy"), "{c:?}"))
    .map_err(|e| e.context(operator.log_text()))?;
    // Nothing stamps, and a stamp written by hand is not the operator's.
    let forged_mac = "00".repeat(32);
    let mut forged = restore("forged", "my-cluster", "Manual");
    forged["metadata"]["annotations"] =
        json!({AUTHORIZED_BY_ANNOTATION: "alice", AUTHORIZATION_ANNOTATION: forged_mac});
    for mut object in [restore("unstamped", "my-cluster", "Manual"), forged] {
        // Into the backed-up topic itself, so a plan can pass (never approved: nothing written).
        object["spec"]["restore"]["existingTopicPolicy"] = json!("append");
        cluster.apply(&ns, &serde_json::from_value(object)?).await?;
    }
    // The early restore, approved now, is held before its restore Job.
    let hash = planned.plan.map(|p| p.hash).unwrap_or_default();
    let approve = json!({"metadata": {"annotations": {"kafkabackup.com/approve": hash}}});
    restores.patch("early", &PatchParams::default(), &Patch::Merge(&approve)).await?;
    for (name, says) in
        [("early", "admission webhook"), ("unstamped", "admission webhook"), ("forged", "not valid")]
    {
        let (_, message) = wait_until(Duration::from_secs(60), &format!("{name} held"), || async {
            let st = restores.get(name).await?.status.unwrap_or_default();
            Ok(Some(ready(&st)).filter(|(reason, _)| reason == REASON))
        })
        .await
        .map_err(|e| e.context(operator.log_text()))?;
        for part in [says, RESTORER_ROLE, &format!("KafkaBackup {ns}/orders")] {
            anyhow::ensure!(message.contains(part), "{name}: {part:?} not in {message}");
        }
        let st = restores.get(name).await?.status.unwrap_or_default();
        let waiting = [Some(RunPhase::Pending), Some(RunPhase::Planned)];
        assert!(waiting.contains(&st.phase), "{name}: {st:?}");
    }
    // Held a while (the controller requeues): no Job of any restore but the early one's plan.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let of_restores: Vec<_> = jobs
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|j| j.metadata.owner_references.iter().flatten().any(|o| o.kind == "KafkaRestore"))
        .filter_map(|j| j.metadata.name)
        .collect();
    anyhow::ensure!(of_restores == ["early-plan"], "Jobs for held restores: {of_restores:?}");

    // The policy is what held them: without it the restore moves on, its plan Job runs and the
    // plan waits for approval.
    let lifted = json!({"spec": {"restorePolicy": null}});
    backups.patch("orders", &PatchParams::default(), &Patch::Merge(&lifted)).await?;
    wait_until(Duration::from_secs(180), "the restore planned once the policy is gone", || async {
        let st = restores.get("unstamped").await?.status.unwrap_or_default();
        Ok((st.phase == Some(RunPhase::Planned) && ready(&st).0 == "AwaitingApproval").then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    cluster.delete_namespace(&ns).await?;
    drop(operator);
    Ok(())
}
