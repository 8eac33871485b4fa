//! A small client for the Confluent Schema Registry REST API. Not a generated or third-party
//! client: the dozen calls a backup and a restore make are plain JSON over reqwest (which
//! object_store already builds), and the retry policy is the few lines below.

use std::time::Duration;

pub use reqwest::Method;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{RegistryAuth, RegistryConnection};

/// One request's time limit.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of a request failing with a 5xx or no connection.
const ATTEMPTS: u32 = 6;
/// First wait between attempts; doubled each time (0.5, 1, 2, 4, 8 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// A registry's answer other than success, or no answer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an error (its `error_code` and `message` when it gave them).
    #[error("{method} {path}: the registry answered {status}{}: {message}", code.map(|c| format!(" (error {c})")).unwrap_or_default())]
    Status { method: Method, path: String, status: StatusCode, code: Option<i64>, message: String },
    /// No answer after every attempt.
    #[error("{method} {path}: the registry cannot be reached: {message}")]
    Unreachable { method: Method, path: String, message: String },
    #[error("{0}")]
    Setup(String),
}

impl RegistryError {
    /// The HTTP status, when the registry answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// 404: no such subject, version or setting.
    pub fn not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }
}

/// A client for one registry.
#[derive(Clone)]
pub struct Registry {
    http: reqwest::Client,
    base: String,
    auth: Option<Auth>,
}

#[derive(Clone)]
enum Auth {
    Basic(String, String),
    Bearer(String),
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("base", &self.base).finish_non_exhaustive()
    }
}

/// `url` without user info (for logs and the backup object).
pub fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => url.to_string(),
    }
}

impl Registry {
    /// A client for `conn`; reads its CA and credential files.
    pub fn new(conn: &RegistryConnection) -> Result<Self, RegistryError> {
        let url = reqwest::Url::parse(&conn.url).map_err(|e| {
            RegistryError::Setup(format!("schemaRegistry.url `{}`: {e}", redacted(&conn.url)))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(RegistryError::Setup(format!(
                "schemaRegistry.url `{}`: write an http:// or https:// URL",
                redacted(&conn.url)
            )));
        }
        let mut builder =
            reqwest::Client::builder().timeout(TIMEOUT).connect_timeout(Duration::from_secs(10));
        if let Some(ca) = &conn.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                RegistryError::Setup(format!("reading the registry CA file {}: {e}", ca.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| RegistryError::Setup(format!("the registry CA file {}: {e}", ca.display())))?;
            builder = builder.tls_certs_only(certs);
        }
        let read = |file: &std::path::Path, what: &str| {
            std::fs::read_to_string(file).map(|s| s.trim_end_matches(['\r', '\n']).to_string()).map_err(|e| {
                RegistryError::Setup(format!("reading the registry {what} file {}: {e}", file.display()))
            })
        };
        let auth = match &conn.authentication {
            None => None,
            Some(RegistryAuth::Basic { username, password_file }) => {
                Some(Auth::Basic(username.clone(), read(password_file, "password")?))
            }
            Some(RegistryAuth::Bearer { token_file }) => Some(Auth::Bearer(read(token_file, "token")?)),
        };
        let http = builder.build().map_err(|e| RegistryError::Setup(format!("registry client: {e}")))?;
        Ok(Self { http, base: conn.url.trim_end_matches('/').to_string(), auth })
    }

    /// The registry's URL without user info.
    pub fn url(&self) -> String {
        redacted(&self.base)
    }

    /// Sends `method path` (with `body` as JSON), retrying 5xx answers and connection failures
    /// with exponential backoff; the answer's JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RegistryError> {
        let mut wait = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header("Accept", "application/vnd.schemaregistry.v1+json, application/json");
            req = match &self.auth {
                Some(Auth::Basic(u, p)) => req.basic_auth(u, Some(p)),
                Some(Auth::Bearer(t)) => req.bearer_auth(t),
                None => req,
            };
            if let Some(body) = body {
                req = req
                    .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                    .body(body.to_string());
            }
            let failure = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok(if text.trim().is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_str(&text).map_err(|e| RegistryError::Status {
                                method: method.clone(),
                                path: path.into(),
                                status,
                                code: None,
                                message: format!("the answer is not JSON: {e}"),
                            })?
                        });
                    }
                    let parsed: Option<Value> = serde_json::from_str(&text).ok();
                    let code = parsed.as_ref().and_then(|v| v.get("error_code")).and_then(Value::as_i64);
                    let message = parsed
                        .as_ref()
                        .and_then(|v| v.get("message"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| text.chars().take(300).collect());
                    let e = RegistryError::Status {
                        method: method.clone(),
                        path: path.into(),
                        status,
                        code,
                        message,
                    };
                    if !status.is_server_error() {
                        return Err(e);
                    }
                    e
                }
                Err(e) => RegistryError::Unreachable {
                    method: method.clone(),
                    path: path.into(),
                    message: error_chain(&e),
                },
            };
            if attempt >= ATTEMPTS {
                return Err(failure);
            }
            tracing::warn!(attempt, error = %failure, "schema registry request failed; retrying");
            tokio::time::sleep(wait).await;
            wait *= 2;
            attempt += 1;
        }
    }

    /// `GET path`, parsed as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RegistryError> {
        let v = self.call(Method::GET, path, None).await?;
        serde_json::from_value(v).map_err(|e| RegistryError::Status {
            method: Method::GET,
            path: path.into(),
            status: StatusCode::OK,
            code: None,
            message: format!("unexpected answer: {e}"),
        })
    }
}

/// An error with its sources (reqwest's own message is only the outermost).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A subject as a path segment.
pub fn segment(subject: &str) -> String {
    let mut out = String::new();
    for b in subject.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_user_info_and_subjects_are_escaped() {
        assert_eq!(redacted("https://u:p@reg:8081/apis/ccompat/v7/"), "https://reg:8081/apis/ccompat/v7");
        assert_eq!(segment("com.acme/orders value"), "com.acme%2Forders%20value");
    }
}
