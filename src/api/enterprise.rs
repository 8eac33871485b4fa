//! Which fields of a spec need the Enterprise edition (SPEC §4), and what a licence check says
//! about them. Written once for the admission webhook (which denies new Enterprise use without
//! a valid licence) and the `KafkaBackup` controller (which checks again, for clusters where the
//! webhook is bypassed, and sets the `LicenseInvalid` condition).
//!
//! [`verdict`] is the one licence decision: the webhook and the controller both call it, with
//! what each knows was accepted before (the old object on an update; the status; the record
//! that outlives the object, `crate::license::accepted`, named by [`record_name`]).
//!
//! Its room: the API types and `crate::license` (claims, errors); no I/O.
//!
//! Today only at-rest encryption (`spec.backup.encryption`) is Enterprise; audit, erasure,
//! restore access policy and masking will be listed here when they exist.
//!
//! Restores: restoring one's own backups, encrypted ones too, never needs a licence. Only
//! masking on restore (`KafkaRestore.spec.masking`, feature `masking`) is Enterprise
//! ([`restore_uses`]): a restore with it is refused without a licence granting `masking`, one
//! without it is never looked at. A `KafkaRestore` is one run with an immutable spec, so there
//! is nothing "accepted before" to keep running: the webhook checks at creation, the controller
//! before each Job it starts (plan and run); a Job already started runs to its end.

use sha2::Digest;

use super::backup::KafkaBackupSpec;
use super::validation::FieldError;
use crate::license::{Claims, LicenseError, feature};

/// A field in use that needs the Enterprise edition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnterpriseUse {
    /// Path users see, e.g. `spec.backup.encryption`.
    pub field: &'static str,
    /// The licence feature that grants it, e.g. `encryption`.
    pub feature: &'static str,
    /// What it is, for messages.
    pub what: &'static str,
    /// The field's value, for [`fingerprint`].
    value: serde_json::Value,
}

/// The Enterprise fields `spec` uses.
pub fn backup_uses(spec: &KafkaBackupSpec) -> Vec<EnterpriseUse> {
    let mut uses = Vec::new();
    if let Some(encryption) = spec.backup.encryption.as_ref().filter(|e| e.enabled) {
        uses.push(EnterpriseUse {
            field: "spec.backup.encryption",
            feature: feature::ENCRYPTION,
            what: "at-rest encryption",
            value: serde_json::to_value(encryption).unwrap_or_default(),
        });
        // Keys from a KMS are a feature of their own, on top of encryption itself.
        if let Some(kms) = &encryption.kms {
            uses.push(EnterpriseUse {
                field: "spec.backup.encryption.kms",
                feature: feature::KMS,
                what: "keys from an external KMS",
                value: serde_json::to_value(kms).unwrap_or_default(),
            });
        }
    }
    if let Some(policy) = &spec.restore_policy {
        uses.push(EnterpriseUse {
            field: "spec.restorePolicy",
            feature: feature::RESTORE_POLICY,
            what: "the restore access policy",
            value: serde_json::to_value(policy).unwrap_or_default(),
        });
    }
    uses
}

/// The Enterprise fields a `KafkaRestore` spec uses: masking only.
pub fn restore_uses(spec: &super::restore::KafkaRestoreSpec) -> Vec<EnterpriseUse> {
    spec.masking
        .iter()
        .map(|m| EnterpriseUse {
            field: "spec.masking",
            feature: feature::MASKING,
            what: "masking on restore",
            value: serde_json::to_value(m).unwrap_or_default(),
        })
        .collect()
}

/// The Enterprise fields a `KafkaDataErasure` spec uses: the kind itself (feature `erasure`),
/// named at `spec` — every erasure needs a licence granting it.
pub fn erasure_uses(spec: &super::erasure::KafkaDataErasureSpec) -> Vec<EnterpriseUse> {
    vec![EnterpriseUse {
        field: "spec",
        feature: feature::ERASURE,
        what: "KafkaDataErasure (the right to be forgotten)",
        value: serde_json::to_value(&spec.topics).unwrap_or_default(),
    }]
}

/// A short digest of the Enterprise settings in use: what a resource records once they were
/// accepted under a valid licence, so that a later lapse only warns about settings that ran
/// before and refuses new or changed ones.
pub fn fingerprint(uses: &[EnterpriseUse]) -> Option<String> {
    if uses.is_empty() {
        return None;
    }
    let mut hash = sha2::Sha256::new();
    for u in uses {
        hash.update(u.field.as_bytes());
        hash.update(b"=");
        hash.update(u.value.to_string().as_bytes());
        hash.update(b"\n");
    }
    Some(hex::encode(&hash.finalize()[..8]))
}

/// Where users put a licence, for messages.
pub const INSTALL_HINT: &str =
    "install one in the Secret strimzi-backup-license (key license.key) in the operator's namespace";

/// The problems of using `uses` under `licence` (the installed licence, checked now): empty
/// when the licence grants every feature used.
pub fn check(uses: &[EnterpriseUse], licence: &Result<Claims, LicenseError>) -> Vec<FieldError> {
    uses.iter()
        .filter_map(|u| {
            let why = match licence {
                Ok(claims) if claims.allows(u.feature) => return None,
                Ok(claims) => format!(
                    "the licence {} of {} does not grant the `{}` feature; ask for a licence that does, or remove the field",
                    claims.id, claims.customer, u.feature
                ),
                Err(e) => format!("{e}; {INSTALL_HINT}, or remove the field"),
            };
            Some(FieldError::new(
                u.field,
                format!("{} needs the Enterprise edition (licence feature `{}`): {why}", u.what, u.feature),
            ))
        })
        .collect()
}

/// The condition reason for a licence that does not allow what is used.
pub fn reason(licence: &Result<Claims, LicenseError>) -> &'static str {
    match licence {
        Ok(_) => "LicenseFeatureMissing",
        Err(e) => e.names().1,
    }
}

/// The licence's verdict on the Enterprise settings of a spec.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Nothing Enterprise is used, or the licence grants every use: it runs. `accepted` is the
    /// fingerprint of the settings the licence accepted, to remember (`None`: nothing Enterprise).
    Allowed { accepted: Option<String> },
    /// New or changed Enterprise settings without a licence that grants them: refused (the
    /// webhook denies, the controller holds). Each problem names its field and why.
    Refused { problems: Vec<FieldError>, reason: &'static str },
    /// Settings accepted before under a valid licence that no longer grants them: they keep
    /// protecting data (SPEC §4: expiry never stops an existing schedule), with these problems as
    /// warnings; changing them is refused.
    Protecting { problems: Vec<FieldError>, reason: &'static str },
}

/// The one licence verdict, for the webhook and the controller: `uses` of a spec under
/// `licence` (the installed licence, checked now), given the fingerprints of settings that were
/// `accepted` under a valid licence before (the old object on an update, the status, the record
/// that outlives a deleted object).
pub fn verdict(uses: &[EnterpriseUse], licence: &Result<Claims, LicenseError>, accepted: &[&str]) -> Verdict {
    let problems = check(uses, licence);
    let fingerprint = fingerprint(uses);
    if problems.is_empty() {
        return Verdict::Allowed { accepted: fingerprint };
    }
    let reason = reason(licence);
    match fingerprint {
        Some(f) if accepted.contains(&f.as_str()) => Verdict::Protecting { problems, reason },
        _ => Verdict::Refused { problems, reason },
    }
}

/// The name of the record that settings with `fingerprint`, accepted under a valid licence for
/// the `KafkaBackup` `namespace/name` writing to `storage`, were accepted: a ConfigMap in the
/// operator's namespace (`crate::license::accepted`). Derived from all four, so the record
/// vouches only for the same object writing to the same location with the same settings: an
/// identical re-apply finds it, a new object, another location or other settings do not.
pub fn record_name(
    namespace: &str,
    name: &str,
    storage: &super::storage::StorageSpec,
    fingerprint: &str,
) -> String {
    let mut hash = sha2::Sha256::new();
    for part in [namespace, name, &serde_json::to_string(storage).unwrap_or_default(), fingerprint] {
        hash.update(part.as_bytes());
        hash.update(b"\n");
    }
    format!("strimzi-backup-licensed-{}", hex::encode(&hash.finalize()[..10]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::Edition;
    use chrono::{TimeZone, Utc};

    fn spec(encryption: &str) -> KafkaBackupSpec {
        serde_yaml_ng::from_str(&format!(
            "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nstorage: {{type: s3, s3: {{bucket: b, region: r}}}}\nbackup: {{{encryption}}}\n"
        ))
        .expect("spec")
    }

    fn claims(features: &[&str]) -> Claims {
        let at = |y| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).single().unwrap_or_default();
        Claims {
            id: "lic-7".into(),
            customer: "Example Bank".into(),
            edition: Edition::Enterprise,
            features: features.iter().map(|f| f.to_string()).collect(),
            issued_at: at(2026),
            expires_at: at(2027),
        }
    }

    #[test]
    fn encryption_is_enterprise_only_when_enabled() {
        assert!(backup_uses(&spec("")).is_empty());
        assert!(backup_uses(&spec("encryption: {enabled: false}")).is_empty());
        let on = spec("encryption: {enabled: true, keySecret: {name: k, key: key}}");
        let uses = backup_uses(&on);
        assert_eq!(uses.len(), 1);
        assert_eq!(uses[0].field, "spec.backup.encryption");
        let other_key = spec("encryption: {enabled: true, keySecret: {name: k2, key: key}}");
        assert_ne!(fingerprint(&uses), fingerprint(&backup_uses(&other_key)));
        assert_eq!(fingerprint(&uses), fingerprint(&backup_uses(&on)));
        assert_eq!(fingerprint(&[]), None);
    }

    #[test]
    fn one_verdict_allows_refuses_or_keeps_protecting_what_was_accepted_before() {
        let uses = backup_uses(&spec("encryption: {enabled: true, keySecret: {name: k, key: key}}"));
        let fp = fingerprint(&uses).expect("a fingerprint");
        assert_eq!(verdict(&[], &Err(LicenseError::Missing), &[]), Verdict::Allowed { accepted: None });
        assert_eq!(verdict(&uses, &Ok(claims(&["*"])), &[]), Verdict::Allowed { accepted: Some(fp.clone()) });
        let expired = Err(LicenseError::Expired { id: "lic-7".into(), on: "2026-11-01".into() });
        match verdict(&uses, &expired, &["0123456789abcdef"]) {
            Verdict::Refused { problems, reason } => {
                assert_eq!((problems[0].path.as_str(), reason), ("spec.backup.encryption", "LicenseExpired"))
            }
            other => panic!("other settings accepted before must not vouch: {other:?}"),
        }
        assert!(matches!(
            verdict(&uses, &expired, &[&fp]),
            Verdict::Protecting { reason: "LicenseExpired", .. }
        ));
        assert!(matches!(verdict(&uses, &Ok(claims(&["audit"])), &[&fp]), Verdict::Protecting { .. }));
    }

    #[test]
    fn only_masking_makes_a_restore_enterprise() {
        let restore = |extra: &str| -> super::super::restore::KafkaRestoreSpec {
            serde_yaml_ng::from_str(&format!(
                "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nbackupRef: {{name: b}}\n{extra}"
            ))
            .expect("restore")
        };
        assert!(restore_uses(&restore("")).is_empty(), "restoring never needs a licence");
        let masked = restore("masking: {rules: [{target: value, action: redact}]}\n");
        let uses = restore_uses(&masked);
        assert_eq!((uses.len(), uses[0].field, uses[0].feature), (1, "spec.masking", "masking"));
        assert!(check(&uses, &Ok(claims(&["masking"]))).is_empty());
        let text = check(&uses, &Ok(claims(&["encryption"])))[0].to_string();
        assert!(
            text.starts_with("spec.masking:") && text.contains("does not grant the `masking` feature"),
            "{text}"
        );
        assert!(!check(&uses, &Err(LicenseError::Missing)).is_empty());
    }

    #[test]
    fn a_record_vouches_for_one_object_location_and_settings() {
        let s = spec("encryption: {enabled: true, keySecret: {name: k, key: key}}");
        let other = spec("encryption: {enabled: true, keySecret: {name: k, key: key}}");
        let mut elsewhere = other.clone();
        if let Some(s3) = elsewhere.storage.s3.as_mut() {
            s3.prefix = Some("elsewhere/".into());
        }
        let name = record_name("a", "nightly", &s.storage, "f1");
        assert_eq!(name, record_name("a", "nightly", &other.storage, "f1"), "an identical re-apply");
        assert!(name.starts_with("strimzi-backup-licensed-") && name.len() <= 63, "{name}");
        for different in [
            record_name("b", "nightly", &s.storage, "f1"),
            record_name("a", "weekly", &s.storage, "f1"),
            record_name("a", "nightly", &elsewhere.storage, "f1"),
            record_name("a", "nightly", &s.storage, "f2"),
        ] {
            assert_ne!(name, different);
        }
    }

    #[test]
    fn the_message_names_field_edition_and_why_the_licence_is_not_valid() {
        let uses = backup_uses(&spec("encryption: {enabled: true, keySecret: {name: k, key: key}}"));
        assert!(check(&uses, &Ok(claims(&["encryption"]))).is_empty());
        assert!(check(&uses, &Ok(claims(&["*"]))).is_empty());
        let missing = check(&uses, &Err(LicenseError::Missing));
        assert_eq!(missing[0].path, "spec.backup.encryption");
        assert!(
            missing[0].message.contains("Enterprise edition") && missing[0].message.contains("no licence")
        );
        let expired = LicenseError::Expired { id: "lic-7".into(), on: "2026-11-01".into() };
        let text = check(&uses, &Err(expired.clone()))[0].to_string();
        assert!(text.contains("expired on 2026-11-01"), "{text}");
        assert_eq!(reason(&Err(expired)), "LicenseExpired");
        let text = check(&uses, &Ok(claims(&["audit"])))[0].to_string();
        assert!(text.contains("does not grant the `encryption` feature"), "{text}");
    }
}
