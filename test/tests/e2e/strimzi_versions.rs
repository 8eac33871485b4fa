//! Strimzi as it really is: the operator against the CRDs of each Strimzi line — 0.40–0.48 serve
//! `kafka.strimzi.io` only in `v1beta2`, 0.49–0.5x in `v1` and `v1beta2`, 1.x only in `v1` —
//! including an upgrade through all three under a running operator and Strimzi installed after
//! the operator; a reconcile that keeps failing for a reason outside the spec (the API
//! server cannot convert the `Kafka`) shown on the object, then cleared; and each line's real
//! schema pruning what it does not define while keeping what the operator reads.
//!
//! Every test here replaces the cluster-scoped Strimzi CRDs the rest of the suite shares, so they
//! are `#[ignore]`d in `make e2e`'s parallel pass and run alone in its second pass; each puts
//! the suite's CRDs back when it ends ([`SuiteCrdsBack`]).

use std::time::Duration;

use anyhow::Context;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, strimzi_resource, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, backup_completed, kafka_namespace, minio_storage, ready_kafka};
use strimzi_backup_e2e::strimzi::{self, KINDS, StrimziLine, SuiteCrdsBack};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup, KafkaBackupStatus};
use strimzi_backup_operator::api::cluster::{ClusterConnection, StrimziClusterRef};
use strimzi_backup_operator::api::condition::{Condition, ConditionStatus};
use strimzi_backup_operator::operator::connection::resolve;
use strimzi_backup_operator::operator::dereference::StrimziApi;

fn ready(st: &KafkaBackupStatus) -> Option<&Condition> {
    st.conditions.iter().find(|c| c.type_ == "Ready")
}

fn completed(st: &KafkaBackupStatus) -> usize {
    st.backup_history.iter().filter(|b| b.status == BackupRunStatus::Completed).count()
}

/// A topic with records and a full-backup `KafkaBackup` `orders` of it (no schedule: it runs
/// once at creation, then once per trigger value).
async fn backup_of_a_topic(cluster: &Cluster, ns: &str, name: &str) -> anyhow::Result<()> {
    let env = &cluster.env;
    let s = unique_suffix();
    let topic = format!("{name}{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 100, recent())).await?;
    let yaml = format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}  backup: {{mode: full}}\n  job: {{backoffLimit: 1}}\n",
        minio_storage(env, &format!("e2e-{name}-{s}/"), "minio-credentials", 2)?
    );
    cluster.apply_yaml(ns, &yaml).await?;
    Ok(())
}

/// Asks for one more run of `orders` and waits until `completed` backups have completed.
async fn another_backup_completes(
    api: &Api<KafkaBackup>,
    operator: &Operator,
    trigger: &str,
    completed_runs: usize,
) -> anyhow::Result<()> {
    let patch = serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": trigger}}});
    api.patch("orders", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    wait_until(
        Duration::from_secs(120),
        &format!("backup {completed_runs} ({trigger}) completed"),
        || async {
            let st = api.get("orders").await?.status.unwrap_or_default();
            Ok((completed(&st) >= completed_runs).then_some(()))
        },
    )
    .await
    .map_err(|e| e.context(operator.log_text()))
}

/// A `KafkaUser` `backup` written in `version` with `status.username` `username`.
async fn kafka_user(cluster: &Cluster, ns: &str, version: &str, username: &str) -> anyhow::Result<()> {
    cluster.apply_yaml(ns, &strimzi::kafka_user_yaml("backup", version, "my-cluster")).await?;
    let users: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        ns,
        &strimzi_resource(version, "KafkaUser", "kafkausers"),
    );
    let status = serde_json::json!({"status": {"username": username}});
    users.patch_status("backup", &PatchParams::default(), &Patch::Merge(&status)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "replaces the Strimzi CRDs every test shares: run alone by `make e2e` (second pass)"]
async fn a_backup_completes_on_strimzi_0_4x_and_again_after_upgrades_to_0_49_and_1_x_under_the_running_operator()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let _back = SuiteCrdsBack::new(&cluster)?;
    cluster.install_crds().await?;

    // Strimzi 0.4x: Kafka served only as v1beta2.
    strimzi::install(&cluster, StrimziLine::V1beta2Only).await?;
    let ns = kafka_namespace(&cluster, "strimzi-upgrade", StrimziLine::V1beta2Only.user_version()).await?;
    kafka_user(&cluster, &ns, "v1beta2", "user-0-4x").await?;
    // One reader across the upgrades, as the operator's is: its discovery must follow them.
    let reader = StrimziApi::new(cluster.client.clone());
    assert_eq!(reader.kafka_user_name(&ns, "backup").await?.as_deref(), Some("user-0-4x"));
    let operator = Operator::start(&cluster.env, &ns)?;
    backup_of_a_topic(&cluster, &ns, "upgrade").await?;
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&api, "orders", Duration::from_secs(120))
        .await
        .map_err(|e| e.context(operator.log_text()))?;

    // Strimzi 0.49: v1 added beside v1beta2 (still the storage version).
    strimzi::install(&cluster, StrimziLine::Both).await?;
    another_backup_completes(&api, &operator, "after-0.49", 2).await?;
    assert!(reader.kafka(&ns, "my-cluster").await?.is_some_and(|k| k.status.is_some()));

    // Strimzi 1.x: v1beta2 gone (objects migrated to v1 first, as Strimzi's upgrade requires).
    strimzi::install(&cluster, StrimziLine::V1Only).await?;
    kafka_user(&cluster, &ns, "v1", "user-1-x").await?;
    assert_eq!(reader.kafka_user_name(&ns, "backup").await?.as_deref(), Some("user-1-x"));
    another_backup_completes(&api, &operator, "after-1.x", 3).await?;
    // The operator read Kafka in v1beta2 on 0.4x, then in v1, and moved its Kafka watch along.
    let log = wait_until(Duration::from_secs(30), "the Kafka watch moved to v1", || async {
        let log = operator.log_text();
        Ok(log.contains("restarting the controllers").then_some(log))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    // Each discovery logs every kind of the group served (`Kafka=v1beta2, KafkaTopic=v1, ...`):
    // the KafkaTopic CRD other tests install may be there too, so only these two kinds are read.
    let discovered = |kafka: &str, user: &str| {
        log.lines().filter_map(|l| l.split_once("served=")).any(|(_, served)| {
            let kinds: Vec<&str> = served.split(", ").map(str::trim).collect();
            kinds.contains(&format!("Kafka={kafka}").as_str())
                && kinds.contains(&format!("KafkaUser={user}").as_str())
        })
    };
    assert!(discovered("v1beta2", "v1beta2"), "{log}");
    assert!(discovered("v1", "v1"), "{log}");
    let st = api.get("orders").await?.status.unwrap_or_default();
    assert_eq!(ready(&st).and_then(|c| c.reason.as_deref()), Some("BackupCompleted"), "{st:?}");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "replaces the Strimzi CRDs every test shares: run alone by `make e2e` (second pass)"]
async fn an_operator_started_before_strimzi_reports_the_missing_kafka_then_backs_up_once_strimzi_1_x_is_installed()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let _back = SuiteCrdsBack::new(&cluster)?;
    cluster.install_crds().await?;

    // No Strimzi at all: its CRDs deleted (with every Kafka and KafkaUser of the cluster).
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    for (_, plural) in KINDS {
        let name = format!("{plural}.kafka.strimzi.io");
        if crds.get_opt(&name).await?.is_some() {
            crds.delete(&name, &DeleteParams::default()).await?;
        }
        wait_until(Duration::from_secs(60), &format!("CRD {name} deleted"), || async {
            Ok(crds.get_opt(&name).await?.is_none().then_some(()))
        })
        .await?;
    }
    let ns = cluster.namespace("strimzi-later").await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: minio-credentials}}\nstringData: {{id: '{}', secret: '{}'}}\n",
                env.get("MINIO_ACCESS_KEY")?,
                env.get("MINIO_SECRET_KEY")?
            ),
        )
        .await?;
    let operator = Operator::start(env, &ns)?;
    backup_of_a_topic(&cluster, &ns, "later").await?;
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let waiting = wait_until(Duration::from_secs(60), "Ready=False KafkaNotFound", || async {
        let st = api.get("orders").await?.status.unwrap_or_default();
        Ok(ready(&st).filter(|c| c.reason.as_deref() == Some("KafkaNotFound")).cloned())
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(waiting.status, ConditionStatus::False);
    assert!(waiting.message.unwrap_or_default().contains(&format!("{ns}/my-cluster")));

    // Strimzi 1.x installed under the running operator; its Cluster Operator makes the Kafka.
    strimzi::install(&cluster, StrimziLine::V1Only).await?;
    ready_kafka(&cluster, &ns, "my-cluster", "v1", env.kafka_bootstrap()).await?;
    // The backup waits 30 s between looks at a missing Kafka.
    backup_completed(&api, "orders", Duration::from_secs(120))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "replaces the Strimzi CRDs every test shares: run alone by `make e2e` (second pass)"]
async fn a_kafka_the_api_server_cannot_convert_shows_on_the_backup_with_one_event_and_clears_when_it_reads_again()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let _back = SuiteCrdsBack::new(&cluster)?;
    cluster.install_crds().await?;
    strimzi::install(&cluster, StrimziLine::Both).await?;
    let ns = kafka_namespace(&cluster, "strimzi-unreadable", "v1beta2").await?;

    // The Kafka is stored as v1beta2 and read as v1: with a conversion webhook nobody serves,
    // every read fails in the API server (HTTP 500), whatever the object's spec says.
    let mut broken = StrimziLine::Both.crds()?;
    for crd in &mut broken {
        crd.spec.conversion = Some(serde_json::from_value(serde_json::json!({
            "strategy": "Webhook",
            "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": {"url": "https://127.0.0.1:1/convert"}},
        }))?);
    }
    // In effect once a read of the Kafka in v1 fails (a change the API server has not taken
    // in yet is applied again, see strimzi::apply_settled).
    let kafkas: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), &ns, &strimzi_resource("v1", "Kafka", "kafkas"));
    let mut in_effect = false;
    for _ in 0..5 {
        strimzi::apply_marked(&cluster, &broken, "v1beta2").await?;
        if let Err(kube::Error::Api(s)) = kafkas.get("my-cluster").await {
            in_effect = s.code == 500 && s.message.contains("conversion webhook");
        }
        if in_effect {
            break;
        }
    }
    assert!(in_effect, "the conversion webhook never came into effect");
    let operator = Operator::start(&cluster.env, &ns)?;
    backup_of_a_topic(&cluster, &ns, "unreadable").await?;
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);

    // Retried at 1 s and 2 s, the third failure in a row is shown: Ready=False and an Event.
    let shown = wait_until(Duration::from_secs(60), "Ready=False ReadFailed", || async {
        let st = api.get("orders").await?.status.unwrap_or_default();
        Ok(ready(&st).filter(|c| c.reason.as_deref() == Some("ReadFailed")).cloned())
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(shown.status, ConditionStatus::False);
    let message = shown.message.unwrap_or_default();
    assert!(
        message.contains("reading the Kafka cluster") && message.contains("conversion webhook"),
        "{message}"
    );
    assert!(!message.contains("ErrorResponse") && !message.contains("Status {"), "no debug form: {message}");
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &ns);
    let warnings = |list: Vec<Event>| -> Vec<Event> {
        list.into_iter()
            .filter(|e| e.reason.as_deref() == Some("ReadFailed") && e.type_.as_deref() == Some("Warning"))
            .collect()
    };
    let event = wait_until(Duration::from_secs(20), "a ReadFailed Warning Event", || async {
        Ok(warnings(events.list(&ListParams::default()).await?.items).into_iter().next())
    })
    .await?;
    let note = event.message.unwrap_or_default();
    assert!(note.contains("failed 3 times in a row"), "{note}");

    // The API server reads it again: the next retry runs the backup and Ready says so.
    strimzi::install(&cluster, StrimziLine::Both).await?;
    backup_completed(&api, "orders", Duration::from_secs(120))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let readfailed = warnings(events.list(&ListParams::default()).await?.items);
    assert_eq!(readfailed.len(), 1, "one Event for one run of failures: {readfailed:?}");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "replaces the Strimzi CRDs every test shares: run alone by `make e2e` (second pass)"]
async fn every_strimzi_line_prunes_undefined_status_fields_and_the_operator_reads_the_ready_kafka()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let _back = SuiteCrdsBack::new(&cluster)?;
    let bootstrap = cluster.env.kafka_bootstrap();
    for (line, versions) in [
        (StrimziLine::V1beta2Only, &["v1beta2"][..]),
        (StrimziLine::Both, &["v1beta2", "v1"][..]),
        (StrimziLine::V1Only, &["v1"][..]),
    ] {
        strimzi::install(&cluster, line).await?;
        let ns = cluster.namespace("strimzi-schema").await?;
        // A fresh reader per line, as an operator started on that line has.
        let reader = StrimziApi::new(cluster.client.clone());
        for version in versions {
            let name = format!("c-{version}");
            let kept = strimzi::write_status_with_undefined_fields(&cluster, &ns, &name, version, bootstrap)
                .await
                .with_context(|| format!("{line:?} {version}"))?;
            kept.check(&name, bootstrap).with_context(|| format!("{line:?} {version}"))?;
            let kafka = reader.kafka(&ns, &name).await?;
            let by_ref = ClusterConnection {
                strimzi_cluster_ref: Some(StrimziClusterRef { name: name.clone(), ..Default::default() }),
                kafka_cluster: None,
                authentication: None,
            };
            let job = resolve(&ns, &by_ref, kafka.as_ref(), None)
                .map_err(|e| anyhow::anyhow!("{line:?} {version}: {e}"))?;
            assert_eq!(job.kafka.bootstrap_servers, bootstrap, "{line:?} {version}");
            assert_eq!(
                reader.kafka_user_name(&ns, &name).await?,
                Some(format!("{name}-user")),
                "{line:?} {version}"
            );
        }
        // Deleted before the next line's CRDs: a line that drops a version must not find
        // objects stored in it.
        cluster.delete_namespace(&ns).await?;
    }
    Ok(())
}
