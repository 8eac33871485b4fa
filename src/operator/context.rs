//! What every reconcile shares: the client, the settings, the metrics, and the Events recorder.
//! One `Context` per operator process, passed to the three controllers as `Arc<Context>`.
//!
//! Its room: the operator's shared state and Event publishing. It imports the installed licence
//! and Strimzi's API from below the operator (`crate::license`, `crate::strimzi`), never
//! `operator::license`, which uses it for Events: the dependency points one way.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

use super::error::Backoff;
use super::metrics::Metrics;
use super::settings::Settings;
use crate::license::InstalledLicense;
use crate::license::accepted::AcceptedSettings;
use crate::strimzi::StrimziApi;

/// The name the operator writes under: field manager of its server-side applies, Events'
/// reporting controller.
pub const MANAGER: &str = "strimzi-backup-operator";

pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// The licence, for the controllers' own check of Enterprise fields.
    pub license: InstalledLicense,
    /// Enterprise settings accepted under a valid licence, remembered beyond their objects.
    pub accepted: AcceptedSettings,
    /// Retry delays of failing reconciles, per object.
    pub backoff: Backoff,
    /// Strimzi's resources, in the API version the cluster serves.
    pub strimzi: StrimziApi,
    /// Verifies the webhook's restore authorizations (`crate::restore_access`); unset until the
    /// process has read its Secret, when protected restores wait.
    pub restore_key: crate::restore_access::Key,
    /// The audit log: every Event published here is recorded there too (`crate::audit`).
    pub audit: crate::audit::Audit,
    recorder: Recorder,
}

/// Who the operator's Events say reported them: the operator, and this replica's pod.
pub fn reporter() -> Reporter {
    Reporter {
        controller: MANAGER.into(),
        instance: std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()),
    }
}

impl Context {
    pub fn new(client: Client, settings: Settings, metrics: Arc<Metrics>, license: InstalledLicense) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), reporter()),
            strimzi: StrimziApi::new(client.clone()),
            accepted: AcceptedSettings::new(client.clone(), &settings.namespace),
            client,
            settings,
            metrics,
            license,
            backoff: Backoff::default(),
            restore_key: Default::default(),
            audit: crate::audit::Audit::disabled(),
        }
    }

    /// Publishes an Event on `object` and records it in the audit log with `figures` (a
    /// finished run's numbers).
    pub async fn event_with_figures(
        &self,
        object: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
        figures: serde_json::Value,
    ) {
        self.audit
            .record(crate::audit::from_event::audit_event(object, warning, reason, action, &note, figures));
        publish(&self.recorder, object, warning, reason, action, note, None).await;
    }

    /// Publishes an Event on `object` (see [`publish`]).
    pub async fn event(
        &self,
        object: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.event_with_figures(object, warning, reason, action, note, serde_json::Value::Null).await;
    }

    /// Publishes an Event on `object` about `related` (another object it concerns). The
    /// recorder folds Events of one object, type, reason and action into a series that keeps
    /// the first note, so Events with one reason about several objects (one per cluster a
    /// schedule selects) must name the other object to each stay visible.
    pub async fn event_related(
        &self,
        object: &ObjectReference,
        related: ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let figures = serde_json::json!({ "related": { "kind": related.kind, "namespace": related.namespace, "name": related.name } });
        self.audit
            .record(crate::audit::from_event::audit_event(object, warning, reason, action, &note, figures));
        publish(&self.recorder, object, warning, reason, action, note, Some(related)).await;
    }
}

/// Publishes an Event on `object` through `recorder`. An Event that cannot be written is logged
/// and otherwise ignored: it must never fail or repeat a reconcile.
pub async fn publish(
    recorder: &Recorder,
    object: &ObjectReference,
    warning: bool,
    reason: &str,
    action: &str,
    note: String,
    related: Option<ObjectReference>,
) {
    let event = Event {
        type_: if warning { EventType::Warning } else { EventType::Normal },
        reason: reason.into(),
        // Events keep 1 kB of note.
        note: Some(truncate(note, 1000)),
        action: action.into(),
        secondary: related,
    };
    if let Err(e) = recorder.publish(&event, object).await {
        warn!(reason, error = %e, "cannot publish an Event");
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let cut = (0..=max).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
    }
    text
}
