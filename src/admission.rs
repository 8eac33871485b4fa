//! The admission decisions (SPEC §3, §4), served by the `webhook` crate's TLS server from the
//! `operator` process. Everything decided here is decided by functions the controllers also run
//! (`api::defaults`, `api::rules`, `api::enterprise`), so a cluster without the webhook, or
//! with it bypassed, ends up in the same place: the webhook only says it earlier, at
//! `kubectl apply`.
//!
//! - Mutating: the defaulting JSON patch of `api::defaults`.
//! - Validating: the spec must read (a value that does not fit is named at its path), the
//!   kind's rules (`api::rules`: `backup`, `restore`, `offset_reset`, `location`, `drill`),
//!   immutability of one-shot specs, and the licence for Enterprise fields. All problems are
//!   reported together, each with its field and how to fix it. Suspicious but valid
//!   settings and a licence about to expire are warnings. Secrets are not looked at: that
//!   would need `get secrets` in every namespace (least privilege, issue 14); a Job whose
//!   Secret is missing is reported by its controller instead (`Ready=False JobPodBlocked`).
//!
//! - Tenancy: a reference into another namespace (`api::tenancy`) needs the requesting user's
//!   right to `get` the referenced object there (a LocalSubjectAccessReview with the request's
//!   userInfo) and the referenced object's opt-in annotation. The controllers re-check the
//!   opt-in (they know no user), so a cluster without this webhook is refused the same refs.
//!
//! - Restore access policy (Enterprise, [`restore_policy`]): a restore of a `KafkaBackup` with a
//!   `restorePolicy` needs the user's `restore` verb on it (a LocalSubjectAccessReview, as for
//!   tenancy), the policy's target clusters and approval; the mutating webhook stamps the restore
//!   for the controller's own check (`crate::restore_access`).
//!
//! Its room: `api` (types, rules, the licence verdict), `crate::license` (the installed licence
//! and its records) and `crate::strimzi` (another namespace's `Kafka`): never `operator`, so the
//! webhook's decisions do not depend on the controllers.
//!
//! Structural rules (exactly one cluster connection, the storage block matching
//! `storage.type`, …) are CEL rules in the CRDs: the API server applies them with or without
//! this webhook, so they are not repeated here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, ResourceAttributes, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation as Verb};
use kube::core::response::{StatusCause, StatusDetails};
use kube::core::{DynamicObject, Status};
use serde_json::Value;
use strimzi_backup_webhook::{Admit, Operation, Webhook};

use crate::api::validation::{FieldError, parse_spec};
use crate::api::{
    GROUP, KafkaBackup, KafkaBackupLocationSpec, KafkaBackupSpec, KafkaOffsetResetSpec,
    KafkaRestoreDrillSpec, KafkaRestoreSpec, VERSION, defaults, enterprise, rules, tenancy,
};
use crate::license::accepted::AcceptedSettings;
use crate::license::{Claims, InstalledLicense, LicenseError};
use crate::strimzi::StrimziApi;

/// The kinds admitted, each with a mutating and a validating webhook: every kind users write.
/// `KafkaRestorePoint` is not among them: only the operator writes restore points (users' roles
/// read them), so there is nothing to admit.
pub const KINDS: [&str; 7] = [
    "KafkaBackup",
    "KafkaRestore",
    "KafkaOffsetReset",
    "KafkaBackupLocation",
    "KafkaRestoreDrill",
    "KafkaBackupSchedule",
    "KafkaDataErasure",
];

/// How long the tenancy checks of one reference (access review, opt-in lookup) may take; the
/// API server's deadline for the whole decision is 10 s.
const TENANCY_LOOKUP: Duration = Duration::from_secs(3);

/// A licence closer than this to its expiry is mentioned in a warning.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// The webhooks (a mutating and a validating one per kind) at their kubebuilder paths.
pub fn webhooks() -> Vec<Webhook> {
    let ops = [Operation::Mutate, Operation::Validate];
    KINDS.iter().flat_map(|kind| ops.map(|op| Webhook::kubebuilder(op, GROUP, VERSION, kind))).collect()
}

/// What the validating webhook found: problems deny, warnings go back to the client.
#[derive(Debug, Default, PartialEq)]
pub struct Judgement {
    pub problems: Vec<FieldError>,
    pub warnings: Vec<String>,
}

fn spec_of(object: &Value) -> Value {
    object.get("spec").cloned().unwrap_or(Value::Object(Default::default()))
}

/// The Enterprise part of a `KafkaBackup`'s judgement: the one licence verdict
/// (`api::enterprise::verdict`, which the controller runs too). New or changed Enterprise
/// settings need a licence that grants them; settings accepted before — unchanged by an update,
/// or `recorded` for this object and storage (`crate::license::accepted`: a `KafkaBackup`
/// deleted and applied again) — keep running with a warning when the licence lapsed, because
/// expiry must never stop an existing schedule.
fn licence(
    spec: &KafkaBackupSpec,
    old: Option<&KafkaBackupSpec>,
    licence: &Result<Claims, LicenseError>,
    recorded: bool,
    now: DateTime<Utc>,
    judgement: &mut Judgement,
) {
    let uses = enterprise::backup_uses(spec);
    if uses.is_empty() {
        return;
    }
    let before = old.and_then(|old| enterprise::fingerprint(&enterprise::backup_uses(old)));
    let current = enterprise::fingerprint(&uses);
    let accepted: Vec<&str> =
        before.as_deref().into_iter().chain(current.as_deref().filter(|_| recorded)).collect();
    match enterprise::verdict(&uses, licence, &accepted) {
        enterprise::Verdict::Allowed { .. } => {}
        enterprise::Verdict::Refused { problems, .. } => judgement.problems.extend(problems),
        enterprise::Verdict::Protecting { problems, .. } => {
            if let Some(p) = problems.first() {
                judgement.warnings.push(format!(
                    "{}: the licence does not cover it any more ({}); the existing settings keep running, changing them will be refused",
                    p.path,
                    licence.as_ref().err().map(ToString::to_string).unwrap_or_else(|| "feature not granted".into())
                ));
            }
        }
    }
    if let Ok(claims) = licence {
        let left = claims.expires_at - now;
        if left < chrono::Duration::days(EXPIRY_WARNING_DAYS) {
            judgement.warnings.push(format!(
                "the Enterprise licence {} expires on {} ({} days left); renew it to keep using {}",
                claims.id,
                claims.expires_at.format("%Y-%m-%d"),
                left.num_days(),
                uses[0].field
            ));
        }
    }
}

/// Judges a new `object` of `kind` (and on updates the `old` one): pure, so every rule is
/// unit-testable without a server.
pub fn judge(
    kind: &str,
    object: &Value,
    old: Option<&Value>,
    licence_state: &Result<Claims, LicenseError>,
    now: DateTime<Utc>,
) -> Judgement {
    judge_recorded(kind, object, old, licence_state, false, now)
}

/// [`judge`], knowing whether a licence record vouches for the object's Enterprise settings
/// (`crate::license::accepted`, looked up by [`Admission`] before judging).
pub fn judge_recorded(
    kind: &str,
    object: &Value,
    old: Option<&Value>,
    licence_state: &Result<Claims, LicenseError>,
    recorded: bool,
    now: DateTime<Utc>,
) -> Judgement {
    let mut j = Judgement::default();
    let spec = spec_of(object);
    let old_spec = old.map(spec_of);
    match kind {
        "KafkaBackup" => match parse_spec::<KafkaBackupSpec>(&spec) {
            Ok(s) => {
                j.problems = rules::backup(&s);
                j.warnings = rules::backup_warnings(&s, now);
                let old = old_spec.as_ref().and_then(|o| parse_spec::<KafkaBackupSpec>(o).ok());
                licence(&s, old.as_ref(), licence_state, recorded, now, &mut j);
            }
            Err(e) => j.problems.push(e),
        },
        "KafkaRestore" => match parse_spec::<KafkaRestoreSpec>(&spec) {
            Ok(s) => {
                j.problems = rules::restore(&s, now);
                // Masking needs a licence granting `masking` (restoring without it never does).
                // Judged at creation only: the spec is immutable, and an update (an approval
                // annotation, a finalizer removed) must never be refused for a lapsed licence.
                if old.is_none() {
                    j.problems.extend(enterprise::check(&enterprise::restore_uses(&s), licence_state));
                }
            }
            Err(e) => j.problems.push(e),
        },
        "KafkaOffsetReset" => match parse_spec::<KafkaOffsetResetSpec>(&spec) {
            Ok(s) => {
                j.problems = rules::offset_reset(&s, now);
            }
            Err(e) => j.problems.push(e),
        },
        "KafkaBackupLocation" => match parse_spec::<KafkaBackupLocationSpec>(&spec) {
            Ok(s) => j.problems = rules::location(&s),
            Err(e) => j.problems.push(e),
        },
        "KafkaRestoreDrill" => match parse_spec::<KafkaRestoreDrillSpec>(&spec) {
            Ok(s) => j.problems = rules::drill(&s),
            Err(e) => j.problems.push(e),
        },
        "KafkaBackupSchedule" => match parse_spec::<crate::api::KafkaBackupScheduleSpec>(&spec) {
            Ok(s) => j.problems = crate::api::backup_schedule::rules::problems(&s),
            Err(e) => j.problems.push(e),
        },
        "KafkaDataErasure" => match parse_spec::<crate::api::KafkaDataErasureSpec>(&spec) {
            Ok(s) => {
                j.problems = crate::api::erasure::problems(&s);
                // Every erasure needs a licence granting `erasure`; judged at creation only (the
                // spec is immutable; a finalizer or label change is never refused).
                if old.is_none() {
                    j.problems.extend(enterprise::check(&enterprise::erasure_uses(&s), licence_state));
                }
            }
            Err(e) => j.problems.push(e),
        },
        other => j.problems.push(FieldError::new("kind", format!("{other} is not a kind of {GROUP}"))),
    }
    j
}

/// The references of `object` (a `kind` in `namespace`) into other namespaces that are new:
/// not in `old` (an update that keeps its references is not judged again, so revoking an opt-in
/// never blocks a finalizer's removal or a label change).
pub fn cross_namespace_refs(
    kind: &str,
    namespace: &str,
    object: &Value,
    old: Option<&Value>,
) -> Vec<tenancy::CrossRef> {
    let refs = |object: &Value| -> Vec<tenancy::CrossRef> {
        let spec = spec_of(object);
        match kind {
            "KafkaBackup" => parse_spec(&spec).map(|s| tenancy::backup(namespace, &s)),
            "KafkaRestore" => parse_spec(&spec).map(|s| tenancy::restore(namespace, &s)),
            "KafkaOffsetReset" => parse_spec(&spec).map(|s| tenancy::offset_reset(namespace, &s)),
            "KafkaRestoreDrill" => parse_spec(&spec).map(|s| tenancy::drill(namespace, &s)),
            _ => Ok(Vec::new()),
        }
        .unwrap_or_default()
    };
    let before = old.map(refs).unwrap_or_default();
    refs(object).into_iter().filter(|r| !before.contains(r)).collect()
}

/// A denial naming every problem: in the message (what kubectl prints) and as causes with
/// their fields (what API clients read).
pub fn deny(
    response: AdmissionResponse,
    kind: &str,
    name: &str,
    problems: &[FieldError],
) -> AdmissionResponse {
    let mut response = response.deny(rules::message(problems));
    response.result = Status {
        code: 422,
        reason: "Invalid".into(),
        details: Some(StatusDetails {
            name: name.into(),
            group: GROUP.into(),
            kind: kind.into(),
            causes: problems
                .iter()
                .map(|p| StatusCause {
                    reason: "FieldValueInvalid".into(),
                    message: p.message.clone(),
                    field: p.path.clone(),
                })
                .collect(),
            uid: String::new(),
            retry_after_seconds: 0,
        }),
        ..response.result
    };
    response
}

/// The admission decisions, with what they need from the process.
pub struct Admission {
    /// Signs the restore authorizations of the restore access policy; unset without a cluster.
    restore_key: crate::restore_access::Key,
    license: InstalledLicense,
    /// For the tenancy checks; none in unit tests and benchmarks without a cluster.
    client: Option<Client>,
    /// Reads another namespace's Strimzi `Kafka` for its opt-in, in the version served.
    strimzi: Option<StrimziApi>,
    /// The licence records (`crate::license::accepted`) in the operator's namespace; none
    /// without a cluster: then no record vouches for anything.
    accepted: Option<AcceptedSettings>,
}

impl Admission {
    pub fn new(license: InstalledLicense, client: Option<Client>) -> Self {
        let strimzi = client.clone().map(StrimziApi::new);
        Self { license, client, strimzi, accepted: None, restore_key: Default::default() }
    }

    /// Signs restore authorizations with `key` (`crate::restore_access`).
    pub fn with_restore_key(mut self, key: crate::restore_access::Key) -> Self {
        self.restore_key = key;
        self
    }

    /// Looks for licence records in `operator_namespace` (where the controller writes them).
    pub fn with_licence_records(mut self, operator_namespace: &str) -> Self {
        self.accepted = self.client.clone().map(|c| AcceptedSettings::new(c, operator_namespace));
        self
    }

    /// Whether a licence record vouches for the Enterprise settings of the `KafkaBackup`
    /// `namespace/name` in `object`. Looked up only when it can matter (Enterprise settings in
    /// use, no licence that grants them). A lookup that fails or is slow finds nothing: the
    /// settings are then judged as new, and refused — never admitted unchecked.
    async fn recorded(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        object: &Value,
        licence: &Result<Claims, LicenseError>,
    ) -> bool {
        let Some(accepted) = self.accepted.as_ref().filter(|_| kind == "KafkaBackup") else { return false };
        let Ok(spec) = parse_spec::<KafkaBackupSpec>(&spec_of(object)) else { return false };
        let uses = enterprise::backup_uses(&spec);
        let Some(fingerprint) = enterprise::fingerprint(&uses) else { return false };
        // Only a verdict that is not already "allowed" can be changed by a record.
        if name.is_empty()
            || matches!(enterprise::verdict(&uses, licence, &[]), enterprise::Verdict::Allowed { .. })
        {
            return false;
        }
        let record = enterprise::record_name(namespace, name, &spec.storage, &fingerprint);
        matches!(tokio::time::timeout(TENANCY_LOOKUP, accepted.recorded(&record)).await, Ok(Ok(true)))
    }

    /// The tenancy problems of `refs` for a request by `user` from namespace `from`: each
    /// reference needs the user's `get` there (LocalSubjectAccessReview) and the referenced object's
    /// opt-in. A check that cannot be made (no client, API server failing or slow) refuses:
    /// admitting would follow another tenant's reference unchecked.
    async fn tenancy(&self, user: &UserInfo, from: &str, refs: &[tenancy::CrossRef]) -> Vec<FieldError> {
        let mut problems = Vec::new();
        for r in refs {
            let checked = tokio::time::timeout(TENANCY_LOOKUP, self.check_ref(user, from, r)).await;
            match checked {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(problem))) => problems.push(problem),
                Ok(Err(e)) => problems.push(FieldError::new(
                    r.field,
                    format!("cannot check access to {} {}/{} ({e}); try again", r.kind, r.namespace, r.name),
                )),
                Err(_) => problems.push(FieldError::new(
                    r.field,
                    format!("checking access to {} {}/{} timed out; try again", r.kind, r.namespace, r.name),
                )),
            }
        }
        problems
    }

    async fn check_ref(
        &self,
        user: &UserInfo,
        from: &str,
        r: &tenancy::CrossRef,
    ) -> Result<Option<FieldError>, String> {
        let (Some(client), Some(strimzi)) = (&self.client, &self.strimzi) else {
            return Err("the webhook has no API client".into());
        };
        // Local: asked in the referenced namespace, so the operator needs `create` on
        // localsubjectaccessreviews only there (a Role works), not cluster-wide.
        if !access_review(client, user, &r.namespace, r.group, r.resource, "get", &r.name).await? {
            return Ok(Some(r.forbidden(user.username.as_deref().unwrap_or("(anonymous)"))));
        }
        let annotations = if r.kind == "KafkaBackup" {
            let api: Api<KafkaBackup> = Api::namespaced(client.clone(), &r.namespace);
            api.get_metadata_opt(&r.name).await.map_err(|e| e.to_string())?.map(|m| m.metadata.annotations)
        } else {
            strimzi
                .get(r.kind, &r.namespace, &r.name)
                .await
                .map_err(|e| e.to_string())?
                .map(|k| k.metadata.annotations)
        };
        Ok(match annotations {
            Some(a) if tenancy::allows(a.as_ref(), from) => None,
            found => Some(r.not_allowed(from, Some(found.is_some()))),
        })
    }
}

/// Whether `user` may `verb` the object `resource`/`name` (API `group`) in `namespace`: a
/// LocalSubjectAccessReview there with the request's userInfo (user, uid, groups, extra), so the
/// answer is Kubernetes RBAC's (and any other authorizer's) for exactly that user.
pub(crate) async fn access_review(
    client: &Client,
    user: &UserInfo,
    namespace: &str,
    group: &str,
    resource: &str,
    verb: &str,
    name: &str,
) -> Result<bool, String> {
    let review = LocalSubjectAccessReview {
        metadata: kube::api::ObjectMeta { namespace: Some(namespace.into()), ..Default::default() },
        spec: SubjectAccessReviewSpec {
            user: user.username.clone(),
            uid: user.uid.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.into()),
                resource: Some(resource.into()),
                verb: Some(verb.into()),
                namespace: Some(namespace.into()),
                name: Some(name.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<LocalSubjectAccessReview> = Api::namespaced(client.clone(), namespace);
    let answer = reviews.create(&PostParams::default(), &review).await.map_err(|e| e.to_string())?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

impl Admission {
    /// The restore-point problems of a new `KafkaRestore`: a `backupRef.backupId` that is not a
    /// kept restore point of the `KafkaBackup`, a `restorePointRef` that names none, a point in
    /// time outside the window of what it restores. A `KafkaBackup` that has not listed its
    /// restore points yet (one from before they existed, until its next run) is not judged; a
    /// lookup that fails admits with a warning — the restore itself still refuses a backup that
    /// is not there.
    async fn restore_target(&self, namespace: &str, object: &Value) -> (Vec<FieldError>, Vec<String>) {
        let Some(client) = &self.client else { return (Vec::new(), Vec::new()) };
        let Ok(spec) = parse_spec::<KafkaRestoreSpec>(&spec_of(object)) else {
            return (Vec::new(), Vec::new());
        };
        let looked = tokio::time::timeout(TENANCY_LOOKUP, restore_target(client, namespace, &spec)).await;
        match looked {
            Ok(Ok(problems)) => (problems, Vec::new()),
            Ok(Err(e)) => (Vec::new(), vec![format!("the restore's backup and point in time were not checked against its restore points: {e}")]),
            Err(_) => (Vec::new(), vec!["the restore's backup and point in time were not checked against its restore points: timed out".into()]),
        }
    }
}

async fn restore_target(
    client: &Client,
    namespace: &str,
    spec: &KafkaRestoreSpec,
) -> Result<Vec<FieldError>, kube::Error> {
    use crate::api::restore_point::{KafkaRestorePoint, SOURCE_KIND_LABEL, SOURCE_LABEL};
    let pit = spec.point_in_time.as_ref().and_then(|p| p.timestamp.as_deref());
    if let Some(r) = &spec.restore_point_ref {
        let api: Api<KafkaRestorePoint> = Api::namespaced(client.clone(), namespace);
        return Ok(match api.get_opt(&r.name).await? {
            Some(point) => {
                let source = format!("restore point {}", r.name);
                let window = crate::restore_points::window_of(&point.spec);
                crate::restore_points::restore_target_problems(&source, None, pit, &[], &window)
            }
            None => vec![FieldError::new(
                "spec.restorePointRef.name",
                format!(
                    "no KafkaRestorePoint {} in {namespace}; `kubectl get krp -n {namespace}` lists them",
                    r.name
                ),
            )],
        });
    }
    let Some(r) = &spec.backup_ref else { return Ok(Vec::new()) };
    let kb_ns = r.namespace.clone().unwrap_or_else(|| namespace.to_string());
    let backups: Api<KafkaBackup> = Api::namespaced(client.clone(), &kb_ns);
    let Some(kb) = backups.get_opt(&r.name).await? else { return Ok(Vec::new()) };
    let window = kb.status.map(|s| s.recoverability).unwrap_or_default();
    if window.last_successful_backup.is_none() {
        return Ok(Vec::new());
    }
    let points: Api<KafkaRestorePoint> = Api::namespaced(client.clone(), &kb_ns);
    let selector = format!("{SOURCE_KIND_LABEL}=KafkaBackup,{SOURCE_LABEL}={}", r.name);
    let specs: Vec<_> = points
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .map(|p| p.spec)
        .collect();
    let source = format!("KafkaBackup {kb_ns}/{}", r.name);
    let id = r.backup_id.as_deref().map(|id| ("spec.backupRef.backupId", id));
    Ok(crate::restore_points::restore_target_problems(&source, id, pit, &specs, &window))
}

/// The defaulting patch, with `annotations` set (`None` values removed) when given: the restore
/// access policy's stamp.
fn mutate(
    response: AdmissionResponse,
    kind: &str,
    name: &str,
    object: &Value,
    annotations: Option<&std::collections::BTreeMap<String, Option<String>>>,
) -> AdmissionResponse {
    let patched = defaults::patch(kind, object).and_then(|patch| {
        let Some(annotations) = annotations else { return Ok(patch) };
        let mut defaulted = object.clone();
        json_patch::patch(&mut defaulted, &patch)
            .map_err(|e| FieldError::new("spec", format!("cannot apply the defaulting patch: {e}")))?;
        Ok(json_patch::diff(object, &restore_policy::annotated(&defaulted, annotations)))
    });
    match patched {
        Ok(patch) if patch.0.is_empty() => response,
        Ok(patch) => match response.clone().with_patch(patch) {
            Ok(r) => r,
            Err(e) => response.deny(format!("cannot encode the defaulting patch: {e}")),
        },
        Err(problem) => deny(response, kind, name, &[problem]),
    }
}

impl Admit for Admission {
    async fn admit(&self, webhook: &Webhook, request: AdmissionRequest<DynamicObject>) -> AdmissionResponse {
        let response = AdmissionResponse::from(&request);
        if !matches!(request.operation, Verb::Create | Verb::Update) {
            return response;
        }
        let Some(object) = request.object.as_ref().and_then(|o| serde_json::to_value(o).ok()) else {
            return response.deny("the request has no object to admit");
        };
        let kind = webhook.kind.as_str();
        let old = request.old_object.as_ref().and_then(|o| serde_json::to_value(o).ok());
        let namespace = request.namespace.clone().unwrap_or_default();
        if webhook.operation == Operation::Mutate {
            let mut stamp = None;
            if kind == "KafkaRestore" {
                let old = old.as_ref().filter(|_| request.operation == Verb::Update);
                match self.restore_stamp(&request.user_info, &namespace, &object, old).await {
                    Ok(s) => stamp = s,
                    Err(problem) => return deny(response, kind, &request.name, &[problem]),
                }
            }
            return mutate(response, kind, &request.name, &object, stamp.as_ref());
        }
        let now = Utc::now();
        let licence = self.license.check(now);
        let recorded = self.recorded(kind, &namespace, &request.name, &object, &licence).await;
        let j = judge_recorded(kind, &object, old.as_ref(), &licence, recorded, now);
        if !j.problems.is_empty() {
            return deny(response, kind, &request.name, &j.problems);
        }
        let refs = cross_namespace_refs(kind, &namespace, &object, old.as_ref());
        if !refs.is_empty() {
            let problems = self.tenancy(&request.user_info, &namespace, &refs).await;
            if !problems.is_empty() {
                return deny(response, kind, &request.name, &problems);
            }
        }
        let mut warnings = j.warnings;
        if kind == "KafkaRestore" && request.operation == Verb::Create {
            let problems = self.restore_policy_problems(&request.user_info, &namespace, &object).await;
            if !problems.is_empty() {
                return deny(response, kind, &request.name, &problems);
            }
            let (problems, more) = self.restore_target(&namespace, &object).await;
            if !problems.is_empty() {
                return deny(response, kind, &request.name, &problems);
            }
            warnings.extend(more);
        }
        let mut response = response;
        if !warnings.is_empty() {
            response.warnings = Some(warnings);
        }
        response
    }
}

mod restore_policy;

#[cfg(test)]
mod tests;
