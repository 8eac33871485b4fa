//! From a resource's cluster connection to what its Job needs: a [`KafkaConnection`] naming only
//! files, and the Secret volumes that put those files in place. Secrets travel by reference; no
//! value is ever read by the operator for this, let alone put into a config or an argument.
//!
//! This is the "build" step: pure, given what the "dereference" step read (the Strimzi `Kafka`
//! resource's status and, for SCRAM through a `KafkaUser`, its user name).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{KeyToPath, SecretVolumeSource, Volume, VolumeMount};

use crate::api::cluster::{AuthenticationType, ClusterConnection, SecretKeyRef};
use crate::kafka::{ConnectionAuth, KafkaConnection};

/// Where the Job finds the connection's secret files.
pub const MOUNT_ROOT: &str = "/etc/strimzi-backup/kafka";

pub use crate::strimzi::{StrimziCondition, StrimziKafka, StrimziKafkaStatus, StrimziListener};

/// Why a connection cannot be resolved; each variant is a condition reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    #[error("Kafka {namespace}/{name} not found: create it, or fix spec.strimziClusterRef")]
    KafkaNotFound { namespace: String, name: String },
    #[error("Kafka {namespace}/{name} is not ready yet{detail}")]
    KafkaNotReady { namespace: String, name: String, detail: String },
    #[error(
        "Kafka {namespace}/{name} has no listener {wanted} in status.listeners (it has: {have}): fix spec.strimziClusterRef.listenerName"
    )]
    ListenerNotFound { namespace: String, name: String, wanted: String, have: String },
    #[error("spec.authentication: {0}")]
    Authentication(String),
    /// A reference into another namespace that the referenced object does not opt in to.
    #[error("{0}")]
    NotAllowed(String),
}

impl ConnectionError {
    /// CamelCase reason for conditions, events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::KafkaNotFound { .. } => "KafkaNotFound",
            Self::KafkaNotReady { .. } => "KafkaNotReady",
            Self::ListenerNotFound { .. } => "ListenerNotFound",
            Self::Authentication(_) => "InvalidAuthentication",
            Self::NotAllowed(_) => crate::api::tenancy::REASON,
        }
    }
}

/// What a Job needs to reach its cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobConnection {
    pub kafka: KafkaConnection,
    pub volumes: Vec<Volume>,
    pub mounts: Vec<VolumeMount>,
}

impl JobConnection {
    /// Mounts `key` of Secret `secret` as `<MOUNT_ROOT>/<dir>/<file>` and returns that path.
    fn mount(&mut self, dir: &str, secret: &str, items: &[(&str, &str)]) -> BTreeMap<String, String> {
        let volume = format!("kafka-{dir}");
        self.volumes.push(Volume {
            name: volume.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.to_string()),
                items: Some(
                    items
                        .iter()
                        .map(|(key, file)| KeyToPath {
                            key: key.to_string(),
                            path: file.to_string(),
                            mode: None,
                        })
                        .collect(),
                ),
                default_mode: Some(0o440),
                optional: Some(false),
            }),
            ..Default::default()
        });
        self.mounts.push(VolumeMount {
            name: volume,
            mount_path: format!("{MOUNT_ROOT}/{dir}"),
            read_only: Some(true),
            ..Default::default()
        });
        items.iter().map(|(_, file)| (file.to_string(), format!("{MOUNT_ROOT}/{dir}/{file}"))).collect()
    }
}

fn is_ready(status: &StrimziKafkaStatus) -> Result<(), String> {
    match status.conditions.iter().find(|c| c.type_ == "Ready") {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(format!(
            ": {}{}",
            c.reason.as_deref().unwrap_or("Ready is False"),
            c.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        )),
        None => Err(": it has no Ready condition yet".into()),
    }
}

/// Picks the listener: the one named, else — when the connection needs TLS — the `tls` listener
/// or the first with certificates, else the `plain` listener or the first without.
fn pick_listener<'a>(
    kafka: &StrimziKafka,
    listeners: &'a [StrimziListener],
    wanted: Option<&str>,
    needs_tls: bool,
) -> Result<&'a StrimziListener, ConnectionError> {
    let usable = |l: &&StrimziListener| l.bootstrap_servers.as_deref().is_some_and(|b| !b.is_empty());
    let found = match wanted {
        Some(name) => listeners.iter().filter(usable).find(|l| l.name == name),
        None if needs_tls => listeners
            .iter()
            .filter(usable)
            .find(|l| l.name == "tls")
            .or_else(|| listeners.iter().filter(usable).find(|l| !l.certificates.is_empty())),
        None => listeners
            .iter()
            .filter(usable)
            .find(|l| l.name == "plain")
            .or_else(|| listeners.iter().filter(usable).find(|l| l.certificates.is_empty()))
            .or_else(|| listeners.iter().find(usable)),
    };
    found.ok_or_else(|| ConnectionError::ListenerNotFound {
        namespace: kafka.namespace.clone(),
        name: kafka.name.clone(),
        wanted: wanted
            .map_or_else(|| if needs_tls { "with TLS".into() } else { "to use".into() }, |w| w.to_string()),
        have: listeners.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", "),
    })
}

/// Resolves the connection of a resource in `namespace`. `strimzi` is the dereferenced `Kafka`
/// (None when it does not exist); `kafka_user_name` is the SASL user name of a referenced
/// `KafkaUser` (its `status.username`, or its name).
pub fn resolve(
    namespace: &str,
    spec: &ClusterConnection,
    strimzi: Option<&StrimziKafka>,
    kafka_user_name: Option<&str>,
) -> Result<JobConnection, ConnectionError> {
    let mut job = JobConnection::default();
    let auth = spec.authentication.as_ref();
    let needs_tls = auth.is_some_and(|a| a.type_ == AuthenticationType::Tls);
    match (&spec.strimzi_cluster_ref, &spec.kafka_cluster) {
        (Some(reference), _) => {
            let kafka = strimzi.ok_or_else(|| ConnectionError::KafkaNotFound {
                namespace: reference.namespace.clone().unwrap_or_else(|| namespace.to_string()),
                name: reference.name.clone(),
            })?;
            let not_ready = |detail: String| ConnectionError::KafkaNotReady {
                namespace: kafka.namespace.clone(),
                name: kafka.name.clone(),
                detail,
            };
            let status = kafka.status.as_ref().ok_or_else(|| not_ready(": it has no status yet".into()))?;
            is_ready(status).map_err(not_ready)?;
            let listener =
                pick_listener(kafka, &status.listeners, reference.listener_name.as_deref(), needs_tls)?;
            job.kafka.bootstrap_servers = listener.bootstrap_servers.clone().unwrap_or_default();
            if !listener.certificates.is_empty() {
                job.kafka.tls = true;
                let files =
                    job.mount("ca", &format!("{}-cluster-ca-cert", kafka.name), &[("ca.crt", "ca.crt")]);
                job.kafka.ca_file = files.get("ca.crt").map(Into::into);
            }
        }
        (None, Some(cluster)) => {
            job.kafka.bootstrap_servers = cluster.bootstrap_servers.clone();
            if let Some(tls) = cluster.tls.as_ref().filter(|t| t.enabled) {
                job.kafka.tls = true;
                if let Some(SecretKeyRef { name, key }) = &tls.ca_secret {
                    let files = job.mount("ca", name, &[(key, "ca.crt")]);
                    job.kafka.ca_file = files.get("ca.crt").map(Into::into);
                }
            }
        }
        (None, None) => {
            return Err(ConnectionError::Authentication(
                "set spec.strimziClusterRef or spec.kafkaCluster".into(),
            ));
        }
    }
    let Some(auth) = auth else { return Ok(job) };
    job.kafka.authentication = Some(match auth.type_ {
        AuthenticationType::Tls => {
            let (secret, cert, key) = match (&auth.kafka_user_ref, &auth.certificate_and_key) {
                (Some(user), _) => (user.name.clone(), "user.crt".to_string(), "user.key".to_string()),
                (None, Some(ck)) => (ck.secret_name.clone(), ck.certificate.clone(), ck.key.clone()),
                (None, None) => {
                    return Err(ConnectionError::Authentication(
                        "type tls needs kafkaUserRef or certificateAndKey".into(),
                    ));
                }
            };
            let files = job.mount("user", &secret, &[(&cert, "user.crt"), (&key, "user.key")]);
            ConnectionAuth::Tls {
                certificate_file: files.get("user.crt").cloned().unwrap_or_default().into(),
                key_file: files.get("user.key").cloned().unwrap_or_default().into(),
            }
        }
        sasl => {
            let (username, secret, key) = match (&auth.kafka_user_ref, &auth.username, &auth.password_secret)
            {
                (Some(user), _, _) => (
                    kafka_user_name.unwrap_or(&user.name).to_string(),
                    user.name.clone(),
                    "password".to_string(),
                ),
                (None, Some(username), Some(password)) => {
                    (username.clone(), password.name.clone(), password.key.clone())
                }
                _ => {
                    return Err(ConnectionError::Authentication(
                        "SASL needs kafkaUserRef, or username and passwordSecret".into(),
                    ));
                }
            };
            let files = job.mount("sasl", &secret, &[(&key, "password")]);
            let password_file = files.get("password").cloned().unwrap_or_default().into();
            match sasl {
                AuthenticationType::ScramSha256 => ConnectionAuth::ScramSha256 { username, password_file },
                AuthenticationType::Plain => ConnectionAuth::Plain { username, password_file },
                _ => ConnectionAuth::ScramSha512 { username, password_file },
            }
        }
    });
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cluster::{Authentication, KafkaClusterSpec, KafkaUserRef, StrimziClusterRef};

    fn strimzi(status: serde_json::Value) -> StrimziKafka {
        StrimziKafka {
            name: "my-cluster".into(),
            namespace: "kafka".into(),
            status: Some(serde_json::from_value(status).expect("status")),
        }
    }

    fn ready_with_listeners() -> StrimziKafka {
        strimzi(serde_json::json!({
            "conditions": [{"type": "Ready", "status": "True"}],
            "listeners": [
                {"name": "plain", "bootstrapServers": "my-cluster-kafka-bootstrap.kafka.svc:9092"},
                {"name": "tls", "bootstrapServers": "my-cluster-kafka-bootstrap.kafka.svc:9093",
                 "certificates": ["-----BEGIN CERTIFICATE-----"]}
            ]
        }))
    }

    fn by_ref(auth: Option<Authentication>) -> ClusterConnection {
        ClusterConnection {
            strimzi_cluster_ref: Some(StrimziClusterRef { name: "my-cluster".into(), ..Default::default() }),
            kafka_cluster: None,
            authentication: auth,
        }
    }

    #[test]
    fn a_tls_kafka_user_gets_the_tls_listener_the_cluster_ca_and_its_certificate() {
        let auth = Authentication {
            type_: AuthenticationType::Tls,
            kafka_user_ref: Some(KafkaUserRef { name: "backup".into() }),
            ..Default::default()
        };
        let job =
            resolve("kafka", &by_ref(Some(auth)), Some(&ready_with_listeners()), None).expect("resolves");
        assert_eq!(job.kafka.bootstrap_servers, "my-cluster-kafka-bootstrap.kafka.svc:9093");
        assert!(job.kafka.tls);
        assert_eq!(
            job.kafka.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/strimzi-backup/kafka/ca/ca.crt"))
        );
        let secrets: Vec<_> =
            job.volumes.iter().filter_map(|v| v.secret.as_ref()?.secret_name.clone()).collect();
        assert_eq!(secrets, ["my-cluster-cluster-ca-cert", "backup"]);
        assert!(matches!(job.kafka.authentication, Some(ConnectionAuth::Tls { .. })));
        assert_eq!(job.mounts.len(), 2);
    }

    #[test]
    fn scram_through_a_kafka_user_uses_its_user_name_and_password_key() {
        let auth = Authentication {
            type_: AuthenticationType::ScramSha512,
            kafka_user_ref: Some(KafkaUserRef { name: "backup".into() }),
            ..Default::default()
        };
        let job = resolve("kafka", &by_ref(Some(auth)), Some(&ready_with_listeners()), Some("backup-user"))
            .expect("resolves");
        assert_eq!(
            job.kafka.bootstrap_servers, "my-cluster-kafka-bootstrap.kafka.svc:9092",
            "plain listener"
        );
        match job.kafka.authentication {
            Some(ConnectionAuth::ScramSha512 { username, password_file }) => {
                assert_eq!(username, "backup-user");
                assert_eq!(
                    password_file,
                    std::path::PathBuf::from("/etc/strimzi-backup/kafka/sasl/password")
                );
            }
            other => panic!("{other:?}"),
        }
        let item = &job.volumes[0].secret.as_ref().and_then(|s| s.items.clone()).unwrap_or_default()[0];
        assert_eq!((item.key.as_str(), item.path.as_str()), ("password", "password"));
    }

    #[test]
    fn missing_not_ready_and_unknown_listeners_say_what_to_do() {
        let err = resolve("kafka", &by_ref(None), None, None).expect_err("missing");
        assert_eq!(err.reason(), "KafkaNotFound");
        let not_ready = strimzi(serde_json::json!({
            "conditions": [{"type": "Ready", "status": "False", "reason": "Creating", "message": "pods starting"}]
        }));
        let err = resolve("kafka", &by_ref(None), Some(&not_ready), None).expect_err("not ready");
        assert_eq!(err.to_string(), "Kafka kafka/my-cluster is not ready yet: Creating (pods starting)");
        let mut spec = by_ref(None);
        if let Some(r) = spec.strimzi_cluster_ref.as_mut() {
            r.listener_name = Some("external".into());
        }
        let err = resolve("kafka", &spec, Some(&ready_with_listeners()), None).expect_err("no such listener");
        assert!(
            err.to_string().contains("has no listener external") && err.to_string().contains("plain, tls")
        );
    }

    #[test]
    fn a_plain_cluster_with_a_ca_secret() {
        let spec = ClusterConnection {
            kafka_cluster: Some(KafkaClusterSpec {
                bootstrap_servers: "kafka:9093".into(),
                tls: Some(crate::api::cluster::ClusterTls {
                    enabled: true,
                    ca_secret: Some(SecretKeyRef { name: "kafka-ca".into(), key: "tls.crt".into() }),
                }),
            }),
            ..Default::default()
        };
        let job = resolve("kafka", &spec, None, None).expect("resolves");
        assert_eq!(job.kafka.bootstrap_servers, "kafka:9093");
        assert!(job.kafka.tls);
        let item = &job.volumes[0].secret.as_ref().and_then(|s| s.items.clone()).unwrap_or_default()[0];
        assert_eq!((item.key.as_str(), item.path.as_str()), ("tls.crt", "ca.crt"));
    }
}
