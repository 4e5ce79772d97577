//! The whole measurement list, against a server this process starts or any kubeconfig.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::client::{Api, create_namespace};
use crate::kubeconfig::{self, Target};
use crate::load::{CreatePlan, creates_closed, creates_paced};
use crate::process::{Etcd, Server, rss_bytes};
use crate::reads::{gets, list_paged, list_whole};
use crate::report::{Report, mib};
use crate::stats::ms;
use crate::watch::watch_fanout;

/// What to measure and how much (from `RKUBE_BENCH_*`).
#[derive(Clone, Debug)]
pub struct Config {
    /// Pods held for LIST, RSS and restart (`RKUBE_BENCH_PODS`, default 150,000).
    pub pods: usize,
    /// Stores to run on (`RKUBE_BENCH_STORES`, default `sqlite,etcd`).
    pub stores: Vec<String>,
    /// Paced create rate (`RKUBE_BENCH_RATE`, default 1,000/s).
    pub rate: f64,
    /// Watchers (`RKUBE_BENCH_WATCHERS`, default 100).
    pub watchers: usize,
    /// Events each watcher receives (`RKUBE_BENCH_WATCH_EVENTS`, default pods/5 within 500..=10,000).
    pub watch_events: usize,
    /// Create rate during the watch run; 0 = as fast as 8 clients go
    /// (`RKUBE_BENCH_WATCH_RATE`, default 500/s).
    pub watch_rate: f64,
    /// Whole-LIST repetitions (`RKUBE_BENCH_LIST_REPS`, default 3).
    pub list_reps: usize,
    /// Page size for the paged walk.
    pub page: usize,
    /// Quiet time before reading RSS.
    pub settle: Duration,
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Config {
        let pods = env_num("RKUBE_BENCH_PODS", 150_000.0).max(100.0) as usize;
        let stores = std::env::var("RKUBE_BENCH_STORES").unwrap_or_else(|_| "sqlite,etcd".into());
        Config {
            pods,
            stores: stores
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            rate: env_num("RKUBE_BENCH_RATE", 1000.0).max(1.0),
            watchers: env_num("RKUBE_BENCH_WATCHERS", 100.0).max(1.0) as usize,
            watch_events: env_num(
                "RKUBE_BENCH_WATCH_EVENTS",
                (pods / 5).clamp(500, 10_000) as f64,
            )
            .max(1.0) as usize,
            watch_rate: env_num("RKUBE_BENCH_WATCH_RATE", 500.0).max(0.0),
            list_reps: env_num("RKUBE_BENCH_LIST_REPS", 3.0).max(1.0) as usize,
            page: 500,
            settle: Duration::from_secs_f64(env_num("RKUBE_BENCH_SETTLE_SECS", 3.0)),
        }
    }

    /// Creates in each closed-loop throughput run.
    fn per_run(&self) -> usize {
        (self.pods / 10).clamp(200, 10_000)
    }
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// The cargo target dir: `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        Some(p) => workspace_root().join(p),
        None => workspace_root().join("target"),
    }
}

/// The server binary: `$RKUBE_BIN` or `<target>/release/rkube`, if it exists.
pub fn rkube_bin() -> Option<PathBuf> {
    let p = std::env::var_os("RKUBE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release/rkube"));
    p.exists().then_some(p)
}

/// A fresh `bench-<random>` namespace name.
pub fn random_namespace() -> String {
    let n = crate::pods::now_nanos() ^ (u64::from(std::process::id()) << 40);
    format!("bench-{:x}", n & 0xff_ffff_ffff)
}

/// Runs the API measurements (creates, paced creates, GET, watch, load to N, LIST) against
/// `target`, adding figures to `rep`. Returns the pods now stored in the bench namespace.
pub async fn measure_api(rep: &mut Report, target: &Target, cfg: &Config) -> Result<usize> {
    let ns = random_namespace();
    let admin = Api::new(target)?;
    create_namespace(&admin, &ns).await?;
    rep.json.insert("namespace".into(), json!(ns));
    let mut next = 0usize;
    let mut stored = 0usize;
    let per_run = cfg.per_run();

    for c in [8, 16, 32] {
        let clients = Api::many(target, c)?;
        let plan = CreatePlan {
            namespace: ns.clone(),
            first: next,
            count: per_run,
            max_time: Duration::from_secs(300),
        };
        let s = creates_closed(&clients, &plan).await;
        next += per_run;
        stored += s.ok as usize;
        rep.add(
            &format!("creates_{c}_clients"),
            &format!("pod creates/s, {c} clients ({per_run} creates)"),
            format!(
                "{:.0}/s  (p50 {} p99 {}, {} errors)",
                s.rate(),
                ms(s.p50_us),
                ms(s.p99_us),
                s.errors
            ),
            ">= 5,000/s",
            s.json(),
        );
    }

    let paced_count = ((cfg.rate * 10.0) as usize).min((cfg.pods / 5).max(500));
    let clients = Api::many(target, 32)?;
    let plan = CreatePlan {
        namespace: ns.clone(),
        first: next,
        count: paced_count,
        max_time: Duration::from_secs(300),
    };
    let s = creates_paced(&clients, &plan, cfg.rate).await;
    next += paced_count;
    stored += s.ok as usize;
    rep.add(
        "creates_paced",
        &format!(
            "create latency at {:.0}/s open loop ({paced_count})",
            cfg.rate
        ),
        format!(
            "p50 {} p99 {} max {}  (achieved {:.0}/s, {} errors)",
            ms(s.p50_us),
            ms(s.p99_us),
            ms(s.max_us),
            s.rate(),
            s.errors
        ),
        "p99 <= 25 ms",
        s.json(),
    );

    let s = gets(
        &Api::many(target, 1)?,
        &ns,
        stored,
        5_000,
        Duration::from_secs(120),
    )
    .await;
    rep.add(
        "get_1_client",
        "GET one pod, 1 client (5,000)",
        format!(
            "p50 {} p99 {} max {}  ({:.0}/s)",
            ms(s.p50_us),
            ms(s.p99_us),
            ms(s.max_us),
            s.rate()
        ),
        "",
        s.json(),
    );
    let s = gets(
        &Api::many(target, 8)?,
        &ns,
        stored,
        20_000,
        Duration::from_secs(120),
    )
    .await;
    rep.add(
        "get_8_clients",
        "GET one pod, 8 clients (20,000)",
        format!(
            "{:.0}/s  (p50 {} p99 {})",
            s.rate(),
            ms(s.p50_us),
            ms(s.p99_us)
        ),
        "",
        s.json(),
    );

    let watchers = Api::many(target, cfg.watchers)?;
    let writers = Api::many(target, 8)?;
    let mut rates = Vec::new();
    if cfg.watch_rate > 0.0 {
        rates.push(Some(cfg.watch_rate));
    }
    rates.push(None);
    for rate in rates {
        let plan = CreatePlan {
            namespace: ns.clone(),
            first: next,
            count: cfg.watch_events,
            max_time: Duration::from_secs(300),
        };
        next += cfg.watch_events;
        let key = if rate.is_some() {
            "watch_paced"
        } else {
            "watch_unpaced"
        };
        let how = rate
            .map(|r| format!("at {r:.0}/s"))
            .unwrap_or_else(|| "unpaced, 8 clients".into());
        let name = format!(
            "watch lag, {} watchers x {} events (creates {how})",
            cfg.watchers, cfg.watch_events
        );
        match watch_fanout(&watchers, &writers, &plan, rate).await {
            Ok(w) => {
                stored += w.creates.ok as usize;
                let mut raw = w.lag.json();
                raw["delivered"] = json!(w.received);
                raw["complete_watchers"] = json!(w.complete);
                raw["creates"] = w.creates.json();
                let value = format!(
                    "p50 {} p99 {} max {}  ({}/{} complete, {:.0} events/s, creates {:.0}/s)",
                    ms(w.lag.p50_us),
                    ms(w.lag.p99_us),
                    ms(w.lag.max_us),
                    w.complete,
                    w.watchers,
                    w.lag.rate(),
                    w.creates.rate()
                );
                rep.add(key, &name, value, "", raw);
            }
            Err(e) => rep.failed(key, &name, &e),
        }
    }
    drop(watchers);

    if stored < cfg.pods {
        let count = cfg.pods - stored;
        let clients = Api::many(target, 16)?;
        let plan = CreatePlan {
            namespace: ns.clone(),
            first: next,
            count,
            max_time: Duration::from_secs(1800),
        };
        let s = creates_closed(&clients, &plan).await;
        stored += s.ok as usize;
        rep.add(
            "load",
            &format!("load to {} pods, 16 clients ({count} creates)", cfg.pods),
            format!(
                "{:.0}/s  (p50 {} p99 {}, {} errors)",
                s.rate(),
                ms(s.p50_us),
                ms(s.p99_us),
                s.errors
            ),
            "",
            s.json(),
        );
    }
    rep.json.insert("pods_stored".into(), json!(stored));

    for (key, rv0) in [("list_whole", false), ("list_whole_rv0", true)] {
        let name = format!(
            "LIST {stored} pods whole{}",
            if rv0 { ", resourceVersion=0" } else { "" }
        );
        match list_whole(&admin, &ns, cfg.list_reps, rv0).await {
            Ok(runs) => {
                let mut secs: Vec<f64> = runs.iter().map(|r| r.elapsed.as_secs_f64()).collect();
                secs.sort_by(f64::total_cmp);
                let (items, bytes) = runs.first().map(|r| (r.items, r.bytes)).unwrap_or_default();
                rep.add(
                    key,
                    &name,
                    format!(
                        "median {:.2}s min {:.2}s  ({items} items, {})",
                        secs[secs.len() / 2],
                        secs[0],
                        mib(bytes as u64)
                    ),
                    "",
                    json!({ "seconds": secs, "items": items, "bytes": bytes }),
                );
            }
            Err(e) => rep.failed(key, &name, &e),
        }
    }
    let name = format!("LIST {stored} pods in pages of {}", cfg.page);
    match list_paged(&admin, &ns, cfg.page, Duration::from_secs(900)).await {
        Ok(w) => {
            let mut raw = w.page.json();
            raw["items"] = json!(w.items);
            raw["pages"] = json!(w.pages);
            rep.add(
                "list_paged",
                &name,
                format!(
                    "walk {:.2}s, page p50 {} p99 {} max {}  ({} items)",
                    w.elapsed.as_secs_f64(),
                    ms(w.page.p50_us),
                    ms(w.page.p99_us),
                    ms(w.page.max_us),
                    w.items
                ),
                "",
                raw,
            );
        }
        Err(e) => rep.failed("list_paged", &name, &e),
    }
    Ok(stored)
}

/// Adds the RSS of `pid` (and etcd's) after settling.
async fn add_rss(
    rep: &mut Report,
    key: &str,
    name: &str,
    goal: &str,
    pid: u32,
    etcd: Option<&Etcd>,
    settle: Duration,
) {
    tokio::time::sleep(settle).await;
    let rss = rss_bytes(pid).unwrap_or(0);
    let etcd_rss = etcd.and_then(|e| rss_bytes(e.pid()));
    let extra = etcd_rss
        .map(|b| format!("  (etcd: {})", mib(b)))
        .unwrap_or_default();
    rep.add(
        key,
        name,
        format!("{}{extra}", mib(rss)),
        goal,
        json!({ "rss_bytes": rss, "etcd_rss_bytes": etcd_rss }),
    );
}

fn ready_row(rep: &mut Report, key: &str, name: &str, goal: &str, s: &Server) {
    let ms = s.ready_after.as_secs_f64() * 1000.0;
    rep.add(key, name, format!("{ms:.0} ms"), goal, json!({ "ms": ms }));
}

/// Everything on one store (`sqlite` or `etcd`), with a server started from `bin`.
pub async fn run_store(bin: &Path, store: &str, cfg: &Config) -> Result<Report> {
    let mut rep = Report::new(store);
    let etcd = match store {
        "etcd" => Some(Etcd::start().await?),
        "sqlite" => None,
        other => anyhow::bail!("unknown store {other:?} (want sqlite or etcd)"),
    };
    let endpoint = etcd.as_ref().map(|e| e.endpoint.clone());
    let tmp = tempfile::Builder::new().prefix("rkube-bench").tempdir()?;
    let data_dir = tmp.path().join("data");
    let within = Duration::from_secs(120);

    let mut server = Server::start(bin, &data_dir, endpoint.as_deref(), within).await?;
    ready_row(
        &mut rep,
        "ready_first_boot_ms",
        "start -> /readyz, empty, first boot",
        "<= 300 ms",
        &server,
    );
    add_rss(
        &mut rep,
        "rss_idle",
        "server RSS idle, empty",
        "<= 50 MB",
        server.pid(),
        etcd.as_ref(),
        cfg.settle,
    )
    .await;
    server.stop();
    let mut server = Server::start(bin, &data_dir, endpoint.as_deref(), within).await?;
    ready_row(
        &mut rep,
        "ready_restart_empty_ms",
        "start -> /readyz, empty, restart",
        "<= 300 ms",
        &server,
    );

    let target = kubeconfig::load(&server.kubeconfig())?;
    let stored = match measure_api(&mut rep, &target, cfg).await {
        Ok(n) => n,
        Err(e) => {
            rep.failed("api", "API measurements", &e);
            eprintln!("server log tail:\n{}", server.log_tail());
            return Ok(rep);
        }
    };
    add_rss(
        &mut rep,
        "rss_loaded",
        &format!("server RSS holding {stored} pods"),
        "<= 1.5 GB",
        server.pid(),
        etcd.as_ref(),
        cfg.settle,
    )
    .await;
    server.stop();
    let server = Server::start(bin, &data_dir, endpoint.as_deref(), within)
        .await
        .context("restarting with pods stored")?;
    ready_row(
        &mut rep,
        "ready_restart_loaded_ms",
        &format!("start -> /readyz, {stored} pods stored"),
        "<= 3 s",
        &server,
    );
    add_rss(
        &mut rep,
        "rss_after_restart",
        &format!("server RSS after restart with {stored} pods"),
        "",
        server.pid(),
        etcd.as_ref(),
        cfg.settle,
    )
    .await;
    drop(server);
    drop(etcd);
    Ok(rep)
}

/// Machine facts plus the config, for the JSON.
pub fn machine_json(cfg: &Config) -> Value {
    let mut m = crate::report::machine();
    m["pods"] = json!(cfg.pods);
    m["rate"] = json!(cfg.rate);
    m["watchers"] = json!(cfg.watchers);
    m["watch_events"] = json!(cfg.watch_events);
    m["watch_rate"] = json!(cfg.watch_rate);
    m
}
