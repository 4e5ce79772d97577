//! Running the whole list on one store: a server (and etcd) this process starts, RSS, restarts.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

pub use crate::config::{
    Config, machine_json, random_namespace, rkube_bin, target_dir, workspace_root,
};
use crate::kubeconfig;
pub use crate::measure::measure_api;
use crate::process::{Etcd, Server, rss_bytes};
use crate::report::{Report, mib};

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

    let (mut server, data_dir) =
        match Server::start(bin, &data_dir, endpoint.as_deref(), within).await {
            Ok(s) => (s, data_dir),
            Err(e) => {
                // A failed first boot is a finding; note it and try once more on a fresh dir.
                rep.failed("first_boot_attempt", "first boot (will retry once)", &e);
                let again = tmp.path().join("data-retry");
                (
                    Server::start(bin, &again, endpoint.as_deref(), within).await?,
                    again,
                )
            }
        };
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
    let (mut server, data_dir) =
        match Server::start(bin, &data_dir, endpoint.as_deref(), within).await {
            Ok(s) => (s, data_dir),
            Err(e) => {
                // A failed first boot is a finding; note it and try once more on a fresh dir.
                rep.failed("first_boot_attempt", "first boot (will retry once)", &e);
                let again = tmp.path().join("data-retry");
                (
                    Server::start(bin, &again, endpoint.as_deref(), within).await?,
                    again,
                )
            }
        };
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
