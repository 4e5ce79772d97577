//! A whole simulated cluster on loopback: `rkube server` with its control plane plus `rkube agent --simulate N`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::client::Api;
use crate::kubeconfig::{self, Target};
use crate::process::{Agent, Server, cpu_time, kill_now, mem_available, rss_bytes};

/// A running server (scheduler and controllers on) and its simulated nodes.
pub struct Cluster {
    pub server: Server,
    pub agent: Agent,
    pub target: Target,
    pub nodes: u32,
    /// Agent start → every node Ready.
    pub nodes_ready_after: Duration,
    guard: tokio::task::JoinHandle<()>,
}

/// Kills the server and the agent (by PID) when the machine's available memory drops below
/// `$RKUBE_BENCH_MIN_FREE_MIB` (default 1,536 MiB): the machine is shared, and a bench that
/// outgrows it must fail rather than push anyone's work into the OOM killer.
fn memory_guard(pids: [u32; 2]) -> tokio::task::JoinHandle<()> {
    let min_free_mib = std::env::var("RKUBE_BENCH_MIN_FREE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1536);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if mem_available().is_some_and(|b| b < min_free_mib << 20) {
                eprintln!(
                    "memory guard: less than {min_free_mib} MiB available; killing the bench's server and agent"
                );
                for pid in pids {
                    kill_now(pid);
                }
                return;
            }
        }
    })
}

/// CPU time used by the server, the agent and this process.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSample {
    pub server: Duration,
    pub agent: Duration,
    pub bench: Duration,
}

impl CpuSample {
    /// CPU used between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuSample) -> CpuSample {
        CpuSample {
            server: self.server.saturating_sub(earlier.server),
            agent: self.agent.saturating_sub(earlier.agent),
            bench: self.bench.saturating_sub(earlier.bench),
        }
    }

    /// "server 1.2 ms, agent 0.3 ms, bench 0.2 ms per pod" for `n` pods.
    pub fn per(&self, n: usize) -> String {
        let per = |d: Duration| d.as_secs_f64() * 1000.0 / n.max(1) as f64;
        format!(
            "server {:.3} ms, agent {:.3} ms, bench {:.3} ms",
            per(self.server),
            per(self.agent),
            per(self.bench)
        )
    }
}

#[derive(Deserialize)]
struct NodeList {
    items: Vec<NodeItem>,
}

#[derive(Deserialize)]
struct NodeItem {
    #[serde(default)]
    status: NodeStatus,
}

#[derive(Deserialize, Default)]
struct NodeStatus {
    #[serde(default)]
    conditions: Vec<Condition>,
}

#[derive(Deserialize)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

/// Nodes whose Ready condition is True.
pub async fn ready_nodes(api: &Api) -> Result<usize> {
    let body = api.get_ok("/api/v1/nodes").await?;
    let list: NodeList = serde_json::from_slice(&body)?;
    Ok(list
        .items
        .iter()
        .filter(|n| {
            n.status
                .conditions
                .iter()
                .any(|c| c.kind == "Ready" && c.status == "True")
        })
        .count())
}

impl Cluster {
    /// Starts the server in `dir` and an agent with `nodes` simulated nodes, and waits (up to
    /// `within`) until every node is Ready. `$RKUBE_BENCH_SERVER_ARGS` and
    /// `$RKUBE_BENCH_AGENT_ARGS` (space-separated) add flags, for experiments.
    pub async fn start(bin: &Path, dir: &Path, nodes: u32, within: Duration) -> Result<Cluster> {
        let flags = |var: &str| -> Vec<String> {
            std::env::var(var)
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        let server = Server::start_control_plane(
            bin,
            &dir.join("server"),
            Duration::from_secs(120),
            &flags("RKUBE_BENCH_SERVER_ARGS"),
        )
        .await?;
        let target = kubeconfig::load(&server.kubeconfig())?;
        let t0 = Instant::now();
        let mut agent = Agent::start(
            bin,
            &server.url(),
            &server.token()?,
            nodes,
            &dir.join("agent.log"),
            &flags("RKUBE_BENCH_AGENT_ARGS"),
        )?;
        let api = Api::new(&target)?;
        loop {
            agent.check_alive()?;
            let ready = ready_nodes(&api).await.unwrap_or(0);
            if ready >= nodes as usize {
                break;
            }
            if t0.elapsed() > within {
                bail!(
                    "{ready}/{nodes} nodes Ready after {within:?}; agent log:\n{}",
                    agent.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let guard = memory_guard([server.pid(), agent.pid()]);
        Ok(Cluster {
            server,
            agent,
            target,
            nodes,
            nodes_ready_after: t0.elapsed(),
            guard,
        })
    }

    /// CPU used so far by the server, the agent and this process.
    pub fn cpu(&self) -> CpuSample {
        CpuSample {
            server: cpu_time(self.server.pid()).unwrap_or_default(),
            agent: cpu_time(self.agent.pid()).unwrap_or_default(),
            bench: cpu_time(std::process::id()).unwrap_or_default(),
        }
    }

    /// (server, agent) resident set sizes in bytes.
    pub fn rss(&self) -> (u64, u64) {
        (
            rss_bytes(self.server.pid()).unwrap_or(0),
            rss_bytes(self.agent.pid()).unwrap_or(0),
        )
    }

    /// Fails (with the logs' tails) when the server or the agent has died.
    pub fn check_alive(&mut self) -> Result<()> {
        self.agent.check_alive().context("simulated nodes")
    }

    /// Stops the agent, then the server.
    pub fn stop(&mut self) {
        self.guard.abort();
        self.agent.stop();
        self.server.stop();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.guard.abort();
    }
}
