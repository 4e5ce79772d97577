//! Preemption: find lower-priority victims on one node whose removal lets the pod fit.

use std::sync::Arc;

use crate::cache::{Cache, NodeInfo};
use crate::framework::{Code, Cycle, Failure};
use crate::pod_info::PodInfo;
use crate::schedule::{FitError, histogram};

/// What preemption decided.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The node nominated for the pod, when victims were chosen.
    pub node: Option<String>,
    /// Pods to delete.
    pub victims: Vec<Arc<PodInfo>>,
    /// The "preemption: ..." part of the FailedScheduling message (empty when nominated).
    pub message: String,
}

struct Candidate {
    node: String,
    victims: Vec<Arc<PodInfo>>,
}

fn candidate_key(c: &Candidate) -> (i32, i64, usize) {
    let highest = c
        .victims
        .iter()
        .map(|v| v.priority)
        .max()
        .unwrap_or(i32::MIN);
    let sum: i64 = c.victims.iter().map(|v| i64::from(v.priority)).sum();
    (highest, sum, c.victims.len())
}

/// Tries to make room for `pod` after it failed with `fit`.
pub fn preempt(cache: &Cache, pod: &PodInfo, fit: &FitError) -> Outcome {
    if fit.num_all_nodes == 0 {
        return Outcome::default();
    }
    let spec = pod.pod.spec.as_ref();
    if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Outcome {
            message: "preemption: not eligible due to preemptionPolicy=Never.".into(),
            ..Outcome::default()
        };
    }
    let nominated = pod
        .pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref());
    if let Some(n) = nominated.and_then(|n| cache.node(n))
        && n.pods
            .iter()
            .any(|p| p.is_terminating() && p.priority < pod.priority)
    {
        return Outcome {
            message: "preemption: not eligible due to a terminating pod on the nominated node."
                .into(),
            ..Outcome::default()
        };
    }
    let cycle = Cycle::new(cache, pod);
    let mut statuses: Vec<Failure> = Vec::new();
    let mut best: Option<Candidate> = None;
    for (name, failure) in &fit.failures {
        if failure.code == Code::UnschedulableAndUnresolvable {
            statuses.push(Failure::unresolvable(
                "Preemption is not helpful for scheduling",
            ));
            continue;
        }
        let Some(node) = cache.node(name) else {
            continue;
        };
        match victims_on(&cycle, pod, node) {
            Ok(victims) => {
                let c = Candidate {
                    node: name.clone(),
                    victims,
                };
                if best
                    .as_ref()
                    .is_none_or(|b| candidate_key(&c) < candidate_key(b))
                {
                    best = Some(c);
                }
            }
            Err(f) => statuses.push(f),
        }
    }
    match best {
        Some(c) => Outcome {
            node: Some(c.node),
            victims: c.victims,
            message: String::new(),
        },
        None => Outcome {
            message: format!(
                "preemption: 0/{} nodes are available: {}.",
                fit.num_all_nodes,
                histogram(statuses.iter())
            ),
            ..Outcome::default()
        },
    }
}

/// The fewest lower-priority pods (lowest first) whose removal lets `pod` pass the filters.
fn victims_on(
    cycle: &Cycle<'_>,
    pod: &PodInfo,
    node: &NodeInfo,
) -> Result<Vec<Arc<PodInfo>>, Failure> {
    let mut lower: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority && !p.is_terminating())
        .cloned()
        .collect();
    if lower.is_empty() {
        return Err(Failure::unresolvable(
            "No preemption victims found for incoming pod",
        ));
    }
    let mut trial = node.clone();
    for v in &lower {
        trial.remove_pod(&v.key);
    }
    cycle.filter(&trial)?;
    // Reprieve as many as possible, highest priority first.
    lower.sort_by_key(|v| std::cmp::Reverse(v.priority));
    let mut victims = Vec::new();
    for v in lower {
        trial.add_pod(v.clone());
        if cycle.filter(&trial).is_err() {
            trial.remove_pod(&v.key);
            victims.push(v);
        }
    }
    Ok(victims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{cache, node, pod};
    use crate::schedule::Algorithm;
    use serde_json::json;

    fn cpu(name: &str, cpu: &str, prio: i32) -> Arc<PodInfo> {
        pod(
            name,
            json!({"spec": {"priority": prio, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}),
        )
    }

    #[test]
    fn evicts_the_fewest_lowest_priority_pods() {
        let c = cache(
            vec![node("a", json!({"status": {"allocatable": {"cpu": "2"}}}))],
            vec![(cpu("low", "1", 0), "a"), (cpu("mid", "1", 5), "a")],
        );
        let p = cpu("high", "1", 10);
        let fit = Algorithm::new(0).schedule(&c, &p).unwrap_err();
        let out = preempt(&c, &p, &fit);
        assert_eq!(out.node.as_deref(), Some("a"));
        let names: Vec<_> = out.victims.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(names, vec!["default/low"]);
    }

    #[test]
    fn explains_when_preemption_cannot_help() {
        let c = cache(
            vec![
                node("a", json!({"status": {"allocatable": {"cpu": "1"}}})),
                node("b", json!({"spec": {"unschedulable": true}})),
            ],
            vec![(cpu("peer", "1", 10), "a")],
        );
        let p = cpu("p", "1", 10);
        let mut fit = Algorithm::new(0).schedule(&c, &p).unwrap_err();
        let out = preempt(&c, &p, &fit);
        assert!(out.node.is_none());
        fit.post_filter_msg = out.message;
        assert_eq!(
            fit.message(),
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable. \
             preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, \
             1 Preemption is not helpful for scheduling."
        );
        let never = pod("n", json!({"spec": {"preemptionPolicy": "Never"}}));
        assert!(
            preempt(&c, &never, &fit)
                .message
                .contains("preemptionPolicy=Never")
        );
    }
}
