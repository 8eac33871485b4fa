//! Whether the audit log runs under the installed licence (pure but for the licence read):
//! only with a licence that grants `audit` (`crate::license::feature::AUDIT`). After such a
//! licence expires it keeps running, with a warning: stopping an audit log would lose the
//! evidence it exists for (SPEC §4: expiry never stops protecting data). Without one, nothing
//! is queued or written, and the operator says why (log, metric, one Event).

use chrono::{DateTime, Utc};

use crate::license::{self, InstalledLicense, LicenseError, feature};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// A valid licence grants `audit`.
    Licensed,
    /// The licence that granted `audit` expired: auditing goes on, with a warning.
    Expired(String),
    /// No licence grants it: nothing is recorded. Says why.
    Unlicensed(String),
}

impl Gate {
    pub fn records(&self) -> bool {
        !matches!(self, Gate::Unlicensed(_))
    }

    /// The `state` label of `strimzi_backup_audit_enabled`.
    pub fn state(&self) -> &'static str {
        match self {
            Gate::Licensed => "licensed",
            Gate::Expired(_) => "licence-expired",
            Gate::Unlicensed(_) => "unlicensed",
        }
    }
}

/// The gate under `checked` (the licence's verdict now) and the installed `token`.
pub fn decide(checked: &Result<license::Claims, LicenseError>, token: Option<&str>) -> Gate {
    match checked {
        Ok(claims) if claims.allows(feature::AUDIT) => Gate::Licensed,
        Ok(claims) => Gate::Unlicensed(format!(
            "the licence {} does not grant the `{}` feature; the audit log records nothing",
            claims.id,
            feature::AUDIT
        )),
        Err(e @ LicenseError::Expired { .. })
            if token
                .and_then(|t| license::signed_claims(t).ok())
                .is_some_and(|c| c.allows(feature::AUDIT)) =>
        {
            Gate::Expired(format!(
                "{e}; the audit log keeps recording (stopping it would lose evidence), renew the licence"
            ))
        }
        Err(e) => Gate::Unlicensed(format!(
            "{e}; the audit log is an Enterprise feature (`{}`) and records nothing",
            feature::AUDIT
        )),
    }
}

/// The gate of the installed licence at `now`.
pub fn of(installed: &InstalledLicense, now: DateTime<Utc>) -> Gate {
    decide(&installed.check(now), installed.token().as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::{Claims, Edition, issue, test_key};

    fn token(features: &[&str], days: i64) -> String {
        let now = Utc::now();
        let claims = Claims {
            id: "lic-a".into(),
            customer: "c".into(),
            edition: Edition::Enterprise,
            features: features.iter().map(|f| f.to_string()).collect(),
            issued_at: now - chrono::Duration::days(40),
            expires_at: now + chrono::Duration::days(days),
        };
        issue(&claims, &test_key::SEED).expect("token")
    }

    #[test]
    fn auditing_needs_the_feature_and_survives_expiry() {
        let now = Utc::now();
        let at = |t: Option<String>| of(&InstalledLicense::with_token(t), now);
        assert!(matches!(at(None), Gate::Unlicensed(why) if why.contains("no licence")));
        assert_eq!(at(Some(token(&["audit"], 10))), Gate::Licensed);
        assert_eq!(at(Some(token(&["*"], 10))), Gate::Licensed);
        assert!(
            matches!(at(Some(token(&["encryption"], 10))), Gate::Unlicensed(why) if why.contains("`audit`"))
        );
        let expired = at(Some(token(&["audit"], -1)));
        assert!(matches!(&expired, Gate::Expired(why) if why.contains("keeps recording")), "{expired:?}");
        assert!(expired.records());
        assert!(!at(Some(token(&["encryption"], -1))).records());
    }
}
