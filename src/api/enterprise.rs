//! Which fields of a spec need the Enterprise edition (SPEC §4), and what a licence check says
//! about them. Written once for the admission webhook (which denies new Enterprise use without
//! a valid licence) and the `KafkaBackup` controller (which checks again, for clusters where the
//! webhook is bypassed, and sets the `LicenseInvalid` condition).
//!
//! Today only at-rest encryption (`spec.backup.encryption`) is Enterprise; audit, erasure,
//! restore access policy and masking will be listed here when they exist. Restores have no
//! Enterprise fields: restoring one's own backups, encrypted ones too, never needs a licence.

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
    }
    uses
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
