//! The installed licence as the process last read it: the token text, shared by the admission
//! webhook and the controllers, kept current by the operator's watcher of the licence Secret
//! (`operator::license::watch`). Its room: the token and its check; it imports only
//! [`crate::license`]. It lives below both the webhook and the operator so that neither imports
//! the other for it.
//!
//! The token is kept as text and verified at each use, so a licence that expires while the
//! process runs stops granting at its expiry time, not at the next Secret change.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use super::{Claims, LicenseError};

/// The licence token as last read from the Secret; cheap to clone and share.
#[derive(Clone, Debug, Default)]
pub struct InstalledLicense {
    token: Arc<RwLock<Option<String>>>,
}

impl InstalledLicense {
    /// A licence installed from the start (tests).
    pub fn with_token(token: Option<String>) -> Self {
        Self { token: Arc::new(RwLock::new(token)) }
    }

    pub fn set(&self, token: Option<String>) {
        match self.token.write() {
            Ok(mut t) => *t = token,
            Err(poisoned) => *poisoned.into_inner() = token,
        }
    }

    /// The token as installed, if any.
    pub fn token(&self) -> Option<String> {
        match self.token.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The licence's claims if it is valid at `now`, else why not.
    pub fn check(&self, now: DateTime<Utc>) -> Result<Claims, LicenseError> {
        super::verify(&self.token().unwrap_or_default(), now)
    }
}
