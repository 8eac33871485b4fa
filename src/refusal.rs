//! Failures that running the same thing again cannot fix, told apart from the rest.
//!
//! A Job retries a failed pod (`backoffLimit`): right for a broker restart or a storage outage,
//! wrong when the data plane found that the world is not what the run may safely build on — a
//! restore whose target partition holds records it did not write would only find them again, and
//! a retry that did not look would count them as its own. Such a failure ends the process with
//! [`EXIT_CODE`]; the operator's Jobs fail at once on that code (a `podFailurePolicy` rule), and
//! the reason, first in the error message, becomes the condition's reason.

use std::fmt;

/// The exit code of a refused run; any other failure exits with 1.
pub const EXIT_CODE: u8 = 3;

/// Why a run was refused; the names are the condition reasons users see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A restore's target partition holds records the restore did not write, or lost some it
    /// did: what the restore would add could no longer be proven to sit where it belongs.
    TargetChanged,
}

impl Reason {
    const ALL: [Reason; 1] = [Reason::TargetChanged];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TargetChanged => "TargetChanged",
        }
    }

    /// The reason a refusal's message starts with (`"TargetChanged: ..."`), if it is one.
    pub fn of_message(message: &str) -> Option<Reason> {
        let (head, _) = message.split_once(": ")?;
        Self::ALL.into_iter().find(|r| r.as_str() == head)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused run: the reason and what was found, naming where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl Refusal {
    pub fn target_changed(message: impl Into<String>) -> Self {
        Self { reason: Reason::TargetChanged, message: message.into() }
    }

    /// The refusal somewhere in an error's chain, if the error is one.
    pub fn find(err: &anyhow::Error) -> Option<&Refusal> {
        err.chain().find_map(|e| e.downcast_ref::<Refusal>())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_leads_the_message_and_survives_context() {
        let refusal = Refusal::target_changed("orders/0: offset 7 holds a record this restore did not write");
        let text = refusal.to_string();
        assert_eq!(Reason::of_message(&text), Some(Reason::TargetChanged));
        assert_eq!(Reason::of_message("restore failed: TargetChanged: x"), None, "only at the start");
        assert_eq!(Reason::of_message("Timeout: x"), None);
        let wrapped = anyhow::Error::new(refusal.clone()).context("restoring orders/0");
        assert_eq!(Refusal::find(&wrapped), Some(&refusal));
        assert_eq!(Refusal::find(&anyhow::anyhow!("plain")), None);
    }
}
