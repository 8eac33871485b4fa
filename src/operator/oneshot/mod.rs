//! The one-shot run lifecycle, shared by every kind whose object is one run of one Job
//! (`KafkaRestore`, `KafkaOffsetReset`, `KafkaDataErasure`; schema restore to come).
//!
//! A reconcile reads the clock once ([`kind::Now`]) and goes:
//!
//! 1. phase `Completed` or `Failed` → nothing to do but `observedGeneration`; wait for a change;
//! 2. the spec breaks a rule → `Failed`, `Ready=False` `InvalidSpec`, a Warning Event (final:
//!    the spec is immutable);
//! 3. no Job, and the kind plans first ([`OneShot::PLAN`]: a restore) → the plan Job
//!    `<name>-plan` (`Pending` while it runs), its result into the status ([`OneShot::planned`])
//!    → `Planned`; the run's Job starts from there when [`OneShot::stage`] lets it (at once, or
//!    once approved);
//! 4. no Job → resolve the cluster (unless the kind uses none: [`OneShot::uses_cluster`]), then
//!    what the kind needs ([`OneShot::prepare`]); anything
//!    missing → `Pending`, `Ready=False` with the typed reason, an Event when it is news, look
//!    again in 30 s; else launch the Job → `Running`;
//! 5. a Job under the run's name without the object's owner reference → refused
//!    (`ForeignObject`), never taken for the run; Job running → `Running`, with progress for
//!    kinds that follow it ([`OneShot::progress`]);
//! 6. Job finished → its result ([`crate::operator::children::run_result`]) through [`OneShot::finish`] →
//!    `Completed`/`Failed`, `Ready` and Events.
//!
//! Then the decision ([`outcome::Outcome`]) is applied in one place ([`outcome::settle`]: phase,
//! Job name, `Ready` with a typed [`crate::api::run::RunReason`]) and the status written once.
//!
//! - [`kind`]: the [`OneShot`] trait a kind implements (what differs per kind).
//! - [`lifecycle`]: the generic reconcile (I/O, in the steps above).
//! - [`outcome`]: the decision, its application to the status, and the Job result (pure).

pub mod kind;
pub mod lifecycle;
pub mod outcome;

pub use kind::{Now, OneShot, Planned, Prepared, Stage};
pub use outcome::{Event, Finished, Ready, Wait};
