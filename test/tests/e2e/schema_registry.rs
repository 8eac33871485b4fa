//! Schema Registry backup and restore (issue 16 §4) against the environment's registry
//! (`SCHEMA_REGISTRY_URL`: Apicurio Registry's Confluent-compatible API).
//!
//! Records are serialized in the Confluent wire format (magic byte 0, 4-byte big-endian schema
//! id, Avro binary or JSON) against the registry, backed up with their schemas, the subjects are
//! deleted permanently, and the restore re-registers them before writing the records. The
//! restored records are read back the way a consumer's deserializer does: the id in the prefix
//! fetched from the registry (`/schemas/ids/{id}`, its references resolved through the subjects
//! they name) and the Avro binary decoded by that schema with the small decoder below — a
//! reader written from the Avro specification, not from the product.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use serde_json::{Value, json};
use strimzi_backup_e2e::dataplane::{
    base_config, consume_all, create_topic, produce, recent, result_line, run_ok, spawn, waited,
};
use strimzi_backup_e2e::env::TestEnv;
use strimzi_backup_e2e::fixtures::unique_suffix;
use strimzi_backup_operator::format::record::{Record, TimestampType};
use strimzi_backup_operator::schema_registry::RegistryConnection;
use strimzi_backup_operator::schema_registry::client::{Registry, segment};

/// Records per topic.
const RECORDS: usize = 30;

fn registry(env: &TestEnv) -> anyhow::Result<(String, Registry)> {
    let url = env.get("SCHEMA_REGISTRY_URL")?.to_string();
    let r = Registry::new(&RegistryConnection { url: url.clone(), ..Default::default() })?;
    Ok((url, r))
}

async fn call(r: &Registry, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let m = reqwest_method(method);
    r.call(m, path, body.as_ref()).await.with_context(|| format!("{method} {path}"))
}

fn reqwest_method(m: &str) -> strimzi_backup_operator::schema_registry::client::Method {
    match m {
        "POST" => strimzi_backup_operator::schema_registry::client::Method::POST,
        "PUT" => strimzi_backup_operator::schema_registry::client::Method::PUT,
        "DELETE" => strimzi_backup_operator::schema_registry::client::Method::DELETE,
        _ => strimzi_backup_operator::schema_registry::client::Method::GET,
    }
}

async fn register(r: &Registry, subject: &str, body: Value) -> anyhow::Result<i32> {
    let v = call(r, "POST", &format!("/subjects/{}/versions", segment(subject)), Some(body)).await?;
    Ok(v["id"].as_i64().context("id")? as i32)
}

/// The subjects of one test run.
struct Subjects {
    customer: String,
    orders: String,
    events: String,
    proto: String,
}

impl Subjects {
    fn all(&self) -> [&str; 4] {
        [&self.orders, &self.customer, &self.events, &self.proto]
    }
}

/// Registers: an Avro `Customer`, an Avro `Order` referencing it, a JSON Schema with two
/// versions (the second soft-deleted), a Protobuf schema; `FORWARD` compatibility on orders.
async fn set_up(r: &Registry, s: &str) -> anyhow::Result<(Subjects, i32, i32)> {
    let subjects = Subjects {
        customer: format!("customer{s}-value"),
        orders: format!("orders{s}-value"),
        events: format!("events{s}-value"),
        proto: format!("proto{s}-value"),
    };
    let customer = json!({"type": "record", "name": "Customer", "namespace": format!("com.acme.e{s}"),
        "fields": [{"name": "name", "type": "string"}]});
    register(r, &subjects.customer, json!({"schema": customer.to_string()})).await?;
    let order = json!({"type": "record", "name": "Order", "namespace": format!("com.acme.e{s}"),
        "fields": [{"name": "id", "type": "long"}, {"name": "customer", "type": format!("com.acme.e{s}.Customer")}]});
    let order_id = register(
        r,
        &subjects.orders,
        json!({"schema": order.to_string(), "references": [
            {"name": format!("com.acme.e{s}.Customer"), "subject": subjects.customer, "version": 1}]}),
    )
    .await?;
    let event = |extra: bool| {
        let mut props = json!({"kind": {"type": "string"}, "n": {"type": "integer"}});
        if extra {
            props["note"] = json!({"type": "string"});
        }
        json!({"$schema": "http://json-schema.org/draft-07/schema#", "title": format!("Event{s}"), "type": "object",
            "properties": props, "required": ["kind", "n"]})
        .to_string()
    };
    let event_id =
        register(r, &subjects.events, json!({"schemaType": "JSON", "schema": event(false)})).await?;
    register(r, &subjects.events, json!({"schemaType": "JSON", "schema": event(true)})).await?;
    call(r, "DELETE", &format!("/subjects/{}/versions/2", segment(&subjects.events)), None).await?;
    let proto = format!(
        "syntax = \"proto3\";\npackage e{s};\n\nmessage Ping {{\n  string from = 1;\n  int64 at = 2;\n}}\n"
    );
    register(r, &subjects.proto, json!({"schemaType": "PROTOBUF", "schema": proto})).await?;
    call(
        r,
        "PUT",
        &format!("/config/{}", segment(&subjects.orders)),
        Some(json!({"compatibility": "FORWARD"})),
    )
    .await?;
    Ok((subjects, order_id, event_id))
}

/// What the registry shows of a subject: every version (soft-deleted too) with its id, type,
/// schema and references, and which versions are live.
async fn describe(r: &Registry, subject: &str) -> anyhow::Result<Value> {
    let s = segment(subject);
    let all = call(r, "GET", &format!("/subjects/{s}/versions?deleted=true"), None).await?;
    let live = call(r, "GET", &format!("/subjects/{s}/versions"), None).await?;
    let mut versions = Vec::new();
    for v in all.as_array().context("versions")? {
        let got = call(r, "GET", &format!("/subjects/{s}/versions/{v}?deleted=true"), None).await?;
        versions.push(json!({
            "version": got["version"], "id": got["id"],
            "schemaType": got.get("schemaType").cloned().unwrap_or(json!("AVRO")),
            "schema": got["schema"], "references": got.get("references").cloned().unwrap_or(json!([])),
        }));
    }
    Ok(json!({"versions": versions, "live": live}))
}

/// Deletes subjects permanently (soft first, as registries require), referrers first.
async fn delete_permanently(r: &Registry, subjects: &Subjects) -> anyhow::Result<()> {
    for subject in subjects.all() {
        let s = segment(subject);
        let _ = call(r, "DELETE", &format!("/subjects/{s}"), None).await;
        call(r, "DELETE", &format!("/subjects/{s}?permanent=true"), None).await?;
    }
    Ok(())
}

/// Avro binary: a zig-zag varint long.
fn avro_long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn avro_string(out: &mut Vec<u8>, s: &str) {
    avro_long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

fn wire(id: i32, body: &[u8]) -> Bytes {
    let mut v = vec![0u8];
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(body);
    Bytes::from(v)
}

fn order_record(i: usize, id: i32, ts: i64) -> Record {
    let mut body = Vec::new();
    avro_long(&mut body, i as i64 * 1000 - 7);
    avro_string(&mut body, &format!("customer {i}"));
    Record {
        offset: i as i64,
        timestamp: ts + i as i64,
        timestamp_type: TimestampType::CreateTime,
        key: Some(Bytes::from(format!("order-{i}"))),
        value: Some(wire(id, &body)),
        headers: Vec::new(),
    }
}

fn event_record(i: usize, id: i32, ts: i64) -> Record {
    Record {
        offset: i as i64,
        timestamp: ts + i as i64,
        timestamp_type: TimestampType::CreateTime,
        key: None,
        value: Some(wire(id, json!({"kind": "click", "n": i}).to_string().as_bytes())),
        headers: Vec::new(),
    }
}

/// Reads Avro binary by a parsed schema; named types from `named`.
struct AvroReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl AvroReader<'_> {
    fn long(&mut self) -> anyhow::Result<i64> {
        let (mut n, mut shift) = (0u64, 0);
        loop {
            let b = *self.bytes.get(self.at).context("truncated varint")?;
            self.at += 1;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    fn value(&mut self, schema: &Value, named: &BTreeMap<String, Value>) -> anyhow::Result<Value> {
        match schema {
            Value::String(t) if t == "long" || t == "int" => Ok(json!(self.long()?)),
            Value::String(t) if t == "string" => {
                let n = usize::try_from(self.long()?)?;
                let s = self.bytes.get(self.at..self.at + n).context("truncated string")?;
                self.at += n;
                Ok(json!(String::from_utf8(s.to_vec())?))
            }
            Value::String(name) => {
                let t = named.get(name).with_context(|| format!("unknown named type {name}"))?.clone();
                self.value(&t, named)
            }
            Value::Object(o) if o.get("type") == Some(&json!("record")) => {
                let mut out = serde_json::Map::new();
                for f in o["fields"].as_array().context("fields")? {
                    out.insert(f["name"].as_str().context("name")?.into(), self.value(&f["type"], named)?);
                }
                Ok(Value::Object(out))
            }
            other => bail!("the test's decoder does not read {other}"),
        }
    }
}

fn full_name(schema: &Value) -> String {
    match schema["namespace"].as_str() {
        Some(ns) => format!("{ns}.{}", schema["name"].as_str().unwrap_or_default()),
        None => schema["name"].as_str().unwrap_or_default().to_string(),
    }
}

/// Deserializes a record value as a consumer's deserializer does: the id from the prefix, the
/// schema and its references from the registry, the Avro binary decoded by it.
async fn decode(r: &Registry, value: &[u8]) -> anyhow::Result<(String, Value)> {
    ensure!(value.len() >= 5 && value[0] == 0, "no Confluent prefix: {value:?}");
    let id = i32::from_be_bytes([value[1], value[2], value[3], value[4]]);
    let found = call(r, "GET", &format!("/schemas/ids/{id}"), None).await?;
    let kind = found.get("schemaType").and_then(Value::as_str).unwrap_or("AVRO").to_string();
    let text = found["schema"].as_str().context("schema")?;
    if kind == "JSON" {
        let schema: Value = serde_json::from_str(text)?;
        let v: Value = serde_json::from_slice(&value[5..])?;
        for req in schema["required"].as_array().context("required")? {
            ensure!(v.get(req.as_str().unwrap_or_default()).is_some(), "{v} lacks {req}");
        }
        return Ok((kind, v));
    }
    let mut named = BTreeMap::new();
    for reference in found.get("references").and_then(Value::as_array).into_iter().flatten() {
        let subject = reference["subject"].as_str().context("subject")?;
        let version = &reference["version"];
        let got = call(r, "GET", &format!("/subjects/{}/versions/{version}", segment(subject)), None).await?;
        let s: Value = serde_json::from_str(got["schema"].as_str().context("schema")?)?;
        named.insert(full_name(&s), s);
    }
    let schema: Value = serde_json::from_str(text)?;
    let mut reader = AvroReader { bytes: &value[5..], at: 0 };
    let decoded = reader.value(&schema, &named)?;
    ensure!(reader.at == value.len() - 5, "{} bytes left after the record", value.len() - 5 - reader.at);
    Ok((kind, decoded))
}

/// Backs up the registry with two topics of registry-serialized records; returns the config
/// prefix, backup id, and what the registry showed of each subject.
struct Backed {
    prefix: String,
    id: String,
    subjects: Subjects,
    before: BTreeMap<String, Value>,
    orders_topic: String,
    events_topic: String,
    old_ids: (i32, i32),
}

async fn back_up(env: &TestEnv, r: &Registry, url: &str) -> anyhow::Result<Backed> {
    let s = unique_suffix();
    let (subjects, order_id, event_id) = set_up(r, &s).await?;
    let (orders_topic, events_topic) = (format!("sr-orders{s}"), format!("sr-events{s}"));
    create_topic(env, &orders_topic, 1, &[]).await?;
    create_topic(env, &events_topic, 1, &[]).await?;
    let ts = recent();
    produce(env, &orders_topic, 0, &(0..RECORDS).map(|i| order_record(i, order_id, ts)).collect::<Vec<_>>())
        .await?;
    produce(env, &events_topic, 0, &(0..RECORDS).map(|i| event_record(i, event_id, ts)).collect::<Vec<_>>())
        .await?;
    // The serialized records decode before anything happens: the check itself works.
    let first = consume_all(env, &orders_topic, 0)?;
    let (_, v) = decode(r, first[3].value.as_deref().context("value")?).await?;
    assert_eq!(v, json!({"id": 2993, "customer": {"name": "customer 3"}}));

    let mut before = BTreeMap::new();
    for subject in subjects.all() {
        before.insert(subject.to_string(), describe(r, subject).await?);
    }
    let prefix = format!("e2e-schemas-{s}/");
    let id = format!("schemas-{s}");
    let config = format!(
        "{}topics: {{include: [\"{orders_topic}\", \"{events_topic}\"]}}\nschemaRegistry: {{url: \"{url}\", subjects: {{include: [\".*{s}-value\"]}}}}\n",
        base_config(env, &prefix, None)?
    );
    let backup = run_ok(env, "backup", &config, &["--backup-id", &id])?;
    let summary = &backup["schemaRegistry"];
    println!("backup's schema registry: {summary}");
    assert!(summary["subjects"].as_u64().is_some_and(|n| n >= 4), "{summary}");
    assert!(summary["deletedVersions"].as_u64().is_some_and(|n| n >= 1), "{summary}");
    for t in ["AVRO", "JSON", "PROTOBUF"] {
        assert!(summary["schemaTypes"][t].as_u64().is_some_and(|n| n >= 1), "{t}: {summary}");
    }
    // The object holds this run's subjects, the soft-deleted version marked.
    let store = strimzi_backup_e2e::dataplane::minio(env)?;
    let object = summary["object"].as_str().context("object")?;
    assert_eq!(object, format!("{prefix}backups/{id}/schema-registry.json"));
    let stored: Value = serde_json::from_slice(
        &object_store::ObjectStoreExt::get(&store, &object_store::path::Path::from(object))
            .await?
            .bytes()
            .await?,
    )?;
    let events = stored["subjects"]
        .as_array()
        .context("subjects")?
        .iter()
        .find(|x| x["subject"] == json!(subjects.events))
        .context("events subject stored")?;
    assert_eq!(events["versions"][1]["deleted"], json!(true), "{events}");
    Ok(Backed { prefix, id, subjects, before, orders_topic, events_topic, old_ids: (order_id, event_id) })
}

/// The subjects as the registry shows them now equal what it showed before the backup, ids
/// aside (through `ids`, old → new).
async fn assert_subjects_back(r: &Registry, b: &Backed, ids: &BTreeMap<i64, i64>) -> anyhow::Result<()> {
    for subject in b.subjects.all() {
        let mut expected = b.before[subject].clone();
        for v in expected["versions"].as_array_mut().context("versions")? {
            let old = v["id"].as_i64().context("id")?;
            v["id"] = json!(ids.get(&old).copied().unwrap_or(old));
        }
        let got = describe(r, subject).await?;
        assert_eq!(got, expected, "subject {subject} after the restore");
    }
    let config = call(r, "GET", &format!("/config/{}", segment(&b.subjects.orders)), None).await?;
    assert_eq!(config["compatibilityLevel"], json!("FORWARD"));
    Ok(())
}

fn id_map(outcome: &Value) -> BTreeMap<i64, i64> {
    outcome["idChanges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["old"].as_i64()?, c["new"].as_i64()?)))
        .collect()
}

/// Backup, subjects deleted permanently, restore with `rewriteSchemaIds`: every subject, version
/// (the soft-deleted one too), type, reference and compatibility is back, and every restored
/// record decodes with the schema its (possibly rewritten) id names in the registry.
#[tokio::test]
async fn schemas_round_trip_and_restored_records_decode_through_the_registry() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let (url, r) = registry(&env)?;
    let b = back_up(&env, &r, &url).await?;
    delete_permanently(&r, &b.subjects).await?;
    ensure!(
        call(&r, "GET", &format!("/subjects/{}/versions?deleted=true", segment(&b.subjects.orders)), None)
            .await
            .is_err(),
        "the subject is still there after a permanent delete"
    );

    let (orders_r, events_r) = (format!("{}-r", b.orders_topic), format!("{}-r", b.events_topic));
    let restore_config = format!(
        "{}backupId: {}\ntopicMapping: [{{sourceTopic: \"{}\", targetTopic: \"{orders_r}\"}}, \
         {{sourceTopic: \"{}\", targetTopic: \"{events_r}\"}}]\nschemaRegistry: {{url: \"{url}\", rewriteSchemaIds: true}}\n",
        base_config(&env, &b.prefix, None)?,
        b.id,
        b.orders_topic,
        b.events_topic
    );
    let restored = run_ok(&env, "restore", &restore_config, &[])?;
    let outcome = &restored["schemaRegistry"];
    println!("restore's schema registry outcome: {outcome}");
    assert_eq!(restored["restoredRecords"], json!(2 * RECORDS));
    assert!(outcome["registered"].as_u64().is_some_and(|n| n >= 5), "{outcome}");
    assert!(outcome["softDeleted"].as_u64().is_some_and(|n| n >= 1), "{outcome}");
    let ids = id_map(outcome);
    // Whether the registry kept the ids or not, the result says which it was.
    let kept = call(&r, "GET", &format!("/subjects/{}/versions/1", segment(&b.subjects.orders)), None)
        .await?["id"]
        .as_i64()
        == Some(i64::from(b.old_ids.0));
    assert_eq!(outcome["idsKept"], json!(kept), "{outcome}");
    if !kept {
        assert!(ids.contains_key(&i64::from(b.old_ids.0)), "the id map names the orders schema: {outcome}");
        assert!(outcome["idsNote"].as_str().is_some_and(|n| n.contains("could not be kept")), "{outcome}");
    }
    assert_subjects_back(&r, &b, &ids).await?;

    for (topic, kind) in [(&orders_r, "AVRO"), (&events_r, "JSON")] {
        let records = consume_all(&env, topic, 0)?;
        assert_eq!(records.len(), RECORDS);
        for (i, rec) in records.iter().enumerate() {
            let (k, v) = decode(&r, rec.value.as_deref().context("value")?).await?;
            assert_eq!(k, kind);
            let expected = match kind {
                "AVRO" => json!({"id": i as i64 * 1000 - 7, "customer": {"name": format!("customer {i}")}}),
                _ => json!({"kind": "click", "n": i}),
            };
            assert_eq!(v, expected, "{topic} record {i}");
        }
    }
    delete_permanently(&r, &b.subjects).await?;
    Ok(())
}

/// Ids that cannot be kept — a different schema registered first takes the next ids, and the
/// registry hands out its own — without `rewriteSchemaIds` the restored records still name the
/// old ids, which the result reports as not kept; with it they carry the new ids and decode.
#[tokio::test]
async fn ids_not_kept_are_reported_and_rewritten_in_restored_records_only_when_asked() -> anyhow::Result<()> {
    let env = TestEnv::load()?;
    let (url, r) = registry(&env)?;
    let b = back_up(&env, &r, &url).await?;
    delete_permanently(&r, &b.subjects).await?;
    // Another schema occupies the next id the registry hands out (and the old ones, on a
    // registry that reuses them).
    let squatter = format!("squatter{}-value", unique_suffix());
    let taken = register(&r, &squatter, json!({"schema": json!({"type": "record", "name": "Squat", "fields": [{"name": "x", "type": "int"}]}).to_string()})).await?;
    println!("a different schema now has id {taken}");

    let config = |rewrite: bool, suffix: &str| -> anyhow::Result<String> {
        Ok(format!(
            "{}backupId: {}\ntopics: {{include: [\"{}\"]}}\ntopicMapping: [{{sourceTopic: \"{}\", targetTopic: \"{}-{suffix}\"}}]\n\
             schemaRegistry: {{url: \"{url}\", rewriteSchemaIds: {rewrite}}}\n",
            base_config(&env, &b.prefix, None)?,
            b.id,
            b.orders_topic,
            b.orders_topic,
            b.orders_topic
        ))
    };
    let plain = run_ok(&env, "restore", &config(false, "plain")?, &[])?;
    let outcome = &plain["schemaRegistry"];
    println!("without rewrite: {outcome}");
    assert_eq!(outcome["idsKept"], json!(false), "{outcome}");
    let ids = id_map(outcome);
    let new_order_id = *ids.get(&i64::from(b.old_ids.0)).context("the orders schema's id changed")?;
    assert_ne!(new_order_id, i64::from(b.old_ids.0));
    assert!(outcome["idsNote"].as_str().is_some_and(|n| n.contains("rewriteSchemaIds")), "{outcome}");
    let records = consume_all(&env, &format!("{}-plain", b.orders_topic), 0)?;
    assert_eq!(records.len(), RECORDS);
    let prefix_id =
        |rec: &Record| rec.value.as_ref().map(|v| i32::from_be_bytes([v[1], v[2], v[3], v[4]]) as i64);
    assert!(
        records.iter().all(|rec| prefix_id(rec) == Some(i64::from(b.old_ids.0))),
        "records left as backed up"
    );

    // Again (idempotent: everything already there), now rewriting.
    let rewritten = run_ok(&env, "restore", &config(true, "rewritten")?, &[])?;
    let outcome = &rewritten["schemaRegistry"];
    println!("with rewrite: {outcome}");
    assert_eq!(outcome["registered"], json!(0), "a second restore registers nothing: {outcome}");
    assert_eq!(id_map(outcome), ids, "the same id map on a rerun");
    assert_subjects_back(&r, &b, &ids).await?;
    let records = consume_all(&env, &format!("{}-rewritten", b.orders_topic), 0)?;
    assert_eq!(records.len(), RECORDS);
    for (i, rec) in records.iter().enumerate() {
        assert_eq!(prefix_id(rec), Some(new_order_id), "record {i} carries the new id");
        let (_, v) = decode(&r, rec.value.as_deref().context("value")?).await?;
        assert_eq!(v, json!({"id": i as i64 * 1000 - 7, "customer": {"name": format!("customer {i}")}}));
    }

    // Across two workers (issue 18 §3): worker 0 registers and saves the id map with its plan,
    // worker 1 rewrites its share (the other topic) with the map it reads from there.
    let both = format!(
        "{}backupId: {}\ntopicMapping: [{{sourceTopic: \"{}\", targetTopic: \"{}-w\"}}, {{sourceTopic: \"{}\", targetTopic: \"{}-w\"}}]\n\
         schemaRegistry: {{url: \"{url}\", rewriteSchemaIds: true}}\n",
        base_config(&env, &b.prefix, None)?,
        b.id,
        b.orders_topic,
        b.orders_topic,
        b.events_topic,
        b.events_topic
    );
    let restore_id = format!("sr-workers-{}", unique_suffix());
    let args = |index: &'static str| ["--restore-id", &restore_id, "--workers", "2", "--worker-index", index];
    let worker_0 = waited(spawn(&env, "restore", &both, &args("0"))?);
    let worker_1 = run_ok(&env, "restore", &both, &args("1"))?;
    assert_eq!(
        worker_1["worker"]["partitions"],
        json!(1),
        "worker 1 restores one of the two topics: {worker_1}"
    );
    let whole = result_line(&worker_0.await??.stdout)?;
    assert_eq!(whole["restoredRecords"], json!(2 * RECORDS), "{whole}");
    let ids = id_map(&whole["schemaRegistry"]);
    for (topic, old, kind) in [(&b.orders_topic, b.old_ids.0, "AVRO"), (&b.events_topic, b.old_ids.1, "JSON")]
    {
        let want = ids.get(&i64::from(old)).copied().unwrap_or(i64::from(old));
        let records = consume_all(&env, &format!("{topic}-w"), 0)?;
        assert_eq!(records.len(), RECORDS, "{topic}-w");
        for (i, rec) in records.iter().enumerate() {
            assert_eq!(prefix_id(rec), Some(want), "{topic}-w record {i} carries the registry's id");
            let (k, _) = decode(&r, rec.value.as_deref().context("value")?).await?;
            assert_eq!(k, kind, "{topic}-w record {i}");
        }
    }

    delete_permanently(&r, &b.subjects).await?;
    let s = segment(&squatter);
    call(&r, "DELETE", &format!("/subjects/{s}"), None).await?;
    call(&r, "DELETE", &format!("/subjects/{s}?permanent=true"), None).await?;
    Ok(())
}

/// `KafkaBackup.spec.schemaRegistry` through the real operator: the backup Job is given the
/// registry with basic authentication whose password is a Secret mounted as a file (Apicurio
/// here takes any credentials: what is checked is that the Job gets the file, not the value),
/// the run completes with the subject and version counts in `status.lastBackup`, and the
/// manifest names `schema-registry.json`. The password is in no config, argument, environment
/// value or status. A restore of it through the operator reports the registry in its status. A
/// URL with credentials in it is refused naming the field.
#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_backup_with_spec_schema_registry_stores_the_subjects_through_the_operator()
-> anyhow::Result<()> {
    use std::time::Duration;

    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::Api;
    use strimzi_backup_e2e::fixtures::{Cluster, wait_until};
    use strimzi_backup_e2e::operator::{Operator, finished_run, minio_storage, namespace_with_kafka};
    use strimzi_backup_operator::api::backup::{BackupRunStatus, KafkaBackup};
    use strimzi_backup_operator::api::restore::{KafkaRestore, RunPhase};
    use strimzi_backup_operator::format::manifest::Manifest;

    let cluster = Cluster::connect().await?;
    let env = &cluster.env;
    let (url, r) = registry(env)?;
    let s = unique_suffix();
    let (_subjects, order_id, _) = set_up(&r, &s).await?;
    let topic = format!("sr-op{s}");
    create_topic(env, &topic, 1, &[]).await?;
    let ts = recent();
    produce(env, &topic, 0, &(0..RECORDS).map(|i| order_record(i, order_id, ts)).collect::<Vec<_>>()).await?;

    let ns = namespace_with_kafka(&cluster, "schemas").await?;
    let password = format!("never-shown-{s}");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: registry-creds}}\nstringData: {{password: {password}}}\n"
            ),
        )
        .await?;
    let operator = Operator::start(env, &ns)?;
    let prefix = format!("e2e-schemas-op-{s}/");
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: with-schemas}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  schemaRegistry:\n    url: '{url}'\n    authentication: {{type: basic, username: backup, passwordSecret: {{name: registry-creds, key: password}}}}\n    subjects: {{include: ['.*{s}-value']}}\n{}",
                minio_storage(env, &prefix, "minio-credentials", 2)?
            ),
        )
        .await?;
    let backups: Api<KafkaBackup> = Api::namespaced(cluster.client.clone(), &ns);
    let run = wait_until(Duration::from_secs(180), "the backup", || async {
        let st = backups.get("with-schemas").await?.status.unwrap_or_default();
        Ok(st.backup_history.into_iter().find(|b| b.status != BackupRunStatus::Running))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert_eq!(run.status, BackupRunStatus::Completed, "{run:?}\n{}", operator.log_text());
    // Four subjects; five versions (the JSON subject's soft-deleted second one included).
    let last = backups.get("with-schemas").await?.status.unwrap_or_default().last_backup;
    let last = last.context("status.lastBackup")?;
    assert_eq!((last.schema_subjects, last.schema_versions), (Some(4), Some(5)), "{last:?}");

    let store = strimzi_backup_e2e::dataplane::minio(env)?;
    let manifest_path = object_store::path::Path::from(format!("{prefix}backups/{}/manifest.json", run.id));
    let manifest = Manifest::from_json(
        &object_store::ObjectStoreExt::get(&store, &manifest_path).await?.bytes().await?,
        manifest_path.as_ref(),
    )?;
    let reference = manifest.schema_registry.context("the manifest names no Schema Registry object")?;
    assert_eq!(reference.object, format!("{prefix}backups/{}/schema-registry.json", run.id));
    assert_eq!((reference.subjects, reference.versions), (4, 5), "{reference:?}");

    // The Job: the password Secret as a mounted file; its value nowhere in the Job or config.
    let job = Api::<Job>::namespaced(cluster.client.clone(), &ns).get(&run.id).await?;
    let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).context("pod spec")?;
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some("registry-creds"))
        .context("the registry's Secret is not mounted")?;
    let config = Api::<ConfigMap>::namespaced(cluster.client.clone(), &ns).get(&run.id).await?;
    let text = serde_json::to_string(&config.data)?;
    assert!(
        text.contains("/etc/strimzi-backup/schema-registry/password/password") && text.contains(&url),
        "the config names the registry and the mounted file: {text}"
    );
    let everything = format!(
        "{text}{}{}",
        serde_json::to_string(&job)?,
        serde_json::to_string(&backups.get("with-schemas").await?.status)?
    );
    assert!(!everything.contains(&password), "the password leaked: {volume:?}");
    assert!(!operator.log_text().contains(&password), "the password is in the operator's log");

    // A restore of it through the operator, into the same registry (everything is found there
    // already), with a bearer token from the Secret: the summary reaches the status.
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestore\nmetadata: {{name: with-schemas}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  backupRef: {{name: with-schemas}}\n  topicMapping: [{{sourceTopic: {topic}, targetTopic: {topic}-restored}}]\n  restore:\n    schemaRegistry:\n      url: '{url}'\n      authentication: {{type: bearer, tokenSecret: {{name: registry-creds, key: password}}}}\n"
            ),
        )
        .await?;
    let restores: Api<KafkaRestore> = Api::namespaced(cluster.client.clone(), &ns);
    let restored =
        finished_run(&restores, "with-schemas", Duration::from_secs(180), |r| r.status.as_ref()?.phase)
            .await
            .map_err(|e| e.context(operator.log_text()))?
            .status
            .unwrap_or_default();
    assert_eq!(restored.phase, Some(RunPhase::Completed), "{restored:?}\n{}", operator.log_text());
    let sr = restored
        .restore
        .as_ref()
        .and_then(|r| r.schema_registry.clone())
        .context("status.restore.schemaRegistry")?;
    println!("restore's schema registry status: {sr:?}");
    assert_eq!((sr.subjects, sr.versions, sr.registered + sr.already_present), (4, 5, 5), "{sr:?}");
    assert!(!serde_json::to_string(&restored)?.contains(&password), "the token leaked into the status");

    // Credentials in the URL: refused, naming the field and the fix.
    let bad = url.replacen("://", "://backup:pw@", 1);
    cluster
        .apply_yaml(
            &ns,
            &format!(
                "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaBackup\nmetadata: {{name: url-creds}}\nspec:\n  strimziClusterRef: {{name: my-cluster}}\n  topics: {{include: ['{topic}']}}\n  schemaRegistry: {{url: '{bad}'}}\n{}",
                minio_storage(env, &format!("e2e-schemas-bad-{s}/"), "minio-credentials", 2)?
            ),
        )
        .await?;
    let message = wait_until(Duration::from_secs(60), "the backup's InvalidSpec", || async {
        let st = backups.get("url-creds").await?.status.unwrap_or_default();
        Ok(st
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.reason.as_deref() == Some("InvalidSpec"))
            .and_then(|c| c.message.clone()))
    })
    .await
    .map_err(|e| e.context(operator.log_text()))?;
    assert!(
        message.contains("spec.schemaRegistry.url") && message.contains("spec.schemaRegistry.authentication"),
        "{message}"
    );
    assert!(!message.contains("backup:pw"), "the credentials are repeated: {message}");
    cluster.delete_namespace(&ns).await?;
    Ok(())
}
