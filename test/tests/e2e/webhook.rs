//! The admission webhooks end to end: the operator process serves them over TLS with its
//! self-signed certificate, `hack/register-webhooks.sh` registers them with the real API server,
//! and `kubectl apply` meets them as a user would. Bad samples of every kind users write are
//! denied naming every field; minimal objects are stored fully defaulted;
//! `spec.backup.encryption` follows the licence Secret (denied, accepted, denied again after
//! expiry while the existing schedule keeps running); a certificate rotated on disk is picked up
//! without a restart and without one failed admission.

use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use strimzi_backup_e2e::dataplane::{create_topic, produce, recent, records};
use strimzi_backup_e2e::defaults;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::licences;
use strimzi_backup_e2e::operator::{Operator, namespace_with_kafka};
use strimzi_backup_e2e::webhook::{self, Registration};
use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup, KafkaBackupStatus};

#[tokio::test(flavor = "multi_thread")]
async fn bad_samples_are_denied_naming_their_fields_and_minimal_objects_are_stored_defaulted()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    cluster.install_crds().await?;
    let ns = cluster.namespace("webhook-samples").await?;
    let operator = Operator::start(&cluster.env, &ns)?;
    let _registration = Registration::new(&cluster, &operator, &ns).await?;
    webhook::answering(&cluster, &ns, &operator).await?;

    let head = |kind: &str, name: &str| {
        format!("apiVersion: kafkabackup.com/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n")
    };
    let storage =
        "  storage: {type: s3, s3: {bucket: backups, region: r, credentialsSecret: {name: s3-creds}}}\n";
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n{storage}  schedule: {{cron: '0 25 * * *', timezone: Mars/Olympus}}\n  topics: {{include: ['orders-(']}}\n  consumerGroups: {{exclude: ['[']}}\n",
                head("KafkaBackup", "many-problems")
            ),
            vec![
                "spec.schedule.cron",
                "spec.schedule.timezone",
                "Europe/Berlin",
                "spec.consumerGroups",
                "spec.topics",
            ],
        ),
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n{storage}  backup: {{compression: brotli}}\n",
                head("KafkaBackup", "brotli")
            ),
            vec!["spec.backup.compression", "zstd"],
        ),
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n{storage}  backup: {{compression: lz4, compressionLevel: 16}}\n",
                head("KafkaBackup", "lz4")
            ),
            vec!["spec.backup.compressionLevel", "lz4 levels are 1-12"],
        ),
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n  backupRef: {{name: nightly}}\n  pointInTime: {{timestamp: '2999-01-01T00:00:00Z'}}\n",
                head("KafkaRestore", "future")
            ),
            vec!["spec.pointInTime.timestamp", "in the future"],
        ),
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n  consumerGroups: [g]\n  resetStrategy: to-timestamp\n  resetTimestamp: yesterday\n",
                head("KafkaOffsetReset", "when")
            ),
            vec!["spec.resetTimestamp", "RFC 3339"],
        ),
        // The two kinds of issue 15, judged by the rules their controllers run.
        (
            format!(
                "{}  backupRef: {{name: nightly}}\n  schedule: {{cron: '0 25 * * *'}}\n",
                head("KafkaRestoreDrill", "never")
            ),
            vec!["spec.schedule.cron"],
        ),
        (
            format!("{}{storage}  syncPeriod: 10s\n", head("KafkaBackupLocation", "too-often")),
            vec!["spec.syncPeriod", "shorter than 30s"],
        ),
    ];
    for (yaml, expected) in &cases {
        let (ok, text) = cluster.kubectl_apply(&ns, yaml, &[])?;
        assert!(!ok, "accepted:\n{yaml}\n{text}");
        assert!(text.contains("is invalid"), "not refused: {text}");
        for e in expected {
            assert!(text.contains(e), "the denial does not mention `{e}`:\n{text}");
        }
    }

    // Refused by the CRD's schema and CEL rules (the API server applies them with or without the
    // webhook), also naming the field.
    let schema_cases = [
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n{storage}  retention: {{maxAge: 30 days}}\n",
                head("KafkaBackup", "age")
            ),
            "spec.retention.maxAge",
        ),
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n{storage}  retention: {{}}\n",
                head("KafkaBackup", "unbounded")
            ),
            "retention needs at least one bound",
        ),
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n  storage: {{type: gcs, s3: {{bucket: backups, region: r}}}}\n",
                head("KafkaBackup", "mismatch")
            ),
            "storage.gcs must be set when storage.type is gcs",
        ),
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n  kafkaCluster: {{bootstrapServers: 'k:9092'}}\n{storage}",
                head("KafkaBackup", "two-clusters")
            ),
            "set exactly one of spec.strimziClusterRef",
        ),
        (
            format!(
                "{}  strimziClusterRef: {{name: c}}\n  consumerGroups: [g]\n  resetStrategy: shift-by\n",
                head("KafkaOffsetReset", "no-shift")
            ),
            "shift-by needs shiftBy",
        ),
        (
            format!(
                "{}  backupRef: {{name: nightly}}\n  locationRef: {{name: dr}}\n",
                head("KafkaRestoreDrill", "two-sources")
            ),
            "set exactly one of spec.backupRef",
        ),
    ];
    for (yaml, expected) in &schema_cases {
        let (ok, text) = cluster.kubectl_apply(&ns, yaml, &[])?;
        assert!(!ok && text.contains("is invalid") && text.contains(expected), "{yaml}\n{text}");
    }

    // A minimal backup comes back with every default, and the warnings reach kubectl.
    let minimal = format!(
        "{}  strimziClusterRef: {{name: c}}\n{storage}  schedule: {{cron: '0 2 * * *', suspend: true}}\n  retention: {{maxAge: 1h}}\n",
        head("KafkaBackup", "minimal")
    );
    let (ok, text) = cluster.kubectl_apply(&ns, &minimal, &[])?;
    assert!(ok, "{text}");
    assert!(text.contains("Warning: spec.retention.maxAge 1h is shorter"), "{text}");
    // No word on the Secret s3-creds, which does not exist: the webhook reads no Secret (issue 14,
    // least privilege); a run that needs it says so in Ready (JobPodBlocked, least_privilege.rs).
    assert!(!text.contains("s3-creds"), "{text}");
    // Read untyped: a typed KafkaBackup would fill in serde's defaults on the way in.
    let untyped: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), &ns, &kube::api::ApiResource::erase::<KafkaBackup>(&()));
    let stored = serde_json::to_value(untyped.get("minimal").await?)?;
    let spec = &stored["spec"];
    let given = json!({
        "strimziClusterRef": {"name": "c"},
        "storage": {"type": "s3", "s3": {"bucket": "backups", "region": "r", "credentialsSecret": {"name": "s3-creds"}}},
        "schedule": {"cron": "0 2 * * *", "suspend": true},
        "retention": {"maxAge": "1h"},
    });
    assert_eq!(spec, &defaults::applied(&defaults::kafka_backup(), &given), "SPEC §2.2 defaults");
    assert_eq!(spec["backup"]["compression"], "zstd");
    assert_eq!(spec["schedule"]["timezone"], "UTC");
    assert_eq!(spec["topics"]["exclude"], json!(["__.*"]));
    assert_eq!(spec["deletionPolicy"], "Retain");

    // A minimal drill and location are stored with their defaults too (their mutating webhooks).
    let drill = format!(
        "{}  backupRef: {{name: nightly}}\n  schedule: {{cron: '0 4 * * 0', suspend: true}}\n",
        head("KafkaRestoreDrill", "weekly")
    );
    let location = format!("{}{storage}", head("KafkaBackupLocation", "dr"));
    for (yaml, kind, expected) in [
        (
            &drill,
            "kafkarestoredrill/weekly",
            json!({"restorePoint": "Newest", "parallelism": 4, "historyLimit": 10, "timezone": "UTC"}),
        ),
        (&location, "kafkabackuplocation/dr", json!({"syncPeriod": "5m", "accessMode": "ReadOnly"})),
    ] {
        let (ok, text) = cluster.kubectl_apply(&ns, yaml, &[])?;
        assert!(ok, "{text}");
        let out = cluster.kubectl(&["get", "-n", &ns, kind, "-o", "json"])?;
        let stored: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let spec = &stored["spec"];
        for (field, value) in expected.as_object().into_iter().flatten() {
            let found = if field == "timezone" { &spec["schedule"][field] } else { &spec[field] };
            assert_eq!(found, value, "{kind} spec.{field} not defaulted: {spec}");
        }
    }

    // A one-shot spec cannot change (the CRD's rule or the webhook, whichever speaks first).
    let restore = |ts: &str| {
        format!(
            "{}  strimziClusterRef: {{name: c}}\n  backupRef: {{name: nightly}}\n  pointInTime: {{timestamp: '{ts}'}}\n",
            head("KafkaRestore", "once")
        )
    };
    let (ok, text) = cluster.kubectl_apply(&ns, &restore("2026-01-01T00:00:00Z"), &[])?;
    assert!(ok, "{text}");
    let (ok, text) = cluster.kubectl_apply(&ns, &restore("2026-01-02T00:00:00Z"), &[])?;
    assert!(!ok && text.contains("create a new KafkaRestore"), "{text}");

    let denied = operator.metric("strimzi_backup_webhook_requests_total", &["verdict=\"denied\""]).await?;
    assert!(denied >= cases.len() as f64, "denials counted: {denied}");
    let timed = operator
        .metric("strimzi_backup_webhook_duration_seconds_count", &["webhook=\"validate-kafkabackup\""])
        .await?;
    assert!(timed >= 2.0, "latency observed: {timed}");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

fn completed(s: &KafkaBackupStatus) -> usize {
    s.backup_history.iter().filter(|b| b.status == BackupRunStatus::Completed).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn encryption_needs_a_licence_and_expiry_warns_but_never_stops_the_schedule() -> anyhow::Result<()> {
    // The operator must trust the test key: built with the `test-license` feature, as the
    // workspace build (`make build`) does through this crate's dependency.
    let probe = std::process::Command::new(strimzi_backup_e2e::dataplane::binary())
        .args(["license", "--help"])
        .output()?;
    anyhow::ensure!(
        probe.status.success(),
        "target/debug/strimzi-backup-operator was built without the test-license feature: run `make build`"
    );
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "webhook-licence").await?;
    cluster
        .apply_yaml(&ns, "apiVersion: v1\nkind: Secret\nmetadata: {name: aes}\nstringData: {key: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff}\n")
        .await?;
    let operator = Operator::start(env, &ns)?;
    let _registration = Registration::new(&cluster, &operator, &ns).await?;
    webhook::answering(&cluster, &ns, &operator).await?;
    let s = unique_suffix();
    let prefix = format!("e2e-licence-{s}/");
    let topic = format!("sealed{s}");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 50, recent())).await?;

    // No licence: denied, saying which field needs which edition and why.
    let (ok, text) = cluster.kubectl_apply(
        &ns,
        &licences::encrypted_backup(env, "sealed", "aes", &topic, &prefix)?,
        &[],
    )?;
    assert!(!ok, "{text}");
    assert!(
        text.contains("spec.backup.encryption: at-rest encryption needs the Enterprise edition"),
        "{text}"
    );
    assert!(text.contains("no licence is installed"), "{text}");

    // A licence signed by a key no build trusts, and a genuine one with its claims altered:
    // invalid, and still denied.
    for (token, id) in [(licences::WRONG_KEY, "wrong key"), (licences::TAMPERED, "tampered")] {
        licences::install(&cluster, &ns, token).await?;
        let text = wait_until(Duration::from_secs(30), &format!("the {id} licence to be seen"), || async {
            let (ok, text) = cluster.kubectl_apply(
                &ns,
                &licences::encrypted_backup(env, "sealed", "aes", &topic, &prefix)?,
                &[],
            )?;
            anyhow::ensure!(!ok, "accepted with a {id} licence: {text}");
            Ok(text.contains("signature does not verify").then_some(text))
        })
        .await?;
        assert!(text.contains("spec.backup.encryption"), "{text}");
        assert_eq!(operator.metric("strimzi_backup_license_info", &["state=\"invalid\""]).await?, 1.0);
    }

    // A valid licence: accepted, and the schedule runs encrypted backups.
    licences::install(&cluster, &ns, licences::VALID).await?;
    wait_until(Duration::from_secs(30), "the licence to be in effect", || async {
        let (ok, text) = cluster.kubectl_apply(
            &ns,
            &licences::encrypted_backup(env, "sealed", "aes", &topic, &prefix)?,
            &[],
        )?;
        Ok(ok.then_some(text))
    })
    .await?;
    assert_eq!(
        operator
            .metric("strimzi_backup_license_info", &["edition=\"enterprise\"", "state=\"valid\""])
            .await?,
        1.0
    );
    let api: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let st = wait_until(Duration::from_secs(150), "an encrypted backup", || async {
        let st = api.get("sealed").await?.status.unwrap_or_default();
        Ok((completed(&st) >= 1).then_some(st))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert!(st.licensed_settings.is_some(), "{st:?}");

    // Expired: new Enterprise use is denied, naming the date…
    licences::install(&cluster, &ns, licences::EXPIRED).await?;
    wait_until(Duration::from_secs(30), "the expiry to be seen", || async {
        let m = operator.metric("strimzi_backup_license_info", &["state=\"expired\""]).await?;
        Ok((m == 1.0).then_some(()))
    })
    .await?;
    let on = "2026-01-01";
    let (ok, text) = cluster.kubectl_apply(
        &ns,
        &licences::encrypted_backup(env, "sealed-too", "aes", &topic, &format!("{prefix}too/"))?,
        &[],
    )?;
    assert!(!ok && text.contains(&format!("expired on {on}")), "{text}");
    // …changing the existing object's Enterprise settings too…
    let (ok, text) = cluster.kubectl_apply(
        &ns,
        &licences::encrypted_backup(env, "sealed", "other-key", &topic, &prefix)?,
        &[],
    )?;
    assert!(!ok && text.contains("spec.backup.encryption"), "{text}");
    // …while the existing schedule keeps running, with a LicenseInvalid condition.
    let before = completed(&api.get("sealed").await?.status.unwrap_or_default());
    let st = wait_until(Duration::from_secs(150), "a scheduled backup after the expiry", || async {
        let st = api.get("sealed").await?.status.unwrap_or_default();
        Ok((completed(&st) > before).then_some(st))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let condition = st.conditions.iter().find(|c| c.type_ == "LicenseInvalid").cloned().unwrap_or_default();
    assert_eq!(condition.reason.as_deref(), Some("LicenseExpired"), "{st:?}");
    assert!(condition.message.unwrap_or_default().contains("keep running"));
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
    assert_eq!(ready.reason.as_deref(), Some("BackupCompleted"), "{st:?}");
    assert!(operator.metric("strimzi_backup_license_expiry_timestamp_seconds", &[]).await? > 0.0);

    // With the webhook bypassed (the namespace no longer selected), the controller refuses new
    // Enterprise settings itself: Ready=False, LicenseInvalid, and no Job.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client.clone());
    let unlabel = json!({"metadata": {"labels": {strimzi_backup_e2e::webhook::LABEL: null}}});
    namespaces.patch(&ns, &PatchParams::default(), &Patch::Merge(&unlabel)).await?;
    let bypass =
        licences::encrypted_backup(env, "sealed-bypass", "aes", &topic, &format!("{prefix}bypass/"))?;
    wait_until(Duration::from_secs(30), "the webhook to stop judging the namespace", || async {
        Ok(cluster.kubectl_apply(&ns, &bypass, &[])?.0.then_some(()))
    })
    .await?;
    let st = wait_until(Duration::from_secs(60), "the controller's licence check", || async {
        let st = api.get("sealed-bypass").await?.status.unwrap_or_default();
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        Ok(ready.filter(|c| c.reason.as_deref() == Some("LicenseInvalid")).map(|_| st))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let condition = st.conditions.iter().find(|c| c.type_ == "LicenseInvalid").cloned().unwrap_or_default();
    assert_eq!(condition.reason.as_deref(), Some("LicenseExpired"), "{st:?}");
    assert!(st.active_job.is_none() && st.backup_history.is_empty(), "{st:?}");
    assert!(st.licensed_settings.is_none());
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_certificate_is_picked_up_without_a_restart_or_a_failed_admission() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    cluster.install_crds().await?;
    let ns = cluster.namespace("webhook-rotate").await?;
    let operator = Operator::start(&cluster.env, &ns)?;
    let registration = Registration::new(&cluster, &operator, &ns).await?;
    webhook::answering(&cluster, &ns, &operator).await?;

    // Admissions all along: dry-run creates, each through both webhooks.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let admitted = Arc::new(AtomicU32::new(0));
    let load = tokio::spawn({
        let (client, ns, stop, admitted) =
            (cluster.client.clone(), ns.clone(), stop.clone(), admitted.clone());
        async move {
            let api: Api<KafkaBackup> = Api::namespaced(client, &ns);
            let params = PostParams { dry_run: true, ..PostParams::default() };
            let mut failed = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n = admitted.load(Ordering::Relaxed);
                let object: KafkaBackup = serde_json::from_value(json!({
                    "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup", "metadata": {"name": format!("b{n}")},
                    "spec": {"kafkaCluster": {"bootstrapServers": "127.0.0.1:1"}, "storage": {"type": "s3", "s3": {"bucket": "backups", "region": "r"}}}
                }))
                .unwrap_or_default();
                match api.create(&params, &object).await {
                    Ok(_) => {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failed.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            failed
        }
    });
    // Each step of the rotation is followed by this many admissions before the next, so every
    // in-between state (two CAs trusted; key and certificate disagreeing on disk; only the new CA)
    // is really crossed by admissions.
    let admissions = |n: u32| {
        let admitted = admitted.clone();
        async move {
            let from = admitted.load(Ordering::Relaxed);
            wait_until(Duration::from_secs(60), &format!("{n} admissions"), || async {
                Ok((admitted.load(Ordering::Relaxed) >= from + n).then_some(()))
            })
            .await
        }
    };

    // Rotation as cert-manager does it: the new CA joins the bundle, the pair on disk changes,
    // then the old CA leaves the bundle.
    let dir = operator.cert_dir.clone();
    let ca = strimzi_backup_webhook::self_signed::Authority::new()?;
    let leaf = ca.issue(&["localhost".into(), "127.0.0.1".into()])?;
    let old_ca = std::fs::read_to_string(dir.join("ca.crt"))?;
    let both = dir.join("both-cas.crt");
    std::fs::write(&both, format!("{old_ca}{}", ca.ca_pem()))?;
    registration.use_ca(&both)?;
    admissions(20).await?;
    // The key first, then the certificate, each by rename: for a moment they disagree.
    for (file, text) in [("tls.key", &leaf.key_pem), ("tls.crt", &leaf.cert_pem)] {
        std::fs::write(dir.join(format!("{file}.new")), text)?;
        std::fs::rename(dir.join(format!("{file}.new")), dir.join(file))?;
        admissions(5).await?;
    }
    wait_until(Duration::from_secs(20), "the operator to load the new certificate", || async {
        Ok(operator.log_text().contains("webhook serving certificate rotated").then_some(()))
    })
    .await?;
    let only_new = dir.join("new-ca.crt");
    std::fs::write(&only_new, ca.ca_pem())?;
    registration.use_ca(&only_new)?;
    admissions(40).await?;
    stop.store(true, Ordering::Relaxed);
    let failed = load.await?;
    assert!(failed.is_empty(), "failed admissions during the rotation: {failed:?}");
    // With only the new CA trusted, admissions still pass: the new certificate is served.
    webhook::answering(&cluster, &ns, &operator).await?;
    assert_eq!(operator.log_text().matches("serving the admission webhooks").count(), 1, "no restart");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
