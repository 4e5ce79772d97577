//! PodTopologySpread: DoNotSchedule constraints filter, ScheduleAnyway constraints score.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use crate::cache::{Cache, NodeInfo};
use crate::framework::{Failure, FilterResult, MAX_NODE_SCORE};
use crate::plugins::node_affinity::Required;
use crate::plugins::taint_toleration;
use crate::pod_info::{PodInfo, may_carry, selector_hint};
use crate::selectors::{Requirement, Selector};

/// Topology key of the per-node domain (counted on the node itself when scoring).
pub const HOSTNAME: &str = "kubernetes.io/hostname";
/// Topology key of zones.
pub const ZONE: &str = "topology.kubernetes.io/zone";

/// Upstream's system default constraints (`defaultingType: System`): key and maxSkew, ScheduleAnyway.
pub const SYSTEM_DEFAULTS: [(&str, i64); 2] = [(HOSTNAME, 3), (ZONE, 5)];

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
    /// See [`selector_hint`].
    hint: Option<u64>,
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
                hint: selector_hint(&selector),
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

/// Whether the pod declares topology spread constraints of its own.
fn has_own_constraints(pod: &PodInfo) -> bool {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .is_some_and(|l| !l.is_empty())
}

/// The system default constraints for a pod without its own, selecting its Services'
/// and controller's pods; empty when nothing selects it.
fn system_defaults(cache: &Cache, pod: &PodInfo) -> Vec<Constraint> {
    let Some(selector) = cache.default_spread_selector(pod) else {
        return Vec::new();
    };
    let self_match = i64::from(selector.matches(pod.labels()));
    let hint = selector_hint(&selector);
    SYSTEM_DEFAULTS
        .iter()
        .map(|(key, max_skew)| Constraint {
            hint,
            max_skew: *max_skew,
            key: (*key).to_string(),
            selector: selector.clone(),
            min_domains: 1,
            honor_affinity: true,
            honor_taints: false,
            self_match,
        })
        .collect()
}

/// Pods on `node` counted by a constraint.
fn matching(pod: &PodInfo, c: &Constraint, node: &NodeInfo) -> i64 {
    if !node.may_hold(c.hint) {
        return 0;
    }
    node.pods
        .iter()
        .filter(|p| {
            may_carry(c.hint, p)
                && p.namespace == pod.namespace
                && !p.is_terminating()
                && c.selector.matches(p.labels())
        })
        .count() as i64
}

/// Whether the node passes the constraints' node inclusion policies (affinity, taints).
fn included(pod: &PodInfo, cs: &[Constraint], req: &Required, node: &NodeInfo) -> bool {
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
        let labels = node.labels();
        let has_all = cs
            .iter()
            .all(|c| labels.is_some_and(|l| l.contains_key(&c.key)));
        if !has_all || !included(pod, cs, req, node) {
            continue;
        }
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

/// ScheduleAnyway constraints (the pod's own, or the system defaults when it has none):
/// fewer matching pods in the node's domains score higher.
pub fn score(cache: &Cache, pod: &PodInfo, req: &Required, nodes: &[&NodeInfo]) -> Vec<i64> {
    let own = has_own_constraints(pod);
    let cs = if own {
        constraints(pod, "ScheduleAnyway")
    } else {
        system_defaults(cache, pod)
    };
    if cs.is_empty() || nodes.is_empty() {
        return vec![0; nodes.len()];
    }
    // Nodes lacking a key are ignored only for the pod's own constraints; with the system
    // defaults a node without a zone label is still scored by hostname.
    let require_all = own;
    let has_all = |n: &NodeInfo| {
        n.labels()
            .is_some_and(|l| cs.iter().all(|c| l.contains_key(&c.key)))
    };
    let ignored: Vec<bool> = nodes.iter().map(|n| require_all && !has_all(n)).collect();
    let scored = ignored.iter().filter(|i| !**i).count();
    // Domains (other than hostname) present among the scored nodes, per constraint.
    let mut counts: Vec<HashMap<&str, i64>> = vec![HashMap::new(); cs.len()];
    for (n, _) in nodes.iter().zip(&ignored).filter(|(_, i)| !**i) {
        let Some(labels) = n.labels() else { continue };
        for (i, c) in cs.iter().enumerate() {
            if c.key != HOSTNAME
                && let Some(v) = labels.get(&c.key)
            {
                counts[i].entry(v.as_str()).or_insert(0);
            }
        }
    }
    let sizes: Vec<usize> = cs
        .iter()
        .zip(&counts)
        .map(|(c, m)| if c.key == HOSTNAME { scored } else { m.len() })
        .collect();
    // Count matching pods of those domains over every eligible node (skipped when no
    // scored node has the key: nothing to count).
    if counts.iter().any(|m| !m.is_empty()) {
        for node in cache.nodes() {
            if (require_all && !has_all(node)) || !included(pod, &cs, req, node) {
                continue;
            }
            let Some(labels) = node.labels() else {
                continue;
            };
            for (i, c) in cs.iter().enumerate() {
                if c.key == HOSTNAME {
                    continue;
                }
                if let Some(v) = labels.get(&c.key)
                    && let Some(n) = counts[i].get_mut(v.as_str())
                {
                    *n += matching(pod, c, node);
                }
            }
        }
    }
    let weights: Vec<f64> = sizes.iter().map(|s| ((s + 2) as f64).ln()).collect();
    let raw: Vec<Option<i64>> = nodes
        .iter()
        .zip(&ignored)
        .map(|(n, ignored)| {
            if *ignored {
                return None;
            }
            let labels = n.labels();
            let mut s = 0.0;
            for (i, c) in cs.iter().enumerate() {
                let Some(v) = labels.and_then(|l| l.get(&c.key)) else {
                    continue;
                };
                let cnt = if c.key == HOSTNAME {
                    matching(pod, c, n)
                } else {
                    counts[i].get(v.as_str()).copied().unwrap_or(0)
                };
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

    fn rs_pod(name: &str) -> std::sync::Arc<PodInfo> {
        pod(
            name,
            json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "h"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-h",
                                     "uid": "u1", "controller": true}]}}),
        )
    }

    fn with_rs(mut c: Cache) -> Cache {
        c.owners.set_controller(
            crate::owners::OwnerKind::ReplicaSet,
            "default",
            "web-h",
            Some(Selector::from_map(
                &[("app", "web"), ("pod-template-hash", "h")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )),
        );
        c
    }

    #[test]
    fn system_defaults_spread_a_controllers_pods_by_host() {
        // No zone labels anywhere: the hostname default alone decides, nodes are not ignored.
        let c = with_rs(cache(
            vec![
                node("a", json!({})),
                node("b", json!({})),
                node("c", json!({})),
            ],
            vec![
                (rs_pod("w1"), "a"),
                (rs_pod("w2"), "a"),
                (rs_pod("w3"), "b"),
            ],
        ));
        let p = rs_pod("w4");
        let nodes: Vec<_> = c.nodes().collect();
        let s = score(&c, &p, &Required::new(&p), &nodes);
        assert!(s[2] > s[1] && s[1] > s[0], "{s:?}");
        assert_eq!(s[2], 100);
        // A pod nothing selects gets no spreading score.
        let bare = pod("bare", json!({"metadata": {"labels": {"app": "web"}}}));
        assert_eq!(
            score(&c, &bare, &Required::new(&bare), &nodes),
            vec![0, 0, 0]
        );
        // Its own constraints replace the defaults.
        let own = web("w5", "ScheduleAnyway");
        let s = score(&c, &own, &Required::new(&own), &nodes);
        assert_eq!(s, vec![0, 0, 0], "no node has the zone key: all ignored");
    }

    #[test]
    fn system_defaults_count_zones_when_nodes_have_them() {
        let zoned = |n: &str, z: &str| {
            node(
                n,
                json!({"metadata": {"labels": {"topology.kubernetes.io/zone": z}}}),
            )
        };
        let c = with_rs(cache(
            vec![zoned("a", "z1"), zoned("b", "z1"), zoned("c", "z2")],
            vec![(rs_pod("w1"), "a"), (rs_pod("w2"), "a")],
        ));
        let p = rs_pod("w3");
        let nodes: Vec<_> = c.nodes().collect();
        let s = score(&c, &p, &Required::new(&p), &nodes);
        // c: empty host in the empty zone; b: empty host in the busy zone; a: busy host and zone.
        assert!(s[2] > s[1] && s[1] > s[0], "{s:?}");
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
