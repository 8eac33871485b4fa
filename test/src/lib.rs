//! End-to-end suite of strimzi-backup-operator. Test-only code.
//!
//! - [`broker`]: a Kafka broker of a test's own (to freeze, or as a second cluster).
//! - [`certmanager`]: a real cert-manager (controller, CA injector) for the plain-install test.
//! - [`cluster`]: a three-node Kafka cluster of a test's own (leaders to move, brokers to restart).
//! - [`dataplane`]: running the data-plane binary as a Job would; topics, records and groups on
//!   the real broker; backups read back from MinIO.
//! - [`env`]: the local environment `make env-up` started (kubeconfig, Kafka, MinIO addresses).
//! - [`fixtures`]: cluster connection, per-test namespaces, applying YAML, polling.
//! - [`kubelet`]: the pod harness that plays the kubelet, so Jobs really run (binary
//!   `pod-harness`, started by `make env-up`).
//! - [`olm`]: OLM's `olm` operator, for the bundle install test.
//! - [`operator`]: the operator process per test namespace, and the namespace it needs.
//! - [`procfs`]: a process's memory and CPU from `/proc`, for the benchmarks.
//! - [`strimzi`]: Strimzi's CRDs as each Strimzi line serves them, and upgrades between them.
//! - [`proxy`]: a TCP proxy that cuts a service off on demand (storage outages).
//! - [`webhook`]: the operator's admission webhooks registered for one test namespace.
//!
//! The tests themselves are in `test/tests/e2e/`.

pub mod broker;
pub mod certmanager;
pub mod cluster;
pub mod dataplane;
pub mod defaults;
pub mod env;
pub mod fixtures;
pub mod kafka_tools;
pub mod kubelet;
pub mod licences;
pub mod olm;
pub mod operator;
pub mod oracle;
pub mod procfs;
pub mod proxy;
pub mod rbac;
pub mod strimzi;
pub mod webhook;
