//! What a user's Job template may not ask for: more privilege than OpenShift's `restricted-v2` SCC
//! and the Pod Security `restricted` level allow. The Jobs run with the operator's authority over
//! the user's backups and credentials, so a template is a knob on their security context, never a
//! way out of it. The pod template has no host namespaces, host paths or host ports at all; what
//! remains is refused here, naming the field: root, privilege, escalation, added capabilities,
//! an unconfined seccomp profile, unmasked /proc and Windows host processes.

use k8s_openapi::api::core::v1::{PodSecurityContext, SecurityContext};

use super::template::JobOptions;
use super::validation::FieldError;

const POD: &str = "spec.template.pod.securityContext";
const CONTAINER: &str = "spec.template.container.securityContext";

/// Problems in the security contexts of `options`' template.
pub fn problems(options: &JobOptions) -> Vec<FieldError> {
    let mut problems = Vec::new();
    let template = options.template.as_ref();
    if let Some(pod) = template.and_then(|t| t.pod.as_ref()).and_then(|p| p.security_context.as_ref()) {
        pod_context(&mut problems, pod);
    }
    if let Some(c) = template.and_then(|t| t.container.as_ref()).and_then(|c| c.security_context.as_ref()) {
        container_context(&mut problems, c);
    }
    problems
}

fn root(problems: &mut Vec<FieldError>, at: &str, run_as_user: Option<i64>, run_as_non_root: Option<bool>) {
    if run_as_user == Some(0) {
        problems.push(FieldError::new(
            format!("{at}.runAsUser"),
            "0 runs the Job as root: omit it (the platform picks a non-root UID) or give a non-zero UID",
        ));
    }
    if run_as_non_root == Some(false) {
        problems.push(FieldError::new(
            format!("{at}.runAsNonRoot"),
            "false would let the Job run as root: omit it (the operator sets true)",
        ));
    }
}

fn seccomp(problems: &mut Vec<FieldError>, at: &str, profile: Option<&str>) {
    if profile == Some("Unconfined") {
        problems.push(FieldError::new(
            format!("{at}.seccompProfile.type"),
            "Unconfined lifts the syscall filter: omit it (RuntimeDefault) or use Localhost",
        ));
    }
}

fn host_process(problems: &mut Vec<FieldError>, at: &str, host_process: Option<bool>) {
    if host_process == Some(true) {
        problems.push(FieldError::new(
            format!("{at}.windowsOptions.hostProcess"),
            "a host process runs with the node's privileges: remove it",
        ));
    }
}

fn pod_context(problems: &mut Vec<FieldError>, pod: &PodSecurityContext) {
    root(problems, POD, pod.run_as_user, pod.run_as_non_root);
    seccomp(problems, POD, pod.seccomp_profile.as_ref().map(|p| p.type_.as_str()));
    host_process(problems, POD, pod.windows_options.as_ref().and_then(|w| w.host_process));
}

fn container_context(problems: &mut Vec<FieldError>, c: &SecurityContext) {
    root(problems, CONTAINER, c.run_as_user, c.run_as_non_root);
    if c.privileged == Some(true) {
        problems.push(FieldError::new(
            format!("{CONTAINER}.privileged"),
            "a privileged container has every capability of the node: remove it",
        ));
    }
    if c.allow_privilege_escalation == Some(true) {
        problems.push(FieldError::new(
            format!("{CONTAINER}.allowPrivilegeEscalation"),
            "true lets the process gain privileges (setuid): omit it (the operator sets false)",
        ));
    }
    if let Some(added) = c.capabilities.as_ref().and_then(|c| c.add.as_ref()).filter(|a| !a.is_empty()) {
        problems.push(FieldError::new(
            format!("{CONTAINER}.capabilities.add"),
            format!(
                "{} would be added: the Jobs need no capability (every one is dropped); remove the list",
                added.join(", ")
            ),
        ));
    }
    if c.proc_mount.as_deref() == Some("Unmasked") {
        problems.push(FieldError::new(
            format!("{CONTAINER}.procMount"),
            "Unmasked exposes the host's /proc paths: omit it (Default)",
        ));
    }
    seccomp(problems, CONTAINER, c.seccomp_profile.as_ref().map(|p| p.type_.as_str()));
    host_process(problems, CONTAINER, c.windows_options.as_ref().and_then(|w| w.host_process));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::template::{ContainerTemplate, PodTemplate, ResourceTemplate};
    use k8s_openapi::api::core::v1::{Capabilities, SeccompProfile};

    fn with(pod: Option<PodSecurityContext>, container: Option<SecurityContext>) -> JobOptions {
        JobOptions {
            template: Some(ResourceTemplate {
                pod: Some(PodTemplate { security_context: pod, ..Default::default() }),
                container: Some(ContainerTemplate { security_context: container, ..Default::default() }),
            }),
            ..Default::default()
        }
    }

    fn paths(options: &JobOptions) -> Vec<String> {
        problems(options).into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn settings_within_restricted_pass() {
        let pod = PodSecurityContext { fs_group: Some(2000), run_as_user: Some(1001), ..Default::default() };
        let container = SecurityContext {
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: Some(vec![]) }),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
            ..Default::default()
        };
        assert!(problems(&with(Some(pod), Some(container))).is_empty());
        assert!(problems(&JobOptions::default()).is_empty());
    }

    #[test]
    fn each_privilege_is_refused_at_its_field() {
        let pod = PodSecurityContext {
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            seccomp_profile: Some(SeccompProfile { type_: "Unconfined".into(), ..Default::default() }),
            ..Default::default()
        };
        let container = SecurityContext {
            privileged: Some(true),
            allow_privilege_escalation: Some(true),
            capabilities: Some(Capabilities { add: Some(vec!["NET_ADMIN".into()]), drop: None }),
            proc_mount: Some("Unmasked".into()),
            run_as_user: Some(0),
            ..Default::default()
        };
        assert_eq!(
            paths(&with(Some(pod), Some(container))),
            [
                "spec.template.pod.securityContext.runAsUser",
                "spec.template.pod.securityContext.runAsNonRoot",
                "spec.template.pod.securityContext.seccompProfile.type",
                "spec.template.container.securityContext.runAsUser",
                "spec.template.container.securityContext.privileged",
                "spec.template.container.securityContext.allowPrivilegeEscalation",
                "spec.template.container.securityContext.capabilities.add",
                "spec.template.container.securityContext.procMount",
            ]
        );
    }
}
