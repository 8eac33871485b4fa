//! The kubectl plugin (`kubectl kafkabackup`, issue 15 §5) against the real API server: the built
//! binary `target/debug/kubectl-kafkabackup` is run as a user runs it, with a kubeconfig, and
//! every command's output and exit code is checked. The test plays the operator: it writes the
//! `KafkaRestorePoint`s and the status fields (a restore's plan and progress, a backup's
//! `lastTrigger`) the plugin reads, and checks what the plugin wrote (a `KafkaRestore`'s spec, a
//! backup's or drill's trigger annotation, a drill created). One test runs the operator itself for
//! `drill --wait`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::{Cluster, MANAGER, unique_suffix, wait_until};
use strimzi_backup_operator::api::{
    KafkaBackup, KafkaBackupLocation, KafkaRestore, KafkaRestoreDrill, KafkaRestorePoint, crds,
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The plugin binary `cargo build --workspace --bins` leaves.
fn binary() -> PathBuf {
    std::env::var_os("KUBECTL_KAFKABACKUP")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/kubectl-kafkabackup"))
}

/// One finished plugin run.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The plugin pointed at one test namespace of the local cluster.
struct Plugin {
    kubeconfig: PathBuf,
    ns: String,
}

impl Plugin {
    /// A command with `--kubeconfig` and `-n`, and no `KUBECONFIG` of the test's own.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(binary());
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(["-n", &self.ns]).args(args);
        cmd.env_remove("KUBECONFIG").stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> anyhow::Result<Run> {
        finished(self.command(args)).await
    }

    /// Starts a command whose stdout the test reads line by line.
    fn spawn(&self, args: &[&str]) -> anyhow::Result<tokio::process::Child> {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().with_context(|| {
            format!("starting {} (run `cargo build --workspace --bins`)", binary().display())
        })
    }
}

async fn finished(mut cmd: tokio::process::Command) -> anyhow::Result<Run> {
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .context("the plugin ran for over 60 s")?
        .with_context(|| format!("running {} (run `cargo build --workspace --bins`)", binary().display()))?;
    Ok(Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    })
}

/// Waits for a spawned command to exit: the rest of its stdout after `seen` (what was read of
/// it through `lines`), and its stderr.
async fn exited(
    child: tokio::process::Child,
    mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    mut seen: String,
) -> anyhow::Result<Run> {
    let finish = async {
        while let Some(line) = lines.next_line().await? {
            seen.push_str(&line);
            seen.push('\n');
        }
        anyhow::Ok(child.wait_with_output().await?)
    };
    let out = tokio::time::timeout(Duration::from_secs(60), finish)
        .await
        .context("the plugin did not exit within 60 s")??;
    Ok(Run {
        code: out.status.code().unwrap_or(-1),
        stdout: seen,
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    })
}

/// Reads a spawned command's stdout until a line contains `needle`: everything read so far.
async fn read_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: &mut String,
    needle: &str,
) -> anyhow::Result<()> {
    let wait = async {
        while let Some(line) = lines.next_line().await? {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(needle) {
                return Ok(());
            }
        }
        anyhow::bail!("the plugin's output ended without {needle:?}")
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .with_context(|| format!("no {needle:?} within 60 s; output so far:\n{seen}"))?
        .with_context(|| format!("output so far:\n{seen}"))
}

/// The CRDs as this build defines them (`crdgen`), applied when the environment's lack a field
/// the plugin uses (the environment installs the CRDs of the day it started).
async fn current_crds(cluster: &Cluster) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    let mut changed = Vec::new();
    for crd in crds() {
        let name = crd.metadata.name.clone().context("CRD without a name")?;
        let installed = api.get_opt(&name).await?;
        let wanted = serde_json::to_value(&crd.spec.versions)?;
        let have = installed.map(|c| serde_json::to_value(&c.spec.versions)).transpose()?;
        if have.as_ref() != Some(&wanted) {
            api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd)).await?;
            changed.push(name);
        }
    }
    for name in &changed {
        wait_until(Duration::from_secs(30), &format!("CRD {name} Established"), || async {
            let c = api.get(name).await?;
            let conditions = c.status.and_then(|s| s.conditions).unwrap_or_default();
            Ok(conditions.iter().any(|c| c.type_ == "Established" && c.status == "True").then_some(()))
        })
        .await?;
    }
    Ok(())
}

/// A namespace of the test's own, the current CRDs, and the plugin pointed there.
async fn setup(prefix: &str) -> anyhow::Result<(Cluster, Plugin)> {
    let cluster = Cluster::connect().await?;
    current_crds(&cluster).await?;
    let ns = cluster.namespace(prefix).await?;
    let kubeconfig = cluster.env.kubeconfig().to_path_buf();
    Ok((cluster, Plugin { kubeconfig, ns }))
}

fn dynamic_api<K: kube::Resource<DynamicType = ()>>(cluster: &Cluster, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(cluster.client.clone(), ns, &ApiResource::erase::<K>(&()))
}

async fn create<K: kube::Resource<DynamicType = ()>>(
    cluster: &Cluster,
    ns: &str,
    object: Value,
) -> anyhow::Result<()> {
    let object: DynamicObject = serde_json::from_value(object)?;
    dynamic_api::<K>(cluster, ns).create(&PostParams::default(), &object).await?;
    Ok(())
}

/// Merges `status` into an object's status, as the operator writes it.
async fn set_status<K: kube::Resource<DynamicType = ()>>(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    status: Value,
) -> anyhow::Result<()> {
    let patch = json!({"status": status});
    dynamic_api::<K>(cluster, ns).patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

fn storage() -> Value {
    json!({"type": "s3", "s3": {"bucket": "backups", "region": "us-east-1"}})
}

/// A KafkaBackup of Strimzi cluster `my-cluster` with mutual TLS, as the restore's default target.
async fn kafka_backup(cluster: &Cluster, ns: &str, name: &str) -> anyhow::Result<()> {
    create::<KafkaBackup>(
        cluster,
        ns,
        json!({
            "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup", "metadata": {"name": name},
            "spec": {"strimziClusterRef": {"name": "my-cluster"},
                     "authentication": {"type": "tls", "kafkaUserRef": {"name": "backup-user"}},
                     "storage": storage()}
        }),
    )
    .await
}

/// A restore point as the operator writes one: listed by `source` (`kind`, `name`).
async fn restore_point(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    source: (&str, &str),
    captured: &str,
    stored_bytes: i64,
) -> anyhow::Result<()> {
    create::<KafkaRestorePoint>(cluster, ns, json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestorePoint",
        "metadata": {"name": name, "labels": {
            "kafkabackup.com/source": source.1, "kafkabackup.com/source-kind": source.0}},
        "spec": {
            "backupId": format!("backup-{name}"), "source": {"kind": source.0, "name": source.1},
            "owner": "orders", "clusterId": "c-1", "formatVersion": 1,
            "capturedAt": captured, "completedAt": captured,
            "restorableFrom": "2026-12-01T00:00:00.000Z", "restorableTo": captured,
            "compression": "zstd",
            "lineage": {"parentId": "backup-parent", "startedBy": ["backup-first"],
                        "breaks": [{"topic": "orders", "partition": 2, "reason": "TopicRecreated"}]},
            "totals": {"topics": 2, "partitions": 4, "records": 1500, "rawBytes": 4_000_000, "storedBytes": stored_bytes},
            "topics": [
                {"name": "orders", "partitions": 3, "records": 1000, "bytes": 1_048_576,
                 "firstTimestamp": "2026-12-01T00:00:00.000Z", "lastTimestamp": captured,
                 "gaps": [{"partition": 1, "from": 100, "to": 150, "reason": "RetentionDeleted"}], "gapCount": 3},
                {"name": "payments", "partitions": 1, "records": 500, "bytes": 524_288}
            ],
            "consumerGroups": 2
        }
    }))
    .await
}

/// A command naming an object that does not exist exits 1 with kubectl's own words.
async fn not_found(plugin: &Plugin, args: &[&str], kind: &str, name: &str) -> anyhow::Result<()> {
    let run = plugin.run(args).await?;
    let ns = &plugin.ns;
    assert_eq!(
        (run.code, run.stderr),
        (1, format!("error: {kind} \"{name}\" not found in namespace \"{ns}\"\n"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_the_catalog_newest_first_per_backup_location_or_namespace() -> anyhow::Result<()> {
    let (cluster, plugin) = setup("plugin-list").await?;
    let ns = plugin.ns.clone();
    kafka_backup(&cluster, &ns, "orders").await?;
    create::<KafkaBackupLocation>(&cluster, &ns, json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackupLocation", "metadata": {"name": "dr"},
        "spec": {"storage": storage()}
    }))
    .await?;
    restore_point(&cluster, &ns, "orders-old", ("KafkaBackup", "orders"), "2026-12-01T10:00:00.000Z", 1536)
        .await?;
    restore_point(
        &cluster,
        &ns,
        "orders-new",
        ("KafkaBackup", "orders"),
        "2026-12-02T10:00:00.000Z",
        3 << 20,
    )
    .await?;
    restore_point(&cluster, &ns, "dr-one", ("KafkaBackupLocation", "dr"), "2026-12-03T10:00:00.000Z", 10)
        .await?;
    set_status::<KafkaRestorePoint>(
        &cluster,
        &ns,
        "orders-new",
        json!({"verification": {"result": "Passed", "records": 1500}}),
    )
    .await?;

    // One KafkaBackup's points, newest first, with the catalog's columns.
    let run = plugin.run(&["list", "orders"]).await?;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|l| l.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "BACKUP", "TOPICS", "FROM", "TO", "SIZE", "VERIFIED", "AGE"],
        "{}",
        run.stdout
    );
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!(
        lines[1][..7],
        [
            "orders-new",
            "backup-orders-new",
            "2",
            "2026-12-01T00:00:00Z",
            "2026-12-02T10:00:00Z",
            "3.0 MiB",
            "Passed"
        ],
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[2][..7],
        [
            "orders-old",
            "backup-orders-old",
            "2",
            "2026-12-01T00:00:00Z",
            "2026-12-01T10:00:00Z",
            "1.5 KiB",
            "-"
        ]
    );

    // A location's points; every point of the namespace; every namespace.
    let run = plugin.run(&["list", "--location", "dr"]).await?;
    assert_eq!((run.code, run.stdout.lines().count()), (0, 2), "{run:?}");
    assert!(run.stdout.lines().nth(1).is_some_and(|l| l.starts_with("dr-one ")), "{run:?}");
    let run = plugin.run(&["list"]).await?;
    let names: Vec<&str> = run.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["dr-one", "orders-new", "orders-old"], "{run:?}");
    let run = plugin.run(&["list", "-A"]).await?;
    assert!(run.stdout.starts_with("NAMESPACE "), "{run:?}");
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with(&format!("{ns} "))).count(), 3, "{run:?}");
    let run = plugin.run(&["list", "orders", "-o", "wide"]).await?;
    let header: Vec<&str> = run.stdout.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header[8..], ["SOURCE", "PARTITIONS", "RECORDS", "CAPTURED"], "{run:?}");
    assert!(run.stdout.contains("KafkaBackup/orders"), "{run:?}");

    // -o json: a List of the objects, in the same order.
    let run = plugin.run(&["list", "orders", "-o", "json"]).await?;
    let list: Value = serde_json::from_str(&run.stdout).with_context(|| format!("{run:?}"))?;
    assert_eq!(list["kind"], "List");
    let names: Vec<&str> = list["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["orders-new", "orders-old"]);
    assert_eq!(list["items"][0]["spec"]["totals"]["storedBytes"], 3 << 20);
    assert!(list["items"][0]["metadata"].get("managedFields").is_none());

    // NotFound: exit 1 and one line naming what is missing.
    let run = plugin.run(&["list", "nothing"]).await?;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, format!("error: kafkabackup \"nothing\" not found in namespace \"{ns}\"\n"));
    let run = plugin.run(&["list", "--location", "nowhere"]).await?;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, format!("error: kafkabackuplocation \"nowhere\" not found in namespace \"{ns}\"\n").as_str())
    );

    // --context picks the context of a kubeconfig, and with it its namespace.
    let kubeconfig = two_contexts(&plugin, &ns)?;
    let with_context = Plugin { kubeconfig: kubeconfig.clone(), ns: ns.clone() };
    let mut cmd = tokio::process::Command::new(binary());
    cmd.arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--context", "e2e", "list", "orders"])
        .env_remove("KUBECONFIG");
    let run = finished(cmd).await?;
    assert_eq!((run.code, run.stdout.lines().count()), (0, 3), "{run:?}");
    let run = with_context.run(&["list", "orders"]).await?;
    assert_eq!(run.code, 1, "the current context points nowhere: {run:?}");
    assert!(run.stderr.starts_with("error: ") && run.stderr.lines().count() == 1, "{run:?}");
    let _ = std::fs::remove_file(&kubeconfig);

    cluster.delete_namespace(&ns).await
}

/// A copy of the environment's kubeconfig whose current context points at a closed port, plus a
/// context `e2e` to the real API server with `ns` as its namespace.
fn two_contexts(plugin: &Plugin, ns: &str) -> anyhow::Result<PathBuf> {
    let mut config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&plugin.kubeconfig)?)?;
    let context = config["contexts"][0]["context"].clone();
    let user = context["user"].as_str().context("context user")?.to_string();
    let clusters = config["clusters"].as_sequence_mut().context("clusters")?;
    let mut nowhere = clusters[0].clone();
    nowhere["name"] = "nowhere".into();
    nowhere["cluster"]["server"] = "https://127.0.0.1:1".into();
    clusters.push(nowhere);
    let mut real = context.clone();
    real["namespace"] = ns.into();
    let contexts = config["contexts"].as_sequence_mut().context("contexts")?;
    contexts.push(serde_yaml_ng::from_value(serde_json::from_value(json!({"name": "e2e"}))?)?);
    let last = contexts.len() - 1;
    contexts[last]["context"] = real;
    let broken: serde_yaml_ng::Value =
        serde_yaml_ng::to_value(json!({"name": "broken", "context": {"cluster": "nowhere", "user": user}}))?;
    contexts.push(broken);
    config["current-context"] = "broken".into();
    let path = std::env::temp_dir().join(format!("plugin-kubeconfig-{}", unique_suffix()));
    std::fs::write(&path, serde_yaml_ng::to_string(&config)?)?;
    Ok(path)
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_shows_topics_gaps_lineage_verification_and_the_recoverability_window() -> anyhow::Result<()>
{
    let (cluster, plugin) = setup("plugin-describe").await?;
    let ns = plugin.ns.clone();
    kafka_backup(&cluster, &ns, "orders").await?;
    restore_point(&cluster, &ns, "p1", ("KafkaBackup", "orders"), "2026-12-02T10:00:00.000Z", 3 << 20)
        .await?;
    set_status::<KafkaRestorePoint>(&cluster, &ns, "p1", json!({"verification": {
        "result": "Failed", "drill": format!("{ns}/nightly"), "records": 1500, "mismatches": 1, "rtoSeconds": 12.5,
        "message": "orders partition 1 offset 120: value differs"}}))
    .await?;
    set_status::<KafkaBackup>(
        &cluster,
        &ns,
        "orders",
        json!({
        "firstRecoverabilityPoint": "2026-12-01T00:00:00Z", "lastRecoverabilityPoint": "2026-12-02T10:00:00Z",
        "lastSuccessfulBackup": "2026-12-02T10:05:00Z"}),
    )
    .await?;

    let run = plugin.run(&["describe", "p1"]).await?;
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    for expected in [
        "Backup Id:          backup-p1",
        "Source:             KafkaBackup/orders",
        "Restorable:         2026-12-01T00:00:00.000Z .. 2026-12-02T10:00:00.000Z",
        "Totals:             2 topics, 4 partitions, 1500 records, 3.8 MiB raw, 3.0 MiB stored",
        // Topics: partitions, records, bytes, time range, gaps.
        "  orders     3            1000      1.0 MiB     2026-12-01T00:00:00.000Z   2026-12-02T10:00:00.000Z   3",
        "  payments   1            500       512.0 KiB   <none>                     <none>                     0",
        "  orders   1           100    150   RetentionDeleted",
        "  (2 more not listed)",
        "  Parent:       backup-parent",
        "  Started By:   backup-first",
        "    orders   2           TopicRecreated",
        "  Result:       Failed",
        "  Mismatches:   1",
        "  RTO:          12.5s",
        "  Message:      orders partition 1 offset 120: value differs",
        "Recoverability (KafkaBackup orders):",
        "  First Point:  2026-12-01T00:00:00Z",
        "  Last Point:   2026-12-02T10:00:00Z",
        "  Last Backup:  2026-12-02T10:05:00Z",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }

    // -o yaml is the object itself.
    let run = plugin.run(&["describe", "p1", "-o", "yaml"]).await?;
    let point: KafkaRestorePoint =
        serde_yaml_ng::from_str(&run.stdout).with_context(|| format!("{run:?}"))?;
    assert_eq!((point.spec.backup_id.as_str(), point.spec.topics.len()), ("backup-p1", 2));

    let run = plugin.run(&["describe", "p2"]).await?;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, format!("error: kafkarestorepoint \"p2\" not found in namespace \"{ns}\"\n"));
    cluster.delete_namespace(&ns).await
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_writes_the_kafka_restore_the_flags_say_and_prints_its_plan() -> anyhow::Result<()> {
    let (cluster, plugin) = setup("plugin-restore").await?;
    let ns = plugin.ns.clone();
    kafka_backup(&cluster, &ns, "orders").await?;
    restore_point(&cluster, &ns, "p1", ("KafkaBackup", "orders"), "2026-12-02T10:00:00.000Z", 10).await?;
    let restores = dynamic_api::<KafkaRestore>(&cluster, &ns);

    // Every flag, waiting for the plan the operator (here: the test) posts.
    let mut child = plugin.spawn(&[
        "restore",
        "orders",
        "--to",
        "2026-12-02T09:30:00+01:00",
        "--topic",
        "orders.v1",
        "--rename",
        "orders.v1=orders-copy",
        "--approval",
        "Manual",
        "--name",
        "r1",
    ])?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut seen = String::new();
    read_until(&mut lines, &mut seen, "kafkarestore.kafkabackup.com/r1 created").await?;
    let spec = restores.get("r1").await?.data["spec"].clone();
    assert_eq!(spec["backupRef"], json!({"name": "orders"}), "{spec}");
    assert_eq!(spec["strimziClusterRef"]["name"], "my-cluster", "the KafkaBackup's cluster: {spec}");
    assert_eq!(spec["authentication"]["kafkaUserRef"]["name"], "backup-user", "{spec}");
    assert_eq!(spec["pointInTime"], json!({"timestamp": "2026-12-02T08:30:00.000Z"}), "{spec}");
    assert_eq!(spec["topics"]["include"], json!(["orders\\.v1"]), "{spec}");
    assert_eq!(
        spec["topicMapping"],
        json!([{"sourceTopic": "orders.v1", "targetTopic": "orders-copy"}]),
        "{spec}"
    );
    assert_eq!(spec["restore"]["approval"], "Manual", "{spec}");
    set_status::<KafkaRestore>(&cluster, &ns, "r1", json!({"phase": "Planned", "plan": {
        "hash": "0123456789abcdef", "backupId": "backup-p1", "pointInTime": "2026-12-02T08:30:00.000Z",
        "topics": [{"source": "orders.v1", "target": "orders-copy", "action": "create", "partitions": 3, "records": 1000, "bytes": 2048}],
        "topicCount": 1, "consumerGroups": {"count": 1, "names": ["billing"]}, "records": 1000, "bytes": 2048,
        "estimatedDurationSeconds": 42}}))
    .await?;
    let run = exited(child, lines, seen).await?;
    assert_eq!(run.code, 0, "{run:?}");
    for expected in [
        "phase: Planned\nplan:   0123456789abcdef\nbackup: backup-p1\nto:     2026-12-02T08:30:00.000Z\n",
        "orders.v1   orders-copy   create   3            1000      2.0 KiB\n",
        "total:  1 topics, 1000 records, 2.0 KiB\ngroups: 1 (billing)\nestimated duration: 42s\n",
        "approve with: kubectl annotate kafkarestore r1 kafkabackup.com/approve=0123456789abcdef\n",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?} in:\n{}", run.stdout);
    }

    // A restore point by reference, into another cluster, without waiting.
    let run = plugin
        .run(&[
            "restore",
            "--point",
            "p1",
            "--bootstrap-servers",
            "kafka:9092",
            "--to",
            "-2h",
            "--wait-plan=false",
        ])
        .await?;
    assert_eq!(run.code, 0, "{run:?}");
    let name = run
        .stdout
        .trim()
        .strip_prefix("kafkarestore.kafkabackup.com/")
        .and_then(|r| r.strip_suffix(" created"))
        .with_context(|| format!("{run:?}"))?;
    assert!(name.starts_with("orders-restore-"), "named after the point's KafkaBackup: {name}");
    let spec = restores.get(name).await?.data["spec"].clone();
    assert_eq!(
        (&spec["restorePointRef"], &spec["kafkaCluster"]),
        (&json!({"name": "p1"}), &json!({"bootstrapServers": "kafka:9092"})),
        "{spec}"
    );
    assert!(spec.get("backupRef").is_none() && spec.get("authentication").is_none(), "{spec}");
    let to = spec["pointInTime"]["timestamp"].as_str().context("timestamp")?;
    let ago = chrono::Utc::now() - chrono::DateTime::parse_from_rfc3339(to)?.with_timezone(&chrono::Utc);
    assert!((ago.num_seconds() - 7200).abs() < 60, "-2h resolved to {to}");

    // A server dry run stores nothing; the plan wait gives up with a clear message.
    let run = plugin.run(&["restore", "orders", "--name", "r-dry", "--dry-run"]).await?;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "kafkarestore.kafkabackup.com/r-dry created (server dry run)\n"),
        "{run:?}"
    );
    assert!(restores.get_opt("r-dry").await?.is_none());
    let run = plugin.run(&["restore", "orders", "--name", "r-wait", "--timeout", "2s"]).await?;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with("error: no plan for KafkaRestore r-wait within 2s (phase: <none>)"),
        "{run:?}"
    );

    // The API server's refusal, word for word: two topics restored into one.
    let args = [
        "restore",
        "orders",
        "--cluster",
        "my-cluster",
        "--name",
        "r-bad",
        "--rename",
        "a=same",
        "--rename",
        "b=same",
    ];
    let dry = plugin.run(&[&args[..], &["--dry-run=client", "-o", "json"]].concat()).await?;
    let object: DynamicObject = serde_json::from_str(&dry.stdout).with_context(|| format!("{dry:?}"))?;
    let refusal = match restores.create(&PostParams { dry_run: true, ..Default::default() }, &object).await {
        Err(kube::Error::Api(status)) => status.message,
        other => anyhow::bail!("the API server accepted two topics restored into one: {other:?}"),
    };
    let run = plugin.run(&args).await?;
    assert_eq!((run.code, run.stderr.clone()), (1, format!("error: {refusal}\n")), "{run:?}");
    assert!(refusal.contains("Duplicate value"), "{refusal}");

    not_found(&plugin, &["restore", "nothing"], "kafkabackup", "nothing").await?;
    cluster.delete_namespace(&ns).await
}

/// The operator's validating webhook refuses what the schema cannot (a point in time in the
/// future); the plugin prints that refusal as the API server words it, and exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn restore_prints_the_admission_webhooks_refusal_word_for_word() -> anyhow::Result<()> {
    use strimzi_backup_e2e::operator::Operator;
    use strimzi_backup_e2e::webhook::{Registration, answering};
    let (cluster, plugin) = setup("plugin-webhook").await?;
    let ns = plugin.ns.clone();
    let operator = Operator::start(&cluster.env, &ns)?;
    let registration = Registration::new(&cluster, &operator, &ns).await?;
    answering(&cluster, &ns, &operator).await?;

    let args = [
        "restore",
        "orders",
        "--cluster",
        "my-cluster",
        "--name",
        "r-future",
        "--to",
        "2099-01-01T00:00:00Z",
    ];
    let dry = plugin.run(&[&args[..], &["--dry-run=client", "-o", "json"]].concat()).await?;
    let object: DynamicObject = serde_json::from_str(&dry.stdout).with_context(|| format!("{dry:?}"))?;
    let restores = dynamic_api::<KafkaRestore>(&cluster, &ns);
    let refusal = match restores.create(&PostParams { dry_run: true, ..Default::default() }, &object).await {
        Err(kube::Error::Api(status)) => status.message,
        other => anyhow::bail!("the webhook let a restore to 2099 through: {other:?}"),
    };
    assert!(refusal.contains("denied the request") && refusal.contains("is in the future"), "{refusal}");
    let run = plugin.run(&args).await?;
    assert_eq!((run.code, run.stderr.clone()), (1, format!("error: {refusal}\n")), "{run:?}");
    assert!(restores.get_opt("r-future").await?.is_none());
    drop(registration);
    cluster.delete_namespace(&ns).await
}

/// A KafkaRestore named `name` as the plugin writes it, without waiting for a plan.
async fn plain_restore(plugin: &Plugin, name: &str) -> anyhow::Result<()> {
    let run = plugin.run(&["restore", "orders", "--name", name, "--wait-plan=false"]).await?;
    anyhow::ensure!(run.code == 0, "{run:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_follows_the_progress_and_exits_by_how_the_restore_ended() -> anyhow::Result<()> {
    let (cluster, plugin) = setup("plugin-watch").await?;
    let ns = plugin.ns.clone();
    kafka_backup(&cluster, &ns, "orders").await?;

    // Running with progress, then Completed: exit 0.
    plain_restore(&plugin, "ok").await?;
    let mut child = plugin.spawn(&["watch", "ok"])?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut seen = String::new();
    read_until(&mut lines, &mut seen, "Pending").await?;
    set_status::<KafkaRestore>(
        &cluster,
        &ns,
        "ok",
        json!({"phase": "Running",
        "progress": {"percent": 10, "recordsRestored": 100, "bytesRestored": 1_000_000}}),
    )
    .await?;
    read_until(&mut lines, &mut seen, " 10%  100 records").await?;
    set_status::<KafkaRestore>(
        &cluster,
        &ns,
        "ok",
        json!({"progress": {"percent": 40, "recordsRestored": 400, "bytesRestored": 4_000_000}}),
    )
    .await?;
    read_until(&mut lines, &mut seen, " 40%  400 records").await?;
    let line = seen.lines().last().unwrap_or_default().to_string();
    assert!(line.starts_with("[########------------]  40%  400 records  "), "{line}");
    assert!(line.contains(" records/s  ") && line.contains(" MB/s  ETA "), "rates and ETA: {line}");
    set_status::<KafkaRestore>(
        &cluster,
        &ns,
        "ok",
        json!({"phase": "Completed",
        "progress": {"percent": 100, "recordsRestored": 1000}, "restore": {"restoredRecords": 1000}}),
    )
    .await?;
    let run = exited(child, lines, seen).await?;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.ends_with("KafkaRestore ok Completed: 1000 records restored\n"), "{run:?}");

    // Running, then Failed: exit 1 with the Ready message.
    plain_restore(&plugin, "bad").await?;
    let mut child = plugin.spawn(&["watch", "bad"])?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut seen = String::new();
    read_until(&mut lines, &mut seen, "Pending").await?;
    let why = "target topic orders exists (existingTopicPolicy: fail)";
    set_status::<KafkaRestore>(
        &cluster,
        &ns,
        "bad",
        json!({"phase": "Failed", "conditions": [
        {"type": "Ready", "status": "False", "reason": "RestoreFailed", "message": why,
         "lastTransitionTime": "2026-12-03T00:00:00Z"}]}),
    )
    .await?;
    let run = exited(child, lines, seen).await?;
    assert_eq!((run.code, run.stderr), (1, format!("error: KafkaRestore bad Failed: {why}\n")));

    not_found(&plugin, &["watch", "nothing"], "kafkarestore", "nothing").await?;
    cluster.delete_namespace(&ns).await
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_sets_the_trigger_annotation_and_waits_for_the_run_it_started() -> anyhow::Result<()> {
    let (cluster, plugin) = setup("plugin-backup").await?;
    let ns = plugin.ns.clone();
    kafka_backup(&cluster, &ns, "orders").await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let annotation = |kb: &KafkaBackup| {
        kb.metadata.annotations.as_ref().and_then(|a| a.get("kafkabackup.com/trigger").cloned())
    };

    let run = plugin.run(&["backup", "orders"]).await?;
    assert_eq!(run.code, 0, "{run:?}");
    let value = run
        .stdout
        .trim()
        .strip_prefix("kafkabackup.kafkabackup.com/orders triggered: kafkabackup.com/trigger=")
        .with_context(|| format!("{run:?}"))?;
    assert_eq!(annotation(&backups.get("orders").await?).as_deref(), Some(value));
    let at = chrono::DateTime::parse_from_rfc3339(value)?;
    assert!((chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_seconds().abs() < 60, "{value}");

    // --wait: the run the operator started for this value, until it ends. The run of the first
    // value has ended already when it starts: that one is not waited for.
    set_status::<KafkaBackup>(
        &cluster,
        &ns,
        "orders",
        json!({"lastTrigger": value,
        "lastBackup": {"id": "orders-old", "status": "Completed"}}),
    )
    .await?;
    let mut child = plugin.spawn(&["backup", "orders", "--wait"])?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut seen = String::new();
    read_until(&mut lines, &mut seen, "triggered: ").await?;
    let second = annotation(&backups.get("orders").await?).context("annotation")?;
    assert_ne!(second, value, "a second trigger is a new value");
    set_status::<KafkaBackup>(
        &cluster,
        &ns,
        "orders",
        json!({"lastTrigger": second,
        "lastBackup": {"id": "orders-trigger-1", "status": "Running"}}),
    )
    .await?;
    read_until(&mut lines, &mut seen, "backup orders-trigger-1 started").await?;
    set_status::<KafkaBackup>(
        &cluster,
        &ns,
        "orders",
        json!({
        "lastBackup": {"id": "orders-trigger-1", "status": "Completed", "records": 5}}),
    )
    .await?;
    let run = exited(child, lines, seen).await?;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.ends_with("backup orders-trigger-1 Completed, 5 records\n"), "{run:?}");

    not_found(&plugin, &["backup", "nothing"], "kafkabackup", "nothing").await?;
    let run = plugin.run(&["version", "-o", "json"]).await?;
    assert_eq!(serde_json::from_str::<Value>(&run.stdout)?["clientVersion"], env!("CARGO_PKG_VERSION"));
    cluster.delete_namespace(&ns).await
}

/// A drill as the operator's status records it: `lastVerification` of a drill started at `start`.
fn drill_run(start: &str, result: &str, mismatches: Value) -> Value {
    let count = mismatches.as_array().map_or(0, Vec::len);
    json!({"lastVerification": {
        "restorePoint": "orders-new", "backupId": "backup-orders-new", "startTime": start,
        "completionTime": start, "result": result, "records": 1500, "mismatches": count,
        "rtoSeconds": 12.34, "firstMismatches": mismatches,
        "message": if count > 0 { "orders/1 offset 17: value differs" } else { "every record restored" }}})
}

/// Seconds-precision "now" as a Kubernetes time is written.
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread")]
async fn drill_creates_or_triggers_the_backups_drill_and_waits_for_its_result() -> anyhow::Result<()> {
    let (cluster, plugin) = setup("plugin-drill").await?;
    let ns = plugin.ns.clone();
    kafka_backup(&cluster, &ns, "orders").await?;
    create::<KafkaBackupLocation>(&cluster, &ns, json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackupLocation", "metadata": {"name": "prod"},
        "spec": {"storage": storage()}
    }))
    .await?;
    let drills: Api<KafkaRestoreDrill> = Api::namespaced(cluster.client.clone(), &ns);
    let trigger = |d: &KafkaRestoreDrill| {
        d.metadata.annotations.as_ref().and_then(|a| a.get("kafkabackup.com/trigger").cloned())
    };

    // No drill of `orders` yet: one is created, without a schedule (it runs once, now).
    let run = plugin
        .run(&[
            "drill",
            "orders",
            "--topic",
            "orders.v1",
            "--prefix",
            "check-",
            "--restore-point",
            "Sampled",
            "--max-records",
            "5000",
        ])
        .await?;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "kafkarestoredrill.kafkabackup.com/orders-drill created\n"),
        "{run:?}"
    );
    let created = drills.get("orders-drill").await?;
    let spec = serde_json::to_value(&created.spec)?;
    assert_eq!(spec["backupRef"], json!({"name": "orders"}));
    assert_eq!(
        (&spec["restorePoint"], &spec["topicPrefix"], &spec["maxRecords"]),
        (&json!("Sampled"), &json!("check-"), &json!(5000))
    );
    assert_eq!(spec["topics"]["include"], json!(["orders\\.v1"]));
    assert!(
        created.spec.schedule.is_none()
            && created.spec.target.is_none()
            && created.spec.location_ref.is_none(),
        "{spec}"
    );
    assert_eq!(trigger(&created), None);

    // Now there is one: it is triggered with a new value, and flags that describe a new drill
    // are refused rather than silently ignored.
    let run = plugin.run(&["drill", "orders"]).await?;
    assert_eq!(run.code, 0, "{run:?}");
    let value = run
        .stdout
        .trim()
        .strip_prefix("kafkarestoredrill.kafkabackup.com/orders-drill triggered: kafkabackup.com/trigger=")
        .with_context(|| format!("{run:?}"))?;
    assert_eq!(trigger(&drills.get("orders-drill").await?).as_deref(), Some(value));
    let run = plugin.run(&["drill", "orders", "--prefix", "other-"]).await?;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: --prefix describe a new drill, but KafkaRestoreDrill orders-drill exists"),
        "{run:?}"
    );
    assert_eq!(drills.get("orders-drill").await?.spec.topic_prefix.as_deref(), Some("check-"));

    // Two drills of `orders`: the plugin does not pick one; --drill does.
    create::<KafkaRestoreDrill>(&cluster, &ns, json!({
        "apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestoreDrill", "metadata": {"name": "weekly"},
        "spec": {"backupRef": {"name": "orders"}, "schedule": {"cron": "0 4 * * 0"}}
    }))
    .await?;
    let run = plugin.run(&["drill", "orders"]).await?;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            1,
            "error: KafkaBackup orders is drilled by 2 KafkaRestoreDrills (orders-drill, weekly): name one with --drill\n"
        )
    );
    let run = plugin.run(&["drill", "orders", "--drill", "weekly"]).await?;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(trigger(&drills.get("weekly").await?).is_some());
    let run = plugin.run(&["drill", "orders", "--drill", "prod-drill", "-o", "json"]).await?;
    assert_eq!(run.code, 0, "{run:?}");
    let printed: Value = serde_json::from_str(&run.stdout).with_context(|| format!("{run:?}"))?;
    assert_eq!(
        (&printed["kind"], &printed["metadata"]["name"]),
        (&json!("KafkaRestoreDrill"), &json!("prod-drill"))
    );
    assert_eq!(printed["spec"]["backupRef"], json!({"name": "orders"}));
    drills.delete("prod-drill", &Default::default()).await?;

    // A location's restore points: the cluster to restore into is required.
    let run = plugin.run(&["drill", "--location", "prod"]).await?;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("needs the cluster to restore into"), "{run:?}");
    let run = plugin.run(&["drill", "--location", "prod", "--cluster", "dr-kafka"]).await?;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "kafkarestoredrill.kafkabackup.com/prod-drill created\n"),
        "{run:?}"
    );
    let spec = serde_json::to_value(&drills.get("prod-drill").await?.spec)?;
    assert_eq!(
        (&spec["locationRef"], &spec["target"], spec.get("backupRef")),
        (&json!({"name": "prod"}), &json!({"strimziClusterRef": {"name": "dr-kafka"}}), None)
    );

    // --wait: a drill that ended before the trigger is not the result; the one started after it
    // is, printed with its first mismatches, exit 1 when it failed.
    let old =
        (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    set_status::<KafkaRestoreDrill>(&cluster, &ns, "weekly", drill_run(&old, "Passed", json!([]))).await?;
    let mut child = plugin.spawn(&["drill", "orders", "--drill", "weekly", "--wait"])?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut seen = String::new();
    read_until(&mut lines, &mut seen, "triggered: ").await?;
    let mismatches = json!([
        {"topic": "orders", "partition": 1, "offset": 17, "restoredOffset": 17, "what": "value"},
        {"topic": "orders", "partition": 2, "offset": 40, "what": "missing"}]);
    set_status::<KafkaRestoreDrill>(&cluster, &ns, "weekly", drill_run(&now_rfc3339(), "Failed", mismatches))
        .await?;
    let run = exited(child, lines, seen).await?;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "error: drill weekly Failed: orders/1 offset 17: value differs\n"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(
            "drill weekly Failed: restore point orders-new, 1500 records, 2 mismatches, RTO 12.3s\n\
             TOPIC    PARTITION   OFFSET   RESTORED OFFSET   WHAT\n\
             orders   1           17       17                value\n\
             orders   2           40       -                 missing\n"
        ),
        "{run:?}"
    );

    // A passing drill: exit 0.
    let mut child = plugin.spawn(&["drill", "orders", "--drill", "weekly", "--wait"])?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut seen = String::new();
    read_until(&mut lines, &mut seen, "triggered: ").await?;
    set_status::<KafkaRestoreDrill>(&cluster, &ns, "weekly", drill_run(&now_rfc3339(), "Passed", json!([])))
        .await?;
    let run = exited(child, lines, seen).await?;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.ends_with(
            "drill weekly Passed: restore point orders-new, 1500 records, 0 mismatches, RTO 12.3s\n"
        ),
        "{run:?}"
    );

    not_found(&plugin, &["drill", "nothing"], "kafkabackup", "nothing").await?;
    not_found(
        &plugin,
        &["drill", "--location", "nothing", "--cluster", "c"],
        "kafkabackuplocation",
        "nothing",
    )
    .await?;
    cluster.delete_namespace(&ns).await
}

/// `drill --wait` against the operator itself: a real backup of produced records, the drill the
/// plugin creates run by the controller as a Job, and the plugin exiting 0 with the evidence the
/// controller recorded; a second call triggers the same drill and waits for its new run.
#[tokio::test(flavor = "multi_thread")]
async fn drill_wait_prints_the_result_of_the_drill_the_operator_ran() -> anyhow::Result<()> {
    use strimzi_backup_e2e::dataplane::{create_topic, delete_topic, produce, recent, records};
    use strimzi_backup_e2e::operator::{Operator, backup_completed, minio_storage, namespace_with_kafka};
    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let ns = namespace_with_kafka(&cluster, "plugin-drill-op").await?;
    let s = unique_suffix();
    let topic = format!("pdr{s}-orders");
    create_topic(env, &topic, 1, &[]).await?;
    produce(env, &topic, 0, &records(&topic, 0, 50, recent())).await?;
    let operator = Operator::start(env, &ns)?;
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: orders}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}",
                minio_storage(env, &format!("e2e-plugin-drill-{s}/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "orders", Duration::from_secs(180))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    let points: Api<KafkaRestorePoint> = Api::namespaced(cluster.client.clone(), &ns);
    wait_until(Duration::from_secs(30), "the KafkaBackup's restore point", || async {
        let list =
            points.list(&kube::api::ListParams::default().labels("kafkabackup.com/source=orders")).await?;
        Ok((!list.items.is_empty()).then_some(()))
    })
    .await?;

    let plugin = Plugin { kubeconfig: env.kubeconfig().to_path_buf(), ns: ns.clone() };
    let prefix = format!("pdrill{s}-");
    let long = |args: &[&str]| {
        let cmd = plugin.command(args);
        async move {
            let out = tokio::time::timeout(Duration::from_secs(300), { cmd }.output())
                .await
                .context("the drill did not end within 300 s")??;
            anyhow::Ok(Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into(),
                stderr: String::from_utf8_lossy(&out.stderr).into(),
            })
        }
    };
    let expected = "records, 0 mismatches, RTO ";
    let run = long(&["drill", "orders", "--prefix", &prefix, "--wait"]).await?;
    assert_eq!(run.code, 0, "{run:?}\n{}", operator.log_text());
    assert!(run.stdout.starts_with("kafkarestoredrill.kafkabackup.com/orders-drill created\n"), "{run:?}");
    assert!(run.stdout.contains("drill orders-drill Passed: restore point orders-"), "{run:?}");
    assert!(run.stdout.contains(&format!(", 50 {expected}")), "{run:?}");
    let drills: Api<KafkaRestoreDrill> = Api::namespaced(cluster.client.clone(), &ns);
    let first = drills.get("orders-drill").await?.status.and_then(|s| s.last_verification);
    let first_job = first.and_then(|r| r.job).context("the first drill's Job")?;

    let run = long(&["drill", "orders", "--wait", "-o", "json"]).await?;
    assert_eq!(run.code, 0, "{run:?}\n{}", operator.log_text());
    let printed: Value = serde_json::from_str(&run.stdout).with_context(|| format!("{run:?}"))?;
    let last = &printed["status"]["lastVerification"];
    assert_eq!((&last["result"], &last["records"]), (&json!("Passed"), &json!(50)), "{printed}");
    assert_ne!(last["job"], json!(first_job), "a new drill, not the first one again");
    cluster.delete_namespace(&ns).await?;
    delete_topic(env, &topic).await
}

/// The krew manifest from release archives (hack/krew-manifest.sh, offline): the `Plugin` kind
/// krew reads, one platform per archive with that archive's URL and SHA-256, the binary and
/// licence it unpacks; a platform without its archive is an error naming it.
#[test]
fn the_krew_manifest_names_each_platforms_archive_and_its_sha256() -> anyhow::Result<()> {
    use sha2::Digest;
    let dir = std::env::temp_dir().join(format!("krew-{}", unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    let platforms = [("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")];
    let mut archives = Vec::new();
    let mut sums = std::collections::BTreeMap::new();
    std::fs::copy(workspace_root().join("LICENSE"), dir.join("LICENSE"))?;
    for (os, arch) in platforms {
        // A different binary per platform, so a SHA-256 in the wrong place shows.
        std::fs::write(dir.join("kubectl-kafkabackup"), format!("binary for {os}/{arch}"))?;
        let name = format!("kubectl-kafkabackup_v1.2.3_{os}_{arch}.tar.gz");
        let out = std::process::Command::new("tar")
            .arg("-czf")
            .arg(dir.join(&name))
            .arg("-C")
            .arg(&dir)
            .args(["kubectl-kafkabackup", "LICENSE"])
            .output()?;
        anyhow::ensure!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
        sums.insert((os, arch), hex::encode(sha2::Sha256::digest(std::fs::read(dir.join(&name))?)));
        archives.push(dir.join(name));
    }
    let script = |archives: &[PathBuf], output: &std::path::Path| {
        std::process::Command::new(workspace_root().join("hack/krew-manifest.sh"))
            .args(["--version", "v1.2.3", "--base-url", "https://example.com/releases/v1.2.3/", "--output"])
            .arg(output)
            .args(archives)
            .output()
    };
    let manifest_file = dir.join("kafkabackup.yaml");
    let out = script(&archives, &manifest_file)?;
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let manifest: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&manifest_file)?)?;
    assert_eq!(manifest["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
    assert_eq!((&manifest["kind"], &manifest["metadata"]["name"]), (&json!("Plugin"), &json!("kafkabackup")));
    let spec = &manifest["spec"];
    assert_eq!(spec["version"], "v1.2.3");
    assert!(spec["shortDescription"].as_str().is_some_and(|d| !d.is_empty() && d.len() <= 80), "{spec}");
    let listed = spec["platforms"].as_array().context("platforms")?;
    assert_eq!(listed.len(), platforms.len());
    for (os, arch) in platforms {
        let p = listed
            .iter()
            .find(|p| p["selector"]["matchLabels"] == json!({"os": os, "arch": arch}))
            .with_context(|| format!("no platform {os}/{arch}"))?;
        assert_eq!(
            p["uri"],
            format!("https://example.com/releases/v1.2.3/kubectl-kafkabackup_v1.2.3_{os}_{arch}.tar.gz")
        );
        assert_eq!(p["sha256"], sums[&(os, arch)], "{os}/{arch}");
        assert_eq!(p["bin"], "kubectl-kafkabackup");
        let from: Vec<&str> =
            p["files"].as_array().context("files")?.iter().filter_map(|f| f["from"].as_str()).collect();
        assert_eq!(from, ["kubectl-kafkabackup", "LICENSE"], "{os}/{arch}");
    }

    // The same archives again: the same file. One missing: refused, naming the platform.
    let again = dir.join("again.yaml");
    anyhow::ensure!(script(&archives, &again)?.status.success());
    assert_eq!(std::fs::read(&again)?, std::fs::read(&manifest_file)?);
    let out = script(&archives[..3], &dir.join("partial.yaml"))?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no archive for darwin/arm64"), "{out:?}");
    assert!(!dir.join("partial.yaml").exists());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
