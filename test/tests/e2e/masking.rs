//! e2e: masking on restore (issue 17 §4, licence feature `masking`) against the real broker,
//! MinIO and API server. A production-like topic restored to a dev topic: exactly the declared
//! JSON fields and headers change, every other byte (other fields, keys, headers, timestamps,
//! partitions, order) is as backed up; hashes are the keyed HMAC-SHA-256 that `openssl`
//! computes independently, equal across topics (a join on the masked email still works);
//! records a rule cannot read follow `onParseError` (fail names topic/partition/offset, skip
//! leaves them out with consumer offsets still right, pass writes them unchanged); a masked
//! restore killed twice and rerun holds every record once, the same as one uninterrupted run;
//! a repartitioned topic places records by the masked key. Through the operator: the hash key
//! comes from a Secret and is in no Job spec, status or log; the controller holds a masked
//! restore without a licence and runs it once one grants `masking`; the webhook refuses masking
//! with no licence, an expired one and one without the feature, and never a restore without
//! masking.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, LogParams};
use rdkafka::ClientConfig;
use rdkafka::consumer::Consumer;
use strimzi_backup_e2e::dataplane::{
    base_config, commit, committed, consume_all, create_topic, produce, recent, run_err, run_ok, sigkill,
    spawn, without_offsets,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::licences;
use strimzi_backup_e2e::operator::{
    Operator, backup_completed, finished_run, minio_storage, namespace_with_kafka,
};
use strimzi_backup_e2e::webhook::{self, Registration};
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};
use strimzi_backup_operator::format::record::{Header, Record, TimestampType};

/// The hash key: 32 bytes of ASCII, so `openssl -macopt key:` takes it as it is.
const KEY: &str = "e2e-masking-key-0123456789abcdef";

/// HMAC-SHA-256 of `content` under [`KEY`], hex, computed by openssl (not the product).
fn hmac_hex(content: &str) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt", &format!("key:{KEY}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    child.stdin.take().ok_or_else(|| anyhow::anyhow!("stdin"))?.write_all(content.as_bytes())?;
    let out = child.wait_with_output()?;
    let text = String::from_utf8(out.stdout)?;
    let hex = text.trim().rsplit(' ').next().unwrap_or_default().to_string();
    anyhow::ensure!(hex.len() == 64, "openssl said {text}");
    Ok(hex)
}

/// The key as a file, for data-plane runs (the operator mounts it from a Secret).
fn key_file() -> anyhow::Result<String> {
    let file = std::env::temp_dir().join(format!("sbo-e2e-mask-key-{}", unique_suffix()));
    std::fs::write(&file, KEY)?;
    Ok(file.to_string_lossy().to_string())
}

fn backup(env: &TestEnv, prefix: &str, topics: &str, groups: &str) -> anyhow::Result<serde_json::Value> {
    let config = format!(
        "{}topics:\n  include: [\"{topics}\"]\nconsumerGroups:\n  include: [\"{groups}\"]\n",
        base_config(env, prefix, None)?
    );
    run_ok(env, "backup", &config, &[])
}

fn email(i: usize) -> String {
    format!("user{}@example.com", i % 5)
}

/// A customer's value, its email and name spelled as given (so the test writes the masked
/// form by the same template); irregular spacing and number spelling that must survive.
fn customer_value(i: usize, email: &str, name: &str) -> String {
    format!("{{ \"id\": {i}, \"name\": {name},\"email\":{email} , \"tier\": \"gold\", \"amount\": 12.50e0 }}")
}

fn customers(n: usize, partition: i32, base: i64) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            offset: i as i64,
            timestamp: base + i as i64,
            timestamp_type: TimestampType::CreateTime,
            key: (i % 7 != 0).then(|| Bytes::from(format!("cust-{partition}-{i}"))),
            value: match i % 11 {
                // A tombstone stays a tombstone.
                10 => None,
                _ => Some(Bytes::from(customer_value(
                    i,
                    &format!("\"{}\"", email(i)),
                    &format!("\"Ann \\\"{i}\\\"\""),
                ))),
            },
            headers: vec![
                Header { key: "trace".into(), value: Some(Bytes::from(format!("t{i}"))) },
                Header { key: "pii".into(), value: Some(Bytes::from(format!("ssn-{i}"))) },
                Header { key: "null".into(), value: None },
            ],
        })
        .collect()
}

fn orders(n: usize, base: i64) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            offset: i as i64,
            timestamp: base + i as i64,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from(format!("order-{i}"))),
            value: Some(Bytes::from(format!("{{\"order\":{i},\"customerEmail\":\"{}\"}}", email(i + 2)))),
            headers: Vec::new(),
        })
        .collect()
}

fn text(b: &Option<Bytes>) -> String {
    String::from_utf8_lossy(b.as_deref().unwrap_or_default()).to_string()
}

#[tokio::test]
async fn masked_fields_change_as_declared_and_every_other_byte_is_kept() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-mask-{s}/");
    let (cust, ord) = (format!("mk{s}-customers"), format!("mk{s}-orders"));
    create_topic(&env, &cust, 2, &[]).await?;
    create_topic(&env, &ord, 1, &[]).await?;
    let base = recent();
    let produced = [customers(60, 0, base), customers(45, 1, base + 5)];
    for (p, recs) in produced.iter().enumerate() {
        produce(&env, &cust, p as i32, recs).await?;
    }
    let produced_orders = orders(30, base);
    produce(&env, &ord, 0, &produced_orders).await?;
    backup(&env, &prefix, &format!("mk{s}-.*"), "none")?;

    let config = format!(
        "{}topicMapping:\n  - {{sourceTopic: {cust}, targetTopic: {cust}-dev}}\n  - {{sourceTopic: {ord}, targetTopic: {ord}-dev}}\n\
         masking:\n  hashKeyFile: {}\n  rules:\n\
         \x20   - {{topics: ['mk{s}-cust.*'], target: value, jsonPath: '$.email', action: hash}}\n\
         \x20   - {{topics: ['{cust}'], target: value, jsonPath: '$.name', action: redact}}\n\
         \x20   - {{topics: ['{ord}'], target: value, jsonPath: '$.customerEmail', action: hash}}\n\
         \x20   - {{target: header, name: pii, action: drop}}\n",
        base_config(&env, &prefix, None)?,
        key_file()?
    );
    let result = run_ok(&env, "restore", &config, &["--restore-id", &format!("mask-{s}")])?;
    assert_eq!(result["restoredRecords"], 135, "{result}");
    // Every record changed (a header dropped at least), tombstones included.
    assert_eq!(result["masking"], serde_json::json!({"masked": 135, "skipped": 0, "passed": 0}), "{result}");

    let mut hashes = std::collections::BTreeMap::new();
    for k in 0..5 {
        hashes.insert(email(k), hmac_hex(&email(k))?);
    }
    for (p, recs) in produced.iter().enumerate() {
        let want: Vec<Record> = recs
            .iter()
            .map(|r| {
                let i = r.offset as usize;
                Record {
                    value: r.value.as_ref().map(|_| {
                        Bytes::from(customer_value(i, &format!("\"{}\"", hashes[&email(i)]), "null"))
                    }),
                    headers: r.headers.iter().filter(|h| h.key != "pii").cloned().collect(),
                    ..r.clone()
                }
            })
            .collect();
        let got = consume_all(&env, &format!("{cust}-dev"), p as i32)?;
        assert_eq!(
            without_offsets(&got),
            without_offsets(&want),
            "{cust}-dev/{p}: only the email (hashed), the name (null) and the pii header changed"
        );
    }
    let got_orders = consume_all(&env, &format!("{ord}-dev"), 0)?;
    let want_orders: Vec<Record> = produced_orders
        .iter()
        .map(|r| Record {
            value: Some(Bytes::from(format!(
                "{{\"order\":{},\"customerEmail\":\"{}\"}}",
                r.offset,
                hashes[&email(r.offset as usize + 2)]
            ))),
            ..r.clone()
        })
        .collect();
    assert_eq!(without_offsets(&got_orders), without_offsets(&want_orders));

    // The join: every order's masked email is a masked customer's email.
    let customer_emails: BTreeSet<String> = consume_all(&env, &format!("{cust}-dev"), 0)?
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(r.value.as_deref()?).ok())
        .filter_map(|v| v["email"].as_str().map(str::to_string))
        .collect();
    for o in &got_orders {
        let v: serde_json::Value = serde_json::from_slice(o.value.as_deref().unwrap_or_default())?;
        let e = v["customerEmail"].as_str().unwrap_or_default();
        assert!(customer_emails.contains(e), "order {} joins no customer: {e}", text(&o.key));
        assert!(!e.contains('@'), "masked: {e}");
    }
    Ok(())
}

#[tokio::test]
async fn records_a_rule_cannot_read_follow_the_declared_policy() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-mask-pe-{s}/");
    let (topic, group) = (format!("pe{s}"), format!("pe{s}-group"));
    create_topic(&env, &topic, 1, &[]).await?;
    let base = recent();
    let produced: Vec<Record> = (0..10)
        .map(|i| Record {
            offset: i,
            timestamp: base + i,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(match i {
                3 | 7 => format!("plain text {i}"),
                _ => format!("{{\"email\":\"a{i}@x.io\",\"n\":{i}}}"),
            })),
            headers: Vec::new(),
        })
        .collect();
    produce(&env, &topic, 0, &produced).await?;
    // The group's next record is the one that does not parse.
    commit(&env, &group, &topic, 0, 3)?;
    backup(&env, &prefix, &topic, &group)?;
    let masked = |r: &Record| Record {
        value: Some(Bytes::from(format!("{{\"email\":null,\"n\":{}}}", r.offset))),
        ..r.clone()
    };
    let config = |policy: &str, target: &str| -> anyhow::Result<String> {
        Ok(format!(
            "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\n\
             consumerGroups: {{mapping: [{{sourceGroup: {group}, targetGroup: {target}}}]}}\n\
             masking:\n  onParseError: {policy}\n  rules: [{{target: value, jsonPath: '$.email', action: redact}}]\n",
            base_config(&env, &prefix, None)?
        ))
    };

    let failed = run_err(&env, "restore", &config("fail", &format!("{topic}-fail"))?, &[])?;
    assert!(
        failed.contains(&format!("{topic}/0 offset 3"))
            && failed.contains("spec.masking.rules[0]")
            && failed.contains("not JSON")
            && failed.contains("onParseError"),
        "{failed}"
    );

    let target = format!("{topic}-skip");
    let result = run_ok(&env, "restore", &config("skip", &target)?, &[])?;
    assert_eq!(result["restoredRecords"], 8, "{result}");
    assert_eq!(result["masking"]["skipped"], 2, "{result}");
    let want: Vec<Record> = produced.iter().filter(|r| ![3, 7].contains(&r.offset)).map(masked).collect();
    let got = consume_all(&env, &target, 0)?;
    assert_eq!(without_offsets(&got), without_offsets(&want));
    // The group resumes at the first restored record after the one left out: record 4.
    let at_4 = got.iter().find(|r| r.key.as_deref() == Some(&b"k4"[..])).map(|r| r.offset);
    assert_eq!(committed(&env, &target, &target, 0)?, at_4);

    let target = format!("{topic}-pass");
    let result = run_ok(&env, "restore", &config("pass", &target)?, &[])?;
    assert_eq!(result["restoredRecords"], 10, "{result}");
    assert_eq!(result["masking"]["passed"], 2, "{result}");
    let want: Vec<Record> =
        produced.iter().map(|r| if [3, 7].contains(&r.offset) { r.clone() } else { masked(r) }).collect();
    assert_eq!(without_offsets(&consume_all(&env, &target, 0)?), without_offsets(&want));
    Ok(())
}

#[tokio::test]
async fn a_masked_restore_killed_twice_holds_every_record_once_as_one_uninterrupted_run() -> anyhow::Result<()>
{
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-mask-kill-{s}/");
    let topic = format!("mkk{s}");
    create_topic(&env, &topic, 2, &[]).await?;
    let n = 15_000;
    let pad = "p".repeat(900);
    for p in 0..2 {
        let recs: Vec<Record> = (0..n)
            .map(|i| Record {
                offset: i as i64,
                timestamp: recent() + i as i64,
                timestamp_type: TimestampType::CreateTime,
                key: Some(Bytes::from(format!("c{}", i % 97))),
                value: Some(Bytes::from(format!("{{\"email\":\"{}\",\"pad\":\"{pad}\"}}", email(i)))),
                headers: Vec::new(),
            })
            .collect();
        produce(&env, &topic, p, &recs).await?;
    }
    backup(&env, &prefix, &topic, "none")?;
    let key = key_file()?;
    let config = |target: &str| -> anyhow::Result<String> {
        Ok(format!(
            "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}}}]\nrestore: {{parallelism: 2}}\n\
             masking:\n  hashKeyFile: {key}\n  rules: [{{target: value, jsonPath: '$.email', action: hash}}, {{target: key, action: hash}}]\n",
            base_config(&env, &prefix, None)?
        ))
    };
    let clean = format!("{topic}-clean");
    run_ok(&env, "restore", &config(&clean)?, &[])?;

    let target = format!("{topic}-killed");
    let id = format!("mkill-{s}");
    let probe: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env.kafka_bootstrap())
        .set("isolation.level", "read_uncommitted")
        .create()?;
    let end = |p: i32| probe.fetch_watermarks(&target, p, Duration::from_millis(100)).map_or(0, |w| w.1);
    let total = 2 * n as i64;
    for kill_at in [1, total / 3] {
        let mut child = spawn(&env, "restore", &config(&target)?, &["--restore-id", &id])?;
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let written = loop {
            let hw = end(0) + end(1);
            if hw >= kill_at {
                break hw;
            }
            anyhow::ensure!(child.try_wait()?.is_none(), "the restore ended before it was killed");
            anyhow::ensure!(std::time::Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        sigkill(&mut child)?;
        anyhow::ensure!(written < total, "killed after the restore finished ({written}); nothing proven");
    }
    let result = run_ok(&env, "restore", &config(&target)?, &["--restore-id", &id])?;
    assert_eq!(result["restoredRecords"], total);
    for p in 0..2 {
        let got = consume_all(&env, &target, p)?;
        let want = consume_all(&env, &clean, p)?;
        assert_eq!(got.len(), n, "partition {p}: no duplicate, no loss");
        assert_eq!(without_offsets(&got), without_offsets(&want), "partition {p}: the same masked records");
        let first: serde_json::Value = serde_json::from_slice(got[0].value.as_deref().unwrap_or_default())?;
        assert_eq!(first["email"].as_str(), Some(hmac_hex(&email(0))?.as_str()));
        assert_eq!(got[0].key.as_deref(), Some(hmac_hex("c0")?.as_bytes()));
    }
    Ok(())
}

#[tokio::test]
async fn a_repartitioned_topic_places_records_by_the_masked_key() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let s = unique_suffix();
    let prefix = format!("e2e-mask-rp-{s}/");
    let topic = format!("mkr{s}");
    create_topic(&env, &topic, 1, &[]).await?;
    let recs = orders(200, recent());
    produce(&env, &topic, 0, &recs).await?;
    backup(&env, &prefix, &topic, "none")?;
    let target = format!("{topic}-3");
    let config = format!(
        "{}topicMapping: [{{sourceTopic: {topic}, targetTopic: {target}, partitions: 3}}]\n\
         masking:\n  hashKeyFile: {}\n  rules: [{{target: key, action: hash}}]\n",
        base_config(&env, &prefix, None)?,
        key_file()?
    );
    let result = run_ok(&env, "restore", &config, &[])?;
    assert_eq!(result["restoredRecords"], 200);
    // Each original record by its masked key (one openssl run per record).
    let mut by_masked_key = std::collections::HashMap::new();
    for o in &recs {
        by_masked_key.insert(hmac_hex(&text(&o.key))?.into_bytes(), o);
    }
    let mut seen = 0;
    for p in 0..3 {
        for r in consume_all(&env, &target, p)? {
            let key = r.key.as_deref().unwrap_or_default();
            let original = by_masked_key.get(key).ok_or_else(|| {
                anyhow::anyhow!("{target}/{p}: key {} is no masked key", String::from_utf8_lossy(key))
            })?;
            assert_eq!(r.value, original.value);
            assert_eq!(
                strimzi_backup_operator::restore::repartition::partition_for_key(key, 3),
                p,
                "placed by the masked key"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 200);
    Ok(())
}

/// How many containers of `job` mount Secret `mask-key`'s `hmac` as the file
/// `/etc/strimzi-backup/masking/key`, read-only.
fn masking_key_mounts(job: &Job) -> usize {
    let Some(pod) = job.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else { return 0 };
    let volume = pod.volumes.iter().flatten().find(|v| {
        v.secret.as_ref().is_some_and(|s| {
            s.secret_name.as_deref() == Some("mask-key")
                && s.items.iter().flatten().any(|i| i.key == "hmac" && i.path == "key")
        })
    });
    let Some(volume) = volume else { return 0 };
    pod.containers
        .iter()
        .filter(|c| {
            c.volume_mounts.iter().flatten().any(|m| {
                m.name == volume.name
                    && m.mount_path == "/etc/strimzi-backup/masking"
                    && m.read_only == Some(true)
            })
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_operator_the_key_stays_in_its_secret_and_masking_follows_the_licence()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "mask").await?;
    let s = unique_suffix();
    let topic = format!("mko{s}");
    create_topic(env, &topic, 1, &[]).await?;
    let produced = orders(40, recent());
    produce(env, &topic, 0, &produced).await?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: mask-key}}\nstringData: {{hmac: {KEY}}}\n"
            ),
        )
        .await?;
    let operator = Operator::start(env, &ns)?;
    let prefix = format!("e2e-op-mask-{s}/");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: src}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "src", Duration::from_secs(120))
        .await
        .map_err(|e| e.context(operator.log_text()))?;

    let restore = |name: &str, masking: bool| {
        let masking = if masking {
            "  masking:\n    hashKeySecret: {name: mask-key, key: hmac}\n    rules: [{target: value, jsonPath: '$.customerEmail', action: hash}]\n"
        } else {
            ""
        };
        format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: src}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {topic}-{name}}}]\n{masking}"
        )
    };
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);

    // No webhook and no licence: the controller holds the masked restore, and starts no Job.
    cluster.apply_yaml(&ns, &restore("dev", true)).await?;
    wait_until(Duration::from_secs(60), "the masked restore held for its licence", || async {
        let st = restores.get("dev").await?.status.unwrap_or_default();
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        Ok(ready.filter(|c| c.reason.as_deref() == Some("LicenseInvalid")).map(|c| (c, st.phase)))
    })
    .await
    .map(|(c, phase)| {
        assert!(c.message.as_deref().unwrap_or_default().contains("spec.masking"), "{c:?}");
        assert_ne!(phase, Some(RunPhase::Completed));
    })
    .map_err(|e| e.context(operator.log_text()))?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    assert!(
        jobs.list(&ListParams::default())
            .await?
            .items
            .iter()
            .all(|j| { !j.metadata.name.as_deref().unwrap_or_default().starts_with("dev") }),
        "no Job for a restore the licence does not allow"
    );

    // A licence granting masking: it runs, the email hashed with the Secret's key.
    licences::install(&cluster, &ns, &licences::issued(&["masking"], 30)?).await?;
    let run = finished_run(&restores, "dev", Duration::from_secs(240), |r| r.status.as_ref()?.phase)
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let st = run.status.clone().unwrap_or_default();
    assert_eq!(st.phase, Some(RunPhase::Completed), "{st:?}\n{}", operator.log_text());
    let got = consume_all(env, &format!("{topic}-dev"), 0)?;
    let want: Vec<Record> = produced
        .iter()
        .map(|r| -> anyhow::Result<Record> {
            Ok(Record {
                value: Some(Bytes::from(format!(
                    "{{\"order\":{},\"customerEmail\":\"{}\"}}",
                    r.offset,
                    hmac_hex(&email(r.offset as usize + 2))?
                ))),
                ..r.clone()
            })
        })
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(without_offsets(&got), without_offsets(&want));

    // The key is nowhere but in its Secret: not in the Jobs, the status, the operator's log or
    // the Jobs' pods' logs.
    let mut seen = serde_json::to_string(&st)?;
    let mut key_mounts = 0;
    for job in jobs.list(&ListParams::default()).await?.items {
        seen.push_str(&serde_json::to_string(&job)?);
        if job.metadata.name.as_deref().unwrap_or_default().starts_with("dev") {
            key_mounts += masking_key_mounts(&job);
        }
    }
    assert!(key_mounts > 0, "the restore's Jobs mount the key from its Secret");
    // The Jobs' configs (ConfigMaps) name the mounted file, never the key.
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let configs = serde_json::to_string(&config_maps.list(&ListParams::default()).await?.items)?;
    assert!(configs.contains("/etc/strimzi-backup/masking/key"), "the config names the key's file");
    seen.push_str(&configs);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let mut pod_logs = 0;
    for pod in pods.list(&ListParams::default()).await?.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if name.starts_with("dev") {
            seen.push_str(&pods.logs(&name, &LogParams::default()).await.unwrap_or_default());
            pod_logs += 1;
        }
    }
    seen.push_str(&operator.log_text());
    assert!(!seen.contains(KEY), "the hash key leaked into a Job, a ConfigMap, the status or a log");
    assert!(pod_logs > 0, "the restore's pods were looked at");

    // The webhook: masking needs a licence granting it; a restore without masking never does.
    let _registration = Registration::new(&cluster, &operator, &ns).await?;
    webhook::answering(&cluster, &ns, &operator).await?;
    for (token, why) in licences::refusing("masking")? {
        licences::put(&cluster, &ns, token.as_deref()).await?;
        wait_until(Duration::from_secs(60), &format!("a masked restore refused ({why})"), || async {
            let (ok, text) = cluster.kubectl_apply(&ns, &restore("refused", true), &["--dry-run=server"])?;
            Ok((!ok && text.contains("spec.masking") && text.contains(&why)).then_some(()))
        })
        .await?;
        let (ok, text) = cluster.kubectl_apply(&ns, &restore("plain", false), &["--dry-run=server"])?;
        assert!(ok, "a restore without masking needs no licence: {text}");
    }
    licences::install(&cluster, &ns, &licences::issued(&["masking"], 30)?).await?;
    wait_until(
        Duration::from_secs(60),
        "a masked restore admitted under a licence granting masking",
        || async {
            let (ok, _) = cluster.kubectl_apply(&ns, &restore("admitted", true), &["--dry-run=server"])?;
            Ok(ok.then_some(()))
        },
    )
    .await?;
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
