//! Wires the agent together: waits for the runtime, registers the Node, then
//! runs the lease, the node status, the pod network set-up and the pods until
//! stopped. Containers keep running when the agent stops.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::NodeStatus;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::KubeletConfig;
use crate::dns::ResolvConf;
use crate::env::NodeFacts;
use crate::error::KubeletError;
use crate::events::Recorder;
use crate::machine::{self, MachineInfo};
use crate::node_status::{self, NodeFactsInput};
use crate::pod_worker::WorkerContext;
use crate::runtime::Runtime;
use crate::shutdown::{self, NodeShutdown};
use crate::status_manager::StatusManager;
use crate::{lease, network, pod_source, quantity, server};

/// How often an absent runtime is asked again.
const RUNTIME_RETRY: Duration = Duration::from_secs(5);

/// Waits until the runtime answers; `None` when stopped first.
async fn wait_for_runtime<R: Runtime>(
    runtime: &R,
    endpoint: &str,
    stop: &CancellationToken,
) -> Option<String> {
    let mut warned = false;
    loop {
        match runtime.version().await {
            Ok(v) => {
                tracing::info!(runtime = %v.runtime_name, version = %v.runtime_version, "container runtime answers");
                return Some(format!("{}://{}", v.runtime_name, v.runtime_version));
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(endpoint, error = %e, "the container runtime does not answer; the node registers once it does");
                    warned = true;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(RUNTIME_RETRY) => {}
        }
    }
}

/// Why the node is not ready, from the runtime's conditions.
async fn not_ready<R: Runtime>(runtime: &R) -> Option<String> {
    match runtime.conditions().await {
        Err(e) => Some(format!("container runtime is down: {e}")),
        Ok(conds) => {
            let find = |t: &str| conds.iter().find(|c| c.r#type == t);
            if let Some(c) = find("RuntimeReady").filter(|c| !c.status) {
                return Some(format!(
                    "container runtime not ready: RuntimeReady=false reason:{} message:{}",
                    c.reason, c.message
                ));
            }
            if let Some(c) = find("NetworkReady").filter(|c| !c.status) {
                return Some(format!(
                    "container runtime network not ready: NetworkReady=false reason:{} message:{}",
                    c.reason, c.message
                ));
            }
            None
        }
    }
}

async fn facts<R: Runtime>(
    runtime: &R,
    config: &KubeletConfig,
    machine: &MachineInfo,
    node_ip: std::net::IpAddr,
    runtime_version: &str,
) -> NodeFactsInput {
    facts_during(runtime, config, machine, node_ip, runtime_version, None).await
}

/// The node's facts; `shutdown`, once active, makes the node NotReady.
async fn facts_during<R: Runtime>(
    runtime: &R,
    config: &KubeletConfig,
    machine: &MachineInfo,
    node_ip: std::net::IpAddr,
    runtime_version: &str,
    shutdown: Option<&NodeShutdown>,
) -> NodeFactsInput {
    let not_ready = match shutdown.filter(|s| s.active()) {
        Some(_) => Some(shutdown::NOT_READY_MESSAGE.to_string()),
        None => not_ready(runtime).await,
    };
    NodeFactsInput {
        machine: machine.clone(),
        node_ip,
        hostname: config.node_name.clone(),
        runtime_version: runtime_version.to_string(),
        not_ready,
        images: runtime.list_images().await.unwrap_or_default(),
        memory_available: machine::memory_available(),
        disk_available: machine::filesystem(&config.root_dir).map(|(_, a)| a),
        max_pods: config.max_pods,
        kubelet_port: config.kubelet_port,
    }
}

/// Runs the node agent with `runtime` until `stop`.
pub async fn run_with<R: Runtime>(
    client: kube::Client,
    config: KubeletConfig,
    runtime: Arc<R>,
    stop: CancellationToken,
    shutdown: Arc<NodeShutdown>,
) -> Result<(), KubeletError> {
    config.validate()?;
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.root_dir)
        .map_err(|e| KubeletError::io("creating", &config.root_dir, e))?;
    let Some(runtime_version) = wait_for_runtime(&*runtime, &config.runtime_endpoint, &stop).await
    else {
        return Ok(());
    };
    let machine = MachineInfo::read(&config.root_dir);
    let node_ip = config.node_ip.unwrap_or_else(machine::primary_ip);

    // Register, retrying while the API server is unreachable.
    let input = facts(&*runtime, &config, &machine, node_ip, &runtime_version).await;
    let mut delay = Duration::from_millis(500);
    let node = loop {
        match node_status::register(&client, &config, &input).await {
            Ok(n) => break n,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "registering the node failed; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    tracing::info!(node = %config.node_name, ip = %node_ip, "node registered");
    let node_uid = node.metadata.uid.clone().unwrap_or_default();

    tokio::spawn(
        lease::run(
            client.clone(),
            config.node_name.clone(),
            node_uid.clone(),
            config.lease_duration_seconds,
            config.lease_renew_interval,
            stop.clone(),
        )
        .instrument(tracing::info_span!("lease")),
    );

    // The node's status: every interval, and at once when the network changes.
    let poke = Arc::new(Notify::new());
    {
        let (client, config, runtime, stop, poke, shutdown) = (
            client.clone(),
            config.clone(),
            runtime.clone(),
            stop.clone(),
            poke.clone(),
            shutdown.clone(),
        );
        let machine = machine.clone();
        let mut old: Option<NodeStatus> = node.status.clone();
        tokio::spawn(
            async move {
                let mut announced = false;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(config.node_status_interval) => {}
                        _ = poke.notified() => {}
                        _ = shutdown.begun(), if !announced => announced = true,
                    }
                    let input = facts_during(&*runtime, &config, &machine, node_ip, &runtime_version, Some(&shutdown)).await;
                    match node_status::update(&client, &config, &input, old.as_ref()).await {
                        Ok(n) => old = n.status,
                        Err(e) => tracing::warn!(error = %format!("{e:#}"), "updating the node status failed"),
                    }
                }
            }
            .instrument(tracing::info_span!("node-status")),
        );
    }

    // The pod network, once the node has a pod CIDR.
    {
        let (client, config, runtime, stop, poke) = (
            client.clone(),
            config.clone(),
            runtime.clone(),
            stop.clone(),
            poke.clone(),
        );
        tokio::spawn(
            async move {
                let Some(cidr) =
                    network::wait_for_pod_cidr(&client, &config.node_name, &stop).await
                else {
                    return;
                };
                match network::write_conflist(&config.cni_conf_dir, &config.cni_bridge, &cidr) {
                    Ok(changed) => tracing::info!(pod_cidr = %cidr, changed, dir = %config.cni_conf_dir.display(), "pod network configured"),
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "writing the CNI configuration failed"),
                }
                if let Err(e) = runtime.update_pod_cidr(&cidr).await {
                    tracing::warn!(error = %e, "telling the runtime the pod CIDR failed");
                }
                // containerd notices the file within a moment.
                for _ in 0..20 {
                    if not_ready(&*runtime).await.is_none() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                poke.notify_one();
            }
            .instrument(tracing::info_span!("network")),
        );
    }

    match config.server_token.clone() {
        Some(token) => {
            let (runtime, config, stop) = (runtime.clone(), config.clone(), stop.clone());
            tokio::spawn(
                async move {
                    if let Err(e) = server::serve(runtime, config, token, node_ip, stop).await {
                        tracing::error!(error = %format!("{e:#}"), "the kubelet API stopped");
                    }
                }
                .instrument(tracing::info_span!("server")),
            );
        }
        None => tracing::info!("no server token: the kubelet API (logs) is off"),
    }

    let capacity = i64::try_from(machine.memory_bytes).unwrap_or(i64::MAX);
    let ctx = Arc::new(WorkerContext {
        runtime,
        client: Some(client.clone()),
        status: Some(StatusManager::new(client.clone())),
        events: Recorder::start(client.clone(), &config.node_name),
        node_ip: node_ip.to_string(),
        host_resolv: ResolvConf::read(&config.resolv_conf),
        facts: NodeFacts {
            pod_ips: vec![],
            host_ip: node_ip.to_string(),
            allocatable_milli_cpu: i64::from(machine.cpus) * 1000,
            allocatable_memory: capacity - quantity::bytes("100Mi").unwrap_or(0),
        },
        memory_capacity: capacity,
        clock: crate::pod_worker::system_clock(),
        shutdown,
        config,
    });
    pod_source::run(client, ctx, node_uid, stop.clone())
        .instrument(tracing::info_span!("pods"))
        .await;
    Ok(())
}
