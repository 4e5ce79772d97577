//! PodTopologySpread: DoNotSchedule constraints filter, ScheduleAnyway constraints score.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use crate::cache::{Cache, NodeInfo};
use crate::framework::{Failure, FilterResult, MAX_NODE_SCORE};
use crate::plugins::node_affinity::Required;
use crate::plugins::taint_toleration;
use crate::pod_info::PodInfo;
use crate::selectors::{Requirement, Selector};

/// One compiled constraint.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    key: String,
    selector: Selector,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
    self_match: i64,
}

fn constraints(pod: &PodInfo, when: &str) -> Vec<Constraint> {
    let list: &[TopologySpreadConstraint] = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or_default();
    list.iter()
        .filter(|c| c.when_unsatisfiable == when)
        .map(|c| {
            let mut selector = c
                .label_selector
                .as_ref()
                .map(Selector::from_label_selector)
                .unwrap_or(Selector {
                    requirements: vec![Requirement::Never],
                });
            for k in c.match_label_keys.iter().flatten() {
                if let Some(v) = pod.labels().and_then(|l| l.get(k)) {
                    selector
                        .requirements
                        .push(Requirement::In(k.clone(), vec![v.clone()]));
                }
            }
            let self_match = i64::from(selector.matches(pod.labels()));
            Constraint {
                max_skew: i64::from(c.max_skew),
                key: c.topology_key.clone(),
                selector,
                min_domains: i64::from(c.min_domains.unwrap_or(1)),
                honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                self_match,
            }
        })
        .collect()
}

/// Pods on `node` counted by a constraint.
fn matching(pod: &PodInfo, c: &Constraint, node: &NodeInfo) -> i64 {
    node.pods
        .iter()
        .filter(|p| {
            p.namespace == pod.namespace && !p.is_terminating() && c.selector.matches(p.labels())
        })
        .count() as i64
}

fn eligible(pod: &PodInfo, cs: &[Constraint], req: &Required, node: &NodeInfo) -> bool {
    let labels = node.labels();
    if !cs
        .iter()
        .all(|c| labels.is_some_and(|l| l.contains_key(&c.key)))
    {
        return false;
    }
    if cs.iter().any(|c| c.honor_affinity) && !req.matches(node) {
        return false;
    }
    if cs.iter().any(|c| c.honor_taints) && taint_toleration::filter(pod, node).is_err() {
        return false;
    }
    true
}

/// Per-constraint counts of matching pods by topology value.
fn count(
    cache: &Cache,
    pod: &PodInfo,
    cs: &[Constraint],
    req: &Required,
) -> Vec<HashMap<String, i64>> {
    let mut counts = vec![HashMap::new(); cs.len()];
    for node in cache.nodes() {
        if !eligible(pod, cs, req, node) {
            continue;
        }
        let labels = node.labels();
        for (i, c) in cs.iter().enumerate() {
            let Some(v) = labels.and_then(|l| l.get(&c.key)) else {
                continue;
            };
            *counts[i].entry(v.clone()).or_default() += matching(pod, c, node);
        }
    }
    counts
}

/// Pre-filter result for DoNotSchedule constraints.
#[derive(Debug, Default)]
pub struct FilterState {
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
    min: Vec<i64>,
}

impl FilterState {
    /// Counts matching pods per domain over eligible nodes.
    pub fn new(cache: &Cache, pod: &PodInfo, req: &Required) -> FilterState {
        let cs = constraints(pod, "DoNotSchedule");
        if cs.is_empty() {
            return FilterState::default();
        }
        let counts = count(cache, pod, &cs, req);
        let min = cs
            .iter()
            .zip(&counts)
            .map(|(c, m)| {
                if (m.len() as i64) < c.min_domains {
                    0
                } else {
                    m.values().copied().min().unwrap_or(0)
                }
            })
            .collect();
        FilterState {
            constraints: cs,
            counts,
            min,
        }
    }

    /// The filter: skew after placing the pod must not exceed maxSkew.
    pub fn filter(&self, _pod: &PodInfo, node: &NodeInfo) -> FilterResult {
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(v) = node.labels().and_then(|l| l.get(&c.key)) else {
                return Err(Failure::unresolvable(
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                ));
            };
            let n = self.counts[i].get(v).copied().unwrap_or(0);
            if n + c.self_match - self.min[i] > c.max_skew {
                return Err(Failure::unschedulable(
                    "node(s) didn't match pod topology spread constraints",
                ));
            }
        }
        Ok(())
    }
}

/// ScheduleAnyway constraints: fewer matching pods in the node's domains score higher.
pub fn score(cache: &Cache, pod: &PodInfo, req: &Required, nodes: &[&NodeInfo]) -> Vec<i64> {
    let cs = constraints(pod, "ScheduleAnyway");
    if cs.is_empty() {
        return vec![0; nodes.len()];
    }
    let counts = count(cache, pod, &cs, req);
    let weights: Vec<f64> = counts.iter().map(|m| ((m.len() + 2) as f64).ln()).collect();
    let raw: Vec<Option<i64>> = nodes
        .iter()
        .map(|n| {
            let labels = n.labels()?;
            let mut s = 0.0;
            for (i, c) in cs.iter().enumerate() {
                let v = labels.get(&c.key)?;
                let cnt = counts[i].get(v).copied().unwrap_or(0);
                s += cnt as f64 * weights[i] + (c.max_skew - 1) as f64;
            }
            Some(s.round() as i64)
        })
        .collect();
    let present = raw.iter().flatten();
    let min = present.clone().copied().min().unwrap_or(0);
    let max = present.copied().max().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => MAX_NODE_SCORE,
            Some(s) => MAX_NODE_SCORE * (max + min - s) / max,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{cache, node, pod};
    use serde_json::json;

    fn zone(name: &str, z: &str) -> std::sync::Arc<k8s_openapi::api::core::v1::Node> {
        node(name, json!({"metadata": {"labels": {"zone": z}}}))
    }

    fn web(name: &str, when: &str) -> std::sync::Arc<PodInfo> {
        pod(
            name,
            json!({"metadata": {"labels": {"app": "web"}}, "spec": {"topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": when,
                 "labelSelector": {"matchLabels": {"app": "web"}}}
            ]}}),
        )
    }

    #[test]
    fn do_not_schedule_respects_max_skew() {
        let c = cache(
            vec![zone("a", "z1"), zone("b", "z2"), node("c", json!({}))],
            vec![(web("w1", "DoNotSchedule"), "a")],
        );
        let p = web("w2", "DoNotSchedule");
        let req = Required::new(&p);
        let st = FilterState::new(&c, &p, &req);
        let r: Vec<_> = c.nodes().map(|n| st.filter(&p, n)).collect();
        assert_eq!(
            r[0],
            Err(Failure::unschedulable(
                "node(s) didn't match pod topology spread constraints"
            ))
        );
        assert!(r[1].is_ok());
        assert_eq!(
            r[2],
            Err(Failure::unresolvable(
                "node(s) didn't match pod topology spread constraints (missing required label)"
            ))
        );
    }

    #[test]
    fn schedule_anyway_prefers_emptier_domains() {
        let c = cache(
            vec![zone("a", "z1"), zone("b", "z2")],
            vec![
                (web("w1", "ScheduleAnyway"), "a"),
                (web("w2", "ScheduleAnyway"), "a"),
            ],
        );
        let p = web("w3", "ScheduleAnyway");
        let nodes: Vec<_> = c.nodes().collect();
        let s = score(&c, &p, &Required::new(&p), &nodes);
        assert!(s[1] > s[0], "{s:?}");
        assert_eq!(s[1], 100);
    }
}
