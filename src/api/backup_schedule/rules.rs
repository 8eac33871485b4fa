//! The rules of a `KafkaBackupSchedule` the CRD cannot state (the template naming a cluster is
//! CEL in the CRD): the cron schedule and time zone, the template's own `KafkaBackup` rules (the
//! same function the `KafkaBackup` webhook runs, with the paths moved under
//! `spec.backupTemplate`), a selector the API server would refuse, namespace names. Pure; run by
//! the validating webhook and again at the start of every reconcile.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{KafkaBackupScheduleSpec, KafkaId};
use crate::api::backup::KafkaBackupSpec;
use crate::api::cluster::{ClusterConnection, StrimziClusterRef};
use crate::api::schedule::CronSchedule;
use crate::api::validation::FieldError;

/// Problems in a `KafkaBackupSchedule` spec.
pub fn problems(spec: &KafkaBackupScheduleSpec) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if let Err(mut e) = CronSchedule::parse(&spec.schedule) {
        problems.append(&mut e);
    }
    selector(&mut problems, "spec.clusterSelector", &spec.cluster_selector);
    if let Some(ns) = &spec.namespace_selector {
        for (i, name) in ns.match_names.iter().enumerate() {
            if !dns_label(name) {
                problems.push(FieldError::new(
                    format!("spec.namespaceSelector.matchNames[{i}]"),
                    format!("`{name}` is not a namespace name: use lower-case letters, digits and `-` (at most 63)"),
                ));
            }
        }
    }
    // The template is a KafkaBackup spec less its cluster and schedule: the KafkaBackup rules,
    // reported at the template's paths.
    let as_backup = template_as_backup(spec);
    for p in crate::api::rules::backup(&as_backup) {
        let path = match p.path.strip_prefix("spec.") {
            Some(rest) => format!("spec.backupTemplate.{rest}"),
            None => p.path,
        };
        problems.push(FieldError::new(path, p.message));
    }
    problems
}

/// The template as the spec of a `KafkaBackup` of some cluster, without a schedule (checked
/// above at its own path).
fn template_as_backup(spec: &KafkaBackupScheduleSpec) -> KafkaBackupSpec {
    let t = &spec.backup_template;
    KafkaBackupSpec {
        cluster: ClusterConnection {
            strimzi_cluster_ref: Some(StrimziClusterRef {
                name: KafkaId::default().name,
                namespace: None,
                listener_name: t.listener_name.clone(),
            }),
            kafka_cluster: None,
            authentication: t.cluster.authentication.clone(),
        },
        topics: t.topics.clone(),
        consumer_groups: t.consumer_groups.clone(),
        storage: t.storage.clone(),
        backup: t.backup.clone(),
        schedule: None,
        retention: t.retention.clone(),
        deletion_policy: t.deletion_policy,
        schema_registry: t.schema_registry.clone(),
        restore_policy: t.restore_policy.clone(),
        job_options: t.job_options.clone(),
    }
}

/// A label selector the API server accepts: known operators, values exactly where the operator
/// takes them, keys and values in label syntax.
fn selector(problems: &mut Vec<FieldError>, field: &str, s: &LabelSelector) {
    for (key, value) in s.match_labels.as_ref().unwrap_or(&BTreeMap::new()) {
        let at = format!("{field}.matchLabels");
        label_key(problems, &at, key);
        label_value(problems, &format!("{at}.{key}"), value);
    }
    for (i, r) in s.match_expressions.iter().flatten().enumerate() {
        let at = format!("{field}.matchExpressions[{i}]");
        label_key(problems, &format!("{at}.key"), &r.key);
        let values = r.values.as_deref().unwrap_or_default();
        match r.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => problems.push(FieldError::new(
                format!("{at}.values"),
                format!("operator {} needs at least one value", r.operator),
            )),
            "In" | "NotIn" => {
                for (j, v) in values.iter().enumerate() {
                    label_value(problems, &format!("{at}.values[{j}]"), v);
                }
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => problems.push(FieldError::new(
                format!("{at}.values"),
                format!("operator {} takes no values: remove them", r.operator),
            )),
            "Exists" | "DoesNotExist" => {}
            other => problems.push(FieldError::new(
                format!("{at}.operator"),
                format!("`{other}` is not an operator: use In, NotIn, Exists or DoesNotExist"),
            )),
        }
    }
}

/// A label name or value body: at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
fn label_name(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alnum(s.chars().next())
        && alnum(s.chars().last())
}

/// A DNS-1123 label: what a namespace is named.
fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn label_key(problems: &mut Vec<FieldError>, field: &str, key: &str) {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(dns_label));
    if !prefix_ok || !label_name(name) {
        problems.push(FieldError::new(
            field,
            format!("`{key}` is not a label key: write `name` or `prefix/name` (e.g. `env`, `kafkabackup.com/tier`), a name of at most 63 letters, digits, `-`, `_`, `.`"),
        ));
    }
}

fn label_value(problems: &mut Vec<FieldError>, field: &str, value: &str) {
    if !value.is_empty() && !label_name(value) {
        problems.push(FieldError::new(
            field,
            format!("`{value}` is not a label value: at most 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> KafkaBackupScheduleSpec {
        serde_yaml_ng::from_str(yaml).expect("spec")
    }

    const BASE: &str = "clusterSelector: {matchLabels: {backup: nightly}}\nschedule: {cron: '0 2 * * *'}\nbackupTemplate: {storage: {type: s3, s3: {bucket: b, region: r}}}\n";

    fn paths(spec: &KafkaBackupScheduleSpec) -> Vec<String> {
        problems(spec).into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect()
    }

    #[test]
    fn a_valid_schedule_has_no_problems() {
        assert_eq!(paths(&spec(BASE)), Vec::<String>::new());
        let all = spec(&BASE.replace("{matchLabels: {backup: nightly}}", "{}"));
        assert_eq!(paths(&all), Vec::<String>::new(), "an empty selector selects every Kafka");
    }

    #[test]
    fn a_bad_cron_or_time_zone_is_named_at_spec_schedule() {
        let bad = spec(&BASE.replace("'0 2 * * *'}", "'61 2 * * *', timezone: Mars/Olympus}"));
        let found = paths(&bad);
        assert!(found.iter().any(|p| p.starts_with("spec.schedule.cron")), "{found:?}");
        assert!(found.iter().any(|p| p.starts_with("spec.schedule.timezone: `Mars/Olympus`")), "{found:?}");
    }

    #[test]
    fn a_selector_the_api_server_would_refuse_is_named_with_the_fix() {
        let bad = spec(&BASE.replace(
            "{matchLabels: {backup: nightly}}",
            "{matchLabels: {'bad key!': x, ok: 'no spaces'}, matchExpressions: [{key: tier, operator: Like, values: [a]}, {key: env, operator: In}, {key: zone, operator: Exists, values: [a]}]}",
        ));
        assert_eq!(
            paths(&bad),
            [
                "spec.clusterSelector.matchLabels: `bad key!` is not a label key: write `name` or `prefix/name` (e.g. `env`, `kafkabackup.com/tier`), a name of at most 63 letters, digits, `-`, `_`, `.`",
                "spec.clusterSelector.matchLabels.ok: `no spaces` is not a label value: at most 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit",
                "spec.clusterSelector.matchExpressions[0].operator: `Like` is not an operator: use In, NotIn, Exists or DoesNotExist",
                "spec.clusterSelector.matchExpressions[1].values: operator In needs at least one value",
                "spec.clusterSelector.matchExpressions[2].values: operator Exists takes no values: remove them",
            ]
        );
        let prefixed = spec(&BASE.replace("{backup: nightly}", "{kafkabackup.com/tier: gold}"));
        assert_eq!(paths(&prefixed), Vec::<String>::new());
    }

    #[test]
    fn the_template_is_checked_by_the_kafka_backup_rules_at_its_own_paths() {
        let bad = spec(
            &BASE.replace("{storage:", "{topics: {include: ['orders(']}, retention: {maxAge: 3x}, storage:"),
        );
        let found = paths(&bad);
        assert!(found.iter().any(|p| p.starts_with("spec.backupTemplate.topics.include[0]")), "{found:?}");
        assert!(found.iter().any(|p| p.starts_with("spec.backupTemplate.retention.maxAge")), "{found:?}");
    }

    #[test]
    fn namespace_names_are_checked() {
        let bad = spec(&format!("{BASE}namespaceSelector: {{matchNames: [team-a, Team_B]}}\n"));
        assert_eq!(
            paths(&bad),
            [
                "spec.namespaceSelector.matchNames[1]: `Team_B` is not a namespace name: use lower-case letters, digits and `-` (at most 63)"
            ]
        );
    }
}
