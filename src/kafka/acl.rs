//! The cluster's ACLs: every binding read with librdkafka's `DescribeAcls`, and bindings created
//! with `CreateAcls` (rust-rdkafka wraps neither). Names are Kafka's (`TOPIC`, `LITERAL`,
//! `READ`, `ALLOW`), as `kafka-acls.sh` and the Admin API print them.

use std::ffi::{CString, c_char};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::bindings::rd_kafka_resp_err_t as E;

use super::Admin;
use super::ffi::{Owned, admin_request, text};
use crate::format::metadata::AclEntry;

/// Why the cluster's ACLs could not be read or written: librdkafka's code (to tell "not allowed"
/// and "no authorizer" from a transient failure) and the message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct MetadataError {
    /// The cluster refuses this client (authorization), has no authorizer, or is too old: asking
    /// again will not help.
    pub refused: bool,
    pub message: String,
}

fn refused(code: E) -> bool {
    matches!(
        code,
        E::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED
            | E::RD_KAFKA_RESP_ERR_SECURITY_DISABLED
            | E::RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION
            | E::RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE
    )
}

fn error(code: E, what: &str, message: String) -> MetadataError {
    let why = match code {
        E::RD_KAFKA_RESP_ERR_SECURITY_DISABLED => format!("{message} (the cluster has no authorizer)"),
        E::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED => {
            format!("{message} (the client needs Describe on the cluster to read ACLs, Alter to create them)")
        }
        _ => message,
    };
    MetadataError { refused: refused(code), message: format!("{what}: {why}") }
}

const RESOURCE_TYPES: [(rd::rd_kafka_ResourceType_t, &str); 4] = [
    (rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC, "TOPIC"),
    (rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_GROUP, "GROUP"),
    // librdkafka's BROKER is Kafka's resource type 4, the cluster.
    (rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_BROKER, "CLUSTER"),
    (rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID, "TRANSACTIONAL_ID"),
];

const PATTERN_TYPES: [(rd::rd_kafka_ResourcePatternType_t, &str); 2] = [
    (rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_LITERAL, "LITERAL"),
    (rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_PREFIXED, "PREFIXED"),
];

const OPERATIONS: [(rd::rd_kafka_AclOperation_t, &str); 11] = {
    use rd::rd_kafka_AclOperation_t as O;
    [
        (O::RD_KAFKA_ACL_OPERATION_ALL, "ALL"),
        (O::RD_KAFKA_ACL_OPERATION_READ, "READ"),
        (O::RD_KAFKA_ACL_OPERATION_WRITE, "WRITE"),
        (O::RD_KAFKA_ACL_OPERATION_CREATE, "CREATE"),
        (O::RD_KAFKA_ACL_OPERATION_DELETE, "DELETE"),
        (O::RD_KAFKA_ACL_OPERATION_ALTER, "ALTER"),
        (O::RD_KAFKA_ACL_OPERATION_DESCRIBE, "DESCRIBE"),
        (O::RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION, "CLUSTER_ACTION"),
        (O::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS, "DESCRIBE_CONFIGS"),
        (O::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS, "ALTER_CONFIGS"),
        (O::RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE, "IDEMPOTENT_WRITE"),
    ]
};

const PERMISSIONS: [(rd::rd_kafka_AclPermissionType_t, &str); 2] = [
    (rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, "ALLOW"),
    (rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_DENY, "DENY"),
];

fn name_of<T: PartialEq + Copy + std::fmt::Debug>(table: &[(T, &'static str)], value: T) -> String {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or_else(|| format!("UNKNOWN({value:?})"), |(_, n)| n.to_string())
}

fn value_of<T: Copy>(table: &[(T, &'static str)], name: &str, what: &str) -> Result<T, String> {
    table
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(v, _)| *v)
        .ok_or_else(|| format!("{what} {name:?} is not one librdkafka can create"))
}

/// Whether this client may `Describe` the cluster (what reading ACLs and SCRAM users needs), as
/// `DescribeCluster` with the client's authorized operations says (blocking). librdkafka drops
/// the error a `DescribeAcls` answer carries — a refused description reads as "no ACLs" — so
/// this is asked first. A cluster without an authorizer allows everything.
pub fn may_describe_cluster(admin: &Admin, timeout: Duration) -> Result<bool, MetadataError> {
    let rk = admin.inner().native_ptr();
    // SAFETY: the options pointer is the live one `admin_request` owns; an error object it
    // returns is freed here; results are read only while the event that owns them is alive.
    unsafe {
        let event =
            admin_request(rk, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER, timeout, |o, q| {
                let err = rd::rd_kafka_AdminOptions_set_include_authorized_operations(o, 1);
                if !err.is_null() {
                    rd::rd_kafka_error_destroy(err);
                }
                rd::rd_kafka_DescribeCluster(rk, o, q)
            })
            .map_err(|e| error(e.code, "describing the cluster", e.message))?;
        let result = rd::rd_kafka_event_DescribeCluster_result(event.0);
        if result.is_null() {
            return Err(MetadataError {
                refused: false,
                message: "describing the cluster: the answer is not a DescribeCluster result".into(),
            });
        }
        let mut count = 0usize;
        let ops = rd::rd_kafka_DescribeCluster_result_authorized_operations(result, &mut count);
        if ops.is_null() {
            // The broker did not say (too old to): the descriptions themselves will tell.
            return Ok(true);
        }
        Ok((0..count).map(|i| *ops.add(i)).any(|op| {
            matches!(
                op,
                rd::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_DESCRIBE
                    | rd::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ALTER
                    | rd::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ALL
            )
        }))
    }
}

/// Every ACL binding of the cluster (blocking; at most `timeout` plus queueing), sorted. Refused
/// when the client may not `Describe` the cluster ([`may_describe_cluster`]).
pub fn describe_all(admin: &Admin, timeout: Duration) -> Result<Vec<AclEntry>, MetadataError> {
    if !may_describe_cluster(admin, timeout)? {
        return Err(MetadataError {
            refused: true,
            message: "describing ACLs: the client is not allowed Describe on the cluster".into(),
        });
    }
    let rk = admin.inner().native_ptr();
    let fail = |message: String| MetadataError { refused: false, message };
    let mut errstr = [0 as c_char; 512];
    // SAFETY: the filter is owned by its guard and outlives the request; results are read only
    // while the event that owns them is alive.
    unsafe {
        let filter = Owned(
            rd::rd_kafka_AclBindingFilter_new(
                rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_ANY,
                std::ptr::null(),
                rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_ANY,
                std::ptr::null(),
                std::ptr::null(),
                rd::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ANY,
                rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
                errstr.as_mut_ptr(),
                errstr.len(),
            ),
            rd::rd_kafka_AclBinding_destroy,
        );
        if filter.0.is_null() {
            return Err(fail(format!("describing ACLs: the filter: {}", text(errstr.as_ptr()))));
        }
        let event =
            admin_request(rk, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS, timeout, |o, q| {
                rd::rd_kafka_DescribeAcls(rk, filter.0, o, q)
            })
            .map_err(|e| error(e.code, "describing ACLs", e.message))?;
        let result = rd::rd_kafka_event_DescribeAcls_result(event.0);
        if result.is_null() {
            return Err(fail("describing ACLs: the answer is not a DescribeAcls result".into()));
        }
        let mut count = 0usize;
        let acls = rd::rd_kafka_DescribeAcls_result_acls(result, &mut count);
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let acl = *acls.add(i);
            out.push(AclEntry {
                resource_type: name_of(&RESOURCE_TYPES, rd::rd_kafka_AclBinding_restype(acl)),
                resource_name: text(rd::rd_kafka_AclBinding_name(acl)),
                pattern_type: name_of(&PATTERN_TYPES, rd::rd_kafka_AclBinding_resource_pattern_type(acl)),
                principal: text(rd::rd_kafka_AclBinding_principal(acl)),
                host: text(rd::rd_kafka_AclBinding_host(acl)),
                operation: name_of(&OPERATIONS, rd::rd_kafka_AclBinding_operation(acl)),
                permission_type: name_of(&PERMISSIONS, rd::rd_kafka_AclBinding_permission_type(acl)),
            });
        }
        out.sort();
        Ok(out)
    }
}

/// Creates `acls` (blocking). Creating a binding that exists already is no error in Kafka, so a
/// rerun is harmless. A binding the cluster refuses fails the call, naming it.
pub fn create(admin: &Admin, acls: &[AclEntry], timeout: Duration) -> Result<(), MetadataError> {
    if acls.is_empty() {
        return Ok(());
    }
    let fail = |message: String| MetadataError { refused: false, message };
    let rk = admin.inner().native_ptr();
    let mut bindings = Vec::with_capacity(acls.len());
    // SAFETY: every binding is owned by its guard in `bindings`, which outlives the request;
    // the strings passed are copied by librdkafka; results are read while the event lives.
    unsafe {
        for a in acls {
            let c = |s: &str| CString::new(s).map_err(|e| fail(format!("ACL {a}: {e}")));
            let (name, principal, host) = (c(&a.resource_name)?, c(&a.principal)?, c(&a.host)?);
            let mut errstr = [0 as c_char; 512];
            let binding = rd::rd_kafka_AclBinding_new(
                value_of(&RESOURCE_TYPES, &a.resource_type, "resource type").map_err(fail)?,
                name.as_ptr(),
                value_of(&PATTERN_TYPES, &a.pattern_type, "pattern type").map_err(fail)?,
                principal.as_ptr(),
                host.as_ptr(),
                value_of(&OPERATIONS, &a.operation, "operation").map_err(fail)?,
                value_of(&PERMISSIONS, &a.permission_type, "permission type").map_err(fail)?,
                errstr.as_mut_ptr(),
                errstr.len(),
            );
            if binding.is_null() {
                return Err(fail(format!("ACL {a}: {}", text(errstr.as_ptr()))));
            }
            bindings.push(Owned(binding, rd::rd_kafka_AclBinding_destroy));
        }
        let mut pointers: Vec<*mut rd::rd_kafka_AclBinding_t> = bindings.iter().map(|b| b.0).collect();
        let event =
            admin_request(rk, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS, timeout, |o, q| {
                rd::rd_kafka_CreateAcls(rk, pointers.as_mut_ptr(), pointers.len(), o, q)
            })
            .map_err(|e| error(e.code, "creating ACLs", e.message))?;
        let result = rd::rd_kafka_event_CreateAcls_result(event.0);
        if result.is_null() {
            return Err(fail("creating ACLs: the answer is not a CreateAcls result".into()));
        }
        let mut count = 0usize;
        let results = rd::rd_kafka_CreateAcls_result_acls(result, &mut count);
        // Results come in the order of the request.
        for (i, a) in acls.iter().enumerate().take(count) {
            let err = rd::rd_kafka_acl_result_error(*results.add(i));
            if !err.is_null() {
                let code = rd::rd_kafka_error_code(err);
                return Err(error(code, &format!("creating ACL {a}"), text(rd::rd_kafka_error_string(err))));
            }
        }
        Ok(())
    }
}
