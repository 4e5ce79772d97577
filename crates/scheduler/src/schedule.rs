//! One scheduling attempt: filter nodes (stopping early), score the feasible ones, pick the best.

use std::collections::BTreeMap;

use crate::cache::{Cache, NodeInfo};
use crate::framework::{Code, Cycle, Failure, Weights};
use crate::pod_info::PodInfo;

/// Nodes below this count are always all filtered.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Lower bound of the adaptive percentage.
const MIN_FEASIBLE_PERCENTAGE: usize = 5;

/// How many feasible nodes to find before stopping, as upstream's `numFeasibleNodesToFind`.
pub fn num_feasible_nodes_to_find(percentage: u8, all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100 {
        return all;
    }
    let pct = if percentage == 0 {
        (50usize.saturating_sub(all / 125)).max(MIN_FEASIBLE_PERCENTAGE)
    } else {
        usize::from(percentage)
    };
    (all * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Why a pod fits nowhere: the node count and each filtered node's failure.
#[derive(Debug, Clone, Default)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub failures: Vec<(String, Failure)>,
    /// Appended after the filter reasons (the preemption outcome).
    pub post_filter_msg: String,
}

impl FitError {
    /// Upstream's message: "0/3 nodes are available: 1 Insufficient cpu, 2 ...".
    pub fn message(&self) -> String {
        if self.num_all_nodes == 0 {
            return "no nodes available to schedule pods".into();
        }
        let mut msg = format!(
            "0/{} nodes are available: {}.",
            self.num_all_nodes,
            histogram(self.failures.iter().map(|(_, f)| f))
        );
        if !self.post_filter_msg.is_empty() {
            msg.push(' ');
            msg.push_str(&self.post_filter_msg);
        }
        msg
    }
}

/// "N reason" strings counted over failures, sorted and comma-joined.
pub fn histogram<'a>(failures: impl Iterator<Item = &'a Failure>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in failures {
        for r in &f.reasons {
            *counts.entry(r.as_ref()).or_default() += 1;
        }
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// Scheduler state that persists between attempts.
#[derive(Debug)]
pub struct Algorithm {
    pub percentage_of_nodes_to_score: u8,
    pub weights: Weights,
    next_start: usize,
    rng: u64,
}

impl Algorithm {
    /// A new algorithm with default weights.
    pub fn new(percentage_of_nodes_to_score: u8) -> Algorithm {
        Algorithm {
            percentage_of_nodes_to_score,
            weights: Weights::default(),
            next_start: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64: cheap tie-breaking, no cryptographic needs.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Picks a node for `pod`, or explains why none fits.
    pub fn schedule(&mut self, cache: &Cache, pod: &PodInfo) -> Result<String, FitError> {
        let all = cache.node_count();
        if all == 0 {
            return Err(FitError::default());
        }
        let cycle = Cycle::new(cache, pod);
        let want = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, all);
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want.min(all));
        let mut failures = Vec::new();
        let mut processed = 0;
        for i in 0..all {
            let node = cache.node_at((self.next_start + i) % all);
            processed += 1;
            match cycle.filter(node) {
                Ok(()) => {
                    feasible.push(node);
                    if feasible.len() >= want {
                        break;
                    }
                }
                Err(f) => failures.push((node.name.clone(), f)),
            }
        }
        self.next_start = (self.next_start + processed) % all;
        if feasible.is_empty() {
            return Err(FitError {
                num_all_nodes: all,
                failures,
                post_filter_msg: String::new(),
            });
        }
        if feasible.len() == 1 {
            return Ok(feasible[0].name.clone());
        }
        let scores = cycle.score(&feasible, &self.weights);
        let mut best = 0;
        let mut ties = 0u64;
        for (i, s) in scores.iter().enumerate() {
            if *s > scores[best] {
                best = i;
                ties = 1;
            } else if *s == scores[best] {
                ties += 1;
                if self.random().is_multiple_of(ties) {
                    best = i;
                }
            }
        }
        Ok(feasible[best].name.clone())
    }
}

/// Whether preemption could help on any filtered node (some failure is resolvable).
pub fn preemption_might_help(err: &FitError) -> bool {
    err.failures
        .iter()
        .any(|(_, f)| f.code == Code::Unschedulable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{cache, node, pod};
    use serde_json::json;

    #[test]
    fn adaptive_percentage() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300);
        assert_eq!(num_feasible_nodes_to_find(0, 200), 100);
        assert_eq!(num_feasible_nodes_to_find(10, 5000), 500);
        assert_eq!(num_feasible_nodes_to_find(100, 5000), 5000);
    }

    #[test]
    fn upstream_failure_message() {
        let c = cache(
            vec![
                node("a", json!({"status": {"allocatable": {"cpu": "1"}}})),
                node("b", json!({"metadata": {"labels": {"disk": "hdd"}}})),
                node("c", json!({"metadata": {"labels": {"disk": "hdd"}}})),
            ],
            vec![],
        );
        let mut p = pod(
            "p",
            json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["hdd"]}]}]}}},
                "containers": [{"name": "c", "resources": {"requests": {"cpu": "2"}}}]}}),
        );
        let mut alg = Algorithm::new(0);
        let err = alg
            .schedule(&c, std::sync::Arc::make_mut(&mut p))
            .unwrap_err();
        assert_eq!(
            err.message(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector."
        );
        assert!(preemption_might_help(&err));
    }

    #[test]
    fn deployment_replicas_spread_over_equal_nodes() {
        // Large simulated-size nodes: LeastAllocated cannot tell one 100m/200Mi default
        // request apart, so the default hostname spreading must.
        let big =
            json!({"status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"}}});
        let replica = |n: &str| {
            pod(
                n,
                json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "h"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                         "name": "web-h", "uid": "u1", "controller": true}]}}),
            )
        };
        for _ in 0..20 {
            let mut c = cache(vec![node("a", big.clone()), node("b", big.clone())], vec![]);
            c.owners.set_controller(
                crate::owners::OwnerKind::ReplicaSet,
                "default",
                "web-h",
                Some(crate::selectors::Selector::from_map(
                    &[("app", "web"), ("pod-template-hash", "h")]
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                )),
            );
            let mut alg = Algorithm::new(0);
            let (p1, p2) = (replica("w1"), replica("w2"));
            let n1 = alg.schedule(&c, &p1).unwrap();
            c.assume(p1, &n1);
            let n2 = alg.schedule(&c, &p2).unwrap();
            assert_ne!(n1, n2);
            // Vary the tie-break state between rounds.
            alg.random();
        }
    }

    #[test]
    fn picks_the_least_loaded_node() {
        let busy = pod(
            "busy",
            json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "3", "memory": "6Gi"}}}]}}),
        );
        let c = cache(
            vec![node("a", json!({})), node("b", json!({}))],
            vec![(busy, "a")],
        );
        let mut alg = Algorithm::new(0);
        for _ in 0..5 {
            assert_eq!(alg.schedule(&c, &pod("p", json!({}))).unwrap(), "b");
        }
        assert!(
            Algorithm::new(0)
                .schedule(&Cache::default(), &pod("p", json!({})))
                .is_err()
        );
    }
}

#[cfg(test)]
mod bench {
    use super::*;
    use crate::plugins::testutil::{node, pod};
    use serde_json::json;
    use std::sync::Arc;

    /// Algorithm-only figure: `cargo test -p rkube-scheduler --release --lib -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints a figure; run by hand"]
    fn algorithm_throughput_5000_nodes() {
        let mut c = Cache::default();
        for i in 0..5000 {
            c.upsert_node(node(
                &format!("n{i}"),
                json!({"metadata": {"labels": {"zone": format!("z{}", i % 3)}},
                       "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"}}}),
            ));
        }
        let mut alg = Algorithm::new(0);
        let n = 20_000;
        let pods: Vec<_> = (0..n)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    json!({"spec": {"containers": [{"name": "c", "image": "nginx",
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}),
                )
            })
            .collect();
        let start = std::time::Instant::now();
        for p in &pods {
            let node = alg.schedule(&c, p).unwrap();
            c.assume(Arc::clone(p), &node);
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{n} pods on 5000 nodes: {:.0} pods/s (algorithm only)",
            n as f64 / secs
        );
    }

    /// Same, with required hostname anti-affinity within groups of 100, on 1,000 nodes.
    #[test]
    #[ignore = "prints a figure; run by hand"]
    fn algorithm_throughput_anti_affinity_1000_nodes() {
        let mut c = Cache::default();
        for i in 0..1000 {
            c.upsert_node(node(
                &format!("n{i}"),
                json!({"status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"}}}),
            ));
        }
        let mut alg = Algorithm::new(0);
        let n = 10_000;
        let pods: Vec<_> = (0..n)
            .map(|i| {
                let g = format!("g{}", i / 100);
                pod(
                    &format!("p{i}"),
                    json!({"metadata": {"labels": {"group": g}},
                        "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                            {"labelSelector": {"matchLabels": {"group": g}}, "topologyKey": "kubernetes.io/hostname"}]}},
                        "containers": [{"name": "c", "image": "pause",
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}),
                )
            })
            .collect();
        let start = std::time::Instant::now();
        for p in &pods {
            let node = alg.schedule(&c, p).unwrap();
            c.assume(Arc::clone(p), &node);
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{n} anti-affine pods on 1000 nodes: {:.0} pods/s (algorithm only)",
            n as f64 / secs
        );
    }
}
