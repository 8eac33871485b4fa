//! `backup.mode: continuous` (issue 18 §4): instead of a Job per run, a `KafkaBackup` gets one
//! Deployment it owns whose pod runs `backup` in its continuous loop (`crate::backup::continuous`),
//! committing a restore point every `commitInterval`. One replica and the `Recreate` strategy,
//! so a rollout stops the old pod before starting the new one (the storage fence,
//! `crate::backup::fence`, decides any race that remains).
//!
//! The pod is the backup Job's pod ([`job::pod_template`]) with `restartPolicy: Always`, the
//! `KafkaBackup`'s name in its environment (the labels of its metrics) and the metrics port. Its
//! ConfigMap and the Deployment are written by server-side apply, so a spec change reaches them;
//! the config holds nothing that changes between reconciles (no backup id of its own — every
//! iteration takes a fresh one —, no list of known restore points), and the pod template carries
//! the config's hash, so the pod is replaced exactly when its config changes, never at every
//! reconcile.
//!
//! `Ready` follows the Deployment: `ContinuousBackupRunning` while it has an available pod (its
//! readiness probe: the process committed a restore point), `ContinuousBackupNotRunning`
//! otherwise. Each reconcile reads the end of the pod's log for the result lines of the commits
//! since the last one recorded and records them as finished runs: `lastBackup`, `backupHistory`,
//! the inventory, the `KafkaRestorePoint`s and their window ([`super::continuous_status`]).
//! docs/continuous-backup.md.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{ConfigMap, ContainerPort, EnvVar, HTTPGetAction, Pod, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use sha2::Digest;
use tracing::info;

use super::continuous_status::{self, LOG_TAIL_LINES, SHORT_TAIL_LINES};
use super::plan::Outcome;
use super::run_config::{self, Run};
use super::strimzi_resources;
use crate::api::backup::{BackupMode, KafkaBackup, KafkaBackupStatus};
use crate::api::backup_reason::BackupReason;
use crate::api::condition::ReadyReason;
use crate::operator::children;
use crate::operator::connection::JobConnection;
use crate::operator::context::Context;
use crate::operator::error::{Error, Result};
use crate::operator::job::{self, JobRequest};
use crate::operator::launch;
use crate::operator::location::sync_job;
use crate::operator::metrics::SourceLabels;
use crate::operator::restore_points;
use crate::operator::status;
use crate::operator::storage_access::StorageAccess;

/// The `app.kubernetes.io/component` of the Deployment, its pod and its ConfigMap.
pub const COMPONENT: &str = "continuous-backup";
/// The container port the continuous process serves `/metrics` and `/readyz` on
/// (`crate::backup::continuous::METRICS_ADDRESS`).
pub const METRICS_PORT: i32 = 9091;
/// On the pod template: the hash of the config, so a changed config replaces the pod.
pub const CONFIG_HASH_ANNOTATION: &str = "kafkabackup.com/config-hash";
/// The field manager of the operator's server-side applies.
const MANAGER: &str = "strimzi-backup-operator";
/// How soon to look again while the pod is not available (nothing else wakes the reconcile:
/// Deployments are not watched).
const STARTING_RETRY: Duration = Duration::from_secs(10);
/// How soon to look again while it runs, at the latest: to notice a pod that stopped being
/// available. Sooner with a shorter `commitInterval`: each look records the commits since the
/// last.
const RUNNING_RETRY: Duration = Duration::from_secs(60);

/// Whether `kb` runs as a continuous backup.
pub fn wanted(kb: &KafkaBackup) -> bool {
    kb.spec.backup.mode == BackupMode::Continuous
}

/// The name of `kb`'s Deployment and of its ConfigMap.
pub fn name(kb: &KafkaBackup) -> String {
    job::child_name(&kb.name_any(), "continuous")
}

/// Whether the status says `kb` ran as a continuous backup: what is left of it is deleted when
/// the mode changes back.
pub fn was_running(status: Option<&KafkaBackupStatus>) -> bool {
    status.into_iter().flat_map(|s| &s.conditions).any(|c| {
        c.type_ == "Ready"
            && [BackupReason::ContinuousBackupRunning, BackupReason::ContinuousBackupNotRunning]
                .iter()
                .any(|r| c.reason.as_deref() == Some(r.as_str()))
    })
}

/// Applies `kb`'s continuous backup (a spec the rules and the licence accept, with the cluster
/// connection resolved or not) and writes its status.
pub async fn apply(
    ctx: &Context,
    kb: &KafkaBackup,
    connection: std::result::Result<JobConnection, crate::operator::connection::ConnectionError>,
    now: DateTime<Utc>,
) -> Result<Action> {
    let at = crate::time::kube(now).unwrap_or(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
    ));
    let mut st = kb.status.clone().unwrap_or_default();
    st.observed_generation = kb.metadata.generation;
    // A continuous backup runs no Job but, now and then, the sync that fills a gap.
    let syncing = st.active_job.as_deref() == Some(sync_name(kb).as_str());
    (st.next_scheduled_backup, st.active_job) = (None, syncing.then(|| sync_name(kb)));
    let then = match connection {
        Err(e) => {
            // The pod that runs keeps running (it retries on its own); no new one is applied.
            status::set_ready(&mut st.conditions, BackupReason::Reference(e.typed()), e.to_string(), &at);
            Action::requeue(super::plan::CLUSTER_RETRY)
        }
        Ok(connection) => {
            let deployment = apply_deployment(ctx, kb, connection).await?;
            let gap = commits(ctx, kb, &mut st, &at, now).await?;
            fill_gap(ctx, kb, &mut st, &gap).await?;
            let available = deployment.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0);
            let dep = name(kb);
            let interval = kb
                .spec
                .backup
                .commit_interval
                .as_deref()
                .unwrap_or(crate::api::backup::DEFAULT_COMMIT_INTERVAL);
            if available > 0 {
                let message = continuous_status::running_message(&dep, interval, st.last_backup.as_ref());
                status::set_ready(&mut st.conditions, BackupReason::ContinuousBackupRunning, message, &at);
                let every = crate::backup::continuous::interval(Some(interval)).unwrap_or(RUNNING_RETRY);
                Action::requeue(every.min(RUNNING_RETRY))
            } else {
                let message = format!(
                    "Deployment {dep} has no available pod: starting or rolling out a changed spec, no restore point committed yet (its /readyz), or its pod cannot start (see its pods' events and log)"
                );
                status::set_ready(&mut st.conditions, BackupReason::ContinuousBackupNotRunning, message, &at);
                Action::requeue(STARTING_RETRY)
            }
        }
    };
    status::write(&ctx.client, kb, &kb.status, &st).await?;
    Ok(then)
}

/// Records in `st` the commits the Deployment's pod printed since the last one recorded (the
/// result lines at the end of its log), mirrors the restore points they report and exports the
/// runs' metrics as for finished Jobs. Returns the restore points the location holds that neither
/// a `KafkaRestorePoint` nor a line read describes ([`continuous_status::gap`]).
async fn commits(
    ctx: &Context,
    kb: &KafkaBackup,
    st: &mut KafkaBackupStatus,
    at: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let ns = kb.namespace().unwrap_or_default();
    let selector =
        format!("app.kubernetes.io/instance={},app.kubernetes.io/component={COMPONENT}", kb.name_any());
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::read("the continuous backup's pods"))?;
    let Some(pod) = newest_pod(pods.items, &name(kb)) else { return Ok(Vec::new()) };
    let pod_name = pod.name_any();
    let read =
        |lines: i64, previous: bool| children::pod_log(&ctx.client, &ns, &pod_name, Some(lines), previous);
    // The end first; a longer tail only when the end does not reach back to a recorded commit.
    let Some(mut log) = read(SHORT_TAIL_LINES, false).await else { return Ok(Vec::new()) };
    if !continuous_status::reaches_recorded(&log, st)
        && let Some(longer) = read(LOG_TAIL_LINES, false).await
    {
        log = longer;
    }
    // A container restarted since the last commit recorded: its previous instance may have
    // printed commits after the last look (their lines are not in the new instance's log).
    if restarted_since_recorded(&pod, st)
        && let Some(previous) = read(LOG_TAIL_LINES, true).await
    {
        log = format!("{previous}\n{log}");
    }
    let results = continuous_status::new_results(&log, st);
    if results.is_empty() {
        return Ok(Vec::new());
    }
    continuous_status::record(st, &results, at);
    let outcomes: Vec<Outcome> = results.iter().map(|r| Outcome::Completed(Box::new(r.clone()))).collect();
    super::metrics::runs(&ctx.metrics, kb, &outcomes, now);
    let Some(sync) = continuous_status::restore_points(&results) else { return Ok(Vec::new()) };
    let existing = restore_points::list(&ctx.client, kb).await?;
    let gap = continuous_status::gap(&sync, &restore_points::known(&existing));
    let mirrored = restore_points::mirror(&ctx.client, kb, existing, &sync).await?;
    st.recoverability = crate::restore_points::recoverability(&mirrored.points);
    ctx.metrics.recoverability(&SourceLabels::of(kb), &st.recoverability, Some(mirrored.points.len()));
    if mirrored.created + mirrored.deleted > 0 {
        info!(backup = %kb.name_any(), created = mirrored.created, deleted = mirrored.deleted,
            points = mirrored.points.len(), "restore points synced from the continuous backup's commits");
    }
    Ok(gap)
}

/// The sync Job that fills a gap in what the result lines described.
pub fn sync_name(kb: &KafkaBackup) -> String {
    job::child_name(&kb.name_any(), "continuous-sync")
}

/// Fills a [`continuous_status::gap`]: restore points at the location no `KafkaRestorePoint` holds
/// and no result line read describes (the operator was away while the pod's log rotated, a line
/// was lost) get theirs from a sync Job listing the location, as a `KafkaBackupLocation`'s does
/// (`crate::operator::location::sync_job`). One at a time, named in `status.activeJob` while it
/// runs; it creates restore points and never deletes one (the lines say what was pruned, and may
/// have added points after its listing). A gap seen while it runs is looked at again with the
/// lines after it.
async fn fill_gap(ctx: &Context, kb: &KafkaBackup, st: &mut KafkaBackupStatus, gap: &[String]) -> Result<()> {
    let ns = kb.namespace().unwrap_or_default();
    let job = sync_name(kb);
    if st.active_job.is_some() {
        let jobs = children::owned_jobs(&ctx.client, kb, sync_job::COMPONENT).await?;
        match jobs.iter().find(|j| j.name_any() == job).map(children::state) {
            Some(children::JobState::Running) => return Ok(()),
            None => st.active_job = None,
            Some(state) => {
                match sync_job::record(ctx, kb, &job, &state, false).await? {
                    sync_job::Synced::Mirrored { result, mirrored } => {
                        info!(backup = %kb.name_any(), created = mirrored.created, location = %result.location,
                            "restore points the result lines did not describe, filled from a listing of the location");
                        let points = restore_points::list(&ctx.client, kb).await?;
                        let specs: Vec<_> = points.into_iter().map(|p| p.spec).collect();
                        st.recoverability = crate::restore_points::recoverability(&specs);
                        ctx.metrics.recoverability(
                            &SourceLabels::of(kb),
                            &st.recoverability,
                            Some(specs.len()),
                        );
                    }
                    sync_job::Synced::Shortened => {
                        tracing::warn!(backup = %kb.name_any(), job = %job, "the sync Job left only a summary; a later gap starts another");
                    }
                    sync_job::Synced::Failed(why) => {
                        tracing::warn!(backup = %kb.name_any(), job = %job, error = %why, "the sync Job failed; a later gap starts another");
                    }
                }
                children::delete_run(&ctx.client, &ns, &job).await?;
                st.active_job = None;
                return Ok(());
            }
        }
    }
    if gap.is_empty() {
        return Ok(());
    }
    tracing::warn!(backup = %kb.name_any(), missing = ?gap, job = %job,
        "restore points at the location that no result line read describes: listing the location");
    let sync = sync_job::SyncJob {
        name: &job,
        storage: &run_config::storage(kb),
        read_only: true,
        options: &kb.spec.job_options,
        annotations: BTreeMap::new(),
    };
    sync_job::start(ctx, kb, sync).await?;
    st.active_job = Some(job);
    Ok(())
}

/// Whether `pod`'s container was restarted after the newest commit `st` records (or before any
/// was recorded): then its previous instance's log may hold commits not yet recorded. Once a
/// commit of the new instance is recorded, its previous log is not read again.
pub fn restarted_since_recorded(pod: &Pod, st: &KafkaBackupStatus) -> bool {
    let Some(c) = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first())
    else {
        return false;
    };
    if c.restart_count == 0 {
        return false;
    }
    let started =
        c.state.as_ref().and_then(|s| s.running.as_ref()).and_then(|r| r.started_at.as_ref()).map(|t| t.0);
    let recorded = st.last_backup.as_ref().and_then(|b| b.completion_time.as_ref()).map(|t| t.0);
    match (started, recorded) {
        (Some(started), Some(recorded)) => started > recorded,
        _ => true,
    }
}

/// The pod whose log holds the newest commits: the newest of the pods a ReplicaSet of
/// `deployment` controls (`<deployment>-<pod-template-hash>`). Anyone who could plant another pod
/// with these labels could as well mount the location's Secrets and write there: a pod's lines
/// are trusted as far as the namespace's pod creators are.
pub fn newest_pod(pods: Vec<Pod>, deployment: &str) -> Option<Pod> {
    pods.into_iter()
        .filter(|p| {
            let hash = p.labels().get("pod-template-hash");
            p.owner_references().iter().any(|o| {
                o.kind == "ReplicaSet"
                    && o.controller == Some(true)
                    && hash.is_some_and(|h| o.name == format!("{deployment}-{h}"))
            })
        })
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Renders the config, applies the ConfigMap and the Deployment; returns the Deployment as the
/// API server has it.
async fn apply_deployment(ctx: &Context, kb: &KafkaBackup, connection: JobConnection) -> Result<Deployment> {
    let ns = kb.namespace().unwrap_or_default();
    let name = name(kb);
    let owner = kb
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Render(format!("{} has no uid yet", kb.name_any())))?;
    let storage = run_config::storage(kb);
    let mut access = StorageAccess::for_storage(&storage);
    let key_file = run_config::encryption_key(kb).map(|k| access.with_encryption_key(k).into());
    let kms = crate::operator::kms_access::for_backup(kb, &mut access);
    let schema_registry = run_config::schema_registry(&kb.spec, &mut access);
    // `backup.strimziResources`: a ConfigMap of their own, mounted as a directory the kubelet
    // refreshes; the config names the file only, so a changed KafkaTopic never rolls the pod.
    let strimzi = match strimzi_resources::read(ctx, kb).await? {
        Some(Ok(packed)) => {
            strimzi_resources::mount(&mut access, &name);
            Some(packed)
        }
        Some(Err(too_large)) => return Err(Error::Render(too_large)),
        None => None,
    };
    let config = run_config::render(
        &kb.spec,
        storage,
        connection.kafka.clone(),
        &Run {
            // Each iteration takes a fresh id (crate::backup::continuous); this one is never used.
            backup_id: name.clone(),
            // Retention applies after every commit, as for scheduled runs.
            scheduled: true,
            protected: Vec::new(),
            encryption_key_file: key_file,
            kms,
            owner: Some(run_config::owner(kb)),
            take_over: run_config::takes_over(kb),
            known_restore_points: None,
            strimzi_resources: strimzi.as_ref().map(|_| strimzi_resources::continuous_input()),
            schema_registry,
        },
    );
    let yaml = run_config::to_yaml(&config).map_err(|e| Error::Render(e.to_string()))?;
    let labels = launch::labels(kb, COMPONENT, &kb.spec.cluster);
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(job::CONFIG_FILE.to_string(), yaml.clone())])),
        ..Default::default()
    };
    let params = PatchParams::apply(MANAGER).force();
    Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns)
        .patch(&name, &params, &Patch::Apply(&config_map))
        .await
        .map_err(Error::write(format!("ConfigMap {name}")))?;
    if let Some(packed) = &strimzi {
        let cm = strimzi_resources::config_map_name(&name);
        if strimzi_resources::refresh(ctx, kb, &cm, &labels, packed).await? {
            info!(backup = %kb.name_any(), config_map = %cm, kafka_topics = packed.kafka_topics,
                kafka_users = packed.kafka_users, "Strimzi resources handed to the continuous backup");
        }
    }
    let request = JobRequest {
        name: name.clone(),
        namespace: ns.clone(),
        owner,
        labels,
        image: ctx.settings.image.clone(),
        subcommand: "backup".into(),
        config_map: name.clone(),
        connection,
        env: launch::proxy_env(&ctx.settings).into_iter().chain(access.env).collect(),
        volumes: access.volumes,
        mounts: access.mounts,
        options: kb.spec.job_options.clone(),
        workers: 1,
    };
    let built = deployment(&request, &kb.namespace().unwrap_or_default(), &kb.name_any(), &yaml);
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let applied = api
        .patch(&name, &params, &Patch::Apply(&built))
        .await
        .map_err(Error::write(format!("Deployment {name}")))?;
    if applied.metadata.generation != applied.status.as_ref().and_then(|s| s.observed_generation) {
        info!(backup = %kb.name_any(), deployment = %name, "continuous backup Deployment applied");
    }
    if strimzi.is_none() {
        // `strimziResources` turned off: the pod template no longer mounts the ConfigMap (the
        // Deployment above), so what it held goes too instead of lingering until the mode changes.
        let cm = strimzi_resources::config_map_name(&name);
        let api = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns);
        if api.get_opt(&cm).await.map_err(Error::read(format!("ConfigMap {cm}")))?.is_some() {
            match api.delete(&cm, &DeleteParams::default()).await {
                Ok(_) => {
                    info!(backup = %kb.name_any(), config_map = %cm, "strimziResources is off: its ConfigMap deleted")
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(Error::write(format!("ConfigMap {cm}"))(e)),
            }
        }
    }
    Ok(applied)
}

/// The Deployment of a continuous backup: one replica, `Recreate`, the backup Job's pod with
/// `restartPolicy: Always`, the `KafkaBackup`'s name in its environment, the metrics port, a
/// readiness probe on `/readyz` (ready once a restore point is committed), and the hash of
/// `config_yaml` on the pod template. Pure.
pub fn deployment(req: &JobRequest, kb_namespace: &str, kb_name: &str, config_yaml: &str) -> Deployment {
    let mut pod = job::pod_template(req);
    let hash = hex::encode(&sha2::Sha256::digest(config_yaml.as_bytes())[..8]);
    let meta = pod.metadata.get_or_insert_with(ObjectMeta::default);
    meta.annotations.get_or_insert_with(BTreeMap::new).insert(CONFIG_HASH_ANNOTATION.into(), hash);
    if let Some(spec) = pod.spec.as_mut() {
        spec.restart_policy = Some("Always".into());
        for c in &mut spec.containers {
            let env = c.env.get_or_insert_with(Vec::new);
            for (key, value) in [
                ("STRIMZI_BACKUP_KAFKABACKUP_NAMESPACE", kb_namespace),
                ("STRIMZI_BACKUP_KAFKABACKUP_NAME", kb_name),
            ] {
                env.push(EnvVar { name: key.into(), value: Some(value.into()), ..Default::default() });
            }
            c.ports = Some(vec![ContainerPort {
                name: Some("metrics".into()),
                container_port: METRICS_PORT,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]);
            // Ready once the process committed a restore point (`/readyz`), so an available
            // replica, and with it `Ready` on the KafkaBackup, means backups are being committed.
            c.readiness_probe = Some(Probe {
                http_get: Some(HTTPGetAction {
                    path: Some("/readyz".into()),
                    port: IntOrString::String("metrics".into()),
                    ..Default::default()
                }),
                period_seconds: Some(5),
                ..Default::default()
            });
        }
    }
    // The selector cannot change: the labels that name the resource and the component only.
    let selector: BTreeMap<String, String> = req
        .labels
        .iter()
        .filter(|(k, _)| *k == "app.kubernetes.io/instance" || *k == "app.kubernetes.io/component")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Deployment {
        metadata: ObjectMeta {
            name: Some(req.name.clone()),
            namespace: Some(req.namespace.clone()),
            labels: Some(req.labels.clone()),
            owner_references: Some(vec![req.owner.clone()]),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector { match_labels: Some(selector), ..Default::default() },
            strategy: Some(DeploymentStrategy { type_: Some("Recreate".into()), ..Default::default() }),
            template: pod,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Deletes what a continuous backup left (its Deployment, then its ConfigMaps) when `kb` no
/// longer runs as one. Gone already is fine.
pub async fn remove(ctx: &Context, kb: &KafkaBackup) -> Result<()> {
    let ns = kb.namespace().unwrap_or_default();
    let name = name(kb);
    let params =
        DeleteParams { propagation_policy: Some(PropagationPolicy::Foreground), ..Default::default() };
    let gone = |e: &kube::Error| matches!(e, kube::Error::Api(e) if e.code == 404);
    match Api::<Deployment>::namespaced(ctx.client.clone(), &ns).delete(&name, &params).await {
        Ok(_) => info!(backup = %kb.name_any(), deployment = %name, "continuous backup Deployment deleted"),
        Err(e) if gone(&e) => {}
        Err(e) => return Err(Error::write(format!("Deployment {name}"))(e)),
    }
    for cm in [name.clone(), strimzi_resources::config_map_name(&name)] {
        match Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns)
            .delete(&cm, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if gone(&e) => {}
            Err(e) => return Err(Error::write(format!("ConfigMap {cm}"))(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> JobRequest {
        JobRequest {
            name: "orders-continuous".into(),
            namespace: "kafka".into(),
            labels: job::labels(COMPONENT, "orders", Some("my-cluster")),
            image: "quay.io/example/strimzi-backup-operator:0.1.0".into(),
            subcommand: "backup".into(),
            config_map: "orders-continuous".into(),
            workers: 1,
            ..Default::default()
        }
    }

    #[test]
    fn the_deployment_runs_the_backup_jobs_pod_for_ever_in_one_replica_rolled_by_its_config() {
        let req = request();
        let d = deployment(&req, "kafka", "orders", "backup: {mode: continuous}\n");
        let spec = d.spec.clone().expect("spec");
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.strategy.and_then(|s| s.type_).as_deref(), Some("Recreate"));
        let pod = spec.template.spec.clone().expect("pod spec");
        assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
        // Everything else is the Job's pod.
        let mut back = spec.template.clone();
        let job_pod = job::pod_template(&req);
        if let Some(p) = back.spec.as_mut() {
            p.restart_policy = Some("Never".into());
            p.containers[0].ports = None;
            p.containers[0].readiness_probe = None;
            if let Some(env) = p.containers[0].env.as_mut() {
                env.retain(|e| !e.name.starts_with("STRIMZI_BACKUP_KAFKABACKUP_"));
            }
            if p.containers[0].env.as_ref().is_some_and(Vec::is_empty) {
                p.containers[0].env = None;
            }
        }
        if let Some(m) = back.metadata.as_mut() {
            m.annotations = None;
        }
        assert_eq!(back, job_pod);
        let c = &pod.containers[0];
        let env: Vec<_> = c.env.iter().flatten().map(|e| (e.name.as_str(), e.value.as_deref())).collect();
        assert!(env.contains(&("STRIMZI_BACKUP_KAFKABACKUP_NAME", Some("orders"))), "{env:?}");
        assert!(env.contains(&("STRIMZI_BACKUP_KAFKABACKUP_NAMESPACE", Some("kafka"))), "{env:?}");
        let port = &c.ports.clone().unwrap_or_default()[0];
        assert_eq!((port.name.as_deref(), port.container_port), (Some("metrics"), 9091));
        let probe = c.readiness_probe.clone().and_then(|p| p.http_get).expect("readiness probe");
        assert_eq!(
            (probe.path.as_deref(), probe.port),
            (Some("/readyz"), IntOrString::String("metrics".into()))
        );
        // The selector matches the pod.
        let selector = spec.selector.match_labels.clone().unwrap_or_default();
        let labels = spec.template.metadata.clone().and_then(|m| m.labels).unwrap_or_default();
        assert!(!selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v)));
        // The same config, the same pod; another config, another pod.
        assert_eq!(d, deployment(&req, "kafka", "orders", "backup: {mode: continuous}\n"));
        let hash = |d: &Deployment| {
            d.spec.clone().and_then(|s| s.template.metadata).and_then(|m| m.annotations).unwrap_or_default()
                [CONFIG_HASH_ANNOTATION]
                .clone()
        };
        assert_ne!(
            hash(&d),
            hash(&deployment(&req, "kafka", "orders", "backup: {mode: continuous, commitInterval: 20s}\n"))
        );
    }
}
