//! Enterprise licences (SPEC §4), verified offline.
//!
//! A licence is a token `<claims>.<signature>`: the claims as JSON, base64url without padding,
//! and the Ed25519 signature of exactly those claim bytes, base64url too. It is verified against
//! public keys compiled into the binary. A release build trusts the release key only; the test
//! key (whose private half is in the repository, for tests and `hack/`) is trusted only by test
//! builds and builds with the `test-license` feature. Nothing at run time can add a key.
//!
//! - [`installed`]: the installed licence's token, shared by the webhook and the controllers.
//! - [`accepted`]: Enterprise settings accepted under a valid licence, remembered beyond the
//!   object that used them (so a re-created `KafkaBackup` keeps protecting data).
//!
//! Its room: below `api`, `admission` and `operator`; it imports none of them.

pub mod accepted;
pub mod installed;

pub use installed::InstalledLicense;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The release signing key's public half. Its private half is not in the repository.
const RELEASE_KEY: [u8; 32] = hex_key("163f419daf8ef18842e0c81ce574fcb247f496aebaf6a78f70946670b73744e2");

/// The test key: both halves public, trusted only by test builds.
#[cfg(any(test, feature = "test-license"))]
pub mod test_key {
    /// Signs test licences (tests, `hack/`).
    pub const SEED: [u8; 32] =
        super::hex_key("dc50701228f4aace0858e1e2c462804d5923bea0a91f5b92dfee4b2362e68286");
    pub const PUBLIC: [u8; 32] =
        super::hex_key("1b6b2d38fc480844278f77aa374c151f44e7c3a4329dbe11dd17ba3d87f90775");
}

/// 64 hex digits as 32 bytes, at compile time.
const fn hex_key(hex: &str) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let bytes = hex.as_bytes();
    assert!(bytes.len() == 64, "a key is 64 hex digits");
    let mut key = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        key[i] = digit(bytes[2 * i]) << 4 | digit(bytes[2 * i + 1]);
        i += 1;
    }
    key
}

fn trusted_keys() -> Vec<&'static [u8; 32]> {
    #[allow(unused_mut)]
    let mut keys = vec![&RELEASE_KEY];
    #[cfg(any(test, feature = "test-license"))]
    keys.push(&test_key::PUBLIC);
    keys
}

/// Features only the Enterprise edition has (SPEC §4), by the name licences list them under.
pub mod feature {
    /// `spec.backup.encryption`.
    pub const ENCRYPTION: &str = "encryption";
    /// `KafkaBackup.spec.restorePolicy`: restoring needs the `restore` verb on the backup, and
    /// the policy's target clusters and approval.
    pub const RESTORE_POLICY: &str = "restore-policy";
    /// The audit log in PostgreSQL (operator configuration, not a field).
    pub const AUDIT: &str = "audit";
    /// The `KafkaDataErasure` kind (right to be forgotten).
    pub const ERASURE: &str = "erasure";
    /// `KafkaRestore.spec.masking`.
    pub const MASKING: &str = "masking";
    /// `spec.backup.encryption.kms`: data keys wrapped by an external KMS.
    pub const KMS: &str = "kms";
}

/// The edition a licence grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    Enterprise,
}

/// What a licence says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub id: String,
    pub customer: String,
    pub edition: Edition,
    /// Enterprise features granted, e.g. `encryption`; `*` grants all.
    pub features: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Claims {
    pub fn allows(&self, feature: &str) -> bool {
        self.edition == Edition::Enterprise && self.features.iter().any(|f| f == feature || f == "*")
    }
}

/// Why there is no valid licence; the text is what users read in denials and conditions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    #[error(
        "no licence is installed (Secret strimzi-backup-license, key license.key, in the operator's namespace)"
    )]
    Missing,
    #[error("the licence is not a licence token: {0}")]
    Malformed(String),
    #[error("the licence's signature does not verify: it was not issued for this product or was altered")]
    BadSignature,
    #[error("the licence {id} expired on {on}")]
    Expired { id: String, on: String },
    #[error("the licence {id} is valid only from {from}")]
    NotYetValid { id: String, from: String },
}

impl LicenseError {
    /// The names of this state: the metrics' `state` label (`missing`, `expired`,
    /// `not-yet-valid`, `invalid`) and the CamelCase reason of conditions and Events.
    pub fn names(&self) -> (&'static str, &'static str) {
        match self {
            LicenseError::Missing => ("missing", "LicenseMissing"),
            LicenseError::Expired { .. } => ("expired", "LicenseExpired"),
            LicenseError::NotYetValid { .. } => ("not-yet-valid", "LicenseNotYetValid"),
            LicenseError::BadSignature | LicenseError::Malformed(_) => ("invalid", "LicenseInvalid"),
        }
    }
}

/// Verifies `token` at `now` against the keys this build trusts.
pub fn verify(token: &str, now: DateTime<Utc>) -> Result<Claims, LicenseError> {
    verify_with(token, now, &trusted_keys())
}

/// The claims of `token` if its signature verifies, whatever its dates: what the metrics and
/// messages report about an expired licence.
pub fn signed_claims(token: &str) -> Result<Claims, LicenseError> {
    signed_claims_with(token, &trusted_keys())
}

/// How far this cluster's clock may lag the issuer's: a licence issued a moment ago, applied at
/// once to a cluster whose clock is a little behind, is valid, not "not yet valid". Expiry gets no
/// such grace: it is days away from issue, and a lapse is never a surprise.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

fn verify_with(token: &str, now: DateTime<Utc>, keys: &[&[u8; 32]]) -> Result<Claims, LicenseError> {
    let claims = signed_claims_with(token, keys)?;
    if now >= claims.expires_at {
        return Err(LicenseError::Expired {
            id: claims.id,
            on: claims.expires_at.format("%Y-%m-%d").to_string(),
        });
    }
    if now + MAX_CLOCK_SKEW < claims.issued_at {
        return Err(LicenseError::NotYetValid { id: claims.id, from: claims.issued_at.to_rfc3339() });
    }
    Ok(claims)
}

fn signed_claims_with(token: &str, keys: &[&[u8; 32]]) -> Result<Claims, LicenseError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(LicenseError::Missing);
    }
    let (claims_b64, signature_b64) = token
        .split_once('.')
        .ok_or_else(|| LicenseError::Malformed("expected <claims>.<signature>".into()))?;
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| LicenseError::Malformed(format!("{what} is not base64url: {e}")))
    };
    let claims_bytes = decode(claims_b64, "the claims")?;
    let signature = decode(signature_b64, "the signature")?;
    let verified = keys.iter().any(|key| {
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, key.as_slice())
            .verify(&claims_bytes, &signature)
            .is_ok()
    });
    if !verified {
        return Err(LicenseError::BadSignature);
    }
    serde_json::from_slice(&claims_bytes).map_err(|e| LicenseError::Malformed(format!("claims: {e}")))
}

/// Signs `claims` with the Ed25519 key of `seed` (test builds: the test key).
#[cfg(any(test, feature = "test-license"))]
pub fn issue(claims: &Claims, seed: &[u8; 32]) -> Result<String, String> {
    let bytes = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(seed).map_err(|e| e.to_string())?;
    let signature = pair.sign(&bytes);
    Ok(format!("{}.{}", URL_SAFE_NO_PAD.encode(&bytes), URL_SAFE_NO_PAD.encode(signature.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap_or_default()
    }

    fn claims() -> Claims {
        Claims {
            id: "lic-0001".into(),
            customer: "Example Bank".into(),
            edition: Edition::Enterprise,
            features: vec![feature::ENCRYPTION.into()],
            issued_at: at(2026, 1, 1),
            expires_at: at(2027, 1, 1),
        }
    }

    #[test]
    fn a_test_licence_verifies_in_a_test_build_and_grants_its_features() {
        let token = issue(&claims(), &test_key::SEED).expect("issued");
        let got = verify(&token, at(2026, 6, 1)).expect("valid");
        assert_eq!(got, claims());
        assert!(got.allows(feature::ENCRYPTION));
        assert!(!got.allows("audit"));
    }

    #[test]
    fn only_compiled_in_keys_are_trusted() {
        let token = issue(&claims(), &test_key::SEED).expect("issued");
        // What a release build trusts: the test key's licence does not verify there.
        assert_eq!(verify_with(&token, at(2026, 6, 1), &[&RELEASE_KEY]), Err(LicenseError::BadSignature));
        // A key of someone else's.
        let other = issue(&claims(), &[7u8; 32]).expect("issued");
        assert_eq!(verify(&other, at(2026, 6, 1)), Err(LicenseError::BadSignature));
    }

    #[test]
    fn altered_expired_missing_and_garbage_are_each_named() {
        let token = issue(&claims(), &test_key::SEED).expect("issued");
        let (c, s) = token.split_once('.').expect("two parts");
        let mut longer = claims();
        longer.expires_at = at(2099, 1, 1);
        let altered = format!("{}.{s}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&longer).expect("json")));
        assert_eq!(verify(&altered, at(2026, 6, 1)), Err(LicenseError::BadSignature));
        let expired = verify(&token, at(2027, 3, 1)).expect_err("expired");
        assert_eq!(expired.to_string(), "the licence lic-0001 expired on 2027-01-01");
        assert_eq!(verify("  ", at(2026, 6, 1)), Err(LicenseError::Missing));
        assert!(matches!(verify("nonsense", at(2026, 6, 1)), Err(LicenseError::Malformed(_))));
        assert!(matches!(verify(&format!("{c}.!!"), at(2026, 6, 1)), Err(LicenseError::Malformed(_))));
        assert!(matches!(verify(&token, at(2025, 6, 1)), Err(LicenseError::NotYetValid { .. })));
    }

    #[test]
    fn a_clock_a_few_minutes_behind_the_issuer_accepts_a_fresh_licence() {
        let token = issue(&claims(), &test_key::SEED).expect("issued");
        let issued = claims().issued_at;
        let behind = |minutes: i64| verify(&token, issued - chrono::Duration::minutes(minutes));
        assert_eq!(behind(1), Ok(claims()));
        assert_eq!(behind(5), Ok(claims()));
        assert!(matches!(behind(6), Err(LicenseError::NotYetValid { .. })));
    }
}
