//! Low and high watermarks of many partitions at once, for the plans of backups and restores.
//!
//! Asked per partition (`fetch_watermarks`), every partition costs two ListOffsets requests and
//! the plan waits for each in turn: 0.77 s for 1,000 partitions against a broker on the same
//! machine, growing with every millisecond of round trip to a real cluster. Here the whole set
//! goes in two rounds (log starts, then ends), each one request per partition leader.
//!
//! The answers are the ones `fetch_watermarks` gives: both send librdkafka's ListOffsets request
//! with the earliest (-2) and latest (-1) special timestamps and the client's own
//! `isolation.level`, so a `read_committed` client's end is the last stable offset, as a backup's
//! cut must be.
//!
//! Its room: rdkafka and [`crate::kafka::Reader`]; nothing of the data planes that call it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use crate::kafka::Reader;

/// A partition: topic name and partition number.
pub type Key = (String, i32);

/// `(log start, end)` of each of `partitions`, in two ListOffsets rounds (blocking). librdkafka
/// fails the whole round when the broker could not answer for any one partition (unknown topic,
/// no leader yet), without saying which: [`watermarks`] then asks per partition.
pub fn batched(
    reader: &Reader,
    partitions: &[Key],
    timeout: Duration,
) -> anyhow::Result<BTreeMap<Key, (i64, i64)>> {
    if partitions.is_empty() {
        // librdkafka refuses an empty list.
        return Ok(BTreeMap::new());
    }
    let deadline = Instant::now() + timeout;
    let ask = |at: Offset| -> anyhow::Result<BTreeMap<Key, i64>> {
        let mut tpl = TopicPartitionList::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            tpl.add_partition_offset(topic, *partition, at)?;
        }
        let answered = reader.offsets_for_times(tpl, deadline.saturating_duration_since(Instant::now()))?;
        answered.elements().iter().map(|e| answer(e.topic(), e.partition(), e.error(), e.offset())).collect()
    };
    let starts = ask(Offset::Beginning)?;
    let ends = ask(Offset::End)?;
    partitions
        .iter()
        .map(|key| {
            let (Some(start), Some(end)) = (starts.get(key), ends.get(key)) else {
                anyhow::bail!("no offsets answered for {}/{}", key.0, key.1);
            };
            Ok((key.clone(), pair(*start, *end)))
        })
        .collect()
}

/// One partition's answer: an offset, or why there is none. A partition the broker left out of
/// its answer still holds the special timestamp it was asked with (`Beginning`, `End`).
fn answer(
    topic: &str,
    partition: i32,
    error: rdkafka::error::KafkaResult<()>,
    offset: Offset,
) -> anyhow::Result<(Key, i64)> {
    error.with_context(|| format!("{topic}/{partition}"))?;
    match offset {
        Offset::Offset(o) => Ok(((topic.to_string(), partition), o)),
        other => anyhow::bail!("{topic}/{partition}: no offset in the broker's answer ({other:?})"),
    }
}

/// What `fetch_watermarks` makes of the two answers (librdkafka's `query_watermark_offsets`):
/// the smaller is the low watermark, and an empty partition answered only with its end
/// (ListOffsets version 0) has that end for both.
fn pair(start: i64, end: i64) -> (i64, i64) {
    let (low, high) = if start < end { (start, end) } else { (end, start) };
    if low < 0 && high >= 0 { (high, high) } else { (low, high) }
}

/// `(log start, end)` of each of `partitions` (blocking): [`batched`], and when that fails,
/// per partition as before, so that the error names the partition (`what(topic, partition)` is
/// its context) — at the cost of one more `timeout` when the cluster does not answer at all.
pub fn watermarks(
    reader: &Reader,
    partitions: &[Key],
    timeout: Duration,
    what: impl Fn(&str, i32) -> String,
) -> anyhow::Result<BTreeMap<Key, (i64, i64)>> {
    match batched(reader, partitions, timeout) {
        Ok(found) => Ok(found),
        Err(e) => {
            tracing::debug!(error = %format!("{e:#}"), partitions = partitions.len(),
                "batched offset query failed; asking per partition");
            partitions
                .iter()
                .map(|(topic, partition)| {
                    let found = reader
                        .fetch_watermarks(topic, *partition, timeout)
                        .with_context(|| what(topic, *partition))?;
                    Ok(((topic.clone(), *partition), found))
                })
                .collect()
        }
    }
}

/// Every partition of the given topics (`(name, partition count)`), in order.
pub fn keys<'a>(topics: impl IntoIterator<Item = (&'a str, i32)>) -> Vec<Key> {
    topics.into_iter().flat_map(|(name, count)| (0..count).map(move |p| (name.to_string(), p))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_is_what_fetch_watermarks_gives() {
        assert_eq!(pair(5, 10), (5, 10));
        assert_eq!(pair(10, 5), (5, 10), "the smaller is the low watermark, whichever came first");
        assert_eq!(pair(7, 7), (7, 7), "empty partition");
        assert_eq!(pair(-1, 7), (7, 7), "only the end answered: both are the end");
    }

    #[test]
    fn a_partition_without_an_offset_is_an_error_naming_it() {
        assert_eq!(answer("t", 3, Ok(()), Offset::Offset(42)).ok(), Some((("t".to_string(), 3), 42)));
        let left_out = answer("t", 3, Ok(()), Offset::End).expect_err("no offset");
        assert!(format!("{left_out:#}").starts_with("t/3: no offset"), "{left_out:#}");
        let refused = answer(
            "t",
            4,
            Err(rdkafka::error::KafkaError::OffsetFetch(
                rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
            )),
            Offset::Offset(0),
        )
        .expect_err("error");
        assert!(format!("{refused:#}").starts_with("t/4: "), "{refused:#}");
    }

    #[test]
    fn keys_list_every_partition_of_every_topic_in_order() {
        assert_eq!(
            keys([("a", 2), ("b", 0), ("c", 1)]),
            [("a".to_string(), 0), ("a".to_string(), 1), ("c".to_string(), 0)]
        );
    }
}
