//! Restores the Strimzi Topic Operator owns (restore.topicCreation: strimzi) and the cluster's KafkaTopic/KafkaUser CRs in a backup (issue 16 §2).
