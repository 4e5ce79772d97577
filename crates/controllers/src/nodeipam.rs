//! Node IPAM: gives every node a pod CIDR (`spec.podCIDR` / `spec.podCIDRs`) carved from the
//! cluster CIDR, like upstream's range allocator. The allocation map is rebuilt from the
//! existing nodes at start; a deleted node's range is released.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::events::Recorder;
use crate::informer::{Informers, SharedEvent};

/// A set of equally sized subnets of one IPv4 cluster CIDR (upstream's `CidrSet`).
#[derive(Debug, Clone)]
pub struct CidrSet {
    base: u32,
    node_mask: u8,
    max: u32,
    next: u32,
    used: BTreeSet<u32>,
}

impl CidrSet {
    /// Splits `cluster_cidr` (`10.42.0.0/16`) into `/node_mask` subnets.
    pub fn new(cluster_cidr: &str, node_mask: u8) -> Result<CidrSet, String> {
        let (base, prefix) = parse_cidr(cluster_cidr)?;
        if node_mask < prefix || node_mask > 32 {
            return Err(format!(
                "node CIDR mask /{node_mask} does not fit in cluster CIDR {cluster_cidr}"
            ));
        }
        if node_mask - prefix > 24 {
            return Err(format!(
                "node CIDR mask /{node_mask} leaves too many subnets in {cluster_cidr}"
            ));
        }
        Ok(CidrSet {
            base: base & mask_bits(prefix),
            node_mask,
            max: 1u32 << (node_mask - prefix),
            next: 0,
            used: BTreeSet::new(),
        })
    }

    fn index_of(&self, cidr: &str) -> Option<u32> {
        let (addr, mask) = parse_cidr(cidr).ok()?;
        if mask != self.node_mask {
            return None;
        }
        let shift = 32 - u32::from(self.node_mask);
        let off = addr.checked_sub(self.base)?;
        let idx = if shift == 32 { 0 } else { off >> shift };
        (idx < self.max).then_some(idx)
    }

    fn cidr_of(&self, idx: u32) -> String {
        let shift = 32 - u32::from(self.node_mask);
        let addr = if shift == 32 {
            self.base
        } else {
            self.base + (idx << shift)
        };
        format!("{}/{}", Ipv4Addr::from(addr), self.node_mask)
    }

    /// Allocates the next free subnet (round robin from the last allocation).
    pub fn allocate(&mut self) -> Option<String> {
        for i in 0..self.max {
            let idx = (self.next + i) % self.max;
            if self.used.insert(idx) {
                self.next = (idx + 1) % self.max;
                return Some(self.cidr_of(idx));
            }
        }
        None
    }

    /// Marks an existing subnet as used; false when it is not one of ours.
    pub fn occupy(&mut self, cidr: &str) -> bool {
        match self.index_of(cidr) {
            Some(idx) => {
                self.used.insert(idx);
                true
            }
            None => false,
        }
    }

    /// Releases a subnet.
    pub fn release(&mut self, cidr: &str) {
        if let Some(idx) = self.index_of(cidr) {
            self.used.remove(&idx);
        }
    }

    /// How many subnets are in use.
    pub fn used(&self) -> usize {
        self.used.len()
    }
}

fn mask_bits(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn parse_cidr(s: &str) -> Result<(u32, u8), String> {
    let (ip, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("invalid CIDR {s:?}"))?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| format!("invalid CIDR {s:?}"))?;
    let prefix: u8 = prefix.parse().map_err(|_| format!("invalid CIDR {s:?}"))?;
    if prefix > 32 {
        return Err(format!("invalid CIDR {s:?}"));
    }
    Ok((u32::from(ip), prefix))
}

fn node_cidrs(node: &Node) -> Vec<String> {
    let Some(spec) = node.spec.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<String> = spec.pod_cidrs.clone().unwrap_or_default();
    if let Some(c) = &spec.pod_cidr
        && !out.contains(c)
    {
        out.push(c.clone());
    }
    out
}

async fn assign(api: &Api<Node>, set: &mut CidrSet, recorder: &Recorder, node: &Node) {
    let name = node.name_any();
    let Some(cidr) = set.allocate() else {
        recorder.record(
            node,
            "Normal",
            "CIDRNotAvailable",
            format!("Node {name} status is now: CIDRNotAvailable"),
        );
        return;
    };
    let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => info!(node = %name, %cidr, "assigned pod CIDR"),
        Err(e) => {
            warn!(node = %name, error = %e, "assigning pod CIDR failed");
            set.release(&cidr);
        }
    }
}

/// The node IPAM controller over the shared node informer; runs until `stop` is cancelled.
pub fn run(
    client: Client,
    informers: &Informers,
    cluster_cidr: String,
    node_mask: u8,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static + use<> {
    let events = informers.nodes.subscribe_events();
    run_with(client, events, cluster_cidr, node_mask, stop)
}

async fn run_with(
    client: Client,
    stream: impl futures::Stream<Item = SharedEvent<Node>> + Send + 'static,
    cluster_cidr: String,
    node_mask: u8,
    stop: CancellationToken,
) {
    let mut set = match CidrSet::new(&cluster_cidr, node_mask) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "node IPAM disabled");
            return;
        }
    };
    let api: Api<Node> = Api::all(client.clone());
    let recorder = Recorder::new(client, "node-controller");
    let mut stream = std::pin::pin!(stream);
    let mut initial: Vec<Arc<Node>> = Vec::new();
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            n = stream.next() => n,
        };
        let Some(event) = next else { break };
        match event {
            watcher::Event::Init => initial.clear(),
            watcher::Event::InitApply(n) => initial.push(n),
            watcher::Event::InitDone => {
                // Rebuild the allocation map first, then fill in the nodes without a range.
                for n in &initial {
                    for c in node_cidrs(n) {
                        set.occupy(&c);
                    }
                }
                for n in std::mem::take(&mut initial) {
                    if node_cidrs(&n).is_empty() && n.metadata.deletion_timestamp.is_none() {
                        assign(&api, &mut set, &recorder, &n).await;
                    }
                }
            }
            watcher::Event::Apply(n) => {
                let cidrs = node_cidrs(&n);
                if cidrs.is_empty() {
                    if n.metadata.deletion_timestamp.is_none() {
                        assign(&api, &mut set, &recorder, &n).await;
                    }
                } else {
                    for c in cidrs {
                        set.occupy(&c);
                    }
                }
            }
            watcher::Event::Delete(n) => {
                for c in node_cidrs(&n) {
                    set.release(&c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_distinct_slash24s() {
        let mut s = CidrSet::new("10.42.0.0/16", 24).unwrap();
        assert_eq!(s.allocate().as_deref(), Some("10.42.0.0/24"));
        assert_eq!(s.allocate().as_deref(), Some("10.42.1.0/24"));
        assert_eq!(s.used(), 2);
    }

    #[test]
    fn skips_occupied_and_reuses_released() {
        let mut s = CidrSet::new("10.42.0.0/16", 24).unwrap();
        assert!(s.occupy("10.42.0.0/24"));
        assert!(s.occupy("10.42.2.0/24"));
        assert!(!s.occupy("10.43.0.0/24"));
        assert!(!s.occupy("10.42.0.0/25"));
        assert_eq!(s.allocate().as_deref(), Some("10.42.1.0/24"));
        assert_eq!(s.allocate().as_deref(), Some("10.42.3.0/24"));
        s.release("10.42.0.0/24");
        assert_eq!(s.used(), 3);
    }

    #[test]
    fn exhausts() {
        let mut s = CidrSet::new("10.0.0.0/23", 24).unwrap();
        assert!(s.allocate().is_some());
        assert!(s.allocate().is_some());
        assert!(s.allocate().is_none());
        s.release("10.0.1.0/24");
        assert_eq!(s.allocate().as_deref(), Some("10.0.1.0/24"));
    }

    #[test]
    fn rejects_bad_masks() {
        assert!(CidrSet::new("10.42.0.0/16", 8).is_err());
        assert!(CidrSet::new("nonsense", 24).is_err());
        assert!(CidrSet::new("10.42.0.0/33", 24).is_err());
    }
}
