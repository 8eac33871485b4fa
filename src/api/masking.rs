//! `KafkaRestore.spec.masking`: rules that change keys, values and headers of restored records
//! on their way into the target (Enterprise, licence feature `masking`), so a production backup
//! can be restored into a development cluster without its personal data. The data plane applies
//! them (`crate::restore::masking`); here are the types and the rules the CRD cannot state
//! ([`problems`]: JSONPath and regexes compile, a hash has its key, a header rule its name).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::SecretKeyRef;
use super::validation::FieldError;

/// Masking of restored records. Rules apply in order, each to the records of the topics it
/// names; a record no rule names is written exactly as backed up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskingSpec {
    /// The rules, applied in this order to every record of the topics each one names.
    #[schemars(length(min = 1))]
    pub rules: Vec<MaskingRule>,
    /// The key of `hash` rules (HMAC-SHA-256): a Secret key in the restore's namespace, mounted
    /// into the restore Job as a file (never an environment variable). Required when a rule
    /// hashes. Keep it: the same key gives the same hashes in every restore and topic, so
    /// masked fields still join; another key gives other hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_key_secret: Option<SecretKeyRef>,
    /// A record a rule cannot read as it expects (not JSON for a `jsonPath` rule, not an email
    /// for `formatPreserving: email`): `fail` stops the restore naming the topic, partition
    /// and offset; `skip` leaves the record out (the result counts it; consumer offsets move to
    /// the next restored record); `pass` writes it unmasked.
    #[serde(default)]
    pub on_parse_error: OnParseError,
}

/// One masking rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskingRule {
    /// Regexes of backed-up (source) topic names, matched in full; empty or absent: every topic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// What the rule changes: the record's `key`, its `value`, or a `header` (named by `name`).
    pub target: MaskTarget,
    /// The header the rule changes (`target: header`): every header of that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An RFC 9535 JSONPath into the key, value or header read as JSON (e.g. `$.customer.email`,
    /// `$..iban`): only the nodes it selects change, every other byte stays as backed up.
    /// Absent: the whole key, value or header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// `redact`: JSON nodes become `null`, a whole key, value or header becomes empty (zero
    /// bytes; a null one stays null — never a new tombstone). `replace`: becomes `value` (a JSON
    /// string in JSON). `hash`: becomes the hex HMAC-SHA-256 of its content under
    /// `hashKeySecret`. `drop`: removes the header (`target: header`, no `jsonPath`).
    pub action: MaskAction,
    /// The replacement of `action: replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// With `action: hash`, keep the value's shape: `email` keeps the domain and replaces the
    /// local part by 16 hex characters of the keyed hash (`3f9a0c1b7e2d4a65@example.com`); a
    /// value that is not an email is a parse error (`onParseError`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_preserving: Option<FormatPreserving>,
}

/// The part of a record a rule changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MaskTarget {
    /// The record's key. Repartitioned topics place records by the masked key.
    Key,
    /// The record's value.
    #[default]
    Value,
    /// Every header named by `name`.
    Header,
}

/// What a rule does to what it selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MaskAction {
    /// JSON nodes become `null`; a whole key, value or header becomes empty.
    #[default]
    Redact,
    /// Becomes `value`.
    Replace,
    /// Becomes the hex HMAC-SHA-256 of its content under `hashKeySecret`.
    Hash,
    /// The header is removed (headers only, no `jsonPath`).
    Drop,
}

/// Shapes a `hash` rule can keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FormatPreserving {
    /// `local@domain`: the domain kept, the local part hashed.
    Email,
}

/// What happens to a record a rule cannot read as it expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnParseError {
    /// The restore fails, naming the topic, partition, offset and rule.
    #[default]
    Fail,
    /// The record is not restored (counted in the result).
    Skip,
    /// The record is written unmasked.
    Pass,
}

/// Problems in `spec.masking` the CRD cannot state, each naming its field and the fix.
pub fn problems(masking: &MaskingSpec) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if masking.rules.is_empty() {
        problems.push(FieldError::new(
            "spec.masking.rules",
            "is empty: add a rule, or leave spec.masking out to restore unmasked",
        ));
    }
    for (i, rule) in masking.rules.iter().enumerate() {
        let at = format!("spec.masking.rules[{i}]");
        for (j, topic) in rule.topics.iter().enumerate() {
            if let Err(e) = regex::Regex::new(&format!("^(?:{topic})$")) {
                problems.push(FieldError::new(
                    format!("{at}.topics[{j}]"),
                    format!("`{topic}` is not a valid regex: {e}"),
                ));
            }
        }
        if let Some(path) = &rule.json_path
            && let Err(e) = serde_json_path::JsonPath::parse(path)
        {
            problems.push(FieldError::new(
                format!("{at}.jsonPath"),
                format!("`{path}` is not an RFC 9535 JSONPath ({e}); e.g. `$.customer.email` or `$..iban`"),
            ));
        }
        match (rule.target, &rule.name) {
            (MaskTarget::Header, None) => problems.push(FieldError::new(
                format!("{at}.name"),
                "target header needs the header's name: set name",
            )),
            (MaskTarget::Header, Some(n)) if n.is_empty() => {
                problems.push(FieldError::new(format!("{at}.name"), "is empty: set the header's name"))
            }
            (MaskTarget::Key | MaskTarget::Value, Some(_)) => problems.push(FieldError::new(
                format!("{at}.name"),
                "names a header: only with target header; remove it or set target: header",
            )),
            _ => {}
        }
        match rule.action {
            MaskAction::Replace if rule.value.is_none() => problems.push(FieldError::new(
                format!("{at}.value"),
                "action replace needs the replacement: set value",
            )),
            MaskAction::Hash if masking.hash_key_secret.is_none() => problems.push(FieldError::new(
                "spec.masking.hashKeySecret",
                format!(
                    "{at} hashes, which needs a key: set hashKeySecret {{name, key}} to a Secret holding it \
                     (e.g. 32 random bytes)"
                ),
            )),
            MaskAction::Drop if rule.target != MaskTarget::Header || rule.json_path.is_some() => problems
                .push(FieldError::new(
                    format!("{at}.action"),
                    "drop removes a header: only with target header and no jsonPath; use redact for keys, \
                     values and JSON fields",
                )),
            _ => {}
        }
        if rule.value.is_some() && rule.action != MaskAction::Replace {
            problems.push(FieldError::new(
                format!("{at}.value"),
                "is the replacement of action replace: remove it or set action: replace",
            ));
        }
        if rule.format_preserving.is_some() && rule.action != MaskAction::Hash {
            problems.push(FieldError::new(
                format!("{at}.formatPreserving"),
                "keeps the shape of a hash: only with action hash",
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masking(yaml: &str) -> MaskingSpec {
        serde_yaml_ng::from_str(yaml).expect("masking")
    }

    #[test]
    fn every_problem_names_its_field_and_the_fix() {
        let m = masking(
            "rules:\n\
             - {topics: ['orders(', 'ok'], target: value, jsonPath: '$.a[', action: redact}\n\
             - {target: header, action: drop}\n\
             - {target: value, action: hash}\n\
             - {target: key, action: drop}\n\
             - {target: value, action: replace}\n\
             - {target: value, action: redact, formatPreserving: email, name: h}\n",
        );
        let found: Vec<String> = problems(&m).iter().map(|p| p.path.clone()).collect();
        assert_eq!(
            found,
            [
                "spec.masking.rules[0].topics[0]",
                "spec.masking.rules[0].jsonPath",
                "spec.masking.rules[1].name",
                "spec.masking.hashKeySecret",
                "spec.masking.rules[3].action",
                "spec.masking.rules[4].value",
                "spec.masking.rules[5].name",
                "spec.masking.rules[5].formatPreserving",
            ]
        );
        let text = problems(&m).iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(text.contains("set hashKeySecret"), "{text}");
        assert!(text.contains("RFC 9535"), "{text}");
    }

    #[test]
    fn a_sound_spec_has_no_problems_and_fails_on_parse_errors_by_default() {
        let m = masking(
            "hashKeySecret: {name: mask, key: key}\nrules:\n\
             - {topics: ['orders.*'], target: value, jsonPath: '$..email', action: hash, formatPreserving: email}\n\
             - {target: header, name: trace, action: drop}\n\
             - {target: key, action: replace, value: anon}\n",
        );
        assert_eq!(problems(&m), []);
        assert_eq!(m.on_parse_error, OnParseError::Fail);
        assert_eq!(problems(&masking("rules: []"))[0].path, "spec.masking.rules");
    }
}
