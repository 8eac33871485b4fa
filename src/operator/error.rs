//! What can make a reconcile fail, by step, and how the controllers react: every variant here is
//! transient (the API server or a Job's pod could not be reached, a write conflicted) and is
//! retried with a growing delay. A spec the operator cannot act on is not an error: the
//! controllers report it in the `Ready` condition and an Event and wait for a change.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::controller::Action;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading what the resource refers to or what the operator created for it.
    #[error("reading {what}: {source}")]
    Read { what: String, source: kube::Error },
    /// Creating, changing or deleting a child (ConfigMap, Job).
    #[error("writing {what}: {source}")]
    Write { what: String, source: kube::Error },
    /// Writing the resource's status.
    #[error("writing the status: {0}")]
    Status(#[source] kube::Error),
    /// Rendering a Job's config.
    #[error("rendering the Job config: {0}")]
    Render(String),
    /// Adding or removing the finalizer.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Not a failure: a step that must finish before the next (a cleanup Job running) — looked
    /// at again shortly. The finalizer helper only waits when cleanup returns an error.
    #[error("{0}")]
    Waiting(String),
}

impl Error {
    pub fn read(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Read { what, source }
    }

    pub fn write(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Write { what, source }
    }

    /// CamelCase category for the `strimzi_backup_reconcile_errors_total` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Read { .. } => "ReadFailed",
            Self::Write { .. } => "WriteFailed",
            Self::Status(_) => "StatusFailed",
            Self::Render(_) => "RenderFailed",
            Self::Finalizer(_) => "FinalizerFailed",
            Self::Waiting(_) => "Waiting",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Per-object retry delays: 1 s doubling to 5 min, reset by a successful reconcile, so one
/// object whose Secret is missing does not spin and a blip costs a second.
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(300);

    pub fn failed(&self, key: &str) -> Action {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        let delay = Duration::from_secs(1u64 << (*n - 1).min(9)).min(Self::MAX);
        Action::requeue(delay)
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let b = Backoff::default();
        assert_eq!(b.failed("ns/a"), Action::requeue(Duration::from_secs(1)));
        assert_eq!(b.failed("ns/a"), Action::requeue(Duration::from_secs(2)));
        for _ in 0..20 {
            b.failed("ns/a");
        }
        assert_eq!(b.failed("ns/a"), Action::requeue(Backoff::MAX));
        b.succeeded("ns/a");
        assert_eq!(b.failed("ns/a"), Action::requeue(Duration::from_secs(1)));
    }
}
