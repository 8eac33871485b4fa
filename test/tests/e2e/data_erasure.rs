//! e2e: data_erasure (issue 17).
