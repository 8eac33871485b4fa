//! The Jobs the controllers create: the operator's own image running one data-plane subcommand
//! with a config from a ConfigMap, secrets only as mounted files or `secretKeyRef` variables,
//! and a pod that passes OpenShift's `restricted-v2` and Pod Security `restricted` whatever the
//! user's template adds (their settings merge over ours; what would leave restricted is refused at
//! admission by `api::privilege`).
//!
//! Pure: everything it needs is in [`JobRequest`]; the controllers apply the result.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, PodSecurityContext,
    PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::connection::JobConnection;
use crate::api::template::JobOptions;

/// Where the Job's config file is mounted.
pub const CONFIG_DIR: &str = "/etc/strimzi-backup/config";
/// Its file name in the ConfigMap.
pub const CONFIG_FILE: &str = "config.yaml";
/// Retries of a failed pod when the resource does not say: runs are idempotent, so a retry
/// never duplicates data, and three cover a node loss or a broker restart.
const DEFAULT_BACKOFF_LIMIT: i32 = 3;

/// The labels of SPEC §6 on everything the operator creates for a resource.
pub fn labels(component: &str, instance: &str, cluster: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "strimzi-backup".to_string()),
        ("app.kubernetes.io/instance".to_string(), instance.to_string()),
        ("app.kubernetes.io/component".to_string(), component.to_string()),
        ("app.kubernetes.io/part-of".to_string(), "strimzi-backup".to_string()),
        ("app.kubernetes.io/managed-by".to_string(), "strimzi-backup-operator".to_string()),
    ]);
    if let Some(cluster) = cluster {
        labels.insert("strimzi.io/cluster".to_string(), cluster.to_string());
    }
    labels
}

/// The name of a child of `owner`: `<owner>-<suffix>`, within the 63 characters a Job name may
/// have (it becomes a label value). A longer owner name is cut and made unique again with a hash
/// of the whole, so the name stays deterministic.
pub fn child_name(owner: &str, suffix: &str) -> String {
    const MAX: usize = 63;
    let full = format!("{owner}-{suffix}");
    if full.len() <= MAX {
        return full;
    }
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(owner.as_bytes())[..4]);
    let keep = MAX.saturating_sub(suffix.len() + hash.len() + 2);
    let cut = (0..=keep.min(owner.len())).rev().find(|i| owner.is_char_boundary(*i)).unwrap_or(0);
    format!("{}-{hash}-{suffix}", owner[..cut].trim_end_matches(['-', '.']))
}

/// Everything a Job is made of.
#[derive(Clone, Debug, Default)]
pub struct JobRequest {
    /// Deterministic, so a restarted or second operator replica finds the Job instead of
    /// creating another.
    pub name: String,
    pub namespace: String,
    pub owner: OwnerReference,
    pub labels: BTreeMap<String, String>,
    pub image: String,
    /// `backup`, `restore` or `offset-reset`.
    pub subcommand: String,
    /// ConfigMap holding [`CONFIG_FILE`].
    pub config_map: String,
    pub connection: JobConnection,
    /// Storage credentials and similar, as `secretKeyRef` variables.
    pub env: Vec<EnvVar>,
    /// Further volumes (encryption key, filesystem storage) and their mounts.
    pub volumes: Vec<Volume>,
    pub mounts: Vec<VolumeMount>,
    pub options: JobOptions,
    /// Pods one run is split across (`backup.workers`, `restore.workers`). Above 1 the Job is an
    /// Indexed Job of that many pods ([`indexed`]); 0 and 1 are the single-pod Job every kind
    /// runs otherwise.
    pub workers: i32,
}

fn restricted_pod() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

fn restricted_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

/// `user`'s settings over `defaults`, field by field: what the user set wins, what they left out
/// keeps the restricted default (a template that only sets `fsGroup` must not drop
/// `runAsNonRoot` or the seccomp profile). Fields are merged at the top level: a user's
/// `seccompProfile` replaces ours whole. The admission rules (`api::privilege`) have already
/// refused what would leave restricted.
fn overlay<T: serde::Serialize + serde::de::DeserializeOwned + Clone>(defaults: T, user: Option<&T>) -> T {
    let Some(user) = user else { return defaults };
    let (Ok(serde_json::Value::Object(mut merged)), Ok(serde_json::Value::Object(theirs))) =
        (serde_json::to_value(&defaults), serde_json::to_value(user))
    else {
        return defaults;
    };
    merged.extend(theirs.into_iter().filter(|(_, v)| !v.is_null()));
    serde_json::from_value(serde_json::Value::Object(merged)).unwrap_or(defaults)
}

/// The container's security context: the user's over [`restricted_container`], and every
/// capability dropped whatever the user's `capabilities` say (adding one is refused at admission).
fn container_context(user: Option<&SecurityContext>) -> SecurityContext {
    let mut merged = overlay(restricted_container(), user);
    let caps = merged.capabilities.get_or_insert_with(Capabilities::default);
    let drop = caps.drop.get_or_insert_with(Vec::new);
    if !drop.iter().any(|c| c == "ALL") {
        drop.insert(0, "ALL".into());
    }
    caps.add = None;
    merged
}

/// Requests and limits when the user gives none: enough for the data plane at its default
/// parallelism (docs/benchmarks.md measures a backup of 8 partitions at under 500 MiB), and a
/// memory limit so one run cannot take a node's memory.
fn default_resources() -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_string());
    ResourceRequirements {
        requests: Some([("cpu".to_string(), q("250m")), ("memory".to_string(), q("512Mi"))].into()),
        limits: Some([("memory".to_string(), q("2Gi"))].into()),
        ..Default::default()
    }
}

/// How long a Job may take, Pending included, unless the user says otherwise: a day. A Job that
/// cannot be scheduled (no node fits, an image that cannot be pulled) then fails instead of
/// holding its run, and under `concurrencyPolicy: Forbid` every later run, forever.
pub const DEFAULT_ACTIVE_DEADLINE_SECONDS: i64 = 24 * 60 * 60;

/// Turns `spec` (built for one pod) into an Indexed Job of `workers` pods that all run at once
/// (issue 18 §3): each pod learns its index from `JOB_COMPLETION_INDEX`, which the Job controller
/// sets. A failed pod is retried alone, in its own index: `backoffLimitPerIndex` takes the
/// single-pod Job's `backoffLimit` (the user's, else [`DEFAULT_BACKOFF_LIMIT`]), so each worker
/// has the retries one pod had. `maxFailedIndexes: 0`: a worker out of retries fails the Job at
/// once (a backup is committed only when every worker succeeded, so the others' work is moot).
/// `backoffLimit` becomes the whole run's budget, every worker's retries (`workers ×` per index):
/// never the limit that fails first, but what `kubectl` shows instead of Kubernetes' default of
/// 2147483647 with a per-index limit. The pod failure policy stays: a refused run (`FailJob`) is
/// refused in every worker, so it fails the Job without retry, which `backoffLimitPerIndex`
/// allows (alongside `FailIndex`, unused here).
fn indexed(spec: &mut JobSpec, workers: i32) {
    let per_index = spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT);
    spec.completion_mode = Some("Indexed".into());
    spec.completions = Some(workers);
    spec.parallelism = Some(workers);
    spec.backoff_limit_per_index = Some(per_index);
    spec.max_failed_indexes = Some(0);
    spec.backoff_limit = Some(per_index.saturating_mul(workers));
}

/// The size limit of the `/tmp` emptyDir: the data plane keeps its data in memory and object
/// storage, and writes nothing large there; a limit keeps a bug from filling the node's disk.
const TMP_SIZE_LIMIT: &str = "256Mi";

/// The pod a run's Job starts, `restartPolicy: Never`: also the pod of a continuous backup's
/// Deployment ([`super::backup::deployment`]), which changes only what a long-running pod needs,
/// so the two never drift apart.
pub fn pod_template(req: &JobRequest) -> PodTemplateSpec {
    let template = req.options.template.clone().unwrap_or_default();
    let pod_template = template.pod.unwrap_or_default();
    let container_template = template.container.unwrap_or_default();
    let pod_meta = pod_template.metadata.unwrap_or_default();

    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource { name: req.config_map.clone(), ..Default::default() }),
            ..Default::default()
        },
        // The root filesystem is read-only: temporary files go here.
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(TMP_SIZE_LIMIT.into())),
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    volumes.extend(req.connection.volumes.iter().cloned());
    volumes.extend(req.volumes.iter().cloned());
    let mut mounts = vec![
        VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        },
        VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() },
    ];
    mounts.extend(req.connection.mounts.iter().cloned());
    mounts.extend(req.mounts.iter().cloned());
    let mut env = req.env.clone();
    env.extend(container_template.env.unwrap_or_default());

    let mut pod_labels = req.labels.clone();
    pod_labels.extend(pod_meta.labels);
    let container = Container {
        name: req.subcommand.clone(),
        image: Some(req.image.clone()),
        args: Some(args(req)),
        env: (!env.is_empty()).then_some(env),
        resources: Some(req.options.resources.clone().unwrap_or_else(default_resources)),
        security_context: Some(container_context(container_template.security_context.as_ref())),
        volume_mounts: Some(mounts),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: (!pod_meta.annotations.is_empty()).then_some(pod_meta.annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            containers: vec![container],
            volumes: Some(volumes),
            affinity: pod_template.affinity,
            tolerations: pod_template.tolerations,
            node_selector: pod_template.node_selector,
            priority_class_name: pod_template.priority_class_name,
            image_pull_secrets: pod_template.image_pull_secrets,
            security_context: Some(overlay(restricted_pod(), pod_template.security_context.as_ref())),
            // The data plane talks to Kafka and storage only.
            automount_service_account_token: Some(false),
            ..Default::default()
        }),
    }
}

pub fn build(req: &JobRequest) -> Job {
    let settings = req.options.job.clone().unwrap_or_default();
    let mut job = Job {
        metadata: ObjectMeta {
            name: Some(req.name.clone()),
            namespace: Some(req.namespace.clone()),
            labels: Some(req.labels.clone()),
            owner_references: Some(vec![req.owner.clone()]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(settings.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT)),
            // A refused run (crate::refusal) would be refused again: no retry.
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![PodFailurePolicyRule {
                    action: "FailJob".into(),
                    on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                        container_name: Some(req.subcommand.clone()),
                        operator: "In".into(),
                        values: vec![i32::from(crate::refusal::EXIT_CODE)],
                    }),
                    on_pod_conditions: None,
                }],
            }),
            active_deadline_seconds: Some(
                settings.active_deadline_seconds.unwrap_or(DEFAULT_ACTIVE_DEADLINE_SECONDS),
            ),
            ttl_seconds_after_finished: settings.ttl_seconds_after_finished,
            template: pod_template(req),
            ..Default::default()
        }),
        ..Default::default()
    };
    if req.workers > 1
        && let Some(spec) = job.spec.as_mut()
    {
        indexed(spec, req.workers);
    }
    job
}

/// The container's arguments: the subcommand and its config file, and `--workers N` for a run
/// across pods (not a secret; each pod's index comes from `JOB_COMPLETION_INDEX`).
fn args(req: &JobRequest) -> Vec<String> {
    let mut args = vec![req.subcommand.clone(), "--config".into(), format!("{CONFIG_DIR}/{CONFIG_FILE}")];
    if req.workers > 1 {
        args.extend(["--workers".to_string(), req.workers.to_string()]);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::template::{JobSettings, MetadataTemplate, PodTemplate, ResourceTemplate};

    fn request() -> JobRequest {
        JobRequest {
            name: "nightly-backup-28934520".into(),
            namespace: "kafka".into(),
            labels: labels("backup", "nightly", Some("my-cluster")),
            image: "quay.io/example/strimzi-backup-operator:0.1.0".into(),
            subcommand: "backup".into(),
            config_map: "nightly-backup-28934520".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_pass_restricted_v2_and_carry_no_secret() {
        let job = build(&request());
        let spec = job.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod spec");
        let pod = spec.security_context.as_ref().expect("pod security context");
        assert_eq!(pod.run_as_non_root, Some(true));
        assert_eq!(pod.run_as_user, None, "no fixed UID: OpenShift assigns one");
        let c = &spec.containers[0];
        let sc = c.security_context.as_ref().expect("container security context");
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.capabilities.as_ref().and_then(|c| c.drop.clone()), Some(vec!["ALL".to_string()]));
        assert_eq!(
            c.args.clone().unwrap_or_default(),
            ["backup", "--config", "/etc/strimzi-backup/config/config.yaml"]
        );
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(job.spec.as_ref().and_then(|s| s.backoff_limit), Some(3));
        let refused =
            job.spec.as_ref().and_then(|s| s.pod_failure_policy.as_ref()).expect("pod failure policy");
        let on = refused.rules[0].on_exit_codes.as_ref().expect("on exit codes");
        assert_eq!((refused.rules[0].action.as_str(), on.values.as_slice()), ("FailJob", &[3][..]));
        assert_eq!(on.container_name.as_deref(), Some("backup"));
        let labels = job.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("app.kubernetes.io/managed-by").map(String::as_str),
            Some("strimzi-backup-operator")
        );
        assert_eq!(labels.get("strimzi.io/cluster").map(String::as_str), Some("my-cluster"));
        assert!(c.volume_mounts.as_ref().is_some_and(|m| m.iter().any(|m| m.mount_path == "/tmp")));
    }

    #[test]
    fn one_worker_is_the_single_pod_job_and_more_an_indexed_job_retried_per_worker() {
        let single = build(&request());
        let mut one = request();
        one.workers = 1;
        assert_eq!(build(&one), single, "workers 1 changes nothing");
        let spec = single.spec.clone().expect("job spec");
        assert_eq!(
            (spec.completion_mode, spec.completions, spec.parallelism, spec.backoff_limit_per_index),
            (None, None, None, None)
        );

        let mut four = request();
        four.workers = 4;
        let job = build(&four);
        let spec = job.spec.clone().expect("job spec");
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!((spec.completions, spec.parallelism), (Some(4), Some(4)));
        assert_eq!((spec.backoff_limit_per_index, spec.max_failed_indexes), (Some(3), Some(0)));
        assert_eq!(spec.backoff_limit, Some(12), "every worker's retries, not 2147483647");
        let args = spec.template.spec.as_ref().map(|p| p.containers[0].args.clone().unwrap_or_default());
        assert_eq!(
            args.unwrap_or_default(),
            ["backup", "--config", "/etc/strimzi-backup/config/config.yaml", "--workers", "4"]
        );
        let rules = spec.pod_failure_policy.map(|p| p.rules).unwrap_or_default();
        assert_eq!(rules.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(), ["FailJob"], "a refusal");
        // Everything else is the single-pod Job's.
        let mut back = job.clone();
        if let Some(s) = back.spec.as_mut() {
            (s.completion_mode, s.completions, s.parallelism) = (None, None, None);
            (s.backoff_limit_per_index, s.max_failed_indexes, s.backoff_limit) = (None, None, Some(3));
            if let Some(a) = s.template.spec.as_mut().and_then(|p| p.containers[0].args.as_mut()) {
                a.truncate(3);
            }
        }
        assert_eq!(back, single);

        four.options.job = Some(JobSettings { backoff_limit: Some(0), ..Default::default() });
        let spec = build(&four).spec.expect("job spec");
        assert_eq!((spec.backoff_limit_per_index, spec.backoff_limit), (Some(0), Some(0)), "no retry");
    }

    #[test]
    fn child_names_fit_a_label_and_stay_unique() {
        assert_eq!(child_name("nightly", "29390400"), "nightly-29390400");
        let long = "a".repeat(80);
        let name = child_name(&long, "29390400");
        assert!(name.len() <= 63 && name.ends_with("-29390400"), "{name}");
        assert_eq!(name, child_name(&long, "29390400"));
        assert_ne!(name, child_name(&format!("{long}b"), "29390400"));
    }

    #[test]
    fn the_template_wins_where_given() {
        let mut req = request();
        req.options.template = Some(ResourceTemplate {
            pod: Some(PodTemplate {
                metadata: Some(MetadataTemplate {
                    labels: BTreeMap::from([("team".to_string(), "payments".to_string())]),
                    annotations: BTreeMap::from([(
                        "sidecar.istio.io/inject".to_string(),
                        "false".to_string(),
                    )]),
                }),
                node_selector: Some(BTreeMap::from([("pool".to_string(), "batch".to_string())])),
                security_context: Some(PodSecurityContext { run_as_user: Some(1000), ..Default::default() }),
                ..Default::default()
            }),
            container: None,
        });
        req.options.job = Some(JobSettings {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(3600),
            ttl_seconds_after_finished: Some(600),
        });
        let job = build(&req);
        let spec = job.spec.clone().expect("job spec");
        assert_eq!(
            (spec.backoff_limit, spec.active_deadline_seconds, spec.ttl_seconds_after_finished),
            (Some(0), Some(3600), Some(600))
        );
        let meta = spec.template.metadata.clone().expect("pod meta");
        assert_eq!(meta.labels.unwrap_or_default().get("team").map(String::as_str), Some("payments"));
        assert!(meta.annotations.unwrap_or_default().contains_key("sidecar.istio.io/inject"));
        let pod = spec.template.spec.expect("pod spec");
        assert_eq!(pod.security_context.and_then(|s| s.run_as_user), Some(1000));
        assert_eq!(pod.node_selector.unwrap_or_default().get("pool").map(String::as_str), Some("batch"));
    }

    #[test]
    fn a_template_security_context_merges_over_the_restricted_one() {
        let mut req = request();
        req.options.template = Some(ResourceTemplate {
            pod: Some(PodTemplate {
                security_context: Some(PodSecurityContext { fs_group: Some(2000), ..Default::default() }),
                ..Default::default()
            }),
            container: Some(crate::api::template::ContainerTemplate {
                security_context: Some(SecurityContext {
                    read_only_root_filesystem: Some(false),
                    capabilities: Some(Capabilities { drop: Some(vec!["NET_RAW".into()]), add: None }),
                    ..Default::default()
                }),
                env: None,
            }),
        });
        let job = build(&req);
        let spec = job.spec.and_then(|s| s.template.spec).expect("pod spec");
        let pod = spec.security_context.expect("pod security context");
        assert_eq!(pod.fs_group, Some(2000));
        assert_eq!(pod.run_as_non_root, Some(true), "kept from restricted");
        assert_eq!(pod.seccomp_profile.map(|p| p.type_), Some("RuntimeDefault".to_string()));
        let c = spec.containers[0].security_context.clone().expect("container security context");
        assert_eq!(c.read_only_root_filesystem, Some(false), "the user's choice");
        assert_eq!(c.allow_privilege_escalation, Some(false), "kept from restricted");
        assert_eq!(c.capabilities.and_then(|c| c.drop), Some(vec!["ALL".to_string(), "NET_RAW".to_string()]));
    }

    #[test]
    fn jobs_get_resources_a_deadline_and_a_bounded_tmp_unless_told_otherwise() {
        let job = build(&request());
        let spec = job.spec.expect("job spec");
        assert_eq!(spec.active_deadline_seconds, Some(DEFAULT_ACTIVE_DEADLINE_SECONDS));
        let pod = spec.template.spec.expect("pod spec");
        let resources = pod.containers[0].resources.clone().expect("resources");
        assert_eq!(resources.limits.unwrap_or_default().get("memory"), Some(&Quantity("2Gi".into())));
        assert!(resources.requests.unwrap_or_default().contains_key("cpu"));
        let tmp = pod.volumes.unwrap_or_default().into_iter().find(|v| v.name == "tmp").expect("tmp volume");
        assert_eq!(tmp.empty_dir.and_then(|e| e.size_limit), Some(Quantity(TMP_SIZE_LIMIT.into())));

        let mut req = request();
        let theirs = ResourceRequirements {
            limits: Some([("memory".to_string(), Quantity("8Gi".into()))].into()),
            ..Default::default()
        };
        req.options.resources = Some(theirs.clone());
        let job = build(&req);
        let pod = job.spec.and_then(|s| s.template.spec).expect("pod spec");
        assert_eq!(pod.containers[0].resources, Some(theirs));
    }
}
