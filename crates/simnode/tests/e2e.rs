//! End to end: a real `rkube server`, three simulated nodes in-process, pods bound to them.

use std::future::Future;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use rkube_simnode::{SimConfig, start};
use tokio_util::sync::CancellationToken;

/// The `rkube` binary: `$RKUBE_BIN` or `target/{debug,release}/rkube`.
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

/// A running server, killed by PID when dropped.
struct Server {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            #[allow(unsafe_code)]
            // SAFETY: kill(2) on the PID of a child we spawned.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
        .spawn()
        .context("start rkube server")?;
    let server = Server { child, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = Command::new("curl")
            .args(["-sk", "--max-time", "1"])
            .arg(format!("https://127.0.0.1:{port}/readyz"))
            .output()
            .map(|o| o.stdout == b"ok")
            .unwrap_or(false);
        if ok && server.dir.path().join("kubeconfig.yaml").exists() {
            return Ok(server);
        }
        if Instant::now() > deadline {
            bail!(
                "server not ready; log:\n{}",
                std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn client(server: &Server) -> Result<kube::Client> {
    let kc = Kubeconfig::read_from(server.dir.path().join("kubeconfig.yaml"))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Polls `f` until it returns `Some`, for at most 20 s.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last_err = None;
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what} (last error: {last_err:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pod(name: &str, node: &str, extra: serde_json::Value) -> Result<Pod> {
    let mut v = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]},
    });
    if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
        for (k, val) in extra {
            spec.insert(k.clone(), val.clone());
        }
    }
    Ok(serde_json::from_value(v)?)
}

fn condition(p: &Pod, ty: &str) -> Option<String> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == ty)
        .map(|c| c.status.clone())
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

async fn renew_time(leases: &Api<Lease>, node: &str) -> Result<String> {
    let l = leases.get(node).await?;
    let t = l.spec.and_then(|s| s.renew_time).context("no renewTime")?;
    Ok(format!("{:?}", t.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_nodes_run_pods() -> Result<()> {
    let server = start_server()?;
    let client = client(&server).await?;
    let stop = CancellationToken::new();
    let config = SimConfig {
        count: 3,
        name_prefix: "e2e-".into(),
        renew_interval: Duration::from_millis(500),
        status_interval: Duration::from_secs(1),
        lease_duration_seconds: 5,
        termination_delay: Duration::from_millis(200),
        ..SimConfig::default()
    };
    let (handle, sim) = start(client.clone(), config, stop.clone()).await?;
    assert_eq!(handle.node_names(), ["e2e-0000", "e2e-0001", "e2e-0002"]);

    // Nodes are registered Ready with capacity and a pod CIDR.
    let nodes: Api<Node> = Api::all(client.clone());
    let mut cidrs = Vec::new();
    for name in handle.node_names() {
        let n = nodes.get(&name).await?;
        let status = n.status.clone().context("node status")?;
        let ready = status.conditions.unwrap_or_default();
        let ready = ready.iter().find(|c| c.type_ == "Ready").context("Ready")?;
        assert_eq!(ready.status, "True");
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert_eq!(status.capacity.context("capacity")?["pods"].0, "110");
        let labels = n.metadata.labels.unwrap_or_default();
        assert_eq!(labels["kubernetes.io/hostname"], name);
        assert_eq!(labels["type"], "simulated");
        cidrs.push(n.spec.and_then(|s| s.pod_cidr).context("podCIDR")?);
    }

    // Leases exist and are renewed.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let first = renew_time(&leases, "e2e-0001").await?;
    let l = leases.get("e2e-0001").await?;
    assert_eq!(
        l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()),
        Some("e2e-0001")
    );
    eventually("lease renewal", || async {
        Ok((renew_time(&leases, "e2e-0001").await? != first).then_some(()))
    })
    .await?;

    // A long-running pod goes Running and Ready with an IP from its node's CIDR.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod("web", "e2e-0001", serde_json::json!({}))?,
    )
    .await?;
    let web = eventually("web Running and Ready", || async {
        let p = pods.get("web").await?;
        Ok(
            (phase(&p) == "Running" && condition(&p, "Ready").as_deref() == Some("True"))
                .then_some(p),
        )
    })
    .await?;
    let status = web.status.context("status")?;
    let ip: Ipv4Addr = status.pod_ip.context("podIP")?.parse()?;
    let net: Ipv4Addr = cidrs[1].trim_end_matches("/24").parse()?;
    assert_eq!(ip.octets()[..3], net.octets()[..3], "{ip} in {}", cidrs[1]);
    assert_eq!(status.host_ip.as_deref(), Some("10.254.0.2"));
    let cs = &status.container_statuses.context("containerStatuses")?[0];
    assert!(cs.ready && cs.started == Some(true));
    assert!(cs.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
    assert_eq!(
        condition(&pods.get("web").await?, "PodScheduled").as_deref(),
        Some("True")
    );

    // Finite commands finish: echo succeeds, exit 3 fails.
    let never = serde_json::json!({"restartPolicy": "Never",
        "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi"]}]});
    pods.create(&PostParams::default(), &pod("hello", "e2e-0002", never)?)
        .await?;
    let fail = serde_json::json!({"restartPolicy": "Never",
        "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]});
    pods.create(&PostParams::default(), &pod("oops", "e2e-0002", fail)?)
        .await?;
    let hello = eventually("hello Succeeded", || async {
        let p = pods.get("hello").await?;
        Ok((phase(&p) == "Succeeded").then_some(p))
    })
    .await?;
    let state = hello
        .status
        .and_then(|s| s.container_statuses)
        .context("statuses")?[0]
        .state
        .clone()
        .context("state")?;
    assert!(
        state.running.is_none(),
        "running state left behind: {state:?}"
    );
    let term = state.terminated.context("terminated")?;
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );
    let oops = eventually("oops Failed", || async {
        let p = pods.get("oops").await?;
        Ok((phase(&p) == "Failed").then_some(p))
    })
    .await?;
    let term = oops
        .status
        .and_then(|s| s.container_statuses)
        .context("statuses")?[0]
        .state
        .clone()
        .and_then(|s| s.terminated)
        .context("terminated")?;
    assert_eq!(term.exit_code, 3);

    // Readiness gates hold Ready back until their condition is True.
    let gated = serde_json::json!({"readinessGates": [{"conditionType": "example.com/lb"}]});
    pods.create(&PostParams::default(), &pod("gated", "e2e-0000", gated)?)
        .await?;
    eventually("gated Running, ContainersReady but not Ready", || async {
        let p = pods.get("gated").await?;
        Ok((phase(&p) == "Running"
            && condition(&p, "ContainersReady").as_deref() == Some("True")
            && condition(&p, "Ready").as_deref() == Some("False"))
        .then_some(()))
    })
    .await?;
    let gate = serde_json::json!({"status": {"conditions": [{"type": "example.com/lb", "status": "True"}]}});
    pods.patch_status("gated", &PatchParams::default(), &Patch::Strategic(&gate))
        .await?;
    eventually("gated Ready", || async {
        let p = pods.get("gated").await?;
        Ok((condition(&p, "Ready").as_deref() == Some("True")).then_some(()))
    })
    .await?;

    // Deleting a pod (with the default grace period) removes it.
    pods.delete("web", &DeleteParams::default()).await?;
    eventually("web gone", || async {
        Ok(pods.get_opt("web").await?.is_none().then_some(()))
    })
    .await?;

    // A silenced node stops renewing its lease while the others go on.
    assert!(handle.silence("e2e-0000"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let frozen = renew_time(&leases, "e2e-0000").await?;
    let other = renew_time(&leases, "e2e-0002").await?;
    eventually("other leases renewed", || async {
        Ok((renew_time(&leases, "e2e-0002").await? != other).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        renew_time(&leases, "e2e-0000").await?,
        frozen,
        "silenced lease renewed"
    );
    assert!(handle.resume("e2e-0000"));
    eventually("resumed lease renewed", || async {
        Ok((renew_time(&leases, "e2e-0000").await? != frozen).then_some(()))
    })
    .await?;

    stop.cancel();
    sim.wait().await?;
    drop(server);
    Ok(())
}
