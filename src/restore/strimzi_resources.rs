//! The backed-up Strimzi resources in a restore (`restore.strimziResources`): the Job reads
//! `strimzi-resources.json` through its manifest (SHA-256 checked) and hands it to the operator,
//! which recreates them ([`crate::operator::restore::strimzi_resources`]): the Job has no
//! Kubernetes rights, the operator no storage credentials.
//!
//! The transport is the result line the Job prints on stdout, which the operator reads from the
//! pod's log (as it reads every result): the object gzip-compressed and base64-encoded in
//! [`StrimziResourcesHandoff::gzip_base64`]. It scales with the per-topic list the same line
//! already carries (thousands of `KafkaTopic`s compress to tens of KiB); the termination
//! message (4 KiB) gets the result's summary, which keeps only the reference and counts, so a
//! log that cannot be read fails the declaration with that reason instead of skipping it. The
//! object holds no secret (a `KafkaUser` names its Secrets, never their content).

use anyhow::Context;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::RestoreConfig;
use crate::format::manifest::Manifest;
use crate::format::strimzi_resources::{StrimziResources, StrimziResourcesRef, gunzip, gzip};

/// The backup's Strimzi resources object as the restore Job reports it to the operator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrimziResourcesHandoff {
    /// The manifest's reference: object name, SHA-256 of the object, counts.
    #[serde(flatten)]
    pub reference: StrimziResourcesRef,
    /// The object's bytes, gzip-compressed, base64 (standard alphabet). Absent from the
    /// termination message's summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gzip_base64: Option<String>,
}

/// Reads the Strimzi resources object of the restore point when the restore asks for them:
/// refuses a backup that holds none, and an object that is not the one the manifest names.
pub async fn load(
    cfg: &RestoreConfig,
    storage: &crate::storage::Storage,
    last: &Manifest,
) -> anyhow::Result<Option<StrimziResourcesHandoff>> {
    if cfg.restore.strimzi_resources.is_none() {
        return Ok(None);
    }
    let Some(reference) = &last.strimzi_resources else {
        anyhow::bail!(
            "restore.strimziResources: the backup holds no Strimzi resources: it was taken without \
             backup.strimziResources (backup {}): nothing was written",
            last.backup_id
        );
    };
    let bytes = storage.read_whole(&reference.object).await?;
    // Checked here, so a damaged object fails the Job (which names it) before anything is written.
    StrimziResources::from_object(&bytes, reference)?;
    Ok(Some(pack(&bytes, reference)?))
}

/// The handoff of `bytes`, the object `reference` names.
pub fn pack(bytes: &[u8], reference: &StrimziResourcesRef) -> anyhow::Result<StrimziResourcesHandoff> {
    let compressed = gzip(bytes).context("compressing the Strimzi resources")?;
    Ok(StrimziResourcesHandoff {
        reference: reference.clone(),
        gzip_base64: Some(base64::engine::general_purpose::STANDARD.encode(compressed)),
    })
}

impl StrimziResourcesHandoff {
    /// The object, checked against its SHA-256 and version; `Err` says why it cannot be had.
    pub fn unpack(&self) -> Result<StrimziResources, String> {
        let Some(data) = &self.gzip_base64 else {
            return Err(format!(
                "the restore Job's result names {} but the operator got it without the object: the Job's \
                 log (which carries it; the termination message is too small) could not be read",
                self.reference.object
            ));
        };
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("{}: the Job's copy is not base64: {e}", self.reference.object))?;
        let bytes = gunzip(&compressed)
            .map_err(|e| format!("{}: the Job's copy is not gzip-compressed: {e}", self.reference.object))?;
        StrimziResources::from_object(&bytes, &self.reference).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::strimzi_resources::RESOURCES_VERSION;
    use serde_json::json;

    #[test]
    fn the_handoff_round_trips_and_refuses_a_changed_or_missing_object() {
        let r = StrimziResources {
            resources_version: RESOURCES_VERSION,
            captured_at: "2026-12-04T01:00:00.000Z".into(),
            namespace: "kafka".into(),
            cluster: "src".into(),
            kafka_topics: (0..5000)
                .map(|i| {
                    json!({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
                        "metadata": {"name": format!("topic-{i}"), "labels": {"strimzi.io/cluster": "src"}},
                        "spec": {"partitions": 3, "replicas": 3, "config": {"retention.ms": "604800000",
                            "cleanup.policy": "delete", "min.insync.replicas": "2"}}})
                })
                .collect(),
            kafka_users: vec![json!({"kind": "KafkaUser", "metadata": {"name": "alice"}, "spec": {}})],
        };
        let (bytes, reference) = r.to_object("p/backups/b1/strimzi-resources.json".into()).expect("object");
        let handoff = pack(&bytes, &reference).expect("packs");
        let line = serde_json::to_string(&handoff).expect("json");
        // 5,000 KafkaTopics in well under a MiB of log line.
        assert!(line.len() < 256 * 1024, "{} bytes for {} of object", line.len(), bytes.len());
        assert_eq!(handoff.unpack().expect("unpacks"), r);
        let mut wrong = handoff.clone();
        wrong.reference.sha256 = "0".repeat(64);
        assert!(wrong.unpack().expect_err("other sha").contains("SHA-256"));
        let summary = StrimziResourcesHandoff { gzip_base64: None, ..handoff };
        assert!(summary.unpack().expect_err("no data").contains("log"));
    }
}
