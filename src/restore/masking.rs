//! Masking on restore (`spec.masking`, Enterprise feature `masking`): the rules applied to each
//! record as it leaves the backup ([`super::source::RecordSource`]), before anything else sees
//! it. So what is written, what a resumed run reads back and compares
//! ([`super::target::same_record`]), and what a repartitioned topic places by (the masked key)
//! are the same bytes on every run: every action is deterministic — no salt, no randomness, the
//! hash keyed only by the Secret's bytes.
//!
//! - Only what a rule selects changes. A JSON node is replaced in the original text
//!   ([`locate`] finds its bytes), so the rest of the value stays byte for byte as backed up —
//!   whitespace, key order, number spelling — and a value no rule changes is not copied at all.
//! - `hash` is HMAC-SHA-256 (hex) of the content: a JSON string's characters, any other JSON
//!   node's compact text, a whole key, value or header's bytes. The same content gives the same
//!   hash in every topic, field and restore under the same key, so masked fields still join.
//! - `formatPreserving: email` keeps the domain and replaces the local part by the first 16 hex
//!   characters of that hash. Not FF1 (the `fpe` crate): FF1 needs a fixed alphabet and a
//!   domain of at least a million values, and email local parts are neither; a keyed hash keeps
//!   the shape and the joins, and is one-way.
//! - A record a rule cannot read as it expects follows `onParseError`: `fail` names the topic,
//!   partition, offset and rule; `skip` leaves it out (the source never yields it, so consumer
//!   offsets translate to the next restored record, as across a compaction gap); `pass` writes
//!   the record as backed up, unmasked.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json_path::{JsonPath, NormalizedPath, PathElement};

use crate::api::masking::{FormatPreserving, MaskAction, MaskTarget, MaskingRule, OnParseError};
use crate::format::record::Record;

/// A hash key shorter than this makes hashes guessable by trying keys: refused.
const MIN_KEY_BYTES: usize = 16;

/// Hex characters of the hash that replace an email's local part.
const EMAIL_LOCAL_HEX: usize = 16;

/// `spec.masking` as the restore Job is told it: the rules, the policy, and the hash key as a
/// mounted file (never the key itself).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaskingConfig {
    pub rules: Vec<MaskingRule>,
    #[serde(default)]
    pub on_parse_error: OnParseError,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_key_file: Option<PathBuf>,
}

/// What masking did in a run, for the result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaskingReport {
    /// Records at least one rule changed.
    pub masked: u64,
    /// Records left out (`onParseError: skip`).
    pub skipped: u64,
    /// Records written unmasked (`onParseError: pass`).
    pub passed: u64,
}

struct Compiled {
    /// `spec.masking.rules[i]`, for messages.
    field: String,
    topics: Vec<regex::Regex>,
    target: MaskTarget,
    name: Option<String>,
    path: Option<JsonPath>,
    action: MaskAction,
    value: Option<String>,
    email: bool,
}

#[derive(Default)]
struct Counts {
    masked: AtomicU64,
    skipped: AtomicU64,
    passed: AtomicU64,
}

/// The compiled rules of a run, shared by its partitions.
pub struct Masker {
    rules: Vec<Arc<Compiled>>,
    policy: OnParseError,
    key: Option<Arc<[u8]>>,
    counts: Arc<Counts>,
}

impl Masker {
    /// Compiles the rules and reads the hash key; a problem names the rule's field.
    pub fn new(config: &MaskingConfig) -> anyhow::Result<Self> {
        let key = match &config.hash_key_file {
            Some(file) => {
                let key = std::fs::read(file)
                    .with_context(|| format!("reading the masking hash key from {}", file.display()))?;
                anyhow::ensure!(
                    key.len() >= MIN_KEY_BYTES,
                    "the masking hash key (spec.masking.hashKeySecret) has {} bytes: use at least {MIN_KEY_BYTES} \
                     random bytes, or anyone could find it by trying keys against the hashes",
                    key.len()
                );
                Some(Arc::from(key))
            }
            None => None,
        };
        Self::with_key(config, key)
    }

    fn with_key(config: &MaskingConfig, key: Option<Arc<[u8]>>) -> anyhow::Result<Self> {
        let mut rules = Vec::new();
        for (i, rule) in config.rules.iter().enumerate() {
            let field = format!("spec.masking.rules[{i}]");
            let topics = rule
                .topics
                .iter()
                .map(|t| regex::Regex::new(&format!("^(?:{t})$")))
                .collect::<Result<_, _>>()
                .with_context(|| format!("{field}.topics"))?;
            let path = match &rule.json_path {
                Some(p) => Some(JsonPath::parse(p).with_context(|| format!("{field}.jsonPath `{p}`"))?),
                None => None,
            };
            anyhow::ensure!(
                rule.action != MaskAction::Hash || key.is_some(),
                "{field} hashes and no key was given: set spec.masking.hashKeySecret"
            );
            rules.push(Arc::new(Compiled {
                field,
                topics,
                target: rule.target,
                name: rule.name.clone(),
                path,
                action: rule.action,
                value: rule.value.clone(),
                email: rule.format_preserving == Some(FormatPreserving::Email),
            }));
        }
        Ok(Self { rules, policy: config.on_parse_error, key, counts: Arc::default() })
    }

    /// The rules that apply to the backed-up topic `topic`; `None` when none does, so its records
    /// pass untouched without a look.
    pub fn for_topic(&self, topic: &str, partition: i32) -> Option<TopicMasker> {
        let rules: Vec<Arc<Compiled>> = self
            .rules
            .iter()
            .filter(|r| r.topics.is_empty() || r.topics.iter().any(|t| t.is_match(topic)))
            .cloned()
            .collect();
        (!rules.is_empty()).then(|| TopicMasker {
            rules,
            policy: self.policy,
            key: self.key.clone(),
            counts: self.counts.clone(),
            name: format!("{topic}/{partition}"),
        })
    }

    pub fn report(&self) -> MaskingReport {
        MaskingReport {
            masked: self.counts.masked.load(Ordering::Relaxed),
            skipped: self.counts.skipped.load(Ordering::Relaxed),
            passed: self.counts.passed.load(Ordering::Relaxed),
        }
    }
}

/// The rules of one partition's topic.
pub struct TopicMasker {
    rules: Vec<Arc<Compiled>>,
    policy: OnParseError,
    key: Option<Arc<[u8]>>,
    counts: Arc<Counts>,
    /// `topic/partition` of the backup, for messages.
    name: String,
}

/// Why a rule could not read a record.
#[derive(Debug)]
struct ParseError(String);

impl TopicMasker {
    /// Masks `record` in place. `Ok(false)`: the record is to be left out (`skip`).
    pub fn apply(&self, record: &mut Record) -> anyhow::Result<bool> {
        let original = (self.policy == OnParseError::Pass).then(|| record.clone());
        let mut changed = false;
        let mut at = 0;
        while at < self.rules.len() {
            let end = self.shared_run_end(at);
            let result = match end - at {
                1 => self.rule(&self.rules[at], record).map_err(|e| (0, e)),
                _ => self.shared(&self.rules[at..end], record),
            };
            let failed = at;
            at = end;
            match result {
                Ok(c) => changed |= c,
                Err((k, ParseError(why))) => {
                    let rule = &self.rules[failed + k];
                    return match self.policy {
                        OnParseError::Fail => anyhow::bail!(
                            "{} offset {}: masking rule {} cannot read the record: {why}; fix the rule, or set \
                             spec.masking.onParseError to skip (leave such records out) or pass (restore them \
                             unmasked)",
                            self.name,
                            record.offset,
                            rule.field
                        ),
                        OnParseError::Skip => {
                            self.counts.skipped.fetch_add(1, Ordering::Relaxed);
                            Ok(false)
                        }
                        OnParseError::Pass => {
                            if let Some(o) = original {
                                *record = o;
                            }
                            self.counts.passed.fetch_add(1, Ordering::Relaxed);
                            Ok(true)
                        }
                    };
                }
            }
        }
        if changed {
            self.counts.masked.fetch_add(1, Ordering::Relaxed);
        }
        Ok(true)
    }

    /// The end of the run of rules from `from` that can share one parse of the record: JSONPath
    /// rules in a row on the key, or on the value (at least `from + 1`).
    fn shared_run_end(&self, from: usize) -> usize {
        let json_on = |r: &Compiled, target: MaskTarget| {
            r.path.is_some() && r.target == target && matches!(target, MaskTarget::Key | MaskTarget::Value)
        };
        let target = self.rules[from].target;
        let mut end = from + 1;
        if json_on(&self.rules[from], target) {
            while end < self.rules.len() && json_on(&self.rules[end], target) {
                end += 1;
            }
        }
        end
    }

    /// Applies a run of JSONPath rules on the key or the value with one parse: each rule's edits
    /// are found in the same parsed value and spliced into the text at once. Only when the
    /// rules' selections overlap (one rule would see another's output) are they applied one
    /// after the other, as written. Whether anything changed; a parse error names the rule (by
    /// its index in `rules`) that could not read the record.
    fn shared(&self, rules: &[Arc<Compiled>], record: &mut Record) -> Result<bool, (usize, ParseError)> {
        let (bytes, what) = match rules[0].target {
            MaskTarget::Key => (&mut record.key, "key"),
            _ => (&mut record.value, "value"),
        };
        let Some(input) = bytes.as_ref() else { return Ok(false) };
        let value: serde_json::Value = serde_json::from_slice(input)
            .map_err(|e| (0, ParseError(format!("the {what} is not JSON ({e})"))))?;
        let mut edits: Vec<(Range<usize>, String, usize)> = Vec::new();
        for (k, rule) in rules.iter().enumerate() {
            let Some(path) = &rule.path else { continue };
            let found = self.json_edits(rule, path, &value, input, what).map_err(|e| (k, e))?;
            edits.extend(found.into_iter().map(|(span, text)| (span, text, k)));
        }
        edits.sort_by(|a, b| a.0.start.cmp(&b.0.start).then(b.0.end.cmp(&a.0.end)));
        // JSON nodes nest or stand apart: a selection inside an outer one of another rule is an
        // overlap (that rule would have seen the other's output).
        let mut outer: Option<(usize, usize)> = None;
        let crossed = edits.iter().any(|(span, _, k)| match outer {
            Some((end, rule)) if span.start < end => rule != *k,
            _ => {
                outer = Some((span.end, *k));
                false
            }
        });
        if crossed {
            let mut changed = false;
            for (k, rule) in rules.iter().enumerate() {
                changed |= self.rule(rule, record).map_err(|e| (k, e))?;
            }
            return Ok(changed);
        }
        if edits.is_empty() {
            return Ok(false);
        }
        let new = splice(input, edits.into_iter().map(|(span, text, _)| (span, text)).collect());
        if new == input[..] {
            return Ok(false);
        }
        *bytes = Some(Bytes::from(new));
        Ok(true)
    }

    /// Applies one rule; whether it changed anything.
    fn rule(&self, rule: &Compiled, record: &mut Record) -> Result<bool, ParseError> {
        match rule.target {
            MaskTarget::Key => self.field(rule, &mut record.key, "key"),
            MaskTarget::Value => self.field(rule, &mut record.value, "value"),
            MaskTarget::Header => {
                let name = rule.name.as_deref().unwrap_or_default();
                if rule.action == MaskAction::Drop {
                    let before = record.headers.len();
                    record.headers.retain(|h| h.key != name);
                    return Ok(record.headers.len() != before);
                }
                let mut changed = false;
                for h in record.headers.iter_mut().filter(|h| h.key == name) {
                    changed |= self.field(rule, &mut h.value, "header")?;
                }
                Ok(changed)
            }
        }
    }

    /// Masks a key, value or header value; a null one stays null.
    fn field(&self, rule: &Compiled, bytes: &mut Option<Bytes>, what: &str) -> Result<bool, ParseError> {
        let Some(input) = bytes.as_ref() else { return Ok(false) };
        let new = match &rule.path {
            None => self.whole(rule, input, what)?,
            Some(path) => self.json(rule, path, input, what)?,
        };
        match new {
            Some(new) if new != input[..] => {
                *bytes = Some(Bytes::from(new));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn whole(&self, rule: &Compiled, input: &[u8], what: &str) -> Result<Option<Vec<u8>>, ParseError> {
        Ok(Some(match rule.action {
            MaskAction::Redact => Vec::new(),
            MaskAction::Replace => rule.value.clone().unwrap_or_default().into_bytes(),
            MaskAction::Hash if rule.email => {
                let text = std::str::from_utf8(input)
                    .map_err(|_| ParseError(format!("the {what} is not UTF-8 text, so not an email")))?;
                self.email(text)
                    .ok_or_else(|| ParseError(format!("the {what} is not an email")))?
                    .into_bytes()
            }
            MaskAction::Hash => self.hash(input).into_bytes(),
            MaskAction::Drop => return Ok(None),
        }))
    }

    fn json(
        &self,
        rule: &Compiled,
        path: &JsonPath,
        input: &[u8],
        what: &str,
    ) -> Result<Option<Vec<u8>>, ParseError> {
        let value: serde_json::Value =
            serde_json::from_slice(input).map_err(|e| ParseError(format!("the {what} is not JSON ({e})")))?;
        let edits = self.json_edits(rule, path, &value, input, what)?;
        if edits.is_empty() {
            return Ok(None);
        }
        Ok(Some(splice(input, edits)))
    }

    /// Where in `input` (parsed as `value`) `rule` replaces what, by byte range.
    fn json_edits(
        &self,
        rule: &Compiled,
        path: &JsonPath,
        value: &serde_json::Value,
        input: &[u8],
        what: &str,
    ) -> Result<Vec<(Range<usize>, String)>, ParseError> {
        let nodes = path.query_located(value);
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        for node in nodes.iter() {
            let Some(span) = locate(input, node.location()) else {
                return Err(ParseError(format!(
                    "{} of the {what} could not be found in its text (duplicate object keys?)",
                    node.location()
                )));
            };
            let text = match rule.action {
                MaskAction::Redact => "null".to_string(),
                MaskAction::Replace => json_string(rule.value.as_deref().unwrap_or_default()),
                MaskAction::Hash => {
                    let content = match node.node() {
                        serde_json::Value::String(s) => s.clone(),
                        other if !rule.email => other.to_string(),
                        _ => {
                            return Err(ParseError(format!(
                                "{} of the {what} is not a string, so not an email",
                                node.location()
                            )));
                        }
                    };
                    let hashed = match rule.email {
                        true => self.email(&content).ok_or_else(|| {
                            ParseError(format!("{} of the {what} is not an email", node.location()))
                        })?,
                        false => self.hash(content.as_bytes()),
                    };
                    json_string(&hashed)
                }
                MaskAction::Drop => return Ok(Vec::new()),
            };
            edits.push((span, text));
        }
        Ok(edits)
    }

    /// Hex HMAC-SHA-256 of `content` under the run's key.
    fn hash(&self, content: &[u8]) -> String {
        let key = self.key.as_deref().unwrap_or_default();
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(key) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(content);
        hex::encode(mac.finalize().into_bytes())
    }

    /// `local@domain` with the local part replaced by the hash of the whole address; `None` for
    /// text that is not an email.
    fn email(&self, text: &str) -> Option<String> {
        let (local, domain) = text.rsplit_once('@')?;
        let plausible = !local.is_empty()
            && !domain.is_empty()
            && domain.contains('.')
            && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        plausible.then(|| format!("{}@{domain}", &self.hash(text.as_bytes())[..EMAIL_LOCAL_HEX]))
    }
}

/// `input` with each range replaced by its text. Outermost first where selections nest (`$..*`):
/// a node inside one already replaced goes with it.
fn splice(input: &[u8], mut edits: Vec<(Range<usize>, String)>) -> Vec<u8> {
    edits.sort_by(|a, b| a.0.start.cmp(&b.0.start).then(b.0.end.cmp(&a.0.end)));
    let mut out = Vec::with_capacity(input.len() + edits.len() * 64);
    let mut at = 0;
    for (span, text) in edits {
        if span.start < at {
            continue;
        }
        out.extend_from_slice(&input[at..span.start]);
        out.extend_from_slice(text.as_bytes());
        at = span.end;
    }
    out.extend_from_slice(&input[at..]);
    out
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn skip_ws(raw: &[u8], mut i: usize) -> usize {
    while matches!(raw.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end of the string starting at `i` (a `"`), after its closing quote.
fn skip_string(raw: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match raw.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The end of the JSON value starting at `i`.
fn skip_value(raw: &[u8], i: usize) -> Option<usize> {
    match raw.get(i)? {
        b'"' => skip_string(raw, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match raw.get(j)? {
                    b'"' => {
                        j = skip_string(raw, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while !matches!(raw.get(j), None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')) {
                j += 1;
            }
            Some(j)
        }
    }
}

/// The bytes of the node at `path` in the JSON text `raw` (text that parsed). Of duplicate object
/// keys the last counts, as for the parsed value.
fn locate(raw: &[u8], path: &NormalizedPath<'_>) -> Option<Range<usize>> {
    let mut at = skip_ws(raw, 0);
    for element in path.iter() {
        match (raw.get(at)?, element) {
            (b'{', PathElement::Name(name)) => {
                let mut i = skip_ws(raw, at + 1);
                let mut found = None;
                while raw.get(i)? != &b'}' {
                    let end = skip_string(raw, i)?;
                    let key = &raw[i..end];
                    let same = if key.contains(&b'\\') {
                        serde_json::from_slice::<String>(key).ok()? == *name
                    } else {
                        &key[1..key.len() - 1] == name.as_bytes()
                    };
                    i = skip_ws(raw, end);
                    if raw.get(i)? != &b':' {
                        return None;
                    }
                    i = skip_ws(raw, i + 1);
                    if same {
                        found = Some(i);
                    }
                    i = skip_ws(raw, skip_value(raw, i)?);
                    if raw.get(i)? == &b',' {
                        i = skip_ws(raw, i + 1);
                    }
                }
                at = found?;
            }
            (b'[', PathElement::Index(n)) => {
                let mut i = skip_ws(raw, at + 1);
                let mut k = 0;
                loop {
                    if raw.get(i)? == &b']' {
                        return None;
                    }
                    if k == *n {
                        break;
                    }
                    i = skip_ws(raw, skip_value(raw, i)?);
                    if raw.get(i)? == &b',' {
                        i = skip_ws(raw, i + 1);
                    }
                    k += 1;
                }
                at = i;
            }
            _ => return None,
        }
    }
    Some(at..skip_value(raw, at)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::{Header, TimestampType};

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn masker(yaml: &str) -> Masker {
        let config: MaskingConfig = serde_yaml_ng::from_str(yaml).expect("config");
        Masker::with_key(&config, Some(Arc::from(KEY))).expect("rules")
    }

    fn record(key: Option<&str>, value: Option<&str>, headers: &[(&str, Option<&str>)]) -> Record {
        Record {
            offset: 7,
            timestamp: 1_700_000_000_123,
            timestamp_type: TimestampType::CreateTime,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                })
                .collect(),
        }
    }

    fn masked(m: &Masker, mut r: Record) -> Record {
        let t = m.for_topic("orders", 0).expect("rules for orders");
        assert!(t.apply(&mut r).expect("masked"));
        r
    }

    fn value(r: &Record) -> &str {
        std::str::from_utf8(r.value.as_deref().unwrap_or_default()).unwrap_or("<not utf-8>")
    }

    fn hmac_hex(content: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY).expect("key");
        mac.update(content.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn redact_nulls_json_nodes_and_keeps_every_other_byte() {
        let m = masker("rules: [{target: value, jsonPath: '$.customer.name', action: redact}]");
        let v = "{ \"id\" : 1.50,\n  \"customer\": {\"name\": \"Ann \\\"A\\\"\", \"tier\":\"gold\"}, \"n\":[1, 2] }";
        let r = masked(&m, record(Some("k"), Some(v), &[("trace", Some("t1"))]));
        assert_eq!(
            value(&r),
            "{ \"id\" : 1.50,\n  \"customer\": {\"name\": null, \"tier\":\"gold\"}, \"n\":[1, 2] }"
        );
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.headers, record(None, None, &[("trace", Some("t1"))]).headers);
        assert_eq!((r.offset, r.timestamp), (7, 1_700_000_000_123));
    }

    #[test]
    fn replace_writes_a_json_string_or_the_whole_bytes() {
        let m = masker(
            "rules: [{target: value, jsonPath: '$.items[*].card', action: replace, value: 'XXXX'}, \
             {target: key, action: replace, value: anon}]",
        );
        let r = masked(
            &m,
            record(Some("alice"), Some(r#"{"items":[{"card":"4111"},{"card":5500},{"x":1}]}"#), &[]),
        );
        assert_eq!(value(&r), r#"{"items":[{"card":"XXXX"},{"card":"XXXX"},{"x":1}]}"#);
        assert_eq!(r.key.as_deref(), Some(&b"anon"[..]));
    }

    #[test]
    fn hash_is_keyed_deterministic_and_joins_across_keys_values_and_topics() {
        let m = masker(
            "rules: [{target: value, jsonPath: '$..email', action: hash}, {target: key, action: hash}, \
             {target: header, name: user, action: hash}]",
        );
        let r = masked(
            &m,
            record(
                Some("ann@example.com"),
                Some(r#"{"email":"ann@example.com","n":{"email":42}}"#),
                &[("user", Some("ann@example.com"))],
            ),
        );
        let h = hmac_hex("ann@example.com");
        assert_eq!(value(&r), format!(r#"{{"email":"{h}","n":{{"email":"{}"}}}}"#, hmac_hex("42")));
        assert_eq!(r.key.as_deref(), Some(h.as_bytes()), "a key hashes as its value field does: joins work");
        assert_eq!(r.headers[0].value.as_deref(), Some(h.as_bytes()));
        let again = m.for_topic("payments", 3).expect("every topic");
        let mut other = record(Some("ann@example.com"), None, &[]);
        assert!(again.apply(&mut other).expect("masked"));
        assert_eq!(other.key, r.key, "the same in another topic and partition");
        let other_key = Masker::with_key(
            &serde_yaml_ng::from_str("rules: [{target: key, action: hash}]").expect("config"),
            Some(Arc::from(&b"another key, also 32 bytes long!"[..])),
        )
        .expect("rules");
        assert_ne!(masked(&other_key, record(Some("ann@example.com"), None, &[])).key, r.key);
    }

    #[test]
    fn format_preserving_email_keeps_the_domain() {
        let m =
            masker("rules: [{target: value, jsonPath: '$.email', action: hash, formatPreserving: email}]");
        let r = masked(&m, record(None, Some(r#"{"email": "ann.lee@example.com"}"#), &[]));
        let local = &hmac_hex("ann.lee@example.com")[..16];
        assert_eq!(value(&r), format!(r#"{{"email": "{local}@example.com"}}"#));
        let whole = masker("rules: [{target: key, action: hash, formatPreserving: email}]");
        assert_eq!(
            masked(&whole, record(Some("ann.lee@example.com"), None, &[])).key.as_deref(),
            Some(format!("{local}@example.com").as_bytes())
        );
    }

    #[test]
    fn whole_redact_empties_and_never_makes_a_tombstone() {
        let m = masker("rules: [{target: value, action: redact}, {target: key, action: redact}]");
        let r = masked(&m, record(Some("k"), Some("secret"), &[]));
        assert_eq!((r.key.as_deref(), r.value.as_deref()), (Some(&b""[..]), Some(&b""[..])));
        let tombstone = masked(&m, record(Some("k"), None, &[]));
        assert_eq!(tombstone.value, None, "a tombstone stays a tombstone");
        let keyless = masked(&m, record(None, Some("v"), &[]));
        assert_eq!(keyless.key, None, "a null key stays null");
    }

    #[test]
    fn drop_removes_every_header_of_the_name_and_only_those() {
        let m = masker(
            "rules: [{target: header, name: pii, action: drop}, {target: header, name: tok, jsonPath: '$.t', action: redact}]",
        );
        let r = masked(
            &m,
            record(
                None,
                Some("v"),
                &[("a", Some("1")), ("pii", Some("x")), ("tok", Some(r#"{"t":"s","u":1}"#)), ("pii", None)],
            ),
        );
        assert_eq!(
            r.headers,
            record(None, None, &[("a", Some("1")), ("tok", Some(r#"{"t":null,"u":1}"#))]).headers
        );
    }

    #[test]
    fn a_record_no_rule_changes_is_not_copied_and_topics_select() {
        let m = masker(
            "rules: [{topics: ['orders', 'pay.*'], target: value, jsonPath: '$.email', action: redact}]",
        );
        assert!(m.for_topic("customers", 0).is_none(), "no rule: nothing looks at the records");
        assert!(m.for_topic("payments", 0).is_some());
        let original = record(Some("k"), Some(r#"{"other": 1}"#), &[]);
        let r = masked(&m, original.clone());
        assert_eq!(r, original);
        assert_eq!(
            r.value.as_ref().map(|b| b.as_ptr()),
            original.value.as_ref().map(|b| b.as_ptr()),
            "same buffer"
        );
        assert_eq!(m.report(), MaskingReport::default());
    }

    #[test]
    fn parse_errors_follow_the_policy() {
        let rules = "rules: [{target: header, name: h, action: drop}, {target: value, jsonPath: '$.email', action: redact}]";
        let not_json = || record(Some("k"), Some("plain text"), &[("h", Some("x"))]);
        let fail = masker(rules);
        let err = fail.for_topic("orders", 2).expect("rules").apply(&mut not_json()).expect_err("fail");
        let text = format!("{err:#}");
        assert!(
            text.contains("orders/2 offset 7")
                && text.contains("spec.masking.rules[1]")
                && text.contains("not JSON"),
            "{text}"
        );

        let skip = masker(&format!("onParseError: skip\n{rules}"));
        assert!(!skip.for_topic("orders", 0).expect("rules").apply(&mut not_json()).expect("skip"));
        assert_eq!(skip.report().skipped, 1);

        let pass = masker(&format!("onParseError: pass\n{rules}"));
        let mut r = not_json();
        assert!(pass.for_topic("orders", 0).expect("rules").apply(&mut r).expect("pass"));
        assert_eq!(r, not_json(), "written as backed up: the header rule before it is undone too");
        assert_eq!(pass.report(), MaskingReport { masked: 0, skipped: 0, passed: 1 });

        let email = masker("rules: [{target: key, action: hash, formatPreserving: email}]");
        let err = email.for_topic("orders", 0).expect("rules").apply(&mut record(Some("bob"), None, &[]));
        assert!(format!("{:#}", err.expect_err("not an email")).contains("not an email"));
    }

    /// Each rule alone, one after the other: what a run of rules sharing one parse must equal.
    fn one_by_one(yaml_rules: &[&str], r: &Record) -> Record {
        let mut out = r.clone();
        for rule in yaml_rules {
            let m = masker(&format!("rules: [{rule}]"));
            if let Some(t) = m.for_topic("orders", 0) {
                assert!(t.apply(&mut out).expect("masks"));
            }
        }
        out
    }

    #[test]
    fn rules_sharing_one_parse_give_what_they_give_one_after_the_other() {
        let text = r#"{"email": "ann@example.com", "card": {"pan": "4111", "exp": "12/29"}, "name":  "Ann", "n": 7}"#;
        let sets: [&[&str]; 4] = [
            // Apart: one parse, edits spliced at once.
            &[
                "{target: value, jsonPath: '$.email', action: hash, formatPreserving: email}",
                "{target: value, jsonPath: '$.card.pan', action: redact}",
                "{target: value, jsonPath: '$.name', action: replace, value: X}",
            ],
            // The same node twice: the second hashes the first's hash.
            &[
                "{target: value, jsonPath: '$.name', action: hash}",
                "{target: value, jsonPath: '$.name', action: hash}",
            ],
            // Inside another's selection, both orders: the outer one's hash is of the changed text.
            &[
                "{target: value, jsonPath: '$.card.pan', action: redact}",
                "{target: value, jsonPath: '$.card', action: hash}",
            ],
            &[
                "{target: value, jsonPath: '$.card', action: redact}",
                "{target: value, jsonPath: '$.card.exp', action: hash}",
            ],
        ];
        for rules in sets {
            let r = record(Some("k"), Some(text), &[]);
            let together = masked(&masker(&format!("rules: [{}]", rules.join(", "))), r.clone());
            assert_eq!(together, one_by_one(rules, &r), "{rules:?}");
            assert_ne!(value(&together), text, "{rules:?}");
        }
    }

    #[test]
    fn a_rule_in_a_shared_run_that_cannot_read_the_record_is_named() {
        let rules = "rules: [{target: value, jsonPath: '$.a', action: redact}, \
                     {target: value, jsonPath: '$.b', action: hash, formatPreserving: email}]";
        let err = masker(rules)
            .for_topic("orders", 1)
            .expect("rules")
            .apply(&mut record(Some("k"), Some(r#"{"a": 1, "b": 2}"#), &[]))
            .expect_err("b is no email");
        let text = format!("{err:#}");
        assert!(text.contains("spec.masking.rules[1]") && text.contains("not a string"), "{text}");
    }

    #[test]
    fn located_nodes_are_the_parsed_ones() {
        let raw =
            br#" {"a": [ {"b": "x,]}"}, [1, {"c": true}] ], "a\u0062": 2, "d": {"d": 3}, "d": {"d": 4}} "#;
        let value: serde_json::Value = serde_json::from_slice(raw).expect("json");
        for path in ["$.a[0].b", "$.a[1][1].c", "$.ab", "$.d.d", "$..*", "$.a[1]", "$"] {
            let p = JsonPath::parse(path).expect("path");
            for node in p.query_located(&value).iter() {
                let span =
                    locate(raw, node.location()).unwrap_or_else(|| panic!("{path}: {}", node.location()));
                let found: serde_json::Value = serde_json::from_slice(&raw[span]).expect("a value");
                assert_eq!(&found, node.node(), "{path}: {}", node.location());
            }
        }
    }
}
