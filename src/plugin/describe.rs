//! `describe POINT`: one restore point in full, as `kubectl describe` lays things out — what it
//! holds per topic, its gaps, lineage and verification, and the recoverability window of the
//! `KafkaBackup` or `KafkaBackupLocation` that lists it (read from that object's status as plain
//! JSON, so a status field added later shows without a new plugin).

use std::fmt::Write as _;
use std::process::ExitCode;

use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject};
use strimzi_backup_operator::api::restore_point::KafkaRestorePointSpec;
use strimzi_backup_operator::api::{KafkaBackup, KafkaBackupLocation, KafkaRestorePoint};

use crate::client::{ApiResult, Target, get};
use crate::output::{self, Format, human_bytes, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The KafkaRestorePoint.
    #[arg(value_name = "POINT")]
    point: String,
    /// Output format: json or yaml (default: text).
    #[arg(short = 'o', long = "output")]
    output: Option<Format>,
}

pub async fn run(target: &Target, args: Args) -> anyhow::Result<ExitCode> {
    let ns = &target.namespace;
    let point = get(&target.api::<KafkaRestorePoint>(), "KafkaRestorePoint", &args.point, ns).await?;
    if let Some(f) = args.output {
        output::print_object(f, &point)?;
        return Ok(ExitCode::SUCCESS);
    }
    let source = &point.spec.source;
    let resource = match source.kind.as_str() {
        "KafkaBackupLocation" => ApiResource::erase::<KafkaBackupLocation>(&()),
        _ => ApiResource::erase::<KafkaBackup>(&()),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(target.client.clone(), ns, &resource);
    let source_status = api.get_opt(&source.name).await.api()?.map(|o| o.data["status"].clone());
    print!("{}", describe(&point, source_status.as_ref()));
    Ok(ExitCode::SUCCESS)
}

/// The text of `describe`. `source_status`: the lister's status, `None` when it is gone.
fn describe(point: &KafkaRestorePoint, source_status: Option<&serde_json::Value>) -> String {
    let s: &KafkaRestorePointSpec = &point.spec;
    let mut out = String::new();
    let none = || "<none>".to_string();
    let field = |out: &mut String, k: &str, v: String| {
        let _ = writeln!(out, "{:<20}{v}", format!("{k}:"));
    };
    field(&mut out, "Name", point.name_any());
    field(&mut out, "Namespace", point.namespace().unwrap_or_default());
    field(&mut out, "Backup Id", s.backup_id.clone());
    field(&mut out, "Source", format!("{}/{}", s.source.kind, s.source.name));
    field(&mut out, "Owner", s.owner.clone().unwrap_or_else(none));
    field(&mut out, "Cluster Id", s.cluster_id.clone().unwrap_or_else(none));
    field(&mut out, "Captured At", s.captured_at.clone());
    field(&mut out, "Completed At", s.completed_at.clone());
    field(
        &mut out,
        "Restorable",
        format!(
            "{} .. {}",
            s.restorable_from.clone().unwrap_or_else(none),
            s.restorable_to.clone().unwrap_or_else(none)
        ),
    );
    field(&mut out, "Compression", s.compression.clone());
    field(
        &mut out,
        "Encryption",
        s.encryption_key_id.as_ref().map(|k| format!("key {k}")).unwrap_or_else(none),
    );
    let t = &s.totals;
    field(
        &mut out,
        "Totals",
        format!(
            "{} topics, {} partitions, {} records, {} raw, {} stored",
            t.topics,
            t.partitions,
            t.records,
            human_bytes(t.raw_bytes),
            human_bytes(t.stored_bytes)
        ),
    );
    field(&mut out, "Consumer Groups", s.consumer_groups.to_string());

    out.push_str("Topics:\n");
    if s.topics.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let rows: Vec<Vec<String>> = s
            .topics
            .iter()
            .map(|tp| {
                vec![
                    tp.name.clone(),
                    tp.partitions.to_string(),
                    tp.records.to_string(),
                    human_bytes(tp.bytes),
                    tp.first_timestamp.clone().unwrap_or_else(none),
                    tp.last_timestamp.clone().unwrap_or_else(none),
                    tp.gap_count.to_string(),
                ]
            })
            .collect();
        indent(&mut out, &table(&["NAME", "PARTITIONS", "RECORDS", "SIZE", "FROM", "TO", "GAPS"], &rows));
    }

    out.push_str("Gaps:\n");
    let gaps: Vec<Vec<String>> = s
        .topics
        .iter()
        .flat_map(|tp| {
            tp.gaps.iter().map(|g| {
                vec![
                    tp.name.clone(),
                    g.partition.to_string(),
                    g.from.to_string(),
                    g.to.to_string(),
                    g.reason.clone(),
                ]
            })
        })
        .collect();
    let unlisted: i64 = s.topics.iter().map(|tp| i64::from(tp.gap_count) - tp.gaps.len() as i64).sum();
    if gaps.is_empty() && unlisted <= 0 {
        out.push_str("  <none>\n");
    } else {
        indent(&mut out, &table(&["TOPIC", "PARTITION", "FROM", "TO", "REASON"], &gaps));
        if unlisted > 0 {
            let _ = writeln!(out, "  ({unlisted} more not listed)");
        }
    }

    out.push_str("Lineage:\n");
    let l = &s.lineage;
    let _ = writeln!(out, "  Parent:       {}", l.parent_id.clone().unwrap_or_else(none));
    let started = if l.started_by.is_empty() { none() } else { l.started_by.join(", ") };
    let _ = writeln!(out, "  Started By:   {started}");
    if l.breaks.is_empty() {
        out.push_str("  Breaks:       <none>\n");
    } else {
        out.push_str("  Breaks:\n");
        let rows: Vec<Vec<String>> = l
            .breaks
            .iter()
            .map(|b| vec![b.topic.clone(), b.partition.to_string(), b.reason.clone()])
            .collect();
        indent(&mut out, &indent_text(&table(&["TOPIC", "PARTITION", "REASON"], &rows)));
    }

    out.push_str("Verification:\n");
    match point.status.as_ref().and_then(|st| st.verification.as_ref()) {
        None => out.push_str("  <none> (no restore drill has run)\n"),
        Some(v) => {
            let time = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
                t.as_ref().map(|t| t.0.to_string()).unwrap_or_else(none)
            };
            let _ = writeln!(out, "  Result:       {:?}", v.result);
            let _ = writeln!(out, "  Drill:        {}", v.drill.clone().unwrap_or_else(none));
            let _ = writeln!(out, "  Started:      {}", time(&v.start_time));
            let _ = writeln!(out, "  Completed:    {}", time(&v.completion_time));
            let _ = writeln!(out, "  Records:      {}", v.records);
            let _ = writeln!(out, "  Mismatches:   {}", v.mismatches);
            let rto = v.rto_seconds.map(|r| format!("{r:.1}s")).unwrap_or_else(none);
            let _ = writeln!(out, "  RTO:          {rto}");
            if let Some(m) = &v.message {
                let _ = writeln!(out, "  Message:      {m}");
            }
        }
    }

    let _ = writeln!(out, "Recoverability ({} {}):", s.source.kind, s.source.name);
    match source_status {
        None => out.push_str("  <unknown>: the source object is not in this namespace\n"),
        Some(st) => {
            for (label, key) in [
                ("First Point", "firstRecoverabilityPoint"),
                ("Last Point", "lastRecoverabilityPoint"),
                ("Last Backup", "lastSuccessfulBackup"),
            ] {
                let value = st.get(key).and_then(|v| v.as_str()).map(str::to_string).unwrap_or_else(none);
                let _ = writeln!(out, "  {:<14}{value}", format!("{label}:"));
            }
        }
    }
    out
}

fn indent_text(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn indent(out: &mut String, text: &str) {
    out.push_str(&indent_text(text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use strimzi_backup_operator::api::restore_point::{GapSummary, TopicSummary};

    #[test]
    fn gaps_beyond_the_listed_ones_are_counted() {
        let mut spec = KafkaRestorePointSpec::default();
        spec.topics.push(TopicSummary {
            name: "orders".into(),
            partitions: 3,
            gaps: vec![GapSummary { partition: 1, from: 10, to: 20, reason: "RetentionDeleted".into() }],
            gap_count: 5,
            ..Default::default()
        });
        let text = describe(&KafkaRestorePoint::new("p", spec), None);
        assert!(text.contains("orders   1           10     20   RetentionDeleted"), "{text}");
        assert!(text.contains("(4 more not listed)"), "{text}");
        assert!(text.contains("the source object is not in this namespace"), "{text}");
    }
}
