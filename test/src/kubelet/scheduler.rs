//! Test-only code that stands in for a kube-scheduler: binds unscheduled pods to the harness's
//! node (the local control plane has no scheduler and exactly one node).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, PostParams};
use tracing::{debug, info, warn};

/// Whether the default scheduler would place `pod`: not yet bound, not being deleted, meant for
/// the default scheduler and without scheduling gates.
pub fn wants_scheduling(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    spec.node_name.as_deref().unwrap_or_default().is_empty()
        && pod.metadata.deletion_timestamp.is_none()
        && matches!(spec.scheduler_name.as_deref(), None | Some("") | Some("default-scheduler"))
        && spec.scheduling_gates.as_ref().is_none_or(Vec::is_empty)
        && !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Binds pod `namespace/name` (uid as precondition) to `node`, retrying API errors a few times.
pub async fn bind(client: Client, namespace: String, name: String, uid: Option<String>, node: String) {
    let api: Api<Pod> = Api::namespaced(client, &namespace);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            uid,
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.clone()),
            ..Default::default()
        },
    };
    for attempt in 1..=5u64 {
        match api
            .create_subresource::<_, serde_json::Value>("binding", &name, &PostParams::default(), &binding)
            .await
        {
            Ok(_) => {
                info!(namespace = %namespace, name = %name, node = %node, "pod bound");
                return;
            }
            Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409) => {
                debug!(namespace = %namespace, name = %name, detail = %s.message, "pod not bound (gone or already bound)");
                return;
            }
            Err(e) => {
                warn!(namespace = %namespace, name = %name, error = %e, attempt, "binding the pod failed");
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;

    #[test]
    fn schedules_only_unbound_default_pods() {
        let pod = |node: Option<&str>, scheduler: Option<&str>| Pod {
            spec: Some(PodSpec {
                node_name: node.map(Into::into),
                scheduler_name: scheduler.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(wants_scheduling(&pod(None, None)));
        assert!(wants_scheduling(&pod(Some(""), Some("default-scheduler"))));
        assert!(!wants_scheduling(&pod(Some("harness"), None)));
        assert!(!wants_scheduling(&pod(None, Some("other"))));
    }
}
