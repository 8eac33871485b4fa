//! Fixed licence tokens, made once outside the product — with `openssl pkeyutl -sign -rawin` over
//! claim JSON written by hand — so that the product's `issue()` is not the only witness of what a
//! licence is. Every build must keep reading them exactly as below; never regenerate them.
//!
//! How they were made (the test key's seed is `license::test_key::SEED`; its PKCS#8 form is the
//! 16-byte prefix `302e020100300506032b657004220420` followed by the seed):
//!
//! ```text
//! openssl pkey -inform DER -in test.der -out test.pem
//! printf '%s' '<claims>' > c.bin && openssl pkeyutl -sign -inkey test.pem -rawin -in c.bin > sig.bin
//! token = base64url(c.bin) "." base64url(sig.bin)      (no padding)
//! ```
//!
//! `WRONG_KEY` is signed by a fresh Ed25519 key (`openssl genpkey -algorithm ed25519`) that was
//! then thrown away; `TAMPERED` is `VALID` with its features widened to `"*"` and the signature
//! of `VALID` kept.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::env::TestEnv;
use crate::fixtures::Cluster;
use crate::operator::minio_storage;

/// Enterprise, `features: ["encryption"]`, id `golden-valid`, issued 2026-01-01, expires 2099-01-01,
/// signed with the test key: valid for test builds, refused by a release build.
pub const VALID: &str = "eyJpZCI6ImdvbGRlbi12YWxpZCIsImN1c3RvbWVyIjoiR29sZGVuIEJhbmsiLCJlZGl0aW9uIjoiZW50ZXJwcmlzZSIsImZlYXR1cmVzIjpbImVuY3J5cHRpb24iXSwiaXNzdWVkQXQiOiIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsImV4cGlyZXNBdCI6IjIwOTktMDEtMDFUMDA6MDA6MDBaIn0.5rWGIeGJ-IWX_2vs9BTzaiQqtM4IhXNB5jHMnUzYWMJaAvjdRxz0sp_I1VtyUhYBJMRHlCTcPrnZAKXukMGcDg";

/// Id `golden-expired`, issued 2025-01-01, expired 2026-01-01, test key.
pub const EXPIRED: &str = "eyJpZCI6ImdvbGRlbi1leHBpcmVkIiwiY3VzdG9tZXIiOiJHb2xkZW4gQmFuayIsImVkaXRpb24iOiJlbnRlcnByaXNlIiwiZmVhdHVyZXMiOlsiZW5jcnlwdGlvbiJdLCJpc3N1ZWRBdCI6IjIwMjUtMDEtMDFUMDA6MDA6MDBaIiwiZXhwaXJlc0F0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoifQ.uJA9Ys7rSa0sQIy_QMzU4AjbgUq_ISWMVpgL_FUbyVzq_q7JXBpMtkcCgHnQQNF1JxJiGFf9rRd6orf85A9QBg";

/// Id `golden-wrong-key`, dates as `VALID`, signed by a key no build trusts.
pub const WRONG_KEY: &str = "eyJpZCI6ImdvbGRlbi13cm9uZy1rZXkiLCJjdXN0b21lciI6IkdvbGRlbiBCYW5rIiwiZWRpdGlvbiI6ImVudGVycHJpc2UiLCJmZWF0dXJlcyI6WyJlbmNyeXB0aW9uIl0sImlzc3VlZEF0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJleHBpcmVzQXQiOiIyMDk5LTAxLTAxVDAwOjAwOjAwWiJ9.xsb62-BMA_JW7baH4Us9-iCBp-WL3ZCIcIr6hP6Gzm2QZXpdzkOC9x3u-iNKvRNpz3FrVwhLZRKLO5be3zlLAw";

/// `VALID`'s signature on claims that grant every feature (`"*"`).
pub const TAMPERED: &str = "eyJpZCI6ImdvbGRlbi12YWxpZCIsImN1c3RvbWVyIjoiR29sZGVuIEJhbmsiLCJlZGl0aW9uIjoiZW50ZXJwcmlzZSIsImZlYXR1cmVzIjpbIioiXSwiaXNzdWVkQXQiOiIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsImV4cGlyZXNBdCI6IjIwOTktMDEtMDFUMDA6MDA6MDBaIn0.5rWGIeGJ-IWX_2vs9BTzaiQqtM4IhXNB5jHMnUzYWMJaAvjdRxz0sp_I1VtyUhYBJMRHlCTcPrnZAKXukMGcDg";

/// Installs `token` as the operator's licence (the Secret `strimzi-backup-license` in `ns`).
pub async fn install(cluster: &Cluster, ns: &str, token: &str) -> anyhow::Result<()> {
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "strimzi-backup-license"},
        "stringData": {"license.key": token}});
    secrets
        .patch("strimzi-backup-license", &PatchParams::apply("e2e").force(), &Patch::Apply(&secret))
        .await?;
    Ok(())
}

/// A scheduled, encrypted (Enterprise) KafkaBackup `name` of `topic`, its key in Secret
/// `key_secret` (key `key`), stored at `prefix` in MinIO.
pub fn encrypted_backup(
    env: &TestEnv,
    name: &str,
    key_secret: &str,
    topic: &str,
    prefix: &str,
) -> anyhow::Result<String> {
    Ok(format!(
        "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: {name}}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n{}  backup: {{mode: full, encryption: {{enabled: true, keySecret: {{name: {key_secret}, key: key}}}}}}\n  schedule: {{cron: '* * * * *'}}\n",
        minio_storage(env, prefix, "minio-credentials", 2)?
    ))
}

/// The licences under which a new use of `feature` must be refused, each with the words its
/// refusal names: none installed (`None`), the golden expired one, the golden valid one (it grants
/// only `encryption`), and one granting `feature` that has expired.
pub fn refusing(feature: &str) -> anyhow::Result<Vec<(Option<String>, String)>> {
    Ok(vec![
        (None, "no licence is installed".into()),
        (Some(EXPIRED.to_string()), "expired on 2026-01-01".into()),
        (Some(VALID.to_string()), format!("does not grant the `{feature}` feature")),
        (Some(issued(&[feature], -1)?), "expired".into()),
    ])
}

/// Installs `token` as the operator's licence in `ns`, or deletes the licence Secret for `None`.
pub async fn put(cluster: &Cluster, ns: &str, token: Option<&str>) -> anyhow::Result<()> {
    match token {
        Some(token) => install(cluster, ns, token).await,
        None => {
            let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
            secrets.delete("strimzi-backup-license", &Default::default()).await?;
            Ok(())
        }
    }
}

/// A licence granting `features`, expiring `days` from now (negative: already expired), issued
/// by the product's own `license` subcommand with the test key (what `hack/license` runs).
pub fn issued(features: &[&str], days: i64) -> anyhow::Result<String> {
    let mut cmd = std::process::Command::new(crate::dataplane::binary());
    cmd.args(["license", "--days", &days.to_string()]);
    for f in features {
        cmd.args(["--feature", f]);
    }
    let out = cmd.output()?;
    anyhow::ensure!(out.status.success(), "license: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use strimzi_backup_operator::license::{Edition, LicenseError, verify};

    fn now() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).single().expect("a date")
    }

    #[test]
    fn the_golden_tokens_read_as_they_were_made() {
        let valid = verify(super::VALID, now()).expect("VALID verifies in a test build");
        assert_eq!(
            (valid.id.as_str(), valid.customer.as_str(), valid.edition, valid.features.clone()),
            ("golden-valid", "Golden Bank", Edition::Enterprise, vec!["encryption".to_string()])
        );
        assert_eq!(valid.expires_at.to_rfc3339(), "2099-01-01T00:00:00+00:00");
        assert!(valid.allows("encryption") && !valid.allows("masking"));
        assert_eq!(
            verify(super::EXPIRED, now()),
            Err(LicenseError::Expired { id: "golden-expired".into(), on: "2026-01-01".into() })
        );
        assert_eq!(verify(super::WRONG_KEY, now()), Err(LicenseError::BadSignature));
        assert_eq!(verify(super::TAMPERED, now()), Err(LicenseError::BadSignature));
    }
}
