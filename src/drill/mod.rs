//! `drill`: a restore drill — restores a backup into scratch topics, reads them back, compares
//! them record for record with what the backup holds, measures the time to restore, and deletes
//! the scratch topics. (Being built: issue 15 §4.)

use serde::{Deserialize, Serialize};

/// What a drill is told.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillConfig {}

/// What a drill found.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillResult {}

impl DrillResult {
    /// Small enough for a termination message.
    pub fn summary(&self) -> Self {
        self.clone()
    }

    /// Whether every record restored and read back equal.
    pub fn passed(&self) -> bool {
        false
    }
}

pub async fn run(_cfg: &DrillConfig) -> anyhow::Result<DrillResult> {
    anyhow::bail!("drill is not built yet")
}
