//! How a Job reaches the KMS of `spec.backup.encryption.kms`: each Secret it names mounted as a
//! file (never a variable, an argument or a value in the config), and the data plane's
//! [`KmsAccess`] pointing at those files. Without a credentials Secret nothing is mounted and
//! the pod's own identity applies (AWS: IRSA / EKS Pod Identity and the default chain; Vault:
//! Kubernetes auth with the service account token).

use crate::api::backup::KafkaBackup;
use crate::api::kms::KmsSpec;
use crate::kms::{AwsKmsAccess, KmsAccess, VaultTransitAccess};
use crate::operator::storage_access::StorageAccess;

/// Where the KMS Secrets are mounted (one directory each: a volume per Secret key).
pub const AWS_ACCESS_KEY_ID_FILE: &str = "/etc/strimzi-backup/kms-aws-access-key-id/value";
pub const AWS_SECRET_ACCESS_KEY_FILE: &str = "/etc/strimzi-backup/kms-aws-secret-access-key/value";
pub const VAULT_TOKEN_FILE: &str = "/etc/strimzi-backup/kms-vault-token/token";
pub const VAULT_CA_FILE: &str = "/etc/strimzi-backup/kms-vault-ca/ca.crt";

/// The KMS settings of a `KafkaBackup` whose backups are encrypted with keys from a KMS.
pub fn of_backup(kb: &KafkaBackup) -> Option<&KmsSpec> {
    kb.spec.backup.encryption.as_ref().filter(|e| e.enabled).and_then(|e| e.kms.as_ref())
}

/// Mounts what `spec` names into `access`; the data plane's settings.
pub fn mount(spec: &KmsSpec, access: &mut StorageAccess) -> KmsAccess {
    let aws_kms = spec.aws_kms.as_ref().map(|a| {
        let (mut id, mut secret) = (None, None);
        if let Some(c) = &a.credentials_secret {
            access.mount_secret_file(
                "kms-aws-access-key-id",
                &c.name,
                &c.access_key_id_key,
                AWS_ACCESS_KEY_ID_FILE,
            );
            access.mount_secret_file(
                "kms-aws-secret-access-key",
                &c.name,
                &c.secret_access_key_key,
                AWS_SECRET_ACCESS_KEY_FILE,
            );
            id = Some(AWS_ACCESS_KEY_ID_FILE.into());
            secret = Some(AWS_SECRET_ACCESS_KEY_FILE.into());
        }
        AwsKmsAccess {
            region: a.region.clone(),
            endpoint: a.endpoint.clone(),
            access_key_id_file: id,
            secret_access_key_file: secret,
        }
    });
    let vault_transit = spec.vault_transit.as_ref().map(|v| {
        let token_file = v.token_secret.as_ref().map(|t| {
            access.mount_secret_file("kms-vault-token", &t.name, &t.key, VAULT_TOKEN_FILE);
            VAULT_TOKEN_FILE.into()
        });
        let ca_file = v.ca_secret.as_ref().map(|c| {
            access.mount_secret_file("kms-vault-ca", &c.name, &c.key, VAULT_CA_FILE);
            VAULT_CA_FILE.into()
        });
        VaultTransitAccess {
            address: v.address.clone(),
            mount_path: v.mount_path.clone(),
            token_file,
            kubernetes_role: v.kubernetes_auth.as_ref().map(|k| k.role.clone()),
            kubernetes_mount_path: v
                .kubernetes_auth
                .as_ref()
                .map_or_else(crate::api::kms::default_kubernetes_mount_path, |k| k.mount_path.clone()),
            service_account_token_file: None,
            ca_file,
        }
    });
    KmsAccess { provider: spec.provider, key_id: spec.key_id.clone(), aws_kms, vault_transit }
}

/// [`mount`] for a `KafkaBackup` that uses a KMS.
pub fn for_backup(kb: &KafkaBackup, access: &mut StorageAccess) -> Option<KmsAccess> {
    of_backup(kb).map(|spec| mount(spec, access))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_become_files_and_no_value_reaches_the_config() {
        let spec: KmsSpec = serde_yaml_ng::from_str(
            "{provider: awsKms, keyId: alias/b, awsKms: {region: r, endpoint: 'http://kms:4566', credentialsSecret: {name: kms-creds}}}",
        )
        .expect("spec");
        let mut access = StorageAccess::default();
        let kms = mount(&spec, &mut access);
        let aws = kms.aws_kms.clone().expect("aws");
        assert_eq!(aws.access_key_id_file.as_deref(), Some(std::path::Path::new(AWS_ACCESS_KEY_ID_FILE)));
        assert_eq!(access.volumes.len(), 2);
        assert!(access.env.is_empty(), "no variable carries a credential");
        let paths: Vec<_> = access.mounts.iter().map(|m| m.mount_path.as_str()).collect();
        assert_eq!(
            paths,
            ["/etc/strimzi-backup/kms-aws-access-key-id", "/etc/strimzi-backup/kms-aws-secret-access-key"]
        );
        // The default chain: nothing mounted.
        let spec: KmsSpec =
            serde_yaml_ng::from_str("{provider: awsKms, keyId: k, awsKms: {region: r}}").expect("spec");
        let mut access = StorageAccess::default();
        assert!(mount(&spec, &mut access).aws_kms.expect("aws").access_key_id_file.is_none());
        assert!(access.volumes.is_empty());
        let spec: KmsSpec = serde_yaml_ng::from_str(
            "{provider: vaultTransit, keyId: backups, vaultTransit: {address: 'https://v', tokenSecret: {name: vt, key: token}, caSecret: {name: ca, key: ca.crt}}}",
        )
        .expect("spec");
        let mut access = StorageAccess::default();
        let v = mount(&spec, &mut access).vault_transit.expect("vault");
        assert_eq!(v.token_file.as_deref(), Some(std::path::Path::new(VAULT_TOKEN_FILE)));
        assert_eq!(v.ca_file.as_deref(), Some(std::path::Path::new(VAULT_CA_FILE)));
        assert_eq!(access.volumes.len(), 2);
    }
}
