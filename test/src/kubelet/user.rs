//! Test-only code that stands in for a kubelet and container runtime: which user a container's
//! process runs as, resolved like the kubelet and containerd resolve it.
//!
//! - UID: the container's `securityContext.runAsUser`, else the pod's, else the image's user.
//!   There are no images: `--image-user PATTERN=UID[:GID]` says which user an image runs as
//!   (default: our image, `USER 1001` in the Dockerfile, and busybox, which runs as root).
//!   An image the harness knows nothing about runs as [`FALLBACK_UID`]:[`FALLBACK_GID`]
//!   (65532, distroless's `nonroot`), never as root.
//! - GID: `runAsGroup` (container over pod), else the image user's group when the UID is the
//!   image's, else 0 — what containerd does for a UID that the image's `/etc/passwd` lacks
//!   (our image has no passwd entry for 1001: it runs as 1001:0).
//! - Supplementary groups: the pod's `supplementalGroups`, then `fsGroup`.
//! - `runAsNonRoot: true` with UID 0 refuses the container with the kubelet's messages
//!   (`CreateContainerConfigError`).
//! - `allowPrivilegeEscalation: false` sets `PR_SET_NO_NEW_PRIVS`. Capabilities: a non-root UID
//!   has none after `setuid` + `exec` (containerd sets no ambient capabilities, so `add` is lost
//!   for non-root users just like in a real container); a root container with `drop: [ALL]`
//!   loses the whole bounding set, so that it has none after `exec` either.

use std::str::FromStr;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::process::glob_match;

/// UID of an image the harness knows nothing about (distroless's `nonroot`).
pub const FALLBACK_UID: u32 = 65532;
/// GID of an image the harness knows nothing about.
pub const FALLBACK_GID: u32 = 65532;

/// `--image-user PATTERN=UID[:GID]`: images matching PATTERN (a substring, or a glob with `*`/`?`
/// against the whole image) run as UID (GID, default 0) when the pod does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub pattern: String,
    pub uid: u32,
    pub gid: u32,
}

impl FromStr for ImageUser {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected PATTERN=UID[:GID] with numeric ids, got {s:?}");
        let (pattern, ids) = s.split_once('=').filter(|(p, _)| !p.is_empty()).ok_or_else(bad)?;
        let (uid, gid) = ids.split_once(':').unwrap_or((ids, "0"));
        Ok(ImageUser {
            pattern: pattern.to_owned(),
            uid: uid.parse().map_err(|_| bad())?,
            gid: gid.parse().map_err(|_| bad())?,
        })
    }
}

impl ImageUser {
    fn matches(&self, image: &str) -> bool {
        if self.pattern.contains(['*', '?']) {
            glob_match(&self.pattern, image)
        } else {
            image.contains(&self.pattern)
        }
    }
}

/// The `--image-user` defaults: our image (Dockerfile `USER 1001`, no passwd entry: group 0) and
/// busybox (root).
pub fn default_image_users() -> Vec<ImageUser> {
    vec![
        ImageUser { pattern: "strimzi-backup-operator".into(), uid: 1001, gid: 0 },
        ImageUser { pattern: "busybox".into(), uid: 0, gid: 0 },
    ]
}

/// Who a container's process is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (supplementalGroups, then fsGroup; no duplicates).
    pub groups: Vec<u32>,
    /// `allowPrivilegeEscalation: false`.
    pub no_new_privs: bool,
    /// A root process with `capabilities.drop: [ALL]`: empty the bounding set.
    pub drop_bounding_set: bool,
}

/// The kubelet's `format.Pod`: `name_namespace(uid)`.
fn pod_ref(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    )
}

fn to_id(v: i64, what: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("{what} {v} is not a valid id"))
}

/// Resolves the identity of `container` of `pod`. `Err` is a `CreateContainerConfigError`
/// message.
pub fn resolve(pod: &Pod, container: &Container, image_users: &[ImageUser]) -> Result<Identity, String> {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let csc = container.security_context.as_ref();
    let image = container.image.as_deref().unwrap_or_default();
    let image_user = image_users.iter().find(|u| u.matches(image));
    let (image_uid, image_gid) = image_user.map(|u| (u.uid, u.gid)).unwrap_or((FALLBACK_UID, FALLBACK_GID));

    let explicit_uid = csc.and_then(|s| s.run_as_user).or_else(|| psc.and_then(|s| s.run_as_user));
    let non_root = csc.and_then(|s| s.run_as_non_root).or_else(|| psc.and_then(|s| s.run_as_non_root));
    if non_root == Some(true) {
        match explicit_uid {
            Some(0) => {
                return Err(format!(
                    "container's runAsUser breaks non-root policy (pod: \"{}\", container: {})",
                    pod_ref(pod),
                    container.name
                ));
            }
            None if image_uid == 0 => {
                return Err(format!(
                    "container has runAsNonRoot and image will run as root (pod: \"{}\", container: {})",
                    pod_ref(pod),
                    container.name
                ));
            }
            _ => {}
        }
    }
    let uid = match explicit_uid {
        Some(u) => to_id(u, "runAsUser")?,
        None => image_uid,
    };
    let gid = match csc.and_then(|s| s.run_as_group).or_else(|| psc.and_then(|s| s.run_as_group)) {
        Some(g) => to_id(g, "runAsGroup")?,
        None if uid == image_uid => image_gid,
        None => 0,
    };
    let mut groups: Vec<u32> = Vec::new();
    let supplemental = psc.and_then(|s| s.supplemental_groups.clone()).unwrap_or_default();
    let fs_group = psc.and_then(|s| s.fs_group);
    for g in supplemental.into_iter().chain(fs_group) {
        let g = to_id(g, "supplemental group")?;
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let no_new_privs = csc.and_then(|s| s.allow_privilege_escalation) == Some(false);
    let drops_all = csc
        .and_then(|s| s.capabilities.as_ref())
        .and_then(|c| c.drop.as_ref())
        .is_some_and(|d| d.iter().any(|c| c.eq_ignore_ascii_case("ALL")));
    Ok(Identity { uid, gid, groups, no_new_privs, drop_bounding_set: uid == 0 && drops_all })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Capabilities, PodSecurityContext, PodSpec, SecurityContext};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(psc: PodSecurityContext) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec { security_context: Some(psc), ..Default::default() }),
            ..Default::default()
        }
    }

    fn container(image: &str, sc: SecurityContext) -> Container {
        Container {
            name: "main".into(),
            image: Some(image.into()),
            security_context: Some(sc),
            ..Default::default()
        }
    }

    const OURS: &str = "quay.io/strimzi-backup/strimzi-backup-operator:dev";

    /// (pod context, container context, image) → (uid, gid, groups) or the refusal's start.
    #[test]
    fn resolves_like_the_kubelet() {
        let users = default_image_users();
        let psc = |uid: Option<i64>, gid: Option<i64>, non_root: Option<bool>| PodSecurityContext {
            run_as_user: uid,
            run_as_group: gid,
            run_as_non_root: non_root,
            ..Default::default()
        };
        let csc = |uid: Option<i64>, gid: Option<i64>, non_root: Option<bool>| SecurityContext {
            run_as_user: uid,
            run_as_group: gid,
            run_as_non_root: non_root,
            ..Default::default()
        };
        type Row = (PodSecurityContext, SecurityContext, &'static str, Result<(u32, u32), &'static str>);
        let table: Vec<Row> = vec![
            // Nothing said: the image's user.
            (psc(None, None, None), csc(None, None, None), OURS, Ok((1001, 0))),
            (psc(None, None, None), csc(None, None, None), "example.com/unknown:1", Ok((65532, 65532))),
            // runAsNonRoot without a UID (our Jobs): the image's non-root user.
            (psc(None, None, Some(true)), csc(None, None, Some(true)), OURS, Ok((1001, 0))),
            (psc(None, None, Some(true)), csc(None, None, None), "unknown", Ok((65532, 65532))),
            (
                psc(None, None, Some(true)),
                csc(None, None, None),
                "busybox:1.36",
                Err("container has runAsNonRoot and image will run as root"),
            ),
            // The container's fields win over the pod's.
            (psc(Some(2000), Some(3000), None), csc(Some(1234), None, None), OURS, Ok((1234, 3000))),
            (psc(Some(2000), None, None), csc(None, Some(42), None), OURS, Ok((2000, 42))),
            // A UID the image does not know gets group 0, like containerd gives it.
            (psc(Some(2000), None, None), csc(None, None, None), "unknown", Ok((2000, 0))),
            // UID 0 asked with runAsNonRoot (pod's or container's) is refused.
            (
                psc(Some(0), None, Some(true)),
                csc(None, None, None),
                OURS,
                Err("container's runAsUser breaks non-root policy"),
            ),
            (
                psc(None, None, None),
                csc(Some(0), None, Some(true)),
                OURS,
                Err("container's runAsUser breaks non-root policy"),
            ),
            // The container may lift the pod's runAsNonRoot.
            (psc(None, None, Some(true)), csc(Some(0), None, Some(false)), OURS, Ok((0, 0))),
            (psc(None, None, None), csc(None, None, None), "busybox", Ok((0, 0))),
        ];
        for (i, (p, c, image, want)) in table.into_iter().enumerate() {
            let got = resolve(&pod(p), &container(image, c), &users);
            match (got, want) {
                (Ok(id), Ok((uid, gid))) => assert_eq!((id.uid, id.gid), (uid, gid), "row {i}"),
                (Err(m), Err(start)) => {
                    assert!(m.starts_with(start), "row {i}: {m}");
                    assert!(m.ends_with("(pod: \"p_ns(u1)\", container: main)"), "row {i}: {m}");
                }
                (got, want) => panic!("row {i}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn groups_privilege_escalation_and_capabilities() -> Result<(), String> {
        let p = pod(PodSecurityContext {
            fs_group: Some(2000),
            supplemental_groups: Some(vec![3000, 2000]),
            ..Default::default()
        });
        let restricted = SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
            ..Default::default()
        };
        let id = resolve(&p, &container(OURS, restricted.clone()), &default_image_users())?;
        assert_eq!(id.groups, [3000, 2000]);
        assert!(id.no_new_privs);
        assert!(!id.drop_bounding_set, "a non-root UID has no capabilities to drop");
        let root = SecurityContext { run_as_user: Some(0), ..restricted };
        let id = resolve(&p, &container(OURS, root), &default_image_users())?;
        assert!(id.drop_bounding_set);
        let id = resolve(&p, &container(OURS, SecurityContext::default()), &default_image_users())?;
        assert!(!id.no_new_privs);
        Ok(())
    }

    #[test]
    fn parses_image_users() {
        assert_eq!("op=1001".parse::<ImageUser>(), Ok(ImageUser { pattern: "op".into(), uid: 1001, gid: 0 }));
        assert_eq!(
            "quay.io/*:1=5:6".parse::<ImageUser>(),
            Ok(ImageUser { pattern: "quay.io/*:1".into(), uid: 5, gid: 6 })
        );
        assert!("op=x".parse::<ImageUser>().is_err());
        assert!("=1".parse::<ImageUser>().is_err());
    }
}
