//! The `operator` subcommand: the process that runs the three controllers.
//!
//! Start-up order: settings (a bad value stops here, named) → `/metrics`, `/healthz`, `/readyz`
//! on the metrics address → the licence Secret watch and the admission webhook server (every
//! replica: the API server calls any of them through the Service) → leader election on a
//! `Lease` in the operator's namespace → the controllers, one per kind and watched namespace,
//! each also woken by its Jobs and by the Strimzi `Kafka` resources its objects refer to (watched
//! in the version the cluster serves; the controllers start again when that changes).
//! SIGTERM or Ctrl-C stops them gracefully (reconciles in flight finish) and releases the
//! Lease, so a standby replica takes over at once; losing the Lease stops the process, which
//! its Deployment restarts as a standby.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::context::{Context, MANAGER};
use super::error::Error;
use super::http::{self, Probe};
use super::license::{InstalledLicense, LicenseMetrics};
use super::metrics::{ControllerLabels, ErrorLabels, Metrics, SourceLabels};
use super::settings::{Settings, Watched};
use crate::api::cluster::ClusterConnection;
use crate::api::condition::Condition;
use crate::api::{KafkaBackup, KafkaOffsetReset, KafkaRestore};

pub use super::leader::LEASE;

/// How the process is run (the `operator` subcommand's flags).
#[derive(Clone, Debug)]
pub struct Options {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_address: SocketAddr,
    /// Seconds a Lease holds without renewal before another replica may take it.
    pub lease_seconds: u64,
    /// The admission webhook server; none to run without it.
    pub webhook: Option<WebhookOptions>,
}

/// Where and with which certificate the admission webhooks are served.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    pub address: SocketAddr,
    /// Holds `tls.crt` and `tls.key` (OLM, cert-manager), reloaded when they change.
    pub cert_dir: std::path::PathBuf,
    /// Make a CA and serving certificate for `hosts` into `cert_dir` first (local runs).
    pub self_signed: bool,
    /// DNS names and IP addresses of the self-signed certificate.
    pub hosts: Vec<String>,
}

/// How often the certificate directory is read for a rotated certificate.
const CERT_RELOAD: Duration = Duration::from_secs(2);

/// Binds the webhook port (a port in use stops the process, named) and serves the webhooks
/// once the certificate is there.
async fn start_webhook(
    options: &WebhookOptions,
    admission: crate::audit::admission::Audited<crate::admission::Admission>,
    metrics: Arc<strimzi_backup_webhook::Metrics>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    if options.self_signed {
        let ca = strimzi_backup_webhook::self_signed::bootstrap(&options.cert_dir, &options.hosts)?;
        info!(ca = %ca.display(), hosts = ?options.hosts, "self-signed webhook certificate written; register the webhooks with this CA");
    }
    let listener = tokio::net::TcpListener::bind(options.address).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {} for the admission webhooks: {e}", options.address)
    })?;
    let dir = options.cert_dir.clone();
    let address = options.address;
    Ok(tokio::spawn(async move {
        let store = Arc::new(strimzi_backup_webhook::CertStore::wait_for(dir, CERT_RELOAD).await);
        let _reload = store.watch(CERT_RELOAD);
        let router =
            strimzi_backup_webhook::router(Arc::new(admission), &crate::admission::webhooks(), metrics);
        info!(address = %address, certificates = %store.dir().display(), "serving the admission webhooks");
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = strimzi_backup_webhook::server::serve(listener, store, router, shutdown).await {
            error!(error = %e, "the admission webhook server stopped");
        }
    }))
}

/// A kind the operator reconciles, as the process wires it.
trait Reconciled:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// `kafkabackup`, `kafkarestore`, `kafkaoffsetreset`: the metrics' `controller` label.
    const CONTROLLER: &'static str;
    /// The kind's status, which a failing reconcile's condition is written into.
    type Status: serde::Serialize + Clone + Default + PartialEq + Send + Sync;
    /// The Kafka cluster it refers to, if any: a change of that Strimzi `Kafka` wakes it.
    fn cluster(&self) -> Option<&ClusterConnection>;
    fn status(&self) -> Option<&Self::Status>;
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition>;
    /// Whether the controller also hears of deletions, so that [`Reconciled::forget`] runs for
    /// an object deleted while nothing is scheduled for it (the controller's own watch passes
    /// on only objects applied). A second watch of the kind: only for kinds with gauges that
    /// nothing else drops.
    const WATCH_DELETIONS: bool = false;
    /// Drops the gauges of an object of this kind that is gone: by default its restore-point
    /// figures (a KafkaBackup's other figures go in its cleanup).
    fn forget(metrics: &Metrics, namespace: &str, name: &str) {
        let kind = Self::kind(&()).to_string();
        metrics.forget_source(&SourceLabels { kind, namespace: namespace.into(), name: name.into() });
    }
    /// Further watches that wake the kind's controller in `namespace` (`*`: all); none by default.
    fn watch_more(controller: Controller<Self>, _ctx: &Context, _namespace: &str) -> Controller<Self> {
        controller
    }
}

impl Reconciled for KafkaBackup {
    const CONTROLLER: &'static str = "kafkabackup";
    type Status = crate::api::backup::KafkaBackupStatus;
    fn cluster(&self) -> Option<&ClusterConnection> {
        Some(&self.spec.cluster)
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition> {
        &mut status.conditions
    }
}

impl Reconciled for KafkaRestore {
    const CONTROLLER: &'static str = "kafkarestore";
    type Status = crate::api::restore::KafkaRestoreStatus;
    fn cluster(&self) -> Option<&ClusterConnection> {
        Some(&self.spec.cluster)
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition> {
        &mut status.conditions
    }
}

impl Reconciled for KafkaOffsetReset {
    const CONTROLLER: &'static str = "kafkaoffsetreset";
    type Status = crate::api::offset_reset::KafkaOffsetResetStatus;
    fn cluster(&self) -> Option<&ClusterConnection> {
        Some(&self.spec.cluster)
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition> {
        &mut status.conditions
    }
}

impl Reconciled for crate::api::KafkaDataErasure {
    const CONTROLLER: &'static str = "kafkadataerasure";
    type Status = crate::api::erasure::KafkaDataErasureStatus;
    fn cluster(&self) -> Option<&ClusterConnection> {
        self.spec.also_live_topics.then_some(&self.spec.cluster)
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition> {
        &mut status.conditions
    }
}

impl Reconciled for crate::api::location::KafkaBackupLocation {
    const CONTROLLER: &'static str = "kafkabackuplocation";
    type Status = crate::api::location::KafkaBackupLocationStatus;
    fn cluster(&self) -> Option<&ClusterConnection> {
        None
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition> {
        &mut status.conditions
    }
}

impl Reconciled for crate::api::drill::KafkaRestoreDrill {
    const CONTROLLER: &'static str = "kafkarestoredrill";
    const WATCH_DELETIONS: bool = true;
    type Status = crate::api::drill::KafkaRestoreDrillStatus;
    fn cluster(&self) -> Option<&ClusterConnection> {
        self.spec.target.as_ref()
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition> {
        &mut status.conditions
    }
    fn forget(metrics: &Metrics, namespace: &str, name: &str) {
        metrics
            .forget_drill(&super::metrics::ResourceLabels { namespace: namespace.into(), name: name.into() });
    }
}

impl Reconciled for crate::api::KafkaBackupSchedule {
    const CONTROLLER: &'static str = "kafkabackupschedule";
    type Status = crate::api::KafkaBackupScheduleStatus;
    fn cluster(&self) -> Option<&ClusterConnection> {
        None
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition> {
        &mut status.conditions
    }
    /// Woken by the `KafkaBackup`s it owns (their status: last backup, recoverability) and by
    /// every `Kafka` in the watched namespaces (a `namespaceSelector` may reach any of them)
    /// that it selects or listed.
    fn watch_more(mut controller: Controller<Self>, ctx: &Context, namespace: &str) -> Controller<Self> {
        use crate::api::backup_schedule::{KafkaId, SCHEDULE_UID_LABEL};
        let client = ctx.client.clone();
        let backups: Api<KafkaBackup> = match namespace {
            "*" => Api::all(client.clone()),
            ns => Api::namespaced(client.clone(), ns),
        };
        controller = controller.owns(backups, watcher::Config::default().labels(SCHEDULE_UID_LABEL));
        let Some(resource) = ctx.strimzi.kafka_resource().borrow().clone() else { return controller };
        let kafka_apis: Vec<Api<DynamicObject>> = match &ctx.settings.watched {
            Watched::All => vec![Api::all_with(client.clone(), &resource)],
            Watched::Namespaces(list) => {
                list.iter().map(|ns| Api::namespaced_with(client.clone(), ns, &resource)).collect()
            }
        };
        for kafkas in kafka_apis {
            let store = controller.store();
            controller =
                controller.watches_with(kafkas, resource.clone(), watcher::Config::default(), move |kafka| {
                    let id = KafkaId::new(kafka.namespace().unwrap_or_default(), kafka.name_any());
                    super::backup_schedule::controller::wakes(&store.state(), &id, kafka.labels())
                });
        }
        controller
    }
}

/// Shows the `n`th failure in a row of `object`'s reconcile to the user (see
/// [`super::error::report`]): `Ready=False` with the error's reason and message, and a Warning
/// Event the first time. What cannot be written is logged: the retry goes on regardless.
async fn show_failure<K: Reconciled>(ctx: &Context, key: &str, object: &K, error: &Error, n: u32) {
    let (in_status, event) = super::error::report(n);
    if !in_status {
        return;
    }
    let message = format!(
        "{} (failed {n} times in a row; retrying with a growing delay, up to 5 minutes)",
        error.user_message()
    );
    if event {
        ctx.event(&object.object_ref(&()), true, error.reason(), "Reconcile", message.clone()).await;
    }
    // Written once per reason: each status write wakes the object's controller at once, so
    // rewriting it for every new wording of the same failure (an error naming a port, a
    // timeout) would retry without any delay. The count is left out for the same reason.
    let before = object.status().cloned();
    let mut status = before.clone().unwrap_or_default();
    let conditions = K::conditions(&mut status);
    let was = super::status::ready(conditions).cloned();
    let showing = was.as_ref().is_some_and(|c| {
        c.status == crate::api::condition::ConditionStatus::False
            && c.reason.as_deref() == Some(error.reason())
    });
    if showing {
        return;
    }
    let condition_message = format!("{}; the operator retries with a growing delay", error.user_message());
    super::status::set_ready(
        conditions,
        super::error::Failing(error.reason()),
        &condition_message,
        &crate::time::now(),
    );
    let Some(reported) = super::status::ready(conditions).cloned() else { return };
    match super::status::write(&ctx.client, object, &before, &status).await {
        Ok(()) => ctx.backoff.shown(key, was, reported),
        Err(e) => warn!(object = %key, error = %e, "cannot show the reconcile failure in the status"),
    }
}

/// After a success that follows a failure shown in the status: puts back the `Ready` condition
/// from before it, unless the reconcile has written a verdict of its own.
async fn take_back<K: Reconciled>(ctx: &Context, key: &str, object: &K, shown: &super::error::Shown) {
    let object = match fresh(&ctx.client, object).await {
        Ok(Some(o)) => o,
        Ok(None) => return,
        Err(e) => {
            warn!(object = %key, error = %e, "cannot clear the reconcile failure from the status");
            return;
        }
    };
    let before = object.status().cloned();
    let mut status = before.clone().unwrap_or_default();
    let conditions = K::conditions(&mut status);
    let Some(after) = super::error::taken_back(conditions, shown) else { return };
    *conditions = after;
    if let Err(e) = super::status::write(&ctx.client, &object, &before, &status).await {
        warn!(object = %key, error = %e, "cannot clear the reconcile failure from the status");
    } else {
        info!(object = %key, "reconcile succeeded again; failure cleared from the status");
    }
}

/// Whether `object` refers to the Strimzi `Kafka` `namespace/name`.
fn refers_to<K: Reconciled>(object: &K, namespace: &str, name: &str) -> bool {
    object.cluster().and_then(|c| c.strimzi_cluster_ref.as_ref()).is_some_and(|r| {
        r.name == name
            && r.namespace.as_deref().unwrap_or(&object.namespace().unwrap_or_default()) == namespace
    })
}

/// The controllers of every kind in every watched namespace, woken by changes of Strimzi's
/// `Kafka` (in the version `kafka` the cluster serves, if any), until `shutdown` fires.
fn spawn_controllers(
    ctx: &Arc<Context>,
    watched: &Watched,
    kafka: Option<ApiResource>,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinSet<()> {
    let client = &ctx.client;
    let mut controllers = tokio::task::JoinSet::new();
    for (ns, api) in apis::<KafkaBackup>(client, watched) {
        let f = super::backup::controller::reconcile;
        controllers.spawn(control(ctx.clone(), ns, api, kafka.clone(), f, shutdown.clone()));
    }
    for (ns, api) in apis::<KafkaRestore>(client, watched) {
        let f = super::restore::controller::reconcile;
        controllers.spawn(control(ctx.clone(), ns, api, kafka.clone(), f, shutdown.clone()));
    }
    for (ns, api) in apis::<KafkaOffsetReset>(client, watched) {
        let f = super::offset_reset::controller::reconcile;
        controllers.spawn(control(ctx.clone(), ns, api, kafka.clone(), f, shutdown.clone()));
    }
    for (ns, api) in apis::<crate::api::KafkaDataErasure>(client, watched) {
        let f = super::erasure::controller::reconcile;
        controllers.spawn(control(ctx.clone(), ns, api, kafka.clone(), f, shutdown.clone()));
    }
    for (ns, api) in apis::<crate::api::location::KafkaBackupLocation>(client, watched) {
        let f = super::location::controller::reconcile;
        controllers.spawn(control(ctx.clone(), ns, api, None, f, shutdown.clone()));
    }
    for (ns, api) in apis::<crate::api::drill::KafkaRestoreDrill>(client, watched) {
        let f = super::drill::controller::reconcile;
        controllers.spawn(control(ctx.clone(), ns, api, kafka.clone(), f, shutdown.clone()));
    }
    // Its Kafka watch is its own (by selector, over every watched namespace): `watch_more`.
    for (ns, api) in apis::<crate::api::KafkaBackupSchedule>(client, watched) {
        let f = super::backup_schedule::controller::reconcile;
        controllers.spawn(control(ctx.clone(), ns, api, None, f, shutdown.clone()));
    }
    controllers
}

fn apis<K: Reconciled>(client: &Client, watched: &Watched) -> Vec<(String, Api<K>)> {
    match watched {
        Watched::All => vec![("*".into(), Api::all(client.clone()))],
        Watched::Namespaces(list) => {
            list.iter().map(|n| (n.clone(), Api::namespaced(client.clone(), n))).collect()
        }
    }
}

/// Runs the controller of `K` in one watched namespace (or all) until `shutdown` fires.
async fn control<K, F, Fut>(
    ctx: Arc<Context>,
    namespace: String,
    api: Api<K>,
    kafka: Option<ApiResource>,
    reconcile: F,
    mut shutdown: watch::Receiver<bool>,
) where
    K: Reconciled,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
{
    let client = ctx.client.clone();
    let jobs: Api<Job> = match namespace.as_str() {
        "*" => Api::all(client.clone()),
        ns => Api::namespaced(client.clone(), ns),
    };
    let labels = format!("app.kubernetes.io/managed-by={MANAGER}");
    let again = api.clone();
    let mut controller = Controller::new(api, watcher::Config::default())
        .owns(jobs, watcher::Config::default().labels(&labels));
    if K::WATCH_DELETIONS {
        // A deleted object is looked up in the store, found gone, and reported `ObjectNotFound`
        // below, where its gauges are dropped.
        controller =
            controller.watches(again, watcher::Config::default(), |o: K| Some(ObjectRef::from_obj(&o)));
    }
    if let Some(resource) = kafka {
        let kafkas: Api<DynamicObject> = match namespace.as_str() {
            "*" => Api::all_with(client.clone(), &resource),
            ns => Api::namespaced_with(client.clone(), ns, &resource),
        };
        let store = controller.store();
        controller = controller.watches_with(kafkas, resource, watcher::Config::default(), move |kafka| {
            let (ns, name) = (kafka.namespace().unwrap_or_default(), kafka.name_any());
            store
                .state()
                .into_iter()
                .filter(|o| refers_to(o.as_ref(), &ns, &name))
                .map(|o| ObjectRef::from_obj(o.as_ref()))
                .collect::<Vec<_>>()
        });
    }
    controller = K::watch_more(controller, &ctx, &namespace);
    let reconcile = Arc::new(reconcile);
    let metrics = ctx.metrics.clone();
    controller
        .graceful_shutdown_on(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .run(
            move |object: Arc<K>, ctx: Arc<Context>| {
                let reconcile = reconcile.clone();
                async move {
                    let started = Instant::now();
                    let key = format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any());
                    let (current, result) = match fresh(&ctx.client, object.as_ref()).await {
                        Ok(Some(current)) => {
                            let current = Arc::new(current);
                            (current.clone(), reconcile(current, ctx.clone()).await)
                        }
                        Ok(None) => {
                            // Gone: its figures go with it.
                            forget::<K>(&ctx.metrics, object.as_ref());
                            (object.clone(), Ok(Action::await_change()))
                        }
                        Err(e) => (object.clone(), Err(e)),
                    };
                    let labels = ControllerLabels { controller: K::CONTROLLER.into() };
                    ctx.metrics.reconciles.get_or_create(&labels).inc();
                    ctx.metrics.reconcile_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
                    match &result {
                        Ok(_) => {
                            if let Some(shown) = ctx.backoff.succeeded(&key) {
                                take_back(&ctx, &key, current.as_ref(), &shown).await;
                            }
                        }
                        Err(Error::Waiting(_)) => {}
                        Err(e) => {
                            let n = ctx.backoff.failed(&key);
                            show_failure(&ctx, &key, current.as_ref(), e, n).await;
                        }
                    }
                    result
                }
            },
            |object: Arc<K>, error: &Error, ctx: Arc<Context>| {
                if let Error::Waiting(why) = error {
                    info!(object = %object.name_any(), "{why}");
                    return Action::requeue(Duration::from_secs(5));
                }
                let key = format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any());
                warn!(controller = K::CONTROLLER, object = %key, error = %error, "reconcile failed; retrying");
                ctx.metrics
                    .reconcile_errors
                    .get_or_create(&ErrorLabels { controller: K::CONTROLLER.into(), reason: error.reason().into() })
                    .inc();
                // Counted (and shown to the user when it lasts) by the reconcile wrapper above.
                ctx.backoff.delay(&key)
            },
            ctx,
        )
        .for_each(move |result| {
            // An object deleted is looked up once more and found gone: its figures go with it.
            if let Err(kube::runtime::controller::Error::ObjectNotFound(gone)) = &result {
                K::forget(&metrics, gone.namespace.as_deref().unwrap_or_default(), &gone.name);
            }
            if let Err(e) = result {
                // Watch errors and objects gone before their reconcile: the controller retries.
                tracing::debug!(error = %e, "controller event");
            }
            futures::future::ready(())
        })
        .await;
}

/// Drops the gauges of `object`, which is gone.
fn forget<K: Reconciled>(metrics: &Metrics, object: &K) {
    K::forget(metrics, &object.namespace().unwrap_or_default(), &object.name_any());
}

/// The object as the API server has it now. The controller's cache can lag behind the status
/// this operator just wrote: a reconcile woken by the Job event that follows would start from
/// the status before it, and record a finished run twice or write an older status back.
async fn fresh<K: Reconciled>(client: &Client, object: &K) -> Result<Option<K>, Error> {
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    api.get_opt(&object.name_any()).await.map_err(Error::read(format!(
        "{} {}",
        K::kind(&()),
        object.name_any()
    )))
}

/// This replica's identity in the Lease: the pod name (downward API), else host and process.
fn identity() -> String {
    std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

async fn signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// The audit handle and its writer task: disabled (and the metric says `not-configured`)
/// without `STRIMZI_BACKUP_AUDIT_SECRET`.
fn start_audit(
    client: &Client,
    settings: &Settings,
    audit_settings: Option<crate::audit::AuditSettings>,
    license: &InstalledLicense,
    metrics: crate::audit::AuditMetrics,
) -> (crate::audit::Audit, Option<tokio::task::JoinHandle<()>>) {
    let Some(a) = audit_settings else {
        metrics.set_state("not-configured", false);
        info!("no audit log configured ({} unset)", crate::audit::SECRET_ENV);
        return (crate::audit::Audit::disabled(), None);
    };
    info!(secret = %a.secret, queue = a.queue_size, "audit log configured");
    let audit = crate::audit::Audit::new(a.queue_size, license.clone(), metrics);
    let target = crate::audit::writer::Target {
        client: client.clone(),
        namespace: settings.namespace.clone(),
        secret: a.secret,
        reporter: super::context::reporter(),
    };
    let writer = tokio::spawn(crate::audit::writer::run(audit.clone(), target));
    (audit, Some(writer))
}

/// How long a stopping operator waits for its queued audit events to be written.
const AUDIT_DRAIN: Duration = Duration::from_secs(5);

/// Gives the writer [`AUDIT_DRAIN`] to write what is queued, then stops it.
async fn stop_audit(audit: &crate::audit::Audit, writer: Option<tokio::task::JoinHandle<()>>) {
    let Some(writer) = writer else { return };
    let deadline = Instant::now() + AUDIT_DRAIN;
    while audit.queued() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if audit.queued() > 0 {
        warn!(queued = audit.queued(), "stopping with audit events not yet written: they are lost");
    }
    writer.abort();
}

/// Runs the operator until it is told to stop (Ok) or loses its Lease (Err).
pub async fn run(settings: Settings, options: Options) -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let webhook_metrics = Arc::new(strimzi_backup_webhook::Metrics::register(&mut registry));
    let license_metrics = LicenseMetrics::register(&mut registry);
    let audit_metrics = crate::audit::AuditMetrics::register(&mut registry);
    let audit_settings =
        crate::audit::AuditSettings::from_env(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
    let ready = Arc::new(AtomicBool::new(false));
    let probe = Probe { registry: Arc::new(registry), ready: ready.clone() };
    let listener = tokio::net::TcpListener::bind(options.metrics_address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {} for /metrics: {e}", options.metrics_address))?;
    info!(address = %options.metrics_address, "serving /metrics, /healthz, /readyz");
    let server = tokio::spawn(async move { axum::serve(listener, http::router(probe)).await });

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopping = tokio::spawn({
        let stop_tx = stop_tx.clone();
        async move {
            signal().await;
            info!("stopping: finishing the reconciles in flight");
            let _ = stop_tx.send(true);
        }
    });

    let license = InstalledLicense::default();
    // The audit log (every replica: each one's webhook records its decisions), one writer each.
    let (audit, audit_writer) = start_audit(&client, &settings, audit_settings, &license, audit_metrics);
    let license_watch = tokio::spawn(super::license::watch(
        client.clone(),
        settings.namespace.clone(),
        settings.license_secret.clone(),
        license.clone(),
        license_metrics,
        audit.clone(),
    ));
    // The restore access policy's key, shared by every replica's webhook and the controller.
    // Without it, restores of backups with a restorePolicy are refused (and say why).
    let restore_key = match crate::restore_access::load_or_create(client.clone(), &settings.namespace).await {
        Ok(key) => key,
        Err(e) => {
            warn!(error = %e, "no restore authorization key: restores of KafkaBackups with a restorePolicy will be refused");
            crate::restore_access::Key::default()
        }
    };
    let webhook = match &options.webhook {
        Some(w) => Some(
            start_webhook(
                w,
                crate::audit::admission::Audited {
                    inner: Arc::new(
                        crate::admission::Admission::new(license.clone(), Some(client.clone()))
                            .with_licence_records(&settings.namespace)
                            .with_restore_key(restore_key.clone()),
                    ),
                    // Every validating decision is recorded in the audit log, with the requesting user.
                    audit: audit.clone(),
                },
                webhook_metrics,
                stop_rx.clone(),
            )
            .await?,
        ),
        None => None,
    };

    // Leader election: only the holder of the Lease reconciles.
    let candidate = super::leader::Candidate {
        client: client.clone(),
        namespace: settings.namespace.clone(),
        identity: identity(),
        lease_seconds: options.lease_seconds,
    };
    // A standby is ready: it serves and will take over.
    ready.store(true, Ordering::Relaxed);
    info!(lease = LEASE, namespace = %settings.namespace, "waiting to lead");
    let mut stop = stop_rx.clone();
    let Some(leadership) = candidate.lead(&mut stop).await? else {
        license_watch.abort();
        webhook.inspect(|w| w.abort());
        stop_audit(&audit, audit_writer).await;
        return Ok(());
    };
    let mut leader = leadership.leader.clone();
    info!("leading: starting the controllers");

    let mut ctx = Context::new(client.clone(), settings.clone(), metrics, license);
    ctx.restore_key = restore_key;
    ctx.audit = audit.clone();
    let ctx = Arc::new(ctx);
    if let Err(e) = ctx.strimzi.served(Duration::ZERO).await {
        warn!(error = %e, "cannot discover Strimzi's API yet; retrying in the background");
    }
    // Discovery again every TTL even when no reconcile reads Strimzi, so a Strimzi installed or
    // upgraded later moves the Kafka watch too.
    let rediscover = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            let mut tick = tokio::time::interval(super::dereference::TTL);
            loop {
                tick.tick().await;
                if let Err(e) = ctx.strimzi.served(super::dereference::TTL).await {
                    warn!(error = %e, "cannot discover Strimzi's API");
                }
            }
        }
    });
    let namespaces: HashSet<&str> = match &settings.watched {
        Watched::All => HashSet::from(["*"]),
        Watched::Namespaces(l) => l.iter().map(String::as_str).collect(),
    };
    let mut kafka_served = ctx.strimzi.kafka_resource();
    let mut lost = false;
    loop {
        let kafka = kafka_served.borrow_and_update().clone();
        match &kafka {
            Some(r) => info!(version = %r.version, "watching Strimzi's Kafka resources"),
            None => info!("Strimzi's Kafka resource is not served; Kafka changes will not wake reconciles"),
        }
        let (restart_tx, restart_rx) = watch::channel(false);
        let mut controllers = spawn_controllers(&ctx, &settings.watched, kafka, restart_rx);
        info!(namespaces = ?namespaces, "controllers running");
        let restart = tokio::select! {
            _ = leader.wait_for(|l| !*l) => {
                error!("lost the Lease: stopping so that only one replica reconciles");
                lost = true;
                let _ = stop_tx.send(true);
                false
            }
            _ = async { let mut s = stop_rx.clone(); let _ = s.wait_for(|s| *s).await; } => false,
            changed = kafka_served.changed() => changed.is_ok(),
        };
        let _ = restart_tx.send(true);
        while controllers.join_next().await.is_some() {}
        if !restart {
            break;
        }
        // A watch cannot change its version: the controllers start again (after the reconciles
        // in flight) with a watch in the version now served. Rare: Strimzi installed or upgraded.
        info!("Strimzi's Kafka is served in another version now: restarting the controllers");
    }
    rediscover.abort();
    drop(leader);
    leadership.release().await;
    stopping.abort();
    server.abort();
    license_watch.abort();
    webhook.inspect(|w| w.abort());
    stop_audit(&audit, audit_writer).await;
    anyhow::ensure!(!lost, "lost the leader Lease");
    info!("stopped");
    Ok(())
}
