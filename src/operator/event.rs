//! An Event a reconcile decided to publish on its object: decided by the pure steps (the backup
//! plan, a one-shot outcome), published by the acting step through `Context::event`. One type
//! for every kind, so Events read the same whichever controller wrote them.

/// An Event to publish on the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    /// CamelCase, e.g. `RestoreStarted` (Events have reasons of their own beside `Ready`'s).
    pub reason: &'static str,
    /// What the operator was doing, e.g. `Restore`.
    pub action: &'static str,
    pub note: String,
}

impl Event {
    pub fn normal(reason: &'static str, action: &'static str, note: impl Into<String>) -> Self {
        Self { warning: false, reason, action, note: note.into() }
    }
    pub fn warning(reason: &'static str, action: &'static str, note: impl Into<String>) -> Self {
        Self { warning: true, reason, action, note: note.into() }
    }
}
