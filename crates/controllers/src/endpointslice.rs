//! The EndpointSlice controller: `discovery.k8s.io/v1` EndpointSlices for every selector
//! Service, at most [`MAX_ENDPOINTS_PER_SLICE`] endpoints each, one port set per slice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, future};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::endpoints::{
    endpoints_labels, is_managed, pod_hostname, pod_ip, pod_ports, pod_ref, pods_for,
    publish_not_ready, selects, services_for_pod, should_pod_be_in_endpoints,
};
use crate::error::{ControllerError, is_conflict, is_not_found};
use crate::informer::Informers;
use crate::podutil::is_pod_ready;

/// Label naming the Service a slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Label naming the controller managing a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// Upstream's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The labels of a Service's slices.
pub fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = endpoints_labels(svc);
    labels.insert(SERVICE_NAME_LABEL.into(), svc.name_any());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels
}

/// The endpoint of one pod: ready (not terminating, or published regardless), serving
/// (ready, ignoring termination), terminating (being deleted).
pub fn pod_endpoint(svc: &Service, pod: &Pod) -> Option<Endpoint> {
    let ip = pod_ip(pod)?;
    let publish = publish_not_ready(svc);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let ready = is_pod_ready(pod);
    Some(Endpoint {
        addresses: vec![ip.to_owned()],
        conditions: Some(EndpointConditions {
            ready: Some(publish || (ready && !terminating)),
            serving: Some(publish || ready),
            terminating: Some(terminating),
        }),
        hostname: pod_hostname(svc, pod),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        target_ref: Some(pod_ref(pod)),
        ..Endpoint::default()
    })
}

fn port_key(p: &EndpointPort) -> (String, i32, String) {
    (
        p.name.clone().unwrap_or_default(),
        p.port.unwrap_or_default(),
        p.protocol.clone().unwrap_or_default(),
    )
}

/// The slices `svc` should have (names unset): pods grouped by port set, sorted by IP,
/// chunked at `max` endpoints. A Service with no endpoints keeps one empty slice.
pub fn desired_slices(svc: &Service, pods: &[&Pod], max: usize) -> Vec<EndpointSlice> {
    let has_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .is_some_and(|p| !p.is_empty());
    type Group = (Vec<EndpointPort>, Vec<Endpoint>);
    let mut groups: BTreeMap<Vec<(String, i32, String)>, Group> = BTreeMap::new();
    for pod in pods {
        if !selects(svc, pod) || !should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let Some(ep) = pod_endpoint(svc, pod) else {
            continue;
        };
        let mut ports: Vec<EndpointPort> = pod_ports(svc, pod)
            .into_iter()
            .map(|p| EndpointPort {
                name: Some(p.name.unwrap_or_default()),
                port: Some(p.port),
                protocol: p.protocol,
                app_protocol: p.app_protocol,
            })
            .collect();
        if has_ports && ports.is_empty() {
            continue;
        }
        ports.sort_by_key(port_key);
        let key = ports.iter().map(port_key).collect();
        groups
            .entry(key)
            .or_insert_with(|| (ports, Vec::new()))
            .1
            .push(ep);
    }
    let labels = slice_labels(svc);
    let mk = |ports: Vec<EndpointPort>, endpoints: Vec<Endpoint>| EndpointSlice {
        metadata: ObjectMeta {
            namespace: svc.namespace(),
            generate_name: Some(format!("{}-", svc.name_any())),
            labels: Some(labels.clone()),
            owner_references: Some(vec![service_owner(svc)]),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints,
        ports: (!ports.is_empty()).then_some(ports),
    };
    let mut out = Vec::new();
    for (ports, mut endpoints) in groups.into_values() {
        endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        for chunk in endpoints.chunks(max.max(1)) {
            out.push(mk(ports.clone(), chunk.to_vec()));
        }
    }
    if out.is_empty() {
        out.push(mk(Vec::new(), Vec::new()));
    }
    out
}

/// The controller owner reference of a slice to its Service.
pub fn service_owner(svc: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: svc.name_any(),
        uid: svc.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn same(a: &EndpointSlice, b: &EndpointSlice) -> bool {
    a.endpoints == b.endpoints
        && a.ports.clone().filter(|p| !p.is_empty()) == b.ports.clone().filter(|p| !p.is_empty())
        && a.address_type == b.address_type
        && a.metadata.labels == b.metadata.labels
}

/// What the EndpointSlice reconciler needs.
pub struct SliceCtx {
    /// The API client.
    pub client: Client,
    /// Pod cache.
    pub pods: Store<Pod>,
}

/// Reconciles the EndpointSlices of one Service.
pub async fn reconcile(svc: Arc<Service>, ctx: Arc<SliceCtx>) -> Result<Action, ControllerError> {
    if !is_managed(&svc) {
        return Ok(Action::await_change());
    }
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let all = ctx.pods.state();
    let pods = pods_for(&svc, &all);
    let want = desired_slices(&svc, &pods, MAX_ENDPOINTS_PER_SLICE);
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let lp = ListParams::default().labels(&format!(
        "{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}"
    ));
    let mut have = api
        .list(&lp)
        .await
        .map_err(ControllerError::api(format!(
            "list endpointslices of {ns}/{name}"
        )))?
        .items;
    have.sort_by_key(ResourceExt::name_any);
    let mut have = have.into_iter();
    for desired in want {
        match have.next() {
            Some(cur) if same(&cur, &desired) => {}
            Some(cur) => {
                let mut next = desired;
                next.metadata = ObjectMeta {
                    generate_name: None,
                    name: cur.metadata.name.clone(),
                    resource_version: cur.metadata.resource_version.clone(),
                    ..next.metadata
                };
                match api
                    .replace(&cur.name_any(), &PostParams::default(), &next)
                    .await
                {
                    Ok(_) => debug!(service = %format!("{ns}/{name}"), "updated endpointslice"),
                    Err(e) if is_conflict(&e) || is_not_found(&e) => {
                        return Ok(Action::requeue(Duration::from_millis(200)));
                    }
                    Err(e) => {
                        return Err(ControllerError::api(format!(
                            "update endpointslice {ns}/{}",
                            cur.name_any()
                        ))(e));
                    }
                }
            }
            None => match api.create(&PostParams::default(), &desired).await {
                Ok(_) => debug!(service = %format!("{ns}/{name}"), "created endpointslice"),
                Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
                Err(e) => {
                    return Err(ControllerError::api(format!(
                        "create endpointslice for {ns}/{name}"
                    ))(e));
                }
            },
        }
    }
    for extra in have {
        match api
            .delete(&extra.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(format!(
                    "delete endpointslice {ns}/{}",
                    extra.name_any()
                ))(e));
            }
        }
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// Requeues after a failed reconcile.
pub fn error_policy(svc: Arc<Service>, error: &ControllerError, _ctx: Arc<SliceCtx>) -> Action {
    warn!(service = %svc.name_any(), %error, "endpointslice reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

/// The EndpointSlice controller over the shared pod informer; runs until `stop` is cancelled.
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
    let (svcs, svc_stream) = crate::informer::informer::<Service>(&client);
    let ctx = Arc::new(SliceCtx {
        client: client.clone(),
        pods,
    });
    let svcs_for_pods = svcs.clone();
    Controller::for_stream(svc_stream, svcs)
        .with_config(config)
        .watches_shared_stream(pod_stream, move |pod| {
            services_for_pod(&svcs_for_pods, &pod)
        })
        .owns(Api::<EndpointSlice>::all(client.clone()), wc)
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc() -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        }))
        .unwrap()
    }

    fn pod(i: usize, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("p{i}"), "namespace": "ns", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": format!("10.0.{}.{}", i / 250, i % 250 + 1),
                       "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .unwrap()
    }

    #[test]
    fn slice_shape_and_conditions() {
        let s = svc();
        let (a, b) = (pod(0, true), pod(1, false));
        let mut t = pod(2, true);
        t.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::UNIX_EPOCH,
        ));
        let slices = desired_slices(&s, &[&a, &b, &t], MAX_ENDPOINTS_PER_SLICE);
        assert_eq!(slices.len(), 1);
        let sl = &slices[0];
        assert_eq!(sl.address_type, "IPv4");
        assert_eq!(sl.metadata.generate_name.as_deref(), Some("web-"));
        let labels = sl.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[SERVICE_NAME_LABEL], "web");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY);
        let owner = &sl.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("Service", "svc-uid", Some(true))
        );
        let cond = |ip: &str| {
            let c = sl
                .endpoints
                .iter()
                .find(|e| e.addresses == [ip])
                .unwrap()
                .conditions
                .clone()
                .unwrap();
            (c.ready, c.serving, c.terminating)
        };
        assert_eq!(cond("10.0.0.1"), (Some(true), Some(true), Some(false)));
        assert_eq!(cond("10.0.0.2"), (Some(false), Some(false), Some(false)));
        assert_eq!(cond("10.0.0.3"), (Some(false), Some(true), Some(true)));
        assert_eq!(sl.ports.as_ref().unwrap()[0].port, Some(8080));
    }

    #[test]
    fn at_most_100_endpoints_per_slice_and_placeholder() {
        let s = svc();
        let pods: Vec<Pod> = (0..250).map(|i| pod(i, true)).collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let slices = desired_slices(&s, &refs, MAX_ENDPOINTS_PER_SLICE);
        let sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let empty = desired_slices(&s, &[], MAX_ENDPOINTS_PER_SLICE);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].endpoints.is_empty());
    }
}
