//! `spec.backup.encryption.kms`: the data keys of an encrypted backup wrapped by a key in an
//! external key management service (envelope encryption, docs/enterprise.md "Keys from an
//! external KMS"), instead of one AES key in a Secret. Enterprise feature `kms`.
//!
//! Each backup run encrypts its segments with a fresh 256-bit data key; the KMS key wraps it and
//! the manifest keeps only the wrapped form. The KMS key never leaves the KMS, so revoking the
//! operator's access to it (or disabling it) makes every backup it wrapped unreadable.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::SecretKeyRef;
use super::validation::FieldError;

/// Which service holds the wrapping key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum KmsProvider {
    /// AWS Key Management Service (a symmetric KMS key).
    #[default]
    AwsKms,
    /// The transit secrets engine of HashiCorp Vault or OpenBao.
    VaultTransit,
}

impl KmsProvider {
    /// The name written in the API and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Self::AwsKms => "awsKms",
            Self::VaultTransit => "vaultTransit",
        }
    }
}

/// The key that wraps each backup's data key, and how to reach it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KmsSpec {
    /// The service holding the key: `awsKms` or `vaultTransit`.
    pub provider: KmsProvider,
    /// The wrapping key: for AWS KMS a key id, key ARN, alias name (`alias/backups`) or alias
    /// ARN; for Vault transit the transit key's name. Changing it starts new lineages (the next
    /// backup reads every partition in full, `EncryptionChanged`); earlier backups stay readable
    /// as long as their key is.
    #[schemars(length(min = 1))]
    pub key_id: String,
    /// AWS KMS settings (with `provider: awsKms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_kms: Option<AwsKmsSpec>,
    /// Vault / OpenBao transit settings (with `provider: vaultTransit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_transit: Option<VaultTransitSpec>,
}

/// Reaching AWS KMS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsKmsSpec {
    /// The key's region, e.g. `eu-west-1`.
    #[schemars(length(min = 1))]
    pub region: String,
    /// KMS endpoint URL, for a VPC endpoint or a KMS-compatible service; absent: the region's
    /// public endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// A Secret with static credentials (keys `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
    /// unless named otherwise), mounted into the Jobs as files. Absent: the default AWS
    /// credential chain of the Job's pod, e.g. IRSA / EKS Pod Identity web identity or the
    /// node's role, as for S3 storage without credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<super::storage::S3CredentialsSecret>,
}

/// Reaching a Vault or OpenBao transit engine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultTransitSpec {
    /// The server's URL, e.g. `https://vault.vault.svc:8200`.
    #[schemars(length(min = 1))]
    pub address: String,
    /// Where the transit engine is mounted.
    #[serde(default = "default_mount_path")]
    pub mount_path: String,
    /// A Secret key holding a Vault token allowed to `encrypt`, `decrypt` (and for `rewrap`,
    /// `rewrap`) with the key. Either this or `kubernetesAuth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<SecretKeyRef>,
    /// Log in with the Job pod's service account token (Vault's Kubernetes auth method) instead
    /// of a token from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_auth: Option<VaultKubernetesAuth>,
    /// A Secret key holding the PEM CA bundle that signed the server's certificate; absent:
    /// the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
}

/// Vault's Kubernetes auth method.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultKubernetesAuth {
    /// The Vault role bound to the Job's service account.
    #[schemars(length(min = 1))]
    pub role: String,
    /// Where the auth method is mounted.
    #[serde(default = "default_kubernetes_mount_path")]
    pub mount_path: String,
}

/// The transit engine's default mount.
pub fn default_mount_path() -> String {
    "transit".into()
}

/// The Kubernetes auth method's default mount.
pub fn default_kubernetes_mount_path() -> String {
    "kubernetes".into()
}

/// What is wrong with an `encryption` block at `base` (`spec.backup.encryption` of a
/// `KafkaBackup`, `spec.encryption` of a `KafkaBackupLocation`) as to its key source: exactly one
/// of `keySecret` and `kms` when enabled, and the provider's own block (shared by the webhook and
/// the controller through [`super::rules`]).
pub fn problems(encryption: &super::backup::Encryption, base: &str) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if !encryption.enabled {
        return problems;
    }
    match (&encryption.key_secret, &encryption.kms) {
        (Some(_), Some(_)) => problems.push(FieldError::new(
            base,
            "give either keySecret (one AES-256 key in a Secret) or kms (data keys wrapped by a KMS key), not both",
        )),
        (None, None) => problems.push(FieldError::new(
            base,
            "enabled needs keySecret (the Secret key holding the AES-256 key) or kms (a KMS key wrapping each backup's data key)",
        )),
        _ => {}
    }
    let Some(kms) = &encryption.kms else { return problems };
    let field = format!("{base}.kms");
    if kms.key_id.trim().is_empty() {
        problems.push(FieldError::new(
            format!("{field}.keyId"),
            "name the wrapping key (ARN, alias or transit key name)",
        ));
    }
    match kms.provider {
        KmsProvider::AwsKms => {
            if kms.vault_transit.is_some() {
                problems.push(FieldError::new(
                    format!("{field}.vaultTransit"),
                    "is for provider vaultTransit; this key is in awsKms: remove it or change provider",
                ));
            }
            match &kms.aws_kms {
                None => problems.push(FieldError::new(
                    format!("{field}.awsKms"),
                    "provider awsKms needs awsKms.region (and endpoint/credentialsSecret where needed)",
                )),
                Some(aws) => {
                    if aws.region.trim().is_empty() {
                        problems.push(FieldError::new(
                            format!("{field}.awsKms.region"),
                            "name the key's region, e.g. eu-west-1",
                        ));
                    }
                    if let Some(e) = &aws.endpoint {
                        problems.extend(url_problem(&format!("{field}.awsKms.endpoint"), e));
                    }
                }
            }
        }
        KmsProvider::VaultTransit => {
            if kms.aws_kms.is_some() {
                problems.push(FieldError::new(
                    format!("{field}.awsKms"),
                    "is for provider awsKms; this key is in vaultTransit: remove it or change provider",
                ));
            }
            match &kms.vault_transit {
                None => problems.push(FieldError::new(
                    format!("{field}.vaultTransit"),
                    "provider vaultTransit needs vaultTransit.address and tokenSecret or kubernetesAuth",
                )),
                Some(v) => {
                    problems.extend(url_problem(&format!("{field}.vaultTransit.address"), &v.address));
                    match (&v.token_secret, &v.kubernetes_auth) {
                        (Some(_), Some(_)) => problems.push(FieldError::new(
                            format!("{field}.vaultTransit"),
                            "give either tokenSecret or kubernetesAuth, not both",
                        )),
                        (None, None) => problems.push(FieldError::new(
                            format!("{field}.vaultTransit"),
                            "needs tokenSecret (a Secret key holding a Vault token) or kubernetesAuth (a Vault role for the Job's service account)",
                        )),
                        _ => {}
                    }
                    if v.mount_path.trim_matches('/').is_empty() {
                        problems.push(FieldError::new(
                            format!("{field}.vaultTransit.mountPath"),
                            "name the transit mount, e.g. transit",
                        ));
                    }
                }
            }
        }
    }
    problems
}

fn url_problem(field: &str, url: &str) -> Option<FieldError> {
    match url.split_once("://") {
        Some(("http" | "https", rest)) if !rest.is_empty() => None,
        _ => Some(FieldError::new(field, format!("`{url}`: write an http:// or https:// URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backup::Encryption;

    fn encryption(yaml: &str) -> Encryption {
        serde_yaml_ng::from_str(yaml).expect("encryption")
    }

    fn paths(yaml: &str) -> Vec<String> {
        problems(&encryption(yaml), "spec.backup.encryption").into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn exactly_one_key_source_and_the_providers_block() {
        assert!(paths("{enabled: true, keySecret: {name: k, key: key}}").is_empty());
        assert!(paths("{enabled: false}").is_empty());
        let aws = "kms: {provider: awsKms, keyId: alias/b, awsKms: {region: eu-west-1}}";
        assert!(paths(&format!("{{enabled: true, {aws}}}")).is_empty());
        assert_eq!(
            paths(&format!("{{enabled: true, keySecret: {{name: k, key: key}}, {aws}}}")),
            ["spec.backup.encryption"]
        );
        assert_eq!(paths("{enabled: true}"), ["spec.backup.encryption"]);
        assert_eq!(
            paths("{enabled: true, kms: {provider: awsKms, keyId: k}}"),
            ["spec.backup.encryption.kms.awsKms"]
        );
        assert_eq!(
            paths(
                "{enabled: true, kms: {provider: vaultTransit, keyId: k, vaultTransit: {address: 'http://v:8200'}}}"
            ),
            ["spec.backup.encryption.kms.vaultTransit"]
        );
        let vault = "{enabled: true, kms: {provider: vaultTransit, keyId: k, vaultTransit: {address: 'vault:8200', tokenSecret: {name: t, key: token}}}}";
        assert_eq!(paths(vault), ["spec.backup.encryption.kms.vaultTransit.address"]);
        let ok = encryption(
            "{enabled: true, kms: {provider: vaultTransit, keyId: k, vaultTransit: {address: 'https://v:8200', kubernetesAuth: {role: r}}}}",
        );
        assert!(problems(&ok, "spec.backup.encryption").is_empty());
        let v = ok.kms.and_then(|k| k.vault_transit).expect("vault");
        assert_eq!(
            (v.mount_path.as_str(), v.kubernetes_auth.map(|a| a.mount_path)),
            ("transit", Some("kubernetes".into()))
        );
    }
}
