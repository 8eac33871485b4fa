//! A certificate authority and serving certificate for local runs (`--webhook-self-signed`),
//! where neither OLM nor cert-manager issues one. The CA is written beside the pair as `ca.crt`
//! so that `hack/` can register the webhooks with `clientConfig.url` and `caBundle`.
//!
//! Each bootstrap makes a new CA; its private key is never written, so nothing outside the
//! process can sign for it. Clusters use OLM's or cert-manager's certificates instead.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, KeyPair, KeyUsagePurpose,
};

use crate::certs::{CERT_FILE, KEY_FILE};

/// The file the CA certificate is written to, beside `tls.crt` and `tls.key`.
pub const CA_FILE: &str = "ca.crt";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("generating the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// A signing CA that lives only in memory.
pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A serving certificate and its key, PEM.
pub struct Issued {
    pub cert_pem: String,
    /// PKCS#8 (`PRIVATE KEY`).
    pub key_pem: String,
    key_der: Vec<u8>,
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

impl Authority {
    pub fn new() -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "strimzi-backup-operator webhook CA");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, 3650);
        Ok(Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate()?)? })
    }

    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A serving certificate for `names` (DNS names or IP addresses), valid for a year.
    pub fn issue(&self, names: &[String]) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, names.first().map(String::as_str).unwrap_or("localhost"));
        params.distinguished_name = name;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        validity(&mut params, 365);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), key_der: key.serialize_der() })
    }
}

impl Issued {
    /// The key as SEC1 (`EC PRIVATE KEY`), the form OLM writes: for tests of that form.
    pub fn sec1_key_pem(&self) -> Option<String> {
        use aws_lc_rs::encoding::AsDer;
        let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &self.key_der,
        )
        .ok()?;
        let der = pair.private_key().as_der().ok()?;
        Some(pem::encode(&pem::Pem::new("EC PRIVATE KEY", der.as_ref().to_vec())))
    }
}

fn write(path: PathBuf, contents: &str, private: bool) -> Result<(), BootstrapError> {
    let fail = |source| BootstrapError::Write { path: path.clone(), source };
    // Written aside and renamed, so the certificate watcher never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(fail)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    std::fs::rename(&tmp, &path).map_err(fail)
}

/// Makes a CA and a serving certificate for `names` and writes `ca.crt`, `tls.key`, `tls.crt`
/// into `dir`; returns the path of `ca.crt`.
pub fn bootstrap(dir: &Path, names: &[String]) -> Result<PathBuf, BootstrapError> {
    std::fs::create_dir_all(dir).map_err(|source| BootstrapError::Write { path: dir.into(), source })?;
    let ca = Authority::new()?;
    let leaf = ca.issue(names)?;
    let ca_path = dir.join(CA_FILE);
    write(ca_path.clone(), &ca.ca_pem(), false)?;
    write(dir.join(KEY_FILE), &leaf.key_pem, true)?;
    write(dir.join(CERT_FILE), &leaf.cert_pem, false)?;
    Ok(ca_path)
}
