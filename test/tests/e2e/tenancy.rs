//! Tenancy across namespaces, through the real API server and real RBAC: two tenants, each a
//! ServiceAccount with rights only in its own namespace (a Role and RoleBinding), impersonated
//! by the test. Every reference from tenant A's namespace into tenant B's — restoring B's
//! backup, restoring or resetting offsets into B's Kafka, backing up B's Kafka — is refused by
//! the webhook naming the field: first for lack of A's right to `get` there, then (with that
//! right) for lack of B's opt-in annotation, which A cannot set and B can. With both, admitted.
//! Without the webhook, the controller refuses the same references for lack of the opt-in:
//! the condition names the field and no Job is created.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use strimzi_backup_e2e::fixtures::{Cluster, strimzi_resource, until_allowed, wait_until};
use strimzi_backup_e2e::operator::{Operator, minio_storage, namespace_with_kafka};
use strimzi_backup_e2e::webhook::Registration;
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::offset_reset::KafkaOffsetReset;
use strimzi_backup_operator::api::restore::KafkaRestore;
use strimzi_backup_operator::api::tenancy::{ALLOW_ANNOTATION, REASON};

const TENANT: &str = "tenant";

/// The API group/version of our kinds.
const API: &str = "kafkabackup.com/v1alpha1";

/// Tenant `ns`'s ServiceAccount and its rights, in `ns` only: everything on our kinds, read the
/// Strimzi clusters.
async fn tenant(cluster: &Cluster, ns: &str) -> anyhow::Result<()> {
    let yaml = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {TENANT}}}\n---\n\
apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: {TENANT}}}\nrules:\n\
- {{apiGroups: [kafkabackup.com], resources: [kafkabackups, kafkarestores, kafkaoffsetresets], verbs: ['*']}}\n\
- {{apiGroups: [kafka.strimzi.io], resources: [kafkas], verbs: [get, list, watch, patch, update]}}\n---\n\
apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: {TENANT}}}\n\
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {TENANT}}}\n\
subjects: [{{kind: ServiceAccount, name: {TENANT}, namespace: {ns}}}]\n"
    );
    cluster.apply_yaml(ns, &yaml).await?;
    Ok(())
}

/// A client acting as tenant `ns`'s ServiceAccount (impersonated, with the groups the API server
/// gives a ServiceAccount token), so RBAC and the webhook's userInfo are the tenant's.
async fn as_tenant(cluster: &Cluster, ns: &str) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.env.kubeconfig())?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?;
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:{TENANT}"));
    config.auth_info.impersonate_groups = Some(vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{ns}"),
        "system:authenticated".into(),
    ]);
    let client = kube::Client::try_from(config)?;
    until_allowed(&client, "kafkabackup.com", "kafkabackups", "create", ns).await?;
    Ok(client)
}

fn backup(cluster: &Cluster, name: &str) -> anyhow::Result<Value> {
    let storage = minio_storage(&cluster.env, &format!("tenancy/{name}"), "minio-credentials", 0)?;
    let spec: Value =
        serde_yaml_ng::from_str(&format!("strimziClusterRef: {{name: my-cluster}}\n{storage}"))?;
    Ok(json!({"apiVersion": API, "kind": "KafkaBackup", "metadata": {"name": name}, "spec": spec}))
}

/// A restore in its own namespace's `my-cluster` of backup `backup_ns/orders`.
fn restore_of(name: &str, backup_ns: &str) -> Value {
    json!({"apiVersion": API, "kind": "KafkaRestore", "metadata": {"name": name},
        "spec": {"strimziClusterRef": {"name": "my-cluster"}, "backupRef": {"name": "orders", "namespace": backup_ns}}})
}

/// A restore of its own namespace's backup `orders` into `kafka_ns/my-cluster`.
fn restore_into(name: &str, kafka_ns: &str) -> Value {
    json!({"apiVersion": API, "kind": "KafkaRestore", "metadata": {"name": name},
        "spec": {"strimziClusterRef": {"name": "my-cluster", "namespace": kafka_ns}, "backupRef": {"name": "orders"}}})
}

fn reset_in(name: &str, kafka_ns: &str) -> Value {
    json!({"apiVersion": API, "kind": "KafkaOffsetReset", "metadata": {"name": name},
        "spec": {"strimziClusterRef": {"name": "my-cluster", "namespace": kafka_ns},
                 "consumerGroups": ["orders-app"], "resetStrategy": "to-earliest"}})
}

fn backup_of(cluster: &Cluster, name: &str, kafka_ns: &str) -> anyhow::Result<Value> {
    let mut b = backup(cluster, name)?;
    b["spec"]["strimziClusterRef"]["namespace"] = json!(kafka_ns);
    Ok(b)
}

/// Creates `object` in `ns` as `client` (a server-side dry run: admission runs in full, nothing
/// is stored, no operator acts on it) and returns the refusal's message, or `None` if admitted.
async fn create(client: &kube::Client, ns: &str, object: &Value) -> anyhow::Result<Option<String>> {
    let object: DynamicObject = serde_json::from_value(object.clone())?;
    let kind = object.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
    let plural = format!("{}s", kind.to_lowercase());
    let resource = kube::api::ApiResource {
        group: "kafkabackup.com".into(),
        version: "v1alpha1".into(),
        api_version: API.into(),
        kind,
        plural,
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let params = PostParams { dry_run: true, ..PostParams::default() };
    match api.create(&params, &object).await {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(s)) => Ok(Some(s.message)),
        Err(e) => Err(e.into()),
    }
}

/// Expects `object` refused in `ns` by the webhook, with a message holding every one of `parts`.
async fn refused(client: &kube::Client, ns: &str, object: &Value, parts: &[&str]) -> anyhow::Result<()> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let message = create(client, ns, object).await?.ok_or_else(|| anyhow::anyhow!("{name} was admitted"))?;
    anyhow::ensure!(message.contains("denied the request"), "{name}: not the webhook's refusal: {message}");
    for part in parts {
        anyhow::ensure!(message.contains(part), "{name}: the refusal does not say {part:?}: {message}");
    }
    Ok(())
}

async fn annotate(
    client: &kube::Client,
    resource: &kube::api::ApiResource,
    ns: &str,
    name: &str,
    value: &str,
) -> anyhow::Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, resource);
    let patch = json!({"metadata": {"annotations": {ALLOW_ANNOTATION: value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

fn our_resource(kind: &str, plural: &str) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "kafkabackup.com".into(),
        version: "v1alpha1".into(),
        api_version: API.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_refuses_every_cross_tenant_reference_naming_the_field_until_both_sides_allow_it()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let a = namespace_with_kafka(&cluster, "tenant-a").await?;
    let b = namespace_with_kafka(&cluster, "tenant-b").await?;
    tenant(&cluster, &a).await?;
    tenant(&cluster, &b).await?;
    let (alice, bob) = (as_tenant(&cluster, &a).await?, as_tenant(&cluster, &b).await?);
    // B's backup, created by B with B's rights (no operator watches B: it never runs).
    let api: Api<KafkaBackup> = Api::namespaced(bob.clone(), &b);
    api.create(&PostParams::default(), &serde_json::from_value(backup(&cluster, "orders")?)?).await?;
    let operator = Operator::start(&cluster.env, &a)?;
    let registration = Registration::new(&cluster, &operator, &a).await?;
    // The webhook judges A once a backup with an invalid cron (which only it refuses) is refused.
    let mut probe = backup(&cluster, "probe")?;
    probe["spec"]["schedule"] = json!({"cron": "61 * * * *"});
    wait_until(Duration::from_secs(30), "the webhook to judge namespace A", || async {
        Ok(create(&alice, &a, &probe).await?.filter(|m| m.contains("denied the request")).map(|_| ()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    anyhow::ensure!(
        create(&alice, &a, &restore_of("own", &a)).await?.is_none(),
        "A's own restore is refused"
    );

    let user = format!("system:serviceaccount:{a}:{TENANT}");
    let cases = [
        (restore_of("b-backup", &b), "spec.backupRef.namespace", "kafkabackups"),
        (restore_into("b-cluster", &b), "spec.strimziClusterRef.namespace", "kafkas"),
        (reset_in("b-groups", &b), "spec.strimziClusterRef.namespace", "kafkas"),
        (backup_of(&cluster, "b-data", &b)?, "spec.strimziClusterRef.namespace", "kafkas"),
    ];
    // 1. A's user may not read B's objects: refused for that, naming the field.
    for (object, field, resource) in &cases {
        let forbidden = format!("user {user} may not get {resource} in namespace {b}");
        refused(&alice, &a, object, &[field, &forbidden]).await?;
    }

    // 2. A's user may read them (B grants get), but B has not opted in: refused for that.
    let reader = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: reader-from-a}}\nrules:\n\
- {{apiGroups: [kafkabackup.com], resources: [kafkabackups], verbs: [get]}}\n\
- {{apiGroups: [kafka.strimzi.io], resources: [kafkas], verbs: [get]}}\n---\n\
apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: reader-from-a}}\n\
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader-from-a}}\n\
subjects: [{{kind: ServiceAccount, name: {TENANT}, namespace: {a}}}]\n"
    );
    cluster.apply_yaml(&b, &reader).await?;
    for (object, field, _) in &cases {
        refused(&alice, &a, object, &[field, &format!("{ALLOW_ANNOTATION}: \"{a}\"")]).await?;
    }

    // 3. The opt-in is B's to give: A cannot annotate B's objects, B can.
    let kafka = strimzi_resource("v1beta2", "Kafka", "kafkas");
    let backups = our_resource("KafkaBackup", "kafkabackups");
    anyhow::ensure!(annotate(&alice, &backups, &b, "orders", &a).await.is_err(), "A could opt B's backup in");
    annotate(&bob, &backups, &b, "orders", &format!("team-x, {a}")).await?;
    annotate(&bob, &kafka, &b, "my-cluster", "*").await?;
    for (object, _, _) in &cases {
        let name = &object["metadata"]["name"];
        anyhow::ensure!(
            create(&alice, &a, object).await?.is_none(),
            "{name} refused with both sides' consent"
        );
    }
    // The right alone is not enough without the opt-in, and the opt-in not without the right.
    annotate(&bob, &backups, &b, "orders", "team-x").await?;
    refused(&alice, &a, &cases[0].0, &["spec.backupRef.namespace", ALLOW_ANNOTATION]).await?;
    cluster.kubectl(&["-n", &b, "delete", "rolebinding", "reader-from-a"])?;
    wait_until(Duration::from_secs(30), "A's right in B to go", || async {
        Ok(create(&alice, &a, &cases[1].0).await?.filter(|m| m.contains("may not get kafkas")).map(|_| ()))
    })
    .await?;

    drop(registration);
    cluster.delete_namespace(&a).await?;
    drop(operator);
    cluster.delete_namespace(&b).await?;
    Ok(())
}

/// The Ready condition's (reason, message) of a `KafkaRestore` / `KafkaOffsetReset` in `ns`.
async fn ready_condition<K>(api: &Api<K>, name: &str) -> anyhow::Result<Option<(String, String)>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + serde::Serialize,
{
    let object = serde_json::to_value(api.get(name).await?)?;
    let conditions =
        object.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(conditions.iter().find(|c| c["type"] == "Ready").map(|c| {
        (
            c["reason"].as_str().unwrap_or_default().to_string(),
            c["message"].as_str().unwrap_or_default().to_string(),
        )
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_webhook_the_controllers_refuse_cross_namespace_references_without_opt_in()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let a = namespace_with_kafka(&cluster, "tenant-a").await?;
    let b = namespace_with_kafka(&cluster, "tenant-b").await?;
    cluster.apply(&b, &serde_json::from_value(backup(&cluster, "orders")?)?).await?;
    let operator = Operator::start(&cluster.env, &a)?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &a);
    let resets: Api<KafkaOffsetReset> = Api::namespaced(cluster.client.clone(), &a);
    cluster.apply(&a, &serde_json::from_value(restore_of("b-backup", &b))?).await?;
    cluster.apply(&a, &serde_json::from_value(reset_in("b-groups", &b))?).await?;

    let refusal = |field: &'static str| {
        move |c: Option<(String, String)>| {
            c.filter(|(reason, message)| {
                reason == REASON && message.contains(field) && message.contains(ALLOW_ANNOTATION)
            })
        }
    };
    let wait = Duration::from_secs(60);
    let restore = wait_until(wait, "the restore refused for B's backup", || async {
        Ok(refusal("spec.backupRef.namespace")(ready_condition(&restores, "b-backup").await?))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let reset = wait_until(wait, "the offset reset refused for B's Kafka", || async {
        Ok(refusal("spec.strimziClusterRef.namespace")(ready_condition(&resets, "b-groups").await?))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    eprintln!("restore: {restore:?}\nreset: {reset:?}");
    // A KafkaBackup B does not have reads exactly as one B does not share: naming objects in
    // another namespace tells a tenant nothing about what is there.
    let mut ghost_restore = restore_of("b-ghost", &b);
    ghost_restore["spec"]["backupRef"]["name"] = json!("ghost");
    cluster.apply(&a, &serde_json::from_value(ghost_restore)?).await?;
    let (_, ghost) = wait_until(wait, "the restore of a KafkaBackup B does not have refused", || async {
        Ok(ready_condition(&restores, "b-ghost").await?.filter(|(reason, _)| reason == REASON))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let (_, shared) = &restore;
    anyhow::ensure!(
        ghost == shared.replace(&format!("KafkaBackup {b}/orders"), &format!("KafkaBackup {b}/ghost")),
        "an absent KafkaBackup reads differently from an unshared one:\n{ghost}\n{shared}"
    );
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &a);
    let listed = jobs.list(&ListParams::default()).await?.items;
    anyhow::ensure!(
        listed.is_empty(),
        "Jobs created for refused references: {:?}",
        listed.iter().map(|j| j.metadata.name.clone()).collect::<Vec<_>>()
    );

    // B's opt-in is what was missing: with it, the restore moves on to B's backup (which has
    // no completed run yet).
    let backups = our_resource("KafkaBackup", "kafkabackups");
    annotate(&cluster.client, &backups, &b, "orders", &a).await?;
    wait_until(Duration::from_secs(90), "the restore to follow B's backup once allowed", || async {
        Ok(ready_condition(&restores, "b-backup").await?.filter(|(reason, _)| reason == "NoCompletedBackup"))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;

    cluster.delete_namespace(&a).await?;
    drop(operator);
    cluster.delete_namespace(&b).await?;
    Ok(())
}

/// A restore that never finishes holds the backups it reads against retention. From another
/// namespace it may do so only with the KafkaBackup's opt-in: otherwise a tenant could pin
/// another's backups forever (no webhook here; the controller's own check is what counts).
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_from_another_namespace_without_opt_in_does_not_hold_back_retention() -> anyhow::Result<()>
{
    use object_store::ObjectStoreExt;
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let a = namespace_with_kafka(&cluster, "tenant-a").await?;
    let b = namespace_with_kafka(&cluster, "tenant-b").await?;
    let s = strimzi_backup_e2e::fixtures::unique_suffix();
    let topic = format!("pin{s}");
    strimzi_backup_e2e::dataplane::create_topic(env, &topic, 1, &[]).await?;
    let records =
        strimzi_backup_e2e::dataplane::records(&topic, 0, 20, strimzi_backup_e2e::dataplane::recent());
    strimzi_backup_e2e::dataplane::produce(env, &topic, 0, &records).await?;
    let operator =
        Operator::start_watching(env, &a, &format!("{a},{b}"), strimzi_backup_e2e::dataplane::binary())?;
    // B backs up every minute and keeps one backup.
    let prefix = format!("tenancy-pin-{s}/");
    let mut orders = backup(&cluster, "orders")?;
    orders["spec"]["storage"] =
        serde_yaml_ng::from_str::<Value>(&minio_storage(env, &prefix, "minio-credentials", 0)?)?["storage"]
            .clone();
    orders["spec"]["topics"] = json!({"include": [topic]});
    orders["spec"]["schedule"] = json!({"cron": "* * * * *"});
    orders["spec"]["retention"] = json!({"maxBackups": 1});
    cluster.apply(&b, &serde_json::from_value(orders)?).await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &b);
    let last_id = || async {
        let st = backups.get("orders").await?.status.unwrap_or_default();
        anyhow::Ok(
            st.last_backup
                .filter(|l| l.status == strimzi_backup_operator::api::backup::BackupRunStatus::Completed)
                .map(|l| l.id),
        )
    };
    let first =
        wait_until(Duration::from_secs(150), "B's first scheduled backup", || async { last_id().await })
            .await
            .map_err(|e| e.context(operator.log_text()))?;

    // A names exactly that backup, without B's opt-in: refused, and left unfinished.
    let mut pin = restore_of("pin", &b);
    pin["spec"]["backupRef"]["backupId"] = json!(first);
    cluster.apply(&a, &serde_json::from_value(pin)?).await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &a);
    wait_until(Duration::from_secs(60), "A's restore refused for lack of B's opt-in", || async {
        Ok(ready_condition(&restores, "pin").await?.filter(|(reason, _)| reason == REASON))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;

    // B's next scheduled backups prune the first one all the same.
    let store = strimzi_backup_e2e::dataplane::minio(env)?;
    let manifest = object_store::path::Path::from(format!("{prefix}backups/{first}/manifest.json"));
    wait_until(Duration::from_secs(200), "B's retention to prune its first backup", || async {
        Ok(store.head(&manifest).await.is_err().then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;

    cluster.delete_namespace(&a).await?;
    cluster.delete_namespace(&b).await?;
    drop(operator);
    Ok(())
}
