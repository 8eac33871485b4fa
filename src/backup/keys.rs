//! The key a backup run seals its segments with. A run that plans gets it from the config (a
//! key file, or a fresh data key from the KMS); a worker that joins another worker's plan takes
//! the plan's: with a KMS it unwraps the plan's wrapped data key exactly as a restore would, with
//! a key file it checks its own key is the one the plan names.

use anyhow::Context;

use crate::format::codec::EncryptionKey;

use super::BackupConfig;
use super::shared_plan::{PlannedKeys, SharedPlan};

/// The key to seal with and what the manifest records of it.
#[derive(Clone, Default)]
pub struct RunKeys {
    pub key: Option<EncryptionKey>,
    pub planned: PlannedKeys,
}

fn encrypted(cfg: &BackupConfig) -> bool {
    cfg.backup.encryption.as_ref().is_some_and(|e| e.enabled)
}

/// The keys of a run that makes its own plan. With a KMS: a fresh data key, wrapped by the KMS
/// before anything is written (an unreachable KMS fails the run here); the manifest records the
/// wrapping key's id.
pub async fn fresh(cfg: &BackupConfig, backup_id: &str) -> anyhow::Result<RunKeys> {
    if !encrypted(cfg) {
        return Ok(RunKeys::default());
    }
    if let Some(access) = &cfg.kms {
        let kms = crate::kms::Kms::connect(access).await?;
        let (key, entry) = kms.new_data_key(backup_id).await?;
        return Ok(RunKeys {
            key: Some(key),
            planned: PlannedKeys {
                encryption_key_id: Some(crate::kms::lineage_key_id(access)),
                data_key: Some(entry),
            },
        });
    }
    let key = crate::catalog::load_key(cfg.encryption_key_file.as_deref())?.context(
        "backup.encryption is enabled but neither an encryption key file (encryptionKeyFile) nor kms settings were given",
    )?;
    let id = key.id().to_string();
    Ok(RunKeys { key: Some(key), planned: PlannedKeys { encryption_key_id: Some(id), data_key: None } })
}

/// The key id this worker's config stands for, without calling a KMS: what a plan it joins
/// must name.
pub fn configured_key_id(cfg: &BackupConfig) -> anyhow::Result<Option<String>> {
    if !encrypted(cfg) {
        return Ok(None);
    }
    if let Some(access) = &cfg.kms {
        return Ok(Some(crate::kms::lineage_key_id(access)));
    }
    Ok(crate::catalog::load_key(cfg.encryption_key_file.as_deref())?.map(|k| k.id().to_string()))
}

/// The keys of a worker joining `plan` (checked joinable before).
pub async fn of_plan(cfg: &BackupConfig, plan: &SharedPlan) -> anyhow::Result<RunKeys> {
    let planned =
        PlannedKeys { encryption_key_id: plan.encryption_key_id.clone(), data_key: plan.data_key.clone() };
    if plan.encryption_key_id.is_none() {
        return Ok(RunKeys { key: None, planned });
    }
    let key = match (&plan.data_key, &cfg.kms) {
        (Some(entry), Some(access)) => crate::kms::Kms::connect(access).await?.unwrap(entry).await?,
        (Some(entry), None) => anyhow::bail!(
            "backup {}'s data key is wrapped by {} key {}: give this worker the kms settings",
            plan.backup_id,
            entry.provider,
            entry.kms_key_id
        ),
        (None, _) => crate::catalog::load_key(cfg.encryption_key_file.as_deref())?
            .context("the backup is encrypted with a key file but this worker was given none")?,
    };
    Ok(RunKeys { key: Some(key), planned })
}
