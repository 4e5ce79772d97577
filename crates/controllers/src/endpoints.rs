//! The Endpoints controller: one `Endpoints` object per selector Service, listing the IPs of
//! the pods it selects (ready ones in `addresses`, the others in `notReadyAddresses`).
//!
//! The pure helpers here (which pods count, target port resolution) are shared with the
//! EndpointSlice controller.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, future};
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::error::{ControllerError, is_conflict, is_not_found};
use crate::informer::Informers;
use crate::podutil::is_pod_ready;

/// Label marking the Endpoints / EndpointSlices of a headless Service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// Whether a Service is headless (`clusterIP: None`).
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// The selector of a Service, if it has a non-empty one (only those get managed endpoints).
pub fn service_selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
}

/// Whether the controllers manage endpoints for this Service at all.
pub fn is_managed(svc: &Service) -> bool {
    let apiserver = svc.name_any() == "kubernetes" && svc.namespace().as_deref() == Some("default");
    !apiserver && service_selector(svc).is_some() && svc.metadata.deletion_timestamp.is_none()
}

/// Whether a Service wants not-ready pods published as ready.
pub fn publish_not_ready(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// Whether `pod` is selected by `svc` (same namespace, labels match the selector).
pub fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(sel) = service_selector(svc) else {
        return false;
    };
    if pod.namespace() != svc.namespace() {
        return false;
    }
    let labels = pod.labels();
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Upstream's `ShouldPodBeInEndpoints`: not terminal, has an IP, and (unless
/// `include_terminating`) not being deleted.
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    if pod_ip(pod).is_none() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// The pod's primary IP, if it has one.
pub fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

/// The container port a Service port targets on one pod: a number as-is (defaulting to the
/// service port), a name looked up among the pod's container ports (same protocol).
pub fn resolve_target_port(sp: &ServicePort, pod: &Pod) -> Option<i32> {
    let protocol = sp.protocol.as_deref().unwrap_or("TCP");
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(0)) => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let spec = pod.spec.as_ref()?;
            spec.containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// The `targetRef` pointing back at a pod.
pub fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.namespace(),
        name: Some(pod.name_any()),
        uid: pod.uid(),
        ..ObjectReference::default()
    }
}

/// The hostname a pod publishes through `svc`: its `spec.hostname` when its subdomain is
/// the Service's name (in the same namespace).
pub fn pod_hostname(svc: &Service, pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == Some(svc.name_any().as_str())
        && pod.namespace() == svc.namespace())
    .then(|| hostname.to_owned())
}

/// The endpoint ports a pod exposes for `svc` (unresolvable named ports are skipped).
pub fn pod_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
    ports
        .into_iter()
        .flatten()
        .filter_map(|sp| {
            let port = resolve_target_port(sp, pod)?;
            Some(EndpointPort {
                name: sp.name.clone().filter(|n| !n.is_empty()),
                port,
                protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

fn port_key(p: &EndpointPort) -> (String, i32, String) {
    (
        p.name.clone().unwrap_or_default(),
        p.port,
        p.protocol.clone().unwrap_or_default(),
    )
}

/// The subsets of a Service's Endpoints from the pods in its namespace: pods grouped by the
/// set of ports they expose, ready (or all, with `publishNotReadyAddresses`) in `addresses`,
/// the others in `notReadyAddresses`, sorted by IP.
pub fn endpoint_subsets(svc: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let publish = publish_not_ready(svc);
    let headless = is_headless(svc);
    let has_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .is_some_and(|p| !p.is_empty());
    type Group = (
        Vec<EndpointPort>,
        Vec<EndpointAddress>,
        Vec<EndpointAddress>,
    );
    let mut groups: BTreeMap<Vec<(String, i32, String)>, Group> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for pod in pods {
        if !selects(svc, pod) || !should_pod_be_in_endpoints(pod, publish) {
            continue;
        }
        let Some(ip) = pod_ip(pod) else { continue };
        let mut ports = pod_ports(svc, pod);
        if ports.is_empty() && (has_ports || !headless) {
            continue;
        }
        if !seen.insert(format!("{ip}/{}", pod.name_any())) {
            continue;
        }
        ports.sort_by_key(port_key);
        let key: Vec<_> = ports.iter().map(port_key).collect();
        let addr = EndpointAddress {
            ip: ip.to_owned(),
            hostname: pod_hostname(svc, pod),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_ref(pod)),
        };
        let entry = groups
            .entry(key)
            .or_insert_with(|| (ports, Vec::new(), Vec::new()));
        if publish || is_pod_ready(pod) {
            entry.1.push(addr);
        } else {
            entry.2.push(addr);
        }
    }
    groups
        .into_values()
        .map(|(ports, mut ready, mut not_ready)| {
            ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect()
}

/// The labels of a Service's Endpoints: the Service's own, plus the headless marker.
pub fn endpoints_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.labels().clone();
    if is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels
}

/// The pods of `svc`'s namespace from the pod cache.
pub fn pods_for<'a>(svc: &Service, pods: &'a [Arc<Pod>]) -> Vec<&'a Pod> {
    pods.iter()
        .map(AsRef::as_ref)
        .filter(|p| selects(svc, p))
        .collect()
}

/// What the Endpoints reconciler needs.
pub struct EndpointsCtx {
    /// The API client.
    pub client: Client,
    /// Pod cache.
    pub pods: Store<Pod>,
}

/// Reconciles the Endpoints object of one Service.
pub async fn reconcile(
    svc: Arc<Service>,
    ctx: Arc<EndpointsCtx>,
) -> Result<Action, ControllerError> {
    if !is_managed(&svc) {
        return Ok(Action::await_change());
    }
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let all = ctx.pods.state();
    let pods = pods_for(&svc, &all);
    let subsets = endpoint_subsets(&svc, &pods);
    let labels = endpoints_labels(&svc);
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
    let current = api
        .get_opt(&name)
        .await
        .map_err(ControllerError::api(format!("get endpoints {ns}/{name}")))?;
    let want_subsets = (!subsets.is_empty()).then_some(subsets);
    match current {
        Some(mut cur) => {
            let same_subsets = cur.subsets.clone().filter(|s| !s.is_empty()) == want_subsets;
            let same_labels = cur.metadata.labels.clone().unwrap_or_default() == labels;
            if same_subsets && same_labels {
                return Ok(Action::await_change());
            }
            cur.subsets = want_subsets;
            cur.metadata.labels = Some(labels);
            match api.replace(&name, &PostParams::default(), &cur).await {
                Ok(_) => debug!(service = %format!("{ns}/{name}"), "updated endpoints"),
                Err(e) if is_conflict(&e) || is_not_found(&e) => {
                    return Ok(Action::requeue(Duration::from_millis(200)));
                }
                Err(e) => {
                    return Err(ControllerError::api(format!(
                        "update endpoints {ns}/{name}"
                    ))(e));
                }
            }
        }
        None => {
            let ep = Endpoints {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.clone()),
                    labels: Some(labels),
                    ..ObjectMeta::default()
                },
                subsets: want_subsets,
            };
            match api.create(&PostParams::default(), &ep).await {
                Ok(_) => debug!(service = %format!("{ns}/{name}"), "created endpoints"),
                Err(e) if is_conflict(&e) => {
                    return Ok(Action::requeue(Duration::from_millis(200)));
                }
                Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
                Err(e) => {
                    return Err(ControllerError::api(format!(
                        "create endpoints {ns}/{name}"
                    ))(e));
                }
            }
        }
    }
    // Pods that stop matching the selector (label edits) are caught by a periodic resync.
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// Requeues after a failed reconcile.
pub fn error_policy(svc: Arc<Service>, error: &ControllerError, _ctx: Arc<EndpointsCtx>) -> Action {
    warn!(service = %svc.name_any(), %error, "endpoints reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

/// The Services (from `svcs`) selecting `pod`.
pub fn services_for_pod(svcs: &Store<Service>, pod: &Pod) -> Vec<ObjectRef<Service>> {
    let ns = pod.namespace();
    svcs.state_filter(|s| s.namespace() == ns)
        .into_iter()
        .filter(|s| selects(s, pod))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// The Endpoints controller over the shared pod informer; runs until `stop` is cancelled.
pub fn run(
    client: Client,
    config: Config,
    informers: &Informers,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static + use<> {
    let pods = informers.pods.store();
    let pod_stream = informers.pods.subscribe();
    run_with(client, config, pods, pod_stream, stop)
}

async fn run_with(
    client: Client,
    config: Config,
    pods: Store<Pod>,
    pod_stream: impl Stream<Item = Arc<Pod>> + Send + 'static,
    stop: CancellationToken,
) {
    let wc = watcher::Config::default();
    // Deleted Services lose their Endpoints (they carry no owner reference).
    let del_client = client.clone();
    let svc_stream = watcher(Api::<Service>::all(client.clone()), wc.clone())
        .default_backoff()
        .then(move |ev| {
            let client = del_client.clone();
            async move {
                if let Ok(watcher::Event::Delete(svc)) = &ev {
                    delete_endpoints(&client, svc).await;
                }
                ev
            }
        });
    let (svcs, svc_writer) = reflector::store::<Service>();
    let svc_stream = svc_stream.reflect(svc_writer).touched_objects();
    let ctx = Arc::new(EndpointsCtx {
        client: client.clone(),
        pods,
    });
    let svcs_for_pods = svcs.clone();
    Controller::for_stream(svc_stream, svcs)
        .with_config(config)
        .watches_shared_stream(pod_stream, move |pod| {
            services_for_pod(&svcs_for_pods, &pod)
        })
        .watches(Api::<Endpoints>::all(client.clone()), wc, |ep| {
            ep.namespace()
                .map(|ns| ObjectRef::new(&ep.name_any()).within(&ns))
        })
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| future::ready(()))
        .await;
}

async fn delete_endpoints(client: &Client, svc: &Service) {
    let Some(ns) = svc.namespace() else { return };
    if svc.name_any() == "kubernetes" && ns == "default" {
        return;
    }
    let api: Api<Endpoints> = Api::namespaced(client.clone(), &ns);
    if let Err(e) = api.delete(&svc.name_any(), &DeleteParams::default()).await
        && !is_not_found(&e)
    {
        warn!(service = %svc.name_any(), error = %e, "deleting endpoints failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(extra: serde_json::Value) -> Service {
        let mut v = json!({
            "metadata": {"name": "web", "namespace": "ns", "labels": {"tier": "front"}},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
        });
        if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    fn pod(name: &str, ip: Option<&str>, ready: bool, port: i32) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}, "uid": name},
            "spec": {"nodeName": "n1", "hostname": name, "subdomain": "web",
                     "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .unwrap()
    }

    fn ips(a: Option<&Vec<EndpointAddress>>) -> Vec<&str> {
        a.into_iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_not_ready_addresses_and_no_ip_skipped() {
        let s = svc(json!({}));
        let (a, b, c) = (
            pod("a", Some("10.0.0.2"), true, 8080),
            pod("b", Some("10.0.0.1"), false, 8080),
            pod("c", None, true, 8080),
        );
        let subsets = endpoint_subsets(&s, &[&a, &b, &c]);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(subsets[0].addresses.as_ref()), ["10.0.0.2"]);
        assert_eq!(ips(subsets[0].not_ready_addresses.as_ref()), ["10.0.0.1"]);
        let port = &subsets[0].ports.as_ref().unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("http"), 8080));
        // Not headless, so hostname is still published (subdomain matches), as upstream.
        assert_eq!(
            endpoints_labels(&s).get("tier").map(String::as_str),
            Some("front")
        );
        assert!(!endpoints_labels(&s).contains_key(HEADLESS_LABEL));
    }

    #[test]
    fn named_target_port_resolves_per_pod() {
        let s = svc(json!({}));
        let (a, b) = (
            pod("a", Some("10.0.0.1"), true, 8080),
            pod("b", Some("10.0.0.2"), true, 9090),
        );
        let subsets = endpoint_subsets(&s, &[&a, &b]);
        assert_eq!(subsets.len(), 2);
        let mut ports: Vec<i32> = subsets
            .iter()
            .map(|s| s.ports.as_ref().unwrap()[0].port)
            .collect();
        ports.sort_unstable();
        assert_eq!(ports, [8080, 9090]);
        // A name the pod lacks: the pod is left out.
        let s2 = svc(json!({"ports": [{"port": 80, "targetPort": "metrics"}]}));
        assert!(endpoint_subsets(&s2, &[&a]).is_empty());
        // Numeric and defaulted target ports.
        let s3 = svc(json!({"ports": [{"port": 80}]}));
        assert_eq!(
            endpoint_subsets(&s3, &[&a])[0].ports.as_ref().unwrap()[0].port,
            80
        );
    }

    #[test]
    fn publish_not_ready_and_terminating() {
        let s = svc(json!({"publishNotReadyAddresses": true}));
        let mut t = pod("t", Some("10.0.0.3"), true, 8080);
        t.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::UNIX_EPOCH,
        ));
        let nr = pod("nr", Some("10.0.0.4"), false, 8080);
        let subsets = endpoint_subsets(&s, &[&t, &nr]);
        assert_eq!(ips(subsets[0].addresses.as_ref()), ["10.0.0.3", "10.0.0.4"]);
        // Without publishing, terminating pods leave the Endpoints.
        let plain = svc(json!({}));
        assert!(endpoint_subsets(&plain, &[&t]).is_empty());
        // Terminal pods never count.
        let mut done = pod("d", Some("10.0.0.5"), false, 8080);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(endpoint_subsets(&s, &[&done]).is_empty());
    }

    #[test]
    fn headless_hostnames_and_portless() {
        let s = svc(json!({"clusterIP": "None", "ports": null}));
        let a = pod("a", Some("10.0.0.1"), true, 8080);
        let subsets = endpoint_subsets(&s, &[&a]);
        assert_eq!(subsets.len(), 1);
        assert!(subsets[0].ports.is_none());
        let addr = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(addr.hostname.as_deref(), Some("a"));
        assert_eq!(addr.node_name.as_deref(), Some("n1"));
        assert_eq!(addr.target_ref.as_ref().unwrap().name.as_deref(), Some("a"));
        assert!(endpoints_labels(&s).contains_key(HEADLESS_LABEL));
    }

    #[test]
    fn unmanaged_services() {
        let mut k = svc(json!({}));
        k.metadata.name = Some("kubernetes".into());
        k.metadata.namespace = Some("default".into());
        assert!(!is_managed(&k));
        assert!(!is_managed(&svc(json!({"selector": null}))));
        assert!(is_managed(&svc(json!({}))));
    }
}
