//! A real cert-manager on the local control plane, for tests of the plain install: its CRDs, its
//! controller (issues Certificates into Secrets) and its CA injector (fills `caBundle` of webhook
//! configurations annotated `cert-manager.io/inject-ca-from`), run as host processes against the
//! test kubeconfig. Built by `hack/tools.sh cert-manager`; paths come from the environment file.
//!
//! The processes stop when the value is dropped. cert-manager's CRDs stay installed (like ours).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::fixtures::{Cluster, last_lines, wait_until};
use crate::operator::free_port;

/// cert-manager's controller and CA injector, running.
pub struct CertManager {
    children: Vec<Child>,
    log_dir: PathBuf,
}

impl CertManager {
    /// Installs the CRDs and starts both processes; returns once the CRDs are served.
    pub async fn start(cluster: &Cluster) -> anyhow::Result<Self> {
        let env = &cluster.env;
        let controller = PathBuf::from(env.get("CERT_MANAGER_CONTROLLER")?);
        let cainjector = PathBuf::from(env.get("CERT_MANAGER_CAINJECTOR")?);
        let crds = PathBuf::from(env.get("CERT_MANAGER_CRDS")?);
        for bin in [&controller, &cainjector] {
            anyhow::ensure!(bin.exists(), "{} is missing: run `hack/tools.sh cert-manager`", bin.display());
        }
        cluster.install_crd_dir(&crds).await?;

        let log_dir = std::env::temp_dir().join(format!("cert-manager-{}", crate::fixtures::unique_suffix()));
        std::fs::create_dir_all(&log_dir)?;
        let kubeconfig = env.kubeconfig().to_string_lossy().to_string();
        let mut me = Self { children: Vec::new(), log_dir };
        me.spawn(
            "controller",
            &controller,
            &[
                &format!("--kubeconfig={kubeconfig}"),
                "--leader-elect=false",
                "--cluster-resource-namespace=kube-system",
                &format!("--metrics-listen-address=127.0.0.1:{}", free_port()?),
            ],
        )?;
        me.spawn(
            "cainjector",
            &cainjector,
            &[&format!("--kubeconfig={kubeconfig}"), "--leader-elect=false"],
        )?;
        // Both are up once they have not exited for a moment (they fail fast on bad flags).
        tokio::time::sleep(Duration::from_secs(2)).await;
        me.check_running()?;
        wait_until(Duration::from_secs(30), "cert-manager's Certificate kind served", || async {
            let out = cluster.kubectl(&["get", "certificates.cert-manager.io", "-A"])?;
            Ok(out.status.success().then_some(()))
        })
        .await?;
        Ok(me)
    }

    fn spawn(&mut self, name: &str, program: &PathBuf, args: &[&str]) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.log_dir.join(format!("{name}.log")))?;
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting cert-manager {name} ({})", program.display()))?;
        self.children.push(child);
        Ok(())
    }

    /// Fails with the logs when a process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        for child in &mut self.children {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("cert-manager exited ({status}):\n{}", self.logs());
            }
        }
        Ok(())
    }

    /// Both processes' logs (last lines), for failure messages.
    pub fn logs(&self) -> String {
        ["controller", "cainjector"]
            .iter()
            .map(|name| {
                let text =
                    std::fs::read_to_string(self.log_dir.join(format!("{name}.log"))).unwrap_or_default();
                format!("--- cert-manager {name} ---\n{}\n", last_lines(&text, 30))
            })
            .collect()
    }
}

impl Drop for CertManager {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
