//! The filter and score plugins of the default profile.

pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_basic;
pub mod resources_fit;
pub mod taint_toleration;
pub mod topology_spread;

#[cfg(test)]
pub(crate) mod testutil;
