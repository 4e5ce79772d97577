//! The registered simulated nodes, shared by the loops, and the handle that silences them.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use tokio::sync::mpsc;

use crate::config::SimConfig;
use crate::ipam::Cidr;

/// One registered node.
#[derive(Debug)]
pub struct NodeSlot {
    pub name: String,
    pub uid: String,
    pub ip: Ipv4Addr,
    pub cidr: Cidr,
    silenced: AtomicBool,
    /// Unix seconds of the last Ready transition (reported as lastTransitionTime).
    ready_since: AtomicI64,
}

impl NodeSlot {
    pub fn new(name: String, uid: String, ip: Ipv4Addr, cidr: Cidr, since: i64) -> Self {
        NodeSlot {
            name,
            uid,
            ip,
            cidr,
            silenced: AtomicBool::new(false),
            ready_since: AtomicI64::new(since),
        }
    }

    pub fn silenced(&self) -> bool {
        self.silenced.load(Ordering::Relaxed)
    }

    pub fn ready_since(&self) -> i64 {
        self.ready_since.load(Ordering::Relaxed)
    }
}

/// All simulated nodes of one process.
#[derive(Debug)]
pub struct Fleet {
    pub config: SimConfig,
    pub nodes: Vec<NodeSlot>,
    pub by_name: HashMap<String, u32>,
}

impl Fleet {
    pub fn new(config: SimConfig, nodes: Vec<NodeSlot>) -> Self {
        let by_name = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i as u32))
            .collect();
        Fleet {
            config,
            nodes,
            by_name,
        }
    }

    pub fn slot(&self, index: u32) -> Option<&NodeSlot> {
        self.nodes.get(index as usize)
    }
}

/// Controls running simulated nodes: silencing one makes it stop renewing
/// its lease and status and stop touching its pods, as if its machine died;
/// resuming brings it back at once.
#[derive(Debug, Clone)]
pub struct SimHandle {
    fleet: Arc<Fleet>,
    resume: Vec<mpsc::UnboundedSender<u32>>,
}

impl SimHandle {
    pub(crate) fn new(fleet: Arc<Fleet>, resume: Vec<mpsc::UnboundedSender<u32>>) -> Self {
        SimHandle { fleet, resume }
    }

    /// Names of the simulated nodes, in index order.
    pub fn node_names(&self) -> Vec<String> {
        self.fleet.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Silences node `name`; false if it is not one of ours.
    pub fn silence(&self, name: &str) -> bool {
        let Some(slot) = self
            .fleet
            .by_name
            .get(name)
            .and_then(|&i| self.fleet.slot(i))
        else {
            return false;
        };
        slot.silenced.store(true, Ordering::Relaxed);
        tracing::info!(node = %name, "simulated node silenced");
        true
    }

    /// Resumes node `name`: its lease, status and pods are refreshed at once.
    pub fn resume(&self, name: &str) -> bool {
        let Some(&index) = self.fleet.by_name.get(name) else {
            return false;
        };
        let Some(slot) = self.fleet.slot(index) else {
            return false;
        };
        if slot.silenced.swap(false, Ordering::Relaxed) {
            slot.ready_since
                .store(jiff::Timestamp::now().as_second(), Ordering::Relaxed);
            for tx in &self.resume {
                let _ = tx.send(index);
            }
            tracing::info!(node = %name, "simulated node resumed");
        }
        true
    }

    /// Silences or resumes every node.
    pub fn set_all_silenced(&self, silenced: bool) {
        for n in &self.fleet.nodes {
            if silenced {
                self.silence(&n.name);
            } else {
                self.resume(&n.name);
            }
        }
    }

    /// Whether node `name` is silenced.
    pub fn is_silenced(&self, name: &str) -> bool {
        self.fleet
            .by_name
            .get(name)
            .and_then(|&i| self.fleet.slot(i))
            .is_some_and(NodeSlot::silenced)
    }
}
