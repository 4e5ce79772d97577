//! Configuration of a fleet of simulated nodes.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;

/// How many simulated nodes to run and what they look like.
///
/// Build it with struct-update syntax over [`SimConfig::default`] so new
/// fields do not break callers.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of nodes.
    pub count: u32,
    /// Node names are this prefix plus a four-digit index: `sim-0000`, `sim-0001`, ...
    pub name_prefix: String,
    /// Capacity (and allocatable) cpu, as a quantity.
    pub cpu: String,
    /// Capacity (and allocatable) memory, as a quantity.
    pub memory: String,
    /// Capacity (and allocatable) pod count.
    pub pods: u32,
    /// Extra node labels, added to the standard ones.
    pub labels: BTreeMap<String, String>,
    /// Taints set when a node is created (existing nodes keep theirs).
    pub taints: Vec<Taint>,
    /// Time from a container starting to it being reported ready.
    pub ready_delay: Duration,
    /// `spec.leaseDurationSeconds` of the node leases.
    pub lease_duration_seconds: i32,
    /// How often every node lease is renewed (spread over the interval).
    pub renew_interval: Duration,
    /// How often every node status is re-posted with fresh heartbeat times (the kubelet's
    /// `nodeStatusReportFrequency`, 5 minutes: the lease is the heartbeat in between).
    pub status_interval: Duration,
    /// How long a pod with a deletionTimestamp stays Terminating before the
    /// node finishes it (capped by the pod's grace period).
    pub termination_delay: Duration,
    /// Maximum API requests in flight for pod status updates and deletions,
    /// and separately for node and lease updates.
    pub max_in_flight: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            count: 1,
            name_prefix: "sim-".to_string(),
            cpu: "32".to_string(),
            memory: "256Gi".to_string(),
            pods: 110,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            ready_delay: Duration::ZERO,
            lease_duration_seconds: 40,
            renew_interval: Duration::from_secs(10),
            status_interval: Duration::from_secs(300),
            termination_delay: Duration::from_secs(1),
            max_in_flight: 32,
        }
    }
}

impl SimConfig {
    /// The name of node `index`.
    pub fn node_name(&self, index: u32) -> String {
        format!("{}{index:04}", self.name_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_zero_padded() {
        let c = SimConfig::default();
        assert_eq!(c.node_name(0), "sim-0000");
        assert_eq!(c.node_name(12345), "sim-12345");
    }
}
