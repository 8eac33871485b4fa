//! The local environment as the tests see it: the KEY=VALUE file `hack/env-up.sh` writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Connection details of the running local environment.
#[derive(Clone, Debug)]
pub struct TestEnv {
    vars: HashMap<String, String>,
    /// The file the details were read from.
    pub file: PathBuf,
}

impl TestEnv {
    /// Reads `$STRIMZI_BACKUP_ENV_FILE`, else `<workspace>/.local-env/env`.
    pub fn load() -> anyhow::Result<Self> {
        let file = std::env::var_os("STRIMZI_BACKUP_ENV_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".local-env/env"));
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!("local environment not found at {}: start it with `make env-up`", file.display())
        })?;
        let vars = parse(&text);
        for required in ["KUBECONFIG", "KUBECTL", "KAFKA_BOOTSTRAP", "MINIO_ENDPOINT", "MINIO_BUCKET"] {
            if !vars.contains_key(required) {
                bail!("{} lacks {required}: rerun `make env-up`", file.display());
            }
        }
        Ok(Self { vars, file })
    }

    /// A variable of the environment file.
    pub fn get(&self, key: &str) -> anyhow::Result<&str> {
        self.vars.get(key).map(String::as_str).with_context(|| format!("{} lacks {key}", self.file.display()))
    }

    pub fn kubeconfig(&self) -> &Path {
        Path::new(&self.vars["KUBECONFIG"])
    }

    pub fn kubectl(&self) -> &Path {
        Path::new(&self.vars["KUBECTL"])
    }

    pub fn kafka_bootstrap(&self) -> &str {
        &self.vars["KAFKA_BOOTSTRAP"]
    }

    /// This environment with another Kafka cluster in place of its broker.
    pub fn with_kafka(&self, bootstrap: &str) -> Self {
        let mut other = self.clone();
        other.vars.insert("KAFKA_BOOTSTRAP".into(), bootstrap.into());
        other
    }

    /// A kube client for the local apiserver (admin credentials).
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.kubeconfig())?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await?;
        Ok(kube::Client::try_from(config)?)
    }
}

/// The repository root (the test crate lives in `<root>/test`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `KEY=VALUE` lines; `#` comments and blank lines are skipped.
fn parse(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_env_file_lines() {
        let vars = super::parse("# comment\n\nKUBECONFIG=/a/b\nMINIO_SECRET_KEY=x=y\n");
        assert_eq!(vars["KUBECONFIG"], "/a/b");
        assert_eq!(vars["MINIO_SECRET_KEY"], "x=y");
        assert_eq!(vars.len(), 2);
    }
}
