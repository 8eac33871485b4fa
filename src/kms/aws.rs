//! AWS KMS through the AWS SDK: `Encrypt` wraps a data key under the configured key, `Decrypt`
//! unwraps it, `ReEncrypt` rewraps it (after a rotation or to another key). Every call carries
//! the encryption context `kafkabackup.com/backup-id = <backup id>`, so a wrapped key is bound
//! to its backup: KMS refuses to unwrap it under another id, and CloudTrail names the backup.
//!
//! Credentials: files from a mounted Secret when given, else the SDK's default chain (web
//! identity / IRSA, EKS Pod Identity and ECS container credentials, the instance profile).

use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;

use super::{AwsKmsAccess, KmsError};
use crate::format::data_keys::DataKeyEntry;

/// The encryption context key naming the backup a data key belongs to.
pub const CONTEXT_KEY: &str = "kafkabackup.com/backup-id";

/// A KMS client for one key.
pub struct AwsKms {
    client: aws_sdk_kms::Client,
    key_id: String,
}

fn call_error<E: std::error::Error + 'static>(key: &str, operation: &'static str, e: E) -> KmsError {
    let message = DisplayErrorContext(&e).to_string();
    let hint = if message.contains("DisabledException") {
        " (the key is disabled: enable it, or restore is impossible until it is)"
    } else if message.contains("NotFoundException") {
        " (no such key in this account and region)"
    } else if message.contains("AccessDenied") {
        " (the Job's identity lacks kms permissions on the key)"
    } else if message.contains("KMSInvalidStateException") {
        " (the key is pending deletion or not usable)"
    } else {
        ""
    };
    KmsError::Call {
        provider: "awsKms",
        key: key.to_string(),
        operation,
        message: format!("{message}{hint}"),
    }
}

impl AwsKms {
    pub async fn connect(key_id: &str, access: &AwsKmsAccess) -> Result<Self, KmsError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(access.region.clone()));
        match (&access.access_key_id_file, &access.secret_access_key_file) {
            (Some(id), Some(secret)) => {
                let id = super::read_secret_file(id, "AWS access key id")?;
                let secret = super::read_secret_file(secret, "AWS secret access key")?;
                loader = loader.credentials_provider(aws_sdk_kms::config::Credentials::new(
                    id.as_str(),
                    secret.as_str(),
                    None,
                    None,
                    "strimzi-backup-kms-secret",
                ));
            }
            (None, None) => {}
            _ => {
                return Err(KmsError::Setup(
                    "awsKms: give both the access key id and the secret access key files, or neither (the default chain)".into(),
                ));
            }
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_kms::config::Builder::from(&shared);
        if let Some(endpoint) = &access.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Ok(Self { client: aws_sdk_kms::Client::from_conf(config.build()), key_id: key_id.to_string() })
    }

    /// Wraps `raw` for `backup_id`: the key's ARN (as KMS names it) and the ciphertext, base64.
    pub async fn wrap(&self, backup_id: &str, raw: &[u8]) -> Result<(String, String), KmsError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(raw))
            .encryption_context(CONTEXT_KEY, backup_id)
            .send()
            .await
            .map_err(|e| call_error(&self.key_id, "Encrypt", e))?;
        let blob = out.ciphertext_blob().ok_or_else(|| KmsError::Call {
            provider: "awsKms",
            key: self.key_id.clone(),
            operation: "Encrypt",
            message: "the answer holds no ciphertext".into(),
        })?;
        let arn = out.key_id().unwrap_or(&self.key_id).to_string();
        Ok((arn, base64::engine::general_purpose::STANDARD.encode(blob.as_ref())))
    }

    /// The data key `entry` wraps (KMS finds the key material from the ciphertext; the key id
    /// is passed so a ciphertext of another key is refused).
    pub async fn unwrap(&self, entry: &DataKeyEntry) -> Result<zeroize::Zeroizing<Vec<u8>>, KmsError> {
        let blob = base64::engine::general_purpose::STANDARD.decode(&entry.wrapped).map_err(|e| {
            KmsError::Setup(format!("backup {}: the wrapped data key is not base64: {e}", entry.backup_id))
        })?;
        let out = self
            .client
            .decrypt()
            .key_id(&entry.kms_key_id)
            .ciphertext_blob(Blob::new(blob))
            .encryption_context(CONTEXT_KEY, &entry.backup_id)
            .send()
            .await
            .map_err(|e| call_error(&entry.kms_key_id, "Decrypt", e))?;
        let plain = out.plaintext().ok_or_else(|| KmsError::Call {
            provider: "awsKms",
            key: entry.kms_key_id.clone(),
            operation: "Decrypt",
            message: "the answer holds no plaintext".into(),
        })?;
        Ok(zeroize::Zeroizing::new(plain.as_ref().to_vec()))
    }

    /// `entry` wrapped again under the configured key (its current key material): `ReEncrypt`,
    /// the data key never leaving KMS.
    pub async fn rewrap(&self, entry: &DataKeyEntry) -> Result<(String, String), KmsError> {
        let blob = base64::engine::general_purpose::STANDARD.decode(&entry.wrapped).map_err(|e| {
            KmsError::Setup(format!("backup {}: the wrapped data key is not base64: {e}", entry.backup_id))
        })?;
        let out = self
            .client
            .re_encrypt()
            .ciphertext_blob(Blob::new(blob))
            .source_key_id(&entry.kms_key_id)
            .source_encryption_context(CONTEXT_KEY, &entry.backup_id)
            .destination_key_id(&self.key_id)
            .destination_encryption_context(CONTEXT_KEY, &entry.backup_id)
            .send()
            .await
            .map_err(|e| call_error(&entry.kms_key_id, "ReEncrypt", e))?;
        let blob = out.ciphertext_blob().ok_or_else(|| KmsError::Call {
            provider: "awsKms",
            key: self.key_id.clone(),
            operation: "ReEncrypt",
            message: "the answer holds no ciphertext".into(),
        })?;
        let arn = out.key_id().unwrap_or(&self.key_id).to_string();
        Ok((arn, base64::engine::general_purpose::STANDARD.encode(blob.as_ref())))
    }
}
