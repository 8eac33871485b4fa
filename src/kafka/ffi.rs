//! What the calls into librdkafka's admin API that rust-rdkafka does not wrap share: ownership of
//! the objects librdkafka allocates, and copying its strings out.

use std::ffi::{CStr, c_char};

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
