use super::*;
use crate::api::KafkaBackup;
use kube::CustomResourceExt;

fn kbs(yaml: &str) -> KafkaBackupSchedule {
    let mut k = KafkaBackupSchedule::new("nightly", serde_yaml_ng::from_str(yaml).expect("spec"));
    k.metadata.namespace = Some("ops".into());
    k.metadata.uid = Some("1b7c0e9e-0000-4000-8000-000000000001".into());
    k
}

const S3: &str = "clusterSelector: {matchLabels: {backup: nightly}}\nschedule: {cron: '0 2 * * *'}\nbackupTemplate: {storage: {type: s3, s3: {bucket: b, region: r, prefix: PREFIX}}, listenerName: tls, retention: {maxBackups: 3}}\n";

fn prefix_of(spec: &KafkaBackupSpec) -> Option<String> {
    spec.storage.s3.as_ref().and_then(|s| s.prefix.clone())
}

#[test]
fn each_cluster_writes_under_a_prefix_of_its_own() {
    let a = KafkaId::new("ops", "a");
    let b = KafkaId::new("team-b", "a");
    let with = kbs(&S3.replace("PREFIX", "prod/"));
    assert_eq!(prefix_of(&owned_spec(&with, &a, true)).as_deref(), Some("prod/ops/a/"));
    assert_eq!(prefix_of(&owned_spec(&with, &b, true)).as_deref(), Some("prod/team-b/a/"));
    let no_slash = kbs(&S3.replace("PREFIX", "prod"));
    assert_eq!(prefix_of(&owned_spec(&no_slash, &a, true)).as_deref(), Some("prod/ops/a/"));
    let root = kbs(&S3.replace("PREFIX", "/"));
    assert_eq!(prefix_of(&owned_spec(&root, &a, true)).as_deref(), Some("ops/a/"));
    let none = kbs(&S3.replace(", prefix: PREFIX", ""));
    assert_eq!(prefix_of(&owned_spec(&none, &a, true)).as_deref(), Some("ops/nightly/ops/a/"));
    let fs = kbs(
        "clusterSelector: {}\nschedule: {cron: '0 2 * * *'}\nbackupTemplate: {storage: {type: filesystem, filesystem: {claimName: pvc, path: /backups}}}\n",
    );
    let path = owned_spec(&fs, &a, true).storage.filesystem.and_then(|f| f.path);
    assert_eq!(path.as_deref(), Some("backups/ops/a/"));
}

#[test]
fn the_owned_spec_is_the_template_with_the_cluster_and_the_schedule() {
    let k = kbs(&S3.replace("PREFIX", "p/"));
    let spec = owned_spec(&k, &KafkaId::new("ops", "a"), true);
    let r = spec.cluster.strimzi_cluster_ref.clone().expect("cluster ref");
    assert_eq!((r.name.as_str(), r.namespace, r.listener_name.as_deref()), ("a", None, Some("tls")));
    assert_eq!(spec.retention.and_then(|r| r.max_backups), Some(3));
    let schedule = spec.schedule.expect("schedule");
    assert_eq!((schedule.cron.as_str(), schedule.suspend), ("0 2 * * *", false));
    let elsewhere = owned_spec(&k, &KafkaId::new("team-b", "a"), true);
    assert_eq!(elsewhere.cluster.strimzi_cluster_ref.and_then(|r| r.namespace).as_deref(), Some("team-b"));
    // A cluster that left the selection: the same spec, suspended.
    let left = owned_spec(&k, &KafkaId::new("ops", "a"), false);
    assert!(left.schedule.as_ref().is_some_and(|s| s.suspend));
    assert_eq!(left.storage, owned_spec(&k, &KafkaId::new("ops", "a"), true).storage);
}

#[test]
fn names_are_deterministic_distinct_and_fit_a_label_value() {
    let same = backup_name("nightly", "ops", &KafkaId::new("ops", "orders"));
    assert_eq!(same, "nightly-orders");
    let other = backup_name("nightly", "ops", &KafkaId::new("team-b", "orders"));
    assert!(
        other.starts_with("nightly-team-b-orders-") && other.len() == "nightly-team-b-orders-".len() + 6,
        "{other}"
    );
    // `a-b`/`c` and `a`/`b-c` do not meet.
    assert_ne!(
        backup_name("s", "ops", &KafkaId::new("a-b", "c")),
        backup_name("s", "ops", &KafkaId::new("a", "b-c"))
    );
    let long = "x".repeat(60);
    let one = backup_name(&long, "ops", &KafkaId::new("ops", format!("{long}1")));
    let two = backup_name(&long, "ops", &KafkaId::new("ops", format!("{long}2")));
    assert!(one.len() <= MAX_BACKUP_NAME && two.len() <= MAX_BACKUP_NAME, "{one} {two}");
    assert_ne!(one, two);
    assert_eq!(one, backup_name(&long, "ops", &KafkaId::new("ops", format!("{long}1"))));
}

#[test]
fn labels_carry_the_schedule_uid_and_whether_the_cluster_is_selected() {
    let k = kbs(&S3.replace("PREFIX", "p/"));
    let labels = owned_labels(&k, &KafkaId::new("ops", "a"), "nightly-a", false);
    assert_eq!(labels.get(SCHEDULE_UID_LABEL).map(String::as_str), k.metadata.uid.as_deref());
    assert_eq!(labels.get(SELECTED_LABEL).map(String::as_str), Some("false"));
    assert_eq!(labels.get(SCHEDULE_LABEL).map(String::as_str), Some("nightly"));
    assert_eq!(labels.get("strimzi.io/cluster").map(String::as_str), Some("a"));
    assert_eq!(KafkaId::parse(&KafkaId::new("ops", "a").key()), Some(KafkaId::new("ops", "a")));
    assert_eq!(KafkaId::parse("nope"), None);
}

/// The property names of a CRD's `spec`.
fn spec_properties(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    path: &[&str],
) -> Vec<String> {
    let mut schema =
        crd.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.clone()).expect("schema");
    for p in path {
        schema = schema.properties.as_ref().and_then(|m| m.get(*p)).cloned().expect("property");
    }
    let mut names: Vec<String> = schema.properties.unwrap_or_default().into_keys().collect();
    names.sort();
    names
}

#[test]
fn the_template_has_every_field_of_a_kafka_backup_spec_but_the_schedule() {
    // A field added to KafkaBackup.spec must be added to the template (and `owned_spec`) too, or
    // scheduled backups silently lack it.
    let mut backup = spec_properties(&KafkaBackup::crd(), &["spec"]);
    backup.retain(|p| p != "schedule");
    let mut template = spec_properties(&KafkaBackupSchedule::crd(), &["spec", "backupTemplate"]);
    template.retain(|p| p != "listenerName");
    assert_eq!(template, backup);
}

#[test]
fn a_template_that_names_a_cluster_is_refused_by_the_crd() {
    let crd = serde_json::to_string(&KafkaBackupSchedule::crd()).expect("crd");
    assert!(crd.contains("!has(self.strimziClusterRef) && !has(self.kafkaCluster)"), "CEL rule in the CRD");
    assert!(crd.contains("spec.backupTemplate names no cluster"));
}

#[test]
fn ready_reasons_are_a_contract() {
    use crate::api::condition::ReadyReason;
    let all: Vec<&str> = ScheduleReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(all, ["InvalidSpec", "BackupsScheduled", "NoClustersSelected", "ForeignObject"]);
    assert_eq!(ScheduleReason::ALL.iter().filter(|r| r.is_ready()).count(), 1);
}

#[test]
fn the_template_restore_policy_is_copied_into_every_owned_backup() {
    let with = S3.replace("PREFIX", "p/").replace(
        "retention: {maxBackups: 3}}",
        "retention: {maxBackups: 3}, restorePolicy: {approval: Manual, allowedTargetClusters: [{name: dr}]}}",
    );
    let k = kbs(&with);
    let policy = k.spec.backup_template.restore_policy.clone().expect("the template's policy");
    assert_eq!(policy.approval, crate::api::restore::Approval::Manual);
    for kafka in [KafkaId::new("ops", "a"), KafkaId::new("team-b", "b")] {
        assert_eq!(owned_spec(&k, &kafka, true).restore_policy.as_ref(), Some(&policy), "{kafka:?}");
    }
    assert_eq!(
        owned_spec(&kbs(&S3.replace("PREFIX", "p/")), &KafkaId::new("ops", "a"), true).restore_policy,
        None
    );
}
