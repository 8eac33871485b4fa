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
