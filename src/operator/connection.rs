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

use crate::api::cluster::ReferenceReason;
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
    /// The typed reason, which every kind's `Ready` reason enum holds as `Reference(..)`.
    pub fn typed(&self) -> ReferenceReason {
        match self {
            Self::KafkaNotFound { .. } => ReferenceReason::KafkaNotFound,
            Self::KafkaNotReady { .. } => ReferenceReason::KafkaNotReady,
            Self::ListenerNotFound { .. } => ReferenceReason::ListenerNotFound,
            Self::Authentication(_) => ReferenceReason::InvalidAuthentication,
            Self::NotAllowed(_) => ReferenceReason::CrossNamespaceRefNotAllowed,
        }
    }

    /// CamelCase reason for conditions, events and metrics.
    pub fn reason(&self) -> &'static str {
        self.typed().as_str()
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

/// Picks the listener: the one named, else by the connection's authentication —
/// - `tls` (mutual TLS): a listener with TLS, preferring one declared with `tls` authentication,
///   then the one named `tls`;
/// - SCRAM or PLAIN: a listener with TLS whose declared authentication takes the mechanism (a
///   password must not cross the network in clear, issue 14), else one with TLS whose
///   authentication the spec does not say; only then a plain one, the same way; a listener
///   declared with another authentication (mTLS, none, OAuth) is never picked for a password;
/// - none: the `plain` listener, else the first without TLS, else the first.
///
/// "With TLS" is what the status says (a listener's `certificates`); the declared authentication
/// is the `Kafka`'s spec (`spec.kafka.listeners[].authentication.type`), which the status lacks.
fn pick_listener<'a>(
    kafka: &StrimziKafka,
    listeners: &'a [StrimziListener],
    wanted: Option<&str>,
    auth: Option<AuthenticationType>,
) -> Result<&'a StrimziListener, ConnectionError> {
    let usable = |l: &&StrimziListener| l.bootstrap_servers.as_deref().is_some_and(|b| !b.is_empty());
    let tls = |l: &&StrimziListener| !l.certificates.is_empty();
    // The declared authentication type: None when the spec does not declare the listener,
    // Some("") when it declares it without authentication.
    let declared = |l: &StrimziListener| -> Option<String> {
        let spec = kafka.spec_listeners.iter().find(|s| s.name == l.name)?;
        Some(spec.authentication.as_ref().map(|a| a.type_.clone()).unwrap_or_default())
    };
    let ranked = |rank: &dyn Fn(&StrimziListener) -> Option<u8>| {
        listeners
            .iter()
            .filter(usable)
            .filter_map(|l| Some((rank(l)?, l)))
            .min_by_key(|(r, _)| *r)
            .map(|(_, l)| l)
    };
    let found = match (wanted, auth) {
        (Some(name), _) => listeners.iter().filter(usable).find(|l| l.name == name),
        (None, Some(AuthenticationType::Tls)) => ranked(&|l| {
            let declared = declared(l);
            tls(&l).then_some(match (declared.as_deref(), l.name.as_str()) {
                (Some("tls"), _) => 0,
                (_, "tls") => 1,
                _ => 2,
            })
        }),
        (None, Some(sasl)) => {
            // Strimzi declares SCRAM as `scram-sha-512`; SCRAM-SHA-256 and PLAIN need `custom`.
            let takes = |t: &str| match sasl {
                AuthenticationType::ScramSha512 => t == "scram-sha-512" || t == "custom",
                _ => t == "custom",
            };
            ranked(&|l| {
                let base = if tls(&l) { 0 } else { 2 };
                match declared(l) {
                    Some(t) if takes(&t) => Some(base),
                    Some(_) => None,
                    None => Some(base + 1),
                }
            })
        }
        (None, None) => listeners
            .iter()
            .filter(usable)
            .find(|l| l.name == "plain")
            .or_else(|| listeners.iter().filter(usable).find(|l| l.certificates.is_empty()))
            .or_else(|| listeners.iter().find(usable)),
    };
    found.ok_or_else(|| ConnectionError::ListenerNotFound {
        namespace: kafka.namespace.clone(),
        name: kafka.name.clone(),
        wanted: wanted.map_or_else(
            || match auth {
                Some(AuthenticationType::Tls) => "with TLS".into(),
                Some(_) => "that takes this authentication".into(),
                None => "to use".into(),
            },
            |w| w.to_string(),
        ),
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
            let listener = pick_listener(
                kafka,
                &status.listeners,
                reference.listener_name.as_deref(),
                auth.map(|a| a.type_),
            )?;
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
            spec_listeners: Vec::new(),
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
            (job.kafka.bootstrap_servers.as_str(), job.kafka.tls),
            ("my-cluster-kafka-bootstrap.kafka.svc:9093", true),
            "the password goes over the TLS listener"
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
        let item = &job.volumes[1].secret.as_ref().and_then(|s| s.items.clone()).unwrap_or_default()[0];
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

    /// A Ready `Kafka` with `listeners` (name, with TLS) in its status and `declared` (name,
    /// authentication type; "" for none) in its spec.
    fn kafka_with(listeners: &[(&str, bool)], declared: &[(&str, &str)]) -> StrimziKafka {
        let status: Vec<serde_json::Value> = listeners
            .iter()
            .enumerate()
            .map(|(i, (name, tls))| {
                let mut l = serde_json::json!({"name": name, "bootstrapServers": format!("k:{}", 9092 + i)});
                if *tls {
                    l["certificates"] = serde_json::json!(["-----BEGIN CERTIFICATE-----"]);
                }
                l
            })
            .collect();
        let mut kafka = strimzi(
            serde_json::json!({"conditions": [{"type": "Ready", "status": "True"}], "listeners": status}),
        );
        kafka.spec_listeners = declared
            .iter()
            .map(|(name, auth)| {
                serde_json::from_value(serde_json::json!({
                    "name": name,
                    "authentication": (!auth.is_empty()).then(|| serde_json::json!({"type": auth})),
                }))
                .expect("listener spec")
            })
            .collect();
        kafka
    }

    #[test]
    fn a_password_goes_to_a_tls_listener_that_takes_it_when_there_is_one() {
        use AuthenticationType::{Plain, ScramSha512, Tls};
        let scram = Some(ScramSha512);
        // (what the Kafka has, the connection's authentication, the listener picked or None)
        let rows: Vec<(&str, StrimziKafka, Option<AuthenticationType>, Option<&str>)> = vec![
            (
                "plain+tls, spec unknown: SCRAM takes tls",
                kafka_with(&[("plain", false), ("tls", true)], &[]),
                scram,
                Some("tls"),
            ),
            (
                "plain+tls, spec unknown: none takes plain",
                kafka_with(&[("plain", false), ("tls", true)], &[]),
                None,
                Some("plain"),
            ),
            (
                "plain+tls, spec unknown: mTLS takes tls",
                kafka_with(&[("plain", false), ("tls", true)], &[]),
                Some(Tls),
                Some("tls"),
            ),
            (
                "only plain: SCRAM has nothing better",
                kafka_with(&[("plain", false)], &[]),
                scram,
                Some("plain"),
            ),
            (
                "tls with scram auth beside plain with scram: tls",
                kafka_with(
                    &[("plain", false), ("tls", true)],
                    &[("plain", "scram-sha-512"), ("tls", "scram-sha-512")],
                ),
                scram,
                Some("tls"),
            ),
            (
                "tls with mTLS auth, plain with scram: plain (the tls listener would refuse SASL)",
                kafka_with(&[("plain", false), ("tls", true)], &[("plain", "scram-sha-512"), ("tls", "tls")]),
                scram,
                Some("plain"),
            ),
            (
                "several: the TLS one declared for scram, not the first TLS one",
                kafka_with(
                    &[("plain", false), ("tls", true), ("secure", true), ("external", true)],
                    &[
                        ("plain", ""),
                        ("tls", "tls"),
                        ("secure", "scram-sha-512"),
                        ("external", "scram-sha-512"),
                    ],
                ),
                scram,
                Some("secure"),
            ),
            (
                "several: mTLS prefers the one declared tls",
                kafka_with(
                    &[("plain", false), ("tls", true), ("mtls", true)],
                    &[("tls", "scram-sha-512"), ("mtls", "tls")],
                ),
                Some(Tls),
                Some("mtls"),
            ),
            (
                "no listener takes a password: none picked",
                kafka_with(&[("plain", false), ("tls", true)], &[("plain", ""), ("tls", "tls")]),
                scram,
                None,
            ),
            (
                "PLAIN needs custom authentication: the TLS one declaring it",
                kafka_with(&[("plain", false), ("tls", true)], &[("plain", "custom"), ("tls", "custom")]),
                Some(Plain),
                Some("tls"),
            ),
        ];
        let mut wrong = Vec::new();
        for (what, kafka, auth, expect) in &rows {
            let listeners = &kafka.status.as_ref().expect("status").listeners;
            let got = pick_listener(kafka, listeners, None, *auth).ok().map(|l| l.name.as_str());
            if got != *expect {
                wrong.push(format!("{what}: expected {expect:?}, got {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // A listener named in the spec is taken as named, whatever the authentication.
        let kafka = kafka_with(&[("plain", false), ("tls", true)], &[]);
        let listeners = &kafka.status.as_ref().expect("status").listeners;
        assert_eq!(
            pick_listener(&kafka, listeners, Some("plain"), scram).map(|l| l.name.as_str()),
            Ok("plain")
        );
    }
}
