//! `rkube agent`: joins a server as a node agent (a kubelet running pods in
//! containerd through CRI); with `--simulate N`, runs N simulated nodes.
//!
//! SIGTERM or SIGINT stops the agent; the pods' containers keep running and a
//! restarted agent adopts them. With `--shutdown-grace-period`, SIGTERM is a
//! node shutdown instead: every pod is stopped gracefully and reported
//! Failed, the node NotReady, then the agent exits. Signals for failover tests of simulated nodes:
//! SIGUSR1 silences every simulated node (leases and status stop), SIGUSR2
//! brings them back.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Taint;
use rkube_kubelet::shutdown::NodeShutdown;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::cli::AgentArgs;

/// Parses `KEY[=VALUE]:EFFECT`.
fn parse_taint(s: &str) -> Result<Taint> {
    let (kv, effect) = s
        .rsplit_once(':')
        .with_context(|| format!("taint {s:?}: want KEY[=VALUE]:EFFECT"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        bail!("taint {s:?}: effect must be NoSchedule, PreferNoSchedule or NoExecute");
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (kv.to_string(), None),
    };
    Ok(Taint {
        key,
        value,
        effect: effect.to_string(),
        time_added: None,
    })
}

fn sim_config(args: &AgentArgs, count: u32) -> Result<rkube_simnode::SimConfig> {
    let mut labels = BTreeMap::new();
    for l in &args.node_labels {
        let (k, v) = l
            .split_once('=')
            .with_context(|| format!("--node-label {l:?}: want KEY=VALUE"))?;
        labels.insert(k.to_string(), v.to_string());
    }
    let taints = args
        .node_taints
        .iter()
        .map(|t| parse_taint(t))
        .collect::<Result<Vec<_>>>()?;
    anyhow::ensure!(
        args.sim_ready_delay >= 0.0,
        "--sim-ready-delay must not be negative"
    );
    Ok(rkube_simnode::SimConfig {
        count,
        name_prefix: args.sim_name_prefix.clone(),
        cpu: args.sim_cpu.clone(),
        memory: args.sim_memory.clone(),
        pods: args.sim_pods,
        labels,
        taints,
        ready_delay: Duration::from_secs_f64(args.sim_ready_delay),
        lease_duration_seconds: args.sim_node_lease_duration,
        renew_interval: Duration::from_secs_f64(f64::from(args.sim_node_lease_duration) / 4.0),
        ..Default::default()
    })
}

/// The node name: the flag, else this machine's host name in lower case.
pub fn node_name(flag: Option<&str>) -> Result<String> {
    match flag {
        Some(n) => Ok(n.to_string()),
        None => {
            let h = nix::unistd::gethostname().context("reading the host name")?;
            Ok(h.to_string_lossy().to_lowercase())
        }
    }
}

/// The agent's directory for a data directory (`DIR/agent`), absolute.
pub fn agent_dir(data_dir: &std::path::Path) -> Result<std::path::PathBuf> {
    let dir = if data_dir.is_absolute() {
        data_dir.to_path_buf()
    } else {
        std::env::current_dir()
            .context("current directory")?
            .join(data_dir)
    };
    Ok(dir.join("agent"))
}

fn kubelet_config(args: &AgentArgs) -> Result<rkube_kubelet::KubeletConfig> {
    let mut config = rkube_kubelet::KubeletConfig::new(
        node_name(args.node_name.as_deref())?,
        agent_dir(&args.data_dir)?,
    );
    config.runtime_endpoint = args.container_runtime_endpoint.clone();
    config.node_ip = args.node_ip;
    config.kubelet_port = args.kubelet_port;
    config.server_token = Some(args.token.clone());
    config.cluster_dns = vec![args.cluster_dns];
    config.cluster_domain = args.cluster_domain.clone();
    config.shutdown_grace_period = args.shutdown_grace_period;
    config.shutdown_grace_period_critical_pods = args.shutdown_grace_period_critical_pods;
    for l in &args.node_labels {
        let (k, v) = l
            .split_once('=')
            .with_context(|| format!("--node-label {l:?}: want KEY=VALUE"))?;
        config.node_labels.insert(k.to_string(), v.to_string());
    }
    config.validate()?;
    Ok(config)
}

/// Runs the real node agent until SIGTERM or SIGINT; SIGTERM with a
/// shutdown grace period first shuts the node down gracefully.
async fn kubelet(server: &str, token: &str, config: rkube_kubelet::KubeletConfig) -> Result<()> {
    let client = crate::client::for_agent(server, token).await?;
    let stop = CancellationToken::new();
    let shutdown = Arc::new(NodeShutdown::new(
        config.shutdown_grace_period,
        config.shutdown_grace_period_critical_pods,
    ));
    let mut agent = tokio::spawn(rkube_kubelet::run_until(
        client,
        config,
        stop.clone(),
        shutdown.clone(),
    ));
    let (mut term, mut int) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
    );
    let graceful = tokio::select! {
        _ = term.recv() => shutdown.enabled(),
        _ = int.recv() => false,
        r = &mut agent => {
            return match r {
                Ok(r) => r.context("node agent"),
                Err(e) => Err(anyhow::anyhow!("node agent: {e}")),
            };
        }
    };
    if graceful {
        tracing::info!(grace = ?shutdown.grace(), "node shutdown: stopping every pod");
        shutdown.begin();
        // The pods' own grace periods fit in the shutdown's; a little more for
        // the final status writes. A second SIGINT or SIGTERM cuts it short.
        let limit = shutdown.grace() + Duration::from_secs(5);
        tokio::select! {
            r = tokio::time::timeout(limit, shutdown.finished()) => match r {
                Ok(()) => tracing::info!("every pod stopped"),
                Err(_) => tracing::warn!(pending = shutdown.pending(), "the shutdown grace period ran out"),
            },
            _ = term.recv() => tracing::warn!("stopping before the pods stopped"),
            _ = int.recv() => tracing::warn!("stopping before the pods stopped"),
        }
        // Let the node status report NotReady before the agent goes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.cancel();
        return Ok(());
    }
    tracing::info!("stopping (containers keep running)");
    stop.cancel();
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("rkube agent: starting runtime: {e}");
            ExitCode::FAILURE
        })
}

/// Entry point of `rkube agent`.
pub fn run(args: AgentArgs) -> ExitCode {
    let Some(count) = args.simulate else {
        let config = match kubelet_config(&args) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("rkube agent: {e:#}");
                return ExitCode::from(2);
            }
        };
        let runtime = match runtime() {
            Ok(r) => r,
            Err(code) => return code,
        };
        return match runtime.block_on(kubelet(&args.server, &args.token, config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rkube agent: {e:#}");
                ExitCode::FAILURE
            }
        };
    };
    let config = match sim_config(&args, count) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rkube agent: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(simulate(&args.server, &args.token, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rkube agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn simulate(server: &str, token: &str, config: rkube_simnode::SimConfig) -> Result<()> {
    let client = crate::client::for_agent(server, token).await?;
    let stop = CancellationToken::new();
    let (handle, sim) = rkube_simnode::start(client, config, stop.clone())
        .await
        .context("starting simulated nodes")?;
    let (mut term, mut int, mut usr1, mut usr2) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
        signal(SignalKind::user_defined1())?,
        signal(SignalKind::user_defined2())?,
    );
    let waiter = tokio::spawn(sim.wait());
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = usr1.recv() => {
                tracing::info!("silencing every simulated node");
                handle.set_all_silenced(true);
            }
            _ = usr2.recv() => {
                tracing::info!("resuming every simulated node");
                handle.set_all_silenced(false);
            }
        }
    }
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), waiter).await;
    Ok(())
}
