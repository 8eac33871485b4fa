//! The build users get: profile `dist`, the operator package alone, exactly as the Dockerfile
//! builds it (`make dist-build`), run as the operator and — through the image tag `:dist`, which
//! the pod harness maps to it — as its Jobs, in a namespace whose Pod Security admission is
//! `restricted`. Every other test runs a workspace build that trusts the test licence key; this
//! one proves the release build does not: a licence signed with that key is invalid, so Enterprise
//! settings are denied, while the Community data path backs up and restores.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams};
use strimzi_backup_e2e::dataplane::{consume_all, create_topic, produce, recent, records, without_offsets};
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::licences;
use strimzi_backup_e2e::operator::{
    Operator, backup_completed, finished_run, minio_storage, namespace_with_kafka,
};
use strimzi_backup_e2e::webhook::Registration;
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};

/// What the Jobs of an operator told to use this image run: the dist build (hack/env-up.sh).
const DIST_IMAGE: &str = "quay.io/strimzi-backup/strimzi-backup-operator:dist";

fn dist_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("STRIMZI_BACKUP_DIST_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/dist-bin/strimzi-backup-operator"));
    anyhow::ensure!(path.exists(), "{} is missing: run `make dist-build`", path.display());
    Ok(path)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_release_build_refuses_test_key_licences_and_backs_up_and_restores_under_restricted_pods()
-> anyhow::Result<()> {
    let dist = dist_binary()?;
    // No way to mint a licence in the shipped binary.
    let minted = std::process::Command::new(&dist).args(["license", "--help"]).output()?;
    assert!(!minted.status.success(), "the release build has a license command");

    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "shipped").await?;
    // A licence a test build accepts (test/src/licences.rs), installed before the operator starts.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: strimzi-backup-license}}\nstringData: {{license.key: '{}'}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: aes}}\nstringData: {{key: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff}}\n",
                licences::VALID
            ),
        )
        .await?;
    let operator = Operator::start_program(env, &ns, dist, &[("STRIMZI_BACKUP_IMAGE", DIST_IMAGE)])?;
    wait_until(Duration::from_secs(60), "the licence to be judged", || async {
        let invalid =
            operator.metric("strimzi_backup_license_info", &["state=\"invalid\""]).await.unwrap_or(0.0);
        Ok((invalid == 1.0).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(operator.metric("strimzi_backup_license_info", &["state=\"valid\""]).await?, 0.0);

    // The webhooks of the release build deny Enterprise settings with that licence.
    let _registration = Registration::new(&cluster, &operator, &ns).await?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("shipped{s}"), format!("e2e-shipped-{s}/"));
    let sealed = format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: sealed}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  backup: {{encryption: {{enabled: true, keySecret: {{name: aes, key: key}}}}}}\n{}",
        minio_storage(env, &format!("{prefix}sealed/"), "minio-credentials", 2)?
    );
    let denial = wait_until(Duration::from_secs(60), "the webhooks to judge the licence", || async {
        // A server-side dry run: before the registration is in effect nothing is created.
        let (ok, text) = cluster.kubectl_apply(&ns, &sealed, &["--dry-run=server"])?;
        // Until the registration is in effect the API server applies no webhook and says less.
        Ok((!ok && text.contains("signature does not verify")).then_some(text))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert!(
        denial.contains("spec.backup.encryption") && denial.contains("signature does not verify"),
        "{denial}"
    );

    // The Community data path, in Jobs running the release build under restricted Pod Security.
    create_topic(env, &topic, 2, &[]).await?;
    let mut produced = Vec::new();
    for p in 0..2 {
        let recs = records(&topic, p, 500, recent());
        produce(env, &topic, p, &recs).await?;
        produced.push(recs);
    }
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "orders", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let job = jobs.list(&ListParams::default()).await?.items.into_iter().next().expect("the backup's Job");
    let image = job
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.containers.into_iter().next())
        .and_then(|c| c.image);
    assert_eq!(image.as_deref(), Some(DIST_IMAGE), "Job {}", job.metadata.name.unwrap_or_default());

    let restored = format!("{topic}-restored");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: back}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: orders}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {restored}}}]\n"
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let run = finished_run(&restores, "back", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(run.status.as_ref().and_then(|s| s.phase), Some(RunPhase::Completed), "{:?}", run.status);
    for (p, recs) in produced.iter().enumerate() {
        assert_eq!(
            without_offsets(&consume_all(env, &restored, p as i32)?),
            without_offsets(recs),
            "partition {p}"
        );
    }
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
