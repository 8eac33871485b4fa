//! A Job template is a knob on the Job pod's security context, never a way out of it (issue 14
//! §2): the webhook refuses what would run with more privilege than Pod Security `restricted`
//! (naming each field), and what a template may set merges over the operator's restricted
//! context instead of replacing it — so the real API server's Pod Security admission (the test
//! namespaces enforce `restricted`) lets the pod in and the backup completes.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams};
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::operator::{Operator, backup_completed, minio_storage, namespace_with_kafka};
use strimzi_backup_e2e::webhook::Registration;
use strimzi_backup_operator::api::backup::KafkaBackup;

#[tokio::test(flavor = "multi_thread")]
async fn privileged_templates_are_refused_and_allowed_ones_merge_into_a_restricted_pod() -> anyhow::Result<()>
{
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "job-privilege").await?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("jp{s}"), format!("e2e-jp-{s}/"));
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 100, recent())).await?;
    let operator = Operator::start(env, &ns)?;
    let _registration = Registration::new(&cluster, &operator, &ns).await?;
    let backup = |name: &str, template: &str| -> anyhow::Result<String> {
        Ok(format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}  template:\n{template}",
            minio_storage(env, &prefix, "minio-credentials", 2)?
        ))
    };

    // Root, privilege and an added capability: denied, each field named. A server-side dry run
    // (webhooks judge it as they judge a write, nothing is stored) until the registration is in
    // effect, then the real apply.
    let privileged = backup(
        "privileged",
        "    pod: {securityContext: {runAsUser: 0}}\n    container: {securityContext: {privileged: true, capabilities: {add: [NET_ADMIN]}}}\n",
    )?;
    wait_until(Duration::from_secs(30), "the webhook to judge the privileged template", || async {
        let (ok, text) = cluster.kubectl_apply(&ns, &privileged, &["--dry-run=server"])?;
        anyhow::ensure!(ok || text.contains("is invalid"), "kubectl apply failed: {text}");
        Ok((!ok).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let (ok, denied) = cluster.kubectl_apply(&ns, &privileged, &[])?;
    assert!(!ok && denied.contains("is invalid"), "{denied}");
    for field in [
        "spec.template.pod.securityContext.runAsUser",
        "spec.template.container.securityContext.privileged",
        "spec.template.container.securityContext.capabilities.add",
    ] {
        assert!(denied.contains(field), "names {field}: {denied}");
    }

    // A template that sets only fsGroup and a writable root filesystem: its Job's pod keeps
    // runAsNonRoot, the seccomp profile and dropped capabilities, so Pod Security admits it and
    // the backup completes.
    let (ok, text) = cluster.kubectl_apply(&ns,
        &backup(
            "merged",
            "    pod: {securityContext: {fsGroup: 2000}}\n    container: {securityContext: {readOnlyRootFilesystem: false}}\n",
        )?,
        &[],
    )?;
    assert!(ok, "{text}");
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "merged", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let job = jobs
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .find(|j| j.metadata.name.as_deref().is_some_and(|n| n.starts_with("merged-")))
        .ok_or_else(|| anyhow::anyhow!("no Job of KafkaBackup merged"))?;
    let pod = job.spec.and_then(|s| s.template.spec).ok_or_else(|| anyhow::anyhow!("no pod spec"))?;
    let pod_context = pod.security_context.unwrap_or_default();
    assert_eq!(pod_context.fs_group, Some(2000));
    assert_eq!(pod_context.run_as_non_root, Some(true));
    assert_eq!(pod_context.seccomp_profile.map(|p| p.type_).as_deref(), Some("RuntimeDefault"));
    let container = pod.containers[0].security_context.clone().unwrap_or_default();
    assert_eq!(container.read_only_root_filesystem, Some(false));
    assert_eq!(container.allow_privilege_escalation, Some(false));
    assert_eq!(container.capabilities.and_then(|c| c.drop), Some(vec!["ALL".to_string()]));
    Ok(())
}
