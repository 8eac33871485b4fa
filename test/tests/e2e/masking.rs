//! e2e: masking (issue 17).
