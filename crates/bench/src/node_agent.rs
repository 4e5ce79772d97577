//! The node-agent figures: pod start-up latency on one real node beside the CRI floor, deletion of
//! every pod, and the agent's RSS with 0 and with N pods.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use rkube_cri::CriClient;
use serde_json::{Value, json};

use crate::agent_log;
use crate::client::{Api, create_namespace};
use crate::cri_floor::{self, FLOOR_LABEL};
use crate::kubeconfig;
use crate::node_proc::NodeAgent;
use crate::pods::{SENT_ANNOTATION, STAMP_WIDTH, now_nanos};
use crate::podwatch::Tracker;
use crate::process::{Server, cpu_time};
use crate::report::{Report, mib};
use crate::stats::{Summary, histogram, ms, record};

/// The label the agent puts on every sandbox it makes (value: its node's name).
pub const NODE_LABEL: &str = "io.rkube.node-name";

/// Sizes and knobs of the node-agent bench (from `RKUBE_BENCH_*`; the sizes by default).
#[derive(Clone, Debug)]
pub struct NaConfig {
    /// Pods started, measured and deleted (`RKUBE_BENCH_NA_PODS`; 100, or 5 with `RKUBE_BENCH_SMOKE=1`).
    pub pods: usize,
    /// Pods created per second, the same for the floor (`RKUBE_BENCH_NA_RATE`; 0 = all at once).
    pub rate: f64,
    /// The container's image, present on the node (`RKUBE_BENCH_NA_IMAGE`).
    pub image: String,
    /// Its command (`RKUBE_BENCH_NA_COMMAND`, words; empty = the image's own).
    pub command: Vec<String>,
    /// The CRI socket (`RKUBE_CONTAINERD_SOCKET`).
    pub socket: String,
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

impl NaConfig {
    /// The sizes, or 5 pods with `RKUBE_BENCH_SMOKE=1`; each overridable.
    pub fn from_env() -> NaConfig {
        let smoke = std::env::var("RKUBE_BENCH_SMOKE").is_ok_and(|v| v != "0" && !v.is_empty());
        let base = NaConfig::sized(if smoke { 5 } else { 100 });
        NaConfig {
            pods: env_num("RKUBE_BENCH_NA_PODS", base.pods as f64) as usize,
            rate: env_num("RKUBE_BENCH_NA_RATE", base.rate),
            image: std::env::var("RKUBE_BENCH_NA_IMAGE").unwrap_or(base.image),
            command: std::env::var("RKUBE_BENCH_NA_COMMAND")
                .map(|c| c.split_whitespace().map(String::from).collect())
                .unwrap_or(base.command),
            max_time: Duration::from_secs_f64(env_num(
                "RKUBE_BENCH_MAX_SECS",
                base.max_time.as_secs_f64(),
            )),
            settle: Duration::from_secs_f64(env_num(
                "RKUBE_BENCH_SETTLE_SECS",
                base.settle.as_secs_f64(),
            )),
            ..base
        }
    }

    /// `pods` pods of the pause image at 10 per second.
    pub fn sized(pods: usize) -> NaConfig {
        NaConfig {
            pods,
            rate: 10.0,
            image: "registry.k8s.io/pause:3.10".into(),
            command: vec![],
            socket: std::env::var("RKUBE_CONTAINERD_SOCKET")
                .unwrap_or_else(|_| "/run/containerd/containerd.sock".into())
                .trim_start_matches("unix://")
                .to_string(),
            max_time: Duration::from_secs(300),
            settle: Duration::from_secs(5),
        }
    }

    /// Time between two creations (zero: all at once).
    pub fn every(&self) -> Duration {
        if self.rate > 0.0 {
            Duration::from_secs_f64(1.0 / self.rate)
        } else {
            Duration::ZERO
        }
    }

    /// As JSON for the report.
    pub fn json(&self) -> Value {
        json!({"pods": self.pods, "rate_per_second": self.rate, "image": self.image,
            "command": self.command, "socket": self.socket})
    }
}

/// The pod `name` for `node`, stamped with the send time `nanos`.
pub fn pod_body(cfg: &NaConfig, namespace: &str, node: &str, name: &str, nanos: u64) -> Vec<u8> {
    let mut container = json!({"name": "c", "image": cfg.image, "imagePullPolicy": "IfNotPresent"});
    if !cfg.command.is_empty() {
        container["command"] = json!(cfg.command);
    }
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "na-bench"},
            "annotations": {SENT_ANNOTATION: format!("{nanos:0STAMP_WIDTH$}")}},
        "spec": {"nodeName": node, "containers": [container], "terminationGracePeriodSeconds": 10},
    });
    serde_json::to_vec(&pod).unwrap_or_default()
}

/// Whether a runtime answers on the socket (with the reason when not).
pub async fn runtime_answers(socket: &str) -> Result<CriClient> {
    if !Path::new(socket).exists() {
        bail!("no CRI socket at {socket} (scripts/node-services.sh start)");
    }
    let cri = tokio::time::timeout(
        Duration::from_secs(10),
        CriClient::connect(&format!("unix://{socket}")),
    )
    .await
    .context("connecting to the runtime")??
    .with_timeout(Duration::from_secs(60));
    cri.version().await.context("the runtime does not answer")?;
    Ok(cri)
}

/// `ip route replace unreachable` for the pod and service CIDRs, so nothing this bench's
/// namespace sends to them leaves the machine.
pub fn install_unreachable_routes() -> Result<()> {
    for cidr in ["10.42.0.0/16", "10.43.0.0/16"] {
        let out = std::process::Command::new("ip")
            .args(["route", "replace", "unreachable", cidr])
            .output()
            .context("running ip route")?;
        if !out.status.success() {
            bail!(
                "ip route replace unreachable {cidr}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

/// Runs the bench with the `rkube` binary `bin`; every sandbox it made is removed, even on failure.
pub async fn run(bin: &Path, cfg: &NaConfig) -> Result<Report> {
    let cri = runtime_answers(&cfg.socket).await?;
    install_unreachable_routes()?;
    let run_id = format!("na{}-{}", std::process::id(), now_nanos() % 1_000_000);
    let node = format!("bench-{run_id}");
    let tmp = tempfile::Builder::new()
        .prefix("rkube-bench-node")
        .tempdir()?;
    let mut rep = Report::new("node-agent");
    let mut agent: Option<NodeAgent> = None;
    let result = phases(
        bin,
        cfg,
        &cri,
        &run_id,
        &node,
        tmp.path(),
        &mut rep,
        &mut agent,
    )
    .await;
    // Stop the agent first (SIGTERM stops what pods are left), then remove what remains.
    if let Some(mut a) = agent.take() {
        a.stop(Duration::from_secs(30));
    }
    for (key, value) in [(NODE_LABEL, node.as_str()), (FLOOR_LABEL, run_id.as_str())] {
        match cri_floor::remove_labelled(&cri, key, value).await {
            Ok(0) => {}
            Ok(n) => println!("  cleanup: removed {n} sandboxes labelled {key}={value}"),
            Err(e) => println!("  cleanup of {key}={value} failed: {e:#}"),
        }
    }
    result.map(|()| rep)
}

#[allow(clippy::too_many_arguments)]
async fn phases(
    bin: &Path,
    cfg: &NaConfig,
    cri: &CriClient,
    run_id: &str,
    node: &str,
    dir: &Path,
    rep: &mut Report,
    agent_slot: &mut Option<NodeAgent>,
) -> Result<()> {
    let image_ref = cri_floor::ensure_image(cri, &cfg.image).await?;
    let server = Server::start_control_plane(bin, &dir.join("server"), cfg.max_time, &[]).await?;
    let target = kubeconfig::load(&server.kubeconfig())?;
    let api = Api::new(&target)?;
    let agent = agent_slot.insert(NodeAgent::start(
        bin,
        &server.url(),
        &server.token()?,
        node,
        &dir.join("agent"),
        &format!("unix://{}", cfg.socket),
    )?);
    let ready = agent.wait_ready(&api, Duration::from_secs(120)).await?;
    rep.add(
        "node_ready",
        "agent start → Node Ready",
        format!("{:.2} s", ready.as_secs_f64()),
        "",
        json!({"seconds": ready.as_secs_f64()}),
    );
    tokio::time::sleep(cfg.settle).await;
    let rss_idle = agent.rss();
    rep.add(
        "rss_idle",
        "agent RSS, 0 pods",
        mib(rss_idle),
        "",
        json!({"bytes": rss_idle}),
    );

    // The floor: the same container straight through CRI, at the same pace.
    let container = cri_floor::container_config(run_id, &cfg.image, &image_ref, &cfg.command);
    let logs = dir.join("floor-logs");
    let floor = cri_floor::run(cri, run_id, cfg.pods, cfg.every(), &logs, container).await?;
    let fs = Summary::from(
        &floor.latency,
        floor.latency.len(),
        floor.errors as u64,
        floor.elapsed,
        floor.first_error.clone(),
    );
    rep.add(
        "floor_start",
        &format!("CRI floor: {} pods sandbox+create+start", cfg.pods),
        format!(
            "p50 {} p99 {} max {} (all in {:.2} s, {} errors)",
            ms(fs.p50_us),
            ms(fs.p99_us),
            ms(fs.max_us),
            fs.elapsed.as_secs_f64(),
            fs.errors
        ),
        "the floor",
        fs.json(),
    );
    let t0 = Instant::now();
    let removed = cri_floor::remove_labelled(cri, FLOOR_LABEL, run_id).await?;
    let floor_rm = t0.elapsed();
    rep.add(
        "floor_remove",
        &format!("CRI floor: {removed} sandboxes stopped+removed"),
        format!("{:.2} s", floor_rm.as_secs_f64()),
        "",
        json!({"seconds": floor_rm.as_secs_f64(), "sandboxes": removed}),
    );

    // One warm-up pod through the API, then the measured ones.
    let ns = format!("na-{run_id}");
    create_namespace(&api, &ns).await?;
    let mut tracker = Tracker::start(&api, &ns).await?;
    let post = |name: String| {
        let (api, path) = (api.clone(), format!("/api/v1/namespaces/{ns}/pods"));
        let body = pod_body(cfg, &ns, node, &name, now_nanos());
        async move {
            let status = api.post_json(&path, body).await?;
            if !status.is_success() {
                bail!("creating pod {name}: {status}");
            }
            Ok(())
        }
    };
    post("warmup".into()).await?;
    tracker
        .wait(
            "warm-up pod Running",
            Duration::from_secs(60),
            cfg.max_time,
            |s| s.running >= 1,
        )
        .await
        .with_context(|| format!("agent log:\n{}", agent.log_tail()))?;
    delete_pods(&api, &ns, &["warmup".to_string()]).await?;
    tracker
        .wait(
            "warm-up pod gone",
            Duration::from_secs(60),
            cfg.max_time,
            |s| s.deleted >= 1,
        )
        .await?;

    let cpu0 = cpu_time(agent.pid()).unwrap_or_default();
    let names: Vec<String> = (0..cfg.pods).map(|i| format!("p-{i}")).collect();
    let t0 = Instant::now();
    let mut creates = tokio::task::JoinSet::new();
    for (i, name) in names.iter().enumerate() {
        let due = cfg.every() * i as u32;
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        creates.spawn(post(name.clone()));
    }
    while let Some(r) = creates.join_next().await {
        r??;
    }
    let n = cfg.pods;
    tracker
        .wait(
            "pods Running",
            Duration::from_secs(60),
            cfg.max_time,
            |s| s.running > n, // and the warm-up pod
        )
        .await
        .with_context(|| format!("agent log:\n{}", agent.log_tail()))?;
    let all_running = t0.elapsed();
    let cpu_start = cpu_time(agent.pid())
        .unwrap_or_default()
        .saturating_sub(cpu0);
    let mut h = histogram();
    tracker.with(|s| {
        for name in &names {
            if let Some(t) = s.pods.get(name)
                && t.running > t.sent
                && t.sent > 0
            {
                record(&mut h, Duration::from_nanos(t.running - t.sent));
            }
        }
    });
    let st = Summary::from(&h, h.len(), 0, all_running, None);
    rep.add(
        "pod_start",
        &format!("pod start-up, {n} pods: creation → Running (watch)"),
        format!(
            "p50 {} p99 {} max {} (all in {:.2} s)",
            ms(st.p50_us),
            ms(st.p99_us),
            ms(st.max_us),
            all_running.as_secs_f64()
        ),
        "p99 ≤ 1 s",
        st.json(),
    );
    breakdown_row(rep, &tracker, agent, &ns, &names);
    rep.add(
        "agent_cpu_start",
        "agent CPU per pod started",
        format!(
            "{:.1} ms",
            cpu_start.as_secs_f64() * 1000.0 / n.max(1) as f64
        ),
        "",
        json!({"seconds_total": cpu_start.as_secs_f64()}),
    );
    tokio::time::sleep(cfg.settle).await;
    agent.check_alive()?;
    let rss_full = agent.rss();
    stats_row(rep, agent, &server.token()?, &ns).await;
    rep.add(
        "rss_pods",
        &format!("agent RSS, {n} pods Running"),
        mib(rss_full),
        "≤ 40 MB",
        json!({"bytes": rss_full}),
    );

    // Delete them all; wait until the API and the runtime have none left.
    let t0 = Instant::now();
    delete_pods(&api, &ns, &names).await?;
    tracker
        .wait(
            "pods gone from the API",
            Duration::from_secs(60),
            cfg.max_time,
            |s| s.deleted > n, // and the warm-up pod
        )
        .await
        .with_context(|| format!("agent log:\n{}", agent.log_tail()))?;
    let api_gone = t0.elapsed();
    let rt_gone = loop {
        if cri_floor::count_labelled(cri, NODE_LABEL, node).await? == 0 {
            break t0.elapsed();
        }
        if t0.elapsed() > cfg.max_time {
            bail!(
                "sandboxes of {node} still in the runtime after {:?}",
                cfg.max_time
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    rep.add(
        "pod_delete",
        &format!("{n} pods deleted: gone from API / runtime"),
        format!(
            "{:.2} s / {:.2} s",
            api_gone.as_secs_f64(),
            rt_gone.as_secs_f64()
        ),
        "",
        json!({"api_seconds": api_gone.as_secs_f64(), "runtime_seconds": rt_gone.as_secs_f64()}),
    );
    tokio::time::sleep(cfg.settle).await;
    let rss_after = agent.rss();
    rep.add(
        "rss_after",
        "agent RSS after deletion",
        mib(rss_after),
        "",
        json!({"bytes": rss_after}),
    );
    rep.json.insert("config".into(), cfg.json());
    Ok(())
}

/// Splits each pod's start-up at the agent's log lines: created → sandbox started → container
/// started → Running seen through the watch (the status write and the watch).
fn breakdown_row(
    rep: &mut Report,
    tracker: &Tracker,
    agent: &NodeAgent,
    ns: &str,
    names: &[String],
) {
    let log = std::fs::read_to_string(&agent.log).unwrap_or_default();
    let marks = agent_log::marks(&log, ns);
    let mut parts = [histogram(), histogram(), histogram()];
    tracker.with(|s| {
        for name in names {
            let (Some(t), Some(m)) = (s.pods.get(name), marks.get(name)) else {
                continue;
            };
            let points = [t.sent, m.sandbox_started, m.container_started, t.running];
            if points.contains(&0) {
                continue;
            }
            for (i, h) in parts.iter_mut().enumerate() {
                record(
                    h,
                    Duration::from_nanos(points[i + 1].saturating_sub(points[i])),
                );
            }
        }
    });
    let p = |h: &hdrhistogram::Histogram<u64>| {
        format!(
            "{}/{}",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99))
        )
    };
    let q = |h: &hdrhistogram::Histogram<u64>| {
        json!({"p50_ms": h.value_at_quantile(0.5) as f64 / 1000.0,
            "p99_ms": h.value_at_quantile(0.99) as f64 / 1000.0, "n": h.len()})
    };
    rep.add(
        "start_breakdown",
        "  of which p50/p99: →sandbox, →container, →Running seen",
        format!("{}, {}, {}", p(&parts[0]), p(&parts[1]), p(&parts[2])),
        "",
        json!({"to_sandbox": q(&parts[0]), "to_container": q(&parts[1]), "to_running_seen": q(&parts[2])}),
    );
}

/// Reads the agent's `/stats/summary` and notes how many of the bench's pods it shows with
/// memory in use (a failure is a row, not the end of the run).
async fn stats_row(rep: &mut Report, agent: &NodeAgent, token: &str, namespace: &str) {
    let t0 = Instant::now();
    match agent.stats_summary(token).await {
        Ok(summary) => {
            let took = t0.elapsed();
            let (pods, with_memory) = summary_pods(&summary, namespace);
            rep.add(
                "stats_summary",
                "GET /stats/summary: pods shown / with memory",
                format!(
                    "{pods} / {with_memory} in {:.0} ms",
                    took.as_secs_f64() * 1000.0
                ),
                "",
                json!({"pods": pods, "pods_with_memory": with_memory, "ms": took.as_secs_f64() * 1000.0,
                    "node_memory": summary["node"]["memory"], "node_cpu": summary["node"]["cpu"],
                    "first_pod": summary["pods"].as_array().and_then(|p| p.iter().find(|p| p["podRef"]["namespace"] == namespace))}),
            );
        }
        Err(e) => rep.failed("stats_summary", "GET /stats/summary", &e),
    }
}

/// The Summary's pods of `namespace`, and how many of them have a non-zero working set.
pub fn summary_pods(summary: &Value, namespace: &str) -> (usize, usize) {
    let pods: Vec<&Value> = summary["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["podRef"]["namespace"] == namespace)
        .collect();
    let with_memory = pods
        .iter()
        .filter(|p| {
            p["memory"]["workingSetBytes"]
                .as_u64()
                .is_some_and(|b| b > 0)
        })
        .count();
    (pods.len(), with_memory)
}

/// Deletes the pods `names` of `namespace`, sixteen requests at a time.
async fn delete_pods(api: &Api, namespace: &str, names: &[String]) -> Result<()> {
    let results: Vec<Result<()>> = futures::stream::iter(names)
        .map(|name| async move {
            let status = api
                .delete(&format!("/api/v1/namespaces/{namespace}/pods/{name}"))
                .await?;
            if !status.is_success() {
                bail!("deleting pod {name}: {status}");
            }
            Ok(())
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Where the bench writes its JSON.
pub fn json_path(target: &Path) -> PathBuf {
    target.join("bench-node-agent.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_body_is_bound_and_stamped() -> Result<()> {
        let mut cfg = NaConfig::sized(3);
        cfg.command = vec!["sleep".into(), "3600".into()];
        let b = pod_body(&cfg, "ns1", "node-a", "p-1", 42);
        let v: Value = serde_json::from_slice(&b)?;
        assert_eq!(v["spec"]["nodeName"], "node-a");
        assert_eq!(v["spec"]["containers"][0]["command"][1], "3600");
        assert_eq!(crate::pods::find_stamp(&b), Some(42));
        assert_eq!(cfg.every(), Duration::from_millis(100));
        Ok(())
    }
}
