//! Include/exclude regex lists that select topics and consumer groups.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Topics to back up. Names are matched in full against the regexes; a name is selected when it
/// matches an `include` and no `exclude`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicSelection {
    /// Regexes of topics to include.
    #[serde(default = "match_all")]
    pub include: Vec<String>,
    /// Regexes of topics to exclude. The default leaves out Kafka's internal topics
    /// (`__consumer_offsets`, `__transaction_state`, …); offsets are backed up separately.
    #[serde(default = "internal_topics")]
    pub exclude: Vec<String>,
}

impl Default for TopicSelection {
    fn default() -> Self {
        Self { include: match_all(), exclude: internal_topics() }
    }
}

/// A subset by name: names are matched in full against the regexes; a name is selected when it
/// matches an `include` and no `exclude`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    /// Regexes of names to include.
    #[serde(default = "match_all")]
    pub include: Vec<String>,
    /// Regexes of names to exclude.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Default for Selection {
    fn default() -> Self {
        Self { include: match_all(), exclude: Vec::new() }
    }
}

fn match_all() -> Vec<String> {
    vec![".*".into()]
}

fn internal_topics() -> Vec<String> {
    vec!["__.*".into()]
}

/// Compiled include/exclude regexes; names match in full.
#[derive(Clone, Debug)]
pub struct NameFilter {
    include: Vec<regex::Regex>,
    exclude: Vec<regex::Regex>,
}

impl NameFilter {
    /// Compiles the lists; an error names the field (`<field>.include[2]`) and the regex problem.
    pub fn new(include: &[String], exclude: &[String], field: &str) -> Result<Self, String> {
        let compile = |list: &[String], which: &str| -> Result<Vec<regex::Regex>, String> {
            list.iter()
                .enumerate()
                .map(|(i, p)| {
                    regex::Regex::new(&format!("^(?:{p})$"))
                        .map_err(|e| format!("{field}.{which}[{i}]: `{p}` is not a valid regex: {e}"))
                })
                .collect()
        };
        Ok(Self { include: compile(include, "include")?, exclude: compile(exclude, "exclude")? })
    }

    /// Whether the lists compile, as [`NameFilter::new`] would say, without keeping the result:
    /// what validation needs. Patterns that compiled once are remembered, because compiling is
    /// by far the most expensive part of an admission decision and objects repeat their
    /// patterns (every update of a resource sends the same ones again).
    pub fn check(include: &[String], exclude: &[String], field: &str) -> Result<(), String> {
        use std::collections::HashSet;
        use std::sync::{LazyLock, Mutex};
        /// Bounded: cleared when full, so arbitrary input cannot grow it without limit.
        const REMEMBERED: usize = 4096;
        static COMPILED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);
        let known = |p: &String| COMPILED.lock().is_ok_and(|set| set.contains(p));
        if include.iter().chain(exclude).all(known) {
            return Ok(());
        }
        Self::new(include, exclude, field)?;
        if let Ok(mut set) = COMPILED.lock() {
            if set.len() + include.len() + exclude.len() > REMEMBERED {
                set.clear();
            }
            set.extend(include.iter().chain(exclude).cloned());
        }
        Ok(())
    }

    pub fn matches(&self, name: &str) -> bool {
        self.include.iter().any(|r| r.is_match(name)) && !self.exclude.iter().any(|r| r.is_match(name))
    }
}

impl TopicSelection {
    pub fn filter(&self, field: &str) -> Result<NameFilter, String> {
        NameFilter::new(&self.include, &self.exclude, field)
    }
}

impl Selection {
    pub fn filter(&self, field: &str) -> Result<NameFilter, String> {
        NameFilter::new(&self.include, &self.exclude, field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_match_and_exclusion() {
        let f = TopicSelection::default().filter("spec.topics").expect("compiles");
        assert!(f.matches("orders"));
        assert!(!f.matches("__consumer_offsets"));
        let f = NameFilter::new(&["orders.*".into()], &[".*\\.internal".into()], "spec.topics").expect("ok");
        assert!(f.matches("orders.eu") && !f.matches("orders.internal") && !f.matches("x-orders"));
        let err = NameFilter::new(&["(".into()], &[], "spec.topics").expect_err("bad");
        assert!(err.starts_with("spec.topics.include[0]: `(` is not a valid regex"), "{err}");
        // The remembering check says the same, the first time and again.
        for _ in 0..2 {
            assert!(NameFilter::check(&["orders.*".into()], &[], "spec.topics").is_ok());
            let err = NameFilter::check(&["ok".into()], &["[".into()], "spec.topics").expect_err("bad");
            assert!(err.starts_with("spec.topics.exclude[0]"), "{err}");
        }
    }
}
