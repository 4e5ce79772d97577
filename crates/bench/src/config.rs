//! Bench configuration from `RKUBE_BENCH_*`, and where the workspace, target dir and server binary are.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

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
    pub(crate) fn per_run(&self) -> usize {
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
