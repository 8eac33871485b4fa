//! Restore points as the cluster sees them: a manifest summarised into a `KafkaRestorePoint`
//! spec, the object's deterministic name, and the recoverability window of a set of them. Pure:
//! the data plane summarises (it holds the manifest), the operator names and windows.

use sha2::{Digest, Sha256};

use crate::api::location::Recoverability;
use crate::api::restore_point::{
    GAPS_LISTED_PER_TOPIC, GapSummary, KafkaRestorePointSpec, Lineage, LineageBreakSummary,
    RestorePointTotals, TopicSummary, Verification,
};
use crate::format::manifest::Manifest;
use crate::format::millis_to_rfc3339;

/// Kafka gives records without a timestamp `-1`; they bound no time range.
fn timestamp(ms: i64) -> Option<i64> {
    (ms >= 0).then_some(ms)
}

fn min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

fn max(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What the cluster shows of a manifest. `source` is left empty: the operator fills in the
/// object that lists it. Counts, bytes and the time range are over the segments the manifest
/// lists — a version 2 manifest lists whole segments, so one that begins below a partition's log
/// start at the cut counts whole (its older records are what `restore.scope: allRetained`
/// restores).
pub fn summarize(manifest: &Manifest, owner: Option<String>) -> KafkaRestorePointSpec {
    let mut totals = RestorePointTotals {
        topics: i32::try_from(manifest.topics.len()).unwrap_or(i32::MAX),
        ..Default::default()
    };
    let (mut from, mut to) = (None, None);
    let mut started_by: Vec<String> = Vec::new();
    let mut breaks = Vec::new();
    let mut topics = Vec::with_capacity(manifest.topics.len());
    for t in &manifest.topics {
        let mut topic = TopicSummary {
            name: t.name.clone(),
            partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
            ..Default::default()
        };
        let (mut first, mut last) = (None, None);
        for p in &t.partitions {
            for s in &p.segments {
                topic.records += count(s.records);
                topic.bytes += count(s.stored_bytes);
                totals.raw_bytes += count(s.raw_bytes);
                if s.records > 0 {
                    first = min(first, timestamp(s.min_timestamp));
                    last = max(last, timestamp(s.max_timestamp));
                }
            }
            for g in &p.gaps {
                topic.gap_count += 1;
                if topic.gaps.len() < GAPS_LISTED_PER_TOPIC {
                    topic.gaps.push(GapSummary {
                        partition: p.partition,
                        from: g.from,
                        to: g.to,
                        reason: format!("{:?}", g.reason),
                    });
                }
            }
            if let Some(start) = &p.lineage_start
                && !started_by.contains(start)
            {
                started_by.push(start.clone());
            }
            if let Some(b) = &p.lineage_break {
                breaks.push(LineageBreakSummary {
                    topic: t.name.clone(),
                    partition: p.partition,
                    reason: format!("{:?}", b.reason),
                });
            }
        }
        topic.first_timestamp = first.and_then(millis_to_rfc3339);
        topic.last_timestamp = last.and_then(millis_to_rfc3339);
        totals.partitions += topic.partitions;
        totals.records += topic.records;
        totals.stored_bytes += topic.bytes;
        (from, to) = (min(from, first), max(to, last));
        topics.push(topic);
    }
    // Backup ids sort by time for the operator's ids; the order is only for reading.
    started_by.sort();
    KafkaRestorePointSpec {
        backup_id: manifest.backup_id.clone(),
        source: Default::default(),
        owner,
        cluster_id: manifest.cluster_id.clone(),
        format_version: i32::from(manifest.format_version),
        revision: manifest.revision.as_ref().map(|r| i32::try_from(r.number).unwrap_or(i32::MAX)),
        captured_at: manifest.started_at.clone(),
        completed_at: manifest.completed_at.clone(),
        restorable_from: from.and_then(millis_to_rfc3339),
        restorable_to: to.and_then(millis_to_rfc3339),
        compression: manifest.encoding.compression.clone(),
        encryption_key_id: manifest.encoding.encryption_key_id.clone(),
        lineage: Lineage { parent_id: manifest.parent_id.clone(), started_by, breaks },
        totals,
        topics,
        consumer_groups: i32::try_from(manifest.consumer_groups.len()).unwrap_or(i32::MAX),
    }
}

/// The longest object name Kubernetes accepts (a DNS subdomain).
const MAX_NAME: usize = 253;

/// Whether `name` is a valid Kubernetes object name (a DNS-1123 subdomain).
pub fn is_dns_subdomain(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(ok_char)
        && alnum(name.chars().next())
        && alnum(name.chars().last())
}

/// The `KafkaRestorePoint` name of backup `backup_id` listed by the object `source`: readable
/// when the id allows (`<source>-<id>`, or the id itself when it already begins with
/// `<source>-`, as the operator's own ids do), else `<source>-<hash>`. The same inputs always give
/// the same name, so a restarted sync finds what it created.
pub fn object_name(source: &str, backup_id: &str) -> String {
    let readable = if backup_id.starts_with(&format!("{source}-")) {
        backup_id.to_string()
    } else {
        format!("{source}-{backup_id}")
    };
    if is_dns_subdomain(&readable) {
        return readable;
    }
    hashed_name(source, backup_id)
}

/// The fallback name: `<source>-<12 hex of SHA-256 of the id>`, which is always valid (the source's
/// own name is one).
pub fn hashed_name(source: &str, backup_id: &str) -> String {
    let digest = hex::encode(Sha256::digest(backup_id.as_bytes()));
    let source: String = source.chars().take(MAX_NAME - 13).collect();
    format!("{source}-{}", &digest[..12])
}

/// The window a point-in-time restore can target across `points`: from the oldest record any of
/// them holds to the newest one's cut (or its newest record, when later), and when the newest was
/// committed.
pub fn recoverability<'a>(points: impl IntoIterator<Item = &'a KafkaRestorePointSpec>) -> Recoverability {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc());
    let mut first = None;
    let mut newest: Option<&KafkaRestorePointSpec> = None;
    for p in points {
        first = match (first, p.restorable_from.as_deref().and_then(parse)) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
        if newest.is_none_or(|n| parse(&n.completed_at) < parse(&p.completed_at)) {
            newest = Some(p);
        }
    }
    let last = newest.and_then(|n| {
        let cut = parse(&n.captured_at);
        let record = n.restorable_to.as_deref().and_then(parse);
        cut.into_iter().chain(record).max()
    });
    let text = |t: chrono::DateTime<chrono::Utc>| millis_to_rfc3339(t.timestamp_millis());
    Recoverability {
        first_recoverability_point: first.and_then(text),
        last_recoverability_point: last.and_then(text),
        last_successful_backup: newest.and_then(|n| parse(&n.completed_at)).and_then(text),
    }
}

/// The window of one restore point.
pub fn window_of(point: &KafkaRestorePointSpec) -> Recoverability {
    recoverability([point])
}

/// What a restore may target, and where it was named: the problems of a restore whose backup id
/// is not one of `points` (the kept restore points of `source`, a `KafkaBackup` or location) or
/// whose point in time (RFC 3339) lies outside `window`. Pure: the webhook and the controller
/// look the points up, this judges.
pub fn restore_target_problems(
    source: &str,
    backup_id: Option<(&str, &str)>,
    point_in_time: Option<&str>,
    points: &[KafkaRestorePointSpec],
    window: &Recoverability,
) -> Vec<crate::api::validation::FieldError> {
    use crate::api::validation::FieldError;
    let mut problems = Vec::new();
    let mut window = window.clone();
    if let Some((field, id)) = backup_id {
        match points.iter().find(|p| p.backup_id == id) {
            Some(point) => window = window_of(point),
            None => {
                let mut kept: Vec<&str> = points.iter().map(|p| p.backup_id.as_str()).collect();
                kept.sort();
                let listed = match kept.len() {
                    0 => "none".to_string(),
                    n if n > 10 => format!("{} … and {} more", kept[n - 10..].join(", "), n - 10),
                    _ => kept.join(", "),
                };
                problems.push(FieldError::new(
                    field,
                    format!("`{id}` is not a kept restore point of {source} (kept: {listed}); `kubectl get krp` lists them"),
                ));
                return problems;
            }
        }
    }
    let (Some(t), Some(first), Some(last)) = (
        point_in_time,
        window.first_recoverability_point.as_deref(),
        window.last_recoverability_point.as_deref(),
    ) else {
        return problems;
    };
    let ms = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis());
    if let (Some(at), Some(from), Some(to)) = (ms(t), ms(first), ms(last))
        && (at < from || at > to)
    {
        let which = if at < from { "before the oldest record" } else { "after the newest restore point" };
        problems.push(FieldError::new(
            "spec.pointInTime.timestamp",
            format!("`{t}` is {which} of {source}: a point-in-time restore can target {first} to {last}"),
        ));
    }
    problems
}

/// The longest `status.verification.message` copied from evidence: a status is read often.
const VERIFICATION_MESSAGE_CHARS: usize = 1000;

/// A drill's result as a restore point's verification state (`drill` is the drill id).
pub fn verification_of(result: &crate::drill::DrillResult) -> Verification {
    let mut message: String = result.message.chars().take(VERIFICATION_MESSAGE_CHARS).collect();
    if message.len() < result.message.len() {
        message.push('…');
    }
    Verification {
        result: result.result,
        drill: Some(result.drill_id.clone()).filter(|d| !d.is_empty()),
        start_time: crate::time::parse(&result.start_time),
        completion_time: crate::time::parse(&result.completion_time),
        records: count(result.records),
        mismatches: count(result.mismatches),
        rto_seconds: Some(result.restore_seconds),
        message: Some(message).filter(|m| !m.is_empty()),
    }
}

/// Whether `candidate` is newer than what a restore point shows (`shown`), by completion time:
/// anything is newer than nothing, and a verification without a completion time is never newer
/// than one that has it.
pub fn supersedes(candidate: &Verification, shown: Option<&Verification>) -> bool {
    let Some(shown) = shown else { return true };
    match (&candidate.completion_time, &shown.completion_time) {
        (Some(c), Some(s)) => c.0 > s.0,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The newest evidence object per backup id, folded from a listing of `verifications/` one
/// object at a time: it holds one entry per backup, however many drills left evidence.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewestEvidence {
    by_backup: std::collections::HashMap<String, Written>,
}

/// One evidence object as listed: its drill id and when it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub drill_id: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl NewestEvidence {
    /// Takes the evidence of `drill_id` for `backup_id`, written `at`, when it is newer than the
    /// one held: written later, or at the same instant by the greater drill id (so the choice
    /// does not depend on listing order).
    pub fn offer(&mut self, backup_id: &str, drill_id: &str, at: chrono::DateTime<chrono::Utc>) {
        let newer = |held: &Written| (at, drill_id) > (held.at, held.drill_id.as_str());
        match self.by_backup.get_mut(backup_id) {
            Some(held) if !newer(held) => {}
            Some(held) => *held = Written { drill_id: drill_id.into(), at },
            None => {
                self.by_backup.insert(backup_id.into(), Written { drill_id: drill_id.into(), at });
            }
        }
    }

    /// The newest evidence of `backup_id`, if any drill left one.
    pub fn of(&self, backup_id: &str) -> Option<&Written> {
        self.by_backup.get(backup_id)
    }

    pub fn len(&self) -> usize {
        self.by_backup.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_backup.is_empty()
    }
}

#[cfg(test)]
mod tests;
