//! Simulated nodes, like kwok: register Nodes, renew their Leases and status, and
//! play the kubelet's part for the pods bound to them without running containers.
//!
//! [`run`] registers `count` nodes and runs until cancelled; [`start`] does the
//! same in the background and returns a [`SimHandle`] that can silence single
//! nodes (for failover tests) and a [`Simulator`] to wait on.
//!
//! What a simulated node does for a pod bound to it:
//! - it runs the init containers one after another, then every container,
//!   reporting phase `Running`, a pod IP from the node's pod CIDR (see [`ipam`]),
//!   `hostIP`, `startTime`, container statuses and the kubelet's conditions;
//! - containers are ready `ready_delay` after they start; the pod is Ready when
//!   they all are and every readiness gate's condition is True;
//! - containers whose command is a recognised finite form (see [`command`]) exit,
//!   and the pod goes `Succeeded`/`Failed` or the container restarts with the
//!   kubelet's back-off, following `restartPolicy`;
//! - a pod marked for deletion is removed (grace period 0, uid precondition)
//!   after `termination_delay`, capped by its grace period.

pub mod clock;
pub mod command;
pub mod config;
pub mod container;
pub mod error;
pub mod fleet;
pub mod heartbeat;
pub mod ipam;
pub mod lease;
pub mod nodes;
pub mod pods;
pub mod podsim;
pub mod status;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::SimConfig;
pub use error::SimError;
pub use fleet::SimHandle;

/// The background tasks of a started simulator.
pub struct Simulator {
    tasks: JoinSet<()>,
}

impl Simulator {
    /// Waits until every task has ended (after the stop token is cancelled).
    pub async fn wait(mut self) -> Result<(), SimError> {
        while let Some(res) = self.tasks.join_next().await {
            res.map_err(|source| SimError::Task {
                task: "simnode",
                source,
            })?;
        }
        Ok(())
    }
}

/// Registers the configured nodes, then runs their heartbeats and pods in the
/// background until `stop` is cancelled.
pub async fn start(
    client: kube::Client,
    config: SimConfig,
    stop: CancellationToken,
) -> Result<(SimHandle, Simulator), SimError> {
    if config.count == 0 {
        return Err(SimError::Config("count must be at least 1".into()));
    }
    if config.renew_interval.is_zero() {
        return Err(SimError::Config("renew_interval must be positive".into()));
    }
    let started = std::time::Instant::now();
    let slots = nodes::register(&client, &config).await?;
    tracing::info!(
        nodes = slots.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "simulated nodes registered"
    );
    let fleet = Arc::new(fleet::Fleet::new(config, slots));
    let (hb_tx, hb_rx) = mpsc::unbounded_channel();
    let (pod_tx, pod_rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    tasks.spawn(
        heartbeat::run(client.clone(), fleet.clone(), hb_rx, stop.clone())
            .instrument(tracing::info_span!("simnode-heartbeat")),
    );
    tasks.spawn(
        pods::Engine::new(client, fleet.clone())
            .run(pod_rx, stop)
            .instrument(tracing::info_span!("simnode-pods")),
    );
    Ok((
        SimHandle::new(fleet, vec![hb_tx, pod_tx]),
        Simulator { tasks },
    ))
}

/// Runs `config.count` simulated nodes until `stop` is cancelled.
pub async fn run(
    client: kube::Client,
    config: SimConfig,
    stop: CancellationToken,
) -> Result<(), SimError> {
    let (_handle, sim) = start(client, config, stop).await?;
    sim.wait().await
}
