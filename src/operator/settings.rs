//! The operator's settings, from its environment (SPEC §6). Read once at start; a bad value
//! stops the operator with a message naming the variable, rather than running half-configured.

/// Which namespaces the controllers watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watched {
    All,
    Namespaces(Vec<String>),
}

/// The operator's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `STRIMZI_BACKUP_NAMESPACE`: one namespace, a comma list, or all when empty or `*`
    /// (OLM sets it from `olm.targetNamespaces`).
    pub watched: Watched,
    /// `STRIMZI_BACKUP_IMAGE`: the operator's own image, which its Jobs run.
    pub image: String,
    /// `POD_NAMESPACE` (downward API): where the operator runs, its Lease and licence Secret live.
    pub namespace: String,
    /// `STRIMZI_BACKUP_LICENSE_SECRET`: the licence Secret's name.
    pub license_secret: String,
    /// The operator's proxy variables (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, either case),
    /// handed on to every Job as plain values: object storage is reached from the Jobs, and OLM
    /// on a cluster with a cluster-wide proxy sets these on the operator only. Credential-free
    /// only (a Job's env is readable by anyone who may read Jobs); empty when
    /// [`Settings::proxy_secret`] is set.
    pub proxy: Vec<(String, String)>,
    /// `STRIMZI_BACKUP_PROXY_SECRET`: the Secret (in each namespace where runs happen) whose keys
    /// `HTTPS_PROXY` (required), `HTTP_PROXY` and `NO_PROXY` the Jobs get by `secretKeyRef`, for a
    /// proxy that needs credentials. Set, it replaces the operator's own proxy variables for Jobs.
    pub proxy_secret: Option<String>,
}

/// The keys of the proxy Secret, each with whether a Job may start without it: `HTTPS_PROXY` is
/// required so that a Secret missing from a namespace stops the run visibly (`JobPodBlocked`)
/// instead of letting it try storage unproxied.
pub const PROXY_SECRET_KEYS: [(&str, bool); 3] =
    [("HTTPS_PROXY", false), ("HTTP_PROXY", true), ("NO_PROXY", true)];

const PROXY_SECRET: &str = "STRIMZI_BACKUP_PROXY_SECRET";

/// Whether a proxy URL carries credentials (`scheme://user:password@host:port`, or without the
/// scheme, as `reqwest` also accepts it): the userinfo part of its authority.
pub fn has_credentials(proxy_url: &str) -> bool {
    let rest = proxy_url.split_once("://").map_or(proxy_url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

/// The operator's proxy variables for its Jobs: refused when one carries credentials and no
/// proxy Secret is configured (the message names the variable, never its value).
fn proxy(
    get: &impl Fn(&str) -> Option<String>,
    secret: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    let given: Vec<(String, String)> =
        PROXY_VARIABLES.iter().filter_map(|name| get(name).map(|value| (name.to_string(), value))).collect();
    if secret.is_some() {
        return Ok(Vec::new());
    }
    if let Some((name, _)) =
        given.iter().find(|(n, v)| !n.eq_ignore_ascii_case("NO_PROXY") && has_credentials(v))
    {
        return Err(format!(
            "{name} carries credentials (user:password@): the operator would copy them into every Job, readable by anyone who may read Jobs. \
             Put the proxy settings in a Secret with keys HTTPS_PROXY (and HTTP_PROXY, NO_PROXY) in each namespace where backups and restores run, \
             and name it in {PROXY_SECRET}; Jobs then get them by secretKeyRef (docs/operator.md, \"Proxy\")"
        ));
    }
    Ok(given)
}

/// The proxy variables the Jobs inherit; the data plane's HTTP client (reqwest, under
/// object_store) reads them. Kafka connections are plain TCP and never proxied.
pub const PROXY_VARIABLES: [&str; 6] =
    ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];

const NAMESPACE: &str = "STRIMZI_BACKUP_NAMESPACE";
const IMAGE: &str = "STRIMZI_BACKUP_IMAGE";

fn dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A Secret name: a DNS subdomain (RFC 1123), at most 253 characters.
fn dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(dns_label)
}

/// Parses `STRIMZI_BACKUP_NAMESPACE`.
pub fn watched(value: Option<&str>) -> Result<Watched, String> {
    let value = value.unwrap_or("").trim();
    if value.is_empty() || value == "*" {
        return Ok(Watched::All);
    }
    let mut names: Vec<String> =
        value.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect();
    if let Some(bad) = names.iter().find(|n| !dns_label(n)) {
        return Err(format!(
            "{NAMESPACE}: `{bad}` is not a namespace name; give one, a comma list, or `*` for all"
        ));
    }
    names.sort();
    names.dedup();
    Ok(Watched::Namespaces(names))
}

impl Settings {
    /// Reads the settings through `get` (the process environment in the operator).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let image = get(IMAGE).filter(|i| !i.trim().is_empty()).ok_or_else(|| {
            format!("{IMAGE} is not set: the operator's Deployment names its own image there")
        })?;
        let proxy_secret = get(PROXY_SECRET).map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        if let Some(bad) = proxy_secret.as_deref().filter(|n| !dns_subdomain(n)) {
            return Err(format!("{PROXY_SECRET}: `{bad}` is not a Secret name"));
        }
        Ok(Self {
            watched: watched(get(NAMESPACE).as_deref())?,
            image,
            namespace: get("POD_NAMESPACE").filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into()),
            license_secret: get("STRIMZI_BACKUP_LICENSE_SECRET")
                .unwrap_or_else(|| "strimzi-backup-license".into()),
            proxy: proxy(&get, proxy_secret.as_deref())?,
            proxy_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_one_list_or_all() {
        assert_eq!(watched(None), Ok(Watched::All));
        assert_eq!(watched(Some(" * ")), Ok(Watched::All));
        assert_eq!(watched(Some("kafka")), Ok(Watched::Namespaces(vec!["kafka".into()])));
        assert_eq!(
            watched(Some("kafka-b, kafka-a,kafka-b")),
            Ok(Watched::Namespaces(vec!["kafka-a".into(), "kafka-b".into()]))
        );
        assert!(watched(Some("Kafka_Prod")).is_err_and(|e| e.contains("STRIMZI_BACKUP_NAMESPACE")));
    }

    #[test]
    fn the_image_is_required_the_rest_defaults() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let err = Settings::from_env(env(&[])).expect_err("no image");
        assert!(err.contains("STRIMZI_BACKUP_IMAGE"));
        let s =
            Settings::from_env(env(&[("STRIMZI_BACKUP_IMAGE", "quay.io/x/op:1"), ("POD_NAMESPACE", "ops")]))
                .expect("settings");
        assert_eq!(
            (s.watched, s.namespace.as_str(), s.license_secret.as_str()),
            (Watched::All, "ops", "strimzi-backup-license")
        );
        assert!(s.proxy.is_empty());
    }

    #[test]
    fn proxy_variables_are_kept_as_given() {
        let pairs = [
            ("STRIMZI_BACKUP_IMAGE", "quay.io/x/op:1"),
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("no_proxy", ".svc,10.0.0.0/16"),
            ("FTP_PROXY", "ignored"),
        ];
        let s = Settings::from_env(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
            .expect("settings");
        assert_eq!(
            s.proxy,
            vec![
                ("HTTPS_PROXY".to_string(), "http://proxy.corp:3128".to_string()),
                ("no_proxy".to_string(), ".svc,10.0.0.0/16".to_string())
            ]
        );
    }

    #[test]
    fn a_proxy_with_credentials_is_refused_unless_a_proxy_secret_carries_it() {
        let pairs = [
            ("STRIMZI_BACKUP_IMAGE", "quay.io/x/op:1"),
            ("HTTPS_PROXY", "http://backup:s3cr3t@proxy.corp:3128"),
            ("NO_PROXY", ".svc"),
        ];
        let get = |extra: Option<(&'static str, &'static str)>| {
            move |k: &str| pairs.iter().chain(extra.iter()).find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let err = Settings::from_env(get(None)).expect_err("credentials in plain env");
        assert!(err.starts_with("HTTPS_PROXY carries credentials"), "{err}");
        assert!(err.contains("STRIMZI_BACKUP_PROXY_SECRET") && !err.contains("s3cr3t"), "{err}");
        let s =
            Settings::from_env(get(Some(("STRIMZI_BACKUP_PROXY_SECRET", "corp-proxy")))).expect("settings");
        assert_eq!((s.proxy_secret.as_deref(), s.proxy.len()), (Some("corp-proxy"), 0));
        assert!(Settings::from_env(get(Some(("STRIMZI_BACKUP_PROXY_SECRET", "Not_A_Name")))).is_err());
    }

    #[test]
    fn credentials_are_the_userinfo_of_the_authority() {
        for (url, creds) in [
            ("http://u:p@proxy:3128", true),
            ("u:p@proxy:3128", true),
            ("https://user@proxy", true),
            ("http://proxy.corp:3128", false),
            ("http://proxy.corp:3128/path@x", false),
            ("proxy.corp:3128", false),
        ] {
            assert_eq!(has_credentials(url), creds, "{url}");
        }
    }
}
