//! Strimzi's resources as this cluster serves them: the served-version discovery
//! ([`StrimziApi`]) and the parts of `Kafka` and `KafkaUser` that are read. Its room: reading
//! Strimzi's API, nothing of ours; it imports only `kube`. Below both the admission webhook
//! (which reads another namespace's `Kafka` for its tenancy opt-in) and the operator's
//! dereference step, so that neither layer imports the other.
//!
//! Strimzi's lines serve different versions of `kafka.strimzi.io`: 0.22–0.48 only `v1beta2`
//! (plus `v1beta1`/`v1alpha1` for `KafkaUser`), 0.49–0.5x `v1` beside `v1beta2`, 1.x only `v1`.
//! A version the cluster does not serve answers a GET with the API server's plain-text "404 page
//! not found", which is not a "not found" of the object: reading blindly in a fixed version made
//! every reconcile fail on Strimzi 0.4x. So [`StrimziApi`] asks the API server which versions it
//! serves (API discovery: `/apis` and `/apis/kafka.strimzi.io/<version>`, which every
//! authenticated identity may read through the built-in `system:discovery` role — no RBAC rule
//! beyond reading the resources themselves), reads each kind in the newest version served, and
//! discovers again when that may have changed (a Strimzi upgrade removes `v1beta2` under a
//! running operator; Strimzi's CRDs installed after the operator started).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde::Deserialize;
use tokio::sync::{Mutex, watch};
use tracing::info;

/// Strimzi's API group.
pub const GROUP: &str = "kafka.strimzi.io";

/// API versions of Strimzi's resources this operator reads, newest first. Their `Kafka` status
/// and `KafkaUser` status (what is read) have the same shape in both.
pub const VERSIONS: [&str; 2] = ["v1", "v1beta2"];

/// How long a discovery is trusted without any sign of change: a version added beside the one in
/// use (an upgrade from 0.4x to 0.49) is picked up within this time.
pub const TTL: Duration = Duration::from_secs(60);

/// A discovery younger than this is not repeated because an object was not found: a `Kafka`
/// that does not exist (yet) costs one discovery per this interval at most, not one per read.
const NOT_FOUND_REDISCOVERY: Duration = Duration::from_secs(10);

/// Which version of each Strimzi kind the cluster serves: the newest of [`VERSIONS`] in which
/// it is served. An empty map: Strimzi's CRDs are not installed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Served {
    kinds: BTreeMap<String, ApiResource>,
}

impl Served {
    /// From what discovery listed: for each served version of [`GROUP`] the operator reads, the
    /// (kind, plural) pairs it serves. Subresources (`kafkas/status`) are not kinds of their own.
    pub fn from_versions<'a>(versions: impl IntoIterator<Item = (&'a str, Vec<(String, String)>)>) -> Self {
        let mut by_version: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
        for (version, resources) in versions {
            if let Some(rank) = VERSIONS.iter().position(|v| *v == version) {
                by_version.entry(rank).or_default().extend(resources);
            }
        }
        let mut kinds = BTreeMap::new();
        // Newest first: the first version that serves a kind is the one it is read in.
        for (rank, resources) in by_version {
            for (kind, plural) in resources.into_iter().filter(|(_, plural)| !plural.contains('/')) {
                kinds.entry(kind.clone()).or_insert_with(|| {
                    ApiResource::from_gvk_with_plural(
                        &GroupVersionKind::gvk(GROUP, VERSIONS[rank], &kind),
                        &plural,
                    )
                });
            }
        }
        Self { kinds }
    }

    /// The API of `kind` in the version it is read in; `None` when the cluster serves it in none
    /// of [`VERSIONS`].
    pub fn resource(&self, kind: &str) -> Option<&ApiResource> {
        self.kinds.get(kind)
    }

    /// `Kafka=v1, KafkaUser=v1` for logs; `none` without Strimzi.
    fn describe(&self) -> String {
        if self.kinds.is_empty() {
            return "none".into();
        }
        self.kinds.iter().map(|(k, r)| format!("{k}={}", r.version)).collect::<Vec<_>>().join(", ")
    }
}

/// A discovery and when it was made.
struct Discovered {
    at: Instant,
    served: Served,
}

/// Strimzi's API as this cluster serves it now: reads `Kafka` and `KafkaUser` resources in the
/// version served, with the discovery cached (one per [`TTL`], and again at once when a read
/// says the version is gone). One per operator process, shared by every reconcile.
///
/// The cache is one value behind a mutex rather than a TTL-cache crate (moka, cached): there is
/// one key, and what refreshes it is not only age but what a read found.
pub struct StrimziApi {
    client: kube::Client,
    cache: Mutex<Option<Discovered>>,
    /// `Kafka`'s API in the version discovered last, for the watch that wakes reconciles when
    /// a `Kafka` changes: a watch is of one version, and is started again when that changes.
    kafka: watch::Sender<Option<ApiResource>>,
}

/// How a read in one version ended.
enum Read {
    Found(Box<DynamicObject>),
    /// The object does not exist (a JSON `Status` with reason `NotFound`).
    Absent,
    /// The version (or the whole group) is not served: the API server's plain "404 page not
    /// found", which has no `Status` body. The discovery that chose the version is out of date.
    NotServed,
}

impl StrimziApi {
    pub fn new(client: kube::Client) -> Self {
        Self { client, cache: Mutex::new(None), kafka: watch::Sender::new(None) }
    }

    /// `Kafka`'s API in the version the cluster serves, as discovered; changes when a discovery
    /// finds another (`None`: not served).
    pub fn kafka_resource(&self) -> watch::Receiver<Option<ApiResource>> {
        self.kafka.subscribe()
    }

    /// What the cluster serves, discovered again when the cached discovery is older than
    /// `max_age`. An error is the API server failing (retried); a group or version that is not
    /// there is a discovery result, not an error.
    pub async fn served(&self, max_age: Duration) -> Result<Served, kube::Error> {
        let mut cache = self.cache.lock().await;
        if let Some(d) = cache.as_ref().filter(|d| d.at.elapsed() < max_age) {
            return Ok(d.served.clone());
        }
        let served = self.discover().await?;
        let previous = cache.as_ref().map(|d| &d.served);
        if previous != Some(&served) {
            info!(group = GROUP, served = %served.describe(), "Strimzi API versions discovered");
        }
        *cache = Some(Discovered { at: Instant::now(), served: served.clone() });
        let kafka = served.resource("Kafka").cloned();
        self.kafka.send_if_modified(|k| {
            let changed = *k != kafka;
            *k = kafka;
            changed
        });
        Ok(served)
    }

    /// `/apis` for the versions of the group, then `/apis/kafka.strimzi.io/<v>` for the kinds of
    /// each version the operator reads.
    async fn discover(&self) -> Result<Served, kube::Error> {
        let groups = self.client.list_api_groups().await?;
        let Some(group) = groups.groups.into_iter().find(|g| g.name == GROUP) else {
            return Ok(Served::default());
        };
        let mut versions = Vec::new();
        for v in group.versions.iter().filter(|v| VERSIONS.contains(&v.version.as_str())) {
            match self.client.list_api_group_resources(&v.group_version).await {
                Ok(list) => versions.push((
                    v.version.as_str(),
                    list.resources.into_iter().map(|r| (r.kind, r.name)).collect(),
                )),
                // Removed between the two requests (a CRD update): not served.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Served::from_versions(versions))
    }

    async fn read(&self, resource: &ApiResource, namespace: &str, name: &str) -> Result<Read, kube::Error> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, resource);
        match api.get(name).await {
            Ok(found) => Ok(Read::Found(Box::new(found))),
            Err(kube::Error::Api(s)) if s.reason == "NotFound" => Ok(Read::Absent),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Read::NotServed),
            Err(e) => Err(e),
        }
    }

    /// Reads `kind` `namespace/name` in the version the cluster serves; `None` when it does not
    /// exist or Strimzi's CRDs do not serve `kind`.
    pub async fn get(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<DynamicObject>, kube::Error> {
        let served = self.served(TTL).await?;
        let first = served.resource(kind);
        let max_age = match first {
            Some(resource) => match self.read(resource, namespace, name).await? {
                Read::Found(found) => return Ok(Some(*found)),
                // The version went away under us: find out at once what replaced it.
                Read::NotServed => Duration::ZERO,
                Read::Absent => NOT_FOUND_REDISCOVERY,
            },
            // Not served at all: Strimzi may have been installed since.
            None => NOT_FOUND_REDISCOVERY,
        };
        let again = self.served(max_age).await?;
        match again.resource(kind) {
            Some(resource) if Some(resource) != first => match self.read(resource, namespace, name).await? {
                Read::Found(found) => Ok(Some(*found)),
                Read::Absent | Read::NotServed => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// The `Kafka` resource `namespace/name`, if it exists.
    pub async fn kafka(&self, namespace: &str, name: &str) -> Result<Option<StrimziKafka>, kube::Error> {
        let Some(kafka) = self.get("Kafka", namespace, name).await? else { return Ok(None) };
        // A status that does not parse is treated like no status yet: not ready.
        let status = kafka
            .data
            .get("status")
            .and_then(|s| serde_json::from_value::<StrimziKafkaStatus>(s.clone()).ok());
        // The listeners' declared authentication, which the status does not carry; one that does
        // not parse is treated as not declared.
        let spec_listeners = kafka
            .data
            .pointer("/spec/kafka/listeners")
            .and_then(|l| serde_json::from_value::<Vec<StrimziListenerSpec>>(l.clone()).ok())
            .unwrap_or_default();
        Ok(Some(StrimziKafka {
            name: name.to_string(),
            namespace: namespace.to_string(),
            status,
            spec_listeners,
        }))
    }

    /// The SASL user name of a `KafkaUser`: its `status.username` (what the User Operator
    /// created), or its name when it has no status yet.
    pub async fn kafka_user_name(&self, namespace: &str, name: &str) -> Result<Option<String>, kube::Error> {
        let Some(user) = self.get("KafkaUser", namespace, name).await? else { return Ok(None) };
        Ok(Some(
            user.data
                .get("status")
                .and_then(|s| s.get("username"))
                .and_then(|u| u.as_str())
                .unwrap_or(name)
                .to_string(),
        ))
    }
}

/// The part of a Strimzi `Kafka` resource's status a connection needs (the same in
/// `kafka.strimzi.io/v1beta2` and `v1`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrimziKafkaStatus {
    #[serde(default)]
    pub listeners: Vec<StrimziListener>,
    #[serde(default)]
    pub conditions: Vec<StrimziCondition>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrimziListener {
    /// `name` since Strimzi 0.20; `type` before.
    #[serde(alias = "type")]
    pub name: String,
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// The listener's CA certificates; present exactly when the listener uses TLS.
    #[serde(default)]
    pub certificates: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrimziCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// A listener as the `Kafka`'s spec declares it (`spec.kafka.listeners[]`, the same in
/// `v1beta2` and `v1`): how clients authenticate on it, which `status.listeners` does not say.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StrimziListenerSpec {
    pub name: String,
    #[serde(default)]
    pub authentication: Option<StrimziListenerAuthentication>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct StrimziListenerAuthentication {
    /// `tls`, `scram-sha-512`, `oauth`, `custom`.
    #[serde(rename = "type", default)]
    pub type_: String,
}

/// A Strimzi `Kafka` resource as dereferenced.
#[derive(Clone, Debug)]
pub struct StrimziKafka {
    pub name: String,
    pub namespace: String,
    pub status: Option<StrimziKafkaStatus>,
    /// Its declared listeners (empty when the spec has none that parse).
    pub spec_listeners: Vec<StrimziListenerSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, p)| (k.to_string(), p.to_string())).collect()
    }

    const KAFKA: (&str, &str) = ("Kafka", "kafkas");
    const KAFKA_STATUS: (&str, &str) = ("Kafka", "kafkas/status");
    const USER: (&str, &str) = ("KafkaUser", "kafkausers");

    fn version_of(served: &Served, kind: &str) -> Option<String> {
        served.resource(kind).map(|r| r.version.clone())
    }

    #[test]
    fn strimzi_0_4x_is_read_in_v1beta2_and_its_older_versions_are_ignored() {
        let served = Served::from_versions([
            ("v1beta2", kinds(&[KAFKA, KAFKA_STATUS, USER])),
            ("v1beta1", kinds(&[USER])),
            ("v1alpha1", kinds(&[USER])),
        ]);
        assert_eq!(version_of(&served, "Kafka").as_deref(), Some("v1beta2"));
        assert_eq!(version_of(&served, "KafkaUser").as_deref(), Some("v1beta2"));
        let kafka = served.resource("Kafka").expect("Kafka is served");
        assert_eq!(
            (kafka.group.as_str(), kafka.plural.as_str()),
            (GROUP, "kafkas"),
            "the subresource is no kind"
        );
    }

    #[test]
    fn v1_is_preferred_when_both_are_served_whatever_the_order_listed() {
        let served =
            Served::from_versions([("v1beta2", kinds(&[KAFKA, USER])), ("v1", kinds(&[KAFKA, USER]))]);
        assert_eq!(version_of(&served, "Kafka").as_deref(), Some("v1"));
        assert_eq!(version_of(&served, "KafkaUser").as_deref(), Some("v1"));
    }

    #[test]
    fn each_kind_gets_the_newest_version_that_serves_it() {
        // A cluster midway through a CRD upgrade: Kafka's CRD already 1.x, KafkaUser's still 0.4x.
        let served = Served::from_versions([("v1", kinds(&[KAFKA])), ("v1beta2", kinds(&[USER]))]);
        assert_eq!(version_of(&served, "Kafka").as_deref(), Some("v1"));
        assert_eq!(version_of(&served, "KafkaUser").as_deref(), Some("v1beta2"));
    }

    #[test]
    fn no_strimzi_serves_nothing() {
        let served = Served::from_versions([]);
        assert_eq!(served.resource("Kafka"), None);
        assert_eq!(served.describe(), "none");
        // A version the operator does not read is not used, even if it is all there is.
        let old = Served::from_versions([("v1alpha1", kinds(&[USER]))]);
        assert_eq!(old.resource("KafkaUser"), None);
    }
}
