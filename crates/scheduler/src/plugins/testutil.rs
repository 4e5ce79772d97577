//! Builders of nodes and pods for plugin unit tests.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use crate::cache::{Cache, NodeInfo};
use crate::pod_info::PodInfo;

/// A node from JSON merged over a default 4-cpu, 8Gi, 110-pod node.
pub fn node(name: &str, extra: Value) -> Arc<Node> {
    let mut v = json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "10Gi"}}
    });
    merge(&mut v, extra);
    Arc::new(serde_json::from_value(v).unwrap())
}

/// A pod in `default` from JSON merged over a one-container pod.
pub fn pod(name: &str, extra: Value) -> Arc<PodInfo> {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    });
    merge(&mut v, extra);
    let p: Pod = serde_json::from_value(v).unwrap();
    Arc::new(PodInfo::new(Arc::new(p)))
}

/// A NodeInfo holding `node` and `pods`.
pub fn node_info(node: Arc<Node>, pods: &[Arc<PodInfo>]) -> NodeInfo {
    let mut c = Cache::default();
    let name = node.metadata.name.clone().unwrap();
    c.upsert_node(node);
    for p in pods {
        c.upsert_pod(p.clone(), &name);
    }
    c.node(&name).unwrap().clone()
}

/// A cache with these nodes and `(pod, node)` placements.
pub fn cache(nodes: Vec<Arc<Node>>, pods: Vec<(Arc<PodInfo>, &str)>) -> Cache {
    let mut c = Cache::default();
    for n in nodes {
        c.upsert_node(n);
    }
    for (p, n) in pods {
        c.upsert_pod(p, n);
    }
    c
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}
