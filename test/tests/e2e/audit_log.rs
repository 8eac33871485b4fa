//! e2e: audit_log (issue 17).
