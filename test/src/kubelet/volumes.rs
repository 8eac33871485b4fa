//! Test-only code that stands in for a kubelet: materialises a pod's volumes as host directories
//! under `<state-dir>/pods/<namespace>/<pod>/volumes/<volume>`.
//!
//! Supported: `secret`, `configMap`, `emptyDir`, `downwardAPI`, `projected` (secret, configMap,
//! downwardAPI, serviceAccountToken), `persistentVolumeClaim` (a host directory
//! `<pvc-root>/<namespace>/<claimName>` shared by all pods) and `hostPath`. The service-account
//! token volume that the ServiceAccount admission plugin and the kubelet would add is added here
//! (the plugin is disabled on the local apiserver). Secrets and config maps are written when the
//! pod starts, and a `secret` or `configMap` volume is kept up to date while it runs
//! ([`refresh_sources`]), as a kubelet does; projected ones are not. Tokens are refreshed. File modes and
//! `fsGroup` ownership as the kubelet sets them: see [`super::ownership`].

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, PostParams};
use tracing::{info, warn};

use super::env::{self, DataSource, PodFacts};
use super::ownership;

/// Where the kubelet mounts the service-account token.
pub const SERVICE_ACCOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Name of the volume the harness adds for the service-account token.
pub const SERVICE_ACCOUNT_VOLUME: &str = "kube-api-access-harness";
/// Lifetime the kubelet asks for the service-account token.
const SERVICE_ACCOUNT_TOKEN_SECONDS: i64 = 3607;
/// Default file mode of secret, config map, downward API and projected volumes (0644).
const DEFAULT_MODE: i32 = 0o644;

/// Why the volumes could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepError {
    /// Something is missing (secret, config map, service account): retry later.
    Wait(String),
    /// The pod cannot run here.
    Fatal(String),
}

/// One materialised volume.
#[derive(Debug, Clone)]
pub struct Volume {
    pub host_path: PathBuf,
    /// Mounted read-only whatever the volumeMount says (secret, configMap, downwardAPI,
    /// projected, a PVC or hostPath marked `readOnly`).
    pub read_only: bool,
}

/// A token file the harness keeps fresh.
#[derive(Debug, Clone)]
pub struct TokenFile {
    pub host_path: PathBuf,
    pub audience: Option<String>,
    pub expiration_seconds: i64,
}

/// All volumes of a pod.
#[derive(Debug, Clone, Default)]
pub struct PodVolumes {
    pub volumes: HashMap<String, Volume>,
    /// The volume with `token`, `ca.crt`, `namespace`, when the token is auto-mounted.
    pub service_account_volume: Option<String>,
    pub service_account: String,
    pub tokens: Vec<TokenFile>,
}

/// One file of a secret / config map / downward API / projected volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Relative path inside the volume.
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// What a key projection reads from, for error messages like the kubelet's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Secret,
    ConfigMap,
}

/// Checks that `path` is relative and stays inside the volume.
pub fn check_rel_path(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if path.is_empty() || p.is_absolute() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!("invalid path {path:?}: must be relative, without '..'"));
    }
    Ok(())
}

fn mode_of(mode: Option<i32>, default: i32) -> u32 {
    u32::try_from(mode.unwrap_or(default)).unwrap_or(0o644) & 0o7777
}

/// Projects the keys of a secret or config map to files: all keys (as file names) when `items`
/// is absent, else each item's key to its path (with its mode). A missing key is an error unless
/// the source is `optional`.
pub fn project_keys(
    source: KeySource,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Vec<FileSpec>, String> {
    let default = default_mode.unwrap_or(DEFAULT_MODE);
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        let mut files = Vec::with_capacity(data.len());
        for (key, value) in data {
            check_rel_path(key)?;
            files.push(FileSpec { path: key.clone(), data: value.clone(), mode: mode_of(None, default) });
        }
        return Ok(files);
    };
    let mut files = Vec::with_capacity(items.len());
    for item in items {
        let Some(value) = data.get(&item.key) else {
            if optional {
                continue;
            }
            return Err(match source {
                KeySource::Secret => format!("references non-existent secret key: {}", item.key),
                KeySource::ConfigMap => format!("configmap references non-existent config key: {}", item.key),
            });
        };
        check_rel_path(&item.path)?;
        files.push(FileSpec {
            path: item.path.clone(),
            data: value.clone(),
            mode: mode_of(item.mode, default),
        });
    }
    Ok(files)
}

/// The data of a secret as bytes by key.
pub fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

/// The data and binary data of a config map as bytes by key.
pub fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let text = cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes()));
    let binary = cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone()));
    text.chain(binary).collect()
}

/// Writes `files` into a fresh `dir` (anything there before is removed).
pub fn write_fresh(dir: &Path, files: &[FileSpec]) -> io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for f in files {
        write_file(&dir.join(&f.path), &f.data, f.mode)?;
    }
    Ok(())
}

/// Writes a file atomically (temporary file, then rename) with `mode`.
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.harness-tmp"));
    std::fs::write(&tmp, data)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path)
}

/// The downward API files of a `downwardAPI` volume or projection.
fn downward_files(
    pod: &Pod,
    facts: &PodFacts,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
) -> Result<Vec<FileSpec>, String> {
    let default = default_mode.unwrap_or(DEFAULT_MODE);
    let mut files = Vec::new();
    for item in items {
        check_rel_path(&item.path)?;
        let value = if let Some(sel) = &item.field_ref {
            env::field_selector(pod, facts, sel)?
        } else if let Some(sel) = &item.resource_field_ref {
            env::resource_field_ref_in_pod(pod, None, sel)?
        } else {
            return Err(format!(
                "downward API item {:?} has neither fieldRef nor resourceFieldRef",
                item.path
            ));
        };
        files.push(FileSpec {
            path: item.path.clone(),
            data: value.into_bytes(),
            mode: mode_of(item.mode, default),
        });
    }
    Ok(files)
}

/// The secret and config-map reader of a pod's namespace (caches within one attempt).
pub struct ApiSource {
    secrets: Api<Secret>,
    config_maps: Api<ConfigMap>,
    secret_cache: HashMap<String, Option<Secret>>,
    config_map_cache: HashMap<String, Option<ConfigMap>>,
}

impl ApiSource {
    pub fn new(client: &Client, namespace: &str) -> Self {
        ApiSource {
            secrets: Api::namespaced(client.clone(), namespace),
            config_maps: Api::namespaced(client.clone(), namespace),
            secret_cache: HashMap::new(),
            config_map_cache: HashMap::new(),
        }
    }
}

impl DataSource for ApiSource {
    async fn secret(&mut self, name: &str) -> Result<Option<Secret>, String> {
        if let Some(s) = self.secret_cache.get(name) {
            return Ok(s.clone());
        }
        let s = self
            .secrets
            .get_opt(name)
            .await
            .map_err(|e| format!("cannot read secret \"{name}\": {}", api_message(&e)))?;
        self.secret_cache.insert(name.to_owned(), s.clone());
        Ok(s)
    }

    async fn config_map(&mut self, name: &str) -> Result<Option<ConfigMap>, String> {
        if let Some(c) = self.config_map_cache.get(name) {
            return Ok(c.clone());
        }
        let c = self
            .config_maps
            .get_opt(name)
            .await
            .map_err(|e| format!("cannot read configmap \"{name}\": {}", api_message(&e)))?;
        self.config_map_cache.insert(name.to_owned(), c.clone());
        Ok(c)
    }
}

/// The message of an API error (without the debug dump), else the error.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

/// Asks the TokenRequest API for a token of `service_account`. The token is bound to `pod` when
/// the pod names that service account (the apiserver refuses to bind it to a pod without
/// `serviceAccountName`, which the disabled ServiceAccount admission plugin would have set).
pub async fn request_token(
    client: &Client,
    pod: &Pod,
    service_account: &str,
    audience: Option<&str>,
    expiration_seconds: i64,
) -> Result<String, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let named = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref().or(s.service_account.as_deref()))
        .is_some_and(|n| n == service_account);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: audience.filter(|a| !a.is_empty()).map(|a| vec![a.to_owned()]).unwrap_or_default(),
            expiration_seconds: Some(expiration_seconds),
            bound_object_ref: named.then(|| BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        },
        ..Default::default()
    };
    match api.create_token_request(service_account, &PostParams::default(), &request).await {
        Ok(r) => r.status.map(|s| s.token).ok_or_else(|| "token request returned no token".to_owned()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            Err(format!("failed to fetch token: serviceaccounts \"{service_account}\" not found"))
        }
        Err(e) => Err(format!("failed to fetch token: {}", api_message(&e))),
    }
}

/// What materialising needs to know.
pub struct VolumeContext<'a> {
    pub client: &'a Client,
    pub pod: &'a Pod,
    pub facts: &'a PodFacts,
    /// `<state-dir>/pods/<namespace>/<pod>/volumes`.
    pub dir: &'a Path,
    pub pvc_root: &'a Path,
    /// The apiserver CA (PEM) for the service-account volume's `ca.crt`.
    pub ca_crt: &'a [u8],
}

fn setup_failed(volume: &str, msg: impl std::fmt::Display) -> String {
    format!("MountVolume.SetUp failed for volume \"{volume}\": {msg}")
}

fn io_fatal(volume: &str, path: &Path, e: io::Error) -> PrepError {
    PrepError::Fatal(setup_failed(volume, format!("{}: {e}", path.display())))
}

/// Whether the service-account token is mounted automatically (pod setting, else the service
/// account's, else yes).
async fn automount(cx: &VolumeContext<'_>, service_account: &str) -> Result<bool, PrepError> {
    if let Some(v) = cx.pod.spec.as_ref().and_then(|s| s.automount_service_account_token) {
        return Ok(v);
    }
    let ns = cx.pod.metadata.namespace.clone().unwrap_or_default();
    let api: Api<ServiceAccount> = Api::namespaced(cx.client.clone(), &ns);
    match api.get_opt(service_account).await {
        Ok(Some(sa)) => Ok(sa.automount_service_account_token != Some(false)),
        Ok(None) => Err(PrepError::Wait(format!("serviceaccount \"{service_account}\" not found"))),
        Err(e) => Err(PrepError::Wait(format!(
            "cannot read serviceaccount \"{service_account}\": {}",
            api_message(&e)
        ))),
    }
}

/// Materialises every volume of the pod (and the service-account token volume).
pub async fn materialise<S: DataSource>(
    cx: &VolumeContext<'_>,
    source: &mut S,
) -> Result<PodVolumes, PrepError> {
    let spec = cx.pod.spec.clone().unwrap_or_default();
    let ns = cx.pod.metadata.namespace.clone().unwrap_or_default();
    let service_account = env::service_account_name(cx.pod);
    let mut out = PodVolumes { service_account: service_account.clone(), ..Default::default() };
    let fs_group = match spec.security_context.as_ref().and_then(|s| s.fs_group) {
        Some(g) => Some(u32::try_from(g).map_err(|_| PrepError::Fatal(format!("invalid fsGroup {g}")))?),
        None => None,
    };
    let own = |name: &str, path: &Path, read_only: bool| match fs_group {
        Some(g) => ownership::set_volume_ownership(path, g, read_only).map_err(|e| io_fatal(name, path, e)),
        None => Ok(()),
    };

    for v in spec.volumes.iter().flatten() {
        let name = v.name.as_str();
        let host = cx.dir.join(name);
        let wait = |m: String| PrepError::Wait(setup_failed(name, m));
        let fatal = |m: String| PrepError::Fatal(setup_failed(name, m));
        let read_only;
        if let Some(s) = &v.secret {
            let secret_name = s.secret_name.clone().unwrap_or_default();
            let optional = s.optional == Some(true);
            let files = match source.secret(&secret_name).await.map_err(wait)? {
                Some(secret) => project_keys(
                    KeySource::Secret,
                    &secret_data(&secret),
                    s.items.as_deref(),
                    s.default_mode,
                    optional,
                )
                .map_err(wait)?,
                None if optional => Vec::new(),
                None => return Err(wait(format!("secret \"{secret_name}\" not found"))),
            };
            write_fresh(&host, &files).map_err(|e| io_fatal(name, &host, e))?;
            read_only = true;
        } else if let Some(c) = &v.config_map {
            let optional = c.optional == Some(true);
            let files = match source.config_map(&c.name).await.map_err(wait)? {
                Some(cm) => project_keys(
                    KeySource::ConfigMap,
                    &config_map_data(&cm),
                    c.items.as_deref(),
                    c.default_mode,
                    optional,
                )
                .map_err(wait)?,
                None if optional => Vec::new(),
                None => return Err(wait(format!("configmap \"{}\" not found", c.name))),
            };
            write_fresh(&host, &files).map_err(|e| io_fatal(name, &host, e))?;
            read_only = true;
        } else if v.empty_dir.is_some() {
            ownership::create_dir_with_mode(&host, 0o777).map_err(|e| io_fatal(name, &host, e))?;
            read_only = false;
        } else if let Some(d) = &v.downward_api {
            let files =
                downward_files(cx.pod, cx.facts, d.items.as_deref().unwrap_or_default(), d.default_mode)
                    .map_err(fatal)?;
            write_fresh(&host, &files).map_err(|e| io_fatal(name, &host, e))?;
            read_only = true;
        } else if let Some(p) = &v.projected {
            let mut files = Vec::new();
            for src in p.sources.iter().flatten() {
                if let Some(s) = &src.secret {
                    let optional = s.optional == Some(true);
                    match source.secret(&s.name).await.map_err(wait)? {
                        Some(secret) => files.extend(
                            project_keys(
                                KeySource::Secret,
                                &secret_data(&secret),
                                s.items.as_deref(),
                                p.default_mode,
                                optional,
                            )
                            .map_err(wait)?,
                        ),
                        None if optional => {}
                        None => return Err(wait(format!("secret \"{}\" not found", s.name))),
                    }
                } else if let Some(c) = &src.config_map {
                    let optional = c.optional == Some(true);
                    match source.config_map(&c.name).await.map_err(wait)? {
                        Some(cm) => files.extend(
                            project_keys(
                                KeySource::ConfigMap,
                                &config_map_data(&cm),
                                c.items.as_deref(),
                                p.default_mode,
                                optional,
                            )
                            .map_err(wait)?,
                        ),
                        None if optional => {}
                        None => return Err(wait(format!("configmap \"{}\" not found", c.name))),
                    }
                } else if let Some(d) = &src.downward_api {
                    files.extend(
                        downward_files(
                            cx.pod,
                            cx.facts,
                            d.items.as_deref().unwrap_or_default(),
                            p.default_mode,
                        )
                        .map_err(fatal)?,
                    );
                } else if let Some(t) = &src.service_account_token {
                    check_rel_path(&t.path).map_err(fatal)?;
                    let expiration = t.expiration_seconds.unwrap_or(3600);
                    let token =
                        request_token(cx.client, cx.pod, &service_account, t.audience.as_deref(), expiration)
                            .await
                            .map_err(wait)?;
                    files.push(FileSpec {
                        path: t.path.clone(),
                        data: token.into_bytes(),
                        mode: mode_of(None, p.default_mode.unwrap_or(DEFAULT_MODE)),
                    });
                    out.tokens.push(TokenFile {
                        host_path: host.join(&t.path),
                        audience: t.audience.clone(),
                        expiration_seconds: expiration,
                    });
                } else {
                    return Err(fatal(
                        "projected source not supported by pod-harness (supported: secret, configMap, \
                         downwardAPI, serviceAccountToken)"
                            .to_owned(),
                    ));
                }
            }
            write_fresh(&host, &files).map_err(|e| io_fatal(name, &host, e))?;
            read_only = true;
        } else if let Some(pvc) = &v.persistent_volume_claim {
            check_rel_path(&pvc.claim_name).map_err(fatal)?;
            let dir = cx.pvc_root.join(&ns).join(&pvc.claim_name);
            if !dir.exists() {
                ownership::create_dir_with_mode(&dir, 0o777).map_err(|e| io_fatal(name, &dir, e))?;
                info!(volume = name, path = %dir.display(), "created the host directory of a PersistentVolumeClaim");
            }
            own(name, &dir, pvc.read_only == Some(true))?;
            out.volumes
                .insert(name.to_owned(), Volume { host_path: dir, read_only: pvc.read_only == Some(true) });
            continue;
        } else if let Some(hp) = &v.host_path {
            let path = PathBuf::from(&hp.path);
            host_path_check(&path, hp.type_.as_deref().unwrap_or_default()).map_err(|m| match m {
                PrepError::Wait(m) => wait(m),
                PrepError::Fatal(m) => fatal(m),
            })?;
            out.volumes.insert(name.to_owned(), Volume { host_path: path, read_only: false });
            continue;
        } else {
            return Err(fatal(
                "volume type not supported by pod-harness (supported: secret, configMap, emptyDir, \
                 downwardAPI, projected, persistentVolumeClaim, hostPath)"
                    .to_owned(),
            ));
        }
        own(name, &host, read_only)?;
        out.volumes.insert(name.to_owned(), Volume { host_path: host, read_only });
    }

    // The service-account token, as the ServiceAccount admission plugin + kubelet would add it,
    // unless every container already mounts something there.
    let wants_token = spec.containers.iter().chain(spec.init_containers.iter().flatten()).any(|c| {
        !c.volume_mounts.iter().flatten().any(|m| m.mount_path.trim_end_matches('/') == SERVICE_ACCOUNT_PATH)
    });
    if wants_token
        && !out.volumes.contains_key(SERVICE_ACCOUNT_VOLUME)
        && automount(cx, &service_account).await?
    {
        let host = cx.dir.join(SERVICE_ACCOUNT_VOLUME);
        let token = request_token(cx.client, cx.pod, &service_account, None, SERVICE_ACCOUNT_TOKEN_SECONDS)
            .await
            .map_err(PrepError::Wait)?;
        let files = [
            FileSpec { path: "token".into(), data: token.into_bytes(), mode: 0o644 },
            FileSpec { path: "ca.crt".into(), data: cx.ca_crt.to_vec(), mode: 0o644 },
            FileSpec { path: "namespace".into(), data: ns.clone().into_bytes(), mode: 0o644 },
        ];
        write_fresh(&host, &files).map_err(|e| io_fatal(SERVICE_ACCOUNT_VOLUME, &host, e))?;
        own(SERVICE_ACCOUNT_VOLUME, &host, true)?;
        out.tokens.push(TokenFile {
            host_path: host.join("token"),
            audience: None,
            expiration_seconds: SERVICE_ACCOUNT_TOKEN_SECONDS,
        });
        out.volumes.insert(SERVICE_ACCOUNT_VOLUME.to_owned(), Volume { host_path: host, read_only: true });
        out.service_account_volume = Some(SERVICE_ACCOUNT_VOLUME.to_owned());
    }
    Ok(out)
}

/// The `hostPath` type checks (creating for `DirectoryOrCreate` / `FileOrCreate`, and for an
/// unset type, like Docker did).
fn host_path_check(path: &Path, type_: &str) -> Result<(), PrepError> {
    let created = |what: &str| info!(path = %path.display(), "created hostPath {what}");
    match type_ {
        "" | "DirectoryOrCreate" if !path.exists() => {
            std::fs::create_dir_all(path)
                .map_err(|e| PrepError::Fatal(format!("cannot create {}: {e}", path.display())))?;
            created("directory");
        }
        "FileOrCreate" if !path.exists() => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| PrepError::Fatal(format!("cannot create {}: {e}", parent.display())))?;
            }
            std::fs::write(path, b"")
                .map_err(|e| PrepError::Fatal(format!("cannot create {}: {e}", path.display())))?;
            created("file");
        }
        "Directory" if !path.is_dir() => {
            return Err(PrepError::Wait(format!(
                "hostPath type check failed: {} is not a directory",
                path.display()
            )));
        }
        "File" if !path.is_file() => {
            return Err(PrepError::Wait(format!(
                "hostPath type check failed: {} is not a file",
                path.display()
            )));
        }
        "Socket" | "CharDevice" | "BlockDevice" if !path.exists() => {
            return Err(PrepError::Wait(format!(
                "hostPath type check failed: {} does not exist",
                path.display()
            )));
        }
        _ => {}
    }
    Ok(())
}

/// How often a running pod's `secret` and `configMap` volumes are read again. A kubelet does it
/// on its sync period (about a minute, plus its cache's TTL); tests should not wait that long.
pub const SOURCE_REFRESH: Duration = Duration::from_secs(3);

/// Keeps a running pod's `secret` and `configMap` volumes up to date, as a kubelet does: a key
/// whose value changed is rewritten (each file atomically), a removed key's file is removed, a
/// source that cannot be read now is left as it is. A `subPath` mount keeps the file it was
/// given (a bind mount of the old file), as with a kubelet. `dir` is the pod's volumes
/// directory.
pub async fn refresh_sources(client: Client, pod: Pod, dir: PathBuf) {
    let spec = pod.spec.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let fs_group =
        spec.security_context.as_ref().and_then(|s| s.fs_group).and_then(|g| u32::try_from(g).ok());
    let volumes: Vec<_> =
        spec.volumes.into_iter().flatten().filter(|v| v.secret.is_some() || v.config_map.is_some()).collect();
    if volumes.is_empty() {
        return;
    }
    loop {
        tokio::time::sleep(SOURCE_REFRESH).await;
        let mut source = ApiSource::new(&client, &ns);
        for v in &volumes {
            let files = if let Some(s) = &v.secret {
                let read = source.secret(s.secret_name.as_deref().unwrap_or_default()).await;
                let data = read.map(|s| s.as_ref().map(secret_data));
                files_now(KeySource::Secret, data, s.items.as_deref(), s.default_mode, s.optional)
            } else if let Some(c) = &v.config_map {
                let data = source.config_map(&c.name).await.map(|c| c.as_ref().map(config_map_data));
                files_now(KeySource::ConfigMap, data, c.items.as_deref(), c.default_mode, c.optional)
            } else {
                None
            };
            let Some(files) = files else { continue };
            let host = dir.join(&v.name);
            match sync_files(&host, &files) {
                Ok(false) => {}
                Ok(true) => {
                    if let Some(g) = fs_group
                        && let Err(e) = ownership::set_volume_ownership(&host, g, true)
                    {
                        warn!(volume = %v.name, error = %e, "setting the refreshed volume's group failed");
                    }
                    info!(volume = %v.name, "volume refreshed: its source changed");
                }
                Err(e) => warn!(volume = %v.name, error = %e, "refreshing a volume failed"),
            }
        }
    }
}

/// The files a source read now projects to; `None` when it cannot be read now (a kubelet keeps
/// what the volume holds).
fn files_now(
    kind: KeySource,
    data: Result<Option<BTreeMap<String, Vec<u8>>>, String>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: Option<bool>,
) -> Option<Vec<FileSpec>> {
    let optional = optional == Some(true);
    match data {
        Ok(Some(data)) => project_keys(kind, &data, items, default_mode, optional).ok(),
        Ok(None) if optional => Some(Vec::new()),
        _ => None,
    }
}

/// Makes `dir` hold exactly `files` (by content: a file whose bytes are unchanged is left, with
/// whatever group permissions it was given); returns whether anything changed.
pub fn sync_files(dir: &Path, files: &[FileSpec]) -> io::Result<bool> {
    let mut changed = false;
    for f in files {
        let path = dir.join(&f.path);
        if std::fs::read(&path).ok().as_deref() != Some(f.data.as_slice()) {
            write_file(&path, &f.data, f.mode)?;
            changed = true;
        }
    }
    let wanted: std::collections::HashSet<PathBuf> = files.iter().map(|f| dir.join(&f.path)).collect();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if std::fs::symlink_metadata(&path)?.is_dir() {
                stack.push(path);
            } else if !wanted.contains(&path) {
                std::fs::remove_file(&path)?;
                changed = true;
            }
        }
    }
    Ok(changed)
}

/// Keeps the pod's token files fresh: each is requested again after 80 % of its lifetime.
pub async fn refresh_tokens(client: Client, pod: Pod, service_account: String, tokens: Vec<TokenFile>) {
    if tokens.is_empty() {
        return;
    }
    let after = |t: &TokenFile| {
        Duration::from_secs(u64::try_from(t.expiration_seconds * 8 / 10).unwrap_or(60).max(60))
    };
    let start = tokio::time::Instant::now();
    let mut due: Vec<tokio::time::Instant> = tokens.iter().map(|t| start + after(t)).collect();
    loop {
        let Some((i, when)) = due.iter().copied().enumerate().min_by_key(|(_, w)| *w) else { return };
        tokio::time::sleep_until(when).await;
        let t = &tokens[i];
        match request_token(&client, &pod, &service_account, t.audience.as_deref(), t.expiration_seconds)
            .await
        {
            Ok(token) => match write_file(&t.host_path, token.as_bytes(), 0o644) {
                Ok(()) => {
                    info!(path = %t.host_path.display(), "service-account token refreshed");
                    due[i] = tokio::time::Instant::now() + after(t);
                }
                Err(e) => {
                    warn!(path = %t.host_path.display(), error = %e, "writing a refreshed token failed");
                    due[i] = tokio::time::Instant::now() + Duration::from_secs(10);
                }
            },
            Err(e) => {
                warn!(error = %e, "refreshing a service-account token failed");
                due[i] = tokio::time::Instant::now() + Duration::from_secs(10);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([("user".to_owned(), b"bob".to_vec()), ("password".to_owned(), b"s3cret".to_vec())])
    }

    fn item(key: &str, path: &str, mode: Option<i32>) -> KeyToPath {
        KeyToPath { key: key.into(), path: path.into(), mode }
    }

    #[test]
    fn all_keys_become_files_with_the_default_mode() {
        let files = project_keys(KeySource::Secret, &data(), None, Some(0o400), false);
        assert_eq!(
            files,
            Ok(vec![
                FileSpec { path: "password".into(), data: b"s3cret".to_vec(), mode: 0o400 },
                FileSpec { path: "user".into(), data: b"bob".to_vec(), mode: 0o400 },
            ])
        );
        let files = project_keys(KeySource::Secret, &data(), None, None, false).unwrap_or_default();
        assert!(files.iter().all(|f| f.mode == 0o644));
    }

    #[test]
    fn items_select_keys_paths_and_modes() {
        let items = [item("user", "creds/name", Some(0o600)), item("password", "pw", None)];
        let files = project_keys(KeySource::Secret, &data(), Some(&items), Some(0o440), false);
        assert_eq!(
            files,
            Ok(vec![
                FileSpec { path: "creds/name".into(), data: b"bob".to_vec(), mode: 0o600 },
                FileSpec { path: "pw".into(), data: b"s3cret".to_vec(), mode: 0o440 },
            ])
        );
    }

    #[test]
    fn missing_keys_fail_unless_optional() {
        let items = [item("nope", "x", None), item("user", "u", None)];
        assert_eq!(
            project_keys(KeySource::Secret, &data(), Some(&items), None, false),
            Err("references non-existent secret key: nope".to_owned())
        );
        assert_eq!(
            project_keys(KeySource::ConfigMap, &data(), Some(&items), None, false),
            Err("configmap references non-existent config key: nope".to_owned())
        );
        let files = project_keys(KeySource::Secret, &data(), Some(&items), None, true).unwrap_or_default();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "u");
    }

    #[test]
    fn paths_must_stay_inside_the_volume() {
        assert!(check_rel_path("a/b").is_ok());
        assert!(check_rel_path("../x").is_err());
        assert!(check_rel_path("/etc/passwd").is_err());
        assert!(check_rel_path("a/../../b").is_err());
        assert!(check_rel_path("").is_err());
        let items = [item("user", "../escape", None)];
        assert!(project_keys(KeySource::Secret, &data(), Some(&items), None, false).is_err());
    }

    #[test]
    fn config_maps_merge_text_and_binary_data() {
        let cm = ConfigMap {
            data: Some(BTreeMap::from([("a".to_owned(), "text".to_owned())])),
            binary_data: Some(BTreeMap::from([("b".to_owned(), k8s_openapi::ByteString(vec![0, 1]))])),
            ..Default::default()
        };
        let d = config_map_data(&cm);
        assert_eq!(d.get("a").map(Vec::as_slice), Some(&b"text"[..]));
        assert_eq!(d.get("b").map(Vec::as_slice), Some(&[0u8, 1][..]));
    }

    #[test]
    fn files_are_written_fresh_with_modes() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("harness-volumes-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("stale"))?;
        let files = vec![FileSpec { path: "a/b".into(), data: b"x".to_vec(), mode: 0o600 }];
        write_fresh(&dir, &files)?;
        assert!(!dir.join("stale").exists());
        assert_eq!(std::fs::read(dir.join("a/b"))?, b"x");
        assert_eq!(std::fs::metadata(dir.join("a/b"))?.permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(&dir)
    }

    #[test]
    fn a_refresh_rewrites_changed_keys_removes_gone_ones_and_leaves_the_rest() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("harness-volumes-sync-{}", std::process::id()));
        let file = |path: &str, data: &[u8]| FileSpec { path: path.into(), data: data.to_vec(), mode: 0o644 };
        write_fresh(&dir, &[file("same", b"1"), file("changed", b"old"), file("gone/key", b"x")])?;
        let untouched = std::fs::metadata(dir.join("same"))?.modified()?;
        assert!(!sync_files(&dir, &[file("same", b"1"), file("changed", b"old"), file("gone/key", b"x")])?);
        assert!(sync_files(&dir, &[file("same", b"1"), file("changed", b"new"), file("added", b"a")])?);
        assert_eq!(std::fs::read(dir.join("changed"))?, b"new");
        assert_eq!(std::fs::read(dir.join("added"))?, b"a");
        assert!(!dir.join("gone/key").exists());
        assert_eq!(std::fs::metadata(dir.join("same"))?.modified()?, untouched);
        std::fs::remove_dir_all(&dir)
    }
}
