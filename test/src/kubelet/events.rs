//! Test-only code that stands in for a kubelet: the Events it records about a pod's containers
//! (`Unhealthy`, `Killing`, ...), with the kubelet's source and `involvedObject.fieldPath`. An
//! event repeating the previous one of its pod (same reason and message) raises that event's
//! `count` instead of creating another, like the kubelet's event correlator.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tracing::warn;

/// Records the events of one pod.
pub struct Recorder {
    api: Api<Event>,
    pod: Pod,
    node: String,
    /// (reason, message) → (event name, count).
    seen: HashMap<(String, String), (String, i32)>,
}

impl Recorder {
    pub fn new(client: &Client, pod: &Pod, node: &str) -> Self {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        Recorder {
            api: Api::namespaced(client.clone(), &ns),
            pod: pod.clone(),
            node: node.to_owned(),
            seen: HashMap::new(),
        }
    }

    /// Records `reason` / `message` about `container` (`type_`: `Normal` or `Warning`).
    pub async fn record(&mut self, container: &str, type_: &str, reason: &str, message: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let key = (reason.to_owned(), message.to_owned());
        if let Some((name, count)) = self.seen.get_mut(&key) {
            *count += 1;
            let patch = json!({"count": *count, "lastTimestamp": now});
            match self.api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => return,
                Err(e) => warn!(error = %e, reason, "cannot update an event; creating another"),
            }
        }
        let m = &self.pod.metadata;
        let pod_name = m.name.clone().unwrap_or_default();
        let event: Event = match serde_json::from_value(json!({
            "metadata": {
                "generateName": format!("{pod_name}."),
                "namespace": m.namespace,
            },
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod_name,
                "namespace": m.namespace,
                "uid": m.uid,
                "resourceVersion": m.resource_version,
                "fieldPath": format!("spec.containers{{{container}}}"),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": "kubelet", "host": self.node},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node,
        })) {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "cannot build an event");
                return;
            }
        };
        match self.api.create(&PostParams::default(), &event).await {
            Ok(created) => {
                self.seen.insert(key, (created.metadata.name.unwrap_or_default(), 1));
            }
            Err(e) => warn!(error = %e, reason, "cannot record an event"),
        }
    }
}
