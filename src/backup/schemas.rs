//! The Schema Registry a backup captures besides the records (`spec.schemaRegistry`): every
//! subject (soft-deleted ones included), every version with its id, type, schema text and
//! references, and the global and per-subject compatibility and mode; stored as
//! `backups/<id>/schema-registry.json` before the manifest that names it.
//!
//! A registry that cannot be read fails the backup (it is retried): a backup that silently lacks
//! the schemas its records need would restore records nobody can read. Only settings the
//! registry does not offer (a `/mode` or `/config` endpoint answering 404 or 405 for the global
//! level) are recorded as not captured, with the reason, in the object, manifest and result.

use anyhow::Context;
use object_store::{ObjectStoreExt, PutPayload};
use serde::Deserialize;

use crate::format::schemas::{
    NotCaptured, SCHEMAS_VERSION, SchemaReference, SchemaRegistryBackup, SchemaVersion, SchemasRef, Subject,
};
use crate::schema_registry::client::{Registry, RegistryError, segment};

/// A version as `GET /subjects/{s}/versions/{v}` returns it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionAnswer {
    id: i32,
    version: i32,
    #[serde(default)]
    schema_type: Option<String>,
    schema: String,
    #[serde(default)]
    references: Option<Vec<SchemaReference>>,
}

/// Reads the registry and stores it under the backup; the manifest's reference (`None` when no
/// registry is configured).
pub async fn capture(
    cfg: &super::BackupConfig,
    storage: &crate::storage::Storage,
    backup_id: &str,
    captured_at: String,
) -> anyhow::Result<Option<SchemasRef>> {
    let Some(asked) = &cfg.schema_registry else { return Ok(None) };
    let registry = Registry::new(&asked.connection)?;
    let subjects = asked.subjects.filter("schemaRegistry.subjects").map_err(anyhow::Error::msg)?;
    let backup = read(&registry, &subjects, backup_id, captured_at)
        .await
        .with_context(|| format!("backing up the schema registry {}", registry.url()))?;
    let name = storage.layout.schema_registry(backup_id);
    let (bytes, reference) = backup.to_object(name.clone())?;
    let path = object_store::path::Path::from(name.as_str());
    storage.store.put(&path, PutPayload::from(bytes)).await.with_context(|| format!("writing {name}"))?;
    storage.sync(&name).await.with_context(|| format!("flushing {name} to disk"))?;
    tracing::info!(
        subjects = reference.subjects,
        versions = reference.versions,
        schema_ids = reference.schema_ids,
        deleted_versions = reference.deleted_versions,
        not_captured = reference.not_captured.len(),
        "schema registry captured"
    );
    Ok(Some(reference))
}

/// Everything the backup keeps of `registry`.
pub async fn read(
    registry: &Registry,
    selected: &crate::api::selection::NameFilter,
    backup_id: &str,
    captured_at: String,
) -> anyhow::Result<SchemaRegistryBackup> {
    let mut not_captured = Vec::new();
    let compatibility =
        setting(registry, "/config", "compatibilityLevel", "globalCompatibility", &mut not_captured).await?;
    let mode = setting(registry, "/mode", "mode", "globalMode", &mut not_captured).await?;
    let mut names: Vec<String> = registry.get("/subjects?deleted=true").await?;
    names.retain(|n| selected.matches(n));
    names.sort();
    names.dedup();
    let mut subjects = Vec::with_capacity(names.len());
    for name in names {
        let s = segment(&name);
        let mut all: Vec<i32> = registry.get(&format!("/subjects/{s}/versions?deleted=true")).await?;
        // A subject soft-deleted whole lists no live versions (404).
        let live: Vec<i32> = match registry.get(&format!("/subjects/{s}/versions")).await {
            Ok(v) => v,
            Err(e) if e.not_found() => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        all.sort_unstable();
        all.dedup();
        let mut versions = Vec::with_capacity(all.len());
        for v in all {
            let a: VersionAnswer = registry.get(&format!("/subjects/{s}/versions/{v}?deleted=true")).await?;
            versions.push(SchemaVersion {
                version: a.version,
                id: a.id,
                schema_type: a.schema_type.unwrap_or_else(|| "AVRO".into()),
                schema: a.schema,
                references: a.references.unwrap_or_default(),
                deleted: !live.contains(&v),
            });
        }
        // Subject-level settings only: without `defaultToGlobal` the registry answers 404
        // when the subject has none of its own.
        let compatibility = subject_setting(registry, &format!("/config/{s}"), "compatibilityLevel").await?;
        let mode = subject_setting(registry, &format!("/mode/{s}"), "mode").await?;
        subjects.push(Subject { subject: name, compatibility, mode, versions });
    }
    Ok(SchemaRegistryBackup {
        schemas_version: SCHEMAS_VERSION,
        backup_id: backup_id.to_string(),
        captured_at,
        url: registry.url(),
        compatibility,
        mode,
        subjects,
        not_captured,
    })
}

/// A global setting; a registry without the endpoint records it as not captured.
async fn setting(
    registry: &Registry,
    path: &str,
    field: &str,
    what: &str,
    not_captured: &mut Vec<NotCaptured>,
) -> anyhow::Result<Option<String>> {
    match registry.get::<serde_json::Value>(path).await {
        Ok(v) => Ok(v.get(field).and_then(|f| f.as_str()).map(str::to_string)),
        Err(e @ RegistryError::Status { .. })
            if matches!(e.status().map(|s| s.as_u16()), Some(404 | 405 | 501)) =>
        {
            tracing::warn!(part = what, reason = %e, "schema registry setting not captured");
            not_captured.push(NotCaptured { what: what.into(), reason: e.to_string() });
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// A subject's own setting, `None` when it has none (404).
async fn subject_setting(registry: &Registry, path: &str, field: &str) -> anyhow::Result<Option<String>> {
    match registry.get::<serde_json::Value>(path).await {
        Ok(v) => Ok(v.get(field).and_then(|f| f.as_str()).map(str::to_string)),
        Err(e) if e.not_found() || e.status().map(|s| s.as_u16()) == Some(405) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
