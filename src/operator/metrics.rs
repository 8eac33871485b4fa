//! The operator's Prometheus metrics (SPEC §6), fed from the data plane's results as Jobs
//! finish, plus reconcile counts and durations. One registry for the process: the webhook server
//! registers its own families into it and `/metrics` serves them all.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// A resource the figures are about.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub namespace: String,
    pub name: String,
}

/// An object that lists restore points: `KafkaBackup` or `KafkaBackupLocation`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl SourceLabels {
    /// The labels of `object`, by its kind.
    pub fn of<K: kube::Resource<DynamicType = ()>>(object: &K) -> Self {
        Self {
            kind: K::kind(&()).to_string(),
            namespace: object.meta().namespace.clone().unwrap_or_default(),
            name: object.meta().name.clone().unwrap_or_default(),
        }
    }
}

/// A run's outcome (`success`, `failure`, `skipped`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub namespace: String,
    pub name: String,
    pub outcome: String,
}

/// A finished restore drill's result (`Passed`, `Failed`, as in its status).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DrillLabels {
    pub namespace: String,
    pub name: String,
    pub result: String,
}

/// A controller (`kafkabackup`, `kafkarestore`, `kafkaoffsetreset`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

/// A controller's failed reconcile, by reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: String,
    pub reason: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn duration_histogram() -> Histogram {
    // 1 s to about 9 h: backups of a small topic to a large cluster's nightly run.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(1.0, 2.0, 16))
}

fn reconcile_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15))
}

/// Every family the operator reports.
pub struct Metrics {
    pub backup_records: Family<ResourceLabels, Counter>,
    pub backup_bytes: Family<ResourceLabels, Counter>,
    pub backup_duration: Family<ResourceLabels, Histogram, fn() -> Histogram>,
    pub backup_last_success: Family<ResourceLabels, FloatGauge>,
    pub backup_last_failure: Family<ResourceLabels, FloatGauge>,
    pub backup_storage_bytes: Family<ResourceLabels, Gauge>,
    pub backup_lag: Family<ResourceLabels, FloatGauge>,
    /// The schedule's interval (`CronSchedule::longest_gap`) while a `KafkaBackup` has a
    /// schedule in effect: the alert "no successful backup within two intervals" compares it with
    /// the last success, and without it Prometheus cannot know when a backup is overdue.
    pub backup_schedule_interval: Family<ResourceLabels, FloatGauge>,
    pub backups: Family<OutcomeLabels, Counter>,
    pub first_recoverability: Family<SourceLabels, FloatGauge>,
    pub last_recoverability: Family<SourceLabels, FloatGauge>,
    pub restore_points: Family<SourceLabels, Gauge>,
    pub restore_records: Family<ResourceLabels, Counter>,
    pub restore_bytes: Family<ResourceLabels, Counter>,
    pub restore_duration: Family<ResourceLabels, Histogram, fn() -> Histogram>,
    pub restores: Family<OutcomeLabels, Counter>,
    pub offset_resets: Family<OutcomeLabels, Counter>,
    /// `KafkaDataErasure` runs by outcome.
    pub erasures: Family<OutcomeLabels, Counter>,
    /// A `KafkaRestoreDrill`'s last drill: 1 passed, 0 failed (absent before the first).
    pub drill_last_result: Family<ResourceLabels, Gauge>,
    pub drill_last_success: Family<ResourceLabels, FloatGauge>,
    pub drill_last_rto: Family<ResourceLabels, FloatGauge>,
    pub drill_mismatches: Family<ResourceLabels, Gauge>,
    /// The drill schedule's longest gap, like `backup_schedule_interval`: the alert "no drill
    /// passed within two intervals" needs it.
    pub drill_interval: Family<ResourceLabels, FloatGauge>,
    pub drills: Family<DrillLabels, Counter>,
    pub reconciles: Family<ControllerLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Family<ControllerLabels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    /// Creates the families and registers them (counters get the `_total` suffix on the way).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            backup_records: Family::default(),
            backup_bytes: Family::default(),
            backup_duration: Family::new_with_constructor(duration_histogram),
            backup_last_success: Family::default(),
            backup_last_failure: Family::default(),
            backup_storage_bytes: Family::default(),
            backup_lag: Family::default(),
            backup_schedule_interval: Family::default(),
            backups: Family::default(),
            first_recoverability: Family::default(),
            last_recoverability: Family::default(),
            restore_points: Family::default(),
            restore_records: Family::default(),
            restore_bytes: Family::default(),
            restore_duration: Family::new_with_constructor(duration_histogram),
            restores: Family::default(),
            offset_resets: Family::default(),
            erasures: Family::default(),
            drill_last_result: Family::default(),
            drill_last_success: Family::default(),
            drill_last_rto: Family::default(),
            drill_mismatches: Family::default(),
            drill_interval: Family::default(),
            drills: Family::default(),
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(reconcile_histogram),
        };
        let r = registry;
        r.register("strimzi_backup_records", "Records backed up", m.backup_records.clone());
        r.register("strimzi_backup_bytes", "Record bytes backed up", m.backup_bytes.clone());
        r.register("strimzi_backup_duration_seconds", "Duration of backup runs", m.backup_duration.clone());
        r.register(
            "strimzi_backup_last_success_timestamp",
            "Unix time of the last successful backup",
            m.backup_last_success.clone(),
        );
        r.register(
            "strimzi_backup_last_failure_timestamp",
            "Unix time of the last failed backup",
            m.backup_last_failure.clone(),
        );
        r.register(
            "strimzi_backup_storage_bytes",
            "Bytes the backups hold in storage",
            m.backup_storage_bytes.clone(),
        );
        r.register(
            "strimzi_backup_lag_seconds",
            "Age of the newest record in the latest successful backup",
            m.backup_lag.clone(),
        );
        r.register(
            "strimzi_backup_schedule_interval_seconds",
            "Longest gap between the scheduled runs of the coming week; absent without a schedule in effect",
            m.backup_schedule_interval.clone(),
        );
        r.register("strimzi_backup_backups", "Backup runs by outcome", m.backups.clone());
        r.register(
            "strimzi_backup_first_recoverability_timestamp",
            "Unix time of the earliest point a point-in-time restore can target (the oldest record kept)",
            m.first_recoverability.clone(),
        );
        r.register(
            "strimzi_backup_last_recoverability_timestamp",
            "Unix time of the latest point a point-in-time restore can target; time() minus it is the recovery point age",
            m.last_recoverability.clone(),
        );
        r.register(
            "strimzi_backup_restore_points",
            "Restore points a KafkaBackup or KafkaBackupLocation lists",
            m.restore_points.clone(),
        );
        r.register("strimzi_restore_records", "Records restored", m.restore_records.clone());
        r.register("strimzi_restore_bytes", "Record bytes restored", m.restore_bytes.clone());
        r.register(
            "strimzi_restore_duration_seconds",
            "Duration of restore runs",
            m.restore_duration.clone(),
        );
        r.register("strimzi_restore_restores", "Restore runs by outcome", m.restores.clone());
        r.register("strimzi_offset_reset", "Offset reset runs by outcome", m.offset_resets.clone());
        r.register("strimzi_data_erasure", "Data erasure runs by outcome", m.erasures.clone());
        r.register(
            "strimzi_backup_drill_last_result",
            "Result of the last restore drill: 1 passed, 0 failed",
            m.drill_last_result.clone(),
        );
        r.register(
            "strimzi_backup_drill_last_success_timestamp",
            "Unix time of the last restore drill that passed",
            m.drill_last_success.clone(),
        );
        r.register(
            "strimzi_backup_drill_last_rto_seconds",
            "Time to restore (RTO) measured by the last restore drill",
            m.drill_last_rto.clone(),
        );
        r.register(
            "strimzi_backup_drill_mismatches",
            "Records the last restore drill found differing, missing or extra",
            m.drill_mismatches.clone(),
        );
        r.register(
            "strimzi_backup_drill_interval_seconds",
            "Longest gap between the scheduled restore drills of the coming week; absent without a schedule in effect",
            m.drill_interval.clone(),
        );
        r.register("strimzi_backup_drills", "Restore drills by result", m.drills.clone());
        r.register("strimzi_backup_reconcile", "Reconciles by controller", m.reconciles.clone());
        r.register(
            "strimzi_backup_reconcile_errors",
            "Failed reconciles by controller and reason",
            m.reconcile_errors.clone(),
        );
        r.register(
            "strimzi_backup_reconcile_duration_seconds",
            "Duration of reconciles",
            m.reconcile_duration.clone(),
        );
        m
    }

    /// Drops the gauges of a `KafkaBackup` that is being deleted. They are state, not history:
    /// a deleted backup's last failure, its interval or its age must not keep alerting and
    /// drawing. Its counters and histograms stay; they only grow, and their rates fall to zero.
    /// The recoverability window of `who` (and how many restore points, when counted).
    pub fn recoverability(
        &self,
        who: &SourceLabels,
        window: &crate::api::location::Recoverability,
        points: Option<usize>,
    ) {
        let seconds = |t: &Option<String>| t.as_deref().and_then(crate::time::unix_seconds);
        for (family, at) in [
            (&self.first_recoverability, seconds(&window.first_recoverability_point)),
            (&self.last_recoverability, seconds(&window.last_recoverability_point)),
        ] {
            match at {
                Some(t) => {
                    family.get_or_create(who).set(t);
                }
                None => {
                    family.remove(who);
                }
            }
        }
        if let Some(n) = points {
            self.restore_points.get_or_create(who).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Drops the restore-point figures of an object that is gone.
    pub fn forget_source(&self, who: &SourceLabels) {
        self.first_recoverability.remove(who);
        self.last_recoverability.remove(who);
        self.restore_points.remove(who);
    }

    /// The gauges of a `KafkaRestoreDrill`, from its status (`interval`: its schedule's longest
    /// gap in seconds, when one is in effect). Set on every reconcile, so a restarted operator
    /// exports them at once.
    pub fn drill(
        &self,
        who: &ResourceLabels,
        status: &crate::api::drill::KafkaRestoreDrillStatus,
        interval: Option<f64>,
    ) {
        fn put<N, A: prometheus_client::metrics::gauge::Atomic<N> + Default>(
            family: &Family<ResourceLabels, Gauge<N, A>>,
            who: &ResourceLabels,
            value: Option<N>,
        ) {
            match value {
                Some(v) => {
                    family.get_or_create(who).set(v);
                }
                None => {
                    family.remove(who);
                }
            }
        }
        let last = status.last_verification.as_ref();
        let passed = last.map(|r| r.result == crate::api::restore_point::VerificationResult::Passed);
        put(&self.drill_last_result, who, passed.map(i64::from));
        put(&self.drill_mismatches, who, last.map(|r| r.mismatches));
        put(&self.drill_last_rto, who, last.and_then(|r| r.rto_seconds));
        let success = status.last_success_time.as_ref().and_then(crate::time::chrono);
        put(&self.drill_last_success, who, success.map(|t| t.timestamp_millis() as f64 / 1e3));
        put(&self.drill_interval, who, interval);
    }

    /// Drops the gauges of a `KafkaRestoreDrill` that is gone (its counter stays, as a backup's).
    pub fn forget_drill(&self, who: &ResourceLabels) {
        self.drill(who, &Default::default(), None);
    }

    pub fn forget_backup(&self, who: &ResourceLabels) {
        self.backup_last_success.remove(who);
        self.backup_last_failure.remove(who);
        self.backup_storage_bytes.remove(who);
        self.backup_lag.remove(who);
        self.backup_schedule_interval.remove(who);
        self.forget_source(&SourceLabels {
            kind: "KafkaBackup".into(),
            namespace: who.namespace.clone(),
            name: who.name.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_names_are_exposed() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let who = ResourceLabels { namespace: "kafka".into(), name: "nightly".into() };
        m.backup_records.get_or_create(&who).inc_by(42);
        m.backups
            .get_or_create(&OutcomeLabels {
                namespace: "kafka".into(),
                name: "nightly".into(),
                outcome: "success".into(),
            })
            .inc();
        m.backup_duration.get_or_create(&who).observe(12.5);
        m.offset_resets
            .get_or_create(&OutcomeLabels {
                namespace: "kafka".into(),
                name: "r".into(),
                outcome: "success".into(),
            })
            .inc();
        m.backup_storage_bytes.get_or_create(&who).set(1 << 20);
        m.backup_lag.get_or_create(&who).set(61.5);
        let dr = OutcomeLabels { namespace: "kafka".into(), name: "dr".into(), outcome: "failure".into() };
        m.restores.get_or_create(&dr).inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for name in [
            "strimzi_backup_records_total{namespace=\"kafka\",name=\"nightly\"} 42",
            "strimzi_backup_backups_total{namespace=\"kafka\",name=\"nightly\",outcome=\"success\"} 1",
            "strimzi_backup_duration_seconds_count{namespace=\"kafka\",name=\"nightly\"} 1",
            "strimzi_offset_reset_total{",
            "strimzi_backup_storage_bytes{namespace=\"kafka\",name=\"nightly\"} 1048576",
            "strimzi_backup_lag_seconds{namespace=\"kafka\",name=\"nightly\"} 61.5",
            "strimzi_restore_restores_total{namespace=\"kafka\",name=\"dr\",outcome=\"failure\"} 1",
        ] {
            assert!(text.contains(name), "{name} missing in:\n{text}");
        }
    }

    /// The labels Prometheus adds to every scraped series (the ServiceMonitor's target labels):
    /// the manifests may name them beside the operator's own.
    const TARGET_LABELS: [&str; 7] =
        ["namespace", "pod", "instance", "job", "service", "endpoint", "container"];

    /// `/metrics` as the operator process serves it: every family it registers (the order of
    /// `process::run`), each with one sample so that it shows up.
    fn process_metrics_text() -> String {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let webhook = strimzi_backup_webhook::Metrics::register(&mut registry);
        let license = crate::operator::license::LicenseMetrics::register(&mut registry);
        let audit = crate::audit::AuditMetrics::register(&mut registry);
        audit.set_state("licensed", true);
        audit.dropped.inc();
        let who = ResourceLabels { namespace: "kafka".into(), name: "nightly".into() };
        let outcome =
            OutcomeLabels { namespace: "kafka".into(), name: "nightly".into(), outcome: "failure".into() };
        m.backup_records.get_or_create(&who).inc();
        m.backup_bytes.get_or_create(&who).inc();
        m.backup_duration.get_or_create(&who).observe(1.0);
        m.backup_last_success.get_or_create(&who).set(1.0);
        m.backup_last_failure.get_or_create(&who).set(1.0);
        m.backup_storage_bytes.get_or_create(&who).set(1);
        m.backup_lag.get_or_create(&who).set(1.0);
        m.backup_schedule_interval.get_or_create(&who).set(3600.0);
        m.backups.get_or_create(&outcome).inc();
        let source =
            SourceLabels { kind: "KafkaBackup".into(), namespace: "kafka".into(), name: "nightly".into() };
        let window = crate::api::location::Recoverability {
            first_recoverability_point: Some("2026-12-01T00:00:00.000Z".into()),
            last_recoverability_point: Some("2026-12-03T00:00:00.000Z".into()),
            last_successful_backup: None,
        };
        m.recoverability(&source, &window, Some(2));
        m.restore_records.get_or_create(&who).inc();
        m.restore_bytes.get_or_create(&who).inc();
        m.restore_duration.get_or_create(&who).observe(1.0);
        m.restores.get_or_create(&outcome).inc();
        m.offset_resets.get_or_create(&outcome).inc();
        let drilled = crate::api::drill::KafkaRestoreDrillStatus {
            last_verification: Some(crate::api::drill::DrillRun {
                result: crate::api::restore_point::VerificationResult::Passed,
                rto_seconds: Some(2.5),
                ..Default::default()
            }),
            last_success_time: crate::time::parse("2026-12-03T00:00:00.000Z"),
            ..Default::default()
        };
        m.drill(&who, &drilled, Some(604800.0));
        m.drills
            .get_or_create(&DrillLabels {
                namespace: "kafka".into(),
                name: "nightly".into(),
                result: "Passed".into(),
            })
            .inc();
        let controller = ControllerLabels { controller: "kafkabackup".into() };
        m.reconciles.get_or_create(&controller).inc();
        m.reconcile_errors
            .get_or_create(&ErrorLabels { controller: "kafkabackup".into(), reason: "ReadFailed".into() })
            .inc();
        m.reconcile_duration.get_or_create(&controller).observe(0.01);
        let hook = "validate-kafkabackup".to_string();
        webhook
            .requests
            .get_or_create(&strimzi_backup_webhook::metrics::RequestLabels {
                webhook: hook.clone(),
                verdict: "allowed".into(),
            })
            .inc();
        webhook
            .duration
            .get_or_create(&strimzi_backup_webhook::metrics::WebhookLabels { webhook: hook })
            .observe(0.001);
        license.expiry.get_or_create(&crate::operator::license::ExpiryLabels { id: "lic-1".into() }).set(1.0);
        license
            .info
            .get_or_create(&crate::operator::license::InfoLabels {
                edition: "oss".into(),
                state: "missing".into(),
            })
            .set(1);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        // The continuous backup pod's own series (backup::continuous_metrics): the rules name
        // them too, scraped from that pod.
        let continuous = crate::backup::continuous_metrics::ContinuousMetrics::of("kafka", "nightly");
        let key = ("orders".to_string(), 0);
        continuous.committed(2.0, 1.0);
        continuous.failed(crate::backup::continuous_metrics::FailureKind::Error);
        continuous.lag(&[(key.clone(), 1)].into(), &[(key, 2)].into(), 1.0, 2.0);
        text.push_str(&continuous.encode());
        text
    }

    /// Sample names (`_total`, `_bucket`, `_sum`, `_count` included) and their label names.
    fn samples(text: &str) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        let mut samples = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let labels = samples.entry(line[..end].to_string()).or_default();
            if let Some(set) = line[end..].strip_prefix('{').and_then(|l| l.split_once('}')).map(|(l, _)| l) {
                labels.extend(set.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, _)| k.to_string()));
            }
        }
        samples
    }

    fn is_name_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_' || c == ':'
    }

    /// The operator's metric names an expression uses (anything `strimzi_…`, also inside a
    /// `__name__=~"a|b"` regex), each with the label names of its selector (`name{l="v"}`).
    fn metrics_in(expr: &str) -> Vec<(String, Vec<String>)> {
        let mut found = Vec::new();
        let mut rest = expr;
        while let Some(at) = rest.find("strimzi_") {
            if rest[..at].chars().next_back().is_some_and(is_name_char) {
                rest = &rest[at + 1..];
                continue;
            }
            let tail = &rest[at..];
            let end = tail.find(|c| !is_name_char(c)).unwrap_or(tail.len());
            let mut labels = Vec::new();
            if let Some(selector) =
                tail[end..].strip_prefix('{').and_then(|s| s.split_once('}')).map(|(s, _)| s)
            {
                labels = selector
                    .split(',')
                    .filter_map(|m| m.split(['=', '!']).next())
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect();
            }
            found.push((tail[..end].to_string(), labels));
            rest = &tail[end..];
        }
        found
    }

    /// Label names in `by (…)` and `on (…)` clauses.
    fn grouping_labels(expr: &str) -> Vec<String> {
        let mut labels = Vec::new();
        for keyword in ["by", "on"] {
            let mut rest = expr;
            while let Some(at) = rest.find(keyword) {
                let before = rest[..at].chars().next_back();
                let after = rest[at + keyword.len()..].trim_start();
                rest = &rest[at + keyword.len()..];
                if before.is_some_and(is_name_char) || !after.starts_with('(') {
                    continue;
                }
                if let Some((list, _)) = after[1..].split_once(')') {
                    labels.extend(list.split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()));
                }
            }
        }
        labels
    }

    /// Names in `{{name}}` (legend) and `$labels.name` (alert annotations).
    fn template_labels(text: &str) -> Vec<String> {
        let mut labels = Vec::new();
        for (open, close) in [("{{", "}}"), ("$labels.", " ")] {
            for part in text.split(open).skip(1) {
                let name = part.split(close).next().unwrap_or_default().trim();
                if open == "{{" && (name.starts_with('$') || name.starts_with('.')) {
                    continue;
                }
                let name: String = name.chars().take_while(|c| is_name_char(*c)).collect();
                if !name.is_empty() {
                    labels.push(name);
                }
            }
        }
        labels
    }

    /// Every query of the monitoring manifests: (where, PromQL, texts that name its labels).
    fn manifest_queries() -> Vec<(String, String, Vec<String>)> {
        let mut queries = Vec::new();
        let rules: serde_json::Value =
            serde_yaml_ng::from_str(include_str!("../../config/prometheus/rules.yaml"))
                .expect("rules.yaml parses");
        for group in rules["spec"]["groups"].as_array().expect("spec.groups") {
            for rule in group["rules"].as_array().expect("rules") {
                let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap_or_default();
                let texts = rule["annotations"]
                    .as_object()
                    .map(|a| a.values().filter_map(|v| v.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                queries.push((
                    format!("rule {name}"),
                    rule["expr"].as_str().expect("expr").to_string(),
                    texts,
                ));
            }
        }
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../config/grafana/strimzi-backup-operator.json"))
                .expect("the dashboard parses");
        let mut panels: Vec<&serde_json::Value> =
            dashboard["panels"].as_array().expect("panels").iter().collect();
        while let Some(panel) = panels.pop() {
            panels.extend(panel["panels"].as_array().into_iter().flatten());
            for target in panel["targets"].as_array().into_iter().flatten() {
                let legend = target["legendFormat"].as_str().unwrap_or_default().to_string();
                let expr = target["expr"].as_str().expect("every target has an expr");
                queries.push((format!("panel {}", panel["title"]), expr.to_string(), vec![legend]));
            }
        }
        for variable in dashboard["templating"]["list"].as_array().expect("templating.list") {
            let query = variable["query"].get("query").unwrap_or(&variable["query"]);
            if variable["type"] == "query" {
                let query = query.as_str().expect("a variable's query");
                queries.push((format!("variable {}", variable["name"]), query.to_string(), Vec::new()));
            }
        }
        queries
    }

    #[test]
    fn the_monitoring_manifests_name_exported_metrics() {
        let text = process_metrics_text();
        let samples = samples(&text);
        // Every registered family has a sample above, so a new family is covered here too.
        for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let name = family.split(' ').next().unwrap_or_default();
            assert!(
                samples.keys().any(|s| s.starts_with(name)),
                "family {name} has no sample in the test:\n{text}"
            );
        }
        let queries = manifest_queries();
        assert!(queries.len() > 30, "rules and dashboard queries found: {}", queries.len());
        let mut used = std::collections::BTreeSet::new();
        for (place, expr, texts) in &queries {
            let mut known: std::collections::BTreeSet<String> =
                TARGET_LABELS.iter().chain(["le", "alertname"].iter()).map(|l| l.to_string()).collect();
            for (name, selector) in metrics_in(expr) {
                let Some(labels) = samples.get(&name) else {
                    panic!("{place}: {name} is not a metric the operator exports; it has:\n{text}");
                };
                for label in selector.iter().filter(|l| *l != "__name__") {
                    assert!(
                        labels.contains(label) || TARGET_LABELS.contains(&label.as_str()),
                        "{place}: {name} has no label {label} (it has {labels:?})"
                    );
                }
                known.extend(labels.iter().cloned());
                used.insert(name);
            }
            for label in
                grouping_labels(expr).into_iter().chain(texts.iter().flat_map(|t| template_labels(t)))
            {
                assert!(
                    known.contains(&label),
                    "{place}: label {label} is on none of its metrics ({known:?})"
                );
            }
        }
        // The parser finds what it should: names in selectors, in `__name__` regexes, histograms.
        for name in [
            "strimzi_backup_schedule_interval_seconds",
            "strimzi_backup_last_success_timestamp",
            "strimzi_restore_restores_total",
            "strimzi_backup_duration_seconds_bucket",
            "strimzi_backup_license_expiry_timestamp_seconds",
            "strimzi_backup_webhook_duration_seconds_bucket",
        ] {
            assert!(used.contains(name), "{name} is used by the manifests but was not found: {used:?}");
        }
        assert_eq!(
            metrics_in(
                r#"label_values({__name__=~"strimzi_a_total|strimzi_b"}, name) + strimzi_c{x="1", y!~"2"}"#
            ),
            vec![
                ("strimzi_a_total".to_string(), vec![]),
                ("strimzi_b".to_string(), vec![]),
                ("strimzi_c".to_string(), vec!["x".to_string(), "y".to_string()])
            ]
        );
        assert_eq!(grouping_labels("sum by (namespace, name) (x) > on(id) y"), ["namespace", "name", "id"]);
        assert_eq!(
            template_labels("{{ $labels.namespace }}/{{name}} {{ $value | humanize }}"),
            ["name", "namespace"]
        );
    }
}
