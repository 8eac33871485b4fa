//! The SCRAM users of the cluster as `DescribeUserScramCredentials` shows them: each user's
//! mechanisms and iteration counts. Kafka never returns the credentials themselves (salt, salted
//! password), so they cannot be backed up by anyone; rust-rdkafka does not wrap the call.

use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::bindings::rd_kafka_resp_err_t as E;

use super::Admin;
use super::acl::MetadataError;
use super::ffi::{admin_request, text};
use crate::format::metadata::{ScramCredential, ScramUser};

fn refused(code: E) -> bool {
    matches!(
        code,
        E::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED
            | E::RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION
            | E::RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE
    )
}

/// Every user with SCRAM credentials and their mechanisms (blocking), sorted by user.
pub fn describe_all(admin: &Admin, timeout: Duration) -> Result<Vec<ScramUser>, MetadataError> {
    let rk = admin.inner().native_ptr();
    let what = "describing the SCRAM users";
    let fail = |code: E, message: String| {
        let hint = match code {
            E::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED => {
                " (the client needs Describe on the cluster)"
            }
            _ => "",
        };
        MetadataError { refused: refused(code), message: format!("{what}: {message}{hint}") }
    };
    // Describing SCRAM users needs Describe on the cluster: asked first, so a refusal is never
    // read as "no users" (as with ACLs).
    if !super::acl::may_describe_cluster(admin, timeout)? {
        return Err(fail(E::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, "not allowed".into()));
    }
    // SAFETY: no user list is passed (null, 0: every user); results are read only while the
    // event that owns them is alive.
    unsafe {
        let event = admin_request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEUSERSCRAMCREDENTIALS,
            timeout,
            |o, q| rd::rd_kafka_DescribeUserScramCredentials(rk, std::ptr::null_mut(), 0, o, q),
        )
        .map_err(|e| fail(e.code, e.message))?;
        let result = rd::rd_kafka_event_DescribeUserScramCredentials_result(event.0);
        if result.is_null() {
            return Err(fail(E::RD_KAFKA_RESP_ERR__FAIL, "the answer is not a SCRAM description".into()));
        }
        let mut count = 0usize;
        let descriptions = rd::rd_kafka_DescribeUserScramCredentials_result_descriptions(result, &mut count);
        let mut users = Vec::with_capacity(count);
        for i in 0..count {
            let d = *descriptions.add(i);
            let user = text(rd::rd_kafka_UserScramCredentialsDescription_user(d));
            let error = rd::rd_kafka_UserScramCredentialsDescription_error(d);
            if !error.is_null() {
                let code = rd::rd_kafka_error_code(error);
                // Asked for every user, a user without credentials is not listed; anything else
                // is an error of the whole description.
                if code == E::RD_KAFKA_RESP_ERR_RESOURCE_NOT_FOUND {
                    continue;
                }
                if code != E::RD_KAFKA_RESP_ERR_NO_ERROR {
                    return Err(fail(
                        code,
                        format!("user {user}: {}", text(rd::rd_kafka_error_string(error))),
                    ));
                }
            }
            let n = rd::rd_kafka_UserScramCredentialsDescription_scramcredentialinfo_count(d);
            let mut credentials = Vec::with_capacity(n);
            for j in 0..n {
                let info = rd::rd_kafka_UserScramCredentialsDescription_scramcredentialinfo(d, j);
                let mechanism = match rd::rd_kafka_ScramCredentialInfo_mechanism(info) {
                    rd::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_256 => "SCRAM-SHA-256",
                    rd::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_512 => "SCRAM-SHA-512",
                    _ => "UNKNOWN",
                };
                credentials.push(ScramCredential {
                    mechanism: mechanism.into(),
                    iterations: rd::rd_kafka_ScramCredentialInfo_iterations(info),
                });
            }
            credentials.sort();
            users.push(ScramUser { user, credentials });
        }
        users.sort();
        Ok(users)
    }
}
