//! Pod logs work as on a real cluster: the apiserver proxies `pods/log` to the harness's kubelet
//! API (`strimzi_backup_e2e::kubelet::logs`), so `Api::<Pod>::logs`, `log_stream` and
//! `kubectl logs` read what the container wrote, stdout and stderr in the order written.

use std::pin::pin;
use std::time::Duration;

use axum::http;
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, LogParams, PostParams};
use serde_json::json;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};

/// Any image: the command runs from the host; the harness needs no image for it.
const IMAGE: &str = "quay.io/strimzi-backup/strimzi-backup-operator:dev";

fn pod(name: &str, script: &str, env: serde_json::Value) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": IMAGE, "command": ["sh", "-c", script], "env": env,
                // What Pod Security `restricted` (the test namespaces enforce it) asks of a container.
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                    "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}}]
        }
    }))?)
}

async fn wait_phase(pods: &Api<Pod>, name: &str, phase: &str) -> anyhow::Result<()> {
    wait_until(Duration::from_secs(60), &format!("pod {name} {phase}"), || async {
        let pod = pods.get(name).await?;
        let now = pod.status.and_then(|s| s.phase).unwrap_or_default();
        anyhow::ensure!(now != "Failed" || phase == "Failed", "pod {name} failed");
        Ok((now == phase).then_some(()))
    })
    .await
}

/// The HTTP status of a failed API call (0 when it failed otherwise).
fn status_code<T>(r: &kube::Result<T>) -> u16 {
    match r {
        Err(kube::Error::Api(s)) => s.code,
        _ => 0,
    }
}

fn error_message<T>(r: &kube::Result<T>) -> String {
    match r {
        Err(kube::Error::Api(s)) => s.message.clone(),
        Err(e) => e.to_string(),
        Ok(_) => "<no error>".to_owned(),
    }
}

/// The next line of a followed log (`None`: the stream ended), failing after 30 s.
async fn next_line(
    lines: &mut (impl futures::Stream<Item = std::io::Result<String>> + Unpin),
) -> anyhow::Result<Option<String>> {
    Ok(tokio::time::timeout(Duration::from_secs(30), lines.try_next()).await??)
}

/// Six lines alternating between stdout and stderr, each its own write.
const SCRIPT: &str =
    r#"echo "1 out"; echo "2 err" >&2; echo "3 out"; echo "4 err" >&2; printf '5 out\n'; echo "6 err" >&2"#;
const ALL: &str = "1 out\n2 err\n3 out\n4 err\n5 out\n6 err\n";

#[tokio::test]
async fn logs_of_a_finished_container_are_stdout_and_stderr_in_write_order() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("pod-logs").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    pods.create(&PostParams::default(), &pod("writer", SCRIPT, json!([]))?).await?;
    wait_phase(&pods, "writer", "Succeeded").await?;

    assert_eq!(pods.logs("writer", &LogParams::default()).await?, ALL);
    let tail = |n| LogParams { tail_lines: Some(n), ..Default::default() };
    assert_eq!(pods.logs("writer", &tail(2)).await?, "5 out\n6 err\n");
    assert_eq!(pods.logs("writer", &tail(6)).await?, ALL);
    assert_eq!(pods.logs("writer", &tail(100)).await?, ALL);
    assert_eq!(pods.logs("writer", &tail(0)).await?, "");
    let limit = LogParams { limit_bytes: Some(8), ..Default::default() };
    assert_eq!(pods.logs("writer", &limit).await?, "1 out\n2 ");
    let both = LogParams { tail_lines: Some(3), limit_bytes: Some(6), ..Default::default() };
    assert_eq!(pods.logs("writer", &both).await?, "4 err\n");
    // Following a finished container returns its log and ends.
    let follow = LogParams { follow: true, ..Default::default() };
    let followed = tokio::time::timeout(Duration::from_secs(30), pods.logs("writer", &follow)).await??;
    assert_eq!(followed, ALL);

    // No previous instance: the harness's 400, passed on by the apiserver.
    let previous = pods.logs("writer", &LogParams { previous: true, ..Default::default() }).await;
    assert_eq!(status_code(&previous), 400, "{}", error_message(&previous));
    assert!(
        error_message(&previous).contains("previous terminated container"),
        "{}",
        error_message(&previous)
    );
    // A container the pod does not have: the apiserver refuses it already.
    let other = LogParams { container: Some("nope".into()), ..Default::default() };
    let unknown = pods.logs("writer", &other).await;
    assert_eq!(status_code(&unknown), 400, "{}", error_message(&unknown));

    // The real kubectl, the same way.
    let out = cluster.kubectl(&["logs", "-n", &ns, "writer", "--tail=1"])?;
    assert!(out.status.success(), "kubectl logs: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout)?, "6 err\n");

    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test]
async fn following_a_running_container_streams_its_lines_as_they_come() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("pod-logs-follow").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    // The container waits for files the test creates (processes run on the host).
    let gate = std::env::temp_dir().join(format!("pod-logs-gate-{}", unique_suffix()));
    std::fs::create_dir_all(&gate)?;
    let script = r#"echo one; echo two >&2
while [ ! -e "$GATE/go" ]; do sleep 0.1; done
echo three; echo four >&2
while [ ! -e "$GATE/end" ]; do sleep 0.1; done
echo five"#;
    let env = json!([{"name": "GATE", "value": gate.display().to_string()}]);
    pods.create(&PostParams::default(), &pod("follower", script, env)?).await?;
    wait_phase(&pods, "follower", "Running").await?;

    let follow = LogParams { follow: true, ..Default::default() };
    let mut lines = pin!(pods.log_stream("follower", &follow).await?.lines());
    assert_eq!(next_line(&mut lines).await?.as_deref(), Some("one"));
    assert_eq!(next_line(&mut lines).await?.as_deref(), Some("two"));

    // Streamed while the container still runs: it cannot go on before the test lets it.
    std::fs::write(gate.join("go"), b"")?;
    assert_eq!(next_line(&mut lines).await?.as_deref(), Some("three"));
    assert_eq!(next_line(&mut lines).await?.as_deref(), Some("four"));

    // Following with a tail starts at the last lines so far.
    let tail_follow = LogParams { follow: true, tail_lines: Some(1), ..Default::default() };
    let mut tailed = pin!(pods.log_stream("follower", &tail_follow).await?.lines());
    assert_eq!(next_line(&mut tailed).await?.as_deref(), Some("four"));

    // The stream ends when the container exits, after its last line.
    std::fs::write(gate.join("end"), b"")?;
    assert_eq!(next_line(&mut lines).await?.as_deref(), Some("five"));
    assert_eq!(next_line(&mut lines).await?, None);
    assert_eq!(next_line(&mut tailed).await?.as_deref(), Some("five"));
    assert_eq!(next_line(&mut tailed).await?, None);
    wait_phase(&pods, "follower", "Succeeded").await?;

    std::fs::remove_dir_all(&gate)?;
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// The harness's kubelet API itself (what the apiserver calls), with the admin client
/// certificate of the kubeconfig (signed by the CA the harness trusts).
#[tokio::test]
async fn the_kubelet_api_answers_404_for_unknown_pods_and_400_for_bad_parameters() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("pod-logs-api").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    pods.create(&PostParams::default(), &pod("hello", "echo hi; echo there >&2", json!([]))?).await?;
    wait_phase(&pods, "hello", "Succeeded").await?;

    let node = Api::<Node>::all(cluster.client.clone()).get("harness").await?;
    let port = node.status.and_then(|s| s.daemon_endpoints).and_then(|d| d.kubelet_endpoint).map(|e| e.port);
    let port =
        port.filter(|p| *p > 0).ok_or_else(|| anyhow::anyhow!("node harness advertises no kubelet port"))?;
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.env.kubeconfig())?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?;
    config.cluster_url = format!("https://127.0.0.1:{port}").parse()?;
    let kubelet = kube::Client::try_from(config.clone())?;
    let get = async |path: String| -> anyhow::Result<kube::Result<String>> {
        Ok(kubelet.request_text(http::Request::get(path).body(Vec::new())?).await)
    };

    assert_eq!(get("/healthz".into()).await??, "ok");
    let base = format!("/containerLogs/{ns}/hello/main");
    assert_eq!(get(base.clone()).await??, "hi\nthere\n");
    assert_eq!(get(format!("{base}?tailLines=1")).await??, "there\n");
    assert_eq!(get(format!("{base}?limitBytes=2&timestamps=false")).await??, "hi");

    let missing_pod = get(format!("/containerLogs/{ns}/missing/main")).await?;
    assert_eq!(status_code(&missing_pod), 404, "{}", error_message(&missing_pod));
    assert!(
        error_message(&missing_pod).contains("\"missing\" does not exist"),
        "{}",
        error_message(&missing_pod)
    );
    let missing_container = get(format!("/containerLogs/{ns}/hello/nope")).await?;
    assert_eq!(status_code(&missing_container), 404, "{}", error_message(&missing_container));
    assert!(error_message(&missing_container).contains("container \"nope\" not found"));
    for query in
        ["tailLines=-1", "tailLines=x", "limitBytes=0", "follow=perhaps", "timestamps=true", "previous=true"]
    {
        let r = get(format!("{base}?{query}")).await?;
        assert_eq!(status_code(&r), 400, "{query}: {}", error_message(&r));
    }

    // Without a client certificate the harness refuses the connection.
    config.auth_info = Default::default();
    let anonymous = kube::Client::try_from(config)?;
    let refused = anonymous.request_text(http::Request::get("/healthz").body(Vec::new())?).await;
    assert!(refused.is_err(), "a client without certificate was served: {refused:?}");

    cluster.delete_namespace(&ns).await?;
    Ok(())
}
