//! The validation rules of the three kinds that need more than the CRD schema can say (parsing
//! cron, time zones, durations, regexes, timestamps). Written once: the admission webhook denies
//! with them, and each controller runs them again at the start of a reconcile, so a cluster
//! where the webhook is bypassed behaves the same — an invalid spec gets a `Ready=False`
//! condition naming the field, and waits for the user to change it.

use super::backup::KafkaBackupSpec;
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
    if spec.backup.compression == super::backup::Compression::Lz4 && spec.backup.compression_level > 12 {
        problems.push(FieldError::new(
            "spec.backup.compressionLevel",
            format!(
                "lz4 levels are 1-12, not {}: lower it, or use compression zstd",
                spec.backup.compression_level
            ),
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
    if let Some(include) = spec.consumer_groups.as_ref().and_then(|g| g.include.as_ref()) {
        regexes(&mut problems, "spec.consumerGroups.include", include, &[]);
    }
    let mut targets = std::collections::HashSet::new();
    for (i, m) in spec.topic_mapping.iter().enumerate() {
        if !targets.insert(m.target_topic.as_str()) {
            problems.push(FieldError::new(
                format!("spec.topicMapping[{i}].targetTopic"),
                format!("`{}` is the target of two mappings: each target topic once", m.target_topic),
            ));
        }
    }
    problems.extend(super::privilege::problems(&spec.job_options));
    problems
}

/// Problems in a `KafkaOffsetReset` spec, `now` being the time of the check.
pub fn offset_reset(spec: &KafkaOffsetResetSpec, now: chrono::DateTime<chrono::Utc>) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if spec.reset_strategy == ResetStrategy::ToTimestamp {
        match &spec.reset_timestamp {
            Some(t) => rfc3339(&mut problems, "spec.resetTimestamp", t, now),
            None => problems.push(FieldError::new(
                "spec.resetTimestamp",
                "resetStrategy to-timestamp needs resetTimestamp (RFC 3339, e.g. 2026-02-13T01:30:00Z)",
            )),
        }
    }
    let needs = |strategy, present: bool, field: &str, what: &str| {
        (spec.reset_strategy == strategy && !present).then(|| FieldError::new(field, what))
    };
    problems.extend(needs(
        ResetStrategy::ToOffset,
        spec.reset_offset.is_some(),
        "spec.resetOffset",
        "resetStrategy to-offset needs resetOffset",
    ));
    problems.extend(needs(
        ResetStrategy::ShiftBy,
        spec.shift_by.is_some(),
        "spec.shiftBy",
        "resetStrategy shift-by needs shiftBy (negative moves back)",
    ));
    problems.extend(needs(
        ResetStrategy::ToSnapshot,
        spec.snapshot_ref.is_some(),
        "spec.snapshotRef",
        "resetStrategy to-snapshot needs snapshotRef: the ConfigMap named in a KafkaRestore's status.offsetSnapshot or a KafkaOffsetReset's status.snapshotRef",
    ));
    if spec.consumer_groups.iter().any(|g| g.is_empty()) {
        problems.push(FieldError::new("spec.consumerGroups", "a group id is empty"));
    }
    problems.extend(super::privilege::problems(&spec.job_options));
    problems
}

/// Problems in changing the spec of a one-shot resource (`KafkaRestore`, `KafkaOffsetReset`):
/// each top-level field that differs, compared after defaulting so a filled-in default is no
/// change. The CRD's CEL rule says the same; this is the webhook's and the controllers' copy.
pub fn immutable<S: serde::Serialize>(kind: &str, old: &S, new: &S) -> Vec<FieldError> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| old.get(*f) != new.get(*f))
        .map(|f| {
            FieldError::new(
                format!("spec.{f}"),
                format!("a {kind} is one run and its spec cannot change; create a new {kind} instead"),
            )
        })
        .collect()
}

/// Settings that are valid but probably not what was meant: AdmissionResponse warnings.
pub fn backup_warnings(spec: &KafkaBackupSpec, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let mut warnings = Vec::new();
    let schedule = spec.schedule.as_ref().and_then(|s| CronSchedule::parse(s).ok());
    let interval = schedule.as_ref().and_then(|c| {
        let first = c.next_after(now)?;
        Some(c.next_after(first)? - first)
    });
    let max_age = spec.retention.as_ref().and_then(|r| r.max_age.as_deref()).and_then(|a| {
        super::duration::parse_millis(a).ok().map(|ms| (a, chrono::Duration::milliseconds(ms)))
    });
    if let (Some(interval), Some((text, age))) = (interval, max_age)
        && age < interval
    {
        warnings.push(format!(
            "spec.retention.maxAge {text} is shorter than the time between two scheduled runs ({} minutes): every older backup is pruned at each run, only the newest survives",
            interval.num_minutes()
        ));
    }
    let incremental = spec.backup.mode == super::backup::BackupMode::Incremental;
    if incremental && spec.retention.as_ref().and_then(|r| r.max_backups) == Some(1) {
        warnings.push(
            "spec.retention.maxBackups 1 with backup.mode incremental: each backup continues the previous one, which is kept as its parent, so storage holds the whole chain; use mode full to keep one backup".into(),
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
    fn a_one_shot_spec_cannot_change_but_a_filled_in_default_is_no_change() {
        let before: KafkaRestoreSpec =
            serde_yaml_ng::from_str("kafkaCluster: {bootstrapServers: 'k:9092'}\nbackupRef: {name: b}\n")
                .expect("spec");
        let defaulted: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nbackupRef: {name: b}\nrestore: {parallelism: 4}\n",
        )
        .expect("spec");
        assert!(immutable("KafkaRestore", &before, &defaulted).is_empty());
        let mut changed = before.clone();
        changed.point_in_time = Some(crate::api::restore::PointInTime {
            timestamp: Some("2026-01-01T00:00:00Z".into()),
            offset_from_end: None,
        });
        let problems = immutable("KafkaRestore", &before, &changed);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "spec.pointInTime");
        assert!(problems[0].message.contains("create a new KafkaRestore"));
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
    fn restore_and_reset_times_must_parse_and_not_be_in_the_future() {
        let spec: KafkaRestoreSpec = serde_yaml_ng::from_str(
            "kafkaCluster: {bootstrapServers: 'k:9092'}\nbackupRef: {name: b}\npointInTime: {timestamp: '2027-01-01T00:00:00Z'}\ntopicMapping: [{sourceTopic: a, targetTopic: x}, {sourceTopic: b, targetTopic: x}]\n",
        )
        .expect("spec");
        let problems = restore(&spec, now());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("future"));
        assert_eq!(problems[1].path, "spec.topicMapping[1].targetTopic");
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
}
