//! `list`: the catalog of `KafkaRestorePoint`s, newest first — of one `KafkaBackup`, one
//! `KafkaBackupLocation`, the namespace, or every namespace (`-A`). The objects carry the labels
//! `kafkabackup.com/source` and `kafkabackup.com/source-kind`, so the API server does the
//! selecting.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use strimzi_backup_operator::api::restore_point::{SOURCE_KIND_LABEL, SOURCE_LABEL};
use strimzi_backup_operator::api::{KafkaBackup, KafkaBackupLocation, KafkaRestorePoint};

use crate::client::{ApiResult, Target, get};
use crate::output::{self, Format, TableFormat, human_bytes, short_time, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The KafkaBackup whose restore points to list (default: every restore point).
    #[arg(value_name = "KAFKABACKUP", conflicts_with_all = ["location", "all_namespaces"])]
    kafka_backup: Option<String>,
    /// List the restore points of this KafkaBackupLocation instead.
    #[arg(long, value_name = "KAFKABACKUPLOCATION", conflicts_with = "all_namespaces")]
    location: Option<String>,
    /// List the restore points of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Output format: json, yaml, or wide (more columns).
    #[arg(short = 'o', long = "output")]
    output: Option<TableFormat>,
}

pub async fn run(target: &Target, args: Args) -> anyhow::Result<ExitCode> {
    let ns = &target.namespace;
    let selector = match (&args.kafka_backup, &args.location) {
        (Some(kb), _) => {
            get(&target.api::<KafkaBackup>(), "KafkaBackup", kb, ns).await?;
            Some(format!("{SOURCE_LABEL}={kb},{SOURCE_KIND_LABEL}=KafkaBackup"))
        }
        (None, Some(kbl)) => {
            get(&target.api::<KafkaBackupLocation>(), "KafkaBackupLocation", kbl, ns).await?;
            Some(format!("{SOURCE_LABEL}={kbl},{SOURCE_KIND_LABEL}=KafkaBackupLocation"))
        }
        (None, None) => None,
    };
    let api: Api<KafkaRestorePoint> =
        if args.all_namespaces { Api::all(target.client.clone()) } else { target.api() };
    let params = selector.as_deref().map(|s| ListParams::default().labels(s)).unwrap_or_default();
    let mut points = api.list(&params).await.api()?.items;
    sort_newest_first(&mut points);

    match args.output {
        Some(TableFormat::Json) => output::print_list(Format::Json, &points)?,
        Some(TableFormat::Yaml) => output::print_list(Format::Yaml, &points)?,
        wide => {
            if points.is_empty() {
                let place =
                    if args.all_namespaces { "any namespace".into() } else { format!("namespace {ns}") };
                eprintln!("No restore points found in {place}.");
            } else {
                print!(
                    "{}",
                    catalog(&points, args.all_namespaces, wide == Some(TableFormat::Wide), Utc::now())
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Newest capture first; a point whose capture time cannot be read goes last.
fn sort_newest_first(points: &mut [KafkaRestorePoint]) {
    let captured = |p: &KafkaRestorePoint| DateTime::parse_from_rfc3339(&p.spec.captured_at).ok();
    points.sort_by(|a, b| captured(b).cmp(&captured(a)).then_with(|| a.name_any().cmp(&b.name_any())));
}

/// The catalog table: what `kubectl get krp` shows, sizes readable and times to the second.
fn catalog(points: &[KafkaRestorePoint], namespaces: bool, wide: bool, now: DateTime<Utc>) -> String {
    let mut header = vec!["NAME", "BACKUP", "TOPICS", "FROM", "TO", "SIZE", "VERIFIED", "AGE"];
    if wide {
        header.extend(["SOURCE", "PARTITIONS", "RECORDS", "CAPTURED"]);
    }
    if namespaces {
        header.insert(0, "NAMESPACE");
    }
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            let s = &p.spec;
            let verified = p
                .status
                .as_ref()
                .and_then(|st| st.verification.as_ref())
                .map(|v| format!("{:?}", v.result))
                .unwrap_or_else(|| "-".into());
            let age = p
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(strimzi_backup_operator::time::chrono)
                .map(|t| output::age(t, now))
                .unwrap_or_else(|| "<unknown>".into());
            let mut row = vec![
                p.name_any(),
                s.backup_id.clone(),
                s.totals.topics.to_string(),
                short_time(s.restorable_from.as_deref()),
                short_time(s.restorable_to.as_deref()),
                human_bytes(s.totals.stored_bytes),
                verified,
                age,
            ];
            if wide {
                row.extend([
                    format!("{}/{}", s.source.kind, s.source.name),
                    s.totals.partitions.to_string(),
                    s.totals.records.to_string(),
                    short_time(Some(&s.captured_at)),
                ]);
            }
            if namespaces {
                row.insert(0, p.namespace().unwrap_or_default());
            }
            row
        })
        .collect();
    table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strimzi_backup_operator::api::restore_point::KafkaRestorePointSpec;

    fn point(name: &str, captured: &str, bytes: i64) -> KafkaRestorePoint {
        let mut spec = KafkaRestorePointSpec {
            backup_id: format!("id-{name}"),
            captured_at: captured.into(),
            ..Default::default()
        };
        spec.totals.stored_bytes = bytes;
        spec.totals.topics = 2;
        KafkaRestorePoint::new(name, spec)
    }

    #[test]
    fn newest_capture_comes_first() {
        let mut points = vec![
            point("old", "2026-01-01T00:00:00Z", 1),
            point("bad", "yesterday", 1),
            point("new", "2026-02-01T00:00:00Z", 1),
        ];
        sort_newest_first(&mut points);
        let names: Vec<String> = points.iter().map(|p| p.name_any()).collect();
        assert_eq!(names, ["new", "old", "bad"]);
    }

    #[test]
    fn the_catalog_has_the_columns_of_kubectl_get_krp_with_readable_sizes() {
        let text = catalog(&[point("p", "2026-01-01T00:00:00Z", 3 * 1024 * 1024)], false, false, Utc::now());
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header, ["NAME", "BACKUP", "TOPICS", "FROM", "TO", "SIZE", "VERIFIED", "AGE"]);
        assert!(lines[1].contains("3.0 MiB") && lines[1].contains("id-p"), "{text}");
    }
}
