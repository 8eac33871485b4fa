//! Problems found in a spec, in the form every consumer shows them: the admission webhook's
//! denial, the controller's NotReady condition and Event. One type, so the webhook and the
//! controllers (which run the same rules again, for clusters without the webhook) say the same.

/// A problem with one field: the path users see (`spec.schedule.cron`) and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}
