//! e2e: enterprise_restore_access (issue 17).
