//! Schema Registry backup and restore through the Confluent-compatible REST API (Confluent
//! Schema Registry, Apicurio Registry's `/apis/ccompat/v7`, Karapace, Redpanda).
//!
//! - [`client`]: the HTTP client: TLS from a mounted CA file, basic or bearer credentials from
//!   mounted files, timeouts, retries with backoff on 5xx and connection errors.
//! - [`order`] (pure): the order a restore registers versions in (references first, each
//!   subject's versions ascending), with cycles refused.
//! - [`rewrite`] (pure): the old→new schema id map and rewriting the 5-byte Confluent prefix
//!   (magic byte 0, big-endian id) of restored record keys and values.
//!
//! Capturing is [`crate::backup::schemas`], re-registering [`crate::restore::schemas`].

pub mod client;
pub mod order;
pub mod rewrite;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A resolved connection to a Schema Registry. The operator renders it from
/// `spec.schemaRegistry`; secrets are files mounted into the Job and only their paths are here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryConnection {
    /// Base URL of the Confluent-compatible API, e.g. `https://registry:8081` or
    /// `http://apicurio:8080/apis/ccompat/v7`.
    pub url: String,
    /// PEM file with the CA certificate(s) to trust for an `https` URL; the system CAs when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<RegistryAuth>,
}

/// Credentials for the registry, in mounted files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RegistryAuth {
    /// HTTP basic authentication.
    #[serde(rename_all = "camelCase")]
    Basic { username: String, password_file: PathBuf },
    /// `Authorization: Bearer <token>`.
    #[serde(rename_all = "camelCase")]
    Bearer { token_file: PathBuf },
}

/// What a backup is told about the registry to capture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryBackup {
    #[serde(flatten)]
    pub connection: RegistryConnection,
    /// The subjects to capture (regexes matched in full); all by default. A captured schema
    /// referencing a subject left out restores only into a registry that already has it.
    #[serde(default)]
    pub subjects: crate::api::selection::Selection,
}

/// What a restore is told about the target registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryRestore {
    #[serde(flatten)]
    pub connection: RegistryConnection,
    /// Rewrite the schema id prefix of restored record keys and values through the id map when
    /// ids could not be kept.
    #[serde(default)]
    pub rewrite_schema_ids: bool,
}
