//! Test-only code that stands in for kube-proxy: makes Service ClusterIPs answer, for the pods
//! this harness runs.
//!
//! Why it exists: the API server calls admission webhooks registered with `clientConfig.service`
//! at `https://<clusterIP>:<port>`, and tests reach Services the same way; with no kube-proxy
//! nothing answers there. The local environment allocates ClusterIPs from loopback space
//! (`--service-cluster-ip-range 127.77.0.0/24`, `SERVICE_CIDR` in `hack/lib.sh`), and Linux
//! routes all of 127.0.0.0/8 to `lo`, so a plain socket bound to `<clusterIP>:<port>` receives
//! that traffic without any address or routing setup; the harness runs as root, so ports below
//! 1024 bind too.
//!
//! Proxied ([`routes`]): Services of type ClusterIP, NodePort or LoadBalancer with a selector and
//! a ClusterIP in 127.0.0.0/8, each TCP port (node ports and load-balancer addresses are not
//! served). Headless Services, ExternalName, Services without a selector (their Endpoints are kept
//! by hand, here nobody keeps them) and UDP/SCTP ports are skipped, logged once.
//!
//! Each `(clusterIP, port)` gets a listener — unless the pods listen on that very port themselves
//! ([`direct`]: with the host network their wildcard socket already answers on the ClusterIP, and
//! a listener would take the port from them); each accepted connection goes to the next backend in
//! turn ([`backends`], round robin): a pod on this node in the Service's namespace matching the
//! selector, `Running`, `Ready` and not being deleted, at `127.0.0.1:<targetPort>` (pods share the
//! host network), `targetPort` resolved per pod ([`target_port`]). Pods come from a watch of this
//! node's pods, so the backends are what the API says, as kube-proxy's come from EndpointSlices.
//! No backend, or a backend that refuses: the connection is reset, like kube-proxy's reject rule.
//! No Endpoints or EndpointSlices are written. A Service that changes updates its listener; a
//! Service deleted (or the proxy stopped) closes its listener and the connections through it.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::pod::AbortOnDrop;

/// One `(clusterIP, port)` of a Service and where its connections go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub addr: SocketAddrV4,
    pub namespace: String,
    /// `<namespace>/<name>`, for the logs.
    pub service: String,
    pub selector: BTreeMap<String, String>,
    /// A port number, or the name of a `containerPort` of the backend pod.
    pub target: IntOrString,
}

/// The routes of a Service's TCP ports, or why the Service is not proxied.
pub fn routes(svc: &Service) -> Result<Vec<Route>, String> {
    let spec = svc.spec.as_ref().ok_or("no spec")?;
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !matches!(kind, "ClusterIP" | "NodePort" | "LoadBalancer") {
        return Err(format!("type {kind}"));
    }
    let selector = spec.selector.clone().unwrap_or_default();
    if selector.is_empty() {
        return Err("no selector (its endpoints would be kept by hand)".to_owned());
    }
    let ip = spec.cluster_ip.as_deref().unwrap_or_default();
    let ip = match ip.parse::<Ipv4Addr>() {
        Ok(a) if a.is_loopback() => a,
        _ => return Err(format!("clusterIP {ip:?} is not in 127.0.0.0/8")),
    };
    let namespace = svc.namespace().unwrap_or_default();
    let routes: Vec<Route> = spec
        .ports
        .iter()
        .flatten()
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .filter_map(|p| {
            let port = u16::try_from(p.port).ok().filter(|p| *p != 0)?;
            Some(Route {
                addr: SocketAddrV4::new(ip, port),
                namespace: namespace.clone(),
                service: format!("{namespace}/{}", svc.name_any()),
                selector: selector.clone(),
                target: p.target_port.clone().unwrap_or(IntOrString::Int(p.port)),
            })
        })
        .collect();
    if routes.is_empty() { Err("no TCP port".to_owned()) } else { Ok(routes) }
}

/// The port `target` names on `pod`: a number as is, a name through the `containerPort` of that
/// name (TCP) of one of its containers. `None`: the pod has no such port.
pub fn target_port(pod: &Pod, target: &IntOrString) -> Option<u16> {
    match target {
        IntOrString::Int(n) => u16::try_from(*n).ok().filter(|p| *p != 0),
        IntOrString::String(name) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name) && p.protocol.as_deref().unwrap_or("TCP") == "TCP")
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Whether `pod` may take connections: `Running`, condition `Ready` true, not being deleted.
pub fn serving(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else { return false };
    pod.metadata.deletion_timestamp.is_none()
        && status.phase.as_deref() == Some("Running")
        && status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Whether `route`'s Service selects `pod`: same namespace, every selector label matches.
fn selects(route: &Route, pod: &Pod) -> bool {
    pod.metadata.namespace.as_deref() == Some(route.namespace.as_str())
        && route.selector.iter().all(|(k, v)| pod.labels().get(k) == Some(v))
}

/// The backends of `route` among `pods` (this node's): `(pod name, port on 127.0.0.1)`, sorted
/// by pod name so that round robin goes through them in a stable order.
pub fn backends(pods: &[Arc<Pod>], route: &Route) -> Vec<(String, u16)> {
    let mut found: Vec<(String, u16)> = pods
        .iter()
        .filter(|p| selects(route, p) && serving(p))
        .filter_map(|p| Some((p.name_any(), target_port(p, &route.target)?)))
        .collect();
    found.sort();
    found
}

/// Whether `route`'s pods answer on the ClusterIP themselves: pods share the host network, so a
/// pod listening on the wildcard address at the Service's own port already receives what is sent
/// to `<clusterIP>:<port>`, and a proxy listener there would take the port from it (the pod's bind
/// would fail). True for a numeric `targetPort` equal to the port, and for a named one that a pod
/// of the Service (in any phase: its process may be about to bind) resolves to the port.
pub fn direct(route: &Route, pods: &[Arc<Pod>]) -> bool {
    let port = route.addr.port();
    match &route.target {
        IntOrString::Int(n) => u16::try_from(*n).ok() == Some(port),
        IntOrString::String(_) => {
            pods.iter().any(|p| selects(route, p) && target_port(p, &route.target) == Some(port))
        }
    }
}

/// Round robin: the backend after the one `next` pointed at.
pub fn pick<'a>(backends: &'a [(String, u16)], next: &mut usize) -> Option<&'a (String, u16)> {
    if backends.is_empty() {
        return None;
    }
    let chosen = &backends[*next % backends.len()];
    *next = next.wrapping_add(1);
    Some(chosen)
}

/// Runs the proxy until the task is dropped (aborted): watches Services and this node's pods and
/// keeps one listener per proxied `(clusterIP, port)`.
pub async fn run(client: Client, node_name: String) {
    let (pods, pod_writer) = reflector::store::<Pod>();
    let pod_config = watcher::Config::default().fields(&format!("spec.nodeName={node_name}"));
    let mut pod_events = pin!(
        reflector::reflector(pod_writer, watcher(Api::all(client.clone()), pod_config)).default_backoff()
    );
    let (services, svc_writer) = reflector::store::<Service>();
    let mut svc_events = pin!(
        reflector::reflector(svc_writer, watcher(Api::all(client), watcher::Config::default()))
            .default_backoff()
    );
    let mut proxy = Proxy { pods, listeners: HashMap::new(), decisions: HashMap::new() };
    info!("service proxy: watching services");
    loop {
        tokio::select! {
            e = pod_events.next() => match e {
                // A pod can make a named targetPort resolve to the Service's port (see [`direct`]).
                Some(Ok(_)) => proxy.sync(&services.state()),
                Some(Err(e)) => warn!(error = %e, "service proxy: pod watch failed; retrying with back-off"),
                None => break,
            },
            e = svc_events.next() => match e {
                Some(Ok(_)) => proxy.sync(&services.state()),
                Some(Err(e)) => warn!(error = %e, "service proxy: service watch failed; retrying with back-off"),
                None => break,
            },
        }
    }
    warn!("service proxy: watch ended");
}

struct Listener {
    route: watch::Sender<Route>,
    _task: AbortOnDrop<()>,
}

struct Proxy {
    pods: Store<Pod>,
    listeners: HashMap<SocketAddrV4, Listener>,
    /// What was last logged per Service (`<namespace>/<name>`), so each decision is logged once.
    decisions: HashMap<String, String>,
}

impl Proxy {
    /// Makes the listeners match `services`: new routes listen, changed ones take the new route,
    /// gone ones stop (dropping a listener aborts its task, which closes its connections).
    fn sync(&mut self, services: &[Arc<Service>]) {
        let mut wanted: HashMap<SocketAddrV4, Route> = HashMap::new();
        let mut decisions = HashMap::new();
        let pods = self.pods.state();
        for svc in services {
            let key = format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any());
            let decision = match routes(svc) {
                Ok(routes) => {
                    let routes: Vec<(Route, bool)> = routes
                        .into_iter()
                        .map(|r| {
                            let direct = direct(&r, &pods);
                            (r, direct)
                        })
                        .collect();
                    let list: Vec<String> = routes
                        .iter()
                        .map(|(r, direct)| match (&r.target, direct) {
                            (_, true) => format!("{} answered by the pods themselves (same port)", r.addr),
                            (IntOrString::Int(n), false) => format!("{} -> targetPort {n}", r.addr),
                            (IntOrString::String(name), false) => {
                                format!("{} -> targetPort {name:?}", r.addr)
                            }
                        })
                        .collect();
                    wanted.extend(routes.into_iter().filter(|(_, direct)| !direct).map(|(r, _)| (r.addr, r)));
                    format!("proxying {}", list.join(", "))
                }
                Err(why) => format!("not proxied: {why}"),
            };
            if self.decisions.get(&key) != Some(&decision) {
                info!(service = %key, "{decision}");
            }
            decisions.insert(key, decision);
        }
        self.decisions = decisions;
        self.listeners.retain(|addr, l| match wanted.remove(addr) {
            Some(route) => {
                l.route.send_if_modified(|current| {
                    let changed = *current != route;
                    *current = route;
                    changed
                });
                true
            }
            None => {
                info!(%addr, "service gone: closing its listener");
                false
            }
        });
        for (addr, route) in wanted {
            let (tx, rx) = watch::channel(route);
            let task = AbortOnDrop(tokio::spawn(serve(addr, rx, self.pods.clone())));
            self.listeners.insert(addr, Listener { route: tx, _task: task });
        }
    }
}

/// Listens on `addr` (retrying while the address is taken) and forwards each connection to a
/// backend of the current route. Connections are tasks of this one, so they end with it.
async fn serve(addr: SocketAddrV4, route: watch::Receiver<Route>, pods: Store<Pod>) {
    let mut warned = false;
    let listener = loop {
        match TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                if !warned {
                    warn!(%addr, error = %e, "service proxy cannot listen; retrying every 5s");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    info!(%addr, service = %route.borrow().service, "service proxy listening");
    let mut connections = JoinSet::new();
    let mut next = 0usize;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let client = match accepted {
                    Ok((client, _)) => client,
                    Err(e) => {
                        warn!(%addr, error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let route = route.borrow().clone();
                match pick(&backends(&pods.state(), &route), &mut next) {
                    Some((pod, port)) => {
                        debug!(%addr, pod = %pod, port, "forwarding a connection");
                        connections.spawn(forward(client, *port));
                    }
                    None => {
                        debug!(%addr, service = %route.service, "no ready backend: resetting the connection");
                        reset(client);
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Copies bytes both ways between `client` and the backend at `127.0.0.1:port`.
async fn forward(mut client: TcpStream, port: u16) {
    let mut backend = match TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await {
        Ok(b) => b,
        Err(e) => {
            debug!(port, error = %e, "backend refused: resetting the connection");
            reset(client);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
        debug!(port, error = %e, "proxied connection ended with an error");
    }
}

/// Closes `stream` with a RST, so the client sees a refusal rather than an orderly end.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": spec}))
            .expect("a Service")
    }

    fn pod(name: &str, labels: serde_json::Value, ready: bool, ports: serde_json::Value) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "labels": labels},
                "spec": {"containers": [{"name": "main", "ports": ports}]},
                "status": {"phase": "Running", "conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": if ready { "True" } else { "False" }},
                ]},
            }))
            .expect("a Pod"),
        )
    }

    fn route(target: IntOrString) -> Route {
        Route {
            addr: SocketAddrV4::new(Ipv4Addr::new(127, 77, 0, 9), 80),
            namespace: "ns".into(),
            service: "ns/web".into(),
            selector: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
            target,
        }
    }

    #[test]
    fn proxies_selector_services_with_loopback_cluster_ips_and_their_tcp_ports() {
        let svc = service(json!({"selector": {"app": "web"}, "clusterIP": "127.77.0.9", "ports": [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "admin", "port": 9000, "protocol": "TCP"},
        ]}));
        let r = routes(&svc).expect("proxied");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], route(IntOrString::String("http".into())));
        assert_eq!(r[1].addr.to_string(), "127.77.0.9:9000");
        assert_eq!(r[1].target, IntOrString::Int(9000), "targetPort defaults to port");
        for kind in ["NodePort", "LoadBalancer"] {
            let svc = service(
                json!({"type": kind, "selector": {"a": "b"}, "clusterIP": "127.77.0.3", "ports": [{"port": 1}]}),
            );
            assert!(routes(&svc).is_ok(), "{kind}");
        }
    }

    #[test]
    fn skips_headless_external_selectorless_non_loopback_and_udp_only_services() {
        let skipped = |spec| routes(&service(spec)).expect_err("skipped");
        let ports = json!([{"port": 80}]);
        assert!(
            skipped(json!({"selector": {"a": "b"}, "clusterIP": "None", "ports": ports})).contains("None")
        );
        assert!(
            skipped(json!({"selector": {"a": "b"}, "clusterIP": "10.0.0.5", "ports": ports}))
                .contains("10.0.0.5")
        );
        assert!(
            skipped(json!({"selector": {"a": "b"}, "clusterIP": "::1", "ports": ports}))
                .contains("127.0.0.0/8")
        );
        assert!(skipped(json!({"clusterIP": "127.77.0.1", "ports": ports})).contains("selector"));
        assert!(
            skipped(json!({"selector": {}, "clusterIP": "127.77.0.1", "ports": ports})).contains("selector")
        );
        let external = json!({"type": "ExternalName", "externalName": "example.com", "selector": {"a": "b"}});
        assert_eq!(skipped(external), "type ExternalName");
        let udp = json!({"selector": {"a": "b"}, "clusterIP": "127.77.0.1", "ports": [{"port": 53, "protocol": "UDP"}]});
        assert_eq!(skipped(udp), "no TCP port");
    }

    #[test]
    fn resolves_target_ports_by_number_and_by_container_port_name() {
        let p = pod(
            "a",
            json!({}),
            true,
            json!([
                {"name": "http", "containerPort": 8080},
                {"name": "metrics", "containerPort": 9090, "protocol": "UDP"},
            ]),
        );
        assert_eq!(target_port(&p, &IntOrString::Int(7000)), Some(7000));
        assert_eq!(target_port(&p, &IntOrString::Int(0)), None);
        assert_eq!(target_port(&p, &IntOrString::Int(70000)), None);
        assert_eq!(target_port(&p, &IntOrString::String("http".into())), Some(8080));
        assert_eq!(target_port(&p, &IntOrString::String("metrics".into())), None, "UDP port");
        assert_eq!(target_port(&p, &IntOrString::String("grpc".into())), None);
    }

    #[test]
    fn backends_are_ready_running_matching_pods_of_the_namespace_with_the_port() {
        let web = json!({"app": "web", "tier": "x"});
        let http = |port: i32| json!([{"name": "http", "containerPort": port}]);
        let mut other_ns = (*pod("c-other-ns", web.clone(), true, http(3))).clone();
        other_ns.metadata.namespace = Some("other".into());
        let mut deleting = (*pod("d-deleting", web.clone(), true, http(4))).clone();
        deleting.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        let mut succeeded = (*pod("e-succeeded", web.clone(), true, http(5))).clone();
        succeeded.status.as_mut().expect("status").phase = Some("Succeeded".into());
        let pods = vec![
            pod("b", web.clone(), true, http(2)),
            pod("a", web.clone(), true, http(1)),
            Arc::new(other_ns),
            Arc::new(deleting),
            Arc::new(succeeded),
            pod("f-unready", web.clone(), false, http(6)),
            pod("g-other-app", json!({"app": "db"}), true, http(7)),
            pod("h-no-such-port", web.clone(), true, json!([{"name": "grpc", "containerPort": 8}])),
        ];
        let found = backends(&pods, &route(IntOrString::String("http".into())));
        assert_eq!(found, vec![("a".to_owned(), 1), ("b".to_owned(), 2)]);
        let by_number = backends(&pods, &route(IntOrString::Int(8443)));
        assert_eq!(by_number.iter().map(|b| b.1).collect::<Vec<_>>(), vec![8443, 8443, 8443]);
        assert_eq!(by_number[2].0, "h-no-such-port");
    }

    #[test]
    fn round_robin_cycles_through_backends_and_none_without_any() {
        let list = vec![("a".to_owned(), 1), ("b".to_owned(), 2), ("c".to_owned(), 3)];
        let mut next = 0;
        let picked: Vec<u16> = (0..7).filter_map(|_| pick(&list, &mut next).map(|b| b.1)).collect();
        assert_eq!(picked, vec![1, 2, 3, 1, 2, 3, 1]);
        // A list that shrank still yields a backend.
        assert_eq!(pick(&list[..1], &mut next).map(|b| b.1), Some(1));
        assert_eq!(pick(&[], &mut next), None);
    }

    #[test]
    fn pods_listening_on_the_service_port_answer_for_themselves() {
        // Route port 80: numeric targetPort 80 is direct, 8080 is proxied.
        assert!(direct(&route(IntOrString::Int(80)), &[]));
        assert!(!direct(&route(IntOrString::Int(8080)), &[]));
        // A named targetPort is direct once a pod of the Service (ready or not) names port 80.
        let named = route(IntOrString::String("http".into()));
        assert!(!direct(&named, &[]));
        let on_8080 = pod("a", json!({"app": "web"}), true, json!([{"name": "http", "containerPort": 8080}]));
        assert!(!direct(&named, std::slice::from_ref(&on_8080)));
        let on_80 = pod("b", json!({"app": "web"}), false, json!([{"name": "http", "containerPort": 80}]));
        assert!(direct(&named, &[on_8080, on_80]));
        let other_app = pod("c", json!({"app": "db"}), true, json!([{"name": "http", "containerPort": 80}]));
        assert!(!direct(&named, &[other_app]));
    }
}
