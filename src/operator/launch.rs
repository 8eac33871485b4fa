//! Starting a run: the config ConfigMap and the Job, both owned by the resource (so deleting it
//! removes them) and labelled per SPEC §6, created idempotently under a deterministic name.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, EnvVar, EnvVarSource, SecretKeySelector};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::children;
use super::connection::JobConnection;
use super::context::Context;
use super::error::{Error, Result};
use super::job::{self, JobRequest};
use super::storage_access::StorageAccess;
use crate::api::cluster::ClusterConnection;
use crate::api::template::JobOptions;

/// One run to start.
pub struct Launch<'a> {
    pub name: String,
    /// `backup`, `restore`, `offset-reset`, `cleanup`: the `app.kubernetes.io/component` label.
    pub component: &'static str,
    /// The data-plane subcommand.
    pub subcommand: &'static str,
    pub config_yaml: String,
    pub connection: JobConnection,
    pub access: StorageAccess,
    pub options: &'a JobOptions,
    pub cluster: &'a ClusterConnection,
    /// Annotations on the Job (what the controller reads back, e.g. the backup id).
    pub annotations: BTreeMap<String, String>,
}

/// The labels of everything created for `owner` as `component`.
pub fn labels<K: Resource>(
    owner: &K,
    component: &str,
    cluster: &ClusterConnection,
) -> BTreeMap<String, String> {
    job::labels(component, &owner.name_any(), cluster.strimzi_cluster_ref.as_ref().map(|r| r.name.as_str()))
}

/// The operator's proxy settings as container variables (before the run's own, which win): by
/// `secretKeyRef` to the proxy Secret when one is configured — a proxy password must not stand
/// in the Job, readable by anyone who may read Jobs — else the credential-free plain values
/// ([`Settings::proxy`](super::settings::Settings::proxy); credentials there stop the operator at
/// start).
pub fn proxy_env(settings: &super::settings::Settings) -> Vec<EnvVar> {
    if let Some(secret) = &settings.proxy_secret {
        return super::settings::PROXY_SECRET_KEYS
            .iter()
            .map(|(key, optional)| EnvVar {
                name: key.to_string(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.clone(),
                        key: key.to_string(),
                        optional: Some(*optional),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
    }
    settings
        .proxy
        .iter()
        .map(|(name, value)| EnvVar { name: name.clone(), value: Some(value.clone()), ..Default::default() })
        .collect()
}

/// Creates the run's ConfigMap and Job unless they exist; returns the Job.
pub async fn launch<K: Resource<DynamicType = ()>>(ctx: &Context, owner: &K, run: Launch<'_>) -> Result<Job> {
    launch_across(ctx, owner, run, 1).await
}

/// [`launch`] for a run split across `workers` pods (an Indexed Job above 1:
/// [`JobRequest::workers`]).
pub async fn launch_across<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    owner: &K,
    run: Launch<'_>,
    workers: i32,
) -> Result<Job> {
    let namespace = owner.namespace().unwrap_or_default();
    let owner_ref = owner
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Render(format!("{} has no uid yet", owner.name_any())))?;
    let labels = labels(owner, run.component, run.cluster);
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(run.name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner_ref.clone()]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(job::CONFIG_FILE.to_string(), run.config_yaml)])),
        ..Default::default()
    };
    children::ensure_config_map(&ctx.client, &namespace, &config_map).await?;
    let mut built = job::build(&JobRequest {
        name: run.name.clone(),
        namespace: namespace.clone(),
        owner: owner_ref,
        labels,
        image: ctx.settings.image.clone(),
        subcommand: run.subcommand.into(),
        config_map: run.name,
        connection: run.connection,
        env: proxy_env(&ctx.settings).into_iter().chain(run.access.env).collect(),
        volumes: run.access.volumes,
        mounts: run.access.mounts,
        options: run.options.clone(),
        workers,
    });
    if !run.annotations.is_empty() {
        built.metadata.annotations = Some(run.annotations);
    }
    children::ensure_job(&ctx.client, &namespace, &built).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::settings::Settings;

    fn settings(pairs: &'static [(&'static str, &'static str)]) -> Settings {
        Settings::from_env(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
            .expect("settings")
    }

    #[test]
    fn a_proxy_secret_reaches_jobs_by_reference_and_plain_values_only_without_one() {
        let plain = settings(&[("STRIMZI_BACKUP_IMAGE", "op:1"), ("HTTPS_PROXY", "http://proxy:3128")]);
        let env = proxy_env(&plain);
        assert_eq!(
            (env[0].name.as_str(), env[0].value.as_deref()),
            ("HTTPS_PROXY", Some("http://proxy:3128"))
        );
        let secret = settings(&[
            ("STRIMZI_BACKUP_IMAGE", "op:1"),
            ("HTTPS_PROXY", "http://u:p@proxy:3128"),
            ("STRIMZI_BACKUP_PROXY_SECRET", "corp-proxy"),
        ]);
        let env = proxy_env(&secret);
        let refs: Vec<String> = env
            .iter()
            .map(|e| {
                let r = e.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).expect("secretKeyRef");
                format!("{}={}/{} optional={:?} value={:?}", e.name, r.name, r.key, r.optional, e.value)
            })
            .collect();
        assert_eq!(
            refs,
            [
                "HTTPS_PROXY=corp-proxy/HTTPS_PROXY optional=Some(false) value=None",
                "HTTP_PROXY=corp-proxy/HTTP_PROXY optional=Some(true) value=None",
                "NO_PROXY=corp-proxy/NO_PROXY optional=Some(true) value=None",
            ]
        );
    }
}
