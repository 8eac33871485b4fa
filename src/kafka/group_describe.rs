//! One consumer group as its coordinator describes it. rust-rdkafka only wraps librdkafka's
//! older group listing, which sends `DescribeGroups` to every broker and so waits for the
//! slowest: one hung broker that is not even the group's coordinator stalls it until it times
//! out. librdkafka's `DescribeConsumerGroups` admin call asks only the coordinator (found with
//! `FindCoordinator`) and understands both the classic and the KIP-848 group protocols.

use std::ffi::{CString, c_char};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::bindings::rd_kafka_resp_err_t as E;

use super::Admin;
use super::ffi::{admin_request, text};

/// What the coordinator says of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    /// Kafka's name of the group state (`Stable`, `Empty`, `Dead`, ...).
    pub state: String,
    /// Live members.
    pub members: usize,
}

/// Why a description failed, and whether asking again can help (the coordinator is moving,
/// loading, or did not answer in time).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DescribeError {
    pub retriable: bool,
    pub message: String,
}

/// Coordinator answers worth asking again: it is moving, loading, or did not answer in time.
/// Group descriptions and offset fetches ([`super::group_offsets`]) both use it.
pub(super) fn retriable(code: E) -> bool {
    matches!(
        code,
        E::RD_KAFKA_RESP_ERR__TIMED_OUT
            | E::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT
            | E::RD_KAFKA_RESP_ERR__TRANSPORT
            | E::RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
            | E::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE
            | E::RD_KAFKA_RESP_ERR_NOT_COORDINATOR
            | E::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS
    )
}

fn failed(code: E, message: String) -> DescribeError {
    DescribeError { retriable: retriable(code), message }
}

/// Describes `group` (blocking; at most `timeout` plus queueing). A group Kafka does not know is
/// `Dead` with no members, as Kafka's own tools show it.
pub fn consumer_group(
    admin: &Admin,
    group: &str,
    timeout: Duration,
) -> Result<GroupDescription, DescribeError> {
    let fail = |message: String| DescribeError { retriable: false, message };
    let name = CString::new(group).map_err(|e| fail(format!("group name {group:?}: {e}")))?;
    let mut names: [*const c_char; 1] = [name.as_ptr()];
    let rk = admin.inner().native_ptr();
    // SAFETY: every pointer passed below is either freshly created by librdkafka (and owned by an
    // `Owned` guard) or borrowed from `name`/`names`, which live until the end of the function;
    // results are read only while the event that owns them is alive.
    unsafe {
        let event = admin_request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
            timeout,
            |options, queue| {
                rd::rd_kafka_DescribeConsumerGroups(rk, names.as_mut_ptr(), names.len(), options, queue)
            },
        )
        .map_err(|e| failed(e.code, format!("describing consumer group {group}: {}", e.message)))?;
        let result = rd::rd_kafka_event_DescribeConsumerGroups_result(event.0);
        if result.is_null() {
            return Err(fail(format!(
                "describing consumer group {group}: the answer is not a group description"
            )));
        }
        let mut count = 0usize;
        let descriptions = rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
        for i in 0..count {
            let description = *descriptions.add(i);
            if text(rd::rd_kafka_ConsumerGroupDescription_group_id(description)) != group {
                continue;
            }
            let error = rd::rd_kafka_ConsumerGroupDescription_error(description);
            let code =
                if error.is_null() { E::RD_KAFKA_RESP_ERR_NO_ERROR } else { rd::rd_kafka_error_code(error) };
            return match code {
                E::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(GroupDescription {
                    state: text(rd::rd_kafka_consumer_group_state_name(
                        rd::rd_kafka_ConsumerGroupDescription_state(description),
                    )),
                    members: rd::rd_kafka_ConsumerGroupDescription_member_count(description),
                }),
                E::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND => {
                    Ok(GroupDescription { state: "Dead".into(), members: 0 })
                }
                _ => Err(failed(
                    code,
                    format!("describing consumer group {group}: {}", text(rd::rd_kafka_error_string(error))),
                )),
            };
        }
        Err(fail(format!("describing consumer group {group}: the answer does not name it")))
    }
}
