//! `verify-audit`: checks the whole chain of an audit database and names the first broken row.
//! The URL (with its password) comes from a file or the environment, never from an argument,
//! which anyone on the machine could read in the process list.

use std::path::PathBuf;

use serde::Serialize;

use super::store::{Connection, Store, StoreError};

/// `STRIMZI_BACKUP_AUDIT_URL`: the database URL when no `--url-file` is given.
pub const URL_ENV: &str = "STRIMZI_BACKUP_AUDIT_URL";

/// Where `verify-audit` finds the database.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// A file holding the URL (a mounted Secret's `url` key).
    pub url_file: Option<PathBuf>,
    /// The CA of the server's certificate (a mounted Secret's `ca.crt`).
    pub ca_file: Option<PathBuf>,
}

/// What `verify-audit` prints.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub rows_checked: u64,
    pub intact: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading {0}: {1}")]
    File(PathBuf, std::io::Error),
    #[error("no audit database given: pass --url-file FILE, or set {URL_ENV}")]
    NoUrl,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Target {
    /// The connection: URL from the file or `get(URL_ENV)`, CA from its file.
    pub fn connection(&self, get: impl Fn(&str) -> Option<String>) -> Result<Connection, VerifyError> {
        let url = match &self.url_file {
            Some(f) => std::fs::read_to_string(f).map_err(|e| VerifyError::File(f.clone(), e))?,
            None => get(URL_ENV).ok_or(VerifyError::NoUrl)?,
        };
        let url = url.trim().to_string();
        if url.is_empty() {
            return Err(VerifyError::NoUrl);
        }
        let ca_pem = match &self.ca_file {
            Some(f) => Some(std::fs::read(f).map_err(|e| VerifyError::File(f.clone(), e))?),
            None => None,
        };
        Ok(Connection { url, ca_pem })
    }
}

/// Checks the chain: the rows checked, or the error naming the first broken row.
pub async fn run(target: &Target) -> Result<Report, VerifyError> {
    let connection = target.connection(|k| std::env::var(k).ok())?;
    let store = Store::connect(&connection).await?;
    let rows_checked = store.verify().await?;
    Ok(Report { rows_checked, intact: true })
}
