use super::*;
use crate::api::backup_schedule::{SCHEDULE_UID_LABEL, SELECTED_LABEL};

fn kbs(extra: &str) -> KafkaBackupSchedule {
    let yaml = format!(
        "clusterSelector: {{matchLabels: {{backup: nightly}}}}\nschedule: {{cron: '0 2 * * *'}}\nbackupTemplate: {{storage: {{type: s3, s3: {{bucket: b, region: r, prefix: p/}}}}}}\n{extra}"
    );
    let mut k = KafkaBackupSchedule::new("nightly", serde_yaml_ng::from_str(&yaml).expect("spec"));
    k.metadata.namespace = Some("ops".into());
    k.metadata.uid = Some("uid-1".into());
    k
}

fn kafka(ns: &str, name: &str, labels: &[(&str, &str)]) -> SeenKafka {
    SeenKafka {
        id: KafkaId::new(ns, name),
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        annotations: BTreeMap::new(),
    }
}

const NIGHTLY: &[(&str, &str)] = &[("backup", "nightly")];

/// The owned KafkaBackup as the last apply of `desired` left it.
fn seen(d: &Desired) -> SeenBackup {
    SeenBackup {
        name: d.name.clone(),
        cluster: Some(d.kafka.clone()),
        owned: true,
        labels: d.labels.clone(),
        spec: d.spec.clone(),
        status: None,
    }
}

fn applied(plan: &Plan) -> Vec<(String, bool, Option<&'static str>)> {
    plan.apply.iter().map(|d| (d.name.clone(), d.selected, d.event)).collect()
}

#[test]
fn one_backup_per_selected_cluster_and_nothing_for_the_others() {
    let k = kbs("");
    let kafkas = [
        kafka("ops", "a", NIGHTLY),
        kafka("ops", "b", NIGHTLY),
        kafka("ops", "c", &[("backup", "weekly")]),
        kafka("team-b", "d", NIGHTLY),
    ];
    let plan = decide(&k, &kafkas, &[]);
    assert_eq!(
        applied(&plan),
        [
            ("nightly-a".into(), true, Some("BackupCreated")),
            ("nightly-b".into(), true, Some("BackupCreated"))
        ]
    );
    assert_eq!(plan.reason, ScheduleReason::BackupsScheduled);
    assert_eq!(plan.message, "2 cluster(s) backed up: ops/a, ops/b");
    let prefixes: Vec<_> =
        plan.apply.iter().map(|d| d.spec.storage.s3.as_ref().and_then(|s| s.prefix.clone())).collect();
    assert_eq!(prefixes, [Some("p/ops/a/".into()), Some("p/ops/b/".into())]);
    assert!(plan.apply.iter().all(|d| d.labels.get(SCHEDULE_UID_LABEL).map(String::as_str) == Some("uid-1")));
    assert!(plan.apply.iter().all(|d| d.annotations.get(CLUSTER_ANNOTATION) == Some(&d.kafka.key())));
}

#[test]
fn applied_backups_that_did_not_change_are_left_alone() {
    let k = kbs("");
    let kafkas = [kafka("ops", "a", NIGHTLY)];
    let first = decide(&k, &kafkas, &[]);
    let after: Vec<SeenBackup> = first.apply.iter().map(seen).collect();
    let again = decide(&k, &kafkas, &after);
    assert_eq!(applied(&again), []);
    assert_eq!(names(&again), BTreeSet::from(["nightly-a".to_string()]));
}

#[test]
fn a_cluster_that_leaves_the_selection_is_suspended_not_deleted_and_comes_back() {
    let k = kbs("");
    let first = decide(&k, &[kafka("ops", "a", NIGHTLY)], &[]);
    let owned: Vec<SeenBackup> = first.apply.iter().map(seen).collect();
    // The label is removed.
    let left = decide(&k, &[kafka("ops", "a", &[])], &owned);
    assert_eq!(applied(&left), [("nightly-a".into(), false, Some("ClusterUnselected"))]);
    let d = &left.apply[0];
    assert!(d.spec.schedule.as_ref().is_some_and(|s| s.suspend));
    assert_eq!(d.labels.get(SELECTED_LABEL).map(String::as_str), Some("false"));
    assert_eq!(d.spec.storage, first.apply[0].spec.storage, "the same location: its backups stay");
    assert_eq!(left.reason, ScheduleReason::NoClustersSelected);
    assert_eq!(left.clusters.len(), 1);
    assert!(!left.clusters[0].selected);
    assert!(left.clusters[0].message.as_deref().is_some_and(|m| m.contains("not selected any more")));
    // The label comes back: resumed.
    let suspended: Vec<SeenBackup> = left.apply.iter().map(seen).collect();
    let back = decide(&k, &[kafka("ops", "a", NIGHTLY)], &suspended);
    assert_eq!(applied(&back), [("nightly-a".into(), true, Some("ClusterSelected"))]);
    assert!(back.apply[0].spec.schedule.as_ref().is_some_and(|s| !s.suspend));
    // The Kafka deleted: suspended too, said so.
    let gone = decide(&k, &[], &owned);
    assert_eq!(applied(&gone), [("nightly-a".into(), false, Some("ClusterUnselected"))]);
    assert!(gone.clusters[0].message.as_deref().is_some_and(|m| m.contains("is gone")));
}

#[test]
fn a_template_change_is_applied_to_every_owned_backup_selected_or_not() {
    let k = kbs("");
    let all = [kafka("ops", "a", NIGHTLY), kafka("ops", "b", NIGHTLY), kafka("ops", "c", NIGHTLY)];
    let mut owned: Vec<SeenBackup> = decide(&k, &all, &[]).apply.iter().map(seen).collect();
    let kafkas = [kafka("ops", "a", NIGHTLY), kafka("ops", "b", NIGHTLY), kafka("ops", "c", &[])];
    let left = decide(&k, &kafkas, &owned);
    assert_eq!(applied(&left), [("nightly-c".into(), false, Some("ClusterUnselected"))]);
    owned[2] = seen(&left.apply[0]);
    let mut changed = kbs("");
    changed.spec.backup_template.retention =
        Some(crate::api::backup::Retention { max_backups: Some(5), max_age: None, prune_on_schedule: true });
    let plan = decide(&changed, &kafkas, &owned);
    assert_eq!(
        applied(&plan),
        [
            ("nightly-a".into(), true, None),
            ("nightly-b".into(), true, None),
            ("nightly-c".into(), false, None)
        ]
    );
    assert!(plan.apply.iter().all(|d| d.spec.retention.as_ref().and_then(|r| r.max_backups) == Some(5)));
}

#[test]
fn another_namespace_needs_the_namespace_selector_and_the_kafkas_opt_in() {
    let mut opted = kafka("team-b", "d", NIGHTLY);
    opted.annotations.insert(tenancy::ALLOW_ANNOTATION.into(), "ops".into());
    let closed = kafka("team-c", "e", NIGHTLY);
    let without = decide(&kbs(""), &[opted.clone(), closed.clone()], &[]);
    assert!(without.clusters.is_empty(), "only the own namespace by default");
    let any = decide(&kbs("namespaceSelector: {any: true}\n"), &[opted.clone(), closed.clone()], &[]);
    assert_eq!(applied(&any).len(), 1);
    assert!(any.apply[0].name.starts_with("nightly-team-b-d-"));
    assert_eq!(
        any.apply[0].spec.cluster.strimzi_cluster_ref.as_ref().and_then(|r| r.namespace.as_deref()),
        Some("team-b")
    );
    let refused = any.clusters.iter().find(|c| c.namespace == "team-c").expect("listed");
    assert!(!refused.selected);
    assert!(
        refused.message.as_deref().is_some_and(|m| m.starts_with("CrossNamespaceRefNotAllowed")),
        "{refused:?}"
    );
    let named = decide(&kbs("namespaceSelector: {matchNames: [team-c]}\n"), &[opted, closed], &[]);
    assert_eq!(applied(&named), [], "team-b is not named; team-c does not opt in");
}

#[test]
fn a_kafka_backup_of_the_same_name_that_is_not_ours_is_never_taken() {
    let k = kbs("");
    let squatter = SeenBackup { name: "nightly-a".into(), owned: false, ..Default::default() };
    let plan = decide(&k, &[kafka("ops", "a", NIGHTLY), kafka("ops", "b", NIGHTLY)], &[squatter]);
    assert_eq!(applied(&plan), [("nightly-b".into(), true, Some("BackupCreated"))]);
    assert_eq!(plan.reason, ScheduleReason::ForeignObject);
    assert!(
        plan.message.contains("KafkaBackup ops/nightly-a exists and is not this schedule's"),
        "{}",
        plan.message
    );
}

#[test]
fn status_copies_the_last_backup_and_recoverability_of_each_owned_backup() {
    let k = kbs("");
    let kafkas = [kafka("ops", "a", NIGHTLY)];
    let mut owned: Vec<SeenBackup> = decide(&k, &kafkas, &[]).apply.iter().map(seen).collect();
    let mut status = KafkaBackupStatus {
        last_backup: Some(crate::api::backup::BackupRecord {
            id: "nightly-a-1".into(),
            status: crate::api::backup::BackupRunStatus::Completed,
            ..Default::default()
        }),
        ..Default::default()
    };
    status.recoverability.last_recoverability_point = Some("2026-12-03T21:00:00.000Z".into());
    crate::api::condition::set(
        &mut status.conditions,
        crate::api::condition::Condition::new(
            "Ready",
            crate::api::condition::ConditionStatus::True,
            "BackupCompleted",
            "",
        ),
        crate::time::now(),
    );
    owned[0].status = Some(status);
    let plan = decide(&k, &kafkas, &owned);
    let c = &plan.clusters[0];
    assert_eq!(c.last_backup.as_ref().map(|b| b.id.as_str()), Some("nightly-a-1"));
    assert_eq!(c.backup_status.as_deref(), Some("BackupCompleted"));
    assert_eq!(c.recoverability.last_recoverability_point.as_deref(), Some("2026-12-03T21:00:00.000Z"));
}

#[test]
fn an_empty_selector_selects_every_kafka_and_a_bad_one_none() {
    let mut all = kbs("");
    all.spec.cluster_selector = Default::default();
    assert_eq!(decide(&all, &[kafka("ops", "a", &[]), kafka("ops", "b", NIGHTLY)], &[]).apply.len(), 2);
    let mut bad = kbs("");
    bad.spec.cluster_selector.match_expressions =
        Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
            key: "backup".into(),
            operator: "Like".into(),
            values: None,
        }]);
    assert!(decide(&bad, &[kafka("ops", "a", NIGHTLY)], &[]).apply.is_empty());
}
