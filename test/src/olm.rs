//! OLM's `olm` operator (the part of Operator Lifecycle Manager that installs a
//! ClusterServiceVersion: OperatorGroups, the CSV's Deployment, its webhooks and their
//! certificates) on the local control plane, for the bundle install test. Built by
//! `hack/tools.sh olm`; paths come from the environment file.
//!
//! Run as a host process against the test kubeconfig, without `CI` in its environment: with `CI`
//! set, OLM's client panics on objects it creates without its `olm.managed` label (a check meant
//! for OLM's own CI). OLM exits with status 0 after relabelling objects it owns ("exiting to
//! re-start the process"), so it is restarted when it exits. Its health/metrics port is fixed at
//! :8080. The catalog operator is not run: the test creates the CSV itself.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use crate::fixtures::{Cluster, last_lines, wait_until};

/// The `olm` operator, running (and restarted when it exits) until dropped.
pub struct Olm {
    child: Arc<Mutex<Option<Child>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    supervisor: Option<std::thread::JoinHandle<()>>,
    log: PathBuf,
}

impl Olm {
    /// Installs OLM's CRDs and starts the operator.
    pub async fn start(cluster: &Cluster) -> anyhow::Result<Self> {
        let env = &cluster.env;
        let bin = PathBuf::from(env.get("OLM_BIN")?);
        let crds = PathBuf::from(env.get("OLM_CRDS")?);
        anyhow::ensure!(bin.exists(), "{} is missing: run `hack/tools.sh olm`", bin.display());
        cluster.install_crd_dir(&crds).await.context("installing OLM's CRDs")?;

        let log = std::env::temp_dir().join(format!("olm-{}.log", crate::fixtures::unique_suffix()));
        let kubeconfig = env.kubeconfig().to_path_buf();
        let spawn = {
            let log = log.clone();
            move || -> anyhow::Result<Child> {
                let file = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
                Command::new(&bin)
                    .env_remove("CI")
                    .env("KUBECONFIG", &kubeconfig)
                    .stdout(Stdio::from(file.try_clone()?))
                    .stderr(Stdio::from(file))
                    .spawn()
                    .with_context(|| format!("starting {}", bin.display()))
            }
        };
        let child = Arc::new(Mutex::new(Some(spawn()?)));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let supervisor = {
            let (child, stop) = (child.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                    let Ok(mut guard) = child.lock() else { return };
                    let exited = guard.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
                    if exited && !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        *guard = spawn().ok();
                    }
                }
            })
        };
        let me = Self { child, stop, supervisor: Some(supervisor), log };
        wait_until(Duration::from_secs(60), "OLM's operator healthy on :8080", || async {
            let answered = crate::fixtures::http_get(("127.0.0.1", 8080), "/healthz").await;
            Ok(answered.is_ok_and(|(status, _)| status == 200).then_some(()))
        })
        .await
        .map_err(|e| e.context(me.log_text()))?;
        Ok(me)
    }

    /// The operator's log (last lines), for failure messages.
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("--- olm ---\n{}\n", last_lines(&text, 40))
    }
}

impl Drop for Olm {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(handle) = self.supervisor.take() {
            let _ = handle.join();
        }
        if let Ok(mut guard) = self.child.lock()
            && let Some(mut child) = guard.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
