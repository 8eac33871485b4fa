//! One request body in, one AdmissionReview out. Everything the API server could send that is
//! not a well-formed request for this webhook gets an answer rather than a panic or a hang:
//! - a body that is not JSON: HTTP 400 with the parser's reason;
//! - JSON that is not an `admission.k8s.io/v1` AdmissionReview with a request (no uid, another
//!   version, no request): an AdmissionReview whose response is not allowed and says why;
//! - a request for another kind than the webhook admits: likewise;
//! - an [`Admit`] that takes longer than [`DEADLINE`] or panics: likewise, so the API server
//!   reports our reason instead of its own timeout.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use serde_json::Value;

/// How long one decision may take. The API server waits 10 s by default; answering before that
/// puts our reason in front of the user instead of a timeout.
pub const DEADLINE: Duration = Duration::from_secs(8);

/// The two kinds of admission webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Defaulting: answers with a JSON patch.
    Mutate,
    /// Validation: allows, or denies with the reasons, possibly with warnings.
    Validate,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Mutate => "mutate",
            Operation::Validate => "validate",
        }
    }
}

/// One webhook: what it does, for which kind, and where it is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub operation: Operation,
    /// The kind it admits, e.g. `KafkaBackup`; requests for any other kind are refused.
    pub kind: String,
    /// URL path, kubebuilder style: `/validate-kafkabackup-com-v1alpha1-kafkabackup`.
    pub path: String,
    /// Metrics label: `validate-kafkabackup`.
    pub name: String,
}

impl Webhook {
    /// The webhook for `kind` of `group`/`version` at kubebuilder's path, which is what
    /// operator-sdk's CSV generation and cert-manager-based kustomize setups expect.
    pub fn kubebuilder(operation: Operation, group: &str, version: &str, kind: &str) -> Self {
        let op = operation.as_str();
        let lower = kind.to_ascii_lowercase();
        Self {
            operation,
            kind: kind.into(),
            path: format!("/{op}-{}-{version}-{lower}", group.replace('.', "-")),
            name: format!("{op}-{lower}"),
        }
    }
}

/// The decisions: implemented by the operator crate, where the API types and rules live.
pub trait Admit: Send + Sync + 'static {
    /// Answers `request`, already checked to be for `webhook.kind`. Build the answer from
    /// `AdmissionResponse::from(&request)` so it carries the request's uid.
    fn admit(
        &self,
        webhook: &Webhook,
        request: AdmissionRequest<DynamicObject>,
    ) -> impl Future<Output = AdmissionResponse> + Send;
}

/// What happened to one request, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    /// Not a request this webhook can judge (answered with an AdmissionReview error).
    Invalid,
    /// Not JSON at all (answered with HTTP 400).
    Malformed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Invalid => "invalid",
            Verdict::Malformed => "malformed",
        }
    }
}

/// The answer to one body.
#[derive(Debug)]
pub enum Answer {
    /// HTTP 200 with this AdmissionReview.
    Review(Box<AdmissionReview<DynamicObject>>, Verdict),
    /// HTTP 400 with this reason.
    BadRequest(String),
}

impl Answer {
    pub fn verdict(&self) -> Verdict {
        match self {
            Answer::Review(_, v) => *v,
            Answer::BadRequest(_) => Verdict::Malformed,
        }
    }
}

/// The answer without a request to copy the uid from: the uid of the body if it has one.
fn invalid(body: &Value, reason: impl ToString) -> Answer {
    let mut response = AdmissionResponse::invalid(reason);
    if let Some(uid) = body.pointer("/request/uid").and_then(Value::as_str) {
        response.uid = uid.into();
    }
    Answer::Review(Box::new(response.into_review()), Verdict::Invalid)
}

/// The request of a well-formed `admission.k8s.io/v1` review in `body`, or the answer that
/// refuses the body. A well-formed review is read once, straight into its type; only a body that
/// does not read is looked at again, to say what is wrong with it.
fn read(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, Answer> {
    if let Ok(review) = serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
        && review.types.api_version == "admission.k8s.io/v1"
        && let Ok(request) = TryInto::<AdmissionRequest<DynamicObject>>::try_into(review)
        && !request.uid.is_empty()
    {
        return Ok(request);
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err(Answer::BadRequest(format!("the body is not JSON: {e}"))),
    };
    match value.get("apiVersion").and_then(Value::as_str) {
        Some("admission.k8s.io/v1") => {}
        other => {
            return Err(invalid(
                &value,
                format!(
                    "expected an AdmissionReview of admission.k8s.io/v1, got apiVersion {}: set admissionReviewVersions: [v1] in the webhook configuration",
                    other.unwrap_or("(none)")
                ),
            ));
        }
    }
    let review: AdmissionReview<DynamicObject> = match serde_json::from_value(value.clone()) {
        Ok(r) => r,
        Err(e) => return Err(invalid(&value, format!("not an AdmissionReview: {e}"))),
    };
    match TryInto::<AdmissionRequest<DynamicObject>>::try_into(review) {
        Ok(r) if r.uid.is_empty() => Err(invalid(&value, "the AdmissionReview request has no uid")),
        Ok(r) => Ok(r),
        Err(_) => Err(invalid(&value, "the AdmissionReview has no request")),
    }
}

/// Reads `body` and asks `admit` for the decision of `webhook`.
pub async fn answer<A: Admit>(admit: &A, webhook: &Webhook, body: &[u8]) -> Answer {
    let request = match read(body) {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    if request.kind.kind != webhook.kind {
        let reason = format!(
            "{} admits {}, not {}: check the rules of the webhook configuration",
            webhook.path, webhook.kind, request.kind.kind
        );
        let denied = AdmissionResponse::from(&request).deny(reason);
        return Answer::Review(Box::new(denied.into_review()), Verdict::Denied);
    }
    let fallback = AdmissionResponse::from(&request);
    let decision = AssertUnwindSafe(admit.admit(webhook, request)).catch_unwind();
    let response = match tokio::time::timeout(DEADLINE, decision).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => {
            tracing::error!(webhook = %webhook.name, "the admission decision panicked");
            fallback.deny("internal error in the admission webhook; see the operator's log")
        }
        Err(_) => fallback.deny(format!("no decision within {} s; try again", DEADLINE.as_secs())),
    };
    let verdict = if response.allowed { Verdict::Allowed } else { Verdict::Denied };
    Answer::Review(Box::new(response.into_review()), verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct AllowAll;

    impl Admit for AllowAll {
        async fn admit(&self, _: &Webhook, request: AdmissionRequest<DynamicObject>) -> AdmissionResponse {
            if request.name == "panic" {
                panic!("told to");
            }
            AdmissionResponse::from(&request)
        }
    }

    fn hook() -> Webhook {
        Webhook::kubebuilder(Operation::Validate, "kafkabackup.com", "v1alpha1", "KafkaBackup")
    }

    fn review(kind: &str, name: &str) -> Value {
        json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u-1", "kind": {"group": "kafkabackup.com", "version": "v1alpha1", "kind": kind},
                "resource": {"group": "kafkabackup.com", "version": "v1alpha1", "resource": "kafkabackups"},
                "name": name, "namespace": "ns", "operation": "CREATE", "userInfo": {},
                "object": {"apiVersion": "kafkabackup.com/v1alpha1", "kind": kind, "metadata": {"name": name}}
            }
        })
    }

    fn response(answer: &Answer) -> &AdmissionResponse {
        match answer {
            Answer::Review(r, _) => r.response.as_ref().expect("a response"),
            Answer::BadRequest(why) => panic!("unexpected 400: {why}"),
        }
    }

    #[test]
    fn paths_are_kubebuilders() {
        let h = hook();
        assert_eq!(h.path, "/validate-kafkabackup-com-v1alpha1-kafkabackup");
        assert_eq!(h.name, "validate-kafkabackup");
    }

    #[tokio::test]
    async fn a_request_is_answered_with_its_uid() {
        let body = serde_json::to_vec(&review("KafkaBackup", "nightly")).expect("json");
        let answer = answer(&AllowAll, &hook(), &body).await;
        assert_eq!(answer.verdict(), Verdict::Allowed);
        assert_eq!(response(&answer).uid, "u-1");
        let Answer::Review(r, _) = &answer else { unreachable!() };
        let out = serde_json::to_value(r).expect("json");
        assert_eq!(
            (out["apiVersion"].as_str(), out["kind"].as_str()),
            (Some("admission.k8s.io/v1"), Some("AdmissionReview"))
        );
    }

    #[tokio::test]
    async fn garbage_gets_a_reason_never_a_panic() {
        let a = answer(&AllowAll, &hook(), b"{not json").await;
        assert!(matches!(&a, Answer::BadRequest(why) if why.contains("not JSON")), "{a:?}");
        let mut no_uid = review("KafkaBackup", "x");
        no_uid["request"].as_object_mut().expect("object").remove("uid");
        let a = answer(&AllowAll, &hook(), &serde_json::to_vec(&no_uid).expect("json")).await;
        assert_eq!(a.verdict(), Verdict::Invalid);
        let mut beta = review("KafkaBackup", "x");
        beta["apiVersion"] = json!("admission.k8s.io/v1beta1");
        let a = answer(&AllowAll, &hook(), &serde_json::to_vec(&beta).expect("json")).await;
        assert!(response(&a).result.message.contains("admissionReviewVersions"));
        assert_eq!(response(&a).uid, "u-1");
        let no_request = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"});
        let a = answer(&AllowAll, &hook(), &serde_json::to_vec(&no_request).expect("json")).await;
        assert!(response(&a).result.message.contains("no request"));
        let pod = serde_json::to_vec(&review("Pod", "x")).expect("json");
        let a = answer(&AllowAll, &hook(), &pod).await;
        assert!(!response(&a).allowed && response(&a).result.message.contains("not Pod"));
        let panics = serde_json::to_vec(&review("KafkaBackup", "panic")).expect("json");
        let a = answer(&AllowAll, &hook(), &panics).await;
        assert!(!response(&a).allowed && response(&a).result.message.contains("internal error"));
    }
}
