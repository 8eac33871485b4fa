//! A fake API server for reconcile tests (kube-rs controller-rs's `fixtures.rs` idea: the client
//! is a `tower_test` mock, and the test answers its requests). A test gives the object, the world
//! it finds (the answers) and the exact calls it expects, in order; [`FakeApiServer::run`] drives
//! the reconcile against them and fails naming the request when the reconcile makes a call that
//! is not the next one expected, makes one too many, or returns before making them all.
//!
//! Events are calls like any other: a test expects each one with [`Call::event`] (its type and
//! reason), so an Event the controller adds or drops fails the test as a write would. Nothing is
//! matched loosely and nothing is ignored. This proves what a reconcile does for a given object
//! and world without the environment; the end-to-end tests stay the proof that those calls do
//! what they should on a real API server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

use super::context::Context;
use super::license::InstalledLicense;
use super::metrics::Metrics;
use super::settings::Settings;

/// The image the fake operator's Jobs run.
pub const IMAGE: &str = "registry.test/strimzi-backup-operator:test";

/// How long the reconcile may take to make its next request (or return) before the test fails
/// naming what it waited for. Every answer is in memory: a reconcile that is not blocked on a
/// missing answer moves on in microseconds.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A `Context` whose client talks to the returned fake API server; settings from an environment
/// that has only the image, no licence, fresh metrics.
pub fn context() -> (Arc<Context>, FakeApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let settings = Settings::from_env(|k| (k == "STRIMZI_BACKUP_IMAGE").then(|| IMAGE.to_string()))
        .expect("settings from an image alone");
    let metrics = Arc::new(Metrics::register(&mut Registry::default()));
    let ctx = Context::new(client, settings, metrics, InstalledLicense::default());
    (Arc::new(ctx), FakeApiServer { handle })
}

/// The other end of the [`context`]'s client.
pub struct FakeApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

/// A request as the fake API server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    /// The query, decoded (`labelSelector`, `fieldManager`, ...).
    pub query: Vec<(String, String)>,
    /// The body as JSON (`Null` when empty).
    pub body: Value,
}

impl Seen {
    fn describe(&self) -> String {
        let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} {}?{}", self.method, self.path, query.join("&"))
    }

    /// The query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

type Check = Box<dyn FnOnce(&Seen) + Send>;

/// What the fake API server answers.
enum Reply {
    Json(StatusCode, Value),
    /// The request's body back (what the API server does with a create, near enough).
    Echo(StatusCode),
    /// `base` with the request's body merged in, or applied when it is a JSON patch (a patch
    /// that the API server applied).
    Merged(Value),
    /// Plain text (a pod's log).
    Text(String),
}

/// One expected request and its answer.
pub struct Call {
    method: Method,
    path: String,
    checks: Vec<Check>,
    reply: Reply,
}

impl Call {
    fn new(method: Method, path: impl Into<String>, reply: Reply) -> Self {
        Self { method, path: path.into(), checks: Vec::new(), reply }
    }

    /// `GET path`, answered with `object`.
    pub fn get(path: impl Into<String>, object: Value) -> Self {
        Self::new(Method::GET, path, Reply::Json(StatusCode::OK, object))
    }

    /// `GET path`, answered 404 NotFound.
    pub fn get_absent(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path, Reply::Json(StatusCode::NOT_FOUND, status(404, "NotFound")))
    }

    /// `GET path?labelSelector=selector`, answered with a list of `items` of `kind`.
    pub fn list(path: impl Into<String>, selector: &str, kind: &str, items: Vec<Value>) -> Self {
        let list = json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items});
        let selector = selector.to_string();
        Self::new(Method::GET, path, Reply::Json(StatusCode::OK, list))
            .check(move |s| assert_eq!(s.param("labelSelector"), Some(selector.as_str()), "label selector"))
    }

    /// `GET path` with no label selector (every object of a kind), answered with `items`.
    pub fn list_all(path: impl Into<String>, kind: &str, items: Vec<Value>) -> Self {
        let list = json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items});
        Self::new(Method::GET, path, Reply::Json(StatusCode::OK, list))
            .check(|s| assert_eq!(s.param("labelSelector"), None, "no label selector"))
    }

    /// `GET path` of a pod's log, answered with `text`.
    pub fn log(path: impl Into<String>, text: &str) -> Self {
        Self::new(Method::GET, path, Reply::Text(text.into()))
    }

    /// `POST path`, created (the body is echoed back).
    pub fn create(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path, Reply::Echo(StatusCode::CREATED))
    }

    /// `POST path`, refused 409 AlreadyExists (an object of that name is there).
    pub fn create_conflict(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path, Reply::Json(StatusCode::CONFLICT, status(409, "AlreadyExists")))
    }

    /// `DELETE path`, answered 200 with a Success status.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path, Reply::Json(StatusCode::OK, status(200, "Success")))
    }

    /// `PATCH path`, answered with `object` with the patch merged in.
    pub fn patch(path: impl Into<String>, object: Value) -> Self {
        Self::new(Method::PATCH, path, Reply::Merged(object))
    }

    /// A server-side apply of `object`'s status under the operator's field manager, forced —
    /// how the controllers write status. `path` is the object's; `/status` is added.
    pub fn apply_status(path: &str, object: Value) -> Self {
        Self::patch(format!("{path}/status"), object).check(|s| {
            assert_eq!(s.param("fieldManager"), Some(super::context::MANAGER), "status field manager");
            assert_eq!(s.param("force"), Some("true"), "status applies are forced");
        })
    }

    /// The Events recorder publishing a new Event of `type_` (`Normal`/`Warning`) and `reason`
    /// in `namespace`.
    pub fn event(namespace: &str, type_: &'static str, reason: &'static str) -> Self {
        Self::create(format!("/apis/events.k8s.io/v1/namespaces/{namespace}/events")).check(move |s| {
            let got = (s.body["type"].as_str(), s.body["reason"].as_str());
            assert_eq!(got, (Some(type_), Some(reason)), "Event (type, reason); note: {}", s.body["note"]);
        })
    }

    /// Also asserts `check` of the request (its body, its query).
    pub fn check(mut self, check: impl FnOnce(&Seen) + Send + 'static) -> Self {
        self.checks.push(Box::new(check));
        self
    }

    /// Also asserts `check` of the request's JSON body.
    pub fn body(self, check: impl FnOnce(&Value) + Send + 'static) -> Self {
        self.check(move |s| check(&s.body))
    }

    fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A Kubernetes `Status` of a failed request.
fn status(code: u16, reason: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": if code < 300 { "Success" } else { "Failure" },
        "message": format!("fake API server: {reason}"), "reason": reason, "code": code})
}

impl FakeApiServer {
    /// Runs `reconcile` against `calls`: each request must be the next call expected (method and
    /// path, then the call's checks), none may come after the last, and the reconcile must not
    /// return before the last. Returns what the reconcile returned.
    pub async fn run<F: Future>(self, calls: Vec<Call>, reconcile: F) -> F::Output {
        let mut handle = self.handle;
        let mut reconcile = std::pin::pin!(reconcile);
        let mut served: Vec<String> = Vec::new();
        let mut calls = calls.into_iter();
        let mut next = calls.next();
        loop {
            let waiting_for = next.as_ref().map_or("the reconcile to return".into(), Call::describe);
            let step = tokio::time::timeout(STEP_TIMEOUT, async {
                tokio::select! {
                    out = &mut reconcile => Err(out),
                    request = handle.next_request() => Ok(request),
                }
            });
            let request = match step.await {
                Err(_) => panic!(
                    "waited {STEP_TIMEOUT:?} for {waiting_for}; neither came.\nserved so far:\n  {}",
                    served.join("\n  ")
                ),
                Ok(Err(out)) => match next {
                    None => return out,
                    Some(call) => panic!(
                        "the reconcile returned, but {} was still expected (and {} more).\nserved:\n  {}",
                        call.describe(),
                        calls.len(),
                        served.join("\n  ")
                    ),
                },
                Ok(Ok(Some(request))) => request,
                Ok(Ok(None)) => panic!("the client went away while {waiting_for} was expected"),
            };
            let (request, respond) = request;
            let seen = seen(request).await;
            let Some(call) = next.take() else {
                panic!(
                    "unexpected request {} (body {}): every expected call was made.\nserved:\n  {}",
                    seen.describe(),
                    seen.body,
                    served.join("\n  ")
                );
            };
            assert!(
                seen.method == call.method && seen.path == call.path,
                "request #{}: expected {}, got {} (body {}).\nserved before:\n  {}",
                served.len() + 1,
                call.describe(),
                seen.describe(),
                seen.body,
                served.join("\n  ")
            );
            for check in call.checks {
                check(&seen);
            }
            served.push(seen.describe());
            respond.send_response(reply(call.reply, &seen));
            next = calls.next();
        }
    }
}

async fn seen(request: Request<Body>) -> Seen {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(decode_query).unwrap_or_default();
    let bytes = request.into_body().collect_bytes().await.expect("the request's body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON request body")
    };
    Seen { method, path, query, body }
}

fn reply(reply: Reply, seen: &Seen) -> Response<Body> {
    let (code, bytes) = match reply {
        Reply::Json(code, value) => (code, value.to_string().into_bytes()),
        Reply::Echo(code) => (code, seen.body.to_string().into_bytes()),
        Reply::Merged(mut base) => {
            if seen.body.is_array() {
                // A JSON patch (the finalizer's): applied as the API server would.
                let patch: json_patch::Patch =
                    serde_json::from_value(seen.body.clone()).expect("a JSON patch");
                json_patch::patch(&mut base, &patch).expect("the JSON patch applies to the object");
            } else {
                json_patch::merge(&mut base, &seen.body);
            }
            (StatusCode::OK, base.to_string().into_bytes())
        }
        Reply::Text(text) => (StatusCode::OK, text.into_bytes()),
    };
    Response::builder().status(code).body(Body::from(bytes)).expect("a response")
}

/// `a=b&c=d%2Ce` decoded into pairs (the few characters kube's query encoding escapes).
fn decode_query(query: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 3;
                            continue;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b'+' => out.push(b' '),
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// API discovery finding Strimzi's `Kafka` and `KafkaUser` served in `kafka.strimzi.io/v1` (what
/// the first read of a Strimzi resource asks, once per `Context`).
pub fn strimzi_discovery() -> Vec<Call> {
    let version = json!({"groupVersion": "kafka.strimzi.io/v1", "version": "v1"});
    let groups = json!({"kind": "APIGroupList", "apiVersion": "v1",
        "groups": [{"name": "kafka.strimzi.io", "versions": [version], "preferredVersion": version}]});
    let resource = |name: &str, kind: &str| {
        json!({"name": name, "singularName": "", "namespaced": true,
        "kind": kind, "verbs": ["get", "list", "watch"]})
    };
    let resources = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "kafka.strimzi.io/v1",
        "resources": [resource("kafkas", "Kafka"), resource("kafkas/status", "Kafka"), resource("kafkausers", "KafkaUser")]});
    vec![Call::get("/apis", groups), Call::get("/apis/kafka.strimzi.io/v1", resources)]
}

/// The read of a ready Strimzi `Kafka` `namespace/name` with a plain listener at `bootstrap`.
pub fn ready_kafka(namespace: &str, name: &str, bootstrap: &str) -> Call {
    let kafka = json!({"apiVersion": "kafka.strimzi.io/v1", "kind": "Kafka",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
            "listeners": [{"name": "plain", "bootstrapServers": bootstrap}]}});
    Call::get(format!("/apis/kafka.strimzi.io/v1/namespaces/{namespace}/kafkas/{name}"), kafka)
}

/// The delay of a requeue. kube keeps `Action`'s field private; its `Debug` form is
/// `Action { requeue_after: Some(12.5s) }` (the unit `s`, `ms`, `µs` or `ns`), read back exactly.
pub fn requeue_after(action: &Action) -> Option<Duration> {
    let text = format!("{action:?}");
    let inner = text.split("Some(").nth(1)?.split(')').next()?;
    let (number, nanos_per_unit) = [("ns", 1u128), ("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)]
        .into_iter()
        .find_map(|(unit, scale)| inner.strip_suffix(unit).map(|n| (n, scale)))?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = fraction.len() as u32;
    let nanos = whole.parse::<u128>().ok()? * nanos_per_unit
        + fraction.parse::<u128>().unwrap_or(0) * nanos_per_unit / 10u128.pow(digits);
    Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
}

/// The `Ready` condition of an applied status: (status, reason).
pub fn ready(body: &Value) -> (String, String) {
    let ready = body["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .unwrap_or_else(|| panic!("a Ready condition in {body}"));
    (ready["status"].as_str().unwrap_or("").into(), ready["reason"].as_str().unwrap_or("").into())
}

/// Asserts that a child's body (a ConfigMap or Job being created) is `name` in `namespace`,
/// labelled as `component` of `instance`, with one owner reference: the controller, `kind`
/// `instance` of `uid`.
pub fn assert_owned(
    body: &Value,
    namespace: &str,
    name: &str,
    kind: &str,
    instance: &str,
    uid: &str,
    component: &str,
) {
    let meta = &body["metadata"];
    assert_eq!((&meta["name"], &meta["namespace"]), (&json!(name), &json!(namespace)), "child name");
    let labels = &meta["labels"];
    for (k, v) in [
        ("app.kubernetes.io/instance", instance),
        ("app.kubernetes.io/component", component),
        ("app.kubernetes.io/managed-by", "strimzi-backup-operator"),
    ] {
        assert_eq!(labels[k], v, "label {k} in {labels}");
    }
    let owners = meta["ownerReferences"].as_array().expect("owner references");
    assert_eq!(owners.len(), 1, "one owner: {owners:?}");
    let o = &owners[0];
    assert_eq!(
        (&o["kind"], &o["name"], &o["uid"], &o["controller"]),
        (&json!(kind), &json!(instance), &json!(uid), &json!(true)),
        "the owner reference"
    );
}

/// An owner reference to `kind` `name` with `uid`, as the controllers set it on children.
pub fn owner(kind: &str, name: &str, uid: &str) -> Value {
    json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": kind, "name": name, "uid": uid,
        "controller": true, "blockOwnerDeletion": true})
}

/// A Job `name` in `namespace` with `labels`, `owners` and `status`.
pub fn job(namespace: &str, name: &str, labels: Value, owners: Vec<Value>, status: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": owners},
        "spec": {"template": {"spec": {"containers": []}}}, "status": status})
}

/// A Job status: finished with condition `type_` (`Complete`, `Failed`), started at `started`.
pub fn finished(type_: &str, started: &str) -> Value {
    json!({"startTime": started, "conditions": [{"type": type_, "status": "True"}]})
}

/// The pod of Job `job` that ended, with `message` as its termination message.
pub fn pod(namespace: &str, job: &str, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{job}-pod"), "namespace": namespace, "labels": {"job-name": job},
            "creationTimestamp": "2026-11-21T10:00:00Z"},
        "status": {"phase": "Succeeded", "containerStatuses": [{"name": "main", "image": IMAGE, "imageID": "",
            "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "message": message}}}]}})
}

/// How a finished Job's output is read: its pods listed by the Job's name, then the log of the
/// one found, which says `log`.
pub fn job_output(namespace: &str, job: &str, log: &str) -> Vec<Call> {
    let pods = format!("/api/v1/namespaces/{namespace}/pods");
    vec![
        Call::list(&pods, &format!("job-name={job}"), "Pod", vec![pod(namespace, job, "")]),
        Call::log(format!("{pods}/{job}-pod/log"), log),
    ]
}

/// The labels of a child of `instance` as `component`, without a Strimzi cluster.
pub fn labels(instance: &str, component: &str) -> Value {
    serde_json::to_value(super::job::labels(component, instance, None)).expect("labels as JSON")
}

mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_requeues_read_back() {
        let q = decode_query("&labelSelector=app%3Dx%2Cb%3Dy&force=true");
        assert_eq!(q, [("labelSelector".into(), "app=x,b=y".into()), ("force".into(), "true".into())]);
        assert_eq!(
            requeue_after(&Action::requeue(Duration::from_millis(30_200))),
            Some(Duration::from_millis(30_200))
        );
        assert_eq!(
            requeue_after(&Action::requeue(Duration::from_millis(200))),
            Some(Duration::from_millis(200))
        );
        assert_eq!(requeue_after(&Action::await_change()), None);
    }
}
