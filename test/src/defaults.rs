//! The defaults of SPEC §2.2 written out as literals — not read from the product's types — so a
//! default that changes or goes missing in `src/api` fails a test instead of moving the test's
//! expectation with it.

use serde_json::{Value, json};

/// Every defaulted field of a `KafkaBackup` spec, with its SPEC value. Sections that exist only
/// when the user writes them (`schedule`, `retention`, a storage type's block, a Secret
/// reference) get their defaults only then.
pub fn kafka_backup() -> Value {
    json!({
        "topics": {"include": [".*"], "exclude": ["__.*"]},
        "consumerGroups": {"include": [".*"], "exclude": []},
        "storage": {"s3": {"credentialsSecret": {
            "accessKeyIdKey": "AWS_ACCESS_KEY_ID",
            "secretAccessKeyKey": "AWS_SECRET_ACCESS_KEY",
        }}},
        "backup": {
            "compression": "zstd",
            "compressionLevel": 3,
            "segmentSize": 268_435_456,
            "parallelism": 4,
            // Not in SPEC §2.2 (issue 18 §3): pods one backup runs across.
            "workers": 1,
            "mode": "incremental",
            // Not in SPEC §2.2 (issue 12 §5): how long a partition may stall before the run fails.
            "stallTimeout": "5m",
            // Not in SPEC §2.2 (issue 16 §3): ACLs, client quotas and SCRAM mechanisms with the data.
            "clusterMetadata": true,
            // Not in SPEC §2.2 (issue 17 §5): keys from a KMS, once `encryption.kms` is written.
            "encryption": {"kms": {
                "awsKms": {"credentialsSecret": {
                    "accessKeyIdKey": "AWS_ACCESS_KEY_ID",
                    "secretAccessKeyKey": "AWS_SECRET_ACCESS_KEY",
                }},
                "vaultTransit": {"mountPath": "transit", "kubernetesAuth": {"mountPath": "kubernetes"}},
            }},
        },
        "schedule": {"timezone": "UTC", "suspend": false, "concurrencyPolicy": "Forbid"},
        "retention": {"pruneOnSchedule": true},
        "deletionPolicy": "Retain",
        // Not in SPEC §2.2 (issue 16 §4): the Schema Registry's subjects, all by default.
        "schemaRegistry": {"subjects": {"include": [".*"], "exclude": []}},
        // Not in SPEC §2.2 (issue 17 §1): a restore policy leaves approval to each restore.
        "restorePolicy": {"approval": "Automatic"},
    })
}

/// Sections whose defaults apply even when the user leaves the section out (`subjects`: once
/// `schemaRegistry` is written).
const ALWAYS: [&str; 4] = ["topics", "consumerGroups", "backup", "subjects"];

/// `spec` as it must be stored: the user's values, and `defaults` for every field left out.
pub fn applied(defaults: &Value, spec: &Value) -> Value {
    let (Value::Object(defaults), Value::Object(given)) = (defaults, spec) else {
        return spec.clone();
    };
    let mut out = given.clone();
    for (key, default) in defaults {
        match given.get(key) {
            Some(value @ Value::Object(_)) if default.is_object() => {
                out.insert(key.clone(), applied(default, value));
            }
            Some(_) => {}
            None if default.is_object() && !ALWAYS.contains(&key.as_str()) => {}
            None if default.is_object() => {
                out.insert(key.clone(), applied(default, &json!({})));
            }
            None => {
                out.insert(key.clone(), default.clone());
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_is_missing_and_leave_absent_sections_absent() {
        let spec = json!({"strimziClusterRef": {"name": "c"}, "backup": {"compression": "lz4"},
            "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r"}}});
        let got = applied(&kafka_backup(), &spec);
        assert_eq!(got["backup"]["compression"], "lz4");
        assert_eq!(got["backup"]["compressionLevel"], 3);
        assert_eq!(got["topics"]["exclude"], json!(["__.*"]));
        assert_eq!(got["deletionPolicy"], "Retain");
        assert!(got.get("schedule").is_none() && got.get("retention").is_none(), "{got}");
        assert!(got["storage"]["s3"].get("credentialsSecret").is_none(), "{got}");
        assert!(got.get("schemaRegistry").is_none(), "{got}");
        let with_registry = json!({"schemaRegistry": {"url": "http://sr"}});
        let got = applied(&kafka_backup(), &with_registry);
        assert_eq!(got["schemaRegistry"]["subjects"]["include"], json!([".*"]));
    }
}
