//! Termination messages with real containers: `rkube server --disable-agent`
//! plus `rkube agent` on the machine's containerd, checked with the real
//! kubectl. Skipped, with a message, when no container runtime answers
//! (scripts/node-services.sh start; images/build.sh).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rkube_cri::{CriClient, proto};
use rkube_e2e::Cluster;
use rkube_e2e::cluster::NodeAgent;
use serde_json::Value;

/// The label the agent puts on every sandbox it makes.
const NODE_LABEL: &str = "io.rkube.node-name";

/// One node on the real runtime, joined to its own server.
struct Node {
    // Dropped in this order after `Drop::drop`: the agent, then the server.
    agent: NodeAgent,
    cluster: Cluster,
    cri: CriClient,
    rt: tokio::runtime::Runtime,
}

impl Node {
    /// The node, or `None` (after saying why) when no runtime answers.
    fn start(test: &str) -> Option<Node> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let path = std::env::var("RKUBE_CONTAINERD_SOCKET")
            .unwrap_or_else(|_| "/run/containerd/containerd.sock".into())
            .trim_start_matches("unix://")
            .to_string();
        if !Path::new(&path).exists() {
            eprintln!("skipped: no CRI socket at {path} (scripts/node-services.sh start)");
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
        // Pod and service traffic from this namespace never leaves the machine.
        for cidr in ["10.42.0.0/16", "10.43.0.0/16"] {
            let out = Command::new("ip")
                .args(["route", "replace", "unreachable", cidr])
                .output()
                .expect("ip route");
            assert!(out.status.success(), "ip route replace unreachable {cidr}");
        }
        let cluster = Cluster::start();
        let name = format!("e2e-{test}-{}", std::process::id());
        let agent = cluster.start_node_agent(&name, &[]);
        let node = Node {
            agent,
            cluster,
            cri,
            rt,
        };
        node.wait_for("the node to be Ready", 60, || {
            let out = node.cluster.kubectl(&[
                "get",
                "node",
                &name,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ]);
            (String::from_utf8_lossy(&out.stdout).trim() == "True").then_some(())
        });
        Some(node)
    }

    /// Runs kubectl; on failure panics with its output and the agent's log.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cluster.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}\nagent log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            self.agent.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls `f` every 200 ms until it gives a value, for at most `secs`.
    fn wait_for<T>(&self, what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {secs} s waiting for {what}\nagent log:\n{}",
                self.agent.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn sandboxes(&self) -> Vec<proto::PodSandbox> {
        let filter = proto::PodSandboxFilter {
            label_selector: [(NODE_LABEL.to_string(), self.agent.node_name.clone())].into(),
            ..Default::default()
        };
        self.rt
            .block_on(self.cri.list_pod_sandboxes(Some(filter)))
            .unwrap_or_default()
    }
}

impl Drop for Node {
    /// Removes the pods while the agent runs, then stops it; removes any
    /// sandbox of the node left behind.
    fn drop(&mut self) {
        let _ = self.cluster.kubectl(&[
            "delete",
            "pods",
            "--all",
            "--grace-period=1",
            "--wait=false",
        ]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && !self.sandboxes().is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
        self.agent.stop();
        for sb in self.sandboxes() {
            let _ = self.rt.block_on(self.cri.stop_pod_sandbox(&sb.id));
            let _ = self.rt.block_on(self.cri.remove_pod_sandbox(&sb.id));
        }
    }
}

const POD: &str = r#"{
  "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "last-words"},
  "spec": {"restartPolicy": "Never", "containers": [
    {"name": "file", "image": "busybox",
     "command": ["sh", "-c", "echo bye > /dev/termination-log; exit 3"]},
    {"name": "logs", "image": "busybox", "terminationMessagePolicy": "FallbackToLogsOnError",
     "command": ["sh", "-c", "echo first; echo oops; exit 1"]}
  ]}
}"#;

#[test]
fn termination_messages_from_the_file_and_the_log() {
    let Some(node) = Node::start("termination") else {
        return;
    };
    let manifest = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(manifest.path(), POD).expect("manifest");
    node.ok(&["create", "-f", manifest.path().to_str().expect("path")]);

    let pod: Value = node.wait_for("pod last-words to fail", 120, || {
        let out = node
            .cluster
            .kubectl(&["get", "pod", "last-words", "-o", "json"]);
        let pod: Value = serde_json::from_slice(&out.stdout).ok()?;
        (pod["status"]["phase"] == "Failed").then_some(pod)
    });
    let terminated = |name: &str| {
        pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name)
            .map(|c| c["state"]["terminated"].clone())
            .unwrap_or_default()
    };
    let file = terminated("file");
    assert_eq!(file["exitCode"], 3, "{file}");
    assert_eq!(file["reason"], "Error", "{file}");
    assert_eq!(file["message"], "bye\n", "{file}");
    let logs = terminated("logs");
    assert_eq!(logs["exitCode"], 1, "{logs}");
    assert_eq!(logs["message"], "first\noops\n", "{logs}");

    let describe = node.ok(&["describe", "pod", "last-words"]);
    let messages: Vec<&str> = describe
        .lines()
        .filter(|l| l.trim_start().starts_with("Message:"))
        .collect();
    assert!(
        messages.iter().any(|l| l.trim_end().ends_with(" bye")),
        "{describe}"
    );
}
