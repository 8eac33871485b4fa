//! A reader of topics that is not librdkafka: Kafka's own console consumer
//! (`org.apache.kafka.tools.consumer.ConsoleConsumer` from the broker's jars, `$KAFKA_HOME/libs`),
//! its output parsed back into [`oracle::Record`]s. Comparing through it means a bug shared by
//! the product and the tests' rdkafka reads cannot hide.
//!
//! The `DefaultMessageFormatter` writes keys, values and header values as raw bytes (no
//! deserializer configured), so the fields are cut apart by marker strings that the records a
//! test produces must not contain (checked: a record holding one is refused, not misread).

use std::process::Command;

use anyhow::{Context, bail, ensure};

use crate::env::TestEnv;
use crate::oracle::{self, TimestampType};

/// Between the fields of a record.
const FIELD: &str = "<~F~>";
/// After each record.
const END: &str = "<~END~>\n";
/// Between headers. Between a header's key and value the formatter always writes `:` (there is
/// no property for it), so header keys must not contain one.
const HEADERS: &str = "<~H~>";
/// Printed for a null key, value or header value (an empty one prints as nothing).
const NULL: &str = "<~NULL~>";

/// A record as the console consumer printed it, with its partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleRecord {
    pub partition: i32,
    pub record: oracle::Record,
}

/// Reads `topic` from the beginning under `read_committed` until `expected` records have come
/// (or 60 s passed without one), as Kafka's console consumer sees them, in the order it printed
/// them (per partition, offset order).
pub fn console_consume(env: &TestEnv, topic: &str, expected: usize) -> anyhow::Result<Vec<ConsoleRecord>> {
    let kafka_home = env.get("KAFKA_HOME")?;
    let out = Command::new("java")
        .arg("-cp")
        .arg(format!("{kafka_home}/libs/*"))
        .arg("org.apache.kafka.tools.consumer.ConsoleConsumer")
        .args(["--bootstrap-server", env.kafka_bootstrap(), "--topic", topic, "--from-beginning"])
        .args(["--isolation-level", "read_committed", "--timeout-ms", "60000"])
        .args(["--max-messages", &expected.to_string()])
        .args(["--property", "print.timestamp=true", "--property", "print.partition=true"])
        .args(["--property", "print.offset=true", "--property", "print.headers=true"])
        .args(["--property", "print.key=true", "--property", "print.value=true"])
        .args(["--property", &format!("key.separator={FIELD}")])
        .args(["--property", &format!("line.separator={END}")])
        .args(["--property", &format!("headers.separator={HEADERS}")])
        .args(["--property", &format!("null.literal={NULL}")])
        .env("KAFKA_HEAP_OPTS", "-Xmx256m")
        .output()
        .context("running java (Kafka's console consumer)")?;
    ensure!(
        out.status.success(),
        "console consumer failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let records = parse(&out.stdout)?;
    ensure!(
        records.len() == expected,
        "console consumer printed {} records of {topic}, expected {expected}: {}",
        records.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(records)
}

/// The console consumer's output, one record per [`END`].
pub fn parse(stdout: &[u8]) -> anyhow::Result<Vec<ConsoleRecord>> {
    let mut out = Vec::new();
    let mut rest = stdout;
    while !rest.is_empty() {
        let end = find(rest, END.as_bytes()).context("output does not end with a record end marker")?;
        out.push(parse_record(&rest[..end]).with_context(|| {
            format!("console consumer line {}: {}", out.len(), String::from_utf8_lossy(&rest[..end]))
        })?);
        rest = &rest[end + END.len()..];
    }
    Ok(out)
}

/// `<type>:<ts>|Partition:<p>|Offset:<o>|<headers>|<key>|<value>`, `|` being [`FIELD`].
fn parse_record(line: &[u8]) -> anyhow::Result<ConsoleRecord> {
    let fields = split(line, FIELD.as_bytes());
    ensure!(fields.len() == 6, "{} fields, want 6 (a marker inside the data?)", fields.len());
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).context("not UTF-8");
    let (timestamp_type, timestamp) = match text(fields[0])?.as_str() {
        "NO_TIMESTAMP" => (TimestampType::NotAvailable, -1),
        other => {
            let (kind, ts) = other.split_once(':').context("timestamp")?;
            let kind = match kind {
                "CreateTime" => TimestampType::CreateTime,
                "LogAppendTime" => TimestampType::LogAppendTime,
                k => bail!("timestamp type {k}"),
            };
            (kind, ts.parse()?)
        }
    };
    let partition = text(fields[1])?.strip_prefix("Partition:").context("partition")?.parse()?;
    let offset = text(fields[2])?.strip_prefix("Offset:").context("offset")?.parse()?;
    let headers = if fields[3] == b"NO_HEADERS" {
        Vec::new()
    } else {
        split(fields[3], HEADERS.as_bytes())
            .into_iter()
            .map(|h| {
                let colon = h.iter().position(|b| *b == b':').context("header without `:`")?;
                Ok((text(&h[..colon])?, nullable(&h[colon + 1..])))
            })
            .collect::<anyhow::Result<_>>()?
    };
    Ok(ConsoleRecord {
        partition,
        record: oracle::Record {
            offset,
            timestamp,
            timestamp_type,
            key: nullable(fields[4]),
            value: nullable(fields[5]),
            headers,
        },
    })
}

fn nullable(b: &[u8]) -> Option<Vec<u8>> {
    (b != NULL.as_bytes()).then(|| b.to_vec())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, sep) {
        out.push(&hay[..i]);
        hay = &hay[i + sep.len()..];
    }
    out.push(hay);
    out
}

/// Whether a record can go through the console consumer unambiguously: no marker in its bytes.
pub fn printable(r: &oracle::Record) -> bool {
    let markers = [FIELD, END, HEADERS, NULL];
    let mut fields: Vec<&[u8]> = r.key.iter().chain(r.value.iter()).map(Vec::as_slice).collect();
    for (k, v) in &r.headers {
        fields.push(k.as_bytes());
        fields.extend(v.as_deref());
    }
    !r.headers.iter().any(|(k, _)| k.contains(':'))
        && fields.iter().all(|b| markers.iter().all(|m| find(b, m.as_bytes()).is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nulls_empties_and_duplicate_headers() -> anyhow::Result<()> {
        let out =
            b"CreateTime:5<~F~>Partition:0<~F~>Offset:7<~F~>a:<~NULL~><~H~>a:\xff<~F~><~F~><~NULL~><~END~>\n";
        let got = parse(out)?;
        assert_eq!(got.len(), 1);
        let r = &got[0].record;
        assert_eq!((r.offset, r.timestamp, r.timestamp_type), (7, 5, TimestampType::CreateTime));
        assert_eq!((r.key.as_deref(), r.value.as_deref()), (Some(&b""[..]), None));
        assert_eq!(r.headers, vec![("a".to_string(), None), ("a".to_string(), Some(vec![0xff]))]);
        Ok(())
    }
}
