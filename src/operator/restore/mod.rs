//! The `KafkaRestore` controller: a kind of the one-shot lifecycle
//! ([`crate::operator::oneshot`]).
//!
//! - [`controller`]: what a restore adds to the lifecycle (`impl OneShot`), and its reconcile.
//! - [`source`]: where the backups are and which one (I/O).
//! - [`plan`]: the plan from the dry run, its hash, and the approval (pure).
//! - [`progress`]: `status.progress`, summed over the workers' progress lines (pure).
//! - [`run_config`]: the config the restore Job gets (pure).
//! - [`strimzi_topics`]: `topicCreation: strimzi`, the `KafkaTopic` of every created topic.
//! - [`strimzi_resources`]: `restore.strimziResources`, the backed-up `KafkaTopic`s and
//!   `KafkaUser`s recreated.

pub mod controller;
pub mod plan;
pub mod progress;
pub mod run_config;
pub mod source;
pub mod strimzi_resources;
pub mod strimzi_topics;

#[cfg(test)]
mod reconcile_tests;
