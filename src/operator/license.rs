//! The installed licence (SPEC §4): the Secret `strimzi-backup-license`, key `license.key`, in
//! the operator's namespace, watched so that installing, renewing or removing it takes effect
//! at once, without a restart. Every replica watches it (the webhook serves on all of them).
//!
//! The token itself is kept in [`InstalledLicense`] (`crate::license::installed`, below both
//! the webhook and the controllers); this module is the operator's side: the watcher that keeps
//! it current, its metrics and its Event. The watcher also looks again every minute, so the log,
//! the Event and the metrics follow an expiry too. Its room: `crate::license`, `api::enterprise`
//! and the operator's [`context`](super::context) (for Events); nothing imports it back but the
//! operator's process wiring and metrics.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::Client;
use kube::api::Api;
use kube::runtime::events::Recorder;
use kube::runtime::{WatchStreamExt, watcher};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::{info, warn};

pub use crate::license::installed::InstalledLicense;
use crate::license::{self, Claims, LicenseError};

/// The key of the licence Secret that holds the token.
pub const KEY: &str = "license.key";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExpiryLabels {
    pub id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    /// `enterprise` while a valid licence grants it, else `oss`.
    pub edition: String,
    /// `valid`, `missing`, `expired`, `not-yet-valid`, `invalid`.
    pub state: String,
}

/// `strimzi_backup_license_expiry_timestamp_seconds{id}` (only while a signed licence is
/// installed, expired ones included) and `strimzi_backup_license_info{edition,state}`.
#[derive(Clone, Default)]
pub struct LicenseMetrics {
    pub expiry: Family<ExpiryLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub info: Family<InfoLabels, Gauge>,
}

impl LicenseMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "strimzi_backup_license_expiry_timestamp_seconds",
            "When the installed licence expires (Unix seconds), by licence id",
            m.expiry.clone(),
        );
        registry.register(
            "strimzi_backup_license_info",
            "The edition in effect and the state of the installed licence (value 1)",
            m.info.clone(),
        );
        m
    }
}

/// The licence's state in one word (the `state` label).
pub fn state(checked: &Result<Claims, LicenseError>) -> &'static str {
    match checked {
        Ok(_) => "valid",
        Err(e) => e.names().0,
    }
}

/// One line on the licence for the log and the Event.
fn describe(checked: &Result<Claims, LicenseError>) -> String {
    match checked {
        Ok(c) => format!(
            "Enterprise licence {} of {} is valid until {} (features: {})",
            c.id,
            c.customer,
            c.expires_at.format("%Y-%m-%d"),
            c.features.join(", ")
        ),
        Err(e) => format!("no valid licence, the OSS edition is in effect: {e}"),
    }
}

fn update_metrics(metrics: &LicenseMetrics, token: Option<&str>, checked: &Result<Claims, LicenseError>) {
    metrics.expiry.clear();
    if let Some(claims) = token.and_then(|t| license::signed_claims(t).ok()) {
        metrics
            .expiry
            .get_or_create(&ExpiryLabels { id: claims.id })
            .set(claims.expires_at.timestamp_millis() as f64 / 1e3);
    }
    metrics.info.clear();
    let edition = if checked.is_ok() { "enterprise" } else { "oss" };
    metrics.info.get_or_create(&InfoLabels { edition: edition.into(), state: state(checked).into() }).set(1);
}

fn token_of(secret: &Secret) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(KEY)?;
    Some(String::from_utf8_lossy(&bytes.0).trim().to_string())
}

/// Watches the licence Secret `name` in `namespace`, keeping `installed` and `metrics` current;
/// logs and records an Event when the licence's state changes. Runs until the process ends.
pub async fn watch(
    client: Client,
    namespace: String,
    name: String,
    installed: InstalledLicense,
    metrics: LicenseMetrics,
    audit: crate::audit::Audit,
) {
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let recorder = Recorder::new(client, super::context::reporter());
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        name: Some(name.clone()),
        namespace: Some(namespace.clone()),
        ..Default::default()
    };
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut last: Option<String> = None;
    let mut listed_one = false;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(watcher::Event::Init)) => listed_one = false,
                Some(Ok(watcher::Event::InitApply(s) | watcher::Event::Apply(s))) => {
                    listed_one = true;
                    installed.set(token_of(&s));
                }
                Some(Ok(watcher::Event::InitDone)) if !listed_one => installed.set(None),
                Some(Ok(watcher::Event::InitDone)) => {}
                Some(Ok(watcher::Event::Delete(_))) => installed.set(None),
                Some(Err(e)) => {
                    warn!(error = %e, secret = %name, "watching the licence Secret; retrying");
                    continue;
                }
                None => return,
            },
            _ = tick.tick() => {}
        }
        let checked = installed.check(Utc::now());
        update_metrics(&metrics, installed.token().as_deref(), &checked);
        let line = describe(&checked);
        if last.as_deref() == Some(line.as_str()) {
            continue;
        }
        audit.record(audit_event(&checked, installed.token().as_deref(), &namespace, &name));
        if checked.is_ok() {
            info!(secret = %name, "{line}");
        } else {
            warn!(secret = %name, "{line}");
        }
        // No Event for a plain OSS installation that never had a licence.
        let first_and_missing = last.is_none() && matches!(checked, Err(LicenseError::Missing));
        if !first_and_missing {
            let reason =
                if checked.is_ok() { "LicenseValid" } else { crate::api::enterprise::reason(&checked) };
            super::context::publish(
                &recorder,
                &reference,
                checked.is_err(),
                reason,
                "License",
                line.clone(),
                None,
            )
            .await;
        }
        last = Some(line);
    }
}

/// The audit row of a licence change: its state, id, features and expiry (never the token).
fn audit_event(
    checked: &Result<Claims, LicenseError>,
    token: Option<&str>,
    namespace: &str,
    secret: &str,
) -> crate::audit::AuditEvent {
    use crate::audit::{AuditEvent, EventKind, ObjectRef, Outcome};
    let claims = token.and_then(|t| license::signed_claims(t).ok());
    AuditEvent::new(EventKind::LicenseChanged, Outcome::Recorded)
        .namespace(namespace)
        .object(ObjectRef::new("Secret", secret))
        .reason(describe(checked))
        .figures(serde_json::json!({
            "state": state(checked),
            "id": claims.as_ref().map(|c| c.id.clone()),
            "features": claims.as_ref().map(|c| c.features.clone()),
            "expiresAt": claims.as_ref().map(|c| c.expires_at.to_rfc3339()),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::{Edition, issue, test_key};

    #[test]
    fn state_metrics_follow_the_installed_token() {
        let now = Utc::now();
        let claims = Claims {
            id: "lic-9".into(),
            customer: "c".into(),
            edition: Edition::Enterprise,
            features: vec!["*".into()],
            issued_at: now - chrono::Duration::days(40),
            expires_at: now - chrono::Duration::days(10),
        };
        let token = issue(&claims, &test_key::SEED).expect("token");
        let installed = InstalledLicense::default();
        assert_eq!(installed.check(now), Err(LicenseError::Missing));
        installed.set(Some(token.clone()));
        let checked = installed.check(now);
        assert_eq!(state(&checked), "expired");
        let mut registry = Registry::default();
        let metrics = LicenseMetrics::register(&mut registry);
        update_metrics(&metrics, Some(&token), &checked);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(text.contains("strimzi_backup_license_expiry_timestamp_seconds{id=\"lic-9\"}"), "{text}");
        assert!(text.contains("strimzi_backup_license_info{edition=\"oss\",state=\"expired\"} 1"), "{text}");
        assert!(describe(&checked).contains("OSS edition"));
    }
}
