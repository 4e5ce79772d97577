//! The control-plane bench at smoke size against a real `rkube` binary: every part runs to the end.
//! Checks outcomes only (pods bound, Deployments Running), never timings.

use std::path::PathBuf;

use rkube_bench::control_plane::{self, CpConfig};
use rkube_bench::suite::target_dir;

/// `$RKUBE_BIN`, else the release binary, else the debug one.
fn rkube_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RKUBE_BIN") {
        return Some(PathBuf::from(p));
    }
    ["release", "debug"]
        .iter()
        .map(|p| target_dir().join(p).join("rkube"))
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_sizes_run_every_part() -> anyhow::Result<()> {
    let Some(bin) = rkube_bin() else {
        println!("skipped: no rkube binary (cargo build -p rkube)");
        return Ok(());
    };
    let cfg = CpConfig::smoke();
    let rep = control_plane::run(&bin, &cfg).await?;
    println!("{}", rep.table());
    let j = &rep.json;
    assert_eq!(j["sched"]["bound"], cfg.sched_pods, "{:#?}", j["sched"]);
    assert_eq!(j["affinity"]["bound"], cfg.aa_pods, "{:#?}", j["affinity"]);
    let runs = j["deploy_start"]["runs_ms"].as_array().map(Vec::len);
    assert_eq!(runs, Some(cfg.deploy_runs), "{:#?}", j["deploy_start"]);
    assert!(j["rss_at_scale"]["server_bytes"].as_u64() > Some(0));
    Ok(())
}
