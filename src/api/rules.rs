//! The validation rules of the three kinds that the CRD cannot state. Structural rules (one of
//! two fields, a field a strategy needs, an immutable spec, unique targets) are CEL and schema in
//! the CRD, so the API server enforces them before any webhook and with or without one; what is
//! here needs code: parsing cron, time zones, durations, regexes and timestamps, and comparing a
//! time with now. Written once: the admission webhook denies with them, and each controller runs
//! them again at the start of a reconcile, so a cluster where the webhook is bypassed behaves the
//! same — an invalid spec gets a `Ready=False` condition naming the field, and waits for the user
//! to change it.

use super::backup::KafkaBackupSpec;
use super::drill::KafkaRestoreDrillSpec;
use super::location::KafkaBackupLocationSpec;
use super::offset_reset::{KafkaOffsetResetSpec, ResetStrategy};
use super::restore::KafkaRestoreSpec;
use super::schedule::CronSchedule;
use super::selection::NameFilter;
use super::validation::FieldError;

fn regexes(problems: &mut Vec<FieldError>, field: &str, include: &[String], exclude: &[String]) {
    if let Err(message) = NameFilter::check(include, exclude, field) {
        // The filter names the exact entry (`spec.topics.include[0]: …`): report it there.
        let problem = match message.split_once(": ") {
            Some((path, rest)) if path.starts_with(field) => FieldError::new(path, rest),
            _ => FieldError::new(field, message),
        };
        problems.push(problem);
    }
}

fn rfc3339(problems: &mut Vec<FieldError>, field: &str, value: &str, now: chrono::DateTime<chrono::Utc>) {
    match chrono::DateTime::parse_from_rfc3339(value) {
        Ok(t) if t > now => problems.push(FieldError::new(
            field,
            format!(
                "`{value}` is in the future: nothing can be restored or reset to a time that has not come"
            ),
        )),
        Ok(_) => {}
        Err(e) => problems.push(FieldError::new(
            field,
            format!("`{value}` is not an RFC 3339 time ({e}); write e.g. 2026-02-13T01:30:00.000Z"),
        )),
    }
}

/// Problems in a `KafkaBackup` spec.
pub fn backup(spec: &KafkaBackupSpec) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if let Some(schedule) = &spec.schedule
        && let Err(mut e) = CronSchedule::parse(schedule)
    {
        problems.append(&mut e);
    }
    if let Some(max_age) = spec.retention.as_ref().and_then(|r| r.max_age.as_deref())
        && let Err(message) = super::duration::parse_millis(max_age)
    {
        problems.push(FieldError::new("spec.retention.maxAge", message));
    }
    match super::duration::parse_millis(&spec.backup.stall_timeout) {
        Err(message) => problems.push(FieldError::new("spec.backup.stallTimeout", message)),
        Ok(ms) if ms < 1_000 => problems.push(FieldError::new(
            "spec.backup.stallTimeout",
            format!(
                "`{}` is shorter than a second: a broker answers slower than that under load; use e.g. 5m",
                spec.backup.stall_timeout
            ),
        )),
        Ok(_) => {}
    }
    problems.extend(compression_level(&spec.backup));
    problems.extend(workers("spec.backup.workers", "backup", spec.backup.workers));
    problems.extend(continuous(spec));
    if let Some(encryption) = &spec.backup.encryption {
        problems.extend(super::kms::problems(encryption, "spec.backup.encryption"));
    }
    if let Some(sr) = &spec.schema_registry {
        problems.extend(super::schema_registry::problems("spec.schemaRegistry", &sr.connection));
        regexes(&mut problems, "spec.schemaRegistry.subjects", &sr.subjects.include, &sr.subjects.exclude);
    }
    if spec.backup.strimzi_resources && spec.cluster.strimzi_cluster_ref.is_none() {
        problems.push(FieldError::new(
            "spec.backup.strimziResources",
            "backs up the KafkaTopics and KafkaUsers of a Strimzi Kafka, so it needs spec.strimziClusterRef \
             instead of spec.kafkaCluster; for a cluster reached by bootstrap address set it false",
        ));
    }
    regexes(&mut problems, "spec.topics", &spec.topics.include, &spec.topics.exclude);
    regexes(
        &mut problems,
        "spec.consumerGroups",
        &spec.consumer_groups.include,
        &spec.consumer_groups.exclude,
    );
    problems.extend(super::privilege::problems(&spec.job_options));
    problems
}

/// `backup.compressionLevel` against the chosen codec: the schema allows zstd's 1-22; lz4 stops
/// at 12 and gzip at 9; snappy and none have no levels (the value is ignored).
fn compression_level(settings: &super::backup::BackupSettings) -> Option<FieldError> {
    use super::backup::Compression;
    let (codec, max) = match settings.compression {
        Compression::Lz4 => ("lz4", 12),
        Compression::Gzip => ("gzip", 9),
        Compression::Zstd | Compression::Snappy | Compression::None => return None,
    };
    (settings.compression_level > max).then(|| {
        FieldError::new(
            "spec.backup.compressionLevel",
            format!(
                "{codec} levels are 1-{max}, not {}: lower it, or use compression zstd",
                settings.compression_level
            ),
        )
    })
}

/// `backup.workers` and `restore.workers` within 1..=[`MAX_WORKERS`](super::backup::MAX_WORKERS).
/// The CRD's schema bounds it too; this names why, and holds where the schema was not applied
/// (an object stored under an older CRD, a controller reading a spec by hand).
fn workers(field: &'static str, run: &str, n: i32) -> Option<FieldError> {
    use super::backup::MAX_WORKERS;
    (!(1..=MAX_WORKERS).contains(&n)).then(|| {
        FieldError::new(
            field,
            format!(
                "{n} is not 1-{MAX_WORKERS}: one {run} runs in at least one pod, and beyond {MAX_WORKERS} every \
                 worker's planning costs the brokers more than the pod adds; raise parallelism or resources instead"
            ),
        )
    })
}

/// `backup.mode: continuous` and `backup.commitInterval`: an interval of at least
/// [`MIN_COMMIT_INTERVAL_SECONDS`](super::backup::MIN_COMMIT_INTERVAL_SECONDS), and neither a
/// schedule (the continuous pod commits on its own clock; a cron beside it would be a second
/// writer of the lineage) nor several workers (one pod tails every partition).
fn continuous(spec: &KafkaBackupSpec) -> Vec<FieldError> {
    use super::backup::{BackupMode, MIN_COMMIT_INTERVAL_SECONDS};
    let mut problems = Vec::new();
    let on = spec.backup.mode == BackupMode::Continuous;
    if let Some(text) = &spec.backup.commit_interval {
        match super::duration::parse_millis(text) {
            Err(message) => problems.push(FieldError::new("spec.backup.commitInterval", message)),
            Ok(ms) if ms < MIN_COMMIT_INTERVAL_SECONDS * 1_000 => problems.push(FieldError::new(
                "spec.backup.commitInterval",
                format!(
                    "`{text}` is below {MIN_COMMIT_INTERVAL_SECONDS}s: every restore point costs a plan and a read of the \
                     location; use e.g. 30s"
                ),
            )),
            Ok(_) if !on => problems.push(FieldError::new(
                "spec.backup.commitInterval",
                "applies to backup.mode continuous only; remove it, or set mode: continuous",
            )),
            Ok(_) => {}
        }
    }
    if on && spec.schedule.is_some() {
        problems.push(FieldError::new(
            "spec.schedule",
            "backup.mode continuous commits a restore point every commitInterval on its own; remove the schedule",
        ));
    }
    if on && spec.backup.workers > 1 {
        problems.push(FieldError::new(
            "spec.backup.workers",
            "backup.mode continuous runs in one pod that tails every partition; set workers: 1",
        ));
    }
    problems
}

/// Problems in a `KafkaRestoreDrill` spec.
pub fn drill(spec: &KafkaRestoreDrillSpec) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if let Some(schedule) = &spec.schedule
        && let Err(mut e) = CronSchedule::parse(&schedule.as_backup_schedule())
    {
        problems.append(&mut e);
    }
    if let Some(prefix) = &spec.topic_prefix
        && !crate::drill::config::valid_topic_name(prefix)
    {
        problems.push(FieldError::new(
            "spec.topicPrefix",
            format!("`{prefix}`: use 1-100 letters, digits, `.`, `_` or `-` (it starts Kafka topic names)"),
        ));
    }
    regexes(&mut problems, "spec.topics", &spec.topics.include, &spec.topics.exclude);
    problems.extend(super::privilege::problems(&spec.job_options));
    problems
}

/// The shortest `syncPeriod`: each sync is a Job, and a location changes when a backup commits.
pub const MIN_SYNC_PERIOD_MS: i64 = 30_000;

/// Problems in a `KafkaBackupLocation` spec.
pub fn location(spec: &KafkaBackupLocationSpec) -> Vec<FieldError> {
    let mut problems = Vec::new();
    match super::duration::parse_millis(&spec.sync_period) {
        Err(message) => problems.push(FieldError::new("spec.syncPeriod", message)),
        Ok(ms) if ms < MIN_SYNC_PERIOD_MS => problems.push(FieldError::new(
            "spec.syncPeriod",
            format!(
                "`{}` is shorter than 30s: every sync runs a Job; use e.g. 5m (a KafkaBackup's own restore points appear when each backup ends)",
                spec.sync_period
            ),
        )),
        Ok(_) => {}
    }
    if let Some(encryption) = &spec.encryption {
        problems.extend(super::kms::problems(encryption, "spec.encryption"));
    }
    problems.extend(super::privilege::problems(&spec.job_options));
    problems
}

/// Problems in a `KafkaRestore` spec, `now` being the time of the check.
pub fn restore(spec: &KafkaRestoreSpec, now: chrono::DateTime<chrono::Utc>) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if let Some(pit) = &spec.point_in_time {
        if let Some(t) = &pit.timestamp {
            rfc3339(&mut problems, "spec.pointInTime.timestamp", t, now);
        }
        if let Some(d) = &pit.offset_from_end
            && let Err(message) = super::duration::parse_millis(d)
        {
            problems.push(FieldError::new("spec.pointInTime.offsetFromEnd", message));
        }
    }
    regexes(&mut problems, "spec.topics", &spec.topics.include, &spec.topics.exclude);
    problems.extend(workers("spec.restore.workers", "restore", spec.restore.workers));
    if let Some(include) = spec.consumer_groups.as_ref().and_then(|g| g.include.as_ref()) {
        regexes(&mut problems, "spec.consumerGroups.include", include, &[]);
    }
    if spec.restore.topic_creation == super::restore::TopicCreation::Strimzi
        && spec.cluster.strimzi_cluster_ref.is_none()
    {
        problems.push(FieldError::new(
            "spec.restore.topicCreation",
            "strimzi declares each created topic as a KafkaTopic of the target's Strimzi Kafka, so it needs \
             spec.strimziClusterRef instead of spec.kafkaCluster; for a cluster reached by bootstrap address \
             use topicCreation auto",
        ));
    }
    if let Some(sr) = &spec.restore.strimzi_resources {
        use super::restore::{StrimziKind, TopicCreation};
        if spec.cluster.strimzi_cluster_ref.is_none() {
            problems.push(FieldError::new(
                "spec.restore.strimziResources",
                "recreates the backed-up KafkaTopics and KafkaUsers for a Strimzi Kafka, so it needs \
                 spec.strimziClusterRef instead of spec.kafkaCluster",
            ));
        }
        if sr.kinds.is_empty() {
            problems.push(FieldError::new(
                "spec.restore.strimziResources.kinds",
                "is empty: list KafkaTopic, KafkaUser or both, or leave it out for both",
            ));
        }
        if spec.restore.topic_creation == TopicCreation::Strimzi
            && sr.kinds.contains(&StrimziKind::KafkaTopic)
        {
            problems.push(FieldError::new(
                "spec.restore.strimziResources.kinds",
                "restores the backed-up KafkaTopics, and topicCreation strimzi declares KafkaTopics of its own for \
                 the same topics: use one of them (topicCreation auto with the backed-up KafkaTopics, or kinds \
                 [KafkaUser] with topicCreation strimzi)",
            ));
        }
        if let Some(ns) = &sr.target_namespace
            && !(ns.len() <= 63
                && ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !ns.starts_with('-')
                && !ns.ends_with('-')
                && !ns.is_empty())
        {
            problems.push(FieldError::new(
                "spec.restore.strimziResources.targetNamespace",
                format!("`{ns}` is not a namespace name (lower-case letters, digits and `-`, at most 63)"),
            ));
        }
    }
    if let Some(sr) = &spec.restore.schema_registry {
        problems.extend(super::schema_registry::problems("spec.restore.schemaRegistry", &sr.connection));
    }
    if let Some(masking) = &spec.masking {
        problems.extend(super::masking::problems(masking));
    }
    problems.extend(super::privilege::problems(&spec.job_options));
    problems
}

/// Problems in a `KafkaOffsetReset` spec, `now` being the time of the check.
pub fn offset_reset(spec: &KafkaOffsetResetSpec, now: chrono::DateTime<chrono::Utc>) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if spec.reset_strategy == ResetStrategy::ToTimestamp
        && let Some(t) = &spec.reset_timestamp
    {
        rfc3339(&mut problems, "spec.resetTimestamp", t, now);
    }
    problems.extend(super::privilege::problems(&spec.job_options));
    problems
}

/// Settings that are valid but probably not what was meant: AdmissionResponse warnings.
pub fn backup_warnings(spec: &KafkaBackupSpec, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let mut warnings = Vec::new();
    let schedule = spec.schedule.as_ref().and_then(|s| CronSchedule::parse(s).ok());
    let interval = schedule.as_ref().and_then(|c| c.longest_gap(now));
    let max_age = spec.retention.as_ref().and_then(|r| r.max_age.as_deref()).and_then(|a| {
        super::duration::parse_millis(a).ok().map(|ms| (a, chrono::Duration::milliseconds(ms)))
    });
    if let (Some(interval), Some((text, age))) = (interval, max_age)
        && age < interval
    {
        warnings.push(format!(
            "spec.retention.maxAge {text} is shorter than the longest time between two scheduled runs ({} minutes): an older backup is pruned at such a run, only the newest survives it",
            interval.num_minutes()
        ));
    }
    let incremental = spec.backup.mode != super::backup::BackupMode::Full;
    if incremental && spec.retention.as_ref().and_then(|r| r.max_backups) == Some(1) {
        warnings.push(
            "spec.retention.maxBackups 1 with backup.mode incremental: each backup continues the previous one, which is kept as its parent, so storage holds the whole chain; use mode full to keep one backup".into(),
        );
    }
    if spec.backup.mode == super::backup::BackupMode::Continuous && spec.retention.is_none() {
        warnings.push(
            "backup.mode continuous without spec.retention: a restore point every commitInterval is kept for ever (1,440 a day at 60s), and each commit reads every manifest; set retention.maxAge or maxBackups".into(),
        );
    }
    if spec.schedule.as_ref().is_some_and(|s| s.suspend) {
        warnings.push("spec.schedule.suspend is true: no scheduled backup runs until it is false".into());
    }
    warnings
}

/// The problems as one message for a condition or an Event.
pub fn message(problems: &[FieldError]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().unwrap_or_default()
    }

    #[test]
    fn every_backup_problem_is_reported_with_its_field() {
        let spec: KafkaBackupSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nstorage: {type: s3, s3: {bucket: b, region: r}}\nschedule: {cron: '61 * * * *', timezone: Mars/Olympus}\nretention: {maxAge: 3x}\ntopics: {include: ['(']}\n",
        )
        .expect("spec");
        let problems = backup(&spec);
        let fields: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.schedule.timezone",
                "spec.schedule.cron",
                "spec.retention.maxAge",
                "spec.topics.include[0]"
            ]
        );
        assert!(message(&problems).contains("Europe/Berlin"), "{}", message(&problems));
    }

    #[test]
    fn suspicious_but_valid_backups_get_warnings_and_lz4_levels_are_checked() {
        let spec: KafkaBackupSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nstorage: {type: s3, s3: {bucket: b, region: r}}\nschedule: {cron: '0 2 * * *'}\nretention: {maxAge: 12h, maxBackups: 1}\nbackup: {compression: lz4, compressionLevel: 15}\n",
        )
        .expect("spec");
        let warnings = backup_warnings(&spec, now());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("maxAge 12h") && warnings[0].contains("1440 minutes"), "{warnings:?}");
        assert!(warnings[1].contains("mode full"));
        assert_eq!(backup(&spec)[0].path, "spec.backup.compressionLevel");
    }

    #[test]
    fn compression_levels_are_checked_per_codec() {
        let problems = |compression: &str, level: i32| {
            let spec: KafkaBackupSpec = serde_yaml_ng::from_str(&format!(
                "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nstorage: {{type: s3, s3: {{bucket: b, region: r}}}}\nbackup: {{compression: {compression}, compressionLevel: {level}}}\n"
            ))
            .expect("spec");
            backup(&spec).into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>()
        };
        for (compression, max) in [("zstd", 22), ("lz4", 12), ("gzip", 9), ("snappy", 22), ("none", 22)] {
            assert_eq!(problems(compression, 1), Vec::<String>::new(), "{compression} 1");
            assert_eq!(problems(compression, max), Vec::<String>::new(), "{compression} {max}");
        }
        assert_eq!(
            problems("gzip", 10),
            ["spec.backup.compressionLevel: gzip levels are 1-9, not 10: lower it, or use compression zstd"]
        );
        assert_eq!(
            problems("lz4", 13),
            ["spec.backup.compressionLevel: lz4 levels are 1-12, not 13: lower it, or use compression zstd"]
        );
    }

    #[test]
    fn continuous_backups_commit_every_ten_seconds_or_more_without_a_schedule_in_one_pod() {
        let problems = |settings: &str, rest: &str| {
            let spec: KafkaBackupSpec = serde_yaml_ng::from_str(&format!(
                "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nstorage: {{type: s3, s3: {{bucket: b, region: r}}}}\nbackup: {settings}\n{rest}"
            ))
            .expect("spec");
            backup(&spec).into_iter().map(|p| p.path).collect::<Vec<_>>()
        };
        assert_eq!(problems("{mode: continuous}", ""), Vec::<String>::new());
        assert_eq!(problems("{mode: continuous, commitInterval: 10s}", ""), Vec::<String>::new());
        assert_eq!(problems("{mode: continuous, commitInterval: 9s}", ""), ["spec.backup.commitInterval"]);
        assert_eq!(problems("{mode: continuous, commitInterval: soon}", ""), ["spec.backup.commitInterval"]);
        assert_eq!(problems("{commitInterval: 30s}", ""), ["spec.backup.commitInterval"], "not continuous");
        assert_eq!(problems("{mode: continuous}", "schedule: {cron: '0 * * * *'}\n"), ["spec.schedule"]);
        assert_eq!(problems("{mode: continuous, workers: 2}", ""), ["spec.backup.workers"]);
        assert_eq!(problems("{mode: incremental}", ""), Vec::<String>::new());
        let spec: KafkaBackupSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nstorage: {type: s3, s3: {bucket: b, region: r}}\nbackup: {mode: continuous}\n",
        )
        .expect("spec");
        assert!(
            backup_warnings(&spec, chrono::Utc::now()).iter().any(|w| w.contains("without spec.retention"))
        );
    }

    #[test]
    fn workers_are_one_to_sixty_four() {
        let problems = |workers: i32| {
            let spec: KafkaBackupSpec = serde_yaml_ng::from_str(&format!(
                "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nstorage: {{type: s3, s3: {{bucket: b, region: r}}}}\nbackup: {{workers: {workers}}}\n"
            ))
            .expect("spec");
            backup(&spec).into_iter().map(|p| p.path).collect::<Vec<_>>()
        };
        for fine in [1, 4, 64] {
            assert_eq!(problems(fine), Vec::<String>::new(), "{fine}");
        }
        for wrong in [0, -1, 65] {
            assert_eq!(problems(wrong), ["spec.backup.workers"], "{wrong}");
        }
        let default: KafkaBackupSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nstorage: {type: s3, s3: {bucket: b, region: r}}\n",
        )
        .expect("spec");
        assert_eq!(default.backup.workers, 1);
    }

    #[test]
    fn the_retention_warning_uses_the_longest_gap_whatever_the_day_it_is_applied() {
        // Weeknights: 24 h gaps, and 72 h from Friday to Monday. maxAge 36h prunes Friday's backup
        // at Monday's run, so the warning is due on every day of the week, not only when the next
        // gap happens to be the weekend's.
        let spec: KafkaBackupSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nstorage: {type: s3, s3: {bucket: b, region: r}}\nschedule: {cron: '0 2 * * 1-5'}\nretention: {maxAge: 36h}\n",
        )
        .expect("spec");
        for day in 0..7 {
            let warnings = backup_warnings(&spec, now() + chrono::Duration::days(day));
            assert_eq!(warnings.len(), 1, "day +{day}: {warnings:?}");
            assert!(
                warnings[0].contains("maxAge 36h") && warnings[0].contains("4320 minutes"),
                "{warnings:?}"
            );
        }
        let longer: KafkaBackupSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nstorage: {type: s3, s3: {bucket: b, region: r}}\nschedule: {cron: '0 2 * * 1-5'}\nretention: {maxAge: 4d}\n",
        )
        .expect("spec");
        assert!(backup_warnings(&longer, now()).is_empty());
    }

    #[test]
    fn restore_and_reset_times_must_parse_and_not_be_in_the_future() {
        let spec: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nbackupRef: {name: b}\npointInTime: {timestamp: '2027-01-01T00:00:00Z'}\n",
        )
        .expect("spec");
        let problems = restore(&spec, now());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("future"));
        let reset: KafkaOffsetResetSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nconsumerGroups: [g]\nresetStrategy: to-timestamp\nresetTimestamp: yesterday\n",
        )
        .expect("spec");
        assert_eq!(offset_reset(&reset, now())[0].path, "spec.resetTimestamp");
        let fine: KafkaOffsetResetSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nconsumerGroups: [g]\nresetStrategy: shift-by\nshiftBy: -5\n",
        )
        .expect("spec");
        assert!(offset_reset(&fine, now()).is_empty());
    }

    #[test]
    fn strimzi_resources_need_a_strimzi_cluster_and_exclude_topic_creation_strimzi() {
        let backup: KafkaBackupSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nstorage: {type: s3, s3: {bucket: b, region: r}}\nbackup: {strimziResources: true}\n",
        )
        .expect("spec");
        let problems = super::backup(&backup);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "spec.backup.strimziResources");
        assert!(problems[0].message.contains("spec.strimziClusterRef"), "{problems:?}");

        let by_address: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nbackupRef: {name: b}\nrestore: {strimziResources: {}}\n",
        )
        .expect("spec");
        let problems = restore(&by_address, now());
        assert_eq!(problems[0].path, "spec.restore.strimziResources", "{problems:?}");
        let both: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "strimziClusterRef: {name: c}\nbackupRef: {name: b}\nrestore: {topicCreation: strimzi, strimziResources: {targetNamespace: Bad_NS}}\n",
        )
        .expect("spec");
        let problems = restore(&both, now());
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["spec.restore.strimziResources.kinds", "spec.restore.strimziResources.targetNamespace"],
            "{problems:?}"
        );
        let users_only: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "strimziClusterRef: {name: c}\nbackupRef: {name: b}\nrestore: {topicCreation: strimzi, strimziResources: {kinds: [KafkaUser]}}\n",
        )
        .expect("spec");
        assert!(restore(&users_only, now()).is_empty());
    }

    #[test]
    fn strimzi_topic_creation_needs_a_strimzi_cluster() {
        let plain: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nbackupRef: {name: b}\nrestore: {topicCreation: strimzi}\n",
        )
        .expect("spec");
        let problems = restore(&plain, now());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "spec.restore.topicCreation");
        assert!(problems[0].message.contains("spec.strimziClusterRef"), "{problems:?}");
        let strimzi: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "strimziClusterRef: {name: my-cluster}\nbackupRef: {name: b}\nrestore: {topicCreation: strimzi}\n",
        )
        .expect("spec");
        assert!(restore(&strimzi, now()).is_empty());
    }

    #[test]
    fn restore_workers_are_1_to_64() {
        let spec = |workers: &str| -> KafkaRestoreSpec {
            serde_yaml_ng::from_str(&format!(
                "kafkaCluster: {{bootstrapServers: 'k:9092'}}\nbackupRef: {{name: b}}\nrestore: {{workers: {workers}}}\n"
            ))
            .expect("spec")
        };
        assert!(restore(&spec("4"), now()).is_empty());
        for wrong in ["0", "65", "-1"] {
            let problems = restore(&spec(wrong), now());
            let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
            assert_eq!(paths, ["spec.restore.workers"], "{wrong}");
        }
        let default: KafkaRestoreSpec =
            serde_yaml_ng::from_str("kafkaCluster: {bootstrapServers: 'k:9092'}\nbackupRef: {name: b}\n")
                .expect("spec");
        assert_eq!(default.restore.workers, 1);
    }
}
