//! e2e: kms (issue 17).
