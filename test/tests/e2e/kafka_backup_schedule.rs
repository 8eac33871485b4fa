//! KafkaBackupSchedule: one backup policy for every Strimzi Kafka cluster its selector matches (issue 16 §1).
