//! The config an offset-reset Job runs with, rendered from the `KafkaOffsetReset`: the
//! connection (file paths only) and, for `to-snapshot`, the path where the snapshot ConfigMap is
//! mounted.

use std::path::PathBuf;

use crate::api::offset_reset::KafkaOffsetResetSpec;
use crate::kafka::KafkaConnection;
use crate::offset_reset::OffsetResetConfig;

/// Where a snapshot ConfigMap is mounted, and its key.
pub const SNAPSHOT_DIR: &str = "/etc/strimzi-backup/snapshot";
pub const SNAPSHOT_KEY: &str = "snapshot.json";

pub fn render(spec: &KafkaOffsetResetSpec, kafka: KafkaConnection) -> OffsetResetConfig {
    OffsetResetConfig {
        kafka,
        consumer_groups: spec.consumer_groups.clone(),
        topics: spec.topics.clone(),
        reset_strategy: spec.reset_strategy,
        reset_timestamp: spec.reset_timestamp.clone(),
        reset_offset: spec.reset_offset,
        shift_by: spec.shift_by,
        snapshot_file: spec
            .snapshot_ref
            .as_ref()
            .map(|_| PathBuf::from(format!("{SNAPSHOT_DIR}/{SNAPSHOT_KEY}"))),
        parallelism: usize::try_from(spec.parallelism).unwrap_or(1).max(1),
        dry_run: spec.dry_run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::offset_reset::ResetStrategy;

    #[test]
    fn a_rollback_reads_the_mounted_snapshot() {
        let spec: KafkaOffsetResetSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nconsumerGroups: [billing]\nresetStrategy: to-snapshot\nsnapshotRef: restore-orders-snapshot\n",
        )
        .expect("spec");
        let config =
            render(&spec, KafkaConnection { bootstrap_servers: "k:9092".into(), ..Default::default() });
        assert_eq!(config.reset_strategy, ResetStrategy::ToSnapshot);
        assert_eq!(config.snapshot_file, Some(PathBuf::from("/etc/strimzi-backup/snapshot/snapshot.json")));
        assert_eq!(config.parallelism, 10);
        let yaml = serde_yaml_ng::to_string(&config).expect("yaml");
        let back: OffsetResetConfig = serde_yaml_ng::from_str(&yaml).expect("the data plane reads it");
        assert_eq!(back.consumer_groups, ["billing"]);
    }
}
