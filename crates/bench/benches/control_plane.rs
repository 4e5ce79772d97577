//! `cargo bench -p rkube-bench --bench control_plane`: scheduler, controllers and simulated nodes at scale.

use rkube_bench::control_plane::{self, CpConfig};
use rkube_bench::report::{machine, write_json};
use rkube_bench::suite::{rkube_bin, target_dir};

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "control_plane bench: run it with `cargo bench -p rkube-bench --bench control_plane` (skipped under cargo test)"
        );
        return;
    }
    let cfg = CpConfig::from_env();
    let mut machine = machine();
    machine["config"] = cfg.json();
    println!("rkube control-plane bench: {cfg:?}");
    println!("machine: {machine}  (figures are noisy when other work shares the CPUs)");
    let Some(bin) = rkube_bin() else {
        println!(
            "rkube release binary not found at {}: run `cargo build --release -p rkube` first (or set RKUBE_BIN); skipping",
            target_dir().join("release/rkube").display()
        );
        return;
    };
    println!("server binary: {}", bin.display());
    let rep = match control_plane::run(&bin, &cfg).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = rkube_bench::report::Report::new("control-plane");
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
    let path = target_dir().join("bench-control-plane.json");
    match write_json(&path, machine, &[rep]) {
        Ok(()) => println!("written: {}", path.display()),
        Err(e) => println!("could not write {}: {e:#}", path.display()),
    }
}
