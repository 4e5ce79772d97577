//! Filter statuses, the per-cycle state built by pre-filters, and the weighted score pipeline.

use std::borrow::Cow;

use crate::cache::{Cache, NodeInfo};
use crate::plugins::{
    image_locality, inter_pod_affinity, node_affinity, node_basic, resources_fit, taint_toleration,
    topology_spread,
};
use crate::pod_info::PodInfo;

/// Highest score a plugin gives after normalization.
pub const MAX_NODE_SCORE: i64 = 100;

/// Why a node was filtered out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Might fit after preemption.
    Unschedulable,
    /// Preemption cannot help.
    UnschedulableAndUnresolvable,
}

/// A failed filter: its code and human reasons (as in the FailedScheduling message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Code,
    pub reasons: Vec<Cow<'static, str>>,
}

impl Failure {
    /// Resolvable (by preemption) failure with one reason.
    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Failure {
        Failure {
            code: Code::Unschedulable,
            reasons: vec![reason.into()],
        }
    }

    /// Unresolvable failure with one reason.
    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Failure {
        Failure {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.into()],
        }
    }
}

/// Result of a filter plugin.
pub type FilterResult = Result<(), Failure>;

/// Score weights of the default profile.
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub taint_toleration: i64,
    pub node_affinity: i64,
    pub resources_fit: i64,
    pub balanced_allocation: i64,
    pub image_locality: i64,
    pub inter_pod_affinity: i64,
    pub topology_spread: i64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            taint_toleration: 3,
            node_affinity: 2,
            resources_fit: 1,
            balanced_allocation: 1,
            image_locality: 1,
            inter_pod_affinity: 2,
            topology_spread: 2,
        }
    }
}

/// State of one scheduling cycle: the pod, the cache view and the pre-filter results.
pub struct Cycle<'a> {
    pub pod: &'a PodInfo,
    pub cache: &'a Cache,
    pub node_affinity: node_affinity::Required,
    pub inter_pod: inter_pod_affinity::FilterState,
    pub spread: topology_spread::FilterState,
}

impl<'a> Cycle<'a> {
    /// Runs the pre-filters.
    pub fn new(cache: &'a Cache, pod: &'a PodInfo) -> Cycle<'a> {
        let node_affinity = node_affinity::Required::new(pod);
        let inter_pod = inter_pod_affinity::FilterState::new(cache, pod);
        let spread = topology_spread::FilterState::new(cache, pod, &node_affinity);
        Cycle {
            pod,
            cache,
            node_affinity,
            inter_pod,
            spread,
        }
    }

    /// Runs the filters in upstream's order, stopping at the first failure.
    pub fn filter(&self, node: &NodeInfo) -> FilterResult {
        node_basic::node_unschedulable(self.pod, node)?;
        node_basic::node_name(self.pod, node)?;
        taint_toleration::filter(self.pod, node)?;
        self.node_affinity.filter(node)?;
        node_basic::node_ports(self.pod, node)?;
        resources_fit::filter(self.pod, node)?;
        self.spread.filter(self.pod, node)?;
        self.inter_pod.filter(self.cache, self.pod, node)?;
        Ok(())
    }

    /// Scores feasible nodes: every plugin's normalized score times its weight, summed.
    pub fn score(&self, nodes: &[&NodeInfo], w: &Weights) -> Vec<i64> {
        let mut total = vec![0i64; nodes.len()];
        let mut add = |scores: Vec<i64>, weight: i64| {
            for (t, s) in total.iter_mut().zip(scores) {
                *t += s * weight;
            }
        };
        add(taint_toleration::score(self.pod, nodes), w.taint_toleration);
        add(self.node_affinity.score(self.pod, nodes), w.node_affinity);
        add(
            resources_fit::least_allocated(self.pod, nodes),
            w.resources_fit,
        );
        add(
            resources_fit::balanced_allocation(self.pod, nodes),
            w.balanced_allocation,
        );
        add(
            image_locality::score(self.cache, self.pod, nodes),
            w.image_locality,
        );
        add(
            inter_pod_affinity::score(self.cache, self.pod, nodes),
            w.inter_pod_affinity,
        );
        add(
            topology_spread::score(self.cache, self.pod, &self.node_affinity, nodes),
            w.topology_spread,
        );
        total
    }
}

/// Upstream's DefaultNormalizeScore: scale to 0..=100 by the maximum, optionally reversed.
pub fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_scales_and_reverses() {
        let mut s = vec![0, 5, 10];
        normalize(&mut s, false);
        assert_eq!(s, vec![0, 50, 100]);
        let mut s = vec![0, 5, 10];
        normalize(&mut s, true);
        assert_eq!(s, vec![100, 50, 0]);
        let mut s = vec![0, 0];
        normalize(&mut s, true);
        assert_eq!(s, vec![100, 100]);
    }
}
