//! Strimzi's CRDs as each Strimzi line serves them, and moving the cluster from one to another
//! the way a real upgrade must: the API server refuses to drop a version that objects may still
//! be stored in (`status.storedVersions`), so before a version goes, every `Kafka` and
//! `KafkaUser` is rewritten in the version that stays and the CRD's stored versions are set to
//! it — what Strimzi's `v1` conversion tool does before an upgrade to 1.x.
//!
//! These replace cluster-scoped CRDs that every other test shares: tests using them are
//! `#[ignore]`d in `make e2e`'s parallel pass, run alone in its second pass, and put the suite's
//! CRDs back ([`SuiteCrdsBack`]).

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};

use crate::env::workspace_root;
use std::time::Duration;

use crate::fixtures::{Cluster, MANAGER, strimzi_resource, wait_until};

/// The Strimzi lines whose CRDs differ in what they serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrimziLine {
    /// 0.40–0.48: `Kafka` only in `v1beta2`.
    V1beta2Only,
    /// 0.49–0.5x: `v1` and `v1beta2`, stored as `v1beta2` (what the rest of the suite runs with).
    Both,
    /// 1.x: `v1` only.
    V1Only,
}

/// The two kinds the operator reads, with their plurals.
pub const KINDS: [(&str, &str); 2] = [("Kafka", "kafkas"), ("KafkaUser", "kafkausers")];

impl StrimziLine {
    pub fn file(self) -> std::path::PathBuf {
        workspace_root().join(match self {
            Self::V1beta2Only => "test/fixtures/strimzi-crds-0.4x.yaml",
            Self::Both => "test/fixtures/strimzi-crds.yaml",
            Self::V1Only => "test/fixtures/strimzi-crds-1.x.yaml",
        })
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

/// The CRDs of a fixture file, parsed.
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
        apply_settled(cluster, &crds(&line.file())?, line.storage()).await?;
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
            let probe: DynamicObject = serde_json::from_value(serde_json::json!({
                "apiVersion": format!("kafka.strimzi.io/{}", version.name),
                "kind": kind,
                "metadata": {"name": format!("e2e-probe-{}", crate::fixtures::unique_suffix())},
                "spec": {},
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
    let mut transitional = crds(&StrimziLine::Both.file())?;
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
            // fail ("request to convert CR to an invalid group/version"). The field sets are the
            // same in both versions here (open schema).
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
}

impl SuiteCrdsBack {
    pub fn new(cluster: &Cluster) -> Self {
        Self { kubectl: cluster.env.kubectl().into(), kubeconfig: cluster.env.kubeconfig().into() }
    }
}

impl Drop for SuiteCrdsBack {
    fn drop(&mut self) {
        // The suite's field manager, so what a test added (a conversion webhook) is removed.
        let file = StrimziLine::Both.file();
        let status = std::process::Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["apply", "--server-side", "--force-conflicts", "--field-manager", MANAGER, "-f"])
            .arg(&file)
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
