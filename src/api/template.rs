//! Customisation of the Jobs the operator creates, following Strimzi's `template` pattern: the
//! user adjusts the pod and container without the operator exposing a whole PodSpec.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, LocalObjectReference, PodSecurityContext, SecurityContext, Toleration,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Templates for the Job's pod and its one container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTemplate {
    /// Pod-level settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodTemplate>,
    /// Settings of the backup/restore container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerTemplate>,
}

/// Labels and annotations added to a created object (on top of the operator's own labels).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataTemplate {
    /// Extra labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Pod template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    /// Labels and annotations of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataTemplate>,
    /// Scheduling constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Tolerations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// Node selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Pod security context, merged field by field over the operator's, which satisfies
    /// OpenShift's `restricted-v2` (non-root, RuntimeDefault seccomp, no fixed UID). Root
    /// (`runAsUser: 0`, `runAsNonRoot: false`) and an `Unconfined` seccomp profile are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// Priority class of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Secrets for pulling the operator image from a private registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

/// Container template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerTemplate {
    /// Extra environment variables (e.g. `RUST_LOG`, proxy settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Container security context, merged field by field over the operator's, which satisfies
    /// OpenShift's `restricted-v2` (no privilege escalation, all capabilities dropped, read-only
    /// root FS); every capability stays dropped. Root, `privileged`, `allowPrivilegeEscalation`,
    /// added capabilities and `procMount: Unmasked` are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

/// Settings of the Kubernetes Job that runs the work.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobSettings {
    /// Retries of a failed pod before the Job fails (Kubernetes default 6). Runs are idempotent,
    /// so a retry never duplicates data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub backoff_limit: Option<i32>,
    /// Upper bound on the Job's run time in seconds, Pending included; the run is stopped and
    /// marked failed after. Default 86400 (a day), so a Job that can never be scheduled does not
    /// hold its run, and under `concurrencyPolicy: Forbid` every later one, forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,
    /// Seconds after which a finished Job (and its pod) is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
}

/// The Job-shaping fields every kind has, flattened into its `spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobOptions {
    /// CPU and memory requests and limits of the Job's container. Default: requests 250m CPU and
    /// 512Mi memory, limit 2Gi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
    /// Pod and container customisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ResourceTemplate>,
    /// Settings of the Kubernetes Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSettings>,
}
