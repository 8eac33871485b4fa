//! Leader election: only the holder of the Lease `strimzi-backup-operator-leader` reconciles.
//!
//! kube-lease-manager keeps the Lease: takes it when it is free, renews it, releases it when its
//! channel is dropped (a leader stopping on SIGTERM). Its standby, though, sleeps until the
//! holder's term would run out even when the holder released the Lease at once — so a rollout
//! would leave the operator without a leader for a whole term. A standby here therefore also
//! watches the Lease, and when it sees it go free it starts its manager again, which takes the
//! free Lease straight away: a hand-over takes about a second, not a lease term.

use std::pin::pin;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Name of the leader-election Lease.
pub const LEASE: &str = "strimzi-backup-operator-leader";

/// Who asks for the Lease, and for how long it holds without renewal.
pub struct Candidate {
    pub client: Client,
    pub namespace: String,
    pub identity: String,
    pub lease_seconds: u64,
}

/// The Lease held: `leader` turns false if it is ever lost. Released by [`Leadership::release`].
pub struct Leadership {
    pub leader: watch::Receiver<bool>,
    task: JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>,
}

impl Leadership {
    /// Gives the Lease up, so that a standby takes over at once.
    pub async fn release(self) {
        drop(self.leader);
        if let Ok(Err(e)) = self.task.await {
            warn!(error = %e, "releasing the Lease");
        }
    }
}

enum Wait {
    Leads,
    Stopped,
    Released,
    ElectionEnded,
}

impl Candidate {
    /// Waits until this replica holds the Lease (`Some`) or `stop` turns true (`None`).
    pub async fn lead(&self, stop: &mut watch::Receiver<bool>) -> anyhow::Result<Option<Leadership>> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &self.namespace);
        loop {
            let manager = kube_lease_manager::LeaseManagerBuilder::new(self.client.clone(), LEASE)
                .with_namespace(self.namespace.clone())
                .with_identity(self.identity.clone())
                .with_duration(self.lease_seconds)
                .with_grace(self.lease_seconds.div_ceil(3).max(1))
                .build()
                .await
                .map_err(|e| anyhow::anyhow!("Lease {}/{LEASE}: {e}", self.namespace))?;
            let (mut leader, task) = manager.watch().await;
            let wait = tokio::select! {
                led = leader.wait_for(|l| *l) => if led.is_ok() { Wait::Leads } else { Wait::ElectionEnded },
                _ = stop.wait_for(|s| *s) => Wait::Stopped,
                () = released_by_another(&leases, &self.identity) => Wait::Released,
            };
            match wait {
                Wait::Leads => return Ok(Some(Leadership { leader, task })),
                Wait::ElectionEnded => anyhow::bail!("leader election stopped"),
                Wait::Stopped | Wait::Released => {
                    // Not the holder: dropping the channel ends the manager without touching the Lease.
                    drop(leader);
                    let _ = task.await;
                    if matches!(wait, Wait::Stopped) {
                        return Ok(None);
                    }
                    info!(lease = LEASE, "the Lease was released: taking it");
                }
            }
        }
    }
}

/// Returns once the Lease, after being seen held by another replica, is seen free. Never
/// returns while the watch cannot be had (it retries with backoff); the manager's own timer
/// then still hands over when the term runs out.
async fn released_by_another(leases: &Api<Lease>, identity: &str) {
    let config = watcher::Config::default().fields(&format!("metadata.name={LEASE}"));
    let mut events = pin!(watcher::watcher(leases.clone(), config).default_backoff().applied_objects());
    let mut held_by_another = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(lease) => {
                let holder = lease.spec.and_then(|s| s.holder_identity).filter(|h| !h.is_empty());
                match holder {
                    Some(h) => held_by_another = h != identity,
                    None if held_by_another => return,
                    None => {}
                }
            }
            Err(e) => debug!(error = %e, "watching the Lease"),
        }
    }
    std::future::pending::<()>().await
}
