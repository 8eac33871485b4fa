//! `manifest.json` decoded from docs/format.md alone ("Manifest"): the envelope and its SHA-256,
//! format versions 1, 2, 3 and 4, and the offset accounting of every partition.

use anyhow::{Context, bail, ensure};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::segment::Segment;

/// A manifest's fields the oracle checks; everything else stays in `raw`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format_version: u32,
    pub backup_id: String,
    #[serde(default)]
    pub parent_id: Option<String>,
    pub topics: Vec<Topic>,
    #[serde(skip)]
    pub raw: serde_json::Value,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    pub name: String,
    pub partitions: Vec<Partition>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Partition {
    pub partition: i32,
    pub start_offset: i64,
    pub end_offset: i64,
    /// Omitted from the JSON when empty.
    #[serde(default)]
    pub segments: Vec<SegmentEntry>,
    #[serde(default)]
    pub gaps: Vec<Gap>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentEntry {
    pub object: String,
    pub first_offset: i64,
    pub last_offset: i64,
    pub records: u64,
    pub offsets_skipped: u64,
    pub min_timestamp: i64,
    pub max_timestamp: i64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Gap {
    pub from: i64,
    pub to: i64,
    pub reason: String,
}

/// Parses `manifest.json`, refusing a checksum mismatch or an unknown `formatVersion`.
pub fn parse(bytes: &[u8]) -> anyhow::Result<Manifest> {
    let text = std::str::from_utf8(bytes).context("manifest is not UTF-8")?;
    let envelope: serde_json::Value = serde_json::from_str(text).context("manifest is not JSON")?;
    let obj = envelope.as_object().context("manifest.json is not an object")?;
    ensure!(
        obj.len() == 2,
        "envelope has fields {:?}, want manifest and sha256",
        obj.keys().collect::<Vec<_>>()
    );
    let claimed = obj.get("sha256").and_then(|v| v.as_str()).context("no sha256")?;
    let compact = manifest_member(&compact(text)?)?;
    let actual = hex::encode(Sha256::digest(compact.as_bytes()));
    ensure!(
        actual == claimed,
        "manifest checksum mismatch: sha256 says {claimed}, content hashes to {actual}"
    );
    let raw = obj.get("manifest").context("no manifest")?.clone();
    let mut m: Manifest = serde_json::from_value(raw.clone()).context("manifest fields")?;
    if !matches!(m.format_version, 1..=4) {
        bail!("unknown formatVersion {}", m.format_version);
    }
    m.raw = raw;
    Ok(m)
}

/// The JSON text with every whitespace outside strings removed: the compact serialization, in
/// the field order and with the string escapes as written.
pub fn compact(text: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for ch in text.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
            out.push(ch);
        } else if !matches!(ch, ' ' | '\t' | '\n' | '\r') {
            out.push(ch);
        }
    }
    ensure!(!in_string, "unterminated string");
    Ok(out)
}

/// The text of the top-level `manifest` member of a compact envelope.
fn manifest_member(compact: &str) -> anyhow::Result<String> {
    let bytes = compact.as_bytes();
    let key = "\"manifest\":";
    // A top-level key sits at depth 1, right after `{` or a `,` of the outer object.
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                if depth == 1
                    && start.is_none()
                    && compact[i..].starts_with(key)
                    && matches!(bytes[i - 1], b'{' | b',')
                {
                    start = Some(i + key.len());
                }
                in_string = true;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if let Some(s) = start
                    && depth == 1
                    && i >= s
                {
                    return Ok(compact[s..=i].to_string());
                }
            }
            _ => {}
        }
    }
    bail!("no manifest object in the envelope")
}

/// Where the offset accounting of a partition fails (format.md "Offset accounting"): segments
/// (first to last offset) and gaps, sorted, cover `[startOffset, endOffset)` from its start to
/// its end without overlap (the first segment may begin below `startOffset`; offsets between
/// two pieces are ones the broker did not return, which [`super::coverage`] checks against the
/// broker), and each segment's counts add up.
pub fn accounting_problems(p: &Partition) -> Vec<String> {
    let mut problems = Vec::new();
    let mut pieces: Vec<(i64, i64, String)> = Vec::new();
    for s in &p.segments {
        if s.first_offset > s.last_offset {
            problems.push(format!("segment {} runs backwards", s.object));
            continue;
        }
        let span = (s.last_offset - s.first_offset + 1) as u64;
        if s.records == 0 || s.records > span || span - s.records != s.offsets_skipped {
            problems.push(format!(
                "segment {}: {} records and {} skipped over {span} offsets",
                s.object, s.records, s.offsets_skipped
            ));
        }
        pieces.push((s.first_offset, s.last_offset + 1, format!("segment {}", s.object)));
    }
    for g in &p.gaps {
        if g.from >= g.to {
            problems.push(format!("empty gap [{}, {})", g.from, g.to));
        }
        if !matches!(g.reason.as_str(), "RetentionDeleted" | "NotReturned" | "TopicDeleted" | "Erased") {
            problems.push(format!("gap [{}, {}) has unknown reason {}", g.from, g.to, g.reason));
        }
        pieces.push((g.from, g.to, format!("gap [{}, {})", g.from, g.to)));
    }
    pieces.sort_by_key(|p| p.0);
    let mut at = p.start_offset;
    for (i, (from, to, what)) in pieces.iter().enumerate() {
        // Between two pieces there may be offsets the broker did not return (format.md); a
        // piece may never reach back into the one before.
        if i == 0 && !(*from <= at && *to > at) {
            problems.push(format!("{what} does not hold the range start {at}"));
        } else if i > 0 && *from < at {
            problems.push(format!("{what} overlaps the piece before, which ends at {at}"));
        }
        at = *to;
    }
    if p.start_offset != p.end_offset && at != p.end_offset {
        problems.push(format!("accounted up to {at}, range ends at {}", p.end_offset));
    }
    if p.start_offset == p.end_offset && !pieces.is_empty() {
        problems.push("empty range with segments or gaps".into());
    }
    problems
}

/// Checks what the manifest says of a segment against the object and its decoded content.
pub fn check_segment_entry(entry: &SegmentEntry, object: &[u8], segment: &Segment) -> anyhow::Result<()> {
    let what = &entry.object;
    let sha = hex::encode(Sha256::digest(object));
    ensure!(sha == entry.sha256, "{what}: object hashes to {sha}, manifest says {}", entry.sha256);
    ensure!(
        entry.stored_bytes == object.len() as u64,
        "{what}: storedBytes {} but the object has {} bytes",
        entry.stored_bytes,
        object.len()
    );
    let raw: u64 = segment.blocks.iter().map(|b| u64::from(b.raw_len)).sum();
    ensure!(
        entry.raw_bytes == raw,
        "{what}: rawBytes {} but the blocks' raw-len add up to {raw}",
        entry.raw_bytes
    );
    let first = segment.first_offset().context("segment without records")?;
    let last = segment.last_offset().context("segment without records")?;
    ensure!(
        (entry.first_offset, entry.last_offset) == (first, last),
        "{what}: manifest says offsets {}..={}, segment holds {first}..={last}",
        entry.first_offset,
        entry.last_offset
    );
    ensure!(
        entry.records == segment.records.len() as u64,
        "{what}: records {} but {} decoded",
        entry.records,
        segment.records.len()
    );
    ensure!(
        entry.offsets_skipped == segment.trailer.offsets_skipped,
        "{what}: offsetsSkipped {} but the trailer says {}",
        entry.offsets_skipped,
        segment.trailer.offsets_skipped
    );
    let min = segment.records.iter().map(|r| r.timestamp).min().unwrap_or_default();
    let max = segment.records.iter().map(|r| r.timestamp).max().unwrap_or_default();
    ensure!(
        (entry.min_timestamp, entry.max_timestamp) == (min, max),
        "{what}: timestamps {}..{} but records span {min}..{max}",
        entry.min_timestamp,
        entry.max_timestamp
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(first: i64, last: i64, records: u64) -> SegmentEntry {
        SegmentEntry {
            object: format!("s{first}"),
            first_offset: first,
            last_offset: last,
            records,
            offsets_skipped: (last - first + 1) as u64 - records,
            min_timestamp: 0,
            max_timestamp: 0,
            raw_bytes: 0,
            stored_bytes: 0,
            sha256: String::new(),
        }
    }

    fn partition(start: i64, end: i64, segments: Vec<SegmentEntry>, gaps: Vec<(i64, i64)>) -> Partition {
        let gaps =
            gaps.into_iter().map(|(from, to)| Gap { from, to, reason: "NotReturned".into() }).collect();
        Partition { partition: 0, start_offset: start, end_offset: end, segments, gaps }
    }

    #[test]
    fn accounting_per_the_doc() {
        // Sound: a gap, then segments with an unreturned offset between them.
        assert!(
            accounting_problems(&partition(0, 20, vec![seg(5, 9, 5), seg(11, 19, 9)], vec![(0, 5)]))
                .is_empty()
        );
        // The first segment may begin below the start, but must reach it.
        assert!(accounting_problems(&partition(3, 10, vec![seg(0, 9, 10)], vec![])).is_empty());
        assert!(!accounting_problems(&partition(3, 10, vec![seg(0, 1, 2), seg(4, 9, 6)], vec![])).is_empty());
        // Start not covered, end not reached, overlap, counts that do not add up.
        assert!(!accounting_problems(&partition(0, 10, vec![seg(1, 9, 9)], vec![])).is_empty());
        assert!(!accounting_problems(&partition(0, 10, vec![seg(0, 8, 9)], vec![])).is_empty());
        assert!(!accounting_problems(&partition(0, 10, vec![seg(0, 5, 6)], vec![(5, 10)])).is_empty());
        let mut bad = seg(0, 9, 10);
        bad.offsets_skipped = 1;
        assert!(!accounting_problems(&partition(0, 10, vec![bad], vec![])).is_empty());
    }
}
