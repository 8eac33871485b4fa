//! What the calls into librdkafka's admin API that rust-rdkafka does not wrap share: ownership of
//! the objects librdkafka allocates, and copying its strings out.

use std::ffi::{CStr, c_char};
use std::time::Duration;

use rdkafka::bindings as rd;

/// Owns a pointer librdkafka allocated and frees it with the matching destroy function.
pub(super) struct Owned<T>(pub *mut T, pub unsafe extern "C" fn(*mut T));

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from librdkafka's matching constructor and is dropped once.
            unsafe { (self.1)(self.0) }
        }
    }
}

/// A copy of a string librdkafka returned (empty for a null pointer).
pub(super) fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: librdkafka returns NUL-terminated strings that live as long as their owner, which
    // outlives this copy.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

/// Why an admin request came back without a result: librdkafka's code and message.
pub(super) struct CallError {
    pub code: rd::rd_kafka_resp_err_t,
    pub message: String,
}

/// Runs one admin request of kind `op` and waits for its answer: `send` issues it with the
/// options (carrying `timeout`) on the queue it is given. The wait is the request's own timeout
/// plus a margin for the queueing; no answer is `_TIMED_OUT`, an answer carrying an error is
/// that error. The event returned owns the result until dropped.
///
/// # Safety
/// `rk` is a live client handle, and `send` issues exactly one admin request of kind `op` with
/// the options and queue given, passing only pointers that stay alive until this returns.
pub(super) unsafe fn admin_request(
    rk: *mut rd::rd_kafka_t,
    op: rd::rd_kafka_admin_op_t,
    timeout: Duration,
    send: impl FnOnce(*mut rd::rd_kafka_AdminOptions_t, *mut rd::rd_kafka_queue_t),
) -> Result<Owned<rd::rd_kafka_event_t>, CallError> {
    use rd::rd_kafka_resp_err_t as E;
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: what the caller promised; the options and queue are owned here and outlive the wait.
    unsafe {
        let options = Owned(rd::rd_kafka_AdminOptions_new(rk, op), rd::rd_kafka_AdminOptions_destroy);
        let mut errstr = [0 as c_char; 512];
        let err = rd::rd_kafka_AdminOptions_set_request_timeout(
            options.0,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        if err != E::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(CallError {
                code: err,
                message: format!("request options: {}", text(errstr.as_ptr())),
            });
        }
        let queue = Owned(rd::rd_kafka_queue_new(rk), rd::rd_kafka_queue_destroy);
        send(options.0, queue.0);
        let event = Owned(
            rd::rd_kafka_queue_poll(queue.0, timeout_ms.saturating_add(5_000)),
            rd::rd_kafka_event_destroy,
        );
        if event.0.is_null() {
            return Err(CallError {
                code: E::RD_KAFKA_RESP_ERR__TIMED_OUT,
                message: format!("no answer within {}s", timeout.as_secs()),
            });
        }
        let err = rd::rd_kafka_event_error(event.0);
        if err != E::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(CallError { code: err, message: text(rd::rd_kafka_event_error_string(event.0)) });
        }
        Ok(event)
    }
}
