//! The offsets one consumer group committed, asked of its coordinator through an admin client
//! (librdkafka's `ListConsumerGroupOffsets`, which rust-rdkafka does not wrap). Reading them
//! through a consumer bound to the group (`committed_offsets`) needs a client per group — its
//! threads, connections and metadata — where one admin client serves any number of groups, a
//! few requests in flight at once ([`crate::groups::committed_of`]). librdkafka takes one group
//! per call.

use std::ffi::{CString, c_void};
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::bindings as rd;
use rdkafka::bindings::rd_kafka_resp_err_t as E;

use super::Admin;
use super::ffi::{Owned, admin_request, text};

/// A committed offset as the coordinator returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The commit's metadata; empty when none.
    pub metadata: String,
}

/// Why the offsets could not be read, and whether asking again can help (the coordinator is
/// loading, moving, or did not answer in time).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    pub retriable: bool,
    pub message: String,
}

/// The coordinator errors a description retries too, and an offset commit of a transaction
/// not yet ended (`UNSTABLE_OFFSET_COMMIT`), whose offsets are stable once it ends.
fn retriable(code: E) -> bool {
    super::group_describe::retriable(code) || code == E::RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT
}

/// The offsets `group` committed on `partitions` (blocking; at most `timeout` plus queueing).
/// Partitions without a committed offset are left out. Like a `read_committed` consumer's
/// `committed_offsets`, offsets of transactions still open are waited for (stable offsets).
pub fn committed(
    admin: &Admin,
    group: &str,
    partitions: &TopicPartitionList,
    timeout: Duration,
) -> Result<Vec<Committed>, FetchError> {
    let fail = |message: String| FetchError { retriable: false, message };
    let name = CString::new(group).map_err(|e| fail(format!("group name {group:?}: {e}")))?;
    let rk = admin.inner().native_ptr();
    // SAFETY: the request object is created by librdkafka from `name` and `partitions` (which it
    // copies) and owned by an `Owned` guard until the call returns; results are read only while
    // the event that owns them is alive, and copied out.
    unsafe {
        let request = Owned(
            rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), partitions.ptr()),
            rd::rd_kafka_ListConsumerGroupOffsets_destroy,
        );
        let mut requests = [request.0];
        let event = admin_request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            timeout,
            |options, queue| {
                let error = rd::rd_kafka_AdminOptions_set_require_stable_offsets(options, 1);
                if !error.is_null() {
                    rd::rd_kafka_error_destroy(error);
                }
                rd::rd_kafka_ListConsumerGroupOffsets(rk, requests.as_mut_ptr(), 1, options, queue)
            },
        )
        .map_err(|e| FetchError {
            retriable: retriable(e.code),
            message: format!("reading the committed offsets of group {group}: {}", e.message),
        })?;
        let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.0);
        if result.is_null() {
            return Err(fail(format!(
                "reading the committed offsets of group {group}: the answer is not a group's offsets"
            )));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
        for i in 0..count {
            let g = *groups.add(i);
            if text(rd::rd_kafka_group_result_name(g)) != group {
                continue;
            }
            let error = rd::rd_kafka_group_result_error(g);
            if !error.is_null() {
                let code = rd::rd_kafka_error_code(error);
                return Err(FetchError {
                    retriable: retriable(code),
                    message: format!(
                        "reading the committed offsets of group {group}: {}",
                        text(rd::rd_kafka_error_string(error))
                    ),
                });
            }
            let list = rd::rd_kafka_group_result_partitions(g);
            if list.is_null() {
                return Ok(Vec::new());
            }
            let n = usize::try_from((*list).cnt).unwrap_or(0);
            let mut out = Vec::with_capacity(n);
            for j in 0..n {
                let e = &*(*list).elems.add(j);
                if e.err != E::RD_KAFKA_RESP_ERR_NO_ERROR {
                    return Err(FetchError {
                        retriable: retriable(e.err),
                        message: format!(
                            "reading the committed offsets of group {group} on {}/{}: {}",
                            text(e.topic),
                            e.partition,
                            text(rd::rd_kafka_err2str(e.err))
                        ),
                    });
                }
                // librdkafka's "invalid" (-1001) for a partition without a committed offset.
                if e.offset < 0 {
                    continue;
                }
                out.push(Committed {
                    topic: text(e.topic),
                    partition: e.partition,
                    offset: e.offset,
                    metadata: metadata(e.metadata, e.metadata_size),
                });
            }
            return Ok(out);
        }
        Err(fail(format!("reading the committed offsets of group {group}: the answer does not name it")))
    }
}

/// A commit's metadata as text (Kafka's clients write strings there).
///
/// # Safety
/// `ptr` is null or points to `len` readable bytes.
unsafe fn metadata(ptr: *const c_void, len: usize) -> String {
    if ptr.is_null() || len == 0 {
        return String::new();
    }
    // SAFETY: what the caller promised.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    String::from_utf8_lossy(bytes).into_owned()
}
