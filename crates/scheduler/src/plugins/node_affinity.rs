//! NodeAffinity: nodeSelector and required node affinity filter, preferred node affinity score.

use crate::cache::NodeInfo;
use crate::framework::{Failure, FilterResult, normalize};
use crate::pod_info::PodInfo;
use crate::selectors::{NodeTerm, Selector};

/// Upstream's reason for a node failing nodeSelector or required affinity.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// The pod's compiled node constraints.
#[derive(Debug, Clone, Default)]
pub struct Required {
    selector: Option<Selector>,
    /// Required terms (ORed); `Some(empty)` matches nothing.
    terms: Option<Vec<NodeTerm>>,
    preferred: Vec<(i64, NodeTerm)>,
}

impl Required {
    /// Compiles the pod's nodeSelector and node affinity.
    pub fn new(pod: &PodInfo) -> Required {
        let spec = pod.pod.spec.as_ref();
        let selector = spec
            .and_then(|s| s.node_selector.as_ref())
            .filter(|m| !m.is_empty())
            .map(Selector::from_map);
        let na = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref());
        let terms = na
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|r| r.node_selector_terms.iter().map(NodeTerm::new).collect());
        let preferred = na
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .map(|p| (i64::from(p.weight), NodeTerm::new(&p.preference)))
            .collect();
        Required {
            selector,
            terms,
            preferred,
        }
    }

    /// Whether the node satisfies nodeSelector and required affinity.
    pub fn matches(&self, node: &NodeInfo) -> bool {
        let labels = node.labels();
        if let Some(sel) = &self.selector
            && !sel.matches(labels)
        {
            return false;
        }
        if let Some(terms) = &self.terms
            && !terms.iter().any(|t| t.matches(labels, &node.name))
        {
            return false;
        }
        true
    }

    /// The filter.
    pub fn filter(&self, node: &NodeInfo) -> FilterResult {
        if self.matches(node) {
            Ok(())
        } else {
            Err(Failure::unresolvable(REASON))
        }
    }

    /// Sum of the weights of matching preferred terms, normalized.
    pub fn score(&self, _pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
        if self.preferred.is_empty() {
            return vec![0; nodes.len()];
        }
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| {
                self.preferred
                    .iter()
                    .filter(|(_, t)| t.matches(n.labels(), &n.name))
                    .map(|(w, _)| w)
                    .sum()
            })
            .collect();
        normalize(&mut scores, false);
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, node_info, pod};
    use serde_json::json;

    #[test]
    fn node_selector_and_required_terms() {
        let ssd = node_info(
            node(
                "a",
                json!({"metadata": {"labels": {"disk": "ssd", "zone": "z1"}}}),
            ),
            &[],
        );
        let hdd = node_info(
            node(
                "b",
                json!({"metadata": {"labels": {"disk": "hdd", "zone": "z1"}}}),
            ),
            &[],
        );
        let p = pod("p", json!({"spec": {"nodeSelector": {"disk": "ssd"}}}));
        let r = Required::new(&p);
        assert!(r.filter(&ssd).is_ok());
        assert_eq!(r.filter(&hdd), Err(Failure::unresolvable(REASON)));
        let p = pod(
            "p",
            json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]},
                {"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]}
            ]}}}}}),
        );
        let r = Required::new(&p);
        assert!(r.filter(&ssd).is_err());
        assert!(r.filter(&hdd).is_ok());
    }

    #[test]
    fn preferred_terms_score() {
        let a = node_info(
            node("a", json!({"metadata": {"labels": {"disk": "ssd"}}})),
            &[],
        );
        let b = node_info(node("b", json!({})), &[]);
        let p = pod(
            "p",
            json!({"spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}
            ]}}}}),
        );
        let r = Required::new(&p);
        assert_eq!(r.score(&p, &[&a, &b]), vec![100, 0]);
    }
}
