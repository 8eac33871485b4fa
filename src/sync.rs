//! `sync`: lists the restore points at a storage location (being built: issue 15 §1).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncConfig {}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {}

impl SyncResult {
    pub fn summary(&self) -> Self {
        self.clone()
    }
}

pub async fn run(_cfg: &SyncConfig) -> anyhow::Result<SyncResult> {
    anyhow::bail!("sync is not built yet")
}
