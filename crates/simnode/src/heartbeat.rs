//! Renews every node's lease and re-posts its status, spread evenly over the intervals.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::fleet::{Fleet, NodeSlot};
use crate::{lease, nodes};

/// The shortest spacing between two batches of renewals.
const MIN_TICK: Duration = Duration::from_millis(100);

/// How the nodes are split into batches: node `i` renews its lease at tick
/// `i % lease_ticks` of each cycle, and posts its status every `status_every` cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub tick: Duration,
    pub lease_ticks: u64,
    pub status_every: u64,
}

impl Schedule {
    pub fn new(count: u32, renew: Duration, status: Duration) -> Self {
        let renew = renew.max(MIN_TICK);
        let max_ticks = (renew.as_millis() / MIN_TICK.as_millis()).max(1) as u64;
        let lease_ticks = u64::from(count).clamp(1, max_ticks);
        let tick = renew / u32::try_from(lease_ticks).unwrap_or(1);
        let status_every = (status.as_millis() / renew.as_millis()).max(1) as u64;
        Schedule {
            tick,
            lease_ticks,
            status_every,
        }
    }

    /// At tick number `n`, whether node `i` renews its lease and whether it posts its status.
    pub fn due(&self, n: u64, i: u64) -> (bool, bool) {
        let lease = i % self.lease_ticks == n % self.lease_ticks;
        let cycle = n / self.lease_ticks;
        (
            lease,
            lease && (cycle + i / self.lease_ticks).is_multiple_of(self.status_every),
        )
    }
}

async fn post_status(client: &kube::Client, fleet: &Fleet, slot: &NodeSlot, full: bool) {
    let api: Api<Node> = Api::all(client.clone());
    let now = jiff::Timestamp::now();
    let since = jiff::Timestamp::from_second(slot.ready_since()).unwrap_or(now);
    let status = if full {
        nodes::status(&fleet.config, &slot.name, slot.ip, now, since)
    } else {
        json!({"conditions": nodes::conditions(now, since)})
    };
    let patch = json!({ "status": status });
    if let Err(e) = api
        .patch_status(&slot.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(node = %slot.name, error = %e, "posting node status failed");
    }
}

async fn renew(client: &kube::Client, fleet: &Fleet, slot: &NodeSlot) {
    if let Err(e) = lease::ensure(client, &fleet.config, &slot.name, &slot.uid).await {
        tracing::warn!(node = %slot.name, error = %e, "renewing node lease failed");
    }
}

/// Runs until `stop`: renews leases and posts statuses of nodes not silenced;
/// a node index on `resumed` gets both at once.
pub async fn run(
    client: kube::Client,
    fleet: Arc<Fleet>,
    mut resumed: mpsc::UnboundedReceiver<u32>,
    stop: CancellationToken,
) {
    let schedule = Schedule::new(
        fleet.config.count,
        fleet.config.renew_interval,
        fleet.config.status_interval,
    );
    tracing::debug!(?schedule, "node heartbeats scheduled");
    let in_flight = fleet.config.max_in_flight.max(1);
    let mut ticker = tokio::time::interval(schedule.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick fires at once; registration just renewed everything.
    ticker.tick().await;
    let mut n: u64 = 1;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            Some(i) = resumed.recv() => {
                if let Some(slot) = fleet.slot(i) {
                    futures::join!(renew(&client, &fleet, slot), post_status(&client, &fleet, slot, true));
                }
            }
            _ = ticker.tick() => {
                let due: Vec<(usize, bool)> = fleet
                    .nodes
                    .iter()
                    .enumerate()
                    .filter_map(|(i, slot)| {
                        let (lease, status) = schedule.due(n, i as u64);
                        (lease && !slot.silenced()).then_some((i, status))
                    })
                    .collect();
                let work = futures::stream::iter(due)
                    .map(|(i, status)| {
                        let (client, fleet) = (client.clone(), fleet.clone());
                        async move {
                            let slot = &fleet.nodes[i];
                            renew(&client, &fleet, slot).await;
                            if status {
                                post_status(&client, &fleet, slot, false).await;
                            }
                        }
                    })
                    .buffer_unordered(in_flight)
                    .for_each(|()| async {});
                tokio::select! {
                    _ = stop.cancelled() => return,
                    () = work => {}
                }
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spreads_nodes_over_the_interval() {
        let s = Schedule::new(5000, Duration::from_secs(10), Duration::from_secs(60));
        assert_eq!(s.lease_ticks, 100);
        assert_eq!(s.tick, Duration::from_millis(100));
        assert_eq!(s.status_every, 6);
        // Over one cycle every node renews exactly once.
        let mut renewals = vec![0u32; 5000];
        let mut statuses = 0;
        for n in 0..100 * 6 {
            for (i, r) in renewals.iter_mut().enumerate() {
                let (lease, status) = s.due(n, i as u64);
                *r += u32::from(lease);
                statuses += u32::from(status);
            }
        }
        assert!(renewals.iter().all(|&r| r == 6));
        assert_eq!(statuses, 5000);
        // Small fleets tick once per node.
        let s = Schedule::new(3, Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!((s.lease_ticks, s.status_every), (3, 2));
    }
}
