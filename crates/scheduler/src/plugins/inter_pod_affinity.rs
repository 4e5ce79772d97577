//! InterPodAffinity: required (anti-)affinity filter and preferred (anti-)affinity score by topology.

use std::collections::HashMap;

use crate::cache::{Cache, HOSTNAME_LABEL, NodeInfo};
use crate::framework::{Failure, FilterResult, MAX_NODE_SCORE};
use crate::pod_info::{AffinityTerm, PodInfo};

type Pair = (String, String);

/// Counts built by the pre-filter.
///
/// When every `kubernetes.io/hostname` value names one node, hostname terms are not counted
/// up front: their domain is the node itself, so the filter looks at that node's pods only
/// (a few pods instead of every placed pod, for each node it filters).
#[derive(Debug, Default)]
pub struct FilterState {
    active: bool,
    /// Hostname terms are checked on the filtered node's own pods.
    by_host: bool,
    /// Topology pairs holding an existing pod whose required anti-affinity selects the incoming pod.
    existing_anti: HashMap<Pair, i64>,
    /// Topology keys present in `existing_anti`.
    existing_anti_keys: Vec<String>,
    /// Topology pairs holding pods that match all of the incoming pod's affinity terms.
    affinity: HashMap<Pair, i64>,
    /// Topology pairs holding pods matched by one of the incoming pod's anti-affinity terms.
    anti: HashMap<Pair, i64>,
}

fn bump(map: &mut HashMap<Pair, i64>, node: &NodeInfo, key: &str, by: i64) {
    if let Some(v) = node.labels().and_then(|l| l.get(key)) {
        *map.entry((key.to_string(), v.clone())).or_default() += by;
    }
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, cache: &Cache) -> bool {
    let ns = cache.namespace_labels(&pod.namespace);
    terms.iter().all(|t| t.matches(pod, ns))
}

impl FilterState {
    /// Pre-filter: scans placed pods once (only as far as some term needs it).
    pub fn new(cache: &Cache, pod: &PodInfo) -> FilterState {
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if !own_terms && !cache.any_required_anti_affinity() {
            return FilterState::default();
        }
        let by_host = cache.hostnames_unique();
        let counted = |t: &AffinityTerm| !(by_host && t.topology_key == HOSTNAME_LABEL);
        let mut st = FilterState {
            active: true,
            by_host,
            ..FilterState::default()
        };
        // Which scans are needed: existing pods' anti-affinity on counted topologies, and the
        // incoming pod's own affinity and counted anti-affinity terms.
        let scan_existing =
            cache.any_required_anti_affinity() && (!by_host || cache.any_zonal_anti_affinity());
        let scan_own =
            !pod.required_affinity.is_empty() || pod.required_anti_affinity.iter().any(&counted);
        if !scan_existing && !scan_own {
            return st;
        }
        let pod_ns = cache.namespace_labels(&pod.namespace);
        for node in cache.nodes() {
            if scan_existing && node.pods_with_required_anti_affinity > 0 {
                for existing in node
                    .pods
                    .iter()
                    .filter(|p| !p.required_anti_affinity.is_empty())
                {
                    for t in existing
                        .required_anti_affinity
                        .iter()
                        .filter(|t| counted(t))
                    {
                        if t.matches(pod, pod_ns) {
                            bump(&mut st.existing_anti, node, &t.topology_key, 1);
                        }
                    }
                }
            }
            if !scan_own {
                continue;
            }
            for existing in &node.pods {
                let ns = cache.namespace_labels(&existing.namespace);
                if !pod.required_affinity.is_empty()
                    && pod
                        .required_affinity
                        .iter()
                        .all(|t| t.matches(existing, ns))
                {
                    for t in &pod.required_affinity {
                        bump(&mut st.affinity, node, &t.topology_key, 1);
                    }
                }
                for t in pod.required_anti_affinity.iter().filter(|t| counted(t)) {
                    if t.may_match(existing) && t.matches(existing, ns) {
                        bump(&mut st.anti, node, &t.topology_key, 1);
                    }
                }
            }
        }
        let mut keys: Vec<String> = st.existing_anti.keys().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys.dedup();
        st.existing_anti_keys = keys;
        st
    }

    /// The filter.
    pub fn filter(&self, cache: &Cache, pod: &PodInfo, node: &NodeInfo) -> FilterResult {
        if !self.active {
            return Ok(());
        }
        let labels = node.labels();
        let count = |map: &HashMap<Pair, i64>, key: &str| {
            labels
                .and_then(|l| l.get(key))
                .and_then(|v| map.get(&(key.to_string(), v.clone())))
                .copied()
                .unwrap_or(0)
        };
        let on_host = self.by_host && node.hostname().is_some();
        let pod_ns = cache.namespace_labels(&pod.namespace);
        let existing_blocks = self
            .existing_anti_keys
            .iter()
            .any(|k| count(&self.existing_anti, k) > 0)
            || (on_host
                && node.pods_with_required_anti_affinity > 0
                && node.pods.iter().any(|existing| {
                    existing
                        .required_anti_affinity
                        .iter()
                        .filter(|t| t.topology_key == HOSTNAME_LABEL)
                        .any(|t| t.matches(pod, pod_ns))
                }));
        if existing_blocks {
            return Err(Failure::unschedulable(
                "node(s) didn't satisfy existing pods anti-affinity rules",
            ));
        }
        if !pod.required_affinity.is_empty() {
            let mut exist = true;
            for t in &pod.required_affinity {
                if labels.is_none_or(|l| !l.contains_key(&t.topology_key)) {
                    return Err(Failure::unresolvable(
                        "node(s) didn't match pod affinity rules",
                    ));
                }
                if count(&self.affinity, &t.topology_key) <= 0 {
                    exist = false;
                }
            }
            let self_affine =
                self.affinity.is_empty() && matches_all(&pod.required_affinity, pod, cache);
            if !exist && !self_affine {
                return Err(Failure::unresolvable(
                    "node(s) didn't match pod affinity rules",
                ));
            }
        }
        let anti_blocks = pod.required_anti_affinity.iter().any(|t| {
            if self.by_host && t.topology_key == HOSTNAME_LABEL {
                on_host
                    && node.may_hold(t.hint)
                    && node.pods.iter().any(|existing| {
                        t.may_match(existing)
                            && t.matches(existing, cache.namespace_labels(&existing.namespace))
                    })
            } else {
                count(&self.anti, &t.topology_key) > 0
            }
        });
        if anti_blocks {
            return Err(Failure::unschedulable(
                "node(s) didn't match pod anti-affinity rules",
            ));
        }
        Ok(())
    }
}

/// Preferred terms of the incoming pod and of placed pods, summed per topology and min-max normalized.
pub fn score(cache: &Cache, pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    let own = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
    if !own && !cache.any_scored_affinity() {
        return vec![0; nodes.len()];
    }
    let mut topo: HashMap<Pair, i64> = HashMap::new();
    let pod_ns = cache.namespace_labels(&pod.namespace);
    for node in cache.nodes() {
        if !own && node.pods_with_scored_affinity == 0 {
            continue;
        }
        for existing in &node.pods {
            if !own && !existing.has_scored_affinity() {
                continue;
            }
            let ns = cache.namespace_labels(&existing.namespace);
            for t in &pod.preferred_affinity {
                if t.matches(existing, ns) {
                    bump(&mut topo, node, &t.topology_key, t.weight);
                }
            }
            for t in &pod.preferred_anti_affinity {
                if t.matches(existing, ns) {
                    bump(&mut topo, node, &t.topology_key, -t.weight);
                }
            }
            for t in existing
                .required_affinity
                .iter()
                .chain(&existing.preferred_affinity)
            {
                if t.matches(pod, pod_ns) {
                    bump(&mut topo, node, &t.topology_key, t.weight);
                }
            }
            for t in &existing.preferred_anti_affinity {
                if t.matches(pod, pod_ns) {
                    bump(&mut topo, node, &t.topology_key, -t.weight);
                }
            }
        }
    }
    if topo.is_empty() {
        return vec![0; nodes.len()];
    }
    let raw: Vec<i64> = nodes
        .iter()
        .map(|n| {
            topo.iter()
                .filter(|((k, v), _)| n.labels().and_then(|l| l.get(k)) == Some(v))
                .map(|(_, s)| s)
                .sum()
        })
        .collect();
    let (min, max) = (
        raw.iter().copied().min().unwrap_or(0),
        raw.iter().copied().max().unwrap_or(0),
    );
    raw.iter()
        .map(|s| {
            if max > min {
                MAX_NODE_SCORE * (s - min) / (max - min)
            } else {
                0
            }
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

    fn term(kind: &str, app: &str, key: &str) -> serde_json::Value {
        json!({"spec": {"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
        ]}}}})
    }

    fn run(c: &Cache, p: &PodInfo) -> Vec<Result<(), Failure>> {
        let st = FilterState::new(c, p);
        c.nodes().map(|n| st.filter(c, p, n)).collect()
    }

    #[test]
    fn required_anti_affinity_spreads_by_host() {
        let web = pod("w1", json!({"metadata": {"labels": {"app": "web"}}}));
        let c = cache(vec![zone("a", "z1"), zone("b", "z1")], vec![(web, "a")]);
        let p = pod(
            "w2",
            term("podAntiAffinity", "web", "kubernetes.io/hostname"),
        );
        let r = run(&c, &p);
        assert_eq!(
            r[0],
            Err(Failure::unschedulable(
                "node(s) didn't match pod anti-affinity rules"
            ))
        );
        assert!(r[1].is_ok());
    }

    #[test]
    fn hostname_terms_look_at_the_node_or_count_shared_hostnames() {
        let mut guard = term("podAntiAffinity", "web", "kubernetes.io/hostname");
        guard["metadata"] = json!({"labels": {"app": "db"}});
        let web = || pod("w", json!({"metadata": {"labels": {"app": "web"}}}));
        let anti = || {
            let mut t = term("podAntiAffinity", "db", "kubernetes.io/hostname");
            t["metadata"] = json!({"labels": {"app": "web"}});
            pod("w2", t)
        };
        // Unique hostnames: only the guard's own node is excluded, both ways round.
        let c = cache(
            vec![node("a", json!({})), node("b", json!({}))],
            vec![(pod("g", guard.clone()), "a")],
        );
        assert!(c.hostnames_unique());
        let r = run(&c, &web());
        assert!(r[0].is_err() && r[1].is_ok(), "{r:?}");
        let r = run(&c, &anti());
        assert!(r[0].is_err() && r[1].is_ok(), "{r:?}");
        // Two nodes sharing one hostname value are one domain: both are excluded.
        let same = json!({"metadata": {"labels": {"kubernetes.io/hostname": "h"}}});
        let c = cache(
            vec![
                node("a", same.clone()),
                node("b", same),
                node("c", json!({})),
            ],
            vec![(pod("g", guard), "a")],
        );
        assert!(!c.hostnames_unique());
        let r = run(&c, &web());
        assert!(r[0].is_err() && r[1].is_err() && r[2].is_ok(), "{r:?}");
        let r = run(&c, &anti());
        assert!(r[0].is_err() && r[1].is_err() && r[2].is_ok(), "{r:?}");
    }

    #[test]
    fn existing_pods_anti_affinity_is_symmetric() {
        let mut guard = term("podAntiAffinity", "web", "zone");
        guard["metadata"] = json!({"labels": {"app": "db"}});
        let c = cache(
            vec![zone("a", "z1"), zone("b", "z1"), zone("c", "z2")],
            vec![(pod("g", guard), "a")],
        );
        let p = pod("w", json!({"metadata": {"labels": {"app": "web"}}}));
        let r = run(&c, &p);
        assert!(r[0].is_err() && r[1].is_err());
        assert!(r[2].is_ok());
    }

    #[test]
    fn required_affinity_follows_matching_pods_or_self() {
        let db = pod("db", json!({"metadata": {"labels": {"app": "db"}}}));
        let c = cache(vec![zone("a", "z1"), zone("b", "z2")], vec![(db, "a")]);
        let p = pod("w", term("podAffinity", "db", "zone"));
        let r = run(&c, &p);
        assert!(r[0].is_ok());
        assert_eq!(
            r[1],
            Err(Failure::unresolvable(
                "node(s) didn't match pod affinity rules"
            ))
        );
        // First pod of a self-affine group may go anywhere with the key.
        let c = cache(vec![zone("a", "z1")], vec![]);
        let mut first = term("podAffinity", "db", "zone");
        first["metadata"] = json!({"labels": {"app": "db"}});
        assert!(run(&c, &pod("d", first))[0].is_ok());
    }

    #[test]
    fn preferred_affinity_scores_by_topology() {
        let db = pod("db", json!({"metadata": {"labels": {"app": "db"}}}));
        let c = cache(
            vec![zone("a", "z1"), zone("b", "z1"), zone("c", "z2")],
            vec![(db, "a")],
        );
        let p = pod(
            "w",
            json!({"spec": {"affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}}
            ]}}}}),
        );
        let nodes: Vec<_> = c.nodes().collect();
        assert_eq!(score(&c, &p, &nodes), vec![100, 100, 0]);
    }
}
