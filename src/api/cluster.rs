//! How a resource reaches its Kafka cluster (SPEC §2.1), shared by all three kinds: either a
//! Strimzi `Kafka` custom resource to discover everything from, or a plain bootstrap address.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The cluster connection fields, flattened into each kind's `spec`.
///
/// Exactly one of `strimziClusterRef` and `kafkaCluster` must be set; each spec type carries the
/// CEL rule that enforces it (a flattened struct cannot carry rules of its own in the schema).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConnection {
    /// A Strimzi-managed cluster: bootstrap servers come from the `Kafka` resource's
    /// `status.listeners`, the cluster CA from the `<cluster>-cluster-ca-cert` Secret.
    /// Mutually exclusive with `kafkaCluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strimzi_cluster_ref: Option<StrimziClusterRef>,
    /// Any Kafka cluster reachable by bootstrap address. Mutually exclusive with
    /// `strimziClusterRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_cluster: Option<KafkaClusterSpec>,
    /// How to authenticate to the cluster. Omit for an unauthenticated listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
}

/// The CEL rule every spec type applies to its flattened [`ClusterConnection`].
pub fn exactly_one_cluster() -> kube::core::Rule {
    kube::core::Rule::new("has(self.strimziClusterRef) != has(self.kafkaCluster)").message(
        "set exactly one of spec.strimziClusterRef (a Strimzi Kafka resource) or spec.kafkaCluster (a bootstrap address)",
    )
}

/// Reference to a Strimzi `Kafka` resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StrimziClusterRef {
    /// Name of the `Kafka` resource.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the `Kafka` resource; defaults to the namespace of this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the listener in `Kafka.status.listeners` to use. By default: for `tls`
    /// authentication a TLS listener; for SCRAM or PLAIN a TLS listener whose authentication
    /// (in the Kafka's `spec.kafka.listeners`) takes it, so the password never crosses the
    /// network in clear, and a plain one only when there is none; without authentication the
    /// `plain` listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_name: Option<String>,
}

/// A Kafka cluster addressed directly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterSpec {
    /// Comma-separated `host:port` list, e.g. `kafka-0.kafka:9092,kafka-1.kafka:9092`.
    #[schemars(length(min = 1))]
    pub bootstrap_servers: String,
    /// TLS settings for the connection. Omit for a plaintext listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClusterTls>,
}

/// TLS towards the brokers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTls {
    /// Connect with TLS.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Secret holding the CA certificate (PEM) that signed the brokers' certificates. Omit to
    /// trust the system CAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
}

fn enabled() -> bool {
    true
}

/// A key in a Secret in the resource's namespace. Only the reference is ever stored or passed
/// on; the value is mounted into the Job, never copied into arguments, logs or status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// SASL mechanism or mutual TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AuthenticationType {
    /// Mutual TLS with a client certificate.
    #[default]
    #[serde(rename = "tls")]
    Tls,
    /// SASL SCRAM-SHA-512 (what Strimzi's `scram-sha-512` KafkaUser provides).
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    /// SASL SCRAM-SHA-256.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// SASL PLAIN (only over TLS in production).
    #[serde(rename = "plain")]
    Plain,
}

/// Client authentication. Credentials come from exactly one place: a Strimzi `KafkaUser`
/// (`kafkaUserRef`), a username with a password Secret (SASL), or a certificate Secret (TLS).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "self.type == 'tls' ? (has(self.kafkaUserRef) != has(self.certificateAndKey)) && !has(self.username) && !has(self.passwordSecret) : true"
).message("authentication.type tls needs exactly one of kafkaUserRef or certificateAndKey (and no username/passwordSecret)"))]
#[x_kube(validation = Rule::new(
    "self.type != 'tls' ? !has(self.certificateAndKey) && (has(self.kafkaUserRef) ? !has(self.username) && !has(self.passwordSecret) : has(self.username) && has(self.passwordSecret)) : true"
).message("SASL authentication needs either kafkaUserRef, or both username and passwordSecret (certificateAndKey is for type tls)"))]
#[x_kube(validation = Rule::new("self.type == 'plain' ? !has(self.kafkaUserRef) : true")
    .message("Strimzi KafkaUsers do not issue PLAIN credentials: use username and passwordSecret with type plain"))]
pub struct Authentication {
    /// Authentication mechanism.
    #[serde(rename = "type")]
    pub type_: AuthenticationType,
    /// A Strimzi `KafkaUser` in this namespace; its Secret (written by the User Operator) holds
    /// `user.crt`/`user.key` for tls or `password` for scram-sha-512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_user_ref: Option<KafkaUserRef>,
    /// SASL username (with `passwordSecret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Secret key holding the SASL password (with `username`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretKeyRef>,
    /// Secret holding a client certificate and key (PEM) for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_and_key: Option<CertificateAndKey>,
}

/// Reference to a Strimzi `KafkaUser`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserRef {
    /// Name of the `KafkaUser` (and of the Secret the User Operator creates for it).
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Client certificate and private key in one Secret, as Strimzi's `certificateAndKey`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateAndKey {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub secret_name: String,
    /// Key of the PEM certificate, e.g. `user.crt`.
    #[schemars(length(min = 1))]
    pub certificate: String,
    /// Key of the PEM private key, e.g. `user.key`.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// Why what a spec refers to cannot be used: its Kafka cluster (missing, not ready, no such
/// listener, unusable credentials) or an object in another namespace that does not opt in. A
/// reason every kind's `Ready` shares, so each kind's reason enum holds it as one variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReferenceReason {
    /// The Strimzi `Kafka` named by `spec.strimziClusterRef` does not exist.
    KafkaNotFound,
    /// That `Kafka` is not `Ready` yet.
    KafkaNotReady,
    /// That `Kafka` has no listener of the requested name.
    ListenerNotFound,
    /// `spec.authentication` cannot be used (its KafkaUser or Secret is unusable).
    InvalidAuthentication,
    /// A reference into another namespace that the referenced object does not opt in to (or
    /// that does not exist: the two read the same, see `api::tenancy`).
    CrossNamespaceRefNotAllowed,
}

impl ReferenceReason {
    pub const ALL: [ReferenceReason; 5] = [
        Self::KafkaNotFound,
        Self::KafkaNotReady,
        Self::ListenerNotFound,
        Self::InvalidAuthentication,
        Self::CrossNamespaceRefNotAllowed,
    ];

    /// The CamelCase reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KafkaNotFound => "KafkaNotFound",
            Self::KafkaNotReady => "KafkaNotReady",
            Self::ListenerNotFound => "ListenerNotFound",
            Self::InvalidAuthentication => "InvalidAuthentication",
            Self::CrossNamespaceRefNotAllowed => super::tenancy::REASON,
        }
    }
}
