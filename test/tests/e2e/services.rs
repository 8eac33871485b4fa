//! Services answer on their ClusterIP: the pod harness's stand-in for kube-proxy
//! (`strimzi_backup_e2e::kubelet::services`) listens on `<clusterIP>:<port>` (loopback space,
//! `SERVICE_CIDR` of hack/lib.sh) and forwards each connection to a ready pod it runs, resolving
//! a named `targetPort` per pod and taking the pods in turn. Without a ready pod the connection is
//! refused; without the Service nothing listens. The API server calls an admission webhook
//! registered by `clientConfig.service` through it as well.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use strimzi_backup_e2e::fixtures::{Cluster, http_get, wait_until};
use strimzi_backup_webhook::self_signed::Authority;
use tokio::net::TcpStream;

/// Any image: the command runs from the host; the harness needs no image for it.
const IMAGE: &str = "quay.io/strimzi-backup/strimzi-backup-operator:dev";
/// The host's Python (an absolute path: pods get a clean environment, no pyenv shims).
const PYTHON: &str = "/usr/bin/python3";

/// Answers every GET with `hello from <pod name>` on 127.0.0.1:$PORT.
const ECHO: &str = r#"
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from " + os.environ["HOSTNAME"]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// An admission webhook over TLS on 127.0.0.1:$PORT (certificate and key in $TLS_CRT, $TLS_KEY):
/// denies objects whose name starts with `deny`, naming the pod that judged.
const WEBHOOK: &str = r#"
import http.server, json, os, ssl
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["request"]
        name = req["object"]["metadata"].get("name", "")
        resp = {"uid": req["uid"], "allowed": not name.startswith("deny")}
        if not resp["allowed"]:
            resp["status"] = {"code": 403, "message": "denied through the service by " + os.environ["HOSTNAME"]}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
import tempfile
d = tempfile.mkdtemp()  # the pod runs as a non-root user: its working directory is not its own
for f in ("tls.crt", "tls.key"):
    open(os.path.join(d, f), "w").write(os.environ[f.upper().replace(".", "_")])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(d, "tls.crt"), os.path.join(d, "tls.key"))
srv = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

/// A port nobody listens on right now (the pods run on the host network).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A pod labelled `app: <app>` running `script` with $PORT = `port`, declared as containerPort
/// `port_name`.
fn python_pod(
    name: &str,
    app: &str,
    script: &str,
    port_name: &str,
    port: u16,
    env: serde_json::Value,
) -> anyhow::Result<Pod> {
    let mut env_list = vec![json!({"name": "PORT", "value": port.to_string()})];
    env_list.extend(env.as_array().cloned().unwrap_or_default());
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main", "image": IMAGE, "command": [PYTHON, "-c", script], "env": env_list,
                "ports": [{"name": port_name, "containerPort": port}],
                // What Pod Security `restricted` (the test namespaces enforce it) asks of a container.
                "securityContext": {
                    "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                    "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"},
                },
            }]
        }
    }))?)
}

/// A ClusterIP Service selecting `app: <app>` on `port`, to the pods' port named `target`.
fn service(name: &str, app: &str, port: u16, target: &str) -> anyhow::Result<Service> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"name": "main", "port": port, "targetPort": target}]}
    }))?)
}

async fn wait_ready(pods: &Api<Pod>, name: &str) -> anyhow::Result<()> {
    wait_until(Duration::from_secs(60), &format!("pod {name} Ready"), || async {
        let pod = pods.get(name).await?;
        let status = pod.status.unwrap_or_default();
        anyhow::ensure!(status.phase.as_deref() != Some("Failed"), "pod {name} failed");
        let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
        Ok(ready.then_some(()))
    })
    .await
}

async fn cluster_addr(services: &Api<Service>, name: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let svc = services.get(name).await?;
    let ip = svc.spec.and_then(|s| s.cluster_ip).unwrap_or_default();
    Ok(SocketAddr::new(ip.parse()?, port))
}

/// `GET /` to `addr`: the body of a 200, or an error when the connection is refused, reset or
/// closed without an answer.
async fn get(addr: SocketAddr) -> anyhow::Result<String> {
    let (status, body) = http_get(addr, "/").await?;
    anyhow::ensure!(status == 200, "answer {status}");
    Ok(body)
}

#[tokio::test]
async fn a_cluster_ip_forwards_to_ready_pods_in_turn_and_refuses_without_them() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("services").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &ns);
    let pp = PostParams::default();
    // Two pods on different host ports, both named `http`: the Service's targetPort resolves per pod.
    for name in ["echo-a", "echo-b"] {
        pods.create(&pp, &python_pod(name, "echo", ECHO, "http", free_port()?, json!([]))?).await?;
    }
    // Port 80: the harness runs as root.
    services.create(&pp, &service("echo", "echo", 80, "http")?).await?;
    let addr = cluster_addr(&services, "echo", 80).await?;
    assert!(addr.ip().to_string().starts_with("127."), "ClusterIP {addr} is not loopback: SERVICE_CIDR");
    for name in ["echo-a", "echo-b"] {
        wait_ready(&pods, name).await?;
    }

    // Until both servers listen, some connections fail (a started container is Ready at once).
    wait_until(Duration::from_secs(30), "both pods answering through the ClusterIP", || async {
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(get(addr).await?);
        }
        Ok((seen.contains(&"hello from echo-a".to_owned()) && seen.contains(&"hello from echo-b".to_owned()))
            .then_some(()))
    })
    .await?;
    // Round robin: consecutive connections alternate between the two pods.
    let (first, second) = (get(addr).await?, get(addr).await?);
    assert_ne!(first, second, "round robin over two backends");
    let (third, fourth) = (get(addr).await?, get(addr).await?);
    assert_eq!((third.as_str(), fourth.as_str()), (first.as_str(), second.as_str()));

    // A pod being deleted is no backend any more.
    pods.delete("echo-a", &DeleteParams::default()).await?;
    wait_until(Duration::from_secs(30), "only echo-b answering", || async {
        let answers = [get(addr).await?, get(addr).await?, get(addr).await?];
        Ok(answers.iter().all(|a| a == "hello from echo-b").then_some(()))
    })
    .await?;

    // No pod left: the listener stays, connections are reset.
    pods.delete("echo-b", &DeleteParams::default()).await?;
    wait_until(Duration::from_secs(30), "connections refused without backends", || async {
        Ok(get(addr).await.is_err().then_some(()))
    })
    .await?;
    for _ in 0..3 {
        let r = get(addr).await;
        assert!(r.is_err(), "answered without a ready pod: {r:?}");
    }

    // The Service deleted: nothing listens on its address.
    services.delete("echo", &DeleteParams::default()).await?;
    wait_until(Duration::from_secs(30), "the ClusterIP listener closed", || async {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(Some(())),
            _ => Ok(None),
        }
    })
    .await?;

    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test]
async fn the_api_server_calls_a_webhook_registered_by_service() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace("services-webhook").await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &ns);
    let pp = PostParams::default();
    // The API server verifies the serving certificate for `<service>.<namespace>.svc`.
    let ca = Authority::new()?;
    let cert = ca.issue(&[format!("hook.{ns}.svc")])?;
    let tls =
        json!([{"name": "TLS_CRT", "value": cert.cert_pem}, {"name": "TLS_KEY", "value": cert.key_pem}]);
    pods.create(&pp, &python_pod("hook", "hook", WEBHOOK, "https", free_port()?, tls)?).await?;
    services.create(&pp, &service("hook", "hook", 443, "https")?).await?;
    wait_ready(&pods, "hook").await?;

    let configs: Api<ValidatingWebhookConfiguration> = Api::all(cluster.client.clone());
    let config_name = format!("e2e-{ns}");
    let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": config_name},
        "webhooks": [{
            "name": "deny.services-e2e.strimzi-backup.dev",
            "clientConfig": {
                "service": {"namespace": ns, "name": "hook", "port": 443, "path": "/validate"},
                "caBundle": base64::engine::general_purpose::STANDARD.encode(ca.ca_pem()),
            },
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
            // This test's namespace only, so the webhook never judges another test's objects.
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
        }]
    }))?;
    configs.create(&pp, &config).await?;

    let judged = async {
        let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
        let map = |name: &str| -> anyhow::Result<ConfigMap> {
            Ok(serde_json::from_value(json!({"metadata": {"name": name}}))?)
        };
        let denial = wait_until(Duration::from_secs(60), "the webhook's denial", || async {
            match maps.create(&pp, &map("deny-me")?).await {
                Err(kube::Error::Api(s)) if s.message.contains("denied through the service") => {
                    Ok(Some(s.message))
                }
                Err(e) => Err(e.into()),
                Ok(_) => {
                    // Created before the registration was in effect: try again.
                    maps.delete("deny-me", &DeleteParams::default()).await?;
                    Ok(None)
                }
            }
        })
        .await?;
        assert!(denial.contains("denied through the service by hook"), "{denial}");
        maps.create(&pp, &map("allowed")?).await?;
        anyhow::Ok(())
    }
    .await;
    // Cluster-scoped: removed whatever happened.
    configs.delete(&config_name, &DeleteParams::default()).await?;
    judged?;
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
