//! `rkube server`: validates flags into a typed config, then runs until a signal.

use std::process::ExitCode;

use anyhow::{Context, Result};
use rkube_apiserver::{Cidr, ServerConfig};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::cli::ServerArgs;

fn config_from(args: &ServerArgs) -> Result<ServerConfig> {
    let service_cidr: Cidr = args
        .service_cidr
        .parse()
        .map_err(anyhow::Error::msg)
        .context("--service-cidr")?;
    let cluster_cidr: Cidr = args
        .cluster_cidr
        .parse()
        .map_err(anyhow::Error::msg)
        .context("--cluster-cidr")?;
    let node_port_range = rkube_apiserver::config::parse_port_range(&args.service_node_port_range)
        .map_err(anyhow::Error::msg)
        .context("--service-node-port-range")?;
    if let Some(ep) = &args.datastore_endpoint {
        let ok = ep.starts_with("sqlite://")
            || ep.starts_with("memory://")
            || ep.starts_with("http://")
            || ep.starts_with("https://");
        anyhow::ensure!(
            ok,
            "--datastore-endpoint {ep:?}: want sqlite:///PATH, memory:// or http(s)://HOST:PORT"
        );
    }
    let data_dir = if args.data_dir.is_absolute() {
        args.data_dir.clone()
    } else {
        std::env::current_dir()
            .context("current directory")?
            .join(&args.data_dir)
    };
    Ok(ServerConfig {
        data_dir,
        bind_address: args.bind_address,
        port: args.https_listen_port,
        write_kubeconfig: args.write_kubeconfig.clone(),
        token: args.token.clone(),
        datastore_endpoint: args.datastore_endpoint.clone(),
        service_cidr,
        cluster_cidr,
        node_port_range,
        cluster_domain: args.cluster_domain.clone(),
    })
}

/// Entry point of `rkube server`.
pub fn run(args: ServerArgs) -> ExitCode {
    let config = match config_from(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rkube server: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rkube server: starting runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let agent = if args.disable_agent {
        None
    } else {
        match agent_config(&args, &config) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("rkube server: {e:#}");
                return ExitCode::from(2);
            }
        }
    };
    let components = Components {
        scheduler: !args.disable_scheduler,
        controllers: !args.disable_controller_manager,
        agent,
        cluster_cidr: config.cluster_cidr,
        node_monitor_grace_period: std::time::Duration::from_secs(args.node_monitor_grace_period),
    };
    match runtime.block_on(serve(config, components)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rkube server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The in-process node agent's configuration (k3s-style: the server is a node too).
fn agent_config(args: &ServerArgs, config: &ServerConfig) -> Result<rkube_kubelet::KubeletConfig> {
    let name = crate::agent_cmd::node_name(args.node_name.as_deref())?;
    let mut agent = rkube_kubelet::KubeletConfig::new(name, config.data_dir.join("agent"));
    agent.runtime_endpoint = args.container_runtime_endpoint.clone();
    agent.node_ip = args.node_ip;
    agent.kubelet_port = args.kubelet_port;
    agent.cluster_dns = vec![args.cluster_dns];
    agent.cluster_domain = args.cluster_domain.clone();
    agent.validate()?;
    Ok(agent)
}

/// Which in-process components run beside the API server.
#[derive(Debug, Clone)]
struct Components {
    scheduler: bool,
    controllers: bool,
    agent: Option<rkube_kubelet::KubeletConfig>,
    cluster_cidr: Cidr,
    node_monitor_grace_period: std::time::Duration,
}

/// Starts the scheduler and controllers as API clients of this server, once it is ready.
/// Their kube-rs client reaches the router in-process (`loopback`), as the admin.
async fn start_components(
    kubeconfig: std::path::PathBuf,
    loopback: rkube_apiserver::loopback::Loopback,
    which: Components,
    stop: CancellationToken,
) -> Result<()> {
    let client = kube::Client::new(loopback, "default");
    if which.scheduler {
        let (client, stop) = (client.clone(), stop.clone());
        tokio::spawn(
            async move {
                if let Err(e) =
                    rkube_scheduler::run(client, rkube_scheduler::SchedulerConfig::default(), stop)
                        .await
                {
                    tracing::error!(error = %e, "scheduler stopped");
                }
            }
            .instrument(tracing::info_span!("scheduler")),
        );
    }
    if let Some(mut agent) = which.agent {
        // The node join token, which the API server presents to node agents.
        let token_file = kubeconfig.with_file_name("token");
        agent.server_token = std::fs::read_to_string(&token_file)
            .ok()
            .map(|t| t.trim().to_string());
        let (client, stop) = (client.clone(), stop.clone());
        tokio::spawn(
            async move {
                // Without a container runtime the agent waits (and warns); the API stays up.
                if let Err(e) = rkube_kubelet::run(client, agent, stop).await {
                    tracing::error!(error = %format!("{e:#}"), "node agent stopped");
                }
            }
            .instrument(tracing::info_span!("agent")),
        );
    }
    if which.controllers {
        // The cluster CA the API server wrote beside the kubeconfig.
        let data_dir = kubeconfig.parent().unwrap_or(std::path::Path::new("."));
        let ca_file = rkube_apiserver::tls::ca_cert_path(data_dir);
        let root_ca = std::fs::read_to_string(&ca_file).ok();
        if root_ca.is_none() {
            tracing::warn!(path = %ca_file.display(), "no cluster CA: kube-root-ca.crt is not published");
        }
        tokio::spawn(
            async move {
                if let Err(e) = rkube_controllers::run(
                    client,
                    rkube_controllers::ControllersConfig {
                        cluster_cidr: which.cluster_cidr.to_string(),
                        node_monitor_grace_period: which.node_monitor_grace_period,
                        root_ca_pem: root_ca,
                        ..Default::default()
                    },
                    stop,
                )
                .await
                {
                    tracing::error!(error = %e, "controllers stopped");
                }
            }
            .instrument(tracing::info_span!("controllers")),
        );
    }
    Ok(())
}

async fn serve(config: ServerConfig, components: Components) -> Result<()> {
    let stop = CancellationToken::new();
    let signals = stop.clone();
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::info!("shutting down (a second signal exits at once)");
        signals.cancel();
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        std::process::exit(130);
    });
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let kubeconfig = config.data_dir.join("kubeconfig.yaml");
    let component_stop = stop.clone();
    tokio::spawn(async move {
        if let Ok(loopback) = ready_rx.await
            && let Err(e) = start_components(kubeconfig, loopback, components, component_stop).await
        {
            tracing::error!(error = %format!("{e:#}"), "starting control-plane components");
        }
    });
    rkube_apiserver::run(config, stop, Some(ready_tx))
        .await
        .context("API server")?;
    tracing::info!("stopped");
    Ok(())
}
