//! InterPodAffinity: required (anti-)affinity filter and preferred (anti-)affinity score by topology.

use std::collections::HashMap;

use crate::cache::{Cache, NodeInfo};
use crate::framework::{Failure, FilterResult, MAX_NODE_SCORE};
use crate::pod_info::{AffinityTerm, PodInfo};

type Pair = (String, String);

/// Counts built by the pre-filter.
#[derive(Debug, Default)]
pub struct FilterState {
    active: bool,
    /// Topology pairs holding an existing pod whose required anti-affinity selects the incoming pod.
    existing_anti: HashMap<Pair, i64>,
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
    /// Pre-filter: scans placed pods once.
    pub fn new(cache: &Cache, pod: &PodInfo) -> FilterState {
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if !own_terms && !cache.any_required_anti_affinity() {
            return FilterState::default();
        }
        let mut st = FilterState {
            active: true,
            ..FilterState::default()
        };
        let pod_ns = cache.namespace_labels(&pod.namespace);
        for node in cache.nodes() {
            if node.pods_with_required_anti_affinity > 0 {
                for existing in node
                    .pods
                    .iter()
                    .filter(|p| !p.required_anti_affinity.is_empty())
                {
                    for t in &existing.required_anti_affinity {
                        if t.matches(pod, pod_ns) {
                            bump(&mut st.existing_anti, node, &t.topology_key, 1);
                        }
                    }
                }
            }
            if !own_terms {
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
                for t in &pod.required_anti_affinity {
                    if t.matches(existing, ns) {
                        bump(&mut st.anti, node, &t.topology_key, 1);
                    }
                }
            }
        }
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
        if self
            .existing_anti
            .iter()
            .any(|((k, v), n)| *n > 0 && labels.and_then(|l| l.get(k)) == Some(v))
        {
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
        if pod
            .required_anti_affinity
            .iter()
            .any(|t| count(&self.anti, &t.topology_key) > 0)
        {
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
    if !own && !cache.any_affinity() {
        return vec![0; nodes.len()];
    }
    let mut topo: HashMap<Pair, i64> = HashMap::new();
    let pod_ns = cache.namespace_labels(&pod.namespace);
    for node in cache.nodes() {
        if !own && node.pods_with_affinity == 0 {
            continue;
        }
        for existing in &node.pods {
            if !own && !existing.has_affinity() {
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
