use super::*;
use crate::license::{Edition, issue, test_key};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::json;
use std::sync::Arc;
use tower::ServiceExt;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().unwrap_or_default()
}

fn claims(expires: DateTime<Utc>) -> Claims {
    Claims {
        id: "lic-1".into(),
        customer: "Example Bank".into(),
        edition: Edition::Enterprise,
        features: vec!["encryption".into()],
        issued_at: now() - chrono::Duration::days(30),
        expires_at: expires,
    }
}

fn backup(spec: Value) -> Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackup", "metadata": {"name": "b"}, "spec": spec})
}

fn minimal() -> Value {
    json!({
        "strimziClusterRef": {"name": "my-cluster"},
        "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r", "credentialsSecret": {"name": "s3"}}}
    })
}

fn encrypted() -> Value {
    let mut spec = minimal();
    spec["backup"] = json!({"encryption": {"enabled": true, "keySecret": {"name": "aes", "key": "key"}}});
    spec
}

#[test]
fn every_problem_is_reported_together_with_its_field() {
    let mut spec = minimal();
    spec["schedule"] = json!({"cron": "0 25 * * *", "timezone": "Europe/Nowhere"});
    spec["retention"] = json!({"maxAge": "30 days"});
    spec["topics"] = json!({"include": ["orders-("]});
    let j = judge("KafkaBackup", &backup(spec), None, &Err(LicenseError::Missing), now());
    let fields: Vec<&str> = j.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        fields,
        ["spec.schedule.timezone", "spec.schedule.cron", "spec.retention.maxAge", "spec.topics.include[0]"]
    );
    let mut bad_type = minimal();
    bad_type["backup"] = json!({"compression": "brotli"});
    let j = judge("KafkaBackup", &backup(bad_type), None, &Err(LicenseError::Missing), now());
    assert_eq!(j.problems[0].path, "spec.backup.compression");
}

#[test]
fn enterprise_fields_need_a_licence_and_an_unchanged_one_only_warns_after_expiry() {
    let valid = Ok(claims(now() + chrono::Duration::days(200)));
    let object = backup(encrypted());
    assert!(judge("KafkaBackup", &object, None, &valid, now()).problems.is_empty());
    let denied = judge("KafkaBackup", &object, None, &Err(LicenseError::Missing), now());
    assert_eq!(denied.problems.len(), 1);
    assert!(
        denied.problems[0]
            .to_string()
            .starts_with("spec.backup.encryption: at-rest encryption needs the Enterprise edition")
    );

    let expired = Err(LicenseError::Expired { id: "lic-1".into(), on: "2026-11-01".into() });
    // An update that keeps the encryption settings (e.g. a new cron): allowed, with a warning.
    let mut changed_cron = encrypted();
    changed_cron["schedule"] = json!({"cron": "0 3 * * *"});
    let j = judge("KafkaBackup", &backup(changed_cron), Some(&object), &expired, now());
    assert!(j.problems.is_empty(), "{:?}", j.problems);
    assert!(
        j.warnings.iter().any(|w| w.contains("expired on 2026-11-01") && w.contains("keep running")),
        "{:?}",
        j.warnings
    );
    // An update that changes them: refused.
    let mut new_key = encrypted();
    new_key["backup"]["encryption"]["keySecret"]["name"] = json!("aes-2");
    let j = judge("KafkaBackup", &backup(new_key), Some(&object), &expired, now());
    assert!(j.problems[0].message.contains("expired on 2026-11-01"), "{:?}", j.problems);
    // Soon to expire: a warning.
    let soon = Ok(claims(now() + chrono::Duration::days(5)));
    let j = judge("KafkaBackup", &object, None, &soon, now());
    assert!(j.warnings.iter().any(|w| w.contains("5 days left")), "{:?}", j.warnings);
}

#[test]
fn a_recreated_backup_whose_settings_a_licence_record_vouches_for_is_admitted_with_a_warning() {
    let expired = Err(LicenseError::Expired { id: "lic-1".into(), on: "2026-11-01".into() });
    let object = backup(encrypted());
    // A create (no old object): refused without the record, as any new Enterprise use…
    let j = judge_recorded("KafkaBackup", &object, None, &expired, false, now());
    assert!(j.problems[0].message.contains("expired on 2026-11-01"), "{:?}", j.problems);
    // …admitted with the lapse as a warning when the record vouches for these settings.
    let j = judge_recorded("KafkaBackup", &object, None, &expired, true, now());
    assert!(j.problems.is_empty(), "{:?}", j.problems);
    assert!(j.warnings.iter().any(|w| w.contains("keep running")), "{:?}", j.warnings);
    // The record vouches for the settings it was made for: changed ones on an update are refused
    // (`recorded` is looked up for the new settings, and found only when they were recorded).
    let mut new_key = encrypted();
    new_key["backup"]["encryption"]["keySecret"]["name"] = json!("aes-2");
    let j = judge_recorded("KafkaBackup", &backup(new_key), Some(&object), &expired, false, now());
    assert!(!j.problems.is_empty());
}

fn review(kind: &str, operation: &str, object: Value, old: Option<Value>) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "4b1c", "kind": {"group": "kafkabackup.com", "version": "v1alpha1", "kind": kind},
            "resource": {"group": "kafkabackup.com", "version": "v1alpha1", "resource": "x"},
            "name": "b", "namespace": "ns", "operation": operation, "userInfo": {},
            "object": object, "oldObject": old
        }
    })
}

fn app(token: Option<String>) -> axum::Router {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Arc::new(strimzi_backup_webhook::Metrics::register(&mut registry));
    let admission = Arc::new(Admission::new(InstalledLicense::with_token(token), None));
    strimzi_backup_webhook::router(admission, &webhooks(), metrics)
}

async fn post(app: axum::Router, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let request = Request::post(path).header("content-type", "application/json").body(Body::from(body));
    let response = app.oneshot(request.expect("request")).await.expect("served");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn through_the_router_denials_carry_causes_and_defaults_come_as_a_patch() {
    let path = "/validate-kafkabackup-com-v1alpha1-kafkabackup";
    let (status, out) = post(
        app(None),
        path,
        serde_json::to_vec(&review("KafkaBackup", "CREATE", backup(encrypted()), None)).expect("json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = &out["response"];
    assert_eq!((response["uid"].as_str(), response["allowed"].as_bool()), (Some("4b1c"), Some(false)));
    assert_eq!(response["status"]["code"], 422);
    assert_eq!(response["status"]["details"]["causes"][0]["field"], "spec.backup.encryption");
    assert!(response["status"]["message"].as_str().unwrap_or_default().contains("no licence is installed"));

    let token = issue(&claims(Utc::now() + chrono::Duration::days(100)), &test_key::SEED).expect("token");
    let (_, out) = post(
        app(Some(token)),
        path,
        serde_json::to_vec(&review("KafkaBackup", "CREATE", backup(encrypted()), None)).expect("json"),
    )
    .await;
    assert_eq!(out["response"]["allowed"], true, "{out}");

    let mutate = "/mutate-kafkabackup-com-v1alpha1-kafkabackup";
    let (_, out) = post(
        app(None),
        mutate,
        serde_json::to_vec(&review("KafkaBackup", "CREATE", backup(minimal()), None)).expect("json"),
    )
    .await;
    assert_eq!(
        (out["response"]["allowed"].as_bool(), out["response"]["patchType"].as_str()),
        (Some(true), Some("JSONPatch"))
    );
    // kube sends the patch bytes as a JSON array of numbers, which the API server's decoder reads as []byte.
    let patch: Vec<u8> = serde_json::from_value(out["response"]["patch"].clone()).expect("patch bytes");
    let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("a JSON patch");
    let mut object = backup(minimal());
    json_patch::patch(&mut object, &patch).expect("applies");
    assert_eq!(object["spec"]["backup"]["compression"], "zstd");

    // DELETE needs no decision.
    let (_, out) = post(
        app(None),
        path,
        serde_json::to_vec(&review("KafkaBackup", "DELETE", Value::Null, Some(backup(minimal()))))
            .expect("json"),
    )
    .await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(json!("0 2 * * *")),
        Just(json!("s3")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("spec".to_string()),
                    Just("schedule".to_string()),
                    Just("storage".to_string()),
                    Just("backup".to_string()),
                    Just("pointInTime".to_string()),
                    "[a-zA-Z]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes, arbitrary JSON, and well-formed reviews carrying arbitrary objects: every
    /// one is answered with 200 (an AdmissionReview) or 400, on every webhook, never a panic.
    #[test]
    fn arbitrary_bodies_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        value in any_json(),
        spec in any_json(),
        old_spec in any_json(),
        hook in 0usize..KINDS.len() * 2,
        op in prop_oneof![Just("CREATE"), Just("UPDATE"), Just("DELETE"), Just("CONNECT")],
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let hooks = webhooks();
        let hook = &hooks[hook];
        let object = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": hook.kind, "metadata": {"name": "x"}, "spec": spec});
        let old = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": hook.kind, "metadata": {"name": "x"}, "spec": old_spec});
        let bodies = [bytes, serde_json::to_vec(&value).expect("json"), serde_json::to_vec(&review(&hook.kind, op, object, Some(old))).expect("json")];
        for body in bodies {
            let (status, out) = rt.block_on(post(app(None), &hook.path, body));
            prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{status}");
            if status == StatusCode::OK {
                prop_assert!(out["response"]["allowed"].is_boolean(), "{out}");
            }
        }
    }
}

fn restore_from(backup_ns: Option<&str>, cluster_ns: Option<&str>) -> Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestore", "metadata": {"name": "r"}, "spec": {
        "strimziClusterRef": {"name": "k", "namespace": cluster_ns},
        "backupRef": {"name": "b", "namespace": backup_ns}
    }})
}

#[test]
fn only_new_references_into_other_namespaces_are_judged_for_tenancy() {
    let fields = |object: &Value, old: Option<&Value>| -> Vec<&'static str> {
        cross_namespace_refs("KafkaRestore", "ns", object, old).iter().map(|r| r.field).collect()
    };
    assert!(fields(&restore_from(None, Some("ns")), None).is_empty(), "its own namespace");
    let both = restore_from(Some("other"), Some("other"));
    assert_eq!(fields(&both, None), ["spec.backupRef.namespace", "spec.strimziClusterRef.namespace"]);
    // An update that keeps its references (a label, a finalizer) is not judged again.
    assert!(fields(&both, Some(&both)).is_empty());
    assert_eq!(fields(&both, Some(&restore_from(Some("other"), None))), ["spec.strimziClusterRef.namespace"]);
    let reset = json!({"spec": {"strimziClusterRef": {"name": "k", "namespace": "x"}, "consumerGroups": ["g"], "resetStrategy": "to-earliest"}});
    let refs = cross_namespace_refs("KafkaOffsetReset", "ns", &reset, None);
    assert_eq!((refs[0].kind, refs[0].namespace.as_str()), ("Kafka", "x"));
}

#[tokio::test]
async fn a_cross_namespace_reference_that_cannot_be_checked_is_refused_naming_the_field() {
    let path = "/validate-kafkabackup-com-v1alpha1-kafkarestore";
    let body = review("KafkaRestore", "CREATE", restore_from(Some("other"), None), None);
    let (_, out) = post(app(None), path, serde_json::to_vec(&body).expect("json")).await;
    assert_eq!(out["response"]["allowed"], false, "{out}");
    assert_eq!(out["response"]["status"]["details"]["causes"][0]["field"], "spec.backupRef.namespace");
    let own = review("KafkaRestore", "CREATE", restore_from(Some("ns"), Some("ns")), None);
    let (_, out) = post(app(None), path, serde_json::to_vec(&own).expect("json")).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
}

fn location(sync_period: &str) -> Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaBackupLocation", "metadata": {"name": "dr"}, "spec": {
        "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r"}},
        "syncPeriod": sync_period
    }})
}

fn drill(cron: &str, target_ns: Option<&str>) -> Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestoreDrill", "metadata": {"name": "weekly"}, "spec": {
        "locationRef": {"name": "dr"},
        "target": {"strimziClusterRef": {"name": "scratch", "namespace": target_ns}},
        "schedule": {"cron": cron}
    }})
}

/// The fields a validating webhook's denial names, or none when it admits.
async fn denied_fields(kind: &str, object: Value) -> Vec<String> {
    let path = format!("/validate-kafkabackup-com-v1alpha1-{}", kind.to_lowercase());
    let (status, out) =
        post(app(None), &path, serde_json::to_vec(&review(kind, "CREATE", object, None)).expect("json"))
            .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let causes = out["response"]["status"]["details"]["causes"].as_array().cloned().unwrap_or_default();
    assert_eq!(out["response"]["allowed"], causes.is_empty(), "{out}");
    causes.iter().filter_map(|c| c["field"].as_str().map(String::from)).collect()
}

#[tokio::test]
async fn locations_and_drills_are_judged_by_their_rules_through_their_routes() {
    // The rules the controllers run (`rules::location`, `rules::drill`), served at the kinds' paths.
    assert_eq!(denied_fields("KafkaBackupLocation", location("10s")).await, ["spec.syncPeriod"]);
    assert!(denied_fields("KafkaBackupLocation", location("5m")).await.is_empty());
    // A location says how its backups are encrypted, by the rules of a KafkaBackup's block,
    // named at its own path; reading needs no licence (the app here has none).
    let mut encrypted = location("5m");
    encrypted["spec"]["encryption"] = json!({"enabled": true, "keySecret": {"name": "aes", "key": "key"}});
    assert!(denied_fields("KafkaBackupLocation", encrypted.clone()).await.is_empty());
    encrypted["spec"]["encryption"] = json!({"enabled": true});
    assert_eq!(denied_fields("KafkaBackupLocation", encrypted).await, ["spec.encryption"]);
    assert_eq!(denied_fields("KafkaRestoreDrill", drill("0 25 * * *", None)).await, ["spec.schedule.cron"]);
    assert!(denied_fields("KafkaRestoreDrill", drill("0 4 * * 0", Some("ns"))).await.is_empty());
    let mut bad_prefix = drill("0 4 * * 0", None);
    bad_prefix["spec"]["topicPrefix"] = json!("drill/");
    bad_prefix["spec"]["topics"] = json!({"include": ["orders-("]});
    assert_eq!(
        denied_fields("KafkaRestoreDrill", bad_prefix).await,
        ["spec.topicPrefix", "spec.topics.include[0]"]
    );
    // A value of the wrong type is named at its path, as for every kind.
    let mut wrong = drill("0 4 * * 0", None);
    wrong["spec"]["restorePoint"] = json!("Oldest");
    assert_eq!(denied_fields("KafkaRestoreDrill", wrong).await, ["spec.restorePoint"]);
}

#[tokio::test]
async fn locations_and_drills_are_stored_with_their_defaults() {
    for (kind, object, expected) in [
        ("KafkaBackupLocation", location("10m"), json!({"accessMode": "ReadOnly", "syncPeriod": "10m"})),
        (
            "KafkaRestoreDrill",
            drill("0 4 * * 0", None),
            json!({"restorePoint": "Newest", "parallelism": 4, "historyLimit": 10, "schedule": {"cron": "0 4 * * 0", "timezone": "UTC", "suspend": false}}),
        ),
    ] {
        let path = format!("/mutate-kafkabackup-com-v1alpha1-{}", kind.to_lowercase());
        let body = serde_json::to_vec(&review(kind, "CREATE", object.clone(), None)).expect("json");
        let (_, out) = post(app(None), &path, body).await;
        assert_eq!(out["response"]["allowed"], true, "{out}");
        let patch: Vec<u8> = serde_json::from_value(out["response"]["patch"].clone()).expect("patch bytes");
        let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("a JSON patch");
        let mut defaulted = object;
        json_patch::patch(&mut defaulted, &patch).expect("applies");
        for (field, value) in expected.as_object().into_iter().flatten() {
            assert_eq!(&defaulted["spec"][field], value, "{kind} spec.{field}");
        }
    }
}

#[test]
fn a_drill_target_in_another_namespace_is_judged_for_tenancy_at_its_field() {
    let refs = cross_namespace_refs("KafkaRestoreDrill", "ns", &drill("0 4 * * 0", Some("kafka")), None);
    let found: Vec<_> =
        refs.iter().map(|r| (r.field, r.kind, r.namespace.as_str(), r.name.as_str())).collect();
    assert_eq!(found, [("spec.target.strimziClusterRef.namespace", "Kafka", "kafka", "scratch")]);
    assert!(
        cross_namespace_refs("KafkaRestoreDrill", "ns", &drill("0 4 * * 0", Some("ns")), None).is_empty()
    );
    assert!(cross_namespace_refs("KafkaBackupLocation", "ns", &location("5m"), None).is_empty());
}

#[tokio::test]
async fn a_drill_target_in_another_namespace_that_cannot_be_checked_is_refused() {
    // No API client: the access review cannot be made, so the reference is refused, never followed.
    assert_eq!(
        denied_fields("KafkaRestoreDrill", drill("0 4 * * 0", Some("kafka"))).await,
        ["spec.target.strimziClusterRef.namespace"]
    );
}

/// Every webhook the operator serves is registered by each way of installing it, and nothing
/// else is: config/webhook (dist/install.yaml, the OLM bundle's webhookdefinitions), the Helm
/// chart's list, and hack/register-webhooks.sh (local runs and the e2e tests).
#[test]
fn every_served_webhook_is_registered_everywhere() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |file: &str| std::fs::read_to_string(root.join(file)).expect(file);
    let served: std::collections::BTreeSet<String> = webhooks().iter().map(|w| w.path.clone()).collect();
    let manifests = read("config/webhook/manifests.yaml");
    let registered: std::collections::BTreeSet<String> =
        manifests.lines().filter_map(|l| l.trim().strip_prefix("path: ").map(String::from)).collect();
    assert_eq!(registered, served, "config/webhook/manifests.yaml");
    let lower: Vec<String> = KINDS.iter().map(|k| format!("\"{}\"", k.to_lowercase())).collect();
    let chart = read("config/helm/strimzi-backup-operator/templates/webhooks.yaml");
    let kinds_line = chart.lines().find(|l| l.contains("$kinds := list")).expect("the chart's $kinds");
    assert_eq!(kinds_line.matches('"').count(), 2 * KINDS.len(), "{kinds_line}");
    assert!(lower.iter().all(|k| kinds_line.contains(k.as_str())), "{kinds_line}");
    let script = read("hack/register-webhooks.sh");
    let for_line =
        script.lines().find(|l| l.trim_start().starts_with("for kind in")).expect("the script's kinds");
    let listed: Vec<&str> = for_line
        .trim()
        .trim_start_matches("for kind in")
        .trim_end_matches("; do")
        .split_whitespace()
        .collect();
    assert_eq!(listed, KINDS, "hack/register-webhooks.sh");
}

#[test]
fn masking_on_restore_needs_a_licence_granting_it_and_restoring_without_it_never_does() {
    let restore = |spec: Value| json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestore", "metadata": {"name": "r"}, "spec": spec});
    let plain =
        restore(json!({"kafkaCluster": {"bootstrapServers": "dev:9092"}, "backupRef": {"name": "b"}}));
    let mut spec = plain["spec"].clone();
    spec["masking"] = json!({"rules": [{"target": "value", "jsonPath": "$.email", "action": "redact"}]});
    let masked = restore(spec);
    let expired = Err(LicenseError::Expired { id: "lic-1".into(), on: "2026-11-01".into() });
    for licence in [Err(LicenseError::Missing), expired.clone()] {
        assert!(judge("KafkaRestore", &plain, None, &licence, now()).problems.is_empty());
        let j = judge("KafkaRestore", &masked, None, &licence, now());
        assert_eq!(j.problems.len(), 1, "{:?}", j.problems);
        assert!(
            j.problems[0]
                .to_string()
                .starts_with("spec.masking: masking on restore needs the Enterprise edition")
        );
    }
    let encryption_only = Ok(claims(now() + chrono::Duration::days(200)));
    let j = judge("KafkaRestore", &masked, None, &encryption_only, now());
    assert!(j.problems[0].message.contains("does not grant the `masking` feature"), "{:?}", j.problems);
    let mut granted = claims(now() + chrono::Duration::days(200));
    granted.features.push("masking".into());
    assert!(judge("KafkaRestore", &masked, None, &Ok(granted), now()).problems.is_empty());
    // An update (an approval annotation, a finalizer removed) is never refused for the licence.
    assert!(judge("KafkaRestore", &masked, Some(&masked), &expired, now()).problems.is_empty());
}

#[test]
fn an_erasure_needs_a_licence_granting_it_at_creation_and_its_rules_name_their_fields() {
    let erasure = |spec: Value| json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaDataErasure", "metadata": {"name": "e"}, "spec": spec});
    let valid = erasure(json!({"backupRef": {"name": "b"}, "topics": ["t"], "keys": {"values": ["alice"]}}));
    let expired = Err(LicenseError::Expired { id: "lic-1".into(), on: "2026-11-01".into() });
    for licence in
        [Err(LicenseError::Missing), expired.clone(), Ok(claims(now() + chrono::Duration::days(200)))]
    {
        let j = judge("KafkaDataErasure", &valid, None, &licence, now());
        assert_eq!(j.problems.len(), 1, "{:?}", j.problems);
        assert!(
            j.problems[0].to_string().starts_with("spec: KafkaDataErasure (the right to be forgotten) needs the Enterprise edition (licence feature `erasure`)"),
            "{}",
            j.problems[0]
        );
    }
    let mut granted = claims(now() + chrono::Duration::days(200));
    granted.features.push("erasure".into());
    let granted = Ok(granted);
    assert!(judge("KafkaDataErasure", &valid, None, &granted, now()).problems.is_empty());
    // An update (a finalizer, a label) is never refused for the licence.
    assert!(judge("KafkaDataErasure", &valid, Some(&valid), &expired, now()).problems.is_empty());
    let nothing = erasure(json!({"backupRef": {"name": "b"}, "topics": ["t"]}));
    let j = judge("KafkaDataErasure", &nothing, None, &granted, now());
    assert_eq!(j.problems.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), ["spec.keys"]);
}
