//! HashiCorp Vault / OpenBao transit engine over its HTTP API (three calls: `encrypt`, `decrypt`,
//! `rewrap`; a small client, like the Schema Registry's). The transit key never leaves Vault;
//! its ciphertexts name the key version that made them (`vault:v3:…`), and Vault decrypts every
//! version at or above the key's `min_decryption_version`, so rotating the key keeps earlier
//! backups readable and `rewrap` moves a wrapped key to the newest version without the data key
//! ever leaving Vault.
//!
//! Authentication: a token from a mounted Secret file, or Vault's Kubernetes auth method with the
//! pod's service account token (login once per run).

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::{KmsError, VaultTransitAccess};
use crate::format::data_keys::DataKeyEntry;

/// One request's time limit.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of a request failing with a 5xx or no connection (waits 0.5, 1, 2, 4 s).
const ATTEMPTS: u32 = 5;

/// A transit client for one key.
pub struct VaultTransit {
    http: reqwest::Client,
    base: String,
    mount: String,
    key: String,
    token: zeroize::Zeroizing<String>,
}

impl VaultTransit {
    /// The client, logged in (Kubernetes auth) or with the token from its file.
    pub async fn connect(key: &str, access: &VaultTransitAccess) -> Result<Self, KmsError> {
        let url = reqwest::Url::parse(&access.address)
            .map_err(|e| KmsError::Setup(format!("vaultTransit.address `{}`: {e}", access.address)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(KmsError::Setup(format!(
                "vaultTransit.address `{}`: write an http:// or https:// URL",
                access.address
            )));
        }
        let mut builder =
            reqwest::Client::builder().timeout(TIMEOUT).connect_timeout(Duration::from_secs(10));
        if let Some(ca) = &access.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| KmsError::Setup(format!("reading the Vault CA file {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| KmsError::Setup(format!("the Vault CA file {}: {e}", ca.display())))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(|e| KmsError::Setup(format!("Vault client: {e}")))?;
        let mut client = Self {
            http,
            base: access.address.trim_end_matches('/').to_string(),
            mount: access.mount_path.trim_matches('/').to_string(),
            key: key.to_string(),
            token: zeroize::Zeroizing::new(String::new()),
        };
        client.token = match (&access.token_file, &access.kubernetes_role) {
            (Some(file), _) => super::read_secret_file(file, "Vault token")?,
            (None, Some(role)) => {
                let jwt_file = access
                    .service_account_token_file
                    .clone()
                    .unwrap_or_else(|| super::SERVICE_ACCOUNT_TOKEN.into());
                let jwt = super::read_secret_file(&jwt_file, "service account token")?;
                let path = format!("auth/{}/login", access.kubernetes_mount_path.trim_matches('/'));
                let answer = client.call("login", &path, json!({"role": role, "jwt": jwt.as_str()})).await?;
                let token =
                    answer.pointer("/auth/client_token").and_then(Value::as_str).ok_or_else(|| {
                        client.error("login", format!("{path} answered without auth.client_token"))
                    })?;
                zeroize::Zeroizing::new(token.to_string())
            }
            (None, None) => {
                return Err(KmsError::Setup(
                    "vaultTransit needs a token file or a Kubernetes auth role".into(),
                ));
            }
        };
        Ok(client)
    }

    /// The transit key's name.
    pub fn key_name(&self) -> &str {
        &self.key
    }

    fn error(&self, operation: &'static str, message: String) -> KmsError {
        KmsError::Call {
            provider: "vaultTransit",
            key: format!("{}/{}", self.mount, self.key),
            operation,
            message,
        }
    }

    /// POSTs `body` to `/v1/<path>` with retries on 5xx and connection failures; the answer.
    async fn call(&self, operation: &'static str, path: &str, body: Value) -> Result<Value, KmsError> {
        let url = format!("{}/v1/{path}", self.base);
        let mut wait = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            let mut req =
                self.http.post(&url).header("Content-Type", "application/json").body(body.to_string());
            if !self.token.is_empty() {
                req = req.header("X-Vault-Token", self.token.as_str());
            }
            let failure = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        return serde_json::from_str(&text).map_err(|e| {
                            self.error(operation, format!("{path}: the answer is not JSON: {e}"))
                        });
                    }
                    let errors = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v.get("errors").cloned())
                        .map(|e| e.to_string())
                        .unwrap_or(text);
                    let message = format!("{path}: Vault answered {status}: {errors}");
                    if !status.is_server_error() {
                        return Err(self.error(operation, message));
                    }
                    message
                }
                Err(e) => format!("{path}: Vault cannot be reached at {}: {e}", self.base),
            };
            if attempt >= ATTEMPTS {
                return Err(self.error(operation, failure));
            }
            tracing::warn!(attempt, "{failure}; retrying");
            tokio::time::sleep(wait).await;
            wait *= 2;
            attempt += 1;
        }
    }

    /// The key version a ciphertext names (`vault:v3:…` is 3).
    fn version_of(ciphertext: &str) -> Option<u64> {
        ciphertext.strip_prefix("vault:v")?.split_once(':')?.0.parse().ok()
    }

    fn ciphertext(&self, operation: &'static str, answer: &Value) -> Result<(Option<u64>, String), KmsError> {
        let text = answer
            .pointer("/data/ciphertext")
            .and_then(Value::as_str)
            .ok_or_else(|| self.error(operation, "the answer holds no data.ciphertext".into()))?;
        let version =
            answer.pointer("/data/key_version").and_then(Value::as_u64).or_else(|| Self::version_of(text));
        Ok((version, text.to_string()))
    }

    /// Wraps `raw`: the key version used and the ciphertext.
    pub async fn wrap(&self, raw: &[u8]) -> Result<(Option<u64>, String), KmsError> {
        let plaintext = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(raw));
        let answer = self
            .call(
                "encrypt",
                &format!("{}/encrypt/{}", self.mount, self.key),
                json!({"plaintext": plaintext.as_str()}),
            )
            .await?;
        self.ciphertext("encrypt", &answer)
    }

    /// The data key `entry` wraps.
    pub async fn unwrap(&self, entry: &DataKeyEntry) -> Result<zeroize::Zeroizing<Vec<u8>>, KmsError> {
        let path = format!("{}/decrypt/{}", self.mount, entry.kms_key_id);
        let answer = self.call("decrypt", &path, json!({"ciphertext": entry.wrapped})).await?;
        let plain = answer
            .pointer("/data/plaintext")
            .and_then(Value::as_str)
            .ok_or_else(|| self.error("decrypt", "the answer holds no data.plaintext".into()))?;
        base64::engine::general_purpose::STANDARD
            .decode(plain)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| self.error("decrypt", format!("data.plaintext is not base64: {e}")))
    }

    /// `entry` wrapped by the newest version of its transit key.
    pub async fn rewrap(&self, entry: &DataKeyEntry) -> Result<(Option<u64>, String), KmsError> {
        let path = format!("{}/rewrap/{}", self.mount, entry.kms_key_id);
        let answer = self.call("rewrap", &path, json!({"ciphertext": entry.wrapped})).await?;
        self.ciphertext("rewrap", &answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertexts_name_their_key_version() {
        assert_eq!(VaultTransit::version_of("vault:v1:abc"), Some(1));
        assert_eq!(VaultTransit::version_of("vault:v12:abc"), Some(12));
        assert_eq!(VaultTransit::version_of("AQID"), None);
    }
}
