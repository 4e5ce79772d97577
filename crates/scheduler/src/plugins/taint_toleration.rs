//! TaintToleration: NoSchedule/NoExecute taints filter, PreferNoSchedule taints score.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::cache::NodeInfo;
use crate::framework::{Failure, FilterResult, normalize};
use crate::pod_info::PodInfo;

/// Whether a toleration tolerates a taint (upstream's `ToleratesTaint`).
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            !key.is_empty()
                && t.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// Rejects nodes with an untolerated NoSchedule or NoExecute taint.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    let tolerations = pod.tolerations();
    for taint in node.taints() {
        if taint.effect != "NoSchedule" && taint.effect != "NoExecute" {
            continue;
        }
        if !tolerations.iter().any(|t| tolerates(t, taint)) {
            return Err(Failure::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Fewer untolerated PreferNoSchedule taints score higher.
pub fn score(pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    let tolerations: Vec<&Toleration> = pod
        .tolerations()
        .iter()
        .filter(|t| {
            t.effect
                .as_deref()
                .is_none_or(|e| e.is_empty() || e == "PreferNoSchedule")
        })
        .collect();
    let mut scores: Vec<i64> = nodes
        .iter()
        .map(|n| {
            n.taints()
                .iter()
                .filter(|taint| taint.effect == "PreferNoSchedule")
                .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
                .count() as i64
        })
        .collect();
    normalize(&mut scores, true);
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, node_info, pod};
    use serde_json::json;

    #[test]
    fn untolerated_taint_rejects_with_upstream_reason() {
        let n = node_info(
            node(
                "n1",
                json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
            ),
            &[],
        );
        assert_eq!(
            filter(&pod("p", json!({})), &n),
            Err(Failure::unresolvable(
                "node(s) had untolerated taint {dedicated: gpu}"
            ))
        );
        let tol = pod(
            "p",
            json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu"}]}}),
        );
        assert!(filter(&tol, &n).is_ok());
        let all = pod(
            "p",
            json!({"spec": {"tolerations": [{"operator": "Exists"}]}}),
        );
        assert!(filter(&all, &n).is_ok());
    }

    #[test]
    fn prefer_no_schedule_scores_lower() {
        let tainted = node_info(
            node(
                "a",
                json!({"spec": {"taints": [{"key": "k", "effect": "PreferNoSchedule"}]}}),
            ),
            &[],
        );
        let clean = node_info(node("b", json!({})), &[]);
        let s = score(&pod("p", json!({})), &[&tainted, &clean]);
        assert_eq!(s, vec![0, 100]);
        assert!(filter(&pod("p", json!({})), &tainted).is_ok());
    }
}
