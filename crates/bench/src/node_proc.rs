//! A real node agent (`rkube agent` on the machine's containerd) as its own process, stopped by PID on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::client::Api;
use crate::process::{free_port, rss_bytes};

/// A running `rkube agent` that runs real pods.
pub struct NodeAgent {
    child: Option<Child>,
    /// The Node it registers.
    pub node: String,
    /// Its log file.
    pub log: PathBuf,
    /// The port of its HTTPS server (on 127.0.0.1).
    pub kubelet_port: u16,
}

impl NodeAgent {
    /// Starts `bin agent` for node `node` against `server` with `token`; its state
    /// lives in `data_dir`. The API server reaches it on loopback only.
    pub fn start(
        bin: &Path,
        server: &str,
        token: &str,
        node: &str,
        data_dir: &Path,
        runtime_endpoint: &str,
    ) -> Result<NodeAgent> {
        std::fs::create_dir_all(data_dir)?;
        let log = data_dir.join("agent.log");
        let logf = std::fs::File::create(&log)?;
        let kubelet_port = free_port()?;
        let child = Command::new(bin)
            .arg("agent")
            .args(["--server", server, "--node-name", node])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--node-ip", "127.0.0.1", "--kubelet-port"])
            .arg(kubelet_port.to_string())
            .args(["--container-runtime-endpoint", runtime_endpoint])
            .env("RKUBE_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .with_context(|| format!("starting {} agent", bin.display()))?;
        Ok(NodeAgent {
            child: Some(child),
            node: node.to_string(),
            log,
            kubelet_port,
        })
    }

    /// The agent's PID (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Its resident set size in bytes.
    pub fn rss(&self) -> u64 {
        rss_bytes(self.pid()).unwrap_or(0)
    }

    /// Fails (with the log's tail) when the agent has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            bail!("rkube agent exited ({status}); log:\n{}", self.log_tail());
        }
        Ok(())
    }

    /// The last 40 lines of its log.
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `GET /stats/summary` from its HTTPS server (its certificate is self-signed).
    pub async fn stats_summary(&self, token: &str) -> Result<Value> {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(30))
            .build()?;
        let resp = http
            .get(format!(
                "https://127.0.0.1:{}/stats/summary",
                self.kubelet_port
            ))
            .bearer_auth(token)
            .send()
            .await
            .context("GET /stats/summary")?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            bail!(
                "GET /stats/summary: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }

    /// Waits until the Node is Ready and has a pod CIDR.
    pub async fn wait_ready(&mut self, api: &Api, within: Duration) -> Result<Duration> {
        let t0 = Instant::now();
        let path = format!("/api/v1/nodes/{}", self.node);
        loop {
            self.check_alive()?;
            if let Ok((status, body)) = api.get(&path).await
                && status.is_success()
                && let Ok(node) = serde_json::from_slice::<Value>(&body)
                && node_ready(&node)
            {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > within {
                bail!(
                    "node {} not Ready with a pod CIDR after {within:?}; agent log:\n{}",
                    self.node,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM (the agent stops its pods gracefully), then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < grace {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// The Node is Ready and has a pod CIDR.
fn node_ready(node: &Value) -> bool {
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    let cidr = node["spec"]["podCIDR"]
        .as_str()
        .is_some_and(|c| !c.is_empty());
    ready && cidr
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_needs_condition_and_cidr() {
        let mut n = json!({"spec": {"podCIDR": "10.42.0.0/24"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(node_ready(&n));
        n["spec"]["podCIDR"] = json!("");
        assert!(!node_ready(&n));
        n["spec"]["podCIDR"] = json!("10.42.0.0/24");
        n["status"]["conditions"][0]["status"] = json!("False");
        assert!(!node_ready(&n));
    }
}
