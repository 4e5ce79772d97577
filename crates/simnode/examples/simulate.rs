//! Runs N simulated nodes against a kubeconfig for a while and prints the process's RSS and CPU.
//!
//! `cargo run --release -p rkube-simnode --example simulate -- KUBECONFIG COUNT SECONDS`

use std::time::Duration;

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use rkube_simnode::{SimConfig, start};
use tokio_util::sync::CancellationToken;

fn proc_field(file: &str, key: &str) -> String {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l.trim_start_matches(key).trim().to_string())
        .unwrap_or_default()
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .context("usage: simulate KUBECONFIG COUNT SECONDS")?;
    let count: u32 = args.get(2).map_or(Ok(1000), |s| s.parse())?;
    let secs: u64 = args.get(3).map_or(Ok(60), |s| s.parse())?;
    let kc = Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    let client = kube::Client::try_from(config)?;
    let stop = CancellationToken::new();
    let t0 = std::time::Instant::now();
    let (_handle, sim) = start(
        client,
        SimConfig {
            count,
            ..SimConfig::default()
        },
        stop.clone(),
    )
    .await?;
    let reg = t0.elapsed();
    let cpu_reg = cpu_seconds();
    println!(
        "registered {count} nodes in {:.1}s (cpu {cpu_reg:.1}s, rss {})",
        reg.as_secs_f64(),
        proc_field("/proc/self/status", "VmRSS:")
    );
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = cpu_seconds() - cpu_reg;
    println!(
        "steady {secs}s: cpu {cpu:.1}s ({:.1}% of one core), rss {}, peak {}",
        100.0 * cpu / secs as f64,
        proc_field("/proc/self/status", "VmRSS:"),
        proc_field("/proc/self/status", "VmHWM:")
    );
    stop.cancel();
    sim.wait().await?;
    Ok(())
}
