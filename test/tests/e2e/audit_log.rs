//! e2e: the audit log in PostgreSQL (issue 17 §2, docs/enterprise.md "Audit log"), against the
//! real PostgreSQL of the local environment (`hack/postgres.sh`), read directly with sqlx. Each
//! test gets a database of its own in the shared instance (its chain, its tampering), and the
//! outage test a second private instance on another port, so stopping it touches nobody else.
//!
//! - Admission decisions with the user (`kubectl --as`), a backup run started and finished with
//!   its figures, `verify-audit` passing; the audit user cannot change a row; a row changed by the
//!   superuser (triggers off) makes `verify-audit` fail naming it.
//! - The database stopped: admission and backups go on, the queue, the metrics and the Event
//!   say so; a full queue drops and counts; back up, the queued events arrive and a Gap row
//!   records exactly what was dropped; the chain verifies.
//! - Licence: none → no rows, the reason in a metric and an Event; valid → rows; expired → rows
//!   go on, with a warning.

use std::path::PathBuf;
use std::time::Duration;

use kube::api::Api;
use sqlx::Row as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use strimzi_backup_e2e::dataplane::{binary, create_topic, produce, recent, records};
use strimzi_backup_e2e::env::{TestEnv, workspace_root};
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};
use strimzi_backup_e2e::licences;
use strimzi_backup_e2e::operator::{
    Operator, backup_completed, event, free_port, minio_storage, namespace_with_kafka,
};
use strimzi_backup_e2e::webhook::{self, Registration};
use strimzi_backup_operator::api::backup::KafkaBackup;
use strimzi_backup_operator::audit::store::Connection;

/// The audit Secret's name the operator's Role may read (config/rbac).
const SECRET: &str = "strimzi-backup-audit";

/// One database: where the operator writes, and how the test reads it.
struct Db {
    url: String,
    ca: PathBuf,
}

impl Db {
    async fn pool(&self) -> anyhow::Result<PgPool> {
        let connection = Connection { url: self.url.clone(), ca_pem: Some(std::fs::read(&self.ca)?) };
        Ok(PgPoolOptions::new().max_connections(2).connect_with(connection.options()?).await?)
    }
}

/// A fresh database `audit_<suffix>` owned by `audit` in the environment's instance.
async fn fresh_db(env: &TestEnv) -> anyhow::Result<Db> {
    let ca = PathBuf::from(env.get("AUDIT_DATABASE_CA_FILE")?);
    let admin = Db { url: env.get("AUDIT_DATABASE_SUPERUSER_URL")?.into(), ca: ca.clone() };
    let name = format!("audit_{}", unique_suffix().to_lowercase().replace('-', "_"));
    let pool = admin.pool().await?;
    sqlx::query(&format!("CREATE DATABASE {name} OWNER audit")).execute(&pool).await?;
    pool.close().await;
    let url = env.get("AUDIT_DATABASE_URL")?.replacen("/audit?", &format!("/{name}?"), 1);
    Ok(Db { url, ca })
}

/// The same database as the superuser (for tampering).
fn as_superuser(env: &TestEnv, db: &Db) -> anyhow::Result<Db> {
    let name = db.url.split('/').nth(3).and_then(|p| p.split('?').next()).unwrap_or("audit");
    let url = env.get("AUDIT_DATABASE_SUPERUSER_URL")?.replacen("/audit?", &format!("/{name}?"), 1);
    Ok(Db { url, ca: db.ca.clone() })
}

async fn audit_secret(cluster: &Cluster, ns: &str, db: &Db) -> anyhow::Result<()> {
    let ca = std::fs::read_to_string(&db.ca)?;
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET},
        "stringData": {"url": db.url, "ca.crt": ca},
    });
    cluster.apply_yaml(ns, &serde_yaml_ng::to_string(&secret)?).await?;
    Ok(())
}

/// One stored row, as queries see it.
#[derive(Debug, Clone)]
struct Row {
    seq: i64,
    kind: String,
    outcome: String,
    actor: Option<String>,
    object_name: Option<String>,
    event: serde_json::Value,
}

/// The rows of `pool` in order; none while the writer has not created the table.
async fn rows(pool: &PgPool) -> anyhow::Result<Vec<Row>> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('audit_log')::text").fetch_one(pool).await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let found =
        sqlx::query("SELECT seq, kind, outcome, actor, object_name, event FROM audit_log ORDER BY seq")
            .fetch_all(pool)
            .await?;
    found
        .into_iter()
        .map(|r| {
            Ok(Row {
                seq: r.try_get("seq")?,
                kind: r.try_get("kind")?,
                outcome: r.try_get("outcome")?,
                actor: r.try_get("actor")?,
                object_name: r.try_get("object_name")?,
                event: serde_json::from_str(&r.try_get::<String, _>("event")?)?,
            })
        })
        .collect()
}

/// Waits until `pick` finds what it looks for in the rows.
async fn row_where<T>(
    pool: &PgPool,
    operator: &Operator,
    what: &str,
    pick: impl Fn(&[Row]) -> Option<T>,
) -> anyhow::Result<T> {
    wait_until(Duration::from_secs(90), what, || async { Ok(pick(&rows(pool).await?)) })
        .await
        .map_err(|e| e.context(operator.log_text()))
}

/// `verify-audit` on `db`: whether it passed, and what it printed.
fn verify_audit(db: &Db) -> anyhow::Result<(bool, String)> {
    let file = std::env::temp_dir().join(format!("audit-url-{}", unique_suffix()));
    std::fs::write(&file, &db.url)?;
    let out = std::process::Command::new(binary())
        .args(["verify-audit", "--url-file"])
        .arg(&file)
        .arg("--ca-file")
        .arg(&db.ca)
        .env_remove("STRIMZI_BACKUP_AUDIT_URL")
        .output()?;
    let _ = std::fs::remove_file(&file);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    anyhow::ensure!(!text.contains(&db.url), "verify-audit printed the URL with its password: {text}");
    Ok((out.status.success(), text))
}

fn backup_yaml(env: &TestEnv, name: &str, topic: &str, prefix: &str) -> anyhow::Result<String> {
    Ok(format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  backup: {{segmentSize: 1048576, parallelism: 1}}\n{}",
        minio_storage(env, prefix, "minio-credentials", 2)?
    ))
}

/// Everything an audit test starts with: a namespace with Kafka, a database, the Secret, an
/// operator told to audit, its webhooks registered.
struct Setup {
    cluster: Cluster,
    ns: String,
    operator: Operator,
    _registration: Registration,
}

async fn setup(
    prefix: &str,
    db: &Db,
    licence_token: Option<&str>,
    extra: &[(&str, &str)],
) -> anyhow::Result<Setup> {
    let cluster = Cluster::connect().await?;
    let ns = namespace_with_kafka(&cluster, prefix).await?;
    audit_secret(&cluster, &ns, db).await?;
    if let Some(token) = licence_token {
        licences::install(&cluster, &ns, token).await?;
    }
    let mut env_vars = vec![("STRIMZI_BACKUP_AUDIT_SECRET", SECRET)];
    env_vars.extend_from_slice(extra);
    let operator = Operator::start_with_env(&cluster.env, &ns, &env_vars)?;
    let registration = Registration::new(&cluster, &operator, &ns).await?;
    webhook::answering(&cluster, &ns, &operator).await?;
    Ok(Setup { cluster, ns, operator, _registration: registration })
}

#[tokio::test(flavor = "multi_thread")]
async fn admissions_and_runs_are_chained_with_the_user_and_a_changed_row_is_named() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let db = fresh_db(&env).await?;
    let token = licences::issued(&["audit"], 30)?;
    let Setup { cluster, ns, operator, _registration } = setup("audit-chain", &db, Some(&token), &[]).await?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("audited{s}"), format!("e2e-audit-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    produce(&env, &topic, 0, &records(&topic, 0, 20, recent())).await?;

    // Alice creates a KafkaBackup (allowed) and one with an invalid schedule (denied).
    let as_alice = ["--as", "alice", "--as-group", "system:masters"];
    let (ok, text) =
        cluster.kubectl_apply(&ns, &backup_yaml(&env, "audited", &topic, &prefix)?, &as_alice)?;
    anyhow::ensure!(ok, "{text}");
    let bad = backup_yaml(&env, "bad-cron", &topic, &prefix)? + "  schedule: {cron: '61 * * * *'}\n";
    let (ok, text) = cluster.kubectl_apply(&ns, &bad, &as_alice)?;
    anyhow::ensure!(!ok, "an invalid cron was admitted: {text}");
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "audited", Duration::from_secs(120))
        .await
        .map_err(|e| e.context(operator.log_text()))?;

    let pool = db.pool().await?;
    let admitted = row_where(&pool, &operator, "alice's allowed CREATE", |rows| {
        rows.iter()
            .find(|r| {
                r.kind == "Admission" && r.outcome == "Allowed" && r.object_name.as_deref() == Some("audited")
            })
            .cloned()
    })
    .await?;
    assert_eq!(admitted.actor.as_deref(), Some("alice"), "{admitted:?}");
    assert_eq!(admitted.event["figures"]["operation"], "CREATE", "{admitted:?}");
    assert_eq!(admitted.event["namespace"], ns.as_str());
    assert!(admitted.event["object"]["uid"].as_str().is_some_and(|u| !u.is_empty()), "{admitted:?}");
    let denied = row_where(&pool, &operator, "alice's denied CREATE", |rows| {
        rows.iter()
            .find(|r| {
                r.kind == "Admission" && r.outcome == "Denied" && r.object_name.as_deref() == Some("bad-cron")
            })
            .cloned()
    })
    .await?;
    assert_eq!(denied.actor.as_deref(), Some("alice"));
    assert!(denied.event["reason"].as_str().is_some_and(|r| r.contains("spec.schedule")), "{denied:?}");
    let finished = row_where(&pool, &operator, "the backup's finished row", |rows| {
        rows.iter().find(|r| r.kind == "RunFinished" && r.object_name.as_deref() == Some("audited")).cloned()
    })
    .await?;
    assert_eq!(finished.outcome, "Succeeded", "{finished:?}");
    assert_eq!(finished.event["figures"]["records"], 20, "{finished:?}");
    assert_eq!(finished.event["object"]["kind"], "KafkaBackup");
    let all = rows(&pool).await?;
    assert!(
        all.iter().any(|r| r.kind == "RunStarted" && r.object_name.as_deref() == Some("audited")),
        "no started row: {all:#?}"
    );
    assert!(all.iter().any(|r| r.kind == "LicenseChanged"), "no licence row: {all:#?}");

    // The chain verifies; the audit user cannot change a row.
    let (ok, text) = verify_audit(&db)?;
    anyhow::ensure!(ok, "verify-audit failed on an intact chain: {text}");
    assert!(text.contains("\"rowsChecked\":"), "{text}");
    let refused = sqlx::query("UPDATE audit_log SET event = event WHERE seq = 1").execute(&pool).await;
    assert!(refused.is_err(), "the audit user could update a row");
    let refused = sqlx::query("DELETE FROM audit_log WHERE seq = 1").execute(&pool).await;
    assert!(refused.is_err(), "the audit user could delete a row");

    // The superuser, triggers off, rewrites who did it: verify-audit names the row.
    let admin = as_superuser(&env, &db)?.pool().await?;
    let mut tx = admin.begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await?;
    sqlx::query("UPDATE audit_log SET event = replace(event, '\"alice\"', '\"mallory\"') WHERE seq = $1")
        .bind(admitted.seq)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let (ok, text) = verify_audit(&db)?;
    assert!(!ok, "verify-audit passed a changed row: {text}");
    assert!(text.contains(&format!("row seq {}", admitted.seq)) && text.contains("changed"), "{text}");
    pool.close().await;
    admin.close().await;
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

/// A private PostgreSQL of this test (`hack/postgres.sh` with its own port and directory).
struct Private {
    port: u16,
    dir: PathBuf,
}

impl Private {
    fn run(&self, action: &str) -> anyhow::Result<String> {
        let out = std::process::Command::new(workspace_root().join("hack/postgres.sh"))
            .arg(action)
            .env("POSTGRES_PORT", self.port.to_string())
            .env("POSTGRES_DIR", &self.dir)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "hack/postgres.sh {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn db(&self) -> anyhow::Result<Db> {
        Ok(Db { url: self.run("url")?, ca: self.dir.join("tls/ca.crt") })
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = self.run("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_database_away_operations_go_on_and_what_was_lost_is_a_gap_row() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let private =
        Private { port: free_port()?, dir: std::env::temp_dir().join(format!("sbo-pg-{}", unique_suffix())) };
    private.run("start")?;
    let db = private.db()?;
    let token = licences::issued(&["audit"], 30)?;
    let Setup { cluster, ns, operator, _registration } =
        setup("audit-outage", &db, Some(&token), &[("STRIMZI_BACKUP_AUDIT_QUEUE_SIZE", "3")]).await?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("outage{s}"), format!("e2e-audit-outage-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    produce(&env, &topic, 0, &records(&topic, 0, 10, recent())).await?;
    wait_until(Duration::from_secs(60), "the audit database to be up", || async {
        Ok((operator.metric("strimzi_backup_audit_database_up", &[]).await? == 1.0).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let pool = db.pool().await?;
    let before = rows(&pool).await?.len();
    pool.close().await;

    // Away: admission and a backup go on; the queue fills, the rest is dropped and counted.
    private.run("stop")?;
    let (ok, text) = cluster.kubectl_apply(&ns, &backup_yaml(&env, "during", &topic, &prefix)?, &[])?;
    anyhow::ensure!(ok, "admission blocked while the audit database is away: {text}");
    for i in 0..4 {
        let out = cluster.kubectl(&[
            "-n",
            &ns,
            "annotate",
            "--overwrite",
            "kafkabackup",
            "during",
            &format!("e2e/n={i}"),
        ])?;
        anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    backup_completed(&backups, "during", Duration::from_secs(120))
        .await
        .map_err(|e| e.context(operator.log_text()))?;
    wait_until(Duration::from_secs(60), "the outage in the metrics", || async {
        let up = operator.metric("strimzi_backup_audit_database_up", &[]).await?;
        let depth = operator.metric("strimzi_backup_audit_queue_depth", &[]).await?;
        let dropped = operator.metric("strimzi_backup_audit_events_dropped_total", &[]).await?;
        Ok((up == 0.0 && depth == 3.0 && dropped >= 1.0).then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let unreachable = event(&cluster, &ns, "AuditDatabaseUnreachable", Duration::from_secs(30)).await?;
    assert_eq!(unreachable.involved_object.name.as_deref(), Some(SECRET));

    // Back: the queued events arrive, then a Gap row with exactly the count dropped.
    private.run("start")?;
    let pool = db.pool().await?;
    let gap =
        row_where(&pool, &operator, "the gap row", |rows| rows.iter().find(|r| r.kind == "Gap").cloned())
            .await?;
    let dropped = operator.metric("strimzi_backup_audit_events_dropped_total", &[]).await?;
    assert_eq!(gap.event["figures"]["lost"].as_f64(), Some(dropped), "{gap:?}");
    let all = rows(&pool).await?;
    assert!(all.len() >= before + 4, "the 3 queued events and the gap row: {all:#?}");
    assert!(
        all.iter().any(|r| r.kind == "Admission" && r.object_name.as_deref() == Some("during")),
        "the CREATE held in the queue was written: {all:#?}"
    );
    wait_until(Duration::from_secs(30), "the queue to drain", || async {
        let up = operator.metric("strimzi_backup_audit_database_up", &[]).await?;
        let depth = operator.metric("strimzi_backup_audit_queue_depth", &[]).await?;
        Ok((up == 1.0 && depth == 0.0).then_some(()))
    })
    .await?;
    event(&cluster, &ns, "AuditDatabaseReachable", Duration::from_secs(30)).await?;
    let (ok, text) = verify_audit(&db)?;
    anyhow::ensure!(ok, "{text}");
    pool.close().await;
    cluster.delete_namespace(&ns).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_feature_nothing_is_recorded_and_after_expiry_recording_goes_on() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let db = fresh_db(&env).await?;
    let Setup { cluster, ns, operator, _registration } = setup("audit-licence", &db, None, &[]).await?;
    let s = unique_suffix();
    let (topic, prefix) = (format!("lic{s}"), format!("e2e-audit-lic-{s}/"));
    create_topic(&env, &topic, 1, &[]).await?;
    let annotate = |i: &str| -> anyhow::Result<()> {
        let out = cluster.kubectl(&[
            "-n",
            &ns,
            "annotate",
            "--overwrite",
            "kafkabackup",
            "lic",
            &format!("e2e/step={i}"),
        ])?;
        anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    };
    let pool = db.pool().await?;

    // No licence: nothing recorded; the metric and an Event on the Secret say why.
    let (ok, text) = cluster.kubectl_apply(&ns, &backup_yaml(&env, "lic", &topic, &prefix)?, &[])?;
    anyhow::ensure!(ok, "{text}");
    annotate("none")?;
    wait_until(Duration::from_secs(30), "the unlicensed state", || async {
        Ok(operator
            .metrics()
            .await?
            .contains("strimzi_backup_audit_enabled{state=\"unlicensed\"} 0")
            .then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    let disabled = event(&cluster, &ns, "AuditDisabled", Duration::from_secs(30)).await?;
    assert!(disabled.message.as_deref().is_some_and(|n| n.contains("no licence")), "{disabled:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(rows(&pool).await?.is_empty(), "rows written without a licence");

    // A licence with `audit`: recorded.
    licences::install(&cluster, &ns, &licences::issued(&["audit"], 30)?).await?;
    wait_until(Duration::from_secs(30), "the licensed state", || async {
        Ok(operator
            .metrics()
            .await?
            .contains("strimzi_backup_audit_enabled{state=\"licensed\"} 1")
            .then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    annotate("valid")?;
    row_where(&pool, &operator, "an admission row under the valid licence", |rows| {
        rows.iter().find(|r| r.kind == "Admission" && r.object_name.as_deref() == Some("lic")).cloned()
    })
    .await?;

    // Expired: recording goes on, with a warning.
    licences::install(&cluster, &ns, &licences::issued(&["audit"], -1)?).await?;
    wait_until(Duration::from_secs(30), "the expired state", || async {
        Ok(operator
            .metrics()
            .await?
            .contains("strimzi_backup_audit_enabled{state=\"licence-expired\"} 1")
            .then_some(()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    event(&cluster, &ns, "AuditLicenceExpired", Duration::from_secs(30)).await?;
    let before = rows(&pool).await?.iter().filter(|r| r.kind == "Admission").count();
    annotate("expired")?;
    row_where(&pool, &operator, "an admission row after expiry", |rows| {
        (rows.iter().filter(|r| r.kind == "Admission").count() > before).then_some(())
    })
    .await?;
    let (ok, text) = verify_audit(&db)?;
    anyhow::ensure!(ok, "{text}");
    pool.close().await;
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
