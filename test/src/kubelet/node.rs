//! Test-only code that stands in for a kubelet: registers the harness's `Node` and keeps its
//! `Ready` condition fresh.

use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use tracing::{info, warn};

use super::status::now;

/// Field manager of everything the harness writes.
pub const FIELD_MANAGER: &str = "pod-harness";

/// What the node reports as capacity and allocatable.
const RESOURCES: &[(&str, &str)] =
    &[("cpu", "2"), ("memory", "24Gi"), ("pods", "110"), ("ephemeral-storage", "100Gi")];

/// The node's allocatable amount of `resource`, if it reports one.
pub fn allocatable(resource: &str) -> Option<&'static str> {
    RESOURCES.iter().find(|(name, _)| *name == resource).map(|(_, v)| *v)
}

fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Creates or updates the node (server-side apply), then its status. `kubelet_port` is where the
/// apiserver finds the kubelet API ([`super::logs`]) at the node's `InternalIP` 127.0.0.1.
pub async fn register(client: &Client, node_name: &str, kubelet_port: u16) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node_name,
            "labels": {
                "kubernetes.io/hostname": node_name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": architecture(),
                "node.kubernetes.io/instance-type": "pod-harness",
            },
            "annotations": {
                "harness.strimzi-backup.dev/note":
                    "test-only pod harness: runs pods as host processes, no container runtime",
            },
        },
        "spec": {},
    });
    api.patch(node_name, &pp, &Patch::Apply(&node)).await?;
    heartbeat(&api, node_name, kubelet_port).await?;
    info!(node = node_name, kubelet_port, "node registered");
    Ok(())
}

/// Writes the node's status: `Ready=True`, addresses (`InternalIP` 127.0.0.1 first: the
/// apiserver reaches the kubelet API there), kubelet port, capacity.
async fn heartbeat(api: &Api<Node>, node_name: &str, kubelet_port: u16) -> Result<(), kube::Error> {
    static SINCE: OnceLock<String> = OnceLock::new();
    let now = now();
    let since = SINCE.get_or_init(|| now.clone());
    let resources: serde_json::Map<String, serde_json::Value> =
        RESOURCES.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": since,
        })
    };
    let status = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "status": {
            "conditions": [
                condition("Ready", "True", "KubeletReady", "pod-harness is running pods"),
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "no pressure"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "no pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "no pressure"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": node_name},
            ],
            "capacity": resources,
            "allocatable": resources,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "",
                "kernelVersion": "", "osImage": "pod-harness",
                "containerRuntimeVersion": "harness://0.1.0",
                "kubeletVersion": "v1.33.0-harness", "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": architecture(),
            },
        },
    });
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(node_name, &pp, &Patch::Apply(&status)).await?;
    Ok(())
}

/// Re-registers the node every `period` (recreating it if someone deleted it).
pub async fn keep_alive(client: Client, node_name: String, kubelet_port: u16, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        if let Err(e) = register_quiet(&client, &node_name, kubelet_port).await {
            warn!(node = %node_name, error = %e, "node heartbeat failed");
        }
    }
}

async fn register_quiet(client: &Client, node_name: &str, kubelet_port: u16) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    if api.get_opt(node_name).await?.is_none() {
        return register(client, node_name, kubelet_port).await;
    }
    heartbeat(&api, node_name, kubelet_port).await?;
    Ok(())
}

/// Deletes the node when the harness stops, so that no `Ready` node is left without a harness
/// behind it (nothing here would ever mark it NotReady).
pub async fn deregister(client: &Client, node_name: &str) {
    let api: Api<Node> = Api::all(client.clone());
    match tokio::time::timeout(Duration::from_secs(3), api.delete(node_name, &DeleteParams::default())).await
    {
        Ok(Ok(_)) => info!(node = node_name, "node deleted"),
        Ok(Err(e)) => warn!(node = node_name, error = %e, "cannot delete the node"),
        Err(_) => warn!(node = node_name, "timed out deleting the node"),
    }
}
