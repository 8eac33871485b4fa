//! Strimzi's real CRDs as each Strimzi line serves them, and moving the cluster from one to
//! another the way a real upgrade must: the API server refuses to drop a version that objects may
//! still be stored in (`status.storedVersions`), so before a version goes, every `Kafka` and
//! `KafkaUser` is rewritten in the version that stays and the CRD's stored versions are set to
//! it — what Strimzi's `v1` conversion tool does before an upgrade to 1.x.
//!
//! The CRDs are Strimzi's own (hack/strimzi-crds.sh generates them from the release's published
//! api classes, byte-identical to its 040-Crd-kafka.yaml and 044-Crd-kafkauser.yaml), schemas and
//! all: the API server prunes what Strimzi's schema does not define and refuses a spec it refuses,
//! so the objects written here ([`kafka_yaml`], [`ready_kafka_status`], [`kafka_user_yaml`]) are
//! what a user and Strimzi's operators really write.
//!
//! These replace cluster-scoped CRDs that every other test shares: tests using them are
//! `#[ignore]`d in `make e2e`'s parallel pass, run alone in its second pass, and put the suite's
//! CRDs back ([`SuiteCrdsBack`]).

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};

use crate::env::{TestEnv, workspace_root};
use std::path::PathBuf;
use std::time::Duration;

use crate::fixtures::{Cluster, MANAGER, strimzi_resource, wait_until};

/// The Strimzi lines whose CRDs differ in what they serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrimziLine {
    /// 0.40–0.48 (Strimzi 0.45.0's CRDs): `Kafka` only in `v1beta2`.
    V1beta2Only,
    /// 0.49–0.5x (Strimzi 0.51.0's CRDs): `v1` and `v1beta2`, stored as `v1beta2` (what the rest
    /// of the suite runs with).
    Both,
    /// 1.x (Strimzi 1.2.0's CRDs): `v1` only.
    V1Only,
}

/// The two kinds the operator reads, with their plurals.
pub const KINDS: [(&str, &str); 2] = [("Kafka", "kafkas"), ("KafkaUser", "kafkausers")];

impl StrimziLine {
    /// The key of `.local-env/env` (and of hack/strimzi-crds.sh's output) naming the directory
    /// of this line's CRDs.
    fn env_key(self) -> &'static str {
        match self {
            Self::V1beta2Only => "STRIMZI_CRDS_V1BETA2_ONLY",
            Self::Both => "STRIMZI_CRDS_BOTH",
            Self::V1Only => "STRIMZI_CRDS_V1_ONLY",
        }
    }

    /// The directory of this line's CRD files: as the environment names it, else (an environment
    /// started before it named them, or a cache cleaned since) as hack/strimzi-crds.sh makes it —
    /// instant when cached, a couple of minutes from Maven Central when not.
    pub fn dir(self) -> anyhow::Result<PathBuf> {
        let named = TestEnv::load().ok().and_then(|env| env.get(self.env_key()).ok().map(PathBuf::from));
        if let Some(dir) = named.filter(|d| d.join(".generated").is_file()) {
            return Ok(dir);
        }
        let dirs = generated_dirs().as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        dirs.iter()
            .find(|(k, _)| k == self.env_key())
            .map(|(_, d)| PathBuf::from(d))
            .with_context(|| format!("hack/strimzi-crds.sh printed no {}", self.env_key()))
    }

    /// This line's CRD files (`Kafka`, `KafkaUser`), in name order.
    pub fn files(self) -> anyhow::Result<Vec<PathBuf>> {
        let dir = self.dir()?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        anyhow::ensure!(files.len() == KINDS.len(), "{}: expected {} CRD files", dir.display(), KINDS.len());
        Ok(files)
    }

    /// This line's CRDs, parsed.
    pub fn crds(self) -> anyhow::Result<Vec<CustomResourceDefinition>> {
        let mut all = Vec::new();
        for file in self.files()? {
            all.extend(crds(&file)?);
        }
        Ok(all)
    }

    /// The version objects are stored in.
    pub fn storage(self) -> &'static str {
        match self {
            Self::V1beta2Only | Self::Both => "v1beta2",
            Self::V1Only => "v1",
        }
    }

    /// The version a Strimzi user of this line writes their resources in.
    pub fn user_version(self) -> &'static str {
        match self {
            Self::V1beta2Only => "v1beta2",
            Self::Both | Self::V1Only => "v1",
        }
    }
}

/// What hack/strimzi-crds.sh printed (`KEY=DIR` lines), run once per test binary.
fn generated_dirs() -> &'static Result<Vec<(String, String)>, String> {
    static DIRS: std::sync::OnceLock<Result<Vec<(String, String)>, String>> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| {
        let script = workspace_root().join("hack/strimzi-crds.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect())
    })
}

/// A `Kafka` `name` as a user of Strimzi writes it in `version`: a KRaft cluster of node pools
/// (which Strimzi 0.4x asks for with the two annotations; from 0.46 on there is nothing else) with
/// a plain and a TLS listener, as Strimzi's own examples (packaging/examples/kafka) of each line.
/// No `spec.kafka.replicas` or `storage` (those are the node pools' in KRaft, and `v1` has
/// neither), so the same fields are valid in `v1beta2` and `v1`.
pub fn kafka_yaml(name: &str, version: &str) -> String {
    let annotations = match version {
        "v1beta2" => "\n  annotations: {strimzi.io/node-pools: enabled, strimzi.io/kraft: enabled}",
        _ => "",
    };
    format!(
        "apiVersion: kafka.strimzi.io/{version}\nkind: Kafka\nmetadata:\n  name: {name}{annotations}\nspec:\n  kafka:\n    listeners:\n      - {{name: plain, port: 9092, type: internal, tls: false}}\n      - {{name: tls, port: 9093, type: internal, tls: true}}\n    config: {{offsets.topic.replication.factor: 1, default.replication.factor: 1, min.insync.replicas: 1}}\n  entityOperator: {{topicOperator: {{}}, userOperator: {{}}}}\n"
    )
}

/// The status Strimzi's Cluster Operator writes on a Ready `Kafka` of `generation`, its `plain`
/// listener at `bootstrap` (`host:port`; an empty one gives a listener without an address yet).
/// Every field is one Strimzi's schema defines (in `v1beta2` and `v1`), so none is pruned.
pub fn ready_kafka_status(generation: i64, bootstrap: &str) -> serde_json::Value {
    let addresses: Vec<serde_json::Value> = bootstrap
        .split(',')
        .filter_map(|a| a.rsplit_once(':'))
        .filter_map(|(host, port)| Some(serde_json::json!({"host": host, "port": port.parse::<u16>().ok()?})))
        .collect();
    serde_json::json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}],
        "observedGeneration": generation,
        "listeners": [{"name": "plain", "addresses": addresses, "bootstrapServers": bootstrap}],
        "kafkaNodePools": [{"name": "broker"}],
    }})
}

/// A SCRAM-SHA-512 `KafkaUser` `name` of the cluster `cluster`, in `version`, as Strimzi's
/// examples (packaging/examples/user) write one.
pub fn kafka_user_yaml(name: &str, version: &str, cluster: &str) -> String {
    format!(
        "apiVersion: kafka.strimzi.io/{version}\nkind: KafkaUser\nmetadata: {{name: {name}, labels: {{strimzi.io/cluster: {cluster}}}}}\nspec: {{authentication: {{type: scram-sha-512}}}}\n"
    )
}

/// The CRDs of a YAML file, parsed.
pub fn crds(file: &std::path::Path) -> anyhow::Result<Vec<CustomResourceDefinition>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc).with_context(|| format!("parsing {}", file.display()))
        })
        .collect()
}

/// Applies `crds` (server-side, as the suite's field manager) and waits until they are
/// Established.
pub async fn apply_crds(cluster: &Cluster, crds: &[CustomResourceDefinition]) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("sbo-strimzi-crds-{}", crate::fixtures::unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("crds.yaml");
    let docs: Vec<String> = crds.iter().map(serde_yaml_ng::to_string).collect::<Result<_, _>>()?;
    std::fs::write(&file, docs.join("---\n"))?;
    let installed = cluster.install_crd_files(std::slice::from_ref(&file)).await;
    let _ = std::fs::remove_dir_all(&dir);
    installed.map(|_| ())
}

/// Moves the cluster's Strimzi CRDs to those of `line`, migrating what is stored first when a
/// version the objects may be stored in goes away. A rewrite that still landed in the old
/// storage version (see [`apply_settled`]) leaves an object unreadable in the new CRDs: then the
/// migration is done again (the transitional CRDs make it readable again first).
pub async fn install(cluster: &Cluster, line: StrimziLine) -> anyhow::Result<()> {
    let mut last = None;
    for attempt in 0..3 {
        store_in(cluster, line.storage(), attempt > 0).await?;
        apply_settled(cluster, &line.crds()?, line.storage()).await?;
        match readable(cluster, line.storage()).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt")))
        .with_context(|| format!("Strimzi objects unreadable after moving to {line:?}'s CRDs"))
}

/// Applies `crds` and waits until the API server serves them as they are now. It acts on a CRD
/// change a moment after accepting it, and under quick successive changes (as these tests make)
/// its handler for a kind was seen to keep the versions of an earlier change (a write in a
/// served version answered "request to convert CR to an invalid group/version"). So each apply
/// carries a fresh marker category, awaited in discovery (`stored`: a version both kinds are
/// served in), then every served version of every kind is tried with a dry-run apply; a
/// failure is answered with another change (a new marker), which makes the handler start over.
pub async fn apply_settled(
    cluster: &Cluster,
    crds: &[CustomResourceDefinition],
    stored: &str,
) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..5 {
        apply_marked(cluster, crds, stored).await?;
        match probe(cluster, crds).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt")))
        .context("the API server kept serving older CRDs")
}

/// Applies `crds` with a fresh marker category and waits until discovery (in `stored`, a
/// version both kinds are served in) lists it: the API server has taken the change in.
pub async fn apply_marked(
    cluster: &Cluster,
    crds: &[CustomResourceDefinition],
    stored: &str,
) -> anyhow::Result<()> {
    let marker = format!("e2e-{}", crate::fixtures::unique_suffix());
    let mut marked = crds.to_vec();
    for crd in &mut marked {
        crd.spec.names.categories.get_or_insert_with(Vec::new).push(marker.clone());
    }
    apply_crds(cluster, &marked).await?;
    wait_for_marker(cluster, stored, &marker).await
}

/// A dry-run server-side apply of a new object of every kind in every version `crds` serve.
async fn probe(cluster: &Cluster, crds: &[CustomResourceDefinition]) -> anyhow::Result<()> {
    for crd in crds {
        let (kind, plural) = (&crd.spec.names.kind, &crd.spec.names.plural);
        for version in crd.spec.versions.iter().filter(|v| v.served) {
            let api: Api<DynamicObject> = Api::namespaced_with(
                cluster.client.clone(),
                "default",
                &strimzi_resource(&version.name, kind, plural),
            );
            // The smallest spec Strimzi's schema accepts (a Kafka needs a listener).
            let spec = match kind.as_str() {
                "Kafka" => serde_json::json!({"kafka": {"listeners": [
                    {"name": "plain", "port": 9092, "type": "internal", "tls": false},
                ]}}),
                _ => serde_json::json!({}),
            };
            let probe: DynamicObject = serde_json::from_value(serde_json::json!({
                "apiVersion": format!("kafka.strimzi.io/{}", version.name),
                "kind": kind,
                "metadata": {"name": format!("e2e-probe-{}", crate::fixtures::unique_suffix())},
                "spec": spec,
            }))?;
            // As the tests write them: server-side apply.
            let name = probe.metadata.name.clone().unwrap_or_default();
            let params = PatchParams::apply(MANAGER).dry_run();
            api.patch(&name, &params, &Patch::Apply(&probe))
                .await
                .with_context(|| format!("applying a {kind} in {}", version.name))?;
        }
    }
    Ok(())
}

/// How long a list of the Strimzi objects may take: with an object stored in a version its CRD
/// no longer has, the API server's watch cache never gets ready, and a list waits for it until
/// the client gives up (about 5 minutes).
const LIST_TIMEOUT: Duration = Duration::from_secs(15);

/// Every `kind` object of the cluster, read in `version`.
async fn list_all(
    cluster: &Cluster,
    version: &str,
    kind: &str,
    plural: &str,
) -> anyhow::Result<Vec<DynamicObject>> {
    let all: Api<DynamicObject> =
        Api::all_with(cluster.client.clone(), &strimzi_resource(version, kind, plural));
    let listed = tokio::time::timeout(LIST_TIMEOUT, all.list(&ListParams::default()))
        .await
        .with_context(|| format!("listing {kind} in {version}: no answer within {LIST_TIMEOUT:?}"))?
        .with_context(|| format!("listing {kind} in {version}"))?;
    Ok(listed.items)
}

/// Whether every `Kafka` and `KafkaUser` of the cluster reads in `version`.
async fn readable(cluster: &Cluster, version: &str) -> anyhow::Result<()> {
    for (kind, plural) in KINDS {
        list_all(cluster, version, kind, plural).await?;
    }
    Ok(())
}

/// Waits until discovery lists `marker` among the categories of both kinds in `version`: the API
/// server's discovery follows the same change notification as the handler that picks the
/// storage version, so once the marker shows, writes go to the new storage version (and if one
/// did not, [`install`] finds out and migrates again).
async fn wait_for_marker(cluster: &Cluster, version: &str, marker: &str) -> anyhow::Result<()> {
    wait_until(Duration::from_secs(30), &format!("discovery to list category {marker}"), || async {
        let list = cluster.client.list_api_group_resources(&format!("kafka.strimzi.io/{version}")).await?;
        let marked = KINDS.iter().all(|(_, plural)| {
            list.resources.iter().any(|r| {
                r.name == *plural && r.categories.as_ref().is_some_and(|c| c.iter().any(|c| c == marker))
            })
        });
        Ok(marked.then_some(()))
    })
    .await
}

/// Makes `version` the only stored version of both CRDs: the transitional CRDs (both served)
/// with `version` as storage, every object rewritten (with its field managers' entries moved to
/// `version`), then `status.storedVersions` set. Nothing
/// to do when that is already so, unless `again`.
pub async fn store_in(cluster: &Cluster, version: &str, again: bool) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    let mut done = !again;
    for (_, plural) in KINDS {
        let name = format!("{plural}.kafka.strimzi.io");
        let stored = match api.get_opt(&name).await? {
            Some(crd) => crd.status.and_then(|s| s.stored_versions).unwrap_or_default(),
            None => Vec::new(),
        };
        done &= stored.iter().all(|v| v == version);
    }
    if done {
        return Ok(());
    }
    let mut transitional = StrimziLine::Both.crds()?;
    for crd in &mut transitional {
        for v in &mut crd.spec.versions {
            v.storage = v.name == version;
        }
    }
    apply_settled(cluster, &transitional, version).await?;
    for (kind, plural) in KINDS {
        for mut object in list_all(cluster, version, kind, plural).await? {
            object.types = Some(kube::api::TypeMeta {
                api_version: format!("kafka.strimzi.io/{version}"),
                kind: kind.to_string(),
            });
            // Server-side apply converts an object to the version of each of its field
            // managers' entries: one left in a version about to go would make every later apply
            // fail ("request to convert CR to an invalid group/version"). The fields the tests
            // write are defined in both versions (see kafka_yaml), so the entries stay valid.
            for entry in object.metadata.managed_fields.iter_mut().flatten() {
                entry.api_version = Some(format!("kafka.strimzi.io/{version}"));
            }
            let (Some(ns), Some(name)) = (object.metadata.namespace.clone(), object.metadata.name.clone())
            else {
                continue;
            };
            let namespaced: Api<DynamicObject> =
                Api::namespaced_with(cluster.client.clone(), &ns, &strimzi_resource(version, kind, plural));
            // An unchanged write re-encodes the object in the storage version.
            match namespaced.replace(&name, &PostParams::default(), &object).await {
                Ok(_) => {}
                // Gone or changed meanwhile: deleted, or written again in the new storage version.
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => return Err(e).with_context(|| format!("rewriting {kind} {ns}/{name}")),
            }
        }
        let status = serde_json::json!({"status": {"storedVersions": [version]}});
        api.patch_status(
            &format!("{plural}.kafka.strimzi.io"),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await?;
    }
    Ok(())
}

/// Puts the CRDs the rest of the suite runs with (both versions served) back when dropped,
/// whether the test passed or not: the next test in the serial pass expects them.
pub struct SuiteCrdsBack {
    pub kubectl: std::path::PathBuf,
    pub kubeconfig: std::path::PathBuf,
    /// The directory of [`StrimziLine::Both`]'s CRDs, found when the test starts (a drop cannot
    /// report an error).
    pub dir: std::path::PathBuf,
}

impl SuiteCrdsBack {
    pub fn new(cluster: &Cluster) -> anyhow::Result<Self> {
        Ok(Self {
            kubectl: cluster.env.kubectl().into(),
            kubeconfig: cluster.env.kubeconfig().into(),
            dir: StrimziLine::Both.dir()?,
        })
    }
}

impl Drop for SuiteCrdsBack {
    fn drop(&mut self) {
        // The suite's field manager, so what a test added (a conversion webhook) is removed.
        let status = std::process::Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["apply", "--server-side", "--force-conflicts", "--field-manager", MANAGER, "-f"])
            .arg(&self.dir)
            .output();
        match status {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "putting the suite's Strimzi CRDs back failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("putting the suite's Strimzi CRDs back failed: {e}"),
        }
    }
}

/// A status field no Strimzi release defines (on the status, on a listener, on a condition).
pub const UNDEFINED: &str = "e2eNotInStrimziSchema";

/// What the API server kept of a `Kafka`'s and a `KafkaUser`'s status written with Strimzi's
/// fields and [`UNDEFINED`] ones.
pub struct StatusRoundTrip {
    pub kafka: serde_json::Value,
    pub user: serde_json::Value,
}

/// Writes a `Kafka` and a `KafkaUser`, both `name`, in `version` into `ns` as a user does, then
/// their status as Strimzi's operators do (a Ready `Kafka` whose `plain` listener is at
/// `bootstrap`, a `tls` listener with its CA certificate; the user's SCRAM name and Secret) plus
/// [`UNDEFINED`] fields, and reads both back as the API server keeps them.
pub async fn write_status_with_undefined_fields(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    version: &str,
    bootstrap: &str,
) -> anyhow::Result<StatusRoundTrip> {
    let applied = cluster.apply_yaml(ns, &kafka_yaml(name, version)).await?;
    let generation = applied.first().and_then(|k| k.metadata.generation).unwrap_or(1);
    let mut status = ready_kafka_status(generation, bootstrap);
    let st = &mut status["status"];
    st[UNDEFINED] = serde_json::json!("pruned");
    st["conditions"][0][UNDEFINED] = serde_json::json!("pruned");
    st["listeners"][0][UNDEFINED] = serde_json::json!("pruned");
    if let Some(listeners) = st["listeners"].as_array_mut() {
        listeners.push(serde_json::json!({
            "name": "tls", "bootstrapServers": "my-cluster-kafka-bootstrap:9093",
            "certificates": ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],
        }));
    }
    let kafkas: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), ns, &strimzi_resource(version, "Kafka", "kafkas"));
    kafkas.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await?;

    cluster.apply_yaml(ns, &kafka_user_yaml(name, version, name)).await?;
    let users: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        ns,
        &strimzi_resource(version, "KafkaUser", "kafkausers"),
    );
    let user_status = serde_json::json!({"status": {
        "username": format!("{name}-user"), "secret": name, "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True"}], UNDEFINED: "pruned",
    }});
    users.patch_status(name, &PatchParams::default(), &Patch::Merge(&user_status)).await?;

    let kafka = kafkas.get(name).await?.data.get("status").cloned().unwrap_or_default();
    let user = users.get(name).await?.data.get("status").cloned().unwrap_or_default();
    Ok(StatusRoundTrip { kafka, user })
}

impl StatusRoundTrip {
    /// Whether every [`UNDEFINED`] field is gone and every field the operator reads (and the
    /// rest Strimzi writes) is still there.
    pub fn check(&self, name: &str, bootstrap: &str) -> anyhow::Result<()> {
        let (k, u) = (&self.kafka, &self.user);
        let pruned =
            [&k[UNDEFINED], &k["conditions"][0][UNDEFINED], &k["listeners"][0][UNDEFINED], &u[UNDEFINED]];
        anyhow::ensure!(
            pruned.iter().all(|v| v.is_null()),
            "fields Strimzi's schema does not define survived: {k} {u}"
        );
        anyhow::ensure!(
            k["conditions"][0]["type"] == "Ready" && k["conditions"][0]["status"] == "True",
            "{k}"
        );
        anyhow::ensure!(k["conditions"][0]["lastTransitionTime"].is_string(), "{k}");
        anyhow::ensure!(k["observedGeneration"].is_i64(), "{k}");
        anyhow::ensure!(k["kafkaNodePools"][0]["name"] == "broker", "{k}");
        let plain = &k["listeners"][0];
        anyhow::ensure!(plain["name"] == "plain" && plain["bootstrapServers"] == bootstrap, "{k}");
        anyhow::ensure!(plain["addresses"][0]["port"].is_u64(), "{k}");
        let tls = &k["listeners"][1];
        anyhow::ensure!(tls["name"] == "tls" && tls["certificates"][0].is_string(), "{k}");
        anyhow::ensure!(u["username"] == format!("{name}-user").as_str() && u["secret"] == name, "{u}");
        anyhow::ensure!(u["observedGeneration"] == 1 && u["conditions"][0]["type"] == "Ready", "{u}");
        Ok(())
    }
}
