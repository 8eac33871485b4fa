//! The Schema Registry a `KafkaBackup` backs up with its records (`spec.schemaRegistry`) and a
//! `KafkaRestore` re-registers them in (`spec.restore.schemaRegistry`), through the
//! Confluent-compatible REST API (docs/schema-registry.md). Secrets are referenced, never
//! written here: the operator mounts them into the Job as files.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::SecretKeyRef;
use super::selection::Selection;
use super::validation::FieldError;

/// How to reach a Schema Registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryConnectionSpec {
    /// Base URL of the Confluent-compatible API, `http://` or `https://`, e.g.
    /// `https://schema-registry:8081` or `http://apicurio:8080/apis/ccompat/v7`. No credentials
    /// in the URL: use `authentication`.
    #[schemars(length(min = 1))]
    pub url: String,
    /// TLS towards an `https` registry. Omit to trust the system CAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RegistryTls>,
    /// Credentials for the registry, from Secrets mounted into the Job. Omit for a registry
    /// without authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<RegistryAuthentication>,
}

/// TLS towards the registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryTls {
    /// Secret key holding the CA certificate(s) (PEM) that signed the registry's certificate.
    /// Omit to trust the system CAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
}

/// HTTP basic or bearer-token authentication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegistryAuthenticationType {
    /// HTTP basic: `username` and `passwordSecret`.
    #[default]
    Basic,
    /// `Authorization: Bearer <token>`: `tokenSecret`.
    Bearer,
}

/// Credentials for the registry. Only Secret references: the values are mounted into the Job
/// as files, never put into its config, arguments, logs or the status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryAuthentication {
    /// `basic` (needs `username` and `passwordSecret`) or `bearer` (needs `tokenSecret`).
    #[serde(rename = "type")]
    pub type_: RegistryAuthenticationType,
    /// User name for `basic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Secret key holding the password for `basic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretKeyRef>,
    /// Secret key holding the token for `bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<SecretKeyRef>,
}

/// The Schema Registry a backup stores the schemas of (`KafkaBackup.spec.schemaRegistry`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRegistryBackupSpec {
    /// The registry to read.
    #[serde(flatten)]
    pub connection: RegistryConnectionSpec,
    /// The subjects to back up (regexes matched in full); all by default. A schema referencing
    /// a subject left out restores only into a registry that already has it.
    #[serde(default)]
    pub subjects: Selection,
}

/// The Schema Registry a restore re-registers the backup's schemas in
/// (`KafkaRestore.spec.restore.schemaRegistry`), before any record is written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRegistryRestoreSpec {
    /// The target registry: always explicit, a restore never writes to the backed-up registry
    /// unless named here.
    #[serde(flatten)]
    pub connection: RegistryConnectionSpec,
    /// When the target cannot keep a schema's id, rewrite the 5-byte schema id prefix (magic
    /// byte 0, big-endian id) of restored record keys and values to the new id. Off by default:
    /// data that is not registry-serialized but starts the same way would be changed too.
    #[serde(default)]
    pub rewrite_schema_ids: bool,
}

/// Problems in a registry connection at `field` (`spec.schemaRegistry`).
pub fn problems(field: &str, c: &RegistryConnectionSpec) -> Vec<FieldError> {
    let mut out = Vec::new();
    match reqwest::Url::parse(&c.url) {
        Err(e) => out.push(FieldError::new(
            format!("{field}.url"),
            format!("`{}` is not a URL ({e}); write e.g. https://schema-registry:8081", c.url),
        )),
        Ok(u) => {
            if u.scheme() != "http" && u.scheme() != "https" {
                out.push(FieldError::new(
                    format!("{field}.url"),
                    format!(
                        "scheme `{}` is not http or https; write e.g. https://schema-registry:8081",
                        u.scheme()
                    ),
                ));
            }
            if !u.username().is_empty() || u.password().is_some() {
                // The URL itself is not repeated: it holds a credential.
                out.push(FieldError::new(
                    format!("{field}.url"),
                    format!(
                        "holds credentials (user info before `@`): a URL is stored and shown in clear; remove \
                         them and use {field}.authentication with a Secret"
                    ),
                ));
            }
            if c.tls.as_ref().is_some_and(|t| t.ca_secret.is_some()) && u.scheme() == "http" {
                out.push(FieldError::new(
                    format!("{field}.tls.caSecret"),
                    "is set for an http URL, which does not use TLS: use https, or leave tls out",
                ));
            }
        }
    }
    if let Some(a) = &c.authentication {
        let auth = format!("{field}.authentication");
        match a.type_ {
            RegistryAuthenticationType::Basic => {
                if a.username.as_deref().is_none_or(str::is_empty) {
                    out.push(FieldError::new(format!("{auth}.username"), "type basic needs a username"));
                }
                if a.password_secret.is_none() {
                    out.push(FieldError::new(
                        format!("{auth}.passwordSecret"),
                        "type basic needs passwordSecret {name, key}: the Secret key holding the password",
                    ));
                }
                if a.token_secret.is_some() {
                    out.push(FieldError::new(
                        format!("{auth}.tokenSecret"),
                        "is for type bearer; with type basic use username and passwordSecret",
                    ));
                }
            }
            RegistryAuthenticationType::Bearer => {
                if a.token_secret.is_none() {
                    out.push(FieldError::new(
                        format!("{auth}.tokenSecret"),
                        "type bearer needs tokenSecret {name, key}: the Secret key holding the token",
                    ));
                }
                if a.username.is_some() || a.password_secret.is_some() {
                    out.push(FieldError::new(
                        auth.clone(),
                        "username and passwordSecret are for type basic; with type bearer use tokenSecret",
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(yaml: &str) -> RegistryConnectionSpec {
        serde_yaml_ng::from_str(yaml).expect("connection")
    }

    #[test]
    fn urls_must_be_http_without_credentials_and_auth_complete() {
        let ok = conn(
            "url: https://sr:8081\ntls: {caSecret: {name: ca, key: ca.crt}}\nauthentication: {type: basic, username: u, passwordSecret: {name: pw, key: password}}",
        );
        assert_eq!(problems("spec.schemaRegistry", &ok), []);
        let bad = conn("url: https://u:secret@sr:8081");
        let p = problems("spec.schemaRegistry", &bad);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "spec.schemaRegistry.url");
        assert!(p[0].message.contains("authentication") && !p[0].message.contains("secret@"), "{p:?}");
        let p = problems("spec.schemaRegistry", &conn("url: ftp://sr"));
        assert!(p[0].message.contains("http"), "{p:?}");
        let p = problems("spec.schemaRegistry", &conn("url: sr:8081/x y"));
        assert_eq!(p[0].path, "spec.schemaRegistry.url");
        let p = problems("x", &conn("url: http://sr\nauthentication: {type: bearer}"));
        assert_eq!(p[0].path, "x.authentication.tokenSecret");
        let p = problems("x", &conn("url: http://sr\nauthentication: {type: basic}"));
        let paths: Vec<&str> = p.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["x.authentication.username", "x.authentication.passwordSecret"]);
        let p = problems("x", &conn("url: http://sr\ntls: {caSecret: {name: ca, key: ca.crt}}"));
        assert_eq!(p[0].path, "x.tls.caSecret");
    }
}
