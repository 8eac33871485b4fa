//! The pod harness runs pods the way a kubelet would (`strimzi_backup_e2e::kubelet`): as the
//! pod's non-root user with its volumes usable by that user, under its memory limit, and probed.
//! Each test reads what the process itself saw (`id`, files, `/proc/self/status`) or what the
//! host saw (file owners, ports), not only what the harness reports.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Namespace, Pod, Secret};
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::{Value, json};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::kubelet::LOG_DIR_ANNOTATION;

/// Our image: the harness knows it runs as 1001:0 (the Dockerfile's `USER 1001`).
const IMAGE: &str = "quay.io/strimzi-backup/strimzi-backup-operator:dev";

/// What Pod Security `restricted` asks of a container, plus `extra`.
fn restricted(extra: Value) -> Value {
    let mut sc = json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": true,
        "seccompProfile": {"type": "RuntimeDefault"},
    });
    if let (Some(sc), Some(extra)) = (sc.as_object_mut(), extra.as_object()) {
        sc.extend(extra.clone());
    }
    sc
}

/// A one-container pod running `sh -c script`; `spec` and `container` are merged in.
fn pod(name: &str, script: &str, spec: Value, container: Value) -> anyhow::Result<Pod> {
    let mut c = json!({
        "name": "main", "image": IMAGE, "command": ["sh", "-c", script],
        "securityContext": restricted(json!({})),
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), container.as_object()) {
        c.extend(extra.clone());
    }
    let mut s = json!({"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [c]});
    if let (Some(s), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
        s.extend(extra.clone());
    }
    Ok(serde_json::from_value(json!({"metadata": {"name": name}, "spec": s}))?)
}

/// Waits until the pod is in `phase` (or a terminal phase that is not it: an error).
async fn wait_phase(pods: &Api<Pod>, name: &str, phase: &str) -> anyhow::Result<Pod> {
    wait_until(Duration::from_secs(90), &format!("pod {name} {phase}"), || async {
        let pod = pods.get(name).await?;
        let now = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        anyhow::ensure!(
            now == phase || !(now == "Failed" || now == "Succeeded"),
            "pod {name} is {now}, not {phase}: {:?}",
            pod.status
        );
        Ok((now == phase).then_some(pod))
    })
    .await
}

/// The main container's status as JSON (empty object when there is none yet).
fn main_status(pod: &Pod) -> Value {
    let cs = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first());
    cs.and_then(|c| serde_json::to_value(c).ok()).unwrap_or(json!({}))
}

fn condition(pod: &Pod, type_: &str) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

/// A namespace without Pod Security enforcement, for pods that break the `restricted` rules on
/// purpose (the fixtures' namespaces enforce them).
async fn privileged_namespace(cluster: &Cluster, prefix: &str) -> anyhow::Result<String> {
    let name = format!("e2e-{prefix}-{}", unique_suffix());
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "app.kubernetes.io/part-of": "strimzi-backup-e2e",
            "pod-security.kubernetes.io/enforce": "privileged",
        }}
    }))?;
    Api::<Namespace>::all(cluster.client.clone()).create(&PostParams::default(), &ns).await?;
    Ok(name)
}

/// The events of pod `name` as `reason: message` lines.
async fn events_of(cluster: &Cluster, ns: &str, name: &str) -> anyhow::Result<Vec<String>> {
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), ns);
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    Ok(events
        .list(&lp)
        .await?
        .items
        .into_iter()
        .map(|e| format!("{}: {}", e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect())
}

#[tokio::test]
async fn runs_as_the_pods_user_with_its_volumes_and_without_root_powers() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("harness-user").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "creds"}, "stringData": {"key": "s3cret"}
    }))?;
    Api::<Secret>::namespaced(cluster.client.clone(), &ns).create(&PostParams::default(), &secret).await?;
    // A root-owned file on the host, which the pod sees (no mount hides /tmp) but must not write.
    let root_file = std::env::temp_dir().join(format!("pod-harness-e2e-{}", unique_suffix()));
    std::fs::write(&root_file, b"root's\n")?;
    let script = format!(
        r#"id -u; id -g; id -G
echo written > /data/file && echo emptydir-writable
cat /secret/key; echo
if {{ echo x >> {root}; }} 2>/dev/null; then echo root-file-WRITTEN; else echo root-file-denied; fi
grep -E '^(NoNewPrivs|CapEff|CapPrm)' /proc/self/status"#,
        root = root_file.display()
    );
    let p = pod(
        "user",
        &script,
        // defaultMode 0440: only the owner (root) and the group (fsGroup) may read the secret.
        json!({
            "securityContext": {"runAsUser": 4321, "runAsGroup": 4322, "fsGroup": 4444, "supplementalGroups": [4555]},
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "secret", "secret": {"secretName": "creds", "defaultMode": 0o440}},
            ],
        }),
        json!({"volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "secret", "mountPath": "/secret"},
        ]}),
    )?;
    pods.create(&PostParams::default(), &p).await?;
    let done = wait_phase(&pods, "user", "Succeeded").await;
    let log = pods.logs("user", &LogParams::default()).await.unwrap_or_default();
    let _ = std::fs::remove_file(&root_file);
    done.map_err(|e| e.context(format!("log:\n{log}")))?;
    let expected = "4321\n4322\n4322 4444 4555\nemptydir-writable\ns3cret\nroot-file-denied\n\
                    CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n";
    assert_eq!(log, expected);

    // The host sees the file the process wrote as the pod's user's.
    let pod = pods.get("user").await?;
    let dir = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LOG_DIR_ANNOTATION))
        .cloned()
        .unwrap_or_default();
    let meta = std::fs::metadata(std::path::Path::new(&dir).join("volumes/data/file"))?;
    assert_eq!(
        (meta.uid(), meta.gid()),
        (4321, 4444),
        "owner of the emptyDir file (setgid fsGroup directory)"
    );
    cluster.delete_namespace(&ns).await
}

#[tokio::test]
async fn run_as_non_root_without_a_uid_runs_as_the_images_user_or_the_fallback() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("harness-image-user").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    // The pod says only runAsNonRoot, like the operator's Jobs.
    let ours = pod("ours", "id -u; id -g", json!({"securityContext": {"runAsNonRoot": true}}), json!({}))?;
    let unknown = pod(
        "unknown",
        "id -u; id -g",
        json!({"securityContext": {"runAsNonRoot": true}}),
        json!({"image": "registry.example.com/anything:1"}),
    )?;
    pods.create(&PostParams::default(), &ours).await?;
    pods.create(&PostParams::default(), &unknown).await?;
    wait_phase(&pods, "ours", "Succeeded").await?;
    wait_phase(&pods, "unknown", "Succeeded").await?;
    assert_eq!(pods.logs("ours", &LogParams::default()).await?, "1001\n0\n", "the Dockerfile's USER 1001");
    assert_eq!(pods.logs("unknown", &LogParams::default()).await?, "65532\n65532\n", "the fallback user");
    cluster.delete_namespace(&ns).await
}

#[tokio::test]
async fn root_with_run_as_non_root_is_refused_with_the_kubelets_reason() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = privileged_namespace(&cluster, "harness-root").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let marker = std::env::temp_dir().join(format!("pod-harness-e2e-ran-{}", unique_suffix()));
    let script = format!("touch {}", marker.display());
    let asked_root = pod(
        "asked-root",
        &script,
        json!({}),
        json!({"securityContext": {"runAsUser": 0, "runAsNonRoot": true}}),
    )?;
    let image_root = pod(
        "image-root",
        &script,
        json!({}),
        json!({"image": "busybox:1.36", "securityContext": {"runAsNonRoot": true}}),
    )?;
    pods.create(&PostParams::default(), &asked_root).await?;
    pods.create(&PostParams::default(), &image_root).await?;
    for (name, message) in [
        ("asked-root", "container's runAsUser breaks non-root policy"),
        ("image-root", "container has runAsNonRoot and image will run as root"),
    ] {
        let waiting = wait_until(Duration::from_secs(60), &format!("{name} refused"), || async {
            let pod = pods.get(name).await?;
            let w = main_status(&pod)["state"]["waiting"].clone();
            Ok((w["reason"] == "CreateContainerConfigError").then_some((pod, w)))
        })
        .await?;
        let (pod, w) = waiting;
        let text = w["message"].as_str().unwrap_or_default();
        assert!(text.starts_with(message), "{name}: {text}");
        assert!(text.ends_with("container: main)"), "{name}: {text}");
        assert_eq!(pod.status.as_ref().and_then(|s| s.phase.clone()).as_deref(), Some("Pending"));
        assert!(main_status(&pod).get("containerID").is_none(), "{name} never started");
        let events = events_of(&cluster, &ns, name).await?;
        assert!(events.iter().any(|e| e.starts_with("Failed: Error: ") && e.contains(message)), "{events:?}");
    }
    assert!(!marker.exists(), "a refused container ran");
    cluster.delete_namespace(&ns).await
}

#[tokio::test]
async fn a_container_beyond_its_memory_limit_is_oom_killed() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("harness-oom").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let limit = json!({"resources": {"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}}});
    // `tail` keeps the whole line-less input in memory: 300 MiB, or 10 MiB within the limit.
    let hog = pod("hog", "head -c 300m /dev/zero | tail", json!({}), limit.clone())?;
    let modest = pod("modest", "head -c 10m /dev/zero | tail | wc -c", json!({}), limit)?;
    pods.create(&PostParams::default(), &hog).await?;
    pods.create(&PostParams::default(), &modest).await?;

    let failed = wait_phase(&pods, "hog", "Failed").await?;
    let t = main_status(&failed)["state"]["terminated"].clone();
    assert_eq!(t["reason"], "OOMKilled", "{t}");
    assert_eq!(t["exitCode"], 137, "{t}");
    wait_phase(&pods, "modest", "Succeeded").await?;
    assert_eq!(pods.logs("modest", &LogParams::default()).await?.trim(), (10u64 << 20).to_string());
    cluster.delete_namespace(&ns).await
}

/// A port free on 127.0.0.1 now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[tokio::test]
async fn readiness_probe_gates_ready_until_the_port_answers() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("harness-ready").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let port = free_port()?;
    // The server comes up 5 s after the container starts.
    let script = format!("sleep 5; exec /usr/bin/python3 -m http.server {port} --bind 127.0.0.1");
    let p = pod(
        "web",
        &script,
        json!({"restartPolicy": "Always"}),
        json!({"readinessProbe": {"httpGet": {"path": "/", "port": port}, "periodSeconds": 1, "failureThreshold": 1}}),
    )?;
    pods.create(&PostParams::default(), &p).await?;

    // Running and started, but neither the port answers nor is the pod Ready.
    let running = wait_phase(&pods, "web", "Running").await?;
    let cs = main_status(&running);
    assert_eq!(cs["started"], true);
    let answers = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    assert!(!answers(), "the server is up already: the test proves nothing");
    assert_eq!(cs["ready"], false, "{cs}");
    assert_eq!(condition(&running, "Ready"), "False");
    assert_eq!(condition(&running, "ContainersReady"), "False");

    let ready = wait_until(Duration::from_secs(60), "web Ready", || async {
        let pod = pods.get("web").await?;
        Ok((condition(&pod, "Ready") == "True").then_some(pod))
    })
    .await?;
    assert!(answers(), "Ready before the port answers");
    assert_eq!(main_status(&ready)["ready"], true);
    assert_eq!(condition(&ready, "ContainersReady"), "True");
    let events = events_of(&cluster, &ns, "web").await?;
    assert!(
        events.iter().any(|e| e.starts_with("Unhealthy: Readiness probe failed: ") && e.contains("connection refused")),
        "{events:?}"
    );
    cluster.delete_namespace(&ns).await
}

#[tokio::test]
async fn a_failing_liveness_probe_restarts_the_container() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("harness-live").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    // The first run never creates /data/alive; the restarted one does (the emptyDir survives a
    // container restart). The probe runs in the container's mount namespace — /data is empty on
    // the host — and as its user.
    let script =
        "if [ -e /data/restarted ]; then touch /data/alive; else touch /data/restarted; fi; exec sleep 3600";
    let p = pod(
        "live",
        script,
        json!({"restartPolicy": "Always", "securityContext": {"runAsUser": 4321},
               "volumes": [{"name": "data", "emptyDir": {}}]}),
        json!({
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "livenessProbe": {
                "exec": {"command": ["sh", "-c", "test \"$(id -u)\" = 4321 && test -e /data/alive"]},
                "periodSeconds": 1, "failureThreshold": 2,
            },
        }),
    )?;
    pods.create(&PostParams::default(), &p).await?;

    let restarted = wait_until(Duration::from_secs(90), "live restarted and running", || async {
        let pod = pods.get("live").await?;
        let cs = main_status(&pod);
        Ok((cs["restartCount"].as_i64().unwrap_or(0) >= 1 && cs["state"]["running"].is_object())
            .then_some(cs))
    })
    .await?;
    assert_eq!(restarted["restartCount"], 1, "{restarted}");
    // Killed with SIGTERM (sleep dies of it: 128 + 15).
    assert_eq!(restarted["lastState"]["terminated"]["exitCode"], 143, "{restarted}");
    let events = events_of(&cluster, &ns, "live").await?;
    assert!(events.iter().any(|e| e.starts_with("Unhealthy: Liveness probe failed: ")), "{events:?}");
    assert!(
        events.contains(&"Killing: Container main failed liveness probe, will be restarted".to_owned()),
        "{events:?}"
    );
    cluster.delete_namespace(&ns).await
}

/// A pod deleted just as its container exits is still removed. The harness used to lose that
/// deletion when it came while the pod's terminal status was being written: the pod stayed
/// terminating for ever and held its namespace (seen once in CI). Thirty pods exit together on
/// a trigger and are deleted at staggered moments around that exit.
#[tokio::test]
async fn pods_deleted_as_their_containers_exit_are_removed() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("harness-delete-exit").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    // Each container blocks reading a FIFO (no CPU while it waits) and exits at its end of file.
    let trigger = std::env::temp_dir().join(format!("harness-exit-{}", unique_suffix()));
    let made = std::process::Command::new("mkfifo").arg("-m").arg("0666").arg(&trigger).status()?;
    anyhow::ensure!(made.success(), "mkfifo {}: {made}", trigger.display());
    let script = format!("cat {} > /dev/null", trigger.display());
    let names: Vec<String> = (0..30).map(|i| format!("exits-{i}")).collect();
    for name in &names {
        pods.create(&PostParams::default(), &pod(name, &script, json!({}), json!({}))?).await?;
    }
    for name in &names {
        wait_phase(&pods, name, "Running").await?;
    }
    // Every reader has opened it by now; the writer's close is their end of file.
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(std::fs::OpenOptions::new().write(true).open(&trigger)?);
    for name in &names {
        pods.delete(name, &Default::default()).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = std::fs::remove_file(&trigger);
    let left = wait_until(Duration::from_secs(60), "every deleted pod to be gone", || async {
        let left = pods.list(&ListParams::default()).await?.items;
        Ok(left.is_empty().then_some(()))
    })
    .await;
    if let Err(e) = left {
        let names: Vec<_> =
            pods.list(&ListParams::default()).await?.items.into_iter().map(|p| p.metadata.name).collect();
        return Err(e.context(format!("left terminating: {names:?}")));
    }
    cluster.delete_namespace(&ns).await
}
