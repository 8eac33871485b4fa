//! Continuous backup through the operator (issue 18 §4): a `KafkaBackup` with `backup.mode:
//! continuous` gets one Deployment it owns (1 replica, `Recreate`, the backup Job's pod with
//! `restartPolicy: Always`) instead of Jobs, and is `Ready` (`ContinuousBackupRunning`) while its
//! pod runs. Its process is SIGKILLed twice under steady produce (the pod harness restarts the
//! container, as a kubelet does under `restartPolicy: Always`; the pod stays); the lineage stays
//! linear and the restore point whose cut covers everything produced restores every record once.
//! The status shows the commits (read from the result lines the pod prints): `lastBackup` is the
//! newest restore point at the location, the history lists commits, every restore point has its
//! `KafkaRestorePoint`, and a `KafkaRestore` by `restorePointRef` to the newest restores every
//! record once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, minio, run_ok, signal, without_offsets,
};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, finished_run, minio_storage, namespace_with_kafka};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};
use strimzi_backup_operator::api::restore_point::KafkaRestorePoint;

use crate::continuous::{PARTITIONS, Producer, assert_linear, points, stored_topics, until_covered};

/// The `Ready` condition of `kb`: (status, reason).
fn ready(kb: &KafkaBackup) -> (String, String) {
    kb.status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| c.type_ == "Ready")
        .map(|c| (format!("{:?}", c.status), c.reason.clone().unwrap_or_default()))
        .unwrap_or_default()
}

/// The running pods of the Deployment `name` (its pod names start with it).
async fn running_pods(pods: &Api<Pod>, name: &str) -> anyhow::Result<Vec<Pod>> {
    let selector = "app.kubernetes.io/component=continuous-backup";
    Ok(pods
        .list(&ListParams::default().labels(selector))
        .await?
        .items
        .into_iter()
        .filter(|p| p.name_any().starts_with(&format!("{name}-")))
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect())
}

/// The pod harness runs pods as local processes, and the continuous pod serves its metrics and
/// readiness on the fixed port 9091: the tests of this module run one at a time, or the second
/// pod finds the port taken (it backs up without metrics, is never Ready, and a test reading
/// the first one's metrics reads whichever pod holds the port).
static METRICS_PORT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes the port's lock and waits until nothing listens on it: a continuous pod left running by
/// an earlier failed test (its namespace kept for a look) would answer this test's probes.
async fn metrics_port() -> anyhow::Result<tokio::sync::MutexGuard<'static, ()>> {
    let held = METRICS_PORT.lock().await;
    wait_until(Duration::from_secs(60), "port 9091 free (a continuous pod of an earlier failed test holds it: delete its e2e-opcont-*/e2e-opcsr-* namespace)", || async {
        Ok(std::net::TcpListener::bind("0.0.0.0:9091").is_ok().then_some(()))
    })
    .await?;
    Ok(held)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_continuous_kafka_backup_runs_in_its_deployment_and_survives_two_kills() -> anyhow::Result<()> {
    let _port = metrics_port().await?;
    let started = Instant::now();
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "opcont").await?;
    let store = minio(env)?;
    let s = unique_suffix();
    let topic = format!("oc{s}");
    create_topic(env, &topic, PARTITIONS, &[]).await?;
    let prefix = format!("e2e-opcontinuous-{s}/");
    let operator = Operator::start(env, &ns)?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);

    let producer = Producer::start(env, &topic);
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: tail}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  backup: {{mode: continuous, commitInterval: 10s, segmentSize: 1048576}}\n  retention: {{maxAge: 1d}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let kb = backups.get("tail").await?;

    // One Deployment the KafkaBackup controls: one replica, Recreate, the backup pod run for ever.
    let deployment = wait_until(Duration::from_secs(60), "the continuous backup's Deployment", || async {
        Ok(deployments.get_opt("tail-continuous").await?)
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let owner = deployment.owner_references().first().cloned().unwrap_or_default();
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("KafkaBackup", "tail", Some(true))
    );
    assert_eq!(Some(owner.uid.as_str()), kb.uid().as_deref());
    let spec = deployment.spec.clone().unwrap_or_default();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.strategy.and_then(|s| s.type_).as_deref(), Some("Recreate"));
    let pod_spec = spec.template.spec.clone().unwrap_or_default();
    assert_eq!(pod_spec.restart_policy.as_deref(), Some("Always"));
    let c = &pod_spec.containers[0];
    let env_names: Vec<&str> = c.env.iter().flatten().map(|e| e.name.as_str()).collect();
    assert!(env_names.contains(&"STRIMZI_BACKUP_KAFKABACKUP_NAME"), "{env_names:?}");
    assert_eq!(
        c.ports.clone().unwrap_or_default().first().and_then(|p| p.name.clone()).as_deref(),
        Some("metrics")
    );

    // Ready once its pod is available (it committed), and no Job.
    wait_until(Duration::from_secs(90), "KafkaBackup tail Ready (ContinuousBackupRunning)", || async {
        let kb = backups.get("tail").await?;
        Ok((ready(&kb) == ("True".into(), "ContinuousBackupRunning".into())).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    // Ready means committed: the pod's readiness probe is the process's /readyz.
    anyhow::ensure!(!points(&store, &prefix).await?.is_empty(), "Ready before any restore point");
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(cluster.client.clone(), &ns);
    assert!(jobs.list(&ListParams::default()).await?.items.is_empty(), "a continuous backup runs no Job");
    let pod = running_pods(&pods, "tail-continuous").await?.into_iter().next();
    let pod_name = pod.map(|p| p.name_any()).ok_or_else(|| anyhow::anyhow!("no running pod"))?;
    eprintln!("pod {pod_name} running, Ready at {:?}", started.elapsed());

    // Two kills, each after a commit of the process it kills.
    for kill in 0..2u64 {
        let before = points(&store, &prefix).await?.len();
        wait_until(Duration::from_secs(90), &format!("a restore point before kill {kill}"), || async {
            Ok((points(&store, &prefix).await?.len() > before).then_some(()))
        })
        .await
        .map_err(|e| e.context(operator.log_text()))?;
        tokio::time::sleep(Duration::from_millis(3_000 + 2_300 * kill)).await;
        let pids = strimzi_backup_e2e::procfs::pod_processes("tail-continuous-");
        anyhow::ensure!(!pids.is_empty(), "no process of the continuous pod to kill (kill {kill})");
        for pid in &pids {
            signal(*pid, libc::SIGKILL)?;
        }
        eprintln!("kill {kill}: pids {pids:?} at {:?}", started.elapsed());
    }
    // The restarted process commits again, and the KafkaBackup is Ready while it runs.
    let before = points(&store, &prefix).await?.len();
    wait_until(Duration::from_secs(90), "a restore point after the kills", || async {
        Ok((points(&store, &prefix).await?.len() > before).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let running = running_pods(&pods, "tail-continuous").await?;
    let restarts: Vec<(String, i32)> = running
        .iter()
        .map(|p| {
            let count = p
                .status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
                .map(|c| c.restart_count)
                .sum();
            (p.name_any(), count)
        })
        .collect();
    eprintln!("pods after the kills: {restarts:?}");
    assert_eq!(restarts.len(), 1, "one replica: {restarts:?}");
    // Under restartPolicy Always the container is restarted in the same pod.
    assert_eq!(restarts[0], (pod_name.clone(), 2), "the same pod, its container restarted twice");
    wait_until(Duration::from_secs(60), "KafkaBackup tail Ready again", || async {
        let kb = backups.get("tail").await?;
        Ok((ready(&kb) == ("True".into(), "ContinuousBackupRunning".into())).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;

    let produced = producer.finish().await?;
    let newest = until_covered(env, &store, &prefix, &topic, Duration::from_secs(60)).await?;
    let all = points(&store, &prefix).await?;
    assert_linear(&all);
    let target = format!("{topic}-restored");
    let restore = format!(
        "{}topicMapping:\n  - sourceTopic: {topic}\n    targetTopic: {target}\n",
        base_config(env, &prefix, None)?
    );
    run_ok(env, "restore", &restore, &["--backup-id", &newest.id])?;
    for (p, want) in produced.iter().enumerate() {
        assert_eq!(
            newest.ends[&(p as i32)],
            want.len() as i64,
            "partition {p}: the cut is everything produced"
        );
        let got = without_offsets(&consume_all(env, &target, p as i32)?);
        assert_eq!(got.len(), want.len(), "partition {p}: record count");
        assert!(got == without_offsets(want), "partition {p}: records differ from those produced");
    }
    let kb = backups.get("tail").await?;
    assert_eq!(ready(&kb), ("True".into(), "ContinuousBackupRunning".into()));
    // Its metrics carry the KafkaBackup's name (the pod harness runs pods in the host's network).
    let (code, text) = strimzi_backup_e2e::fixtures::http_get("127.0.0.1:9091", "/metrics").await?;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains(&format!("namespace=\"{ns}\",name=\"tail\"")), "{text}");
    // The status shows the commits, from the result lines the pod prints. The process is frozen
    // (SIGSTOP) so that the location stops changing while the status catches up with it; frozen
    // between a commit and its line (the pruning's read of the location), it is thawed and frozen
    // again later.
    let restore_points: Api<KafkaRestorePoint> = Api::namespaced(cluster.client.clone(), &ns);
    let of_tail =
        ListParams::default().labels("kafkabackup.com/source-kind=KafkaBackup,kafkabackup.com/source=tail");
    let mut caught_up = Err(anyhow::anyhow!("not tried"));
    for attempt in 0..3 {
        let pids = strimzi_backup_e2e::procfs::pod_processes("tail-continuous-");
        anyhow::ensure!(!pids.is_empty(), "no process of the continuous pod to freeze");
        for pid in &pids {
            signal(*pid, libc::SIGSTOP)?;
        }
        caught_up = wait_until(
            Duration::from_secs(40),
            "lastBackup the newest restore point at the location, and a KafkaRestorePoint for each",
            || async {
                let at_location = points(&store, &prefix).await?;
                let kb = backups.get("tail").await?;
                let last = kb.status.as_ref().and_then(|s| s.last_backup.as_ref()).map(|b| b.id.clone());
                let mirrored: BTreeSet<String> = restore_points
                    .list(&of_tail)
                    .await?
                    .items
                    .into_iter()
                    .map(|p| p.spec.backup_id)
                    .collect();
                let committed: BTreeSet<String> = at_location.iter().map(|p| p.id.clone()).collect();
                let newest = at_location.last().map(|p| p.id.clone());
                Ok((last.is_some() && last == newest && mirrored == committed).then_some((kb, at_location)))
            },
        )
        .await;
        for pid in &pids {
            signal(*pid, libc::SIGCONT)?;
        }
        if caught_up.is_ok() {
            break;
        }
        eprintln!("the status did not catch up with the frozen process (attempt {attempt}); again");
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    let (kb, committed) = caught_up.map_err(|e| e.context(operator.log_text()))?;
    let st = kb.status.clone().unwrap_or_default();
    let history: Vec<&str> = st.backup_history.iter().map(|r| r.id.as_str()).collect();
    let ids: Vec<&str> = committed.iter().map(|p| p.id.as_str()).collect();
    // What a killed container printed after the last look is not in the new one's log: the
    // history may miss those commits (their restore points are not: the first line after a start
    // lists every one).
    assert!(history.len() >= 3, "the commits in the history: {history:?}");
    assert_eq!(history.first().copied(), ids.last().copied(), "newest first: {history:?}");
    assert!(history.iter().all(|h| ids.contains(h)), "{history:?} not all committed: {ids:?}");
    assert!(history.windows(2).all(|w| w[0] > w[1]), "newest first: {history:?}");
    assert!(
        st.backup_history.iter().all(|r| r.status == BackupRunStatus::Completed && r.records.is_some()),
        "{:?}",
        st.backup_history
    );
    assert_eq!(st.backup_count, Some(committed.len() as i64), "the location's inventory");
    assert!(st.recoverability.last_recoverability_point.is_some(), "{:?}", st.recoverability);
    let message = kb
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| c.type_ == "Ready")
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    assert!(message.contains(&format!("the newest is {}", ids[ids.len() - 1])), "{message}");
    // The newest KafkaRestorePoint restored by a KafkaRestore: every record produced, once.
    let newest_point = restore_points
        .list(&of_tail)
        .await?
        .items
        .into_iter()
        .find(|p| Some(p.spec.backup_id.as_str()) == ids.last().copied())
        .and_then(|p| p.metadata.name)
        .ok_or_else(|| anyhow::anyhow!("no KafkaRestorePoint for the newest restore point"))?;
    let by_point = format!("{topic}-point");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: newest}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  restorePointRef: {{name: {newest_point}}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {by_point}}}]\n"
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let run = finished_run(&restores, "newest", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let rst = run.status.unwrap_or_default();
    assert_eq!(rst.phase, Some(RunPhase::Completed), "{rst:?}");
    assert_eq!(rst.restore.as_ref().and_then(|r| r.backup_id.as_deref()), ids.last().copied());
    for (p, want) in produced.iter().enumerate() {
        let got = without_offsets(&consume_all(env, &by_point, p as i32)?);
        assert_eq!(got.len(), want.len(), "partition {p}: records restored by restorePointRef");
        assert!(got == without_offsets(want), "partition {p}: records differ from those produced");
    }
    eprintln!(
        "status caught up: lastBackup {}, {} in the history, {} restore points mirrored, at {:?}",
        ids[ids.len() - 1],
        history.len(),
        committed.len(),
        started.elapsed()
    );

    // A restore point no result line describes any more (its KafkaRestorePoint deleted by hand;
    // likewise when the pod's log rotated while the operator was away) is a gap: a sync Job
    // lists the location and the restore point is back.
    let oldest = restore_points
        .list(&of_tail)
        .await?
        .items
        .into_iter()
        .min_by(|a, b| a.spec.backup_id.cmp(&b.spec.backup_id))
        .ok_or_else(|| anyhow::anyhow!("no KafkaRestorePoint"))?;
    let (oldest_name, oldest_uid) = (oldest.name_any(), oldest.uid());
    restore_points.delete(&oldest_name, &Default::default()).await?;
    let back = wait_until(Duration::from_secs(90), "the deleted restore point listed again", || async {
        Ok(restore_points.get_opt(&oldest_name).await?.filter(|p| p.uid() != oldest_uid))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(back.spec.backup_id, oldest.spec.backup_id);
    assert!(
        operator.log_text().contains("filled from a listing of the location"),
        "by the gap's sync Job: {}",
        operator.log_text()
    );
    wait_until(Duration::from_secs(60), "the sync Job deleted once recorded", || async {
        let kb = backups.get("tail").await?;
        let idle = kb.status.and_then(|s| s.active_job).is_none();
        Ok((idle && jobs.get_opt("tail-continuous-sync").await?.is_none()).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    eprintln!("gap filled: {oldest_name} back at {:?}", started.elapsed());

    // Every reconcile applied the same Deployment: never rolled.
    let deployment = deployments.get("tail-continuous").await?;
    assert_eq!(deployment.metadata.generation, Some(1), "the Deployment changed: {:?}", deployment.spec);

    // Back to scheduled backups: the Deployment and its ConfigMap go.
    let patch = serde_json::json!({"spec": {"backup": {"mode": "incremental", "commitInterval": null}}});
    backups.patch("tail", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await?;
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(cluster.client.clone(), &ns);
    wait_until(Duration::from_secs(60), "the Deployment and ConfigMap deleted", || async {
        let gone = deployments.get_opt("tail-continuous").await?.is_none()
            && config_maps.get_opt("tail-continuous").await?.is_none();
        Ok(gone.then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    eprintln!(
        "operator continuous: {} restore points, {} records per partition, {:.0} s",
        all.len(),
        produced[0].len(),
        started.elapsed().as_secs_f64()
    );
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_topic_declared_while_a_continuous_backup_runs_reaches_a_later_restore_point()
-> anyhow::Result<()> {
    let _port = metrics_port().await?;
    let started = Instant::now();
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    strimzi_backup_e2e::operator::install_kafka_topic_crd(&cluster).await?;
    let ns = namespace_with_kafka(&cluster, "opcsr").await?;
    let store = minio(env)?;
    let s = unique_suffix();
    let topic = format!("ocs{s}");
    create_topic(env, &topic, 1, &[]).await?;
    let declare = |name: String| {
        format!(
            "apiVersion: kafka.strimzi.io/v1\nkind: KafkaTopic\nmetadata: {{name: {name}, labels: {{strimzi.io/cluster: my-cluster}}}}\nspec: {{partitions: 1, replicas: 1}}\n"
        )
    };
    cluster.apply_yaml(&ns, &declare(format!("{topic}-a"))).await?;
    let prefix = format!("e2e-opcontinuous-sr-{s}/");
    let operator = Operator::start(env, &ns)?;
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(cluster.client.clone(), &ns);
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: tail}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  backup: {{mode: continuous, commitInterval: 10s, strimziResources: true, clusterMetadata: false}}\n  retention: {{maxAge: 1d}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    // What its restore points store: the KafkaTopics declared when the pod read its file.
    let newest_topics = || async {
        let all = points(&store, &prefix).await?;
        let Some(newest) = all.last() else { return Ok(None) };
        anyhow::Ok(stored_topics(&store, &prefix, &newest.id).await?.map(|t| (newest.id.clone(), t)))
    };
    let (first, topics) =
        wait_until(Duration::from_secs(90), "a restore point with Strimzi resources", newest_topics)
            .await
            .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(topics, [format!("{topic}-a")], "{first}");
    let pod = running_pods(&pods, "tail-continuous").await?.into_iter().next();
    let pod_name = pod.map(|p| p.name_any()).ok_or_else(|| anyhow::anyhow!("no running pod"))?;
    let held = |cm: &k8s_openapi::api::core::v1::ConfigMap| {
        cm.annotations().get("kafkabackup.com/strimzi-resources-sha256").cloned()
    };
    let before = held(&config_maps.get("tail-continuous-strimzi").await?);
    anyhow::ensure!(before.is_some(), "the ConfigMap names what it holds");

    // A KafkaTopic declared while the pod runs: its ConfigMap is refreshed, the pod is not rolled.
    cluster.apply_yaml(&ns, &declare(format!("{topic}-b"))).await?;
    wait_until(Duration::from_secs(60), "the Strimzi resources ConfigMap refreshed", || async {
        Ok((held(&config_maps.get("tail-continuous-strimzi").await?) != before).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let deployment = deployments.get("tail-continuous").await?;
    assert_eq!(deployment.metadata.generation, Some(1), "a KafkaTopic rolled the Deployment");
    let running = running_pods(&pods, "tail-continuous").await?;
    assert_eq!(
        running.iter().map(|p| p.name_any()).collect::<Vec<_>>(),
        std::slice::from_ref(&pod_name),
        "the same pod"
    );
    // The kubelet (here the pod harness) updates the mounted file in place, and a later
    // iteration of the same process stores it: no restart, no new pod.
    let (later, topics) =
        wait_until(Duration::from_secs(120), "a restore point with the new KafkaTopic", || async {
            Ok(newest_topics().await?.filter(|(_, t)| t.len() == 2))
        })
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(topics, [format!("{topic}-a"), format!("{topic}-b")], "{later}");
    let running = running_pods(&pods, "tail-continuous").await?;
    assert_eq!(
        running.iter().map(|p| p.name_any()).collect::<Vec<_>>(),
        std::slice::from_ref(&pod_name),
        "the same pod"
    );
    let restarts: i32 = running
        .iter()
        .flat_map(|p| p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()))
        .map(|c| c.restart_count)
        .sum();
    assert_eq!(restarts, 0, "the process read the new file without a restart");
    assert_linear(&points(&store, &prefix).await?);
    eprintln!(
        "operator continuous Strimzi resources: {later} holds both, {:.0} s",
        started.elapsed().as_secs_f64()
    );
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
