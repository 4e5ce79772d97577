//! `cargo bench -p rkube-bench --bench node_agent`: one real node on containerd — pod start-up
//! beside the CRI floor, deletion, agent RSS.

use rkube_bench::node_agent::{self, NaConfig};
use rkube_bench::report::{machine, write_json};
use rkube_bench::suite::{rkube_bin, target_dir};

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "node_agent bench: run it with `cargo bench -p rkube-bench --bench node_agent` (skipped under cargo test)"
        );
        return;
    }
    let cfg = NaConfig::from_env();
    let mut machine = machine();
    machine["config"] = cfg.json();
    println!("rkube node-agent bench: {cfg:?}");
    println!("machine: {machine}  (figures are noisy when other work shares the CPUs)");
    let Some(bin) = rkube_bin() else {
        println!(
            "rkube release binary not found at {}: run `cargo build --release -p rkube` first (or set RKUBE_BIN); skipping",
            target_dir().join("release/rkube").display()
        );
        return;
    };
    if let Err(e) = node_agent::runtime_answers(&cfg.socket).await {
        println!("skipping: {e:#}");
        return;
    }
    println!("binary: {}", bin.display());
    let rep = match node_agent::run(&bin, &cfg).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = rkube_bench::report::Report::new("node-agent");
            r.failed("run", "run", &e);
            r
        }
    };
    println!();
    println!("==================== summary ====================");
    println!("machine: {machine}");
    println!(
        "loadavg at end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!("{}", rep.table());
    let path = node_agent::json_path(&target_dir());
    match write_json(&path, machine, &[rep]) {
        Ok(()) => println!("written: {}", path.display()),
        Err(e) => println!("could not write {}: {e:#}", path.display()),
    }
}
