//! How the data plane reaches Kafka. The operator resolves a resource's cluster connection
//! (Strimzi `Kafka` CR, `KafkaUser` Secret, or plain bootstrap address) into this form; secrets
//! are files mounted into the Job, and only their paths appear here.

use std::path::PathBuf;

pub mod acl;
pub mod describe;
mod ffi;
pub mod group_describe;
pub mod group_offsets;
pub mod quota;
pub mod scram;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// A resolved connection to a Kafka cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaConnection {
    /// `host:port,host:port`.
    pub bootstrap_servers: String,
    /// Use TLS.
    #[serde(default)]
    pub tls: bool,
    /// PEM file with the CA certificate(s) to trust; the system CAs when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<ConnectionAuth>,
}

/// Client authentication with credentials in mounted files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ConnectionAuth {
    #[serde(rename_all = "camelCase")]
    Tls { certificate_file: PathBuf, key_file: PathBuf },
    #[serde(rename_all = "camelCase")]
    ScramSha512 { username: String, password_file: PathBuf },
    #[serde(rename_all = "camelCase")]
    ScramSha256 { username: String, password_file: PathBuf },
    #[serde(rename_all = "camelCase")]
    Plain { username: String, password_file: PathBuf },
}

impl KafkaConnection {
    /// librdkafka settings for this connection. Reads password files; the password goes to
    /// librdkafka only and is never logged.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        // librdkafka's warnings and errors reach DataPlaneContext::log (rdkafka would take the
        // level from the `log` crate, which is off under tracing).
        c.set_log_level(rdkafka::config::RDKafkaLogLevel::Warning);
        let sasl =
            |c: &mut ClientConfig, mechanism: &str, username: &str, file: &PathBuf| -> Result<(), String> {
                let password = std::fs::read_to_string(file)
                    .map_err(|e| format!("reading the Kafka password file {}: {e}", file.display()))?;
                c.set("sasl.mechanism", mechanism)
                    .set("sasl.username", username)
                    .set("sasl.password", password.trim_end());
                Ok(())
            };
        let is_sasl = match &self.authentication {
            None => false,
            Some(ConnectionAuth::Tls { certificate_file, key_file }) => {
                c.set("ssl.certificate.location", certificate_file.display().to_string())
                    .set("ssl.key.location", key_file.display().to_string());
                false
            }
            Some(ConnectionAuth::ScramSha512 { username, password_file }) => {
                sasl(&mut c, "SCRAM-SHA-512", username, password_file)?;
                true
            }
            Some(ConnectionAuth::ScramSha256 { username, password_file }) => {
                sasl(&mut c, "SCRAM-SHA-256", username, password_file)?;
                true
            }
            Some(ConnectionAuth::Plain { username, password_file }) => {
                sasl(&mut c, "PLAIN", username, password_file)?;
                true
            }
        };
        let tls = self.tls || matches!(self.authentication, Some(ConnectionAuth::Tls { .. }));
        c.set(
            "security.protocol",
            match (tls, is_sasl) {
                (false, false) => "plaintext",
                (true, false) => "ssl",
                (false, true) => "sasl_plaintext",
                (true, true) => "sasl_ssl",
            },
        );
        if let Some(ca) = &self.ca_file {
            c.set("ssl.ca.location", ca.display().to_string());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_protocol_follows_tls_and_sasl() {
        let dir = std::env::temp_dir().join(format!("sbo-kafka-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pw = dir.join("password");
        std::fs::write(&pw, "s3cret\n").expect("write");
        let conn = KafkaConnection {
            bootstrap_servers: "k:9093".into(),
            tls: true,
            ca_file: Some(dir.join("ca.crt")),
            authentication: Some(ConnectionAuth::ScramSha512 {
                username: "backup".into(),
                password_file: pw,
            }),
        };
        let c = conn.client_config().expect("config");
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.password"), Some("s3cret"), "trailing newline of the secret file dropped");
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        let plain = KafkaConnection { bootstrap_servers: "k:9092".into(), ..Default::default() };
        assert_eq!(plain.client_config().expect("config").get("security.protocol"), Some("plaintext"));
        let missing = KafkaConnection {
            authentication: Some(ConnectionAuth::Plain {
                username: "u".into(),
                password_file: dir.join("nope"),
            }),
            ..plain
        };
        assert!(missing.client_config().expect_err("missing file").contains("password file"));
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// A consumer of one assigned partition that reads it exactly: `read_committed`, told of the
/// partition's end (partition EOF), never committing, never jumping elsewhere when an offset is
/// gone (`auto.offset.reset=error`). `group` only satisfies librdkafka. Its fetch and prefetch
/// sizes come from the partition's memory budget ([`crate::budget::BackupBuffers`]: 2 MiB
/// fetches, 4 MiB prefetched at the default 32 MiB): larger ones cost memory per partition in
/// flight and gain nothing once the fetch back-off is short; librdkafka would otherwise wait up
/// to a second before fetching again once its prefetch queue was full, which a reader draining
/// it fast spends idle.
pub fn partition_reader(
    client: &rdkafka::ClientConfig,
    group: String,
    topic: &str,
    partition: i32,
    from: i64,
) -> anyhow::Result<rdkafka::consumer::StreamConsumer<DataPlaneContext>> {
    use anyhow::Context;
    use rdkafka::consumer::Consumer;
    let buffers = crate::budget::backup_buffers();
    let mut config = client.clone();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set("fetch.max.bytes", buffers.fetch_bytes.to_string())
        .set("max.partition.fetch.bytes", buffers.fetch_bytes.to_string())
        .set("queued.max.messages.kbytes", (buffers.queued_bytes / 1024).to_string())
        .set("fetch.queue.backoff.ms", "10");
    let consumer: rdkafka::consumer::StreamConsumer<DataPlaneContext> =
        config.create_with_context(DataPlaneContext).context("creating the Kafka consumer")?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, rdkafka::Offset::Offset(from))?;
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// A consumed record exactly as the broker returned it (how a resumed restore compares what it
/// finds in the target with the backup): [`record_ref`] with its bytes copied out.
pub fn to_record(msg: &rdkafka::message::BorrowedMessage<'_>) -> crate::format::record::Record {
    record_ref(msg).to_record()
}

/// A consumed record exactly as the broker returned it, its bytes still the client's: how a
/// backup encodes it into a segment block without copying it first.
pub fn record_ref<'a>(
    msg: &'a rdkafka::message::BorrowedMessage<'_>,
) -> crate::format::record::RecordRef<'a> {
    use crate::format::record::{RecordRef, TimestampType};
    use rdkafka::message::{Headers, Message};
    let (timestamp_type, timestamp) = match msg.timestamp() {
        rdkafka::Timestamp::NotAvailable => (TimestampType::NotAvailable, -1),
        rdkafka::Timestamp::CreateTime(t) => (TimestampType::CreateTime, t),
        rdkafka::Timestamp::LogAppendTime(t) => (TimestampType::LogAppendTime, t),
    };
    let headers = msg.headers().map(|hs| hs.iter().map(|h| (h.key, h.value)).collect()).unwrap_or_default();
    RecordRef {
        offset: msg.offset(),
        timestamp,
        timestamp_type,
        key: msg.key(),
        value: msg.payload(),
        headers,
    }
}

/// What librdkafka last said about reaching the cluster: a failed metadata request alone only
/// says "broker transport failure", where the reason was a wrong password or an untrusted
/// certificate. One data-plane process talks to one cluster, so one slot is enough; a definite
/// reason (authentication, TLS) is not overwritten by the "all brokers down" that follows it.
static CONNECTION_ERROR: std::sync::Mutex<Option<(String, bool)>> = std::sync::Mutex::new(None);

fn remember_connection_error(reason: &str, definite: bool) {
    let mut slot = CONNECTION_ERROR.lock().unwrap_or_else(|p| p.into_inner());
    if definite || !slot.as_ref().is_some_and(|(_, d)| *d) {
        *slot = Some((reason.to_string(), definite));
    }
}

/// The cluster's metadata (blocking), or an error that says why the cluster could not be read.
/// librdkafka queues the reason of a failed connection (wrong password, untrusted certificate)
/// as an error event; polling the client after the failure delivers it to [`DataPlaneContext`].
pub fn metadata(reader: &Reader, what: &str) -> anyhow::Result<rdkafka::metadata::Metadata> {
    use rdkafka::consumer::Consumer;
    reader.fetch_metadata(None, std::time::Duration::from_secs(30)).map_err(|e| {
        for _ in 0..5 {
            let _ = reader.poll(std::time::Duration::from_millis(40));
        }
        anyhow::Error::new(e).context(unreachable(what))
    })
}

/// The context for an error when the cluster could not be read: `what` and librdkafka's reason.
fn unreachable(what: &str) -> String {
    match CONNECTION_ERROR.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        Some((reason, _)) => format!("{what}: {reason}"),
        None => format!("{what} (is the bootstrap address reachable?)"),
    }
}

/// The data plane's reading clients (metadata, offsets, groups): every client uses
/// [`DataPlaneContext`], so librdkafka's reports reach our log and error messages.
pub type Reader = rdkafka::consumer::BaseConsumer<DataPlaneContext>;
/// The data plane's admin client.
pub type Admin = rdkafka::admin::AdminClient<DataPlaneContext>;

/// Client context of the data plane's clients. One report of librdkafka is expected and not
/// worth a user's attention: partition EOF (how a backup learns it reached its cut, and a
/// restore that it read a target partition back). Everything else is logged as usual.
#[derive(Clone, Copy, Debug, Default)]
pub struct DataPlaneContext;

impl rdkafka::ClientContext for DataPlaneContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        if fac == "FAIL" {
            // A broker connection failed; the reason is definite when it is the credentials or
            // the certificate, not the network.
            let definite =
                ["SASL", "SSL", "uthentication", "certificate"].iter().any(|k| message.contains(k));
            remember_connection_error(message, definite);
        }
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!(target: "librdkafka", "{fac} {message}")
            }
            L::Warning => tracing::warn!(target: "librdkafka", "{fac} {message}"),
            L::Notice | L::Info => tracing::info!(target: "librdkafka", "{fac} {message}"),
            L::Debug => tracing::debug!(target: "librdkafka", "{fac} {message}"),
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode as C};
        match error {
            KafkaError::PartitionEOF(_) | KafkaError::Global(C::PartitionEOF) => return,
            KafkaError::Global(C::Authentication | C::SaslAuthenticationFailed | C::SSL) => {
                remember_connection_error(reason, true)
            }
            KafkaError::Global(C::AllBrokersDown | C::BrokerTransportFailure | C::Resolve) => {
                remember_connection_error(reason, false)
            }
            _ => {}
        }
        tracing::error!(%error, reason, "librdkafka");
    }
}

impl rdkafka::consumer::ConsumerContext for DataPlaneContext {}
