//! Which records an erasure removes: exact key bytes, optionally a header value and a time
//! range, in the selected topics. Pure, so the rules are tested without storage.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::format::record::Record;

/// One header a record must carry (name and value, both compared as exact bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderSelector {
    pub name: String,
    pub value: String,
}

/// Records whose timestamp lies in `[from, to)` (RFC 3339; either end may be open).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// The keys as the config gives them: text, base64, or files of one key per line (a mounted
/// Secret or ConfigMap key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySources {
    /// Keys as UTF-8 text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Keys as base64 (for keys that are not text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base64_values: Vec<String>,
    /// Files of keys, one per line as UTF-8 text (a trailing `\r` is dropped, empty lines are
    /// skipped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
}

/// A selection that cannot be used; names the field.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("keys.base64Values[{index}]: not base64: {error}")]
    Base64 { index: usize, error: String },
    #[error("keys.files: reading {file}: {error}")]
    File { file: String, error: String },
    #[error("timeRange.{field}: `{value}` is not an RFC 3339 time")]
    Time { field: &'static str, value: String },
    #[error("timeRange: `from` must be before `to`")]
    EmptyRange,
    #[error("topics: name at least one topic")]
    NoTopics,
    #[error(
        "keys, headers: give at least one key or header to select records by (an erasure never selects whole topics)"
    )]
    NothingSelected,
}

/// The compiled selection.
#[derive(Clone, Debug)]
pub struct Selection {
    pub topics: BTreeSet<String>,
    keys: HashSet<Bytes>,
    headers: Vec<HeaderSelector>,
    from: Option<i64>,
    to: Option<i64>,
    /// SHA-256 over the whole selection: a rerun under the same erasure id must select the same.
    pub digest: String,
}

fn millis(field: &'static str, value: &Option<String>) -> Result<Option<i64>, SelectError> {
    value
        .as_deref()
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis())
                .map_err(|_| SelectError::Time { field, value: v.to_string() })
        })
        .transpose()
}

/// The keys of a file: one per line.
pub fn keys_of_text(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l)).filter(|l| !l.is_empty())
}

impl Selection {
    pub fn new(
        topics: &[String],
        keys: &KeySources,
        headers: &[HeaderSelector],
        time_range: Option<&TimeRange>,
    ) -> Result<Self, SelectError> {
        let mut set: HashSet<Bytes> =
            keys.values.iter().map(|v| Bytes::copy_from_slice(v.as_bytes())).collect();
        for (index, v) in keys.base64_values.iter().enumerate() {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .map_err(|e| SelectError::Base64 { index, error: e.to_string() })?;
            set.insert(Bytes::from(raw));
        }
        for file in &keys.files {
            let text = std::fs::read_to_string(file)
                .map_err(|e| SelectError::File { file: file.display().to_string(), error: e.to_string() })?;
            set.extend(keys_of_text(&text).map(|k| Bytes::copy_from_slice(k.as_bytes())));
        }
        Self::from_parts(topics, set, headers, time_range)
    }

    /// From the keys as bytes.
    pub fn from_parts(
        topics: &[String],
        keys: HashSet<Bytes>,
        headers: &[HeaderSelector],
        time_range: Option<&TimeRange>,
    ) -> Result<Self, SelectError> {
        if topics.is_empty() {
            return Err(SelectError::NoTopics);
        }
        if keys.is_empty() && headers.is_empty() {
            return Err(SelectError::NothingSelected);
        }
        let none = TimeRange::default();
        let range = time_range.unwrap_or(&none);
        let (from, to) = (millis("from", &range.from)?, millis("to", &range.to)?);
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(SelectError::EmptyRange);
        }
        let topics: BTreeSet<String> = topics.iter().cloned().collect();
        let mut headers = headers.to_vec();
        headers.sort();
        headers.dedup();
        // The digest names what is selected without holding it: sorted key digests, headers,
        // range and topics.
        let sorted_keys: BTreeSet<String> = keys.iter().map(|k| key_digest(k)).collect();
        let mut h = Sha256::new();
        let canonical = serde_json::json!({
            "topics": topics, "keys": sorted_keys, "headers": headers, "from": from, "to": to,
        });
        h.update(canonical.to_string().as_bytes());
        Ok(Self { topics, keys, headers, from, to, digest: hex::encode(h.finalize()) })
    }

    /// Whether `record` of a selected topic is to be erased: its key is one of the keys (when
    /// keys are given), it carries every header asked for, and its timestamp is in the range.
    pub fn matches(&self, record: &Record) -> bool {
        if !self.keys.is_empty() && !record.key.as_ref().is_some_and(|k| self.keys.contains(k)) {
            return false;
        }
        let has = |want: &HeaderSelector| {
            record
                .headers
                .iter()
                .any(|h| h.key == want.name && h.value.as_deref().is_some_and(|v| v == want.value.as_bytes()))
        };
        if !self.headers.iter().all(has) {
            return false;
        }
        self.from.is_none_or(|f| record.timestamp >= f) && self.to.is_none_or(|t| record.timestamp < t)
    }

    /// The keys selected (for tombstones on the live topics).
    pub fn keys(&self) -> &HashSet<Bytes> {
        &self.keys
    }

    /// How many keys are selected.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
}

/// SHA-256 of a key, lowercase hex: what reports and the journal hold instead of the key.
pub fn key_digest(key: &[u8]) -> String {
    hex::encode(Sha256::digest(key))
}

/// Records removed per topic, summed.
pub fn add_counts(into: &mut BTreeMap<String, u64>, topic: &str, n: u64) {
    if n > 0 {
        *into.entry(topic.to_string()).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::{Header, TimestampType};

    fn record(key: Option<&str>, headers: &[(&str, Option<&str>)], ts: i64) -> Record {
        Record {
            offset: 0,
            timestamp: ts,
            timestamp_type: TimestampType::CreateTime,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::from_static(b"v")),
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: (*k).into(),
                    value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                })
                .collect(),
        }
    }

    fn keys(k: &[&str]) -> HashSet<Bytes> {
        k.iter().map(|k| Bytes::copy_from_slice(k.as_bytes())).collect()
    }

    #[test]
    fn keys_match_exact_bytes_only() {
        let s = Selection::from_parts(&["t".into()], keys(&["alice"]), &[], None).expect("selection");
        assert!(s.matches(&record(Some("alice"), &[], 1)));
        assert!(!s.matches(&record(Some("alice "), &[], 1)));
        assert!(!s.matches(&record(Some("Alice"), &[], 1)));
        assert!(!s.matches(&record(None, &[], 1)), "a null key is no key");
        let empty = Selection::from_parts(&["t".into()], keys(&[""]), &[], None).expect("selection");
        assert!(empty.matches(&record(Some(""), &[], 1)) && !empty.matches(&record(None, &[], 1)));
    }

    #[test]
    fn headers_and_time_range_narrow_the_selection() {
        let h = [HeaderSelector { name: "user".into(), value: "bob".into() }];
        let range = TimeRange {
            from: Some("1970-01-01T00:00:00.010Z".into()),
            to: Some("1970-01-01T00:00:00.020Z".into()),
        };
        let s = Selection::from_parts(&["t".into()], HashSet::new(), &h, Some(&range)).expect("selection");
        assert!(s.matches(&record(Some("x"), &[("a", None), ("user", Some("bob"))], 10)));
        assert!(!s.matches(&record(Some("x"), &[("user", Some("bob"))], 20)), "`to` is exclusive");
        assert!(!s.matches(&record(Some("x"), &[("user", Some("bo"))], 15)));
        assert!(!s.matches(&record(Some("x"), &[("user", None)], 15)));
        assert!(!s.matches(&record(None, &[], 15)));
        let both = Selection::from_parts(&["t".into()], keys(&["k"]), &h, None).expect("selection");
        assert!(both.matches(&record(Some("k"), &[("user", Some("bob"))], 1)));
        assert!(!both.matches(&record(Some("k"), &[], 1)));
        assert!(!both.matches(&record(Some("j"), &[("user", Some("bob"))], 1)));
    }

    #[test]
    fn an_empty_or_wrong_selection_is_refused_naming_the_field() {
        let err = Selection::from_parts(&["t".into()], HashSet::new(), &[], None).expect_err("nothing");
        assert!(err.to_string().starts_with("keys, headers:"), "{err}");
        let err = Selection::from_parts(&[], keys(&["k"]), &[], None).expect_err("no topic");
        assert!(err.to_string().starts_with("topics:"), "{err}");
        let bad = TimeRange { from: Some("yesterday".into()), to: None };
        let err = Selection::from_parts(&["t".into()], keys(&["k"]), &[], Some(&bad)).expect_err("time");
        assert!(err.to_string().starts_with("timeRange.from:"), "{err}");
        let sources = KeySources { base64_values: vec!["!!".into()], ..Default::default() };
        let err = Selection::new(&["t".into()], &sources, &[], None).expect_err("base64");
        assert!(err.to_string().starts_with("keys.base64Values[0]:"), "{err}");
    }

    #[test]
    fn key_files_hold_one_key_per_line_and_the_digest_never_the_keys() {
        assert_eq!(keys_of_text("a\r\n\nb\nc").collect::<Vec<_>>(), ["a", "b", "c"]);
        let a = Selection::from_parts(&["t".into()], keys(&["secret-key"]), &[], None).expect("a");
        let b = Selection::from_parts(&["t".into()], keys(&["other"]), &[], None).expect("b");
        assert_ne!(a.digest, b.digest);
        assert!(!a.digest.contains("secret"));
        assert_eq!(key_digest(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
