//! The Secrets a spec names, each with the field that names it. Nobody reads them here (the
//! operator has no `get secrets`, issue 14): when the kubelet reports a Job's pod waiting for a
//! Secret (`JobPodBlocked`), the controller names the field of the spec that names it.

use super::cluster::ClusterConnection;
use super::storage::StorageSpec;
use super::{KafkaBackupSpec, KafkaOffsetResetSpec, KafkaRestoreSpec};

/// A Secret named in a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// The field naming it, e.g. `spec.storage.s3.credentialsSecret.name`.
    pub field: String,
    pub name: String,
}

fn push(refs: &mut Vec<SecretRef>, field: impl Into<String>, name: &str) {
    refs.push(SecretRef { field: field.into(), name: name.into() });
}

fn connection(refs: &mut Vec<SecretRef>, c: &ClusterConnection) {
    if let Some(ca) = c.kafka_cluster.as_ref().and_then(|k| k.tls.as_ref()).and_then(|t| t.ca_secret.as_ref())
    {
        push(refs, "spec.kafkaCluster.tls.caSecret.name", &ca.name);
    }
    if let Some(auth) = &c.authentication {
        if let Some(user) = &auth.kafka_user_ref {
            // The User Operator writes the KafkaUser's credentials into a Secret of its name.
            push(refs, "spec.authentication.kafkaUserRef.name", &user.name);
        }
        if let Some(p) = &auth.password_secret {
            push(refs, "spec.authentication.passwordSecret.name", &p.name);
        }
        if let Some(c) = &auth.certificate_and_key {
            push(refs, "spec.authentication.certificateAndKey.secretName", &c.secret_name);
        }
    }
}

fn storage(refs: &mut Vec<SecretRef>, prefix: &str, s: &StorageSpec) {
    if let Some(c) = s.s3.as_ref().and_then(|s| s.credentials_secret.as_ref()) {
        push(refs, format!("{prefix}.s3.credentialsSecret.name"), &c.name);
    }
    if let Some(c) = s.azure.as_ref().and_then(|s| s.credentials_secret.as_ref()) {
        push(refs, format!("{prefix}.azure.credentialsSecret.name"), &c.name);
    }
    if let Some(c) = s.gcs.as_ref().and_then(|s| s.credentials_secret.as_ref()) {
        push(refs, format!("{prefix}.gcs.credentialsSecret.name"), &c.name);
    }
}

fn schema_registry(
    refs: &mut Vec<SecretRef>,
    prefix: &str,
    c: &super::schema_registry::RegistryConnectionSpec,
) {
    if let Some(ca) = c.tls.as_ref().and_then(|t| t.ca_secret.as_ref()) {
        push(refs, format!("{prefix}.tls.caSecret.name"), &ca.name);
    }
    if let Some(a) = &c.authentication {
        if let Some(p) = &a.password_secret {
            push(refs, format!("{prefix}.authentication.passwordSecret.name"), &p.name);
        }
        if let Some(t) = &a.token_secret {
            push(refs, format!("{prefix}.authentication.tokenSecret.name"), &t.name);
        }
    }
}

pub fn backup(spec: &KafkaBackupSpec) -> Vec<SecretRef> {
    let mut refs = Vec::new();
    connection(&mut refs, &spec.cluster);
    storage(&mut refs, "spec.storage", &spec.storage);
    if let Some(key) = spec.backup.encryption.as_ref().and_then(|e| e.key_secret.as_ref()) {
        push(&mut refs, "spec.backup.encryption.keySecret.name", &key.name);
    }
    if let Some(sr) = &spec.schema_registry {
        schema_registry(&mut refs, "spec.schemaRegistry", &sr.connection);
    }
    refs
}

pub fn restore(spec: &KafkaRestoreSpec) -> Vec<SecretRef> {
    let mut refs = Vec::new();
    connection(&mut refs, &spec.cluster);
    if let Some(source) = &spec.source {
        storage(&mut refs, "spec.source.storage", &source.storage);
    }
    if let Some(sr) = &spec.restore.schema_registry {
        schema_registry(&mut refs, "spec.restore.schemaRegistry", &sr.connection);
    }
    refs
}

pub fn offset_reset(spec: &KafkaOffsetResetSpec) -> Vec<SecretRef> {
    let mut refs = Vec::new();
    connection(&mut refs, &spec.cluster);
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_is_found_with_its_field() {
        let spec: KafkaBackupSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9093', tls: {enabled: true, caSecret: {name: ca, key: ca.crt}}}\nauthentication: {type: scram-sha-512, username: u, passwordSecret: {name: pw, key: password}}\nstorage: {type: s3, s3: {bucket: b, region: r, credentialsSecret: {name: s3-creds}}}\nbackup: {encryption: {enabled: true, keySecret: {name: aes, key: key}}}\nschemaRegistry: {url: 'https://sr', tls: {caSecret: {name: sr-ca, key: ca.crt}}, authentication: {type: basic, username: u, passwordSecret: {name: sr-pw, key: p}}}\n",
        )
        .expect("spec");
        let refs = backup(&spec);
        let names: Vec<(&str, &str)> = refs.iter().map(|r| (r.field.as_str(), r.name.as_str())).collect();
        assert_eq!(
            names,
            [
                ("spec.kafkaCluster.tls.caSecret.name", "ca"),
                ("spec.authentication.passwordSecret.name", "pw"),
                ("spec.storage.s3.credentialsSecret.name", "s3-creds"),
                ("spec.backup.encryption.keySecret.name", "aes"),
                ("spec.schemaRegistry.tls.caSecret.name", "sr-ca"),
                ("spec.schemaRegistry.authentication.passwordSecret.name", "sr-pw"),
            ]
        );
        let reset: KafkaOffsetResetSpec = serde_yaml_ng::from_str(
            "strimziClusterRef: {name: c}\nauthentication: {type: tls, kafkaUserRef: {name: backup-user}}\nconsumerGroups: [g]\nresetStrategy: to-latest\n",
        )
        .expect("spec");
        assert_eq!(offset_reset(&reset)[0].name, "backup-user");
    }
}
