//! One real node for end-to-end tests: `rkube server --disable-agent` plus a
//! real `rkube agent` on the machine's containerd, with kubectl and CRI helpers.
//!
//! Every test registers its own node (`e2e-<test>-<pid>`); the agent labels
//! what it makes in the runtime with the node's name, so a test cleans up only
//! its own sandboxes, even beside other tests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rkube_cri::{CriClient, proto};
use serde_json::Value;

use crate::cluster::{Cluster, NodeAgent, send_signal};
use crate::kubectl_scenario::manifests_dir;

/// The label the agent puts on every sandbox and container it makes.
pub const NODE_LABEL: &str = "io.rkube.node-name";
/// The label with the pod's UID on every sandbox and container.
pub const UID_LABEL: &str = "io.kubernetes.pod.uid";
/// The longest one command run by [`run_limited`] may take.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// The CRI socket path: `$RKUBE_CONTAINERD_SOCKET` or containerd's default.
fn cri_socket() -> String {
    std::env::var("RKUBE_CONTAINERD_SOCKET")
        .unwrap_or_else(|_| "/run/containerd/containerd.sock".into())
        .trim_start_matches("unix://")
        .to_string()
}

/// A file of the shared manifests beside the repository.
pub fn manifest(name: &str) -> PathBuf {
    manifests_dir().join(name)
}

/// One node on the real runtime, joined to its own server.
pub struct RealNode {
    // Dropped in this order after `Drop::drop`: the agent, then the server.
    pub agent: NodeAgent,
    pub cluster: Cluster,
    cri: CriClient,
    rt: tokio::runtime::Runtime,
}

impl RealNode {
    /// The node, or `None` (after saying why) when no runtime answers.
    pub fn start(test: &str) -> Option<RealNode> {
        Self::start_with(test, &[])
    }

    /// As [`RealNode::start`], with extra `rkube agent` flags.
    pub fn start_with(test: &str, agent_args: &[&str]) -> Option<RealNode> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let path = cri_socket();
        if !Path::new(&path).exists() {
            eprintln!(
                "skipped: no CRI socket at {path} (start containerd with scripts/node-services.sh start)"
            );
            return None;
        }
        let cri = match rt.block_on(CriClient::connect(&format!("unix://{path}"))) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipped: nothing answers on {path}: {e}");
                return None;
            }
        };
        if let Err(e) = rt.block_on(cri.version()) {
            eprintln!("skipped: the runtime at {path} does not answer: {e}");
            return None;
        }
        // The agent probes and hooks reach pods from this namespace too.
        install_unreachable_routes();
        let cluster = Cluster::start();
        let name = format!("e2e-{test}-{}", std::process::id());
        let agent = cluster.start_node_agent(&name, agent_args);
        let node = RealNode {
            agent,
            cluster,
            cri,
            rt,
        };
        node.wait_ready();
        Some(node)
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.agent.node_name
    }

    fn wait_ready(&self) {
        let name = self.name().to_string();
        self.wait_for("the node to be Ready with a pod CIDR", 60, || {
            let out = self.cluster.kubectl(&[
                "get",
                "node",
                &name,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.spec.podCIDR}",
            ]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let mut f = text.split_whitespace();
            (f.next() == Some("True") && f.next().is_some()).then_some(())
        });
    }

    /// Runs kubectl; on failure panics with its output and the agent's and server's logs.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cluster.kubectl(args);
        self.expect_success(&[], args, out)
    }

    /// kubectl with extra environment and optional stdin, killed after [`COMMAND_LIMIT`].
    pub fn kubectl_env(&self, env: &[(&str, &str)], args: &[&str], stdin: Option<&[u8]>) -> Output {
        run_limited(self.command(env, args), stdin)
    }

    /// As [`RealNode::kubectl_env`], and it must succeed (as [`RealNode::ok`]); its stdout.
    pub fn ok_env(&self, env: &[(&str, &str)], args: &[&str], stdin: Option<&[u8]>) -> String {
        let out = self.kubectl_env(env, args, stdin);
        self.expect_success(env, args, out)
    }

    /// A kubectl command for this node's cluster with extra environment, not started.
    pub fn command(&self, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.cluster.kubeconfig).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    fn expect_success(&self, env: &[(&str, &str)], args: &[&str], out: Output) -> String {
        let env = if env.is_empty() {
            String::new()
        } else {
            format!(" ({env:?})")
        };
        assert!(
            out.status.success(),
            "kubectl {}{env} failed ({}):\nstdout: {}\nstderr: {}\nagent log:\n{}\nserver log:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.agent.log_text(),
            self.cluster.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls `f` every 200 ms until it gives a value, for at most `secs`; on
    /// timeout panics with the pods and the agent's log.
    pub fn wait_for<T>(&self, what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() > deadline {
                let pods = self.cluster.kubectl(&["get", "pods", "-A", "-o", "wide"]);
                panic!(
                    "timed out after {secs} s waiting for {what}\npods:\n{}\nagent log:\n{}",
                    String::from_utf8_lossy(&pods.stdout),
                    self.agent.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The pod as JSON, or `None` when it does not exist.
    pub fn pod(&self, name: &str) -> Option<Value> {
        let out = self.cluster.kubectl(&["get", "pod", name, "-o", "json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Waits until `pod`'s phase is `phase`; returns the pod.
    pub fn wait_phase(&self, pod: &str, phase: &str, secs: u64) -> Value {
        self.wait_for(&format!("pod {pod} to be {phase}"), secs, || {
            self.pod(pod).filter(|p| p["status"]["phase"] == phase)
        })
    }

    /// `kubectl get pod NAME --no-headers` split into columns.
    pub fn row(&self, pod: &str) -> Vec<String> {
        self.ok(&["get", "pod", pod, "--no-headers"])
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The runtime's sandboxes with all of `labels`.
    pub fn sandboxes(&self, labels: &[(&str, &str)]) -> Vec<proto::PodSandbox> {
        self.list_sandboxes(labels).expect("ListPodSandbox")
    }

    fn list_sandboxes(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<proto::PodSandbox>, rkube_cri::Error> {
        let filter = proto::PodSandboxFilter {
            label_selector: label_selector(labels),
            ..Default::default()
        };
        self.rt.block_on(self.cri.list_pod_sandboxes(Some(filter)))
    }

    /// The runtime's containers with all of `labels`.
    pub fn containers(&self, labels: &[(&str, &str)]) -> Vec<proto::Container> {
        let filter = proto::ContainerFilter {
            label_selector: label_selector(labels),
            ..Default::default()
        };
        self.rt
            .block_on(self.cri.list_containers(Some(filter)))
            .expect("ListContainers")
    }

    /// Everything of the pod with `uid` the runtime still holds.
    pub fn runtime_objects(&self, uid: &str) -> usize {
        let labels = [(NODE_LABEL, self.name()), (UID_LABEL, uid)];
        self.sandboxes(&labels).len() + self.containers(&labels).len()
    }

    /// The node's pod CIDR as (network, prefix length).
    pub fn pod_cidr(&self) -> (Ipv4Addr, u32) {
        let cidr = self.ok(&["get", "node", self.name(), "-o", "jsonpath={.spec.podCIDR}"]);
        let (net, len) = cidr.trim().split_once('/').expect("CIDR");
        (net.parse().expect("network"), len.parse().expect("prefix"))
    }

    /// The agent's CRI log of container `container` (instance `n`) of `pod`.
    pub fn container_log(&self, pod: &Value, container: &str, n: u32) -> String {
        let m = &pod["metadata"];
        let dir = format!(
            "{}_{}_{}",
            m["namespace"].as_str().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default(),
            m["uid"].as_str().unwrap_or_default()
        );
        let path = self
            .agent
            .data_dir
            .join("agent/logs")
            .join(dir)
            .join(container)
            .join(format!("{n}.log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The events about pod `name`.
    pub fn events(&self, name: &str) -> Vec<Value> {
        let mut v: Value =
            serde_json::from_str(&self.ok(&["get", "events", "-o", "json"])).expect("events");
        match v["items"].take() {
            Value::Array(items) => items
                .into_iter()
                .filter(|e| e["involvedObject"]["name"] == name)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The reasons of the events about pod `name`.
    pub fn event_reasons(&self, name: &str) -> Vec<String> {
        self.events(name)
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect()
    }

    /// "REASON MESSAGE" of each event about pod `name`.
    pub fn event_messages(&self, name: &str) -> Vec<String> {
        self.events(name)
            .iter()
            .map(|e| format!("{} {}", str_at(e, "/reason"), str_at(e, "/message")))
            .collect()
    }
}

impl Drop for RealNode {
    /// Removes the pods through the API while the agent runs, then stops the
    /// agent; as a safety net removes every sandbox labelled with the node.
    fn drop(&mut self) {
        let _ = self.cluster.kubectl(&[
            "delete",
            "cronjobs,deployments,replicasets,jobs",
            "--all",
            "-A",
            "--wait=false",
        ]);
        let _ = self.cluster.kubectl(&[
            "delete",
            "pods",
            "--all",
            "-A",
            "--grace-period=1",
            "--wait=false",
        ]);
        let node = self.name().to_string();
        let left = |n: &RealNode| n.list_sandboxes(&[(NODE_LABEL, &node)]).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && !left(self).is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
        self.agent.stop();
        for sb in left(self) {
            eprintln!("cleanup: removing sandbox {} left by the agent", sb.id);
            let _ = self.rt.block_on(self.cri.stop_pod_sandbox(&sb.id));
            let _ = self.rt.block_on(self.cri.remove_pod_sandbox(&sb.id));
        }
    }
}

fn label_selector(labels: &[(&str, &str)]) -> HashMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Pod and service traffic from this namespace must never leave the machine:
/// `unreachable` routes for the cluster and service CIDRs; the node's own
/// bridge route (a /24) is more specific and still reaches its pods.
pub fn install_unreachable_routes() {
    for cidr in ["10.42.0.0/16", "10.43.0.0/16"] {
        let out = Command::new("ip")
            .args(["route", "replace", "unreachable", cidr])
            .output()
            .expect("ip route");
        assert!(
            out.status.success(),
            "ip route replace unreachable {cidr}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs `cmd` to its end with `stdin` fed to it, killed (by PID) after
/// [`COMMAND_LIMIT`].
pub fn run_limited(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut child = cmd.spawn().expect("run a command");
    let (done, rx) = std::sync::mpsc::channel::<()>();
    let pid = child.id();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(COMMAND_LIMIT) {
            eprintln!("{what} still runs after {COMMAND_LIMIT:?}: killing {pid}");
            send_signal(pid, libc::SIGKILL);
        }
    });
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).expect("write stdin");
    }
    let out = child.wait_with_output().expect("command output");
    let _ = done.send(());
    out
}

/// Whether `ip` lies in the network `(net, len)`.
pub fn in_cidr(ip: Ipv4Addr, (net, len): (Ipv4Addr, u32)) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

/// GET http://ip:port/ (only to pod IPs of this test's node).
pub fn http_get(ip: Ipv4Addr, port: u16) -> std::io::Result<String> {
    http_request(
        SocketAddr::from((ip, port)),
        "/",
        &ip.to_string(),
        Duration::from_secs(5),
    )
}

/// Sends `GET path` with `Host: host` to `addr` (a pod of this test's node or
/// loopback) and returns the whole response, waiting at most `read_timeout`
/// for each read.
pub fn http_request(
    addr: SocketAddr,
    path: &str,
    host: &str,
    read_timeout: Duration,
) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(read_timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// The string at JSON pointer `path` of `v`, or "".
pub fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or_default()
}
