//! Topic ids, which Kafka has given every topic since KIP-516 and which are the only way to tell
//! a topic from another one created later under the same name. rust-rdkafka does not wrap
//! librdkafka's `DescribeTopics` (librdkafka ≥ 2.3), so this calls it through the bindings
//! rdkafka itself re-exports: one request for many topics, blocking, run on a blocking thread.

use std::collections::BTreeMap;
use std::ffi::{CString, c_char};
use std::time::Duration;

use rdkafka::bindings as rd;

use super::Admin;
use super::ffi::{Owned, admin_request, text};

/// What `DescribeTopics` says about one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Described {
    /// The topic exists, with this id (base64, as Kafka's tools print it).
    Id(String),
    /// The broker does not know the topic (deleted, or never created).
    Missing,
}

/// The id of each named topic (blocking; at most `timeout`). A topic the broker does not know is
/// [`Described::Missing`]; any other per-topic error fails the call, naming the topic.
pub fn topic_ids(
    admin: &Admin,
    topics: &[String],
    timeout: Duration,
) -> anyhow::Result<BTreeMap<String, Described>> {
    let mut out = BTreeMap::new();
    if topics.is_empty() {
        return Ok(out);
    }
    let names: Vec<CString> = topics
        .iter()
        .map(|t| CString::new(t.as_str()))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::new)?;
    let mut pointers: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let rk = admin.inner().native_ptr();
    // SAFETY: every pointer passed below is either freshly created by librdkafka (and owned by an
    // `Owned` guard) or borrowed from `names`/`pointers`, which live until the end of the function;
    // results are read only while the event that owns them is alive.
    unsafe {
        let collection = Owned(
            rd::rd_kafka_TopicCollection_of_topic_names(pointers.as_mut_ptr(), pointers.len()),
            rd::rd_kafka_TopicCollection_destroy,
        );
        let event = admin_request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
            timeout,
            |options, queue| rd::rd_kafka_DescribeTopics(rk, collection.0, options, queue),
        )
        .map_err(|e| anyhow::anyhow!("describing topics: {}", e.message))?;
        let result = rd::rd_kafka_event_DescribeTopics_result(event.0);
        anyhow::ensure!(!result.is_null(), "describing topics: the answer is not a DescribeTopics result");
        let mut count = 0usize;
        let descriptions = rd::rd_kafka_DescribeTopics_result_topics(result, &mut count);
        for i in 0..count {
            let description = *descriptions.add(i);
            let name = text(rd::rd_kafka_TopicDescription_name(description));
            let error = rd::rd_kafka_TopicDescription_error(description);
            let code = if error.is_null() {
                rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            } else {
                rd::rd_kafka_error_code(error)
            };
            let described = match code {
                rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR => {
                    let id = rd::rd_kafka_TopicDescription_topic_id(description);
                    anyhow::ensure!(!id.is_null(), "topic {name}: the broker gave no topic id");
                    Described::Id(text(rd::rd_kafka_Uuid_base64str(id)))
                }
                rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                | rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_ID => Described::Missing,
                _ => anyhow::bail!("describing topic {name}: {}", text(rd::rd_kafka_error_string(error))),
            };
            out.insert(name, described);
        }
    }
    for t in topics {
        out.entry(t.clone()).or_insert(Described::Missing);
    }
    Ok(out)
}
