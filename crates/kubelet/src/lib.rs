//! The rkube node agent: a kubelet that runs the pods bound to its node in a
//! CRI v1 runtime (containerd).
//!
//! [`run`] registers the Node (capacity, addresses, conditions, images),
//! renews its Lease, writes the node's CNI bridge network once the node IPAM
//! controller gives it a pod CIDR, and runs one worker per pod: sandbox,
//! image pulls, init containers in order, app containers with upstream's
//! restart policies and CrashLoopBackOff, status reports, and graceful
//! deletion. Everything it makes carries the pod's UID and the node's name as
//! CRI labels, so a restarted agent adopts running pods without restarting
//! them.
//!
//! Module map, bottom up: [`runtime`] (the CRI boundary and its fake),
//! [`pod_state`] (what the runtime holds for a pod), [`actions`] (what to do
//! next, pure), [`status`] (the API status, pure), [`pod_worker`] (executes
//! both), [`pod_workers`] and [`pod_source`] (one worker per pod from the
//! API watch), [`node_status`], [`lease`], [`network`], [`agent`] (wiring).

pub mod actions;
pub mod agent;
pub mod backoff;
pub mod config;
pub mod container;
pub mod dns;
pub mod env;
pub mod error;
pub mod events;
pub mod handlers;
pub mod images;
pub mod labels;
pub mod lease;
pub mod logs;
pub mod machine;
pub mod network;
pub mod node_status;
pub mod pod_source;
pub mod pod_state;
pub mod pod_worker;
pub mod pod_workers;
pub mod podutil;
pub mod prober;
pub mod quantity;
pub mod runtime;
pub mod sandbox;
pub mod server;
pub mod service_env;
pub mod shutdown;
pub mod static_pods;
pub mod stats;
pub mod status;
pub mod status_manager;
pub mod streaming;
pub mod termination_message;
pub mod volumes;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use config::KubeletConfig;
pub use error::KubeletError;

/// Runs the node agent against the CRI runtime at `config.runtime_endpoint`
/// until `stop`. An absent runtime is waited for (with a warning), so a
/// server that runs the agent in-process keeps serving without one.
pub async fn run(
    client: kube::Client,
    config: KubeletConfig,
    stop: CancellationToken,
) -> Result<(), KubeletError> {
    let shutdown = Arc::new(shutdown::NodeShutdown::default());
    run_until(client, config, stop, shutdown).await
}

/// As [`run`], with a node shutdown the caller can begin (on SIGTERM when
/// `config.shutdown_grace_period` is set).
pub async fn run_until(
    client: kube::Client,
    config: KubeletConfig,
    stop: CancellationToken,
    shutdown: Arc<shutdown::NodeShutdown>,
) -> Result<(), KubeletError> {
    config.validate()?;
    let runtime = Arc::new(runtime::cri::CriRuntime::lazy(&config.runtime_endpoint)?);
    agent::run_with(client, config, runtime, stop, shutdown).await
}

#[cfg(test)]
mod worker_tests;
