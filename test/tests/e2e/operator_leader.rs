//! Two operator replicas on one namespace: only the holder of the Lease reconciles, so a run
//! gets one Job; stopping the leader (SIGTERM, as on a rollout) releases the Lease and the
//! standby takes over and reconciles. An operator given a comma list of namespaces reconciles in
//! those and nowhere else.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams, Patch, PatchParams};
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};

async fn holder(leases: &Api<Lease>) -> anyhow::Result<Option<String>> {
    Ok(leases
        .get_opt("strimzi-backup-operator-leader")
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty()))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_one_leader_and_a_clean_hand_over() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "leader").await?;
    let s = unique_suffix();
    let topic = format!("leader{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 40, recent())).await?;
    // A Lease of 30 s: a hand-over within 10 s can only come from the leader releasing it, not
    // from the Lease running out.
    let lease = [("STRIMZI_BACKUP_LEASE_SECONDS", "30")];
    let mut first = Operator::start_with_env(env, &ns, &lease)?;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &ns);
    let leader = wait_until(Duration::from_secs(30), "a leader", || holder(&leases)).await?;
    let mut second = Operator::start_with_env(env, &ns, &lease)?;
    wait_until(Duration::from_secs(30), "the second replica to wait for the Lease", || async {
        Ok(second.log_text().contains("waiting to lead").then_some(()))
    })
    .await?;
    assert_eq!(holder(&leases).await?.as_ref(), Some(&leader), "the second replica stands by");

    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: once}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &format!("e2e-op-leader-{s}/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let completed = |name: &'static str| {
        let api = api.clone();
        async move {
            let st = api.get(name).await?.status.unwrap_or_default();
            anyhow::Ok(st.backup_history.iter().filter(|b| b.status == BackupRunStatus::Completed).count())
        }
    };
    wait_until(Duration::from_secs(120), "the backup", || async {
        Ok((completed("once").await? == 1).then_some(()))
    })
    .await
    .map_err(|e| e.context(first.log_text()))?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    assert_eq!(jobs.list(&ListParams::default()).await?.items.len(), 1, "one Job for one run");
    // Only the leader logged reconciles.
    let (leading, standby) = if first.log_text().contains("leading") {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    assert!(!standby.log_text().contains("backup started"), "the standby did nothing");

    // SIGTERM: the leader finishes, releases the Lease; the standby takes over within seconds,
    // far sooner than the Lease would expire.
    let stopped = Instant::now();
    assert!(leading.stop()?, "a clean exit on SIGTERM");
    let new = wait_until(Duration::from_secs(60), "the standby to lead", || async {
        Ok(holder(&leases).await?.filter(|h| *h != leader))
    })
    .await
    .map_err(|e| e.context(standby.log_text()))?;
    assert_ne!(new, leader);
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(10), "hand-over took {took:?}: the Lease was not released");
    // The new leader reconciles: an on-demand run.
    let trigger =
        serde_json::json!({"metadata": {"annotations": {"kafkabackup.com/trigger": "after-hand-over"}}});
    api.patch("once", &PatchParams::default(), &Patch::Merge(&trigger)).await?;
    wait_until(Duration::from_secs(120), "the triggered backup", || async {
        Ok((completed("once").await? == 2).then_some(()))
    })
    .await
    .map_err(|e| e.context(standby.log_text()))?;
    assert!(standby.log_text().contains("leading"), "{}", standby.log_text());
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comma_list_of_namespaces_is_watched_and_nothing_else() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let home = namespace_with_kafka(&cluster, "watch-home").await?;
    let other = namespace_with_kafka(&cluster, "watch-other").await?;
    let outside = namespace_with_kafka(&cluster, "watch-outside").await?;
    let s = unique_suffix();
    let topic = format!("watch{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 20, recent())).await?;
    // The operator lives in `home` and watches `home` and `other`, not `outside`.
    let operator = Operator::start_watching(
        env,
        &home,
        &format!("{home}, {other}"),
        strimzi_backup_e2e::dataplane::binary(),
    )?;
    for ns in [&other, &outside] {
        cluster
            .apply_yaml(
                ns,
                &format!(
                    "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: once}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                    minio_storage(env, &format!("e2e-op-watch-{ns}/"), "minio-credentials", 2)?
                ),
            )
            .await?;
    }
    let watched: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &other);
    wait_until(Duration::from_secs(120), "the backup in the watched namespace", || async {
        let st = watched.get("once").await?.status.unwrap_or_default();
        Ok(st.backup_history.iter().any(|b| b.status == BackupRunStatus::Completed).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let ignored: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &outside);
    let untouched = ignored.get("once").await?;
    assert!(untouched.status.is_none(), "not watched: {:?}", untouched.status);
    assert!(untouched.metadata.finalizers.unwrap_or_default().is_empty());
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &outside);
    assert!(jobs.list(&ListParams::default()).await?.items.is_empty());
    // The watched namespace first: the operator's ServiceAccount (in `home`) must still exist to
    // remove its finalizers there.
    for ns in [&other, &home] {
        cluster.delete_namespace(ns).await?;
    }
    // The unwatched KafkaBackup has no finalizer, so its namespace goes too.
    cluster.delete_namespace(&outside).await?;
    Ok(())
}

/// `STRIMZI_BACKUP_NAMESPACE=*`: one operator for the whole cluster (what the cluster-wide
/// install does) reconciles in namespaces it knew nothing of when it started.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "reconciles every namespace of the shared cluster: run alone by `make e2e`"]
async fn an_operator_watching_every_namespace_reconciles_in_each() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let home = namespace_with_kafka(&cluster, "all-home").await?;
    let s = unique_suffix();
    let topic = format!("all{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 20, recent())).await?;
    let operator = Operator::start_watching(env, &home, "*", strimzi_backup_e2e::dataplane::binary())?;
    wait_until(Duration::from_secs(30), "the controllers", || async {
        Ok(operator.log_text().contains("controllers running").then_some(()))
    })
    .await?;
    // Created after the operator started.
    let later = namespace_with_kafka(&cluster, "all-later").await?;
    for ns in [&home, &later] {
        cluster
            .apply_yaml(
                ns,
                &format!(
                    "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: once}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                    minio_storage(env, &format!("e2e-op-all-{ns}/"), "minio-credentials", 2)?
                ),
            )
            .await?;
    }
    for ns in [&home, &later] {
        let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), ns);
        wait_until(Duration::from_secs(120), &format!("the backup in {ns}"), || async {
            let st = api.get("once").await?.status.unwrap_or_default();
            Ok(st.backup_history.iter().any(|b| b.status == BackupRunStatus::Completed).then_some(()))
        })
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    }
    for ns in [&later, &home] {
        cluster.delete_namespace(ns).await?;
    }
    Ok(())
}
