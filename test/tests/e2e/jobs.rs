//! Jobs run for real: the real job controller (kube-controller-manager) creates pods, the test
//! harness runs their command as a local process, and the Job completes or fails from the pod
//! status the harness reports.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod, Secret};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use strimzi_backup_e2e::fixtures::{Cluster, wait_until};
use strimzi_backup_e2e::kubelet::LOG_DIR_ANNOTATION;

/// The operator image as the operator will reference it; the harness runs our built binary for it.
const IMAGE: &str = "quay.io/strimzi-backup/strimzi-backup-operator:dev";

fn job(name: &str, command: serde_json::Value, extra_container: serde_json::Value) -> anyhow::Result<Job> {
    let mut container = json!({"name": "main", "image": IMAGE, "command": command, "securityContext": {
        // What Pod Security `restricted` (the test namespaces enforce it) asks of a container.
        "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"},
    }});
    if let (Some(c), Some(extra)) = (container.as_object_mut(), extra_container.as_object()) {
        c.extend(extra.clone());
    }
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}
        }
    }))?)
}

/// Waits for the Job's Complete or Failed condition and returns (type, reason).
async fn finished(jobs: &Api<Job>, name: &str) -> anyhow::Result<(String, String)> {
    wait_until(Duration::from_secs(60), &format!("job {name} to finish"), || async {
        let job = jobs.get(name).await?;
        let done = job
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True");
        Ok(done.map(|c| (c.type_, c.reason.unwrap_or_default())))
    })
    .await
}

/// The terminated state of the Job's one pod's one container.
async fn terminated(pods: &Api<Pod>, job: &str) -> anyhow::Result<ContainerStateTerminated> {
    let lp = ListParams::default().labels(&format!("job-name={job}"));
    let pod =
        pods.list(&lp).await?.items.into_iter().next().ok_or_else(|| anyhow::anyhow!("no pod of {job}"))?;
    pod.status
        .and_then(|s| s.container_statuses)
        .and_then(|c| c.into_iter().next())
        .and_then(|c| c.state)
        .and_then(|s| s.terminated)
        .ok_or_else(|| anyhow::anyhow!("pod of {job} has no terminated container"))
}

#[tokio::test]
async fn a_job_running_our_binary_completes() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("job-ok").await?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &job("version", json!(["/usr/local/bin/strimzi-backup-operator", "--version"]), json!({}))?,
    )
    .await?;
    assert_eq!(finished(&jobs, "version").await?.0, "Complete");
    let state = terminated(&pods, "version").await?;
    assert_eq!(state.exit_code, 0);
    assert_eq!(state.reason.as_deref(), Some("Completed"));
    // It was our binary that ran: its output is in the pod's log.
    let pod = pods.list(&ListParams::default().labels("job-name=version")).await?.items.remove(0);
    let log_dir = pod.metadata.annotations.unwrap_or_default().remove(LOG_DIR_ANNOTATION).unwrap_or_default();
    let log = std::fs::read_to_string(std::path::Path::new(&log_dir).join("main.log"))?;
    assert_eq!(log.trim(), format!("strimzi-backup-operator {}", env!("CARGO_PKG_VERSION")));
    let status = jobs.get("version").await?.status.unwrap_or_default();
    assert_eq!(status.succeeded, Some(1));
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test]
async fn a_job_whose_pod_exits_1_fails_with_its_termination_message() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("job-fail").await?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let script = "echo 'storage unreachable: bucket e2e' > /dev/termination-log; exit 1";
    jobs.create(&PostParams::default(), &job("fails", json!(["sh", "-c", script]), json!({}))?).await?;
    let (condition, reason) = finished(&jobs, "fails").await?;
    assert_eq!((condition.as_str(), reason.as_str()), ("Failed", "BackoffLimitExceeded"));
    let state = terminated(&pods, "fails").await?;
    assert_eq!(state.exit_code, 1);
    assert_eq!(state.reason.as_deref(), Some("Error"));
    assert_eq!(state.message.as_deref().map(str::trim), Some("storage unreachable: bucket e2e"));
    assert_eq!(jobs.get("fails").await?.status.unwrap_or_default().failed, Some(1));
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// Secrets reach the process the way the operator's Jobs will pass credentials: by reference,
/// as env `valueFrom` and as a mounted volume, never in the arguments.
#[tokio::test]
async fn pods_get_secrets_as_env_and_files() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("job-secret").await?;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "creds"},
        "stringData": {"AWS_ACCESS_KEY_ID": "id-from-env", "ca.crt": "pem-from-file"}
    }))?;
    Api::<Secret>::namespaced(cluster.client.clone(), &ns).create(&PostParams::default(), &secret).await?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let mut spec = job(
        "secrets",
        json!([
            "sh",
            "-c",
            "printf '%s %s %s' \"$AWS_ACCESS_KEY_ID\" \"$(cat /etc/strimzi-backup/tls/ca.crt)\" \"$POD\" > /dev/termination-log"
        ]),
        json!({
            "env": [
                {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "AWS_ACCESS_KEY_ID"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
            ],
            "volumeMounts": [{"name": "tls", "mountPath": "/etc/strimzi-backup/tls", "readOnly": true}]
        }),
    )?;
    if let Some(pod_spec) = spec.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
        pod_spec.volumes = Some(vec![serde_json::from_value(
            json!({"name": "tls", "secret": {"secretName": "creds", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}),
        )?]);
    }
    jobs.create(&PostParams::default(), &spec).await?;
    assert_eq!(finished(&jobs, "secrets").await?.0, "Complete");
    let state = terminated(&pods, "secrets").await?;
    assert_eq!(state.message.as_deref(), Some(format!("id-from-env pem-from-file {ns}").as_str()));
    // The harness must not have leaked the mount onto the host.
    assert!(!std::path::Path::new("/etc/strimzi-backup/tls/ca.crt").exists());
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
