//! Output as kubectl prints it: tables with upper-case headers and columns three spaces apart,
//! ages like `5m` or `3d4h`, sizes in binary units, and `-o json|yaml` documents without
//! `managedFields` (kubectl hides them too).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// `-o` of a command that prints one object: a document format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

/// `-o` of a command that prints a table: a document format, or the table with more columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    Json,
    Yaml,
    Wide,
}

/// Prints an object (or anything serialisable) as JSON or YAML.
pub fn print_object<T: Serialize>(format: Format, object: &T) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(object)?;
    strip_managed_fields(&mut value);
    print!("{}", render(format, &value)?);
    Ok(())
}

/// Several objects as kubectl prints a list: one `v1` `List` document.
pub fn print_list<T: Serialize>(format: Format, items: &[T]) -> anyhow::Result<()> {
    let mut items = items.iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>()?;
    items.iter_mut().for_each(strip_managed_fields);
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items});
    print!("{}", render(format, &list)?);
    Ok(())
}

fn render(format: Format, value: &serde_json::Value) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(value)?),
        Format::Yaml => serde_yaml_ng::to_string(value)?,
    })
}

fn strip_managed_fields(value: &mut serde_json::Value) {
    if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("managedFields");
    }
}

/// A table: the header and rows, columns padded to their widest cell, three spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 3;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Bytes in binary units, one decimal from KiB up: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// How long ago, the way kubectl's AGE column says it (`45s`, `7m`, `5h`, `3d4h`, `2y`).
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    human_duration((now - since).num_seconds().max(0))
}

/// A duration in seconds in kubectl's short form (its `HumanDuration` rules, simplified).
pub fn human_duration(seconds: i64) -> String {
    let (m, h, d) = (seconds / 60, seconds / 3600, seconds / 86_400);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{m}m{}s", s % 60),
        s if s < 3 * 3600 => format!("{m}m"),
        s if s < 8 * 3600 => format!("{h}h{}m", m % 60),
        s if s < 48 * 3600 => format!("{h}h"),
        s if s < 8 * 86_400 => format!("{d}d{}h", h % 24),
        s if s < 730 * 86_400 => format!("{d}d"),
        _ => format!("{}y", d / 365),
    }
}

/// An RFC 3339 time from the API as shown in tables: to the second, in UTC.
pub fn short_time(rfc3339: Option<&str>) -> String {
    rfc3339
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "<none>".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_each_column_to_its_widest_cell() {
        let rows =
            vec![vec!["a".into(), "1".into(), "x".into()], vec!["long-name".into(), "22".into(), "".into()]];
        assert_eq!(
            table(&["NAME", "N", "LAST"], &rows),
            "NAME        N    LAST\na           1    x\nlong-name   22\n"
        );
    }

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(1800), "30m");
        assert_eq!(human_duration(5 * 3600 + 120), "5h2m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600), "3d4h");
        assert_eq!(human_duration(40 * 86_400), "40d");
        assert_eq!(human_duration(800 * 86_400), "2y");
    }

    #[test]
    fn times_shown_to_the_second_in_utc() {
        assert_eq!(short_time(Some("2026-12-03T14:00:00.123+01:00")), "2026-12-03T13:00:00Z");
        assert_eq!(short_time(None), "<none>");
    }
}
