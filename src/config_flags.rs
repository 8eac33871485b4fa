//! Running the data plane by hand: flags for the settings a person types, usable instead of a
//! config file or laid over one. The operator always writes a complete file; people at a
//! terminal mostly want `--bootstrap-servers` and `--storage s3://bucket/prefix`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value, json};

/// Flags shared by `backup`, `restore` and `verify`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigFlags {
    /// Kafka bootstrap servers, `host:port[,host:port]` (kafka.bootstrapServers).
    #[arg(long, value_name = "HOSTS")]
    pub bootstrap_servers: Option<String>,
    /// Where the backups are: `s3://bucket/prefix`, `azure://account/container/prefix`,
    /// `gs://bucket/prefix` or `file:///directory` (the storage block).
    #[arg(long, value_name = "URL")]
    pub storage: Option<String>,
    /// Endpoint of an S3-compatible store, Azurite or a private endpoint
    /// (storage.<type>.endpoint); S3 then uses path-style requests.
    #[arg(long, value_name = "URL")]
    pub storage_endpoint: Option<String>,
    /// S3 region (storage.s3.region; default us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Topics to include, a full-match regex; repeat for several (topics.include).
    #[arg(long = "topic", value_name = "REGEX")]
    pub topics: Vec<String>,
    /// File holding the AES-256 encryption key (encryptionKeyFile).
    #[arg(long, value_name = "FILE")]
    pub encryption_key_file: Option<PathBuf>,
}

/// The storage block (and, for `file://`, the mount root) a storage URL stands for.
fn storage_from_url(
    url: &str,
    endpoint: Option<&str>,
    region: Option<&str>,
) -> anyhow::Result<(Value, Option<String>)> {
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("--storage {url}: expected a URL such as s3://bucket/prefix"))?;
    let mut parts = rest.splitn(2, '/');
    let first = parts.next().unwrap_or_default().to_string();
    let tail = parts.next().unwrap_or_default().trim_end_matches('/').to_string();
    let prefix = |p: String| if p.is_empty() { Value::Null } else { Value::String(format!("{p}/")) };
    let storage = match scheme {
        "s3" => json!({"type": "s3", "s3": {
            "bucket": first, "prefix": prefix(tail), "region": region.unwrap_or("us-east-1"),
            "endpoint": endpoint, "forcePathStyle": endpoint.is_some(),
        }}),
        "azure" | "az" => {
            let (container, prefix_path) = tail.split_once('/').unwrap_or((tail.as_str(), ""));
            anyhow::ensure!(
                !container.is_empty(),
                "--storage {url}: expected azure://account/container/prefix"
            );
            json!({"type": "azure", "azure": {
                "storageAccount": first, "container": container, "prefix": prefix(prefix_path.to_string()),
                "endpoint": endpoint,
            }})
        }
        "gs" | "gcs" => {
            json!({"type": "gcs", "gcs": {"bucket": first, "prefix": prefix(tail), "endpoint": endpoint}})
        }
        "file" => {
            anyhow::ensure!(
                first.is_empty(),
                "--storage {url}: a file URL has an absolute path: file:///directory"
            );
            let root = format!("/{tail}");
            return Ok((
                json!({"type": "filesystem", "filesystem": {"claimName": "local", "path": "/"}}),
                Some(root),
            ));
        }
        other => anyhow::bail!("--storage {url}: unknown scheme {other}; use s3, azure, gs or file"),
    };
    anyhow::ensure!(!first.is_empty(), "--storage {url}: the bucket (or account) is missing");
    Ok((strip_nulls(storage), None))
}

/// Drops `null` members, so absent options stay absent (and defaults apply).
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect(),
        ),
        other => other,
    }
}

impl ConfigFlags {
    /// Reads the config file, if one is given, and lays the flags over it. What comes back is
    /// the JSON the config types are read from; a storage location (and, with `needs_kafka`, a
    /// Kafka cluster) given neither way is named with both ways to give it.
    pub fn merge(&self, file: Option<&Path>, needs_kafka: bool) -> anyhow::Result<Value> {
        let mut config = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                let value: Value = serde_yaml_ng::from_str(&text)
                    .with_context(|| format!("{} is not YAML or JSON", path.display()))?;
                match value {
                    Value::Object(map) => map,
                    Value::Null => Map::new(),
                    _ => anyhow::bail!("{}: expected a mapping of settings", path.display()),
                }
            }
            None => Map::new(),
        };
        if let Some(servers) = &self.bootstrap_servers {
            let kafka = config.entry("kafka").or_insert_with(|| json!({}));
            if let Value::Object(kafka) = kafka {
                kafka.insert("bootstrapServers".into(), Value::String(servers.clone()));
            }
        }
        if let Some(url) = &self.storage {
            let (storage, root) =
                storage_from_url(url, self.storage_endpoint.as_deref(), self.region.as_deref())?;
            config.insert("storage".into(), storage);
            if let Some(root) = root {
                config.insert("filesystemRoot".into(), Value::String(root));
            }
        } else if self.storage_endpoint.is_some() || self.region.is_some() {
            anyhow::bail!("--storage-endpoint and --region go with --storage");
        }
        if !self.topics.is_empty() {
            let topics = config.entry("topics").or_insert_with(|| json!({}));
            if let Value::Object(topics) = topics {
                topics.insert("include".into(), json!(self.topics));
            }
        }
        if let Some(key) = &self.encryption_key_file {
            config.insert("encryptionKeyFile".into(), json!(key));
        }
        anyhow::ensure!(
            config.contains_key("storage"),
            "no storage location: give --storage (e.g. s3://bucket/prefix) or a --config file with a storage block"
        );
        anyhow::ensure!(
            !needs_kafka || config.contains_key("kafka"),
            "no Kafka cluster: give --bootstrap-servers or a --config file with kafka.bootstrapServers"
        );
        Ok(Value::Object(config))
    }
}

/// Reads a config type from merged settings, naming the setting a problem is in.
pub fn read<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> anyhow::Result<T> {
    serde_json::from_value(value).map_err(|e| anyhow::anyhow!("{what} config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(storage: &str) -> ConfigFlags {
        ConfigFlags {
            bootstrap_servers: Some("k:9092".into()),
            storage: Some(storage.into()),
            topics: vec!["orders.*".into()],
            ..Default::default()
        }
    }

    #[test]
    fn flags_alone_make_a_backup_config() {
        let value = ConfigFlags {
            storage_endpoint: Some("http://minio:9000".into()),
            ..flags("s3://backups/prod/eu")
        }
        .merge(None, true)
        .expect("merges");
        let cfg: crate::backup::BackupConfig = read(value, "backup").expect("reads");
        assert_eq!(cfg.kafka.bootstrap_servers, "k:9092");
        assert_eq!(cfg.topics.include, vec!["orders.*".to_string()]);
        let s3 = cfg.storage.s3.expect("s3 block");
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_deref()), ("backups", Some("prod/eu/")));
        assert_eq!((s3.region.as_str(), s3.force_path_style), ("us-east-1", Some(true)));
    }

    #[test]
    fn every_scheme() {
        let (azure, _) = storage_from_url("azure://acct/backups/x", None, None).expect("azure");
        assert_eq!(azure["azure"]["storageAccount"], "acct");
        assert_eq!(azure["azure"]["container"], "backups");
        assert_eq!(azure["azure"]["prefix"], "x/");
        let (gcs, _) = storage_from_url("gs://bucket", None, None).expect("gcs");
        assert!(gcs["gcs"].get("prefix").is_none());
        let (fs, root) = storage_from_url("file:///var/backups", None, None).expect("file");
        assert_eq!((fs["type"].as_str(), root.as_deref()), (Some("filesystem"), Some("/var/backups")));
        assert!(
            storage_from_url("ftp://x", None, None).is_err_and(|e| e.to_string().contains("unknown scheme"))
        );
        assert!(
            storage_from_url("s3:///nobucket", None, None).is_err_and(|e| e.to_string().contains("bucket"))
        );
    }

    #[test]
    fn flags_override_the_file_and_gaps_are_named() {
        let dir = std::env::temp_dir().join(format!("sbo-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("c.yaml");
        std::fs::write(
            &file,
            "kafka: {bootstrapServers: old:9092, tls: true}\nstorage: {type: gcs, gcs: {bucket: b}}\n",
        )
        .expect("write");
        let value = ConfigFlags { bootstrap_servers: Some("new:9092".into()), ..Default::default() }
            .merge(Some(&file), true)
            .expect("merges");
        assert_eq!(value["kafka"]["bootstrapServers"], "new:9092");
        assert_eq!(value["kafka"]["tls"], true, "the rest of the file stays");
        let missing = ConfigFlags::default().merge(None, false).expect_err("no storage");
        assert!(missing.to_string().contains("--storage"));
        let only_storage = ConfigFlags { storage: Some("s3://b".into()), ..Default::default() };
        let err = only_storage.merge(None, true).expect_err("no kafka");
        assert!(err.to_string().contains("--bootstrap-servers"));
        assert!(only_storage.merge(None, false).is_ok(), "verify needs no cluster");
        std::fs::remove_dir_all(&dir).ok();
    }
}
