//! NodeResourcesFit filter and the LeastAllocated and BalancedAllocation scores.

use crate::cache::NodeInfo;
use crate::framework::{Code, Failure, FilterResult, MAX_NODE_SCORE};
use crate::pod_info::PodInfo;

/// Rejects nodes without room for the pod's requests; lists every insufficient resource.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    let mut reasons = Vec::new();
    if node.pods.len() as i64 + 1 > node.allocatable.pods {
        reasons.push("Too many pods".into());
    }
    let req = &pod.requests;
    if !req.is_zero() {
        let (a, u) = (&node.allocatable, &node.requested);
        if req.milli_cpu > 0 && a.milli_cpu < req.milli_cpu + u.milli_cpu {
            reasons.push("Insufficient cpu".into());
        }
        if req.memory > 0 && a.memory < req.memory + u.memory {
            reasons.push("Insufficient memory".into());
        }
        if req.ephemeral_storage > 0
            && a.ephemeral_storage < req.ephemeral_storage + u.ephemeral_storage
        {
            reasons.push("Insufficient ephemeral-storage".into());
        }
        for (name, want) in &req.scalar {
            if *want == 0 {
                continue;
            }
            let have = a.scalar.get(name).copied().unwrap_or(0);
            let used = u.scalar.get(name).copied().unwrap_or(0);
            if have < want + used {
                reasons.push(format!("Insufficient {name}").into());
            }
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            code: Code::Unschedulable,
            reasons,
        })
    }
}

fn least(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// LeastAllocated: free share of cpu and memory (non-zero requests), equally weighted.
pub fn least_allocated(pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    nodes
        .iter()
        .map(|n| {
            let cpu = least(n.non_zero_cpu + pod.non_zero_cpu, n.allocatable.milli_cpu);
            let mem = least(n.non_zero_mem + pod.non_zero_mem, n.allocatable.memory);
            (cpu + mem) / 2
        })
        .collect()
}

/// BalancedAllocation: favours nodes whose cpu and memory fractions stay close.
/// Skipped (all zero) for best-effort pods, as upstream does since 1.33: their zero requests
/// would otherwise keep pulling them onto the same node.
pub fn balanced_allocation(pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    if pod.requests.milli_cpu == 0 && pod.requests.memory == 0 {
        return vec![0; nodes.len()];
    }
    let frac = |req: i64, cap: i64| {
        if cap <= 0 {
            1.0
        } else {
            (req as f64 / cap as f64).min(1.0)
        }
    };
    nodes
        .iter()
        .map(|n| {
            let cpu = frac(
                n.requested.milli_cpu + pod.requests.milli_cpu,
                n.allocatable.milli_cpu,
            );
            let mem = frac(
                n.requested.memory + pod.requests.memory,
                n.allocatable.memory,
            );
            let std = (cpu - mem).abs() / 2.0;
            ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, node_info, pod};
    use serde_json::json;

    fn req(name: &str, r: serde_json::Value) -> std::sync::Arc<PodInfo> {
        pod(
            name,
            json!({"spec": {"containers": [{"name": "c", "resources": {"requests": r}}]}}),
        )
    }

    #[test]
    fn lists_every_insufficient_resource() {
        let n = node_info(
            node(
                "n1",
                json!({"status": {"allocatable": {"pods": "1", "example.com/gpu": "1"}}}),
            ),
            &[req("a", json!({"cpu": "3"}))],
        );
        let p = req(
            "p",
            json!({"cpu": "2", "memory": "9Gi", "example.com/gpu": "2"}),
        );
        let err = filter(&p, &n).unwrap_err();
        assert_eq!(err.code, Code::Unschedulable);
        assert_eq!(
            err.reasons,
            vec![
                "Too many pods",
                "Insufficient cpu",
                "Insufficient memory",
                "Insufficient example.com/gpu"
            ]
        );
        let small = node_info(node("n2", json!({})), &[]);
        assert!(filter(&req("q", json!({"cpu": "1"})), &small).is_ok());
    }

    #[test]
    fn least_allocated_prefers_empty_nodes() {
        let busy = node_info(
            node("a", json!({})),
            &[req("x", json!({"cpu": "2", "memory": "4Gi"}))],
        );
        let idle = node_info(node("b", json!({})), &[]);
        let p = req("p", json!({"cpu": "1", "memory": "1Gi"}));
        let s = least_allocated(&p, &[&busy, &idle]);
        assert!(s[1] > s[0], "{s:?}");
        assert_eq!(s[1], (75 + 87) / 2);
    }

    #[test]
    fn balanced_allocation_prefers_even_usage() {
        let cpu_heavy = node_info(node("a", json!({})), &[req("x", json!({"cpu": "3"}))]);
        let idle = node_info(node("b", json!({})), &[]);
        let p = req("p", json!({"cpu": "1", "memory": "2Gi"}));
        let s = balanced_allocation(&p, &[&cpu_heavy, &idle]);
        assert_eq!(s[1], 100);
        assert!(s[0] < s[1]);
        let best_effort = pod("b", json!({}));
        assert_eq!(
            balanced_allocation(&best_effort, &[&cpu_heavy, &idle]),
            vec![0, 0]
        );
    }
}
