//! The node-agent bench at 3 pods against a real `rkube` binary and the machine's containerd:
//! every phase runs to the end. Checks outcomes only, never timings. Skipped, with a message,
//! when no container runtime answers or no binary is built.

use std::path::PathBuf;

use rkube_bench::node_agent::{self, NaConfig};
use rkube_bench::suite::target_dir;

/// `$RKUBE_BIN`, else the debug binary, else the release one.
fn rkube_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RKUBE_BIN") {
        return Some(PathBuf::from(p));
    }
    ["debug", "release"]
        .iter()
        .map(|p| target_dir().join(p).join("rkube"))
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pods_start_and_go() -> anyhow::Result<()> {
    let cfg = NaConfig::sized(3);
    if let Err(e) = node_agent::runtime_answers(&cfg.socket).await {
        println!("skipped: {e:#}");
        return Ok(());
    }
    let Some(bin) = rkube_bin() else {
        println!("skipped: no rkube binary (cargo build -p rkube)");
        return Ok(());
    };
    let rep = node_agent::run(&bin, &cfg).await?;
    println!("{}", rep.table());
    let j = &rep.json;
    assert_eq!(j["floor_start"]["ok"], 3, "{:#?}", j["floor_start"]);
    assert_eq!(j["pod_start"]["ok"], 3, "{:#?}", j["pod_start"]);
    assert!(j["rss_pods"]["bytes"].as_u64() > Some(0));
    assert!(j["pod_delete"]["runtime_seconds"].as_f64().is_some());
    // The agent's /stats/summary shows every running pod with memory in use.
    assert_eq!(j["stats_summary"]["pods"], 3, "{:#?}", j["stats_summary"]);
    assert_eq!(j["stats_summary"]["pods_with_memory"], 3);
    let pod = &j["stats_summary"]["first_pod"];
    assert!(
        pod["cpu"]["usageCoreNanoSeconds"].as_u64() > Some(0),
        "{pod:#}"
    );
    assert_eq!(pod["containers"][0]["name"], "c", "{pod:#}");
    assert!(
        pod["containers"][0]["memory"]["rssBytes"].is_u64(),
        "{pod:#}"
    );
    assert!(j["stats_summary"]["node_cpu"]["usageNanoCores"].is_u64());
    Ok(())
}
