//! `cargo bench -p rkube-bench`: the API server figures on SQLite and etcd (or any kubeconfig).

use rkube_bench::report::{Report, write_json};
use rkube_bench::suite::{Config, machine_json, measure_api, rkube_bin, run_store, target_dir};

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "apiserver bench: run it with `cargo bench -p rkube-bench` (skipped under cargo test)"
        );
        return;
    }
    let cfg = Config::from_env();
    let machine = machine_json(&cfg);
    println!("rkube apiserver bench: {cfg:?}");
    println!("machine: {machine}  (figures are noisy when other work shares the CPUs)");
    let mut reports = Vec::new();
    if let Some(kc) = std::env::var_os("RKUBE_BENCH_KUBECONFIG") {
        let mut rep = Report::new("external");
        match rkube_bench::kubeconfig::load(std::path::Path::new(&kc)) {
            Ok(target) => {
                if let Err(e) = measure_api(&mut rep, &target, &cfg).await {
                    rep.failed("api", "API measurements", &e);
                }
            }
            Err(e) => rep.failed("kubeconfig", "kubeconfig", &e),
        }
        reports.push(rep);
    } else {
        let Some(bin) = rkube_bin() else {
            println!(
                "rkube release binary not found at {}: run `cargo build --release -p rkube` first (or set RKUBE_BIN); skipping",
                target_dir().join("release/rkube").display()
            );
            return;
        };
        println!("server binary: {}", bin.display());
        for store in &cfg.stores {
            println!("--- store {store} ---");
            match run_store(&bin, store, &cfg).await {
                Ok(r) => reports.push(r),
                Err(e) => {
                    let mut r = Report::new(store);
                    r.failed("run", "run", &e);
                    reports.push(r);
                }
            }
        }
    }
    println!();
    println!("==================== summary ====================");
    println!("machine: {machine}");
    println!(
        "loadavg at end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    for r in &reports {
        println!("{}", r.table());
    }
    let path = target_dir().join("bench-apiserver.json");
    match write_json(&path, machine, &reports) {
        Ok(()) => println!("written: {}", path.display()),
        Err(e) => println!("could not write {}: {e:#}", path.display()),
    }
}
