//! The audit database: connecting (URL and CA from the audit Secret, never logged), the
//! migrations under `migrations/audit/` (compiled in, applied at start under sqlx's advisory
//! lock, so two replicas starting together apply them once), appending a batch to the chain,
//! and reading the chain back for `verify-audit`.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use futures::TryStreamExt;
use futures::future::BoxFuture;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{Postgres, Row as _, Transaction};

use super::chain::{self, Broken, Checker, Head, Row};

/// The migrations, in order.
const MIGRATIONS: [(i64, &str, &str); 1] =
    [(1, "audit log", include_str!("../../migrations/audit/0001_audit_log.sql"))];

#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(*v, Cow::Borrowed(*d), MigrationType::Simple, Cow::Borrowed(*sql), false)
                })
                .collect())
        })
    }
}

/// Why the audit database cannot be used. Messages never carry the URL (it holds the password).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the audit database URL does not parse (key `url`): {0}")]
    Url(String),
    #[error("cannot connect to the audit database: {0}")]
    Connect(String),
    #[error("applying the audit log's migrations: {0}")]
    Migrate(String),
    #[error("writing to the audit log: {0}")]
    Write(String),
    #[error("reading the audit log: {0}")]
    Read(String),
    #[error("the audit log is broken: {0}")]
    Broken(#[from] Broken),
}

/// sqlx's error without the connection string: its Display never includes it, but a
/// configuration error may quote the URL it failed on, so those are replaced.
fn plain(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Configuration(_) => "invalid connection settings".into(),
        other => other.to_string(),
    }
}

/// How to reach the database: the Secret's `url` and optional `ca.crt`. `Debug` hides both.
#[derive(Clone)]
pub struct Connection {
    pub url: String,
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("url", &"<hidden>").field("ca", &self.ca_pem.is_some()).finish()
    }
}

impl Connection {
    /// Connect options: a CA given means the server's certificate is verified against it
    /// (`verify-full`, unless the URL asks for `sslmode` itself).
    pub fn options(&self) -> Result<PgConnectOptions, StoreError> {
        let mut options = PgConnectOptions::from_str(&self.url).map_err(|e| StoreError::Url(plain(&e)))?;
        if let Some(ca) = &self.ca_pem {
            options = options.ssl_root_cert_from_pem(ca.clone());
            if !self.url.contains("sslmode=") {
                options = options.ssl_mode(PgSslMode::VerifyFull);
            }
        }
        Ok(options.application_name("strimzi-backup-operator"))
    }
}

/// A pool on the audit database, migrated.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
}

/// How long one connection attempt or statement may take: the writer retries, and nothing
/// waits on it but the writer.
const TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Connects (a small pool: one writer per process), changing nothing (`verify-audit`).
    pub async fn connect(connection: &Connection) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(TIMEOUT)
            .connect_with(connection.options()?)
            .await
            .map_err(|e| StoreError::Connect(plain(&e)))?;
        Ok(Self { pool })
    }

    /// Connects and applies the migrations (the writer, at start).
    pub async fn open(connection: &Connection) -> Result<Self, StoreError> {
        let store = Self::connect(connection).await?;
        let migrator = Migrator::new(Embedded).await.map_err(|e| StoreError::Migrate(e.to_string()))?;
        migrator.run(&store.pool).await.map_err(|e| StoreError::Migrate(e.to_string()))?;
        Ok(store)
    }

    /// Appends `events` (canonical JSON, each with its event id) after the chain head, in one
    /// transaction holding the head's row lock: concurrent writers queue on it and each
    /// continues from the head the last one left. Events whose id is already stored (a retry of
    /// a batch whose commit succeeded unseen) are skipped. Returns how many were written.
    pub async fn append(&self, events: &[(String, String)]) -> Result<usize, StoreError> {
        let write = |e: sqlx::Error| StoreError::Write(plain(&e));
        let mut tx: Transaction<'_, Postgres> = self.pool.begin().await.map_err(write)?;
        let head = sqlx::query("SELECT seq, hash FROM audit_chain_head WHERE id FOR UPDATE")
            .fetch_one(&mut *tx)
            .await
            .map_err(write)?;
        let head =
            Head { seq: head.try_get("seq").map_err(write)?, hash: head.try_get("hash").map_err(write)? };
        let ids: Vec<String> = events.iter().map(|(id, _)| id.clone()).collect();
        let present: Vec<String> =
            sqlx::query_scalar("SELECT event_id FROM audit_log WHERE event_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await
                .map_err(write)?;
        let fresh: Vec<String> =
            events.iter().filter(|(id, _)| !present.contains(id)).map(|(_, e)| e.clone()).collect();
        let (rows, new_head) = chain::extend(&head, &fresh).map_err(|e| {
            StoreError::Write(format!("the chain head's hash is not hex ({e}): the head was changed"))
        })?;
        for row in &rows {
            sqlx::query("INSERT INTO audit_log (seq, event, prev_hash, hash) VALUES ($1, $2, $3, $4)")
                .bind(row.seq)
                .bind(&row.event)
                .bind(&row.prev_hash)
                .bind(&row.hash)
                .execute(&mut *tx)
                .await
                .map_err(write)?;
        }
        sqlx::query("UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id")
            .bind(new_head.seq)
            .bind(&new_head.hash)
            .execute(&mut *tx)
            .await
            .map_err(write)?;
        tx.commit().await.map_err(write)?;
        Ok(rows.len())
    }

    /// Checks the whole chain, streaming the rows in seq order: the number of rows checked, or
    /// the first broken one.
    pub async fn verify(&self) -> Result<u64, StoreError> {
        let read = |e: sqlx::Error| StoreError::Read(plain(&e));
        let mut conn = self.pool.begin().await.map_err(read)?;
        // One snapshot for the rows and the head: a writer appending meanwhile is not a break.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *conn)
            .await
            .map_err(read)?;
        let head = sqlx::query("SELECT seq, hash FROM audit_chain_head WHERE id")
            .fetch_optional(&mut *conn)
            .await
            .map_err(read)?
            .map(|r| -> Result<Head, sqlx::Error> {
                Ok(Head { seq: r.try_get("seq")?, hash: r.try_get("hash")? })
            })
            .transpose()
            .map_err(read)?;
        let mut checker = Checker::default();
        {
            let mut rows = sqlx::query("SELECT seq, event, prev_hash, hash FROM audit_log ORDER BY seq")
                .fetch(&mut *conn);
            while let Some(r) = rows.try_next().await.map_err(read)? {
                let row = Row {
                    seq: r.try_get("seq").map_err(read)?,
                    event: r.try_get("event").map_err(read)?,
                    prev_hash: r.try_get("prev_hash").map_err(read)?,
                    hash: r.try_get("hash").map_err(read)?,
                };
                checker.push(&row)?;
            }
        }
        drop(conn);
        Ok(checker.finish(head.as_ref())?)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
