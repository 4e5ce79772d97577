//! End-to-end: node IPAM, node lifecycle (lease staleness, unreachable taints, taint
//! eviction) and PodGC against a real `rkube server` with the controllers in-process.

use crate::support::{Env, make_ns, wait_for};

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use parking_lot::Mutex;
use rkube_controllers::ControllersConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

async fn start() -> Result<Env> {
    let env = Env::start(ControllersConfig {
        node_monitor_grace_period: Duration::from_secs(3),
        ..ControllersConfig::default()
    })
    .await?;
    Ok(env)
}

/// Nodes whose lease and Ready heartbeat the fake kubelets renew.
type Alive = Arc<Mutex<BTreeSet<String>>>;

/// Renews the lease and posts Ready=True for every node in `alive`, once a second.
async fn fake_kubelets(client: Client, alive: Alive, stop: CancellationToken) {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    while !stop.is_cancelled() {
        let names: Vec<String> = alive.lock().iter().cloned().collect();
        for n in names {
            let now = k8s_openapi::jiff::Timestamp::now();
            let lease = json!({"spec": {"renewTime": MicroTime(now)}});
            let _ = leases
                .patch(&n, &PatchParams::default(), &Patch::Merge(&lease))
                .await;
            let status = json!({"status": {"conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": now.round(k8s_openapi::jiff::Unit::Second).ok(),
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }]}});
            if let Err(e) = nodes
                .patch_status(&n, &PatchParams::default(), &Patch::Merge(&status))
                .await
            {
                eprintln!("fake kubelet: posting status of {n}: {e}");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn add_node(client: &Client, alive: &Alive, name: &str) -> Result<()> {
    let node: Node = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await?;
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                 "renewTime": MicroTime(k8s_openapi::jiff::Timestamp::now())},
    }))?;
    Api::<Lease>::namespaced(client.clone(), "kube-node-lease")
        .create(&PostParams::default(), &lease)
        .await?;
    alive.lock().insert(name.to_owned());
    Ok(())
}

async fn make_pod(
    client: &Client,
    ns: &str,
    name: &str,
    node: &str,
    tol: Option<i64>,
) -> Result<()> {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}],
                 "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": tol}]},
    }))?;
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &pod).await?;
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

fn ready(node: &Node) -> Option<(String, String, String)> {
    let c = node
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

fn has_taint(node: &Node, key: &str, effect: &str) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == key && t.effect == effect))
}

fn gone_or_deleting(p: Option<Pod>) -> bool {
    p.is_none_or(|p| p.metadata.deletion_timestamp.is_some())
}

const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ipam_lifecycle_and_taint_eviction() -> Result<()> {
    let env = start().await?;
    let client = env.client.clone();
    let alive: Alive = Arc::default();
    tokio::spawn(fake_kubelets(
        client.clone(),
        alive.clone(),
        env.stop.clone(),
    ));
    make_ns(&client, "kube-node-lease").await?;
    make_ns(&client, "nl").await?;
    add_node(&client, &alive, "n1").await?;
    add_node(&client, &alive, "n2").await?;
    let nodes: Api<Node> = Api::all(client.clone());

    // Node IPAM: a distinct 10.42.x.0/24 per node.
    let mut cidrs = BTreeSet::new();
    for n in ["n1", "n2"] {
        let cidr = wait_for("podCIDR", || async {
            let node = nodes.get(n).await?;
            Ok(node.spec.and_then(|s| s.pod_cidr))
        })
        .await?;
        assert!(
            cidr.starts_with("10.42.") && cidr.ends_with(".0/24"),
            "{cidr}"
        );
        let node = nodes.get(n).await?;
        assert_eq!(
            node.spec.and_then(|s| s.pod_cidrs),
            Some(vec![cidr.clone()])
        );
        cidrs.insert(cidr);
    }
    assert_eq!(cidrs.len(), 2, "pod CIDRs must be distinct: {cidrs:?}");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "nl");
    make_pod(&client, "nl", "short", "n1", Some(2)).await?;
    make_pod(&client, "nl", "long", "n1", Some(3600)).await?;
    make_pod(&client, "nl", "other", "n2", None).await?;

    for n in ["n1", "n2"] {
        wait_for("node Ready", || async {
            Ok(ready(&nodes.get(n).await?).filter(|r| r.0 == "True"))
        })
        .await?;
    }
    // n1 goes silent: Ready=Unknown, unreachable taints, its pods not ready.
    alive.lock().remove("n1");
    let (_, reason, message) = wait_for("n1 Ready=Unknown", || async {
        Ok(ready(&nodes.get("n1").await?).filter(|r| r.0 == "Unknown"))
    })
    .await?;
    assert_eq!(reason, "NodeStatusUnknown");
    assert_eq!(message, "Kubelet stopped posting node status.");
    wait_for("unreachable taints", || async {
        let n = nodes.get("n1").await?;
        Ok(
            (has_taint(&n, UNREACHABLE, "NoExecute") && has_taint(&n, UNREACHABLE, "NoSchedule"))
                .then_some(()),
        )
    })
    .await?;
    let n1 = nodes.get("n1").await?;
    for t in n1.spec.and_then(|s| s.taints).unwrap_or_default() {
        if t.key == UNREACHABLE {
            assert!(t.time_added.is_some(), "taint without timeAdded: {t:?}");
        }
    }
    for c in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        let n = nodes.get("n1").await?;
        let cond = n
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|x| x.type_ == c)
            .context("condition missing")?;
        assert_eq!(cond.status, "Unknown", "{c}");
    }
    // n2 keeps renewing and stays untainted.
    let n2 = nodes.get("n2").await?;
    assert_eq!(ready(&n2).map(|r| r.0).as_deref(), Some("True"));
    assert!(!has_taint(&n2, UNREACHABLE, "NoExecute"));

    // Taint eviction: the 2 s toleration runs out; the 3600 s one does not.
    wait_for("short pod evicted", || async {
        Ok(gone_or_deleting(pods.get_opt("short").await?).then_some(()))
    })
    .await?;
    let long = pods.get("long").await?;
    assert!(
        long.metadata.deletion_timestamp.is_none(),
        "long pod evicted"
    );
    let other = pods.get("other").await?;
    assert!(
        other.metadata.deletion_timestamp.is_none(),
        "pod on n2 evicted"
    );
    wait_for("long pod not ready", || async {
        let p = pods.get("long").await?;
        let not_ready = p
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "False");
        Ok(not_ready.then_some(()))
    })
    .await?;
    wait_for("TaintManagerEviction event", || async {
        let events = Api::<Event>::namespaced(client.clone(), "nl")
            .list(&ListParams::default())
            .await?;
        Ok(events
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("TaintManagerEviction")
                    && e.message.as_deref() == Some("Marking for deletion Pod nl/short")
            })
            .then_some(()))
    })
    .await?;

    // n1 comes back: Ready=True, taints gone.
    alive.lock().insert("n1".to_owned());
    wait_for("n1 Ready and untainted", || async {
        let n = nodes.get("n1").await?;
        let ok = ready(&n).is_some_and(|r| r.0 == "True")
            && !has_taint(&n, UNREACHABLE, "NoExecute")
            && !has_taint(&n, UNREACHABLE, "NoSchedule");
        Ok(ok.then_some(()))
    })
    .await?;
    assert!(
        pods.get("long")
            .await?
            .metadata
            .deletion_timestamp
            .is_none()
    );
    drop(env);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podgc_deletes_pods_of_missing_nodes() -> Result<()> {
    let env = start().await?;
    let client = env.client.clone();
    let alive: Alive = Arc::default();
    tokio::spawn(fake_kubelets(
        client.clone(),
        alive.clone(),
        env.stop.clone(),
    ));
    make_ns(&client, "kube-node-lease").await?;
    make_ns(&client, "gc").await?;
    add_node(&client, &alive, "g1").await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "gc");
    make_pod(&client, "gc", "orphan", "ghost", None).await?;
    make_pod(&client, "gc", "kept", "g1", None).await?;

    wait_for("orphan deleted", || async {
        Ok(pods.get_opt("orphan").await?.is_none().then_some(()))
    })
    .await?;
    let kept = pods.get("kept").await?;
    assert!(
        kept.metadata.deletion_timestamp.is_none(),
        "pod on live node deleted"
    );

    // Deleting the node orphans its pod too.
    alive.lock().remove("g1");
    Api::<Node>::all(client.clone())
        .delete("g1", &DeleteParams::default())
        .await?;
    wait_for("pod of deleted node deleted", || async {
        Ok(pods.get_opt("kept").await?.is_none().then_some(()))
    })
    .await?;
    drop(env);
    Ok(())
}
