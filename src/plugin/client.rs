//! The kube client, chosen the way kubectl chooses it (`--kubeconfig`, else `$KUBECONFIG`, else
//! `~/.kube/config`, else the in-cluster service account; `--context`; `-n`, else the context's
//! namespace), and the API server's errors in the one line kubectl would print.

use std::path::PathBuf;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde::de::DeserializeOwned;

/// The flags every kubectl command has.
#[derive(clap::Args, Debug)]
pub struct KubeFlags {
    /// Namespace of the objects (default: the context's namespace).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Path to the kubeconfig file.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
}

/// A connected client and the namespace the command works in.
pub struct Target {
    pub client: Client,
    pub namespace: String,
}

impl Target {
    /// The API of a namespaced kind in the command's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
}

pub async fn connect(flags: &KubeFlags) -> anyhow::Result<Target> {
    let options = KubeConfigOptions { context: flags.context.clone(), ..KubeConfigOptions::default() };
    let config = match (&flags.kubeconfig, &flags.context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(file, &options).await.context("loading kubeconfig")?
        }
        (None, Some(_)) => Config::from_kubeconfig(&options).await.context("loading kubeconfig")?,
        (None, None) => Config::infer().await.context("no cluster configured (kubeconfig or in-cluster)")?,
    };
    let namespace = flags.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).context("building the kube client")?;
    Ok(Target { client, namespace })
}

/// An API error as the one line a user needs: the server's own message (an admission webhook's
/// refusal verbatim), not kube's debug rendering of it.
pub fn api_error(e: kube::Error) -> anyhow::Error {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => anyhow::anyhow!(status.message),
        other => anyhow::Error::new(other),
    }
}

/// `Result<_, kube::Error>` into anyhow with [`api_error`].
pub trait ApiResult<T> {
    fn api(self) -> anyhow::Result<T>;
}

impl<T> ApiResult<T> for Result<T, kube::Error> {
    fn api(self) -> anyhow::Result<T> {
        self.map_err(api_error)
    }
}

/// Reads one object, saying `<kind> "<name>" not found in namespace "<ns>"` when it is absent.
pub async fn get<K>(api: &Api<K>, kind: &str, name: &str, namespace: &str) -> anyhow::Result<K>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .api()?
        .with_context(|| format!("{} \"{name}\" not found in namespace \"{namespace}\"", kind.to_lowercase()))
}

/// An error and its causes on one line (a server's message stays as the server wrote it).
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
}
