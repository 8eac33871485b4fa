//! A drill's evidence at the location: `verifications/<backupId>/<drillId>.json`, the drill's
//! result (its summary) with a format version, written with one PUT once the drill compared
//! (passed or failed). Every cluster that syncs the location reads the newest one per restore
//! point into the restore point's `status.verification`, so a disaster-recovery cluster sees
//! which restore points were proven to restore. Advisory: restore never reads it, and pruning a
//! backup deletes its evidence with it (docs/format.md, "verifications/").

use anyhow::Context;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::result::DrillResult;
use crate::storage::Storage;

/// The evidence format this build writes and reads; a newer one is left unread.
pub const EVIDENCE_VERSION: u32 = 1;

/// The evidence document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub evidence_version: u32,
    /// The drill's result, cut as for a termination message ([`DrillResult::summary`]): counts
    /// whole, the first mismatches named. It holds no secret (topic names, counts, times, the
    /// message).
    #[serde(flatten)]
    pub result: DrillResult,
}

impl Evidence {
    pub fn of(result: &DrillResult) -> Self {
        let mut result = result.summary();
        result.evidence_written = None;
        Self { evidence_version: EVIDENCE_VERSION, result }
    }

    /// Reads an evidence document (`object` names it in errors).
    pub fn from_json(bytes: &[u8], object: &str) -> anyhow::Result<Self> {
        let evidence: Self =
            serde_json::from_slice(bytes).with_context(|| format!("{object} is not a drill's evidence"))?;
        anyhow::ensure!(
            evidence.evidence_version <= EVIDENCE_VERSION,
            "{object} has evidence version {}; this build reads up to {EVIDENCE_VERSION}",
            evidence.evidence_version
        );
        Ok(evidence)
    }
}

/// Writes `result` as the evidence of its drill, in one PUT (readers see all of it or nothing).
/// Returns the object's name.
pub async fn write(storage: &Storage, result: &DrillResult) -> anyhow::Result<String> {
    let name = storage.layout.verification(&result.backup_id, &result.drill_id);
    let body = serde_json::to_vec_pretty(&Evidence::of(result))?;
    storage
        .store
        .put(&object_store::path::Path::from(name.as_str()), body.into())
        .await
        .with_context(|| format!("writing {name}"))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::restore_point::VerificationResult;

    #[test]
    fn evidence_is_the_result_with_a_version_and_a_newer_version_is_not_read() {
        let result = DrillResult {
            drill_id: "d1".into(),
            backup_id: "b1".into(),
            records: 465,
            result: VerificationResult::Passed,
            evidence_written: Some(true),
            ..Default::default()
        };
        let json = serde_json::to_value(Evidence::of(&result)).expect("json");
        assert_eq!(json["evidenceVersion"], 1);
        assert_eq!((json["backupId"].as_str(), json["records"].as_u64()), (Some("b1"), Some(465)));
        assert!(json.get("evidenceWritten").is_none(), "{json}");
        let read = Evidence::from_json(json.to_string().as_bytes(), "e").expect("read");
        assert_eq!(read.result.drill_id, "d1");
        let mut newer = json.clone();
        newer["evidenceVersion"] = 2.into();
        assert!(Evidence::from_json(newer.to_string().as_bytes(), "e").is_err());
        assert!(Evidence::from_json(b"{}", "e").is_err());
    }
}
