//! End-to-end: Endpoints, EndpointSlice and DaemonSet controllers in-process against a real
//! `rkube server` with no nodes; the test creates Node objects and patches pod status itself.

use crate::support::{Env, make_ns, wait_for};

use anyhow::Result;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use rkube_controllers::ControllersConfig;
use rkube_controllers::daemonset::pod_node;
use serde_json::json;

async fn start() -> Result<Env> {
    let env = Env::start(ControllersConfig::default()).await?;
    Ok(env)
}

async fn set_pod_status(api: &Api<Pod>, name: &str, ip: &str, ready: bool) -> Result<()> {
    let status = if ready { "True" } else { "False" };
    let patch = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": status}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

fn ips(addrs: Option<&Vec<k8s_openapi::api::core::v1::EndpointAddress>>) -> Vec<String> {
    let mut v: Vec<String> = addrs.into_iter().flatten().map(|a| a.ip.clone()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_and_slices_follow_pod_readiness() -> Result<()> {
    let env = start().await?;
    let client = env.client.clone();
    make_ns(&client, "ep").await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "ep");
    for name in ["web-a", "web-b", "web-c"] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                "ports": [{"name": "http", "containerPort": 8080}]}]}
        }))?;
        pods.create(&PostParams::default(), &pod).await?;
    }
    set_pod_status(&pods, "web-a", "10.42.0.10", true).await?;
    set_pod_status(&pods, "web-b", "10.42.0.11", false).await?;
    // web-c has no IP and stays out.
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    }))?;
    Api::<Service>::namespaced(client.clone(), "ep")
        .create(&PostParams::default(), &svc)
        .await?;

    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "ep");
    let ep = wait_for("endpoints with ready and not-ready addresses", || {
        let eps = eps.clone();
        async move {
            let Some(ep) = eps.get_opt("web").await? else {
                return Ok(None);
            };
            let Some(s) = ep.subsets.as_ref().and_then(|s| s.first()) else {
                return Ok(None);
            };
            let done = ips(s.addresses.as_ref()) == ["10.42.0.10"]
                && ips(s.not_ready_addresses.as_ref()) == ["10.42.0.11"];
            Ok(done.then_some(ep))
        }
    })
    .await?;
    assert_eq!(ep.labels().get("tier").map(String::as_str), Some("front"));
    let subset = &ep.subsets.as_ref().unwrap()[0];
    let port = &subset.ports.as_ref().unwrap()[0];
    assert_eq!(port.port, 8080);
    assert_eq!(port.name.as_deref(), Some("http"));

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "ep");
    let slice = wait_for("endpointslice mirroring the pods", || {
        let slices = slices.clone();
        async move {
            let list = slices
                .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
                .await?;
            let Some(s) = list.items.into_iter().next() else {
                return Ok(None);
            };
            Ok((s.endpoints.len() == 2).then_some(s))
        }
    })
    .await?;
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(
        slice
            .labels()
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    assert!(slice.name_any().starts_with("web-"));
    let owner = &slice.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Service", "web")
    );
    let ready_of = |ip: &str| {
        slice
            .endpoints
            .iter()
            .find(|e| e.addresses == [ip])
            .and_then(|e| e.conditions.as_ref())
            .and_then(|c| c.ready)
    };
    assert_eq!(ready_of("10.42.0.10"), Some(true));
    assert_eq!(ready_of("10.42.0.11"), Some(false));
    assert_eq!(slice.ports.as_ref().unwrap()[0].port, Some(8080));

    // web-b turns ready: it moves to `addresses`.
    set_pod_status(&pods, "web-b", "10.42.0.11", true).await?;
    wait_for("web-b ready in endpoints", || {
        let eps = eps.clone();
        async move {
            let ep = eps.get("web").await?;
            let s = ep.subsets.unwrap_or_default();
            Ok(s.first()
                .is_some_and(|s| {
                    ips(s.addresses.as_ref()) == ["10.42.0.10", "10.42.0.11"]
                        && s.not_ready_addresses.is_none()
                })
                .then_some(()))
        }
    })
    .await?;
    Ok(())
}

fn node(name: &str, taint: Option<&str>) -> Result<Node> {
    let taints = taint
        .map(|k| json!([{"key": k, "value": "x", "effect": "NoSchedule"}]))
        .unwrap_or(json!(null));
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": taints}
    }))?)
}

async fn ds_nodes(pods: &Api<Pod>) -> Result<Vec<String>> {
    let mut v: Vec<String> = pods
        .list(&ListParams::default().labels("app=agent"))
        .await?
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(pod_node)
        .collect();
    v.sort();
    Ok(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_runs_one_pod_per_fitting_node() -> Result<()> {
    let env = start().await?;
    let client = env.client.clone();
    make_ns(&client, "ds").await?;
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(&PostParams::default(), &node("n1", None)?)
        .await?;
    nodes
        .create(&PostParams::default(), &node("n2", None)?)
        .await?;
    nodes
        .create(&PostParams::default(), &node("tainted", Some("dedicated"))?)
        .await?;
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    }))?;
    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), "ds");
    dss.create(&PostParams::default(), &ds).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "ds");
    wait_for("a daemon pod on n1 and n2", || {
        let pods = pods.clone();
        async move { Ok((ds_nodes(&pods).await? == ["n1", "n2"]).then_some(())) }
    })
    .await?;
    let list = pods
        .list(&ListParams::default().labels("app=agent"))
        .await?;
    for p in &list.items {
        assert!(p.labels().contains_key("controller-revision-hash"));
        let tolerations = p
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.clone())
            .unwrap_or_default();
        assert!(
            tolerations
                .iter()
                .any(|t| t.key.as_deref() == Some("node.kubernetes.io/unschedulable"))
        );
    }

    nodes
        .create(&PostParams::default(), &node("n3", None)?)
        .await?;
    wait_for("a daemon pod on the new node", || {
        let pods = pods.clone();
        async move { Ok((ds_nodes(&pods).await? == ["n1", "n2", "n3"]).then_some(())) }
    })
    .await?;
    wait_for("status desiredNumberScheduled 3", || {
        let dss = dss.clone();
        async move {
            let d = dss.get("agent").await?;
            Ok(d.status
                .filter(|s| s.desired_number_scheduled == 3 && s.observed_generation.is_some())
                .map(|_| ()))
        }
    })
    .await?;
    // Still none on the tainted node.
    assert!(!ds_nodes(&pods).await?.contains(&"tainted".to_owned()));
    Ok(())
}
