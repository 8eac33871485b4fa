//! The end-to-end suite: one test binary, one module per area.
//!
//! One binary rather than one per file: every integration-test binary links the whole operator,
//! rdkafka and the Kubernetes client, so 46 binaries took most of the build's disk and link time
//! (CI once ran out of disk linking them). libtest runs the tests in name order, so each module's
//! tests still run side by side; `make e2e` runs them four at a time, then the `#[ignore]`d ones
//! (cluster-wide installs, three-broker clusters) one at a time. Run one area with
//! `cargo test -p strimzi-backup-e2e --test e2e drift::`.

mod audit_log;
mod backends;
mod backup;
mod backup_job;
mod backup_workers;
mod cluster;
mod cluster_metadata;
mod compaction;
mod compression;
mod continuous;
mod crds;
mod data_erasure;
mod drift;
mod drill;
mod enterprise_restore_access;
mod foreign_children;
mod format_golden;
mod guarantees;
mod helm;
mod install;
mod job_privilege;
mod jobs;
mod kafka;
mod kafka_backup_schedule;
mod kms;
mod least_privilege;
mod licence_recreation;
mod location;
mod masking;
mod new_topics;
mod object_store;
mod offset_reset;
mod olm;
mod operator_backup;
mod operator_continuous;
mod operator_drill;
mod operator_guarantees;
mod operator_leader;
mod operator_location;
mod operator_proxy;
mod operator_restore;
mod operator_restore_plan;
mod operator_restore_workers;
mod operator_runs;
mod operator_scram;
mod operator_workers;
mod oracle;
mod plugin;
mod pod_harness;
mod pod_logs;
mod repartition;
mod resilience;
mod restore;
mod restore_points;
mod restore_workers;
mod schema_registry;
mod services;
mod shipped_build;
mod strimzi;
mod strimzi_resources;
mod strimzi_topics;
mod strimzi_versions;
mod tenancy;
mod user_roles;
mod webhook;
mod webhook_abuse;
