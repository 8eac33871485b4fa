//! What a drill reports: the evidence the operator records (`lastVerification`, the restore
//! point's verification state) and the first records that differed. Plain data.

use serde::{Deserialize, Serialize};

use crate::api::restore_point::VerificationResult;

/// How many differing records a result names; the count covers all of them.
pub const FIRST_MISMATCHES: usize = 20;
/// A termination message holds at most 4 KiB; the summary stays below with room to spare.
const SUMMARY_BYTES: usize = 3800;

/// One record that did not come back as the backup holds it (the API type, so the operator
/// copies it into status as it is).
pub use crate::api::drill::Mismatch;

/// What a drill found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillResult {
    pub drill_id: String,
    /// The restore point drilled.
    pub backup_id: String,
    /// The backed-up topics restored (each into `<topicPrefix><topic>`).
    pub topics: Vec<String>,
    pub start_time: String,
    pub completion_time: String,
    /// Time to restore (RTO): the restore's run from reading the manifest to its last commit.
    pub restore_seconds: f64,
    /// Records restored, read back and compared.
    pub records: u64,
    /// Bytes (keys, values, headers) the restore wrote.
    pub bytes: u64,
    pub records_per_second: f64,
    pub mb_per_second: f64,
    /// Records that differed, were missing or were extra.
    pub mismatches: u64,
    /// The first of them (at most [`FIRST_MISMATCHES`]).
    #[serde(default)]
    pub first_mismatches: Vec<Mismatch>,
    pub result: VerificationResult,
    pub message: String,
    /// Whether every scratch topic is gone again.
    pub scratch_topics_deleted: bool,
    /// Whether the result was written as evidence at the location (`recordEvidence`); absent
    /// when it was not asked for. A failure to write it never changes `result`; the message says
    /// why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_written: Option<bool>,
}

impl DrillResult {
    /// The result cut to fit a termination message (4 KiB): fewer named mismatches and topics, a
    /// shorter message; the counts stay whole.
    pub fn summary(&self) -> Self {
        let mut s = self.clone();
        s.first_mismatches.truncate(5);
        let fits = |s: &Self| serde_json::to_string(s).map_or(true, |j| j.len() <= SUMMARY_BYTES);
        if !fits(&s) && s.message.len() > 1000 {
            s.message = s.message.chars().take(1000).collect::<String>() + "…";
        }
        while !fits(&s) && !s.topics.is_empty() {
            s.topics.pop();
        }
        while !fits(&s) && !s.first_mismatches.is_empty() {
            s.first_mismatches.pop();
        }
        s
    }

    /// Whether every record restored and read back equal.
    pub fn passed(&self) -> bool {
        self.result == VerificationResult::Passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_fits_a_termination_message_however_much_was_found() {
        let long = "t".repeat(249);
        let result = DrillResult {
            topics: (0..100).map(|i| format!("{long}{i}")).collect(),
            first_mismatches: (0..FIRST_MISMATCHES as i64)
                .map(|i| Mismatch {
                    topic: long.clone(),
                    partition: 0,
                    offset: Some(i),
                    restored_offset: None,
                    what: "missing".into(),
                })
                .collect(),
            message: "m".repeat(10_000),
            mismatches: 1_000_000,
            ..Default::default()
        };
        let summary = result.summary();
        let json = serde_json::to_string(&summary).expect("json");
        assert!(json.len() <= 4096, "{} bytes", json.len());
        assert_eq!(summary.mismatches, 1_000_000, "counts stay whole");
        assert_eq!(summary.first_mismatches.len(), 5, "the first mismatches are kept before the topics");
        assert!(summary.message.len() < 1100, "the message is cut");
    }
}
