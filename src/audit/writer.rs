//! The writer task: one per process, draining the queue to the database.
//!
//! - Connection: the audit Secret (`url`, optional `ca.crt`) read from the operator's
//!   namespace; read again after repeated failures, so a rotated password or a Secret created
//!   late is picked up without a restart. Neither is ever logged.
//! - Batches of up to [`BATCH`] events, each in one transaction under the chain-head lock
//!   ([`super::store::Store::append`]); a batch leaves the queue only once committed, so an
//!   outage keeps every queued event.
//! - Retries with a growing delay ([`RETRY_MIN`] to [`RETRY_MAX`]) while the database is away;
//!   meanwhile `record` keeps queueing up to the queue's capacity, then drops and counts.
//! - A loss (events dropped by a full queue) is written as a `Gap` row with the count and the
//!   times of the first and last lost event, ahead of the next batch.
//! - Reports: metrics always; a log line and an Event on the audit Secret when the database
//!   goes away (`AuditDatabaseUnreachable`, Warning) and comes back (`AuditDatabaseReachable`),
//!   and when the licence stops or starts the recording (`AuditDisabled`, `AuditLicenceExpired`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::Client;
use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::{info, warn};

use super::event::{AuditEvent, EventKind, Outcome};
use super::gate::{self, Gate};
use super::queue::Lost;
use super::store::{Connection, Store};
use super::{Audit, CA_KEY, Inner, URL_KEY, chain};

/// Events per transaction.
pub const BATCH: usize = 200;
pub const RETRY_MIN: Duration = Duration::from_millis(500);
pub const RETRY_MAX: Duration = Duration::from_secs(15);
/// Failed writes in a row after which the Secret is read again and the pool rebuilt.
const REOPEN_AFTER: u32 = 3;
/// How often the licence gate is looked at when nothing is recorded.
const TICK: Duration = Duration::from_secs(5);

/// Where the writer gets its connection and reports to.
pub struct Target {
    pub client: Client,
    /// The operator's namespace, where the Secret is.
    pub namespace: String,
    pub secret: String,
    pub reporter: Reporter,
}

/// Reads the audit Secret. Errors name the Secret and key, never a value.
pub async fn read_secret(client: &Client, namespace: &str, name: &str) -> Result<Connection, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|e| format!("cannot read the audit Secret {namespace}/{name}: {e}"))?
        .ok_or_else(|| {
            format!("the audit Secret {namespace}/{name} does not exist; create it with key `{URL_KEY}`")
        })?;
    let data = secret.data.unwrap_or_default();
    let url = data
        .get(URL_KEY)
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("the audit Secret {namespace}/{name} has no key `{URL_KEY}` (postgres://user:password@host:port/db)"))?;
    let ca_pem = data.get(CA_KEY).map(|b| b.0.clone()).filter(|c| !c.is_empty());
    Ok(Connection { url, ca_pem })
}

struct Reports {
    recorder: Recorder,
    secret: ObjectReference,
}

impl Reports {
    async fn event(&self, warning: bool, reason: &str, note: String) {
        let event = Event {
            type_: if warning { EventType::Warning } else { EventType::Normal },
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "AuditLog".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &self.secret).await {
            warn!(reason, error = %e, "cannot publish an Event");
        }
    }
}

/// The `Gap` event for `lost`.
fn gap(lost: &Lost, source: &str) -> AuditEvent {
    let mut e = AuditEvent::new(EventKind::Gap, Outcome::Recorded)
        .reason("the audit queue was full while the database was unreachable; these events were lost")
        .figures(serde_json::json!({
            "lost": lost.count,
            "firstLostAt": lost.first.to_rfc3339_opts(SecondsFormat::Millis, true),
            "lastLostAt": lost.last.to_rfc3339_opts(SecondsFormat::Millis, true),
        }));
    e.source = source.to_string();
    e
}

/// `(id, canonical JSON)` of `event`.
fn stored(event: &AuditEvent) -> (String, String) {
    let value = serde_json::to_value(event).unwrap_or_default();
    (event.id.clone(), chain::canonical(&value))
}

struct Writer {
    inner: Arc<Inner>,
    target: Target,
    reports: Reports,
    store: Option<Store>,
    failures: u32,
    /// What was last said about the database (so each change is said once).
    down_since: Option<String>,
    gate: Option<Gate>,
}

impl Writer {
    fn retry_delay(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(8));
        (RETRY_MIN * factor).min(RETRY_MAX)
    }

    async fn failed(&mut self, why: String) {
        self.failures += 1;
        self.inner.database_down.store(true, Ordering::Relaxed);
        self.inner.metrics.database_up.set(0);
        if self.failures >= REOPEN_AFTER {
            self.store = None;
        }
        if self.down_since.is_none() {
            warn!(error = %why, queued = self.inner.queue.len(), "the audit database is unreachable; holding events in memory");
            let note = format!(
                "{why}. Events are held in memory (up to {} of them) and written when it is back; beyond that they are counted and recorded as a gap",
                self.inner.queue.capacity()
            );
            self.reports.event(true, "AuditDatabaseUnreachable", note).await;
            self.down_since = Some(why);
        }
    }

    async fn succeeded(&mut self, lost: u64) {
        self.failures = 0;
        self.inner.database_down.store(false, Ordering::Relaxed);
        self.inner.metrics.database_up.set(1);
        self.inner.metrics.last_success.set(Utc::now().timestamp_millis() as f64 / 1e3);
        if self.down_since.take().is_some() {
            let note = if lost > 0 {
                format!(
                    "the audit database is reachable again; {lost} event(s) were lost and recorded as a gap"
                )
            } else {
                "the audit database is reachable again; no event was lost".to_string()
            };
            info!("{note}");
            self.reports.event(false, "AuditDatabaseReachable", note).await;
        }
    }

    /// Looks at the licence; says so when it changes what is recorded.
    async fn check_gate(&mut self) {
        let now = gate::of(&self.inner.license, Utc::now());
        if self.gate.as_ref() == Some(&now) {
            return;
        }
        self.inner.metrics.set_state(now.state(), now.records());
        match &now {
            Gate::Licensed => info!("the audit log is recording"),
            Gate::Expired(why) => {
                warn!("{why}");
                self.reports.event(true, "AuditLicenceExpired", why.clone()).await;
            }
            Gate::Unlicensed(why) => {
                warn!("{why}");
                self.reports.event(true, "AuditDisabled", why.clone()).await;
            }
        }
        self.gate = Some(now);
    }

    /// One step: connect if needed, then write the next batch (with a gap row first if events
    /// were lost). `Ok(false)`: nothing to write.
    async fn step(&mut self) -> Result<bool, String> {
        if self.store.is_none() {
            let connection =
                read_secret(&self.target.client, &self.target.namespace, &self.target.secret).await?;
            let store = Store::open(&connection).await.map_err(|e| e.to_string())?;
            info!(secret = %self.target.secret, "connected to the audit database; migrations applied");
            self.store = Some(store);
        }
        let Some(store) = &self.store else { return Ok(false) };
        let lost = self.inner.queue.take_lost();
        let batch = self.inner.queue.peek(BATCH);
        if lost.is_none() && batch.is_empty() {
            return Ok(false);
        }
        let mut events: Vec<(String, String)> = Vec::with_capacity(batch.len() + 1);
        if let Some(l) = &lost {
            events.push(stored(&gap(l, &self.inner.source)));
        }
        events.extend(batch.iter().map(stored));
        match store.append(&events).await {
            Ok(written) => {
                self.inner.queue.remove(batch.len());
                self.inner.metrics.written.inc_by(written as u64);
                self.inner.metrics.queue_depth.set(self.inner.queue.len() as i64);
                if let Some(l) = &lost {
                    warn!(lost = l.count, "audit events were lost to a full queue; recorded as a gap row");
                }
                self.succeeded(lost.map_or(0, |l| l.count)).await;
                Ok(true)
            }
            Err(e) => {
                if let Some(l) = lost {
                    self.inner.queue.restore_lost(l);
                }
                Err(e.to_string())
            }
        }
    }
}

/// Drains `audit`'s queue to the database of `target` until the process ends. Does nothing for
/// a disabled handle.
pub async fn run(audit: Audit, target: Target) {
    let Some(inner) = audit.inner.clone() else { return };
    let reports = Reports {
        recorder: Recorder::new(target.client.clone(), target.reporter.clone()),
        secret: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
            name: Some(target.secret.clone()),
            namespace: Some(target.namespace.clone()),
            ..Default::default()
        },
    };
    let mut w = Writer { inner, target, reports, store: None, failures: 0, down_since: None, gate: None };
    loop {
        w.check_gate().await;
        if !w.gate.as_ref().is_some_and(Gate::records) {
            tokio::time::sleep(TICK).await;
            continue;
        }
        match w.step().await {
            Ok(true) => {}
            Ok(false) => {
                let _ = tokio::time::timeout(TICK, w.inner.queue.wait()).await;
            }
            Err(why) => {
                w.failed(why).await;
                tokio::time::sleep(w.retry_delay()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_row_says_how_many_and_when() {
        let t = chrono::DateTime::from_timestamp_millis(1_700_000_000_123).expect("time");
        let g = gap(&Lost { count: 7, first: t, last: t }, "op-1");
        let (_, json) = stored(&g);
        assert!(json.contains(r#""kind":"Gap""#) && json.contains(r#""lost":7"#), "{json}");
        assert!(json.contains(r#""firstLostAt":"2023-11-14T22:13:20.123Z""#), "{json}");
    }
}
