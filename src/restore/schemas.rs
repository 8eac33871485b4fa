//! The backup's Schema Registry in a restore (`schemaRegistry` of the restore config): read and
//! checked against its manifest, then re-registered in the target registry **before** any record
//! is written, so a consumer of the restored records finds every schema they name.
//!
//! Versions are registered in [`registration_order`] (references first, each subject's versions
//! ascending). Ids are kept where the target lets them: it is put in `IMPORT` mode (globally,
//! else per subject) and each version is registered with its original `id` and `version`; the id
//! the registry answers is what counts (a registry may ignore the asked id — Apicurio's ccompat
//! API does). Every id that changed is reported (old → new) and, with `rewriteSchemaIds`, the
//! 5-byte prefix of restored keys and values is rewritten through that map
//! ([`crate::schema_registry::rewrite`]). Soft-deleted versions are registered, then soft-deleted.
//! Compatibility is `NONE` per subject while its versions go in (old versions need not pass
//! today's rules), then set as the backup had it, with the modes.
//!
//! A rerun finds what an earlier attempt registered (lookup by schema, soft-deleted included)
//! and rebuilds the same id map: the step is idempotent.

use std::collections::BTreeMap;

use anyhow::Context;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::format::manifest::Manifest;
use crate::format::schemas::{SchemaReference, SchemaRegistryBackup, SchemaVersion};
use crate::schema_registry::RegistryRestore;
use crate::schema_registry::client::{Registry, RegistryError, segment};
use crate::schema_registry::order::registration_order;
use crate::schema_registry::rewrite::IdMap;

/// Ids listed in the result at most (the log has every change).
const LISTED_ID_CHANGES: usize = 50;

/// One schema id the target gave another number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdChange {
    pub old: i32,
    pub new: i32,
}

/// What a restore did in the target registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRegistryOutcome {
    /// The target registry (without user info).
    pub url: String,
    pub subjects: u32,
    /// Versions of the backup, soft-deleted ones included.
    pub versions: u32,
    /// Versions this run registered.
    pub registered: u32,
    /// Versions the target already had (an earlier attempt, or the same schema there before).
    pub already_present: u32,
    /// Versions registered and then soft-deleted, as in the backup.
    pub soft_deleted: u32,
    /// Every schema id kept its number.
    pub ids_kept: bool,
    /// Ids that changed (at most the first 50; `idChangeCount` counts them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_changes: Vec<IdChange>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id_change_count: u32,
    /// Why ids could not be kept (the target refused `IMPORT` mode, or ignored the ids asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids_note: Option<String>,
    /// Restored keys and values had their schema id prefix rewritten through the changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rewrite_schema_ids: bool,
    /// Settings that could not be set in the target, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings_not_restored: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Reads the backup's Schema Registry object when the restore asks for a target registry; fails
/// when the backup has none, before anything is written.
pub async fn load(
    cfg: &super::RestoreConfig,
    storage: &crate::storage::Storage,
    last: &Manifest,
) -> anyhow::Result<Option<SchemaRegistryBackup>> {
    if cfg.schema_registry.is_none() {
        return Ok(None);
    }
    let Some(reference) = &last.schema_registry else {
        anyhow::bail!(
            "schemaRegistry: backup {} holds no Schema Registry object (its KafkaBackup had no \
             spec.schemaRegistry): remove schemaRegistry from the restore, or restore a backup that has one; \
             nothing was written",
            last.backup_id
        );
    };
    let bytes = storage.read_whole(&reference.object).await?;
    let backup = SchemaRegistryBackup::from_object(&bytes, reference)?;
    // A cycle refuses the restore before anything is registered or written.
    registration_order(&backup).map_err(anyhow::Error::msg)?;
    Ok(Some(backup))
}

/// Re-registers `backup` in the target; the outcome and the ids to rewrite in records (empty
/// unless `rewriteSchemaIds`).
pub async fn apply(
    target: &RegistryRestore,
    backup: &SchemaRegistryBackup,
) -> anyhow::Result<(SchemaRegistryOutcome, IdMap)> {
    let registry = Registry::new(&target.connection)?;
    let (outcome, changes) =
        restore(&registry, backup, target.rewrite_schema_ids).await.with_context(|| {
            format!(
                "restoring the schemas of backup {} into the schema registry {}",
                backup.backup_id,
                registry.url()
            )
        })?;
    let map = match target.rewrite_schema_ids {
        true => changes,
        false => IdMap::default(),
    };
    Ok((outcome, map))
}

/// A version as a lookup or a read returns it.
#[derive(Deserialize)]
struct Found {
    id: i32,
    version: i32,
}

/// The restore proper; the outcome and every id change.
pub async fn restore(
    registry: &Registry,
    backup: &SchemaRegistryBackup,
    rewrite: bool,
) -> anyhow::Result<(SchemaRegistryOutcome, IdMap)> {
    let order = registration_order(backup).map_err(anyhow::Error::msg)?;
    let mut outcome = SchemaRegistryOutcome {
        url: registry.url(),
        subjects: count(backup.subjects.len()),
        versions: count(backup.versions().count()),
        rewrite_schema_ids: rewrite,
        ..Default::default()
    };
    let mut notes: Vec<String> = Vec::new();
    // IMPORT mode: globally (Confluent wants `force` on a registry that has schemas), else per
    // subject. Whether ids are kept is judged by the ids the registry answers, not by this.
    let prior_mode = registry.get::<Value>("/mode").await.ok().and_then(|v| field(&v, "mode"));
    let global_import = put(registry, "/mode?force=true", json!({"mode": "IMPORT"})).await;
    let mut subject_import = Vec::new();
    if let Err(e) = &global_import {
        notes.push(format!("the registry refused IMPORT mode ({e})"));
        for s in &backup.subjects {
            if put(registry, &format!("/mode/{}?force=true", segment(&s.subject)), json!({"mode": "IMPORT"}))
                .await
                .is_ok()
            {
                subject_import.push(s.subject.clone());
            }
        }
    }
    // Old versions need not pass today's compatibility rules: each subject is `NONE` while its
    // versions go in (set as backed up afterwards). A registry that keeps settings only for
    // existing subjects (Apicurio) gets it after the subject's first version.
    let mut relaxed = std::collections::BTreeSet::new();

    let by_node: BTreeMap<(String, i32), &SchemaVersion> =
        backup.versions().map(|(s, v)| ((s.to_string(), v.version), v)).collect();
    let mut versions: BTreeMap<(String, i32), i32> = BTreeMap::new();
    let mut changes = IdMap::default();
    let mut ignored_ids = 0u32;
    for node in &order {
        let Some(v) = by_node.get(node) else { continue };
        let subject = &node.0;
        let references: Vec<SchemaReference> = v
            .references
            .iter()
            .map(|r| SchemaReference {
                version: versions.get(&(r.subject.clone(), r.version)).copied().unwrap_or(r.version),
                ..r.clone()
            })
            .collect();
        let mut body = json!({"schema": v.schema, "schemaType": v.schema_type, "references": references});
        let s = segment(subject);
        relax(registry, subject, &mut relaxed).await?;
        let present = match lookup(registry, &s, &body).await? {
            Some(found) => Some(found),
            None if v.deleted => soft_deleted(registry, &s, v).await?,
            None => None,
        };
        let found = match present {
            Some(found) => {
                outcome.already_present += 1;
                found
            }
            None => {
                body["id"] = json!(v.id);
                body["version"] = json!(v.version);
                let id = match registry
                    .call(Method::POST, &format!("/subjects/{s}/versions"), Some(&body))
                    .await
                {
                    Ok(answer) => answer.get("id").and_then(Value::as_i64),
                    Err(e @ RegistryError::Status { .. })
                        if e.status().is_some_and(|c| c.is_client_error()) =>
                    {
                        // The id is taken by another schema, or ids are not accepted here.
                        tracing::warn!(subject = %subject, version = v.version, id = v.id, error = %e, "registering with the original id refused; registering without it");
                        notes.push(format!("{subject} version {}: id {} refused ({e})", v.version, v.id));
                        let plain = json!({"schema": v.schema, "schemaType": v.schema_type, "references": references});
                        register_plain(registry, &s, &plain).await?
                    }
                    Err(e) => return Err(e.into()),
                };
                let id = id.and_then(|i| i32::try_from(i).ok()).with_context(|| {
                    format!("subject {subject} version {}: the registry answered no schema id", v.version)
                })?;
                outcome.registered += 1;
                // The version number the registry gave (the registration answers only the id).
                let body = json!({"schema": v.schema, "schemaType": v.schema_type, "references": references});
                let found = lookup(registry, &s, &body).await?.with_context(|| {
                    format!(
                        "subject {subject} version {}: registered as id {id} but not found by lookup",
                        v.version
                    )
                })?;
                if found.id != v.id && id != v.id {
                    ignored_ids += 1;
                }
                Found { id, version: found.version }
            }
        };
        relax(registry, subject, &mut relaxed).await?;
        if found.id != v.id {
            changes.0.insert(v.id, found.id);
        }
        versions.insert(node.clone(), found.version);
        if v.deleted {
            match registry
                .call(Method::DELETE, &format!("/subjects/{s}/versions/{}", found.version), None)
                .await
            {
                Ok(_) => outcome.soft_deleted += 1,
                // Already soft-deleted (an earlier attempt): 404, or 409 with error 40406.
                Err(e) if e.not_found() || e.status().map(|s| s.as_u16()) == Some(409) => {
                    outcome.soft_deleted += 1
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("soft-deleting {subject} version {}", found.version));
                }
            }
        }
    }

    // Settings as the backup had them.
    for s in &backup.subjects {
        let path = format!("/config/{}", segment(&s.subject));
        let set = match &s.compatibility {
            Some(c) => put(registry, &path, json!({"compatibility": c})).await,
            None => {
                registry.call(Method::DELETE, &path, None).await.map(drop).or_else(|e| match e.not_found() {
                    true => Ok(()),
                    false => Err(e),
                })
            }
        };
        if let Err(e) = set {
            outcome.settings_not_restored.push(format!("{}: compatibility: {e}", s.subject));
        }
    }
    let current = registry.get::<Value>("/config").await.ok().and_then(|v| field(&v, "compatibilityLevel"));
    if let Some(c) = &backup.compatibility
        && current.as_ref() != Some(c)
        && let Err(e) = put(registry, "/config", json!({"compatibility": c})).await
    {
        outcome.settings_not_restored.push(format!("global compatibility: {e}"));
    }
    for s in &backup.subjects {
        let path = format!("/mode/{}", segment(&s.subject));
        let set = match &s.mode {
            Some(m) => put(registry, &format!("{path}?force=true"), json!({"mode": m})).await,
            // A registry without per-subject modes (405) had nothing set.
            None if subject_import.contains(&s.subject) => {
                registry.call(Method::DELETE, &path, None).await.map(drop).or_else(|e| {
                    match e.not_found() || e.status().map(|s| s.as_u16()) == Some(405) {
                        true => Ok(()),
                        false => Err(e),
                    }
                })
            }
            None => Ok(()),
        };
        if let Err(e) = set {
            outcome.settings_not_restored.push(format!("{}: mode: {e}", s.subject));
        }
    }
    if global_import.is_ok() {
        let mode = backup.mode.clone().or(prior_mode).unwrap_or_else(|| "READWRITE".into());
        if let Err(e) = put(registry, "/mode?force=true", json!({"mode": mode})).await {
            outcome.settings_not_restored.push(format!("global mode {mode}: {e}"));
        }
    } else if let Some(m) = &backup.mode
        && m != "READWRITE"
    {
        outcome.settings_not_restored.push(format!("global mode {m}: the registry has no mode endpoint"));
    }

    outcome.ids_kept = changes.is_empty();
    outcome.id_change_count = count(changes.0.len());
    outcome.id_changes = changes
        .0
        .iter()
        .take(LISTED_ID_CHANGES)
        .map(|(old, new)| IdChange { old: *old, new: *new })
        .collect();
    if !outcome.ids_kept {
        if ignored_ids > 0 {
            notes.push(format!("the registry gave {ignored_ids} version(s) an id other than the one asked (it ignores explicit ids)"));
        }
        let what = match rewrite {
            true => "restored record keys and values naming them are rewritten (rewriteSchemaIds)",
            false => "restored records still name the old ids: set rewriteSchemaIds to rewrite them",
        };
        notes.push(format!("{} schema id(s) could not be kept; {what}", changes.0.len()));
        outcome.ids_note = Some(notes.join("; "));
        for (old, new) in &changes.0 {
            tracing::warn!(old, new, "schema id not kept");
        }
    }
    tracing::info!(
        subjects = outcome.subjects,
        versions = outcome.versions,
        registered = outcome.registered,
        already_present = outcome.already_present,
        ids_kept = outcome.ids_kept,
        id_changes = outcome.id_change_count,
        "schema registry restored"
    );
    Ok((outcome, changes))
}

/// The version of `subject` holding `body`'s schema, soft-deleted ones included.
async fn lookup(registry: &Registry, subject: &str, body: &Value) -> anyhow::Result<Option<Found>> {
    match registry.call(Method::POST, &format!("/subjects/{subject}?deleted=true"), Some(body)).await {
        Ok(v) => Ok(Some(serde_json::from_value(v).context("the registry's lookup answer")?)),
        Err(e) if e.not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Sets `subject`'s compatibility to `NONE` once; a registry that does not know the subject yet
/// (404) is asked again after its first version.
async fn relax(
    registry: &Registry,
    subject: &str,
    relaxed: &mut std::collections::BTreeSet<String>,
) -> anyhow::Result<()> {
    if relaxed.contains(subject) {
        return Ok(());
    }
    match put(registry, &format!("/config/{}", segment(subject)), json!({"compatibility": "NONE"})).await {
        Ok(()) => {
            relaxed.insert(subject.to_string());
            Ok(())
        }
        Err(e) if e.not_found() => Ok(()),
        Err(e) => Err(e).with_context(|| {
            format!("subject {subject}: setting its compatibility to NONE while it is restored")
        }),
    }
}

/// A soft-deleted version of `subject` with `v`'s schema (lookups do not find soft-deleted
/// versions on every registry, and registering the schema again would add a version).
async fn soft_deleted(
    registry: &Registry,
    subject: &str,
    v: &SchemaVersion,
) -> anyhow::Result<Option<Found>> {
    let all: Vec<i32> = match registry.get(&format!("/subjects/{subject}/versions?deleted=true")).await {
        Ok(all) => all,
        Err(e) if e.not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let live: Vec<i32> = registry.get(&format!("/subjects/{subject}/versions")).await.unwrap_or_default();
    for n in all.into_iter().filter(|n| !live.contains(n)) {
        let got: Value = registry.get(&format!("/subjects/{subject}/versions/{n}?deleted=true")).await?;
        let kind = got.get("schemaType").and_then(Value::as_str).unwrap_or("AVRO");
        if got.get("schema").and_then(Value::as_str) == Some(v.schema.as_str()) && kind == v.schema_type {
            let id = got.get("id").and_then(Value::as_i64).and_then(|i| i32::try_from(i).ok());
            if let Some(id) = id {
                return Ok(Some(Found { id, version: n }));
            }
        }
    }
    Ok(None)
}

/// Registers without an id: in `IMPORT` mode a registry may refuse that, so the subject is put
/// in `READWRITE` for it and back in `IMPORT` after.
async fn register_plain(registry: &Registry, subject: &str, body: &Value) -> anyhow::Result<Option<i64>> {
    let path = format!("/subjects/{subject}/versions");
    match registry.call(Method::POST, &path, Some(body)).await {
        Ok(answer) => Ok(answer.get("id").and_then(Value::as_i64)),
        Err(first) => {
            let mode = format!("/mode/{subject}?force=true");
            put(registry, &mode, json!({"mode": "READWRITE"})).await.map_err(|_| first)?;
            let answer = registry.call(Method::POST, &path, Some(body)).await;
            let _ = put(registry, &mode, json!({"mode": "IMPORT"})).await;
            Ok(answer?.get("id").and_then(Value::as_i64))
        }
    }
}

async fn put(registry: &Registry, path: &str, body: Value) -> Result<(), RegistryError> {
    registry.call(Method::PUT, path, Some(&body)).await.map(drop)
}

fn field(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
