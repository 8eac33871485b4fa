//! strimzi-backup-operator: back up and restore Apache Kafka on Kubernetes.
//!
//! Layering: dependencies point one way, `api` ← {`admission`, the data plane} ← `operator` ←
//! `main`. `api` holds the resources and their pure rules and imports only small lower modules
//! (`license` for the verdict's claims, `refusal`, `crdgen`'s helpers); `admission` and the data
//! plane (`backup`, `restore`, `offset_reset`, `verify`, `retention`, `catalog`, `location`,
//! `lease`, `groups`, `kafka`, `storage`) import `api` and those lower modules, never each other's
//! callers; `operator` may import all of them; nothing imports `operator` but `main`. What both
//! the webhook and the controllers need lives below both: the installed licence and its records
//! in `license`, Strimzi's served-version discovery in `strimzi`. Each module's doc says its
//! room: what it holds and what it may import.
//!
//! Module map, top-down:
//! - [`admission`]: the admission webhooks' decisions (defaults, validation, licence); imports
//!   `api`, `license`, `strimzi`, never `operator`.
//! - [`api`]: the custom resources (`KafkaBackup`, `KafkaRestore`, `KafkaOffsetReset`).
//! - [`audit`]: the audit log in PostgreSQL (Enterprise): events, hash chain, queue, writer.
//! - [`backup`]: the backup data plane (subcommand `backup`).
//! - [`budget`]: the data plane's memory budget per partition in flight, split into buffer sizes.
//! - [`catalog`]: the backups at a storage location: manifests, the latest, incremental chains.
//! - [`config_flags`]: data-plane settings as command-line flags, instead of or over a file.
//! - [`crdgen`]: renders their CustomResourceDefinitions for `config/crd` and the OLM bundle.
//! - [`format`]: the on-storage format of backups (segments, manifest).
//! - [`groups`]: consumer-group offsets: list, read, check for live members, commit.
//! - [`kafka`]: the resolved Kafka connection the data plane uses.
//! - [`kms`]: keys from an external KMS (envelope encryption: data keys wrapped by AWS KMS or Vault transit).
//! - [`location`]: one storage location, one owner (the marker every writer checks first).
//! - [`lease`]: leases of running restores, which retention, cleanup and `delete` respect.
//! - [`license`]: Enterprise licence tokens, verified offline against compiled-in keys; the
//!   installed token and the records of accepted settings, shared by webhook and controllers.
//! - [`erase`]: the right to be forgotten at a location, and on live compacted topics
//!   (subcommand `erase`, what `KafkaDataErasure` Jobs run).
//! - [`offset_reset`]: moving consumer-group offsets (subcommand `offset-reset`).
//! - [`operator`]: the controllers (subcommand `operator`); the top layer below `main`.
//! - [`refusal`]: failures a rerun cannot fix (their own exit code; Jobs do not retry them).
//! - [`restore`]: the restore data plane (subcommand `restore`).
//! - [`restore_access`]: the webhook's proof, verified by the restore controller, that a user may restore a backup with a `restorePolicy`.
//! - [`retention`]: which backups a retention policy lets go, and pruning them.
//! - [`schema_registry`]: Schema Registry subjects and schemas with each backup, re-registered by restores.
//! - [`storage`]: opening the object store of a `storage` block.
//! - [`strimzi`]: Strimzi's resources as the cluster serves them (version discovery, `Kafka`).
//! - [`time`]: converting between chrono, Kubernetes `Time` and RFC 3339 text.
//! - [`verify`]: checking a stored backup end to end (subcommand `verify`).
//! - [`watermarks`]: log starts and ends of many partitions in one round of requests (plans).

pub mod admission;
pub mod api;
pub mod audit;
pub mod backup;
pub mod budget;
pub mod catalog;
pub mod config_flags;
pub mod crdgen;
pub mod drill;
pub mod erase;
pub mod format;
pub mod groups;
pub mod kafka;
pub mod kms;
pub mod lease;
pub mod license;
pub mod location;
pub mod offset_reset;
pub mod operator;
pub mod refusal;
pub mod restore;
pub mod restore_access;
pub mod restore_points;
pub mod retention;
pub mod schema_registry;
pub mod storage;
pub mod strimzi;
pub mod sync;
pub mod time;
pub mod verify;
pub mod watermarks;
