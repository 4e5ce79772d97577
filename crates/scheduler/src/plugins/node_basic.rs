//! NodeUnschedulable, NodeName and NodePorts filters.

use k8s_openapi::api::core::v1::Taint;

use crate::cache::NodeInfo;
use crate::framework::{Failure, FilterResult};
use crate::plugins::taint_toleration::tolerates;
use crate::pod_info::PodInfo;

/// Taint key standing for `spec.unschedulable`.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Rejects cordoned nodes unless the pod tolerates the unschedulable taint.
pub fn node_unschedulable(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    if !node.unschedulable() {
        return Ok(());
    }
    let taint = Taint {
        key: UNSCHEDULABLE_TAINT.into(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    };
    if pod.tolerations().iter().any(|t| tolerates(t, &taint)) {
        return Ok(());
    }
    Err(Failure::unresolvable("node(s) were unschedulable"))
}

/// Rejects nodes other than `spec.nodeName` when set.
pub fn node_name(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(n) if !n.is_empty() && n != node.name => Err(Failure::unresolvable(
            "node(s) didn't match the requested node name",
        )),
        _ => Ok(()),
    }
}

/// Rejects nodes where a requested host port is taken.
pub fn node_ports(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    let clash = pod
        .host_ports
        .iter()
        .any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
    if clash {
        return Err(Failure::unschedulable(
            "node(s) didn't have free ports for the requested pod ports",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, node_info, pod};
    use serde_json::json;

    #[test]
    fn cordoned_nodes_rejected_unless_tolerated() {
        let n = node_info(node("n1", json!({"spec": {"unschedulable": true}})), &[]);
        let p = pod("p", json!({}));
        assert_eq!(
            node_unschedulable(&p, &n),
            Err(Failure::unresolvable("node(s) were unschedulable"))
        );
        let tolerant = pod(
            "t",
            json!({"spec": {"tolerations": [{"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}]}}),
        );
        assert!(node_unschedulable(&tolerant, &n).is_ok());
    }

    #[test]
    fn node_name_must_match() {
        let n = node_info(node("n1", json!({})), &[]);
        assert!(node_name(&pod("p", json!({"spec": {"nodeName": "n1"}})), &n).is_ok());
        assert!(node_name(&pod("p", json!({"spec": {"nodeName": "n2"}})), &n).is_err());
        assert!(node_name(&pod("p", json!({})), &n).is_ok());
    }

    #[test]
    fn host_port_conflicts() {
        let with_port = |name: &str, ip: &str| {
            pod(
                name,
                json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080, "hostIP": ip}]}]}}),
            )
        };
        let n = node_info(node("n1", json!({})), &[with_port("a", "10.0.0.1")]);
        assert!(node_ports(&with_port("b", "10.0.0.2"), &n).is_ok());
        assert!(node_ports(&with_port("b", "10.0.0.1"), &n).is_err());
        assert!(node_ports(&with_port("b", ""), &n).is_err());
        assert!(node_ports(&pod("c", json!({})), &n).is_ok());
    }
}
