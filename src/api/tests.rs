//! Checks of the API types against the samples users copy and the CRDs the apiserver enforces.

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use serde_json::Value;

use super::backup::{BackupMode, Compression, ConcurrencyPolicy, DeletionPolicy};
use super::*;

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples")
}

/// Every YAML document under config/samples, with the file it came from.
fn sample_documents() -> Vec<(PathBuf, Value)> {
    let mut files = Vec::new();
    let mut dirs = vec![samples_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read samples dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml")
                && path.file_name().is_some_and(|n| n != "kustomization.yaml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read sample");
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc).expect("sample is YAML");
            docs.push((file.clone(), value));
        }
    }
    docs
}

/// True when everything in `input` is also in `output`: a field the types do not know (a typo, a
/// field of another API) would be dropped by serde and show up here.
fn contained(input: &Value, output: &Value, path: &str, missing: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                match o.get(k) {
                    Some(ov) => contained(v, ov, &format!("{path}.{k}"), missing),
                    None => missing.push(format!("{path}.{k}")),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) if i.len() == o.len() => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                contained(iv, ov, &format!("{path}[{n}]"), missing);
            }
        }
        (Value::Number(i), Value::Number(o)) if i.as_f64() == o.as_f64() => {}
        (i, o) if i == o => {}
        _ => missing.push(format!("{path} (was {input}, parsed as {output})")),
    }
}

fn roundtrip<K>(doc: &Value) -> Vec<String>
where
    K: serde::de::DeserializeOwned + serde::Serialize,
{
    let typed: K = serde_json::from_value(doc.clone()).expect("sample parses into the API type");
    let back = serde_json::to_value(&typed).expect("serializes");
    let mut missing = Vec::new();
    contained(doc, &back, "", &mut missing);
    missing
}

#[test]
fn every_sample_parses_into_the_api_types_without_losing_a_field() {
    let docs = sample_documents();
    assert!(docs.len() >= 10, "expected the three samples and the seed examples, found {}", docs.len());
    for (file, doc) in &docs {
        assert_eq!(doc["apiVersion"], "kafkabackup.com/v1alpha1", "{}", file.display());
        let missing = match doc["kind"].as_str() {
            Some("KafkaBackup") => roundtrip::<KafkaBackup>(doc),
            Some("KafkaRestore") => roundtrip::<KafkaRestore>(doc),
            Some("KafkaOffsetReset") => roundtrip::<KafkaOffsetReset>(doc),
            Some("KafkaBackupLocation") => roundtrip::<super::KafkaBackupLocation>(doc),
            Some("KafkaRestoreDrill") => roundtrip::<super::KafkaRestoreDrill>(doc),
            Some("KafkaBackupSchedule") => roundtrip::<super::KafkaBackupSchedule>(doc),
            Some("KafkaDataErasure") => roundtrip::<super::KafkaDataErasure>(doc),
            other => panic!("{}: unexpected kind {other:?}", file.display()),
        };
        assert!(missing.is_empty(), "{}: fields not in the API: {missing:?}", file.display());
    }
}

#[test]
fn one_top_level_sample_per_kind() {
    let mut kinds: Vec<String> = sample_documents()
        .into_iter()
        .filter(|(file, _)| file.parent() == Some(samples_dir().as_path()))
        .filter_map(|(_, doc)| doc["kind"].as_str().map(String::from))
        .collect();
    kinds.sort();
    // Restore points are written by the operator only: no sample.
    assert_eq!(
        kinds,
        [
            "KafkaBackup",
            "KafkaBackupLocation",
            "KafkaBackupSchedule",
            "KafkaDataErasure",
            "KafkaOffsetReset",
            "KafkaRestore",
            "KafkaRestoreDrill"
        ]
    );
}

#[test]
fn the_contract_sample_choices_hold() {
    let docs = sample_documents();
    let find = |name: &str| {
        docs.iter()
            .find(|(_, d)| d["metadata"]["name"] == name)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("sample {name} missing"))
    };
    let backup: KafkaBackup = serde_json::from_value(find("my-cluster-nightly")).expect("backup");
    assert!(backup.spec.cluster.strimzi_cluster_ref.is_some());
    assert_eq!(backup.spec.storage.type_, storage::StorageType::S3);
    assert!(backup.spec.schedule.is_some() && backup.spec.retention.is_some());

    let restore: KafkaRestore = serde_json::from_value(find("orders-before-incident")).expect("restore");
    assert!(restore.spec.point_in_time.and_then(|p| p.timestamp).is_some());
    assert!(!restore.spec.topic_mapping.is_empty());
    assert!(restore.spec.consumer_groups.is_some_and(|g| g.restore));

    let reset: KafkaOffsetReset = serde_json::from_value(find("reprocess-since-1430")).expect("reset");
    assert_eq!(reset.spec.reset_strategy, offset_reset::ResetStrategy::ToTimestamp);
}

/// SPEC §2.2 and §2.5 defaults, as a user who leaves the fields out gets them.
#[test]
fn defaults_of_the_contract() {
    let backup: KafkaBackupSpec = serde_json::from_value(serde_json::json!({
        "kafkaCluster": {"bootstrapServers": "k:9092"},
        "storage": {"type": "filesystem", "filesystem": {"claimName": "pvc"}},
        "schedule": {"cron": "0 2 * * *"},
        "retention": {"maxBackups": 3},
    }))
    .expect("minimal backup");
    assert_eq!(backup.topics.include, [".*"]);
    assert_eq!(backup.topics.exclude, ["__.*"]);
    assert_eq!(backup.consumer_groups.include, [".*"]);
    assert!(backup.consumer_groups.exclude.is_empty());
    assert_eq!(backup.backup.compression, Compression::Zstd);
    assert_eq!(backup.backup.compression_level, 3);
    assert_eq!(backup.backup.segment_size, 256 * 1024 * 1024);
    assert_eq!(backup.backup.parallelism, 4);
    assert_eq!(backup.backup.mode, BackupMode::Incremental);
    assert!(backup.backup.encryption.is_none());
    let schedule = backup.schedule.expect("schedule");
    assert_eq!(schedule.timezone, "UTC");
    assert!(!schedule.suspend);
    assert_eq!(schedule.concurrency_policy, ConcurrencyPolicy::Forbid);
    assert!(backup.retention.expect("retention").prune_on_schedule);
    assert_eq!(backup.deletion_policy, DeletionPolicy::Retain);

    let reset: KafkaOffsetResetSpec = serde_json::from_value(serde_json::json!({
        "kafkaCluster": {"bootstrapServers": "k:9092"},
        "consumerGroups": ["g"],
        "resetStrategy": "to-earliest",
    }))
    .expect("minimal reset");
    assert_eq!(reset.parallelism, 10);
    assert!(!reset.dry_run);
}

fn schema_of(crd: &CustomResourceDefinition) -> &JSONSchemaProps {
    crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("CRD has a schema")
}

fn walk<'a>(schema: &'a JSONSchemaProps, path: String, out: &mut Vec<(String, &'a JSONSchemaProps)>) {
    out.push((path.clone(), schema));
    for (k, v) in schema.properties.iter().flatten() {
        walk(v, format!("{path}.{k}"), out);
    }
    if let Some(
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(s),
    ) = &schema.items
    {
        walk(s, format!("{path}[]"), out);
    }
}

#[test]
fn crds_are_structural_and_described() {
    for crd in crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.categories.as_deref(), Some(&[CATEGORY.to_string()][..]), "{name}");
        assert_eq!(crd.spec.names.short_names.as_ref().map(Vec::len), Some(1), "{name}");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, VERSION);
        assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(), "{name}");

        let mut nodes = Vec::new();
        walk(schema_of(&crd), String::new(), &mut nodes);
        for (path, node) in &nodes {
            assert_ne!(
                node.x_kubernetes_preserve_unknown_fields,
                Some(true),
                "{name}{path} preserves unknown fields"
            );
            if path.starts_with(".spec") {
                let described = node.description.as_deref().is_some_and(|d| !d.trim().is_empty());
                assert!(
                    described || path.ends_with("[]") || is_k8s_builtin(path),
                    "{name}{path} has no description"
                );
                assert!(
                    !node.description.as_deref().unwrap_or("").contains('\n')
                        || node.description.as_deref().unwrap_or("").contains("\n\n"),
                    "{name}{path}: description keeps source line breaks"
                );
            }
        }
        // Every printer column points at a field the schema has.
        for column in version.additional_printer_columns.iter().flatten() {
            let path = column.json_path.split('[').next().unwrap_or_default();
            if path.starts_with(".metadata") {
                continue;
            }
            assert!(
                nodes.iter().any(|(p, _)| p == path),
                "{name}: column {} -> {path} not in schema",
                column.name
            );
        }
    }
}

/// Kubernetes' own types (affinity, env, security contexts) carry upstream descriptions at their
/// roots only; their inner fields are documented upstream.
fn is_k8s_builtin(path: &str) -> bool {
    ["affinity.", "tolerations", "securityContext.", "env", "resources.", "imagePullSecrets"]
        .iter()
        .any(|p| path.contains(p))
}

#[test]
fn crd_rules_are_in_the_schema() {
    let rules = |crd: &CustomResourceDefinition| -> Vec<String> {
        let mut nodes = Vec::new();
        walk(schema_of(crd), String::new(), &mut nodes);
        nodes
            .iter()
            .flat_map(|(_, n)| n.x_kubernetes_validations.iter().flatten().map(|r| r.rule.clone()))
            .collect()
    };
    let [backup, restore, reset, location, point, drill, schedule, erasure] =
        <[_; 8]>::try_from(crds()).expect("eight CRDs");
    let has = |rules: &[String], needle: &str| rules.iter().any(|r| r.contains(needle));
    for crd in [&backup, &restore, &reset] {
        assert!(has(&rules(crd), "has(self.strimziClusterRef) != has(self.kafkaCluster)"));
    }
    let b = rules(&backup);
    assert!(has(&b, "has(self.s3) == (self.type == 's3')"));
    assert!(has(&b, "has(self.maxBackups) || has(self.maxAge)"));
    let r = rules(&restore);
    assert!(has(&r, "has(self.timestamp) != has(self.offsetFromEnd)"));
    assert!(has(&r, "self == oldSelf"));
    assert!(has(&r, "[has(self.backupRef), has(self.source), has(self.restorePointRef)]"));
    assert!(has(&rules(&reset), "self == oldSelf"));
    assert!(has(&rules(&location), "has(self.s3) == (self.type == 's3')"));
    assert!(has(&rules(&point), "self == oldSelf"));
    let d = rules(&drill);
    assert!(has(&d, "has(self.backupRef) != has(self.locationRef)"));
    assert!(has(&d, "has(self.backupRef) || has(self.target)"));
    assert!(has(&d, "has(self.target.strimziClusterRef) != has(self.target.kafkaCluster)"));
    let s = rules(&schedule);
    assert!(has(&s, "!has(self.strimziClusterRef) && !has(self.kafkaCluster)"));
    assert!(has(&s, "has(self.s3) == (self.type == 's3')"));
    let e = rules(&erasure);
    assert!(has(&e, "has(self.backupRef) != has(self.locationRef)"));
    assert!(has(&e, "self == oldSelf"));
}

#[test]
fn crdgen_writes_kubebuilder_file_names() {
    let names: Vec<String> = crds().iter().map(crate::crdgen::file_name).collect();
    assert_eq!(
        names,
        [
            "kafkabackup.com_kafkabackups.yaml",
            "kafkabackup.com_kafkarestores.yaml",
            "kafkabackup.com_kafkaoffsetresets.yaml",
            "kafkabackup.com_kafkabackuplocations.yaml",
            "kafkabackup.com_kafkarestorepoints.yaml",
            "kafkabackup.com_kafkarestoredrills.yaml",
            "kafkabackup.com_kafkabackupschedules.yaml",
            "kafkabackup.com_kafkadataerasures.yaml"
        ]
    );
}
