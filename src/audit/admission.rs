//! Admission decisions into the audit log: [`Audited`] wraps the webhook's decisions (any
//! [`Admit`]) and records each validating answer — allowed or denied, with the requesting
//! user from the AdmissionReview's `userInfo`, the operation, the object, and the denial's
//! message. The only place the user behind a change is known: the rows of the runs that follow
//! name the object, whose admission row names the user. Mutating (defaulting) answers are not
//! recorded: the validating answer to the same request follows them.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation as Verb};
use strimzi_backup_webhook::{Admit, Operation, Webhook};

use super::Audit;
use super::event::{Actor, AuditEvent, EventKind, ObjectRef, Outcome};

/// `inner`'s decisions, recorded in `audit`.
pub struct Audited<A> {
    pub inner: std::sync::Arc<A>,
    pub audit: Audit,
}

fn verb(op: &Verb) -> &'static str {
    match op {
        Verb::Create => "CREATE",
        Verb::Update => "UPDATE",
        Verb::Delete => "DELETE",
        Verb::Connect => "CONNECT",
    }
}

/// The audit event of `response` to `request` (pure).
pub fn admission_event(
    kind: &str,
    request: &AdmissionRequest<DynamicObject>,
    response: &AdmissionResponse,
) -> AuditEvent {
    let user = &request.user_info;
    let uid = request
        .object
        .as_ref()
        .or(request.old_object.as_ref())
        .and_then(|o| o.metadata.uid.clone())
        .unwrap_or_default();
    let outcome = if response.allowed { Outcome::Allowed } else { Outcome::Denied };
    let mut event = AuditEvent::new(EventKind::Admission, outcome)
        .actor(Actor {
            username: user.username.clone().unwrap_or_else(|| "(anonymous)".into()),
            uid: user.uid.clone().filter(|u| !u.is_empty()),
            groups: user.groups.clone().unwrap_or_default(),
        })
        .namespace(request.namespace.clone().unwrap_or_default())
        .object(ObjectRef::new(kind, request.name.clone()).uid(uid))
        .figures(serde_json::json!({
            "operation": verb(&request.operation),
            "dryRun": request.dry_run,
            "warnings": response.warnings.as_ref().map_or(0, Vec::len),
        }));
    if !response.allowed {
        event = event.reason(response.result.message.clone());
    }
    event
}

impl<A: Admit> Admit for Audited<A> {
    async fn admit(&self, webhook: &Webhook, request: AdmissionRequest<DynamicObject>) -> AdmissionResponse {
        if webhook.operation != Operation::Validate {
            return self.inner.admit(webhook, request).await;
        }
        // The decision takes the request; what the row needs of it is kept first.
        let kept = AdmissionRequest { object: request.object.clone(), old_object: None, ..request.clone() };
        let response = self.inner.admit(webhook, request).await;
        self.audit.record(admission_event(&webhook.kind, &kept, &response));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(user: &str) -> AdmissionRequest<DynamicObject> {
        let review: kube::core::admission::AdmissionReview<DynamicObject> = serde_json::from_value(serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "r-1", "kind": {"group": "kafkabackup.com", "version": "v1alpha1", "kind": "KafkaRestore"},
                "resource": {"group": "kafkabackup.com", "version": "v1alpha1", "resource": "kafkarestores"},
                "name": "r1", "namespace": "team-a", "operation": "CREATE",
                "userInfo": {"username": user, "groups": ["devs"]},
                "object": {"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestore",
                           "metadata": {"name": "r1", "uid": "obj-1"}}
            }
        }))
        .expect("review");
        review.try_into().expect("request")
    }

    #[test]
    fn a_denial_names_user_object_and_why() {
        let req = request("alice");
        let denied = AdmissionResponse::from(&req).deny("spec.cluster: missing");
        let e = admission_event("KafkaRestore", &req, &denied);
        assert_eq!((e.kind, e.outcome), (EventKind::Admission, Outcome::Denied));
        assert_eq!(e.actor.as_ref().map(|a| a.username.as_str()), Some("alice"));
        assert_eq!(e.namespace.as_deref(), Some("team-a"));
        assert_eq!(e.object.as_ref().and_then(|o| o.uid.as_deref()), Some("obj-1"));
        assert_eq!(e.reason.as_deref(), Some("spec.cluster: missing"));
        assert_eq!(e.figures["operation"], "CREATE");
    }
}
