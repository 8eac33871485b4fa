//! Keys from an external KMS (envelope encryption, Enterprise feature `kms`; docs/enterprise.md
//! "Keys from an external KMS", docs/format.md `encoding.dataKeys`).
//!
//! A backup run draws a fresh 256-bit data key, has the KMS wrap it ([`Kms::new_data_key`]),
//! seals its segments with it exactly as a key from a Secret would, and records only the
//! wrapped form in its manifest — with the wrapped keys of the earlier backups whose segments it
//! lists. Readers (restore, verify, drill) unwrap each once per run ([`KeySource`]).
//!
//! Credentials reach this code only as files (mounted Secrets) or the pod's own identity (the
//! AWS default credential chain: IRSA web identity, container and instance roles; Vault's
//! Kubernetes auth with the service account token). No credential or data key is logged.
//!
//! Its room: the two KMS clients ([`aws`], [`vault`]), the data plane's view of the settings,
//! and the per-run cache; the manifest's field is [`crate::format::data_keys`].

pub mod aws;
pub mod vault;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::sync::Mutex;

use crate::api::kms::KmsProvider;
use crate::format::codec::EncryptionKey;
use crate::format::data_keys::DataKeyEntry;
use crate::format::manifest::Manifest;

/// Where the service account token of a pod is mounted (Vault's Kubernetes auth reads it).
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// What a data-plane run needs to reach the KMS: the API's `spec.backup.encryption.kms` with
/// every Secret replaced by the file it is mounted as. Never holds a secret itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KmsAccess {
    pub provider: KmsProvider,
    /// The wrapping key (AWS KMS key id/ARN/alias; transit key name).
    pub key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_kms: Option<AwsKmsAccess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_transit: Option<VaultTransitAccess>,
}

/// AWS KMS: region, endpoint, and static credentials as files (absent: the default chain).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsKmsAccess {
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_file: Option<PathBuf>,
}

/// Vault / OpenBao transit: the server, the mount, and a token file or a Kubernetes auth role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultTransitAccess {
    pub address: String,
    #[serde(default = "crate::api::kms::default_mount_path")]
    pub mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_role: Option<String>,
    #[serde(default = "crate::api::kms::default_kubernetes_mount_path")]
    pub kubernetes_mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// A KMS call that failed, naming the key and what to check.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// The settings cannot work (missing block, unreadable file).
    #[error("kms: {0}")]
    Setup(String),
    /// The KMS refused or failed the operation.
    #[error("{provider} key {key}: {operation} failed: {message}")]
    Call { provider: &'static str, key: String, operation: &'static str, message: String },
    /// An unwrapped key is not the one the manifest recorded.
    #[error(
        "the data key of backup {backup} unwrapped by {provider} key {key} has id {found}, the manifest records {expected}: the wrapped key was altered or swapped"
    )]
    WrongKey { backup: String, provider: String, key: String, expected: String, found: String },
}

/// The id a KMS-encrypted manifest records as `encryptionKeyId`: names the wrapping key (the
/// first 8 bytes of the SHA-256 of `kms:<provider>:<keyId>`), so backups wrapped by the same
/// key continue one lineage although each has its own data key, and a change of key (or from a
/// Secret's key to a KMS) breaks it (`EncryptionChanged`).
pub fn lineage_key_id(access: &KmsAccess) -> String {
    let digest = sha2::Sha256::digest(format!("kms:{}:{}", access.provider.name(), access.key_id));
    hex::encode(&digest[..8])
}

/// A connected KMS client for one wrapping key.
pub enum Kms {
    Aws(aws::AwsKms),
    Vault(vault::VaultTransit),
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms").field("provider", &self.provider().name()).finish_non_exhaustive()
    }
}

impl Kms {
    /// Builds the client `access` describes (reads its credential files; no call yet).
    pub async fn connect(access: &KmsAccess) -> Result<Self, KmsError> {
        match access.provider {
            KmsProvider::AwsKms => {
                let aws = access.aws_kms.as_ref().ok_or_else(|| {
                    KmsError::Setup(
                        "provider awsKms needs the awsKms block (region, endpoint, credentials)".into(),
                    )
                })?;
                Ok(Self::Aws(aws::AwsKms::connect(&access.key_id, aws).await?))
            }
            KmsProvider::VaultTransit => {
                let v = access.vault_transit.as_ref().ok_or_else(|| {
                    KmsError::Setup(
                        "provider vaultTransit needs the vaultTransit block (address, token)".into(),
                    )
                })?;
                Ok(Self::Vault(vault::VaultTransit::connect(&access.key_id, v).await?))
            }
        }
    }

    pub fn provider(&self) -> KmsProvider {
        match self {
            Self::Aws(_) => KmsProvider::AwsKms,
            Self::Vault(_) => KmsProvider::VaultTransit,
        }
    }

    /// A fresh data key for backup `backup_id`, and its wrapped form for the manifest.
    pub async fn new_data_key(&self, backup_id: &str) -> Result<(EncryptionKey, DataKeyEntry), KmsError> {
        let (key, raw) = EncryptionKey::generate().map_err(KmsError::Setup)?;
        let (kms_key_id, kms_key_version, wrapped) = match self {
            Self::Aws(a) => {
                let (arn, wrapped) = a.wrap(backup_id, &raw).await?;
                (arn, None, wrapped)
            }
            Self::Vault(v) => {
                let (version, wrapped) = v.wrap(&raw).await?;
                (v.key_name().to_string(), version, wrapped)
            }
        };
        let entry = DataKeyEntry {
            backup_id: backup_id.to_string(),
            key_id: key.id().to_string(),
            provider: self.provider().name().to_string(),
            kms_key_id,
            kms_key_version,
            wrapped,
        };
        Ok((key, entry))
    }

    /// The data key `entry` wraps, checked against the id the manifest recorded.
    pub async fn unwrap(&self, entry: &DataKeyEntry) -> Result<EncryptionKey, KmsError> {
        if entry.provider != self.provider().name() {
            return Err(KmsError::Setup(format!(
                "backup {}'s data key is wrapped by {} key {}, but the settings given are for {}",
                entry.backup_id,
                entry.provider,
                entry.kms_key_id,
                self.provider().name()
            )));
        }
        let raw = match self {
            Self::Aws(a) => a.unwrap(entry).await?,
            Self::Vault(v) => v.unwrap(entry).await?,
        };
        let key = EncryptionKey::from_secret(&raw).map_err(|e| {
            KmsError::Setup(format!("backup {}: the unwrapped data key is unusable: {e}", entry.backup_id))
        })?;
        if key.id() != entry.key_id {
            return Err(KmsError::WrongKey {
                backup: entry.backup_id.clone(),
                provider: entry.provider.clone(),
                key: entry.kms_key_id.clone(),
                expected: entry.key_id.clone(),
                found: key.id().to_string(),
            });
        }
        Ok(key)
    }

    /// `entry` wrapped again by the newest version of its wrapping key (after a rotation), the
    /// data key itself unchanged: Vault transit `rewrap`, AWS KMS `ReEncrypt`.
    pub async fn rewrap(&self, entry: &DataKeyEntry) -> Result<DataKeyEntry, KmsError> {
        let mut out = entry.clone();
        match self {
            Self::Aws(a) => {
                let (arn, wrapped) = a.rewrap(entry).await?;
                out.kms_key_id = arn;
                out.wrapped = wrapped;
            }
            Self::Vault(v) => {
                let (version, wrapped) = v.rewrap(entry).await?;
                out.kms_key_version = version;
                out.wrapped = wrapped;
            }
        }
        Ok(out)
    }
}

/// Unwrapped data keys of one run, by wrapped key: a restore point lists the keys of earlier
/// backups again, and a restore chain or verify over many manifests meets them many times; each
/// is unwrapped (one KMS call) once.
#[derive(Clone, Default)]
pub struct KeyCache {
    keys: Arc<Mutex<BTreeMap<(String, String), EncryptionKey>>>,
}

impl KeyCache {
    /// The key `entry` wraps: from the cache, or from `unwrap` (then cached).
    pub async fn get_or_unwrap<F, Fut>(
        &self,
        entry: &DataKeyEntry,
        unwrap: F,
    ) -> Result<EncryptionKey, KmsError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<EncryptionKey, KmsError>>,
    {
        let id = (entry.backup_id.clone(), entry.wrapped.clone());
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.get(&id) {
            return Ok(key.clone());
        }
        let key = unwrap().await?;
        keys.insert(id, key.clone());
        Ok(key)
    }

    /// How many keys are cached.
    pub async fn cached(&self) -> usize {
        self.keys.lock().await.len()
    }
}

/// Where a reader finds the key of each manifest: the key from a Secret (a file), or the KMS.
#[derive(Default)]
pub struct KeySource {
    given: Option<EncryptionKey>,
    access: Option<KmsAccess>,
    kms: tokio::sync::OnceCell<Kms>,
    cache: KeyCache,
}

impl KeySource {
    /// `key_file`: the AES key of backups encrypted with a key from a Secret; `kms`: the KMS
    /// settings for backups whose data keys it wraps. Either, both or none may be given.
    pub fn new(key_file: Option<&std::path::Path>, kms: Option<&KmsAccess>) -> anyhow::Result<Self> {
        Ok(Self {
            given: crate::catalog::load_key(key_file)?,
            access: kms.cloned(),
            kms: tokio::sync::OnceCell::new(),
            cache: KeyCache::default(),
        })
    }

    /// The key to read `manifest`'s segments with: none for a plain backup, the given key for a
    /// backup encrypted with it, and for one with wrapped data keys a ring of them all
    /// (unwrapped by the KMS, each once per run).
    pub async fn for_manifest(&self, manifest: &Manifest) -> anyhow::Result<Option<EncryptionKey>> {
        let entries = &manifest.encoding.data_keys;
        if entries.is_empty() {
            return crate::catalog::key_for(manifest, self.given.clone());
        }
        let access = self.access.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "backup {}'s data keys are wrapped by {} key {}: give the kms settings to reach it",
                manifest.backup_id,
                entries[0].provider,
                entries[0].kms_key_id
            )
        })?;
        let mut ring = BTreeMap::new();
        for entry in entries {
            ring.insert(entry.backup_id.clone(), self.unwrap_with(access, entry).await?);
        }
        let own = ring
            .get(&manifest.backup_id)
            .or_else(|| ring.values().next())
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("backup {} lists no data key", manifest.backup_id))?;
        let id = manifest.encoding.encryption_key_id.clone().unwrap_or_else(|| own.id().to_string());
        Ok(Some(EncryptionKey::ring(&own, &id, ring)))
    }

    /// The data key `entry` wraps, unwrapped by the KMS `access` reaches (connected on first
    /// use): each entry once for this source, however many segments or manifests need it.
    pub async fn unwrap_with(
        &self,
        access: &KmsAccess,
        entry: &DataKeyEntry,
    ) -> anyhow::Result<EncryptionKey> {
        let kms = self.kms.get_or_try_init(|| Kms::connect(access)).await?;
        Ok(self.cache.get_or_unwrap(entry, || kms.unwrap(entry)).await?)
    }
}

/// Reads a credential file, trimmed of a trailing newline, naming the file on failure.
fn read_secret_file(file: &std::path::Path, what: &str) -> Result<zeroize::Zeroizing<String>, KmsError> {
    std::fs::read_to_string(file)
        .map(|s| zeroize::Zeroizing::new(s.trim_end_matches(['\r', '\n']).to_string()))
        .map_err(|e| KmsError::Setup(format!("reading the {what} file {}: {e}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn entry(backup: &str, wrapped: &str) -> DataKeyEntry {
        DataKeyEntry {
            backup_id: backup.into(),
            key_id: String::new(),
            provider: "vaultTransit".into(),
            kms_key_id: "backups".into(),
            kms_key_version: Some(1),
            wrapped: wrapped.into(),
        }
    }

    /// Unwrapped data keys are kept only in memory and wiped when dropped: the raw bytes
    /// (`Zeroizing`) and the cipher's expanded AES and GHASH keys (aes-gcm's `zeroize` feature;
    /// without it this does not compile).
    #[test]
    fn data_keys_are_wiped_when_dropped() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<aes_gcm::Aes256Gcm>();
        wiped_on_drop::<zeroize::Zeroizing<Vec<u8>>>();
    }

    #[tokio::test]
    async fn each_wrapped_key_is_unwrapped_once_per_run() {
        let cache = KeyCache::default();
        let calls = AtomicUsize::new(0);
        let unwrap = |seed: u8| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { EncryptionKey::from_secret(&[seed; 32]).map_err(KmsError::Setup) }
        };
        let a = cache.get_or_unwrap(&entry("b-1", "vault:v1:a"), || unwrap(1)).await.expect("a");
        let again = cache.get_or_unwrap(&entry("b-1", "vault:v1:a"), || unwrap(9)).await.expect("a again");
        assert_eq!(a.id(), again.id(), "the cached key, not a second unwrap");
        // The same backup's key wrapped anew (a rewrap) is another entry.
        cache.get_or_unwrap(&entry("b-1", "vault:v2:a"), || unwrap(1)).await.expect("rewrapped");
        cache.get_or_unwrap(&entry("b-2", "vault:v1:b"), || unwrap(2)).await.expect("b");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(cache.cached().await, 3);
        // A failure is not cached.
        let failed =
            cache.get_or_unwrap(&entry("b-3", "x"), || async { Err(KmsError::Setup("down".into())) }).await;
        assert!(failed.is_err());
        assert_eq!(cache.cached().await, 3);
    }

    #[test]
    fn the_lineage_id_names_the_wrapping_key_not_the_data_key() {
        let access = |provider, key: &str| KmsAccess {
            provider,
            key_id: key.into(),
            aws_kms: None,
            vault_transit: None,
        };
        let a = lineage_key_id(&access(KmsProvider::AwsKms, "alias/backups"));
        assert_eq!(a.len(), 16);
        assert_eq!(a, lineage_key_id(&access(KmsProvider::AwsKms, "alias/backups")));
        assert_ne!(a, lineage_key_id(&access(KmsProvider::AwsKms, "alias/other")));
        assert_ne!(a, lineage_key_id(&access(KmsProvider::VaultTransit, "alias/backups")));
    }

    #[test]
    fn a_ring_picks_each_segments_data_key_by_its_backup() {
        let one = EncryptionKey::from_secret(&[1u8; 32]).expect("key");
        let two = EncryptionKey::from_secret(&[2u8; 32]).expect("key");
        let ring = EncryptionKey::ring(
            &two,
            "lineage",
            BTreeMap::from([("b-1".to_string(), one.clone()), ("b-2".to_string(), two.clone())]),
        );
        assert_eq!(ring.id(), "lineage");
        let sealed = one.seal(b"aad", b"records").expect("seal");
        let picked = ring.for_object("p/backups/b-1/segments/t/0/1.kbseg").expect("b-1");
        assert_eq!(picked.open(b"aad", &sealed).as_deref(), Some(&b"records"[..]));
        assert_eq!(ring.for_object("p/backups/b-2/segments/t/0/1.kbseg").expect("b-2").id(), two.id());
        let err = ring.for_object("p/backups/b-3/segments/t/0/1.kbseg").expect_err("b-3");
        assert!(err.contains("backup b-3"), "{err}");
        // A single key serves every object.
        assert_eq!(one.for_object("anything").expect("one").id(), one.id());
    }
}
