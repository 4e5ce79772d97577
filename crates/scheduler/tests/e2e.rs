//! End-to-end: a real `rkube server`, nodes made through the API, the scheduler run in-process.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use rkube_scheduler::{SchedulerConfig, run};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A running server, killed by PID on drop.
struct Server {
    child: Child,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rkube_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RKUBE_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    for profile in ["debug", "release"] {
        let p = target.join(profile).join("rkube");
        if p.exists() {
            return p;
        }
    }
    panic!("rkube binary not found: run `cargo build -p rkube` first or set RKUBE_BIN");
}

fn start_server() -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    let child = Command::new(rkube_bin())
        .arg("server")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--bind-address", "127.0.0.1", "--https-listen-port"])
        .arg(port.to_string())
        .arg("--disable-agent")
        .arg("--disable-scheduler")
        .arg("--disable-controller-manager")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let server = Server {
        child,
        kubeconfig: dir.path().join("kubeconfig.yaml"),
        _dir: dir,
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let ok = Command::new("curl")
            .args(["-sk", "--max-time", "1"])
            .arg(format!("https://127.0.0.1:{port}/readyz"))
            .output()
            .map(|o| o.stdout == b"ok")
            .unwrap_or(false);
        if ok && server.kubeconfig.exists() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("server not ready")
}

async fn client(server: &Server) -> Result<Client> {
    let kc = Kubeconfig::read_from(&server.kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

async fn make_node(
    client: &Client,
    name: &str,
    cpu: &str,
    labels: serde_json::Value,
) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
    }))?;
    nodes.create(&PostParams::default(), &node).await?;
    let status = json!({"status": {
        "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]
    }});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

fn pod(name: &str, cpu: &str, extra: serde_json::Value) -> Result<Pod> {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "e2e"}},
        "spec": {"containers": [{"name": "c", "image": "nginx",
                  "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}
    });
    if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            spec.insert(k.clone(), x.clone());
        }
    }
    Ok(serde_json::from_value(v)?)
}

async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if start.elapsed() > within {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_binds_and_reports() -> Result<()> {
    let server = start_server()?;
    let client = client(&server).await?;
    make_node(&client, "n1", "2", json!({"disk": "hdd"})).await?;
    make_node(&client, "n2", "2", json!({"disk": "hdd"})).await?;
    make_node(&client, "n3", "1", json!({"disk": "ssd"})).await?;

    let stop = CancellationToken::new();
    let sched = tokio::spawn(run(
        client.clone(),
        SchedulerConfig::default(),
        stop.clone(),
    ));

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..12 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("p{i}"), "100m", json!({}))?,
        )
        .await?;
    }
    pods.create(
        &PostParams::default(),
        &pod("ssd", "100m", json!({"nodeSelector": {"disk": "ssd"}}))?,
    )
    .await?;
    pods.create(
        &PostParams::default(),
        &pod("other", "100m", json!({"schedulerName": "someone-else"}))?,
    )
    .await?;
    pods.create(
        &PostParams::default(),
        &pod("huge", "1500m", json!({"nodeSelector": {"disk": "ssd"}}))?,
    )
    .await?;

    let all = wait_for("13 pods bound", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await?;
            let bound = list.items.iter().filter(|p| node_of(p).is_some()).count();
            Ok((bound >= 13).then_some(list.items))
        }
    })
    .await?;
    let find = |n: &str| all.iter().find(|p| p.metadata.name.as_deref() == Some(n));
    assert_eq!(find("ssd").and_then(node_of), Some("n3"));
    assert_eq!(find("other").and_then(node_of), None);
    let used: std::collections::BTreeSet<_> = all.iter().filter_map(node_of).collect();
    assert!(used.len() >= 2, "pods spread over nodes: {used:?}");
    let scheduled = find("p0")
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.conditions.as_ref());
    assert!(
        scheduled.is_some_and(|cs| cs
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True")),
        "binding sets PodScheduled"
    );

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let (ok_msg, fail_msg) = wait_for("events", Duration::from_secs(30), || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await?;
            let msg = |name: &str, reason: &str| {
                list.items
                    .iter()
                    .find(|e| {
                        e.involved_object.name.as_deref() == Some(name)
                            && e.reason.as_deref() == Some(reason)
                    })
                    .and_then(|e| e.message.clone())
            };
            Ok(msg("p0", "Scheduled").zip(msg("huge", "FailedScheduling")))
        }
    })
    .await?;
    let p0_node = find("p0").and_then(node_of).context("p0 bound")?;
    assert_eq!(
        ok_msg,
        format!("Successfully assigned default/p0 to {p0_node}")
    );
    assert_eq!(
        fail_msg,
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, \
         2 Preemption is not helpful for scheduling."
    );
    let ev = events.list(&ListParams::default()).await?;
    let e = ev
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("Scheduled"))
        .context("scheduled event")?;
    assert_eq!(e.reporting_component.as_deref(), Some("default-scheduler"));
    assert_eq!(
        e.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("default-scheduler")
    );

    let cond = wait_for("Unschedulable condition", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let p = pods.get("huge").await?;
            Ok(p.status
                .and_then(|s| s.conditions)
                .and_then(|cs| cs.into_iter().find(|c| c.type_ == "PodScheduled")))
        }
    })
    .await?;
    assert_eq!(cond.status, "False");
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));

    // Freeing room (deleting the ssd pod, growing n3) makes the pending pod schedulable.
    make_node(&client, "n4", "4", json!({"disk": "ssd"})).await?;
    let node = wait_for(
        "huge bound after node added",
        Duration::from_secs(30),
        || {
            let pods = pods.clone();
            async move { Ok(pods.get("huge").await?.spec.and_then(|s| s.node_name)) }
        },
    )
    .await?;
    assert_eq!(node, "n4");

    stop.cancel();
    sched.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_pods_spread_by_default() -> Result<()> {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    let server = start_server()?;
    let client = client(&server).await?;
    // Simulated-node sized: one default 100m/200Mi request does not move LeastAllocated.
    for n in ["big-a", "big-b"] {
        make_node(&client, n, "32", json!({"kubernetes.io/hostname": n})).await?;
        let status = json!({"status": {
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"}}});
        Api::<Node>::all(client.clone())
            .patch_status(n, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
    }
    // No controllers run here: the ReplicaSet only lends its selector.
    let rs: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-h"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "h"}},
                 "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "h"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))?;
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &rs)
        .await?;
    let uid = rs.metadata.uid.context("rs uid")?;

    let stop = CancellationToken::new();
    let sched = tokio::spawn(run(
        client.clone(),
        SchedulerConfig::default(),
        stop.clone(),
    ));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["web-h-1", "web-h-2"] {
        let p: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "web", "pod-template-hash": "h"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-h",
                                     "uid": uid, "controller": true}]},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))?;
        pods.create(&PostParams::default(), &p).await?;
    }
    let nodes = wait_for("both replicas bound", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await?;
            let nodes: Vec<String> = list
                .items
                .iter()
                .filter_map(|p| node_of(p).map(str::to_string))
                .collect();
            Ok((nodes.len() == 2).then_some(nodes))
        }
    })
    .await?;
    assert_ne!(nodes[0], nodes[1], "one replica per node: {nodes:?}");
    stop.cancel();
    sched.await??;
    Ok(())
}

/// Rough throughput figure: `cargo test -p rkube-scheduler --test e2e -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints a throughput figure; run by hand"]
async fn throughput() -> Result<()> {
    let n_nodes: usize = std::env::var("NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let n_pods: usize = std::env::var("PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let server = start_server()?;
    let client = client(&server).await?;
    for i in 0..n_nodes {
        make_node(&client, &format!("node-{i}"), "32", json!({})).await?;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let pods = pods.clone();
        set.spawn(async move {
            for i in (chunk..n_pods).step_by(8) {
                pods.create(
                    &PostParams::default(),
                    &pod(&format!("t{i}"), "10m", json!({}))?,
                )
                .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    println!("created {n_pods} pods in {:?}", created.elapsed());
    let stop = CancellationToken::new();
    let start = Instant::now();
    let sched = tokio::spawn(run(
        client.clone(),
        SchedulerConfig::default(),
        stop.clone(),
    ));
    wait_for("all bound", Duration::from_secs(600), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await?;
            let bound = list.items.iter().filter(|p| node_of(p).is_some()).count();
            Ok((bound >= n_pods).then_some(()))
        }
    })
    .await?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "bound {n_pods} pods on {n_nodes} nodes in {secs:.2}s: {:.0} pods/s",
        n_pods as f64 / secs
    );
    stop.cancel();
    sched.await??;
    Ok(())
}
