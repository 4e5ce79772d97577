//! The control-plane figures: scheduling throughput, anti-affinity, Deployment start-up, RSS at scale.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::client::{Api, create_namespace};
use crate::cluster::Cluster;
use crate::podwatch::Tracker;
use crate::report::{Report, mib};
use crate::rollout::{self, RolloutPlan};
use crate::scheduling::{self, SchedPlan, Workload};
use crate::stats::ms;

/// Sizes of the control-plane bench (from `RKUBE_BENCH_*`; the issue's sizes by default).
#[derive(Clone, Debug)]
pub struct CpConfig {
    /// Simulated nodes for the throughput run and the Deployment runs (`RKUBE_BENCH_NODES`).
    pub nodes: u32,
    /// Pods created in the throughput run (`RKUBE_BENCH_SCHED_PODS`).
    pub sched_pods: usize,
    /// `pods` (bare pods) or `deployments` (`RKUBE_BENCH_SCHED_WORKLOAD`).
    pub sched_deployments: bool,
    /// Replicas per Deployment when the throughput run uses Deployments.
    pub sched_replicas: usize,
    /// Nodes of the anti-affinity run (`RKUBE_BENCH_AA_NODES`).
    pub aa_nodes: u32,
    /// Pods of the anti-affinity run (`RKUBE_BENCH_AA_PODS`).
    pub aa_pods: usize,
    /// Pods per anti-affine group (`RKUBE_BENCH_AA_GROUP`).
    pub aa_group: usize,
    /// Deployment start-ups measured (`RKUBE_BENCH_DEPLOY_RUNS`).
    pub deploy_runs: usize,
    /// Replicas of each measured Deployment (`RKUBE_BENCH_DEPLOY_REPLICAS`).
    pub deploy_replicas: usize,
    /// Concurrent creating clients (`RKUBE_BENCH_CLIENTS`).
    pub clients: usize,
    /// Which parts run: `deploy`, `sched`, `affinity` (`RKUBE_BENCH_SCENARIOS`).
    pub scenarios: Vec<String>,
    /// Longest wait for one phase (`RKUBE_BENCH_MAX_SECS`).
    pub max_time: Duration,
    /// Quiet time before reading RSS (`RKUBE_BENCH_SETTLE_SECS`).
    pub settle: Duration,
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

impl CpConfig {
    /// The issue's sizes, or small ones with `RKUBE_BENCH_SMOKE=1`; each overridable.
    pub fn from_env() -> CpConfig {
        let smoke = std::env::var("RKUBE_BENCH_SMOKE").is_ok_and(|v| v != "0" && !v.is_empty());
        let base = if smoke {
            CpConfig::smoke()
        } else {
            CpConfig::default()
        };
        let workload = std::env::var("RKUBE_BENCH_SCHED_WORKLOAD").unwrap_or_default();
        let scenarios = std::env::var("RKUBE_BENCH_SCENARIOS")
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or(base.scenarios.clone());
        CpConfig {
            nodes: env_num("RKUBE_BENCH_NODES", f64::from(base.nodes)).max(1.0) as u32,
            sched_pods: env_num("RKUBE_BENCH_SCHED_PODS", base.sched_pods as f64).max(1.0) as usize,
            sched_deployments: match workload.as_str() {
                "" => base.sched_deployments,
                w => w.starts_with("deploy"),
            },
            sched_replicas: env_num("RKUBE_BENCH_SCHED_REPLICAS", base.sched_replicas as f64)
                .max(1.0) as usize,
            aa_nodes: env_num("RKUBE_BENCH_AA_NODES", f64::from(base.aa_nodes)).max(1.0) as u32,
            aa_pods: env_num("RKUBE_BENCH_AA_PODS", base.aa_pods as f64).max(1.0) as usize,
            aa_group: env_num("RKUBE_BENCH_AA_GROUP", base.aa_group as f64).max(1.0) as usize,
            deploy_runs: env_num("RKUBE_BENCH_DEPLOY_RUNS", base.deploy_runs as f64).max(1.0)
                as usize,
            deploy_replicas: env_num("RKUBE_BENCH_DEPLOY_REPLICAS", base.deploy_replicas as f64)
                .max(1.0) as usize,
            clients: env_num("RKUBE_BENCH_CLIENTS", base.clients as f64).max(1.0) as usize,
            scenarios,
            max_time: Duration::from_secs_f64(env_num(
                "RKUBE_BENCH_MAX_SECS",
                base.max_time.as_secs_f64(),
            )),
            settle: Duration::from_secs_f64(env_num(
                "RKUBE_BENCH_SETTLE_SECS",
                base.settle.as_secs_f64(),
            )),
        }
    }

    /// A few seconds' worth: 10 nodes, 200 pods, 2 Deployment runs of 10.
    pub fn smoke() -> CpConfig {
        CpConfig {
            nodes: 10,
            sched_pods: 200,
            aa_nodes: 10,
            aa_pods: 40,
            aa_group: 5,
            deploy_runs: 2,
            deploy_replicas: 10,
            sched_replicas: 20,
            clients: 4,
            max_time: Duration::from_secs(120),
            settle: Duration::from_millis(200),
            ..CpConfig::default()
        }
    }

    /// Whether part `name` runs.
    pub fn runs(&self, name: &str) -> bool {
        self.scenarios.iter().any(|s| s == name || s == "all")
    }

    /// As JSON (for the written figures).
    pub fn json(&self) -> Value {
        json!({
            "nodes": self.nodes, "sched_pods": self.sched_pods,
            "sched_workload": if self.sched_deployments { "deployments" } else { "pods" },
            "sched_replicas": self.sched_replicas,
            "aa_nodes": self.aa_nodes, "aa_pods": self.aa_pods, "aa_group": self.aa_group,
            "deploy_runs": self.deploy_runs, "deploy_replicas": self.deploy_replicas,
            "clients": self.clients, "scenarios": self.scenarios,
        })
    }
}

impl Default for CpConfig {
    fn default() -> Self {
        CpConfig {
            nodes: 5000,
            sched_pods: 150_000,
            sched_deployments: false,
            sched_replicas: 100,
            aa_nodes: 1000,
            aa_pods: 10_000,
            aa_group: 100,
            deploy_runs: 20,
            deploy_replicas: 100,
            // Enough creators that creation outpaces the scheduler (16 leave it idle at times).
            clients: 64,
            scenarios: vec!["deploy".into(), "sched".into(), "affinity".into()],
            max_time: Duration::from_secs(1800),
            settle: Duration::from_secs(5),
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Starts a cluster of `nodes`, noting how long the nodes took; `None` (noted) on failure.
async fn cluster(bin: &Path, dir: &Path, nodes: u32, rep: &mut Report) -> Option<Cluster> {
    println!("starting rkube server (control plane) and {nodes} simulated nodes");
    match Cluster::start(bin, dir, nodes, Duration::from_secs(600)).await {
        Ok(c) => {
            let s = c.nodes_ready_after.as_secs_f64();
            rep.add(
                &format!("nodes_ready_{nodes}"),
                &format!("{nodes} simulated nodes registered and Ready"),
                format!("{s:.1} s"),
                "",
                json!({ "seconds": s }),
            );
            Some(c)
        }
        Err(e) => {
            rep.failed(
                &format!("cluster_{nodes}"),
                &format!("{nodes}-node cluster"),
                &e,
            );
            None
        }
    }
}

/// One scheduling run: its figures' key, description and goal, and what it creates.
struct Run<'a> {
    key: &'a str,
    what: &'a str,
    goal: &'a str,
    pods: usize,
    workload: Workload,
}

/// One scheduling run on `c` in a fresh namespace, with its rows.
async fn sched_run(c: &mut Cluster, cfg: &CpConfig, rep: &mut Report, run: Run<'_>) -> Result<()> {
    let Run {
        key,
        what,
        goal,
        pods,
        workload,
    } = run;
    let api = Api::new(&c.target)?;
    let ns = crate::config::random_namespace();
    create_namespace(&api, &ns).await?;
    let mut tracker = Tracker::start(&api, &ns).await?;
    let clients = Api::many(&c.target, cfg.clients)?;
    let plan = SchedPlan {
        namespace: ns,
        pods,
        workload,
        clients: cfg.clients,
        max_time: cfg.max_time,
        stall: Duration::from_secs(60),
    };
    let (cpu0, load0) = (c.cpu(), loadavg());
    let r = scheduling::run(&clients, &mut tracker, &plan).await?;
    let cpu = c.cpu().since(&cpu0);
    println!("  {what}: {}", r.line());
    rep.add(
        key,
        &format!("{what}: pods bound/s"),
        format!(
            "{:.0}/s ({}/{} in {:.1} s)",
            r.rate(),
            r.bound,
            r.pods,
            r.elapsed.as_secs_f64()
        ),
        goal,
        r.json(),
    );
    rep.add(
        &format!("{key}_latency"),
        &format!("{what}: create -> bound p50 / p99"),
        format!("{} / {}", ms(r.latency.p50_us), ms(r.latency.p99_us)),
        "",
        json!({}),
    );
    rep.add(
        &format!("{key}_cpu"),
        &format!("{what}: CPU per pod"),
        cpu.per(r.bound),
        "",
        json!({
            "server_s": cpu.server.as_secs_f64(), "agent_s": cpu.agent.as_secs_f64(),
            "bench_s": cpu.bench.as_secs_f64(), "loadavg_before": load0, "loadavg_after": loadavg(),
            "watch_events": tracker.with(|s| s.events),
        }),
    );
    c.check_alive()?;
    Ok(())
}

/// The Deployment start-up runs on `c`.
async fn deploy_runs(c: &mut Cluster, cfg: &CpConfig, rep: &mut Report) -> Result<()> {
    let api = Api::new(&c.target)?;
    let ns = crate::config::random_namespace();
    create_namespace(&api, &ns).await?;
    let mut tracker = Tracker::start(&api, &ns).await?;
    let plan = RolloutPlan {
        namespace: ns,
        runs: cfg.deploy_runs,
        replicas: cfg.deploy_replicas,
        max_run: Duration::from_secs(120),
    };
    let r = rollout::run(&api, &mut tracker, &plan).await;
    println!("  {}", r.line());
    rep.add(
        "deploy_start",
        &format!(
            "Deployment of {} -> all Running, p50 / p99 of {} runs ({} nodes)",
            cfg.deploy_replicas,
            r.runs.len(),
            c.nodes
        ),
        format!("{} / {}", ms(r.summary.p50_us), ms(r.summary.p99_us)),
        "",
        r.json(),
    );
    c.check_alive()?;
    Ok(())
}

/// The Deployment start-ups, then the throughput run and RSS, on one cluster of `cfg.nodes`.
async fn big_cluster(bin: &Path, dir: &Path, cfg: &CpConfig, rep: &mut Report) {
    let Some(mut c) = cluster(bin, dir, cfg.nodes, rep).await else {
        return;
    };
    if cfg.runs("deploy")
        && let Err(e) = deploy_runs(&mut c, cfg, rep).await
    {
        rep.failed("deploy_start", "Deployment start-up", &e);
    }
    if cfg.runs("sched") {
        let (what, workload) = if cfg.sched_deployments {
            (
                format!(
                    "{} pods as Deployments of {} on {} nodes",
                    cfg.sched_pods, cfg.sched_replicas, cfg.nodes
                ),
                Workload::Deployments {
                    replicas: cfg.sched_replicas,
                },
            )
        } else {
            (
                format!("{} pods on {} nodes", cfg.sched_pods, cfg.nodes),
                Workload::Pods,
            )
        };
        let run = Run {
            key: "sched",
            what: &what,
            goal: ">= 3,000/s",
            pods: cfg.sched_pods,
            workload,
        };
        match sched_run(&mut c, cfg, rep, run).await {
            Ok(()) => {
                tokio::time::sleep(cfg.settle).await;
                let (server, agent) = c.rss();
                rep.add(
                    "rss_at_scale",
                    &format!(
                        "RSS with {} nodes and {} pods: server / simulator",
                        cfg.nodes, cfg.sched_pods
                    ),
                    format!("{} / {}", mib(server), mib(agent)),
                    "",
                    json!({ "server_bytes": server, "agent_bytes": agent }),
                );
            }
            Err(e) => rep.failed("sched", "scheduling throughput", &e),
        }
    }
    c.stop();
}

/// The anti-affinity throughput run on its own cluster of `cfg.aa_nodes`.
async fn affinity_cluster(bin: &Path, dir: &Path, cfg: &CpConfig, rep: &mut Report) {
    let Some(mut c) = cluster(bin, dir, cfg.aa_nodes, rep).await else {
        return;
    };
    let what = format!(
        "{} pods anti-affine in groups of {} on {} nodes",
        cfg.aa_pods, cfg.aa_group, cfg.aa_nodes
    );
    let run = Run {
        key: "affinity",
        what: &what,
        goal: ">= 1,000/s",
        pods: cfg.aa_pods,
        workload: Workload::AntiAffinity {
            group: cfg.aa_group,
        },
    };
    if let Err(e) = sched_run(&mut c, cfg, rep, run).await {
        rep.failed("affinity", "anti-affinity throughput", &e);
    }
    c.stop();
}

/// Runs the configured parts with servers started from `bin`, in a temporary directory.
pub async fn run(bin: &Path, cfg: &CpConfig) -> Result<Report> {
    let mut rep = Report::new("control-plane");
    let tmp = tempfile::Builder::new()
        .prefix("rkube-bench-cp")
        .tempdir()?;
    if cfg.runs("deploy") || cfg.runs("sched") {
        big_cluster(bin, &tmp.path().join("a"), cfg, &mut rep).await;
    }
    if cfg.runs("affinity") {
        affinity_cluster(bin, &tmp.path().join("b"), cfg, &mut rep).await;
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issue_sizes_and_smoke_is_small() {
        let d = CpConfig::default();
        assert_eq!((d.nodes, d.sched_pods, d.aa_nodes), (5000, 150_000, 1000));
        assert_eq!((d.deploy_runs, d.deploy_replicas), (20, 100));
        assert!(d.runs("sched") && d.runs("affinity") && d.runs("deploy"));
        let s = CpConfig::smoke();
        assert!(s.nodes <= 10 && s.sched_pods <= 200);
        assert_eq!(s.json()["sched_workload"], "pods");
    }
}
