//! The serving certificate, from a directory holding `tls.crt` and `tls.key` — the layout OLM
//! and cert-manager both mount (default `/tmp/k8s-webhook-server/serving-certs`). The key may be
//! PKCS#8, PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`, what OLM writes).
//!
//! Rotation: Kubernetes updates a mounted Secret by swapping a symlink, some time after the
//! Secret changed, and a rotating tool may write the two files one after the other. So the files
//! are read again every few seconds; a new pair is taken only when both parse and the key
//! matches the certificate, and until then the previous pair keeps serving. TLS handshakes ask
//! the store for the current pair, so a rotation needs no restart and drops no connection.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The default certificate directory, as controller-runtime, OLM and cert-manager setups use it.
pub const DEFAULT_DIR: &str = "/tmp/k8s-webhook-server/serving-certs";
pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("{key} does not hold a key usable for {cert}: {reason}")]
    Key { cert: PathBuf, key: PathBuf, reason: String },
}

/// The current certificate pair, and where it is read from.
pub struct CertStore {
    dir: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Current>,
}

/// The bytes of `tls.crt` and `tls.key` as last read.
type Files = (Vec<u8>, Vec<u8>);

struct Current {
    key: Arc<CertifiedKey>,
    /// The bytes the pair was read from: a change means a rotation.
    files: Files,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read { path: path.into(), source })
}

/// The crypto provider everything here uses: aws-lc-rs, as kube's client.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl CertStore {
    /// Loads the pair in `dir`.
    pub fn load(dir: impl Into<PathBuf>) -> Result<Self, CertError> {
        let dir = dir.into();
        let provider = provider();
        let (files, key) = Self::read_pair(&dir, &provider)?;
        Ok(Self { dir, provider, current: RwLock::new(Current { key, files }) })
    }

    /// Waits until `dir` holds a usable pair (a cert-manager Certificate may be issued after the
    /// pod starts), saying once a minute what is missing.
    pub async fn wait_for(dir: impl Into<PathBuf>, poll: Duration) -> Self {
        let dir = dir.into();
        let mut last_said: Option<std::time::Instant> = None;
        loop {
            match Self::load(&dir) {
                Ok(store) => return store,
                Err(e) => {
                    if last_said.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        tracing::warn!(error = %e, "waiting for the webhook's serving certificate");
                        last_said = Some(std::time::Instant::now());
                    }
                }
            }
            tokio::time::sleep(poll).await;
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read_pair(dir: &Path, provider: &CryptoProvider) -> Result<(Files, Arc<CertifiedKey>), CertError> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        let files = (read(&cert_path)?, read(&key_path)?);
        let key = parse(&files.0, &files.1, &cert_path, &key_path, provider)?;
        Ok((files, key))
    }

    /// Reads the files again; true when they changed and the new pair now serves. A pair that
    /// does not load leaves the previous one serving and is reported.
    pub fn reload(&self) -> Result<bool, CertError> {
        let cert_path = self.dir.join(CERT_FILE);
        let key_path = self.dir.join(KEY_FILE);
        let files = (read(&cert_path)?, read(&key_path)?);
        if self.current.read().is_ok_and(|c| c.files == files) {
            return Ok(false);
        }
        let key = parse(&files.0, &files.1, &cert_path, &key_path, &self.provider)?;
        match self.current.write() {
            Ok(mut current) => *current = Current { key, files },
            Err(poisoned) => *poisoned.into_inner() = Current { key, files },
        }
        Ok(true)
    }

    /// Reloads every `interval`, for as long as the store is in use.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::time::sleep(interval).await;
                let Some(store) = store.upgrade() else { return };
                match store.reload() {
                    Ok(true) => {
                        failing = false;
                        tracing::info!(dir = %store.dir.display(), "webhook serving certificate rotated");
                    }
                    Ok(false) => failing = false,
                    Err(e) if !failing => {
                        // Mid-rotation the two files can disagree for a moment: said once, retried.
                        failing = true;
                        tracing::warn!(error = %e, "cannot load the rotated webhook certificate; the previous one keeps serving");
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// The pair serving now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(c) => c.key.clone(),
            Err(poisoned) => poisoned.into_inner().key.clone(),
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn parse(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::Pem { path: cert_path.into(), reason: e.to_string() })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate { path: cert_path.into() });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| CertError::Pem { path: key_path.into(), reason: e.to_string() })?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| CertError::Key {
        cert: cert_path.into(),
        key: key_path.into(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(certified))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::self_signed;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("webhook-certs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn loads_sec1_ec_keys_and_reloads_only_a_whole_new_pair() {
        let dir = temp_dir("reload");
        let ca = self_signed::Authority::new().expect("ca");
        let first = ca.issue(&["localhost".into()]).expect("leaf");
        std::fs::write(dir.join(CERT_FILE), &first.cert_pem).expect("write");
        // OLM writes `EC PRIVATE KEY` (SEC1).
        std::fs::write(dir.join(KEY_FILE), first.sec1_key_pem().expect("sec1")).expect("write");
        let store = CertStore::load(&dir).expect("loads a SEC1 key");
        let served = store.current();
        assert!(!store.reload().expect("same files"), "nothing changed");

        // Half a rotation: a new certificate with the old key is refused, the old pair serves.
        let second = ca.issue(&["localhost".into()]).expect("leaf");
        std::fs::write(dir.join(CERT_FILE), &second.cert_pem).expect("write");
        let err = store.reload().expect_err("mismatched pair");
        assert!(err.to_string().contains(KEY_FILE), "{err}");
        assert!(Arc::ptr_eq(&served, &store.current()));

        std::fs::write(dir.join(KEY_FILE), &second.key_pem).expect("write");
        assert!(store.reload().expect("whole pair"));
        assert_eq!(
            store.current().cert[0].as_ref(),
            CertificateDer::from_pem_slice(second.cert_pem.as_bytes()).expect("der").as_ref()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_or_empty_file_is_named() {
        let dir = temp_dir("missing");
        let err = CertStore::load(&dir).expect_err("nothing there");
        assert!(err.to_string().contains("tls.crt"), "{err}");
        std::fs::write(dir.join(CERT_FILE), "").expect("write");
        std::fs::write(dir.join(KEY_FILE), "").expect("write");
        assert!(matches!(CertStore::load(&dir), Err(CertError::NoCertificate { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
