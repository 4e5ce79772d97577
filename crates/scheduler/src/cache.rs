//! Incremental cache of nodes and the pods placed on them, with per-node aggregates and assumed pods.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::owners::Owners;
use crate::pod_info::{HostPort, PodInfo};
use crate::resources::Resources;
use crate::selectors::{Labels, Selector};

/// One node and the aggregates of the pods placed on it.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// The node object; `None` while only pods naming it are known.
    pub node: Option<Arc<Node>>,
    pub name: String,
    pub allocatable: Resources,
    pub requested: Resources,
    pub non_zero_cpu: i64,
    pub non_zero_mem: i64,
    pub pods: Vec<Arc<PodInfo>>,
    pub used_ports: Vec<HostPort>,
    /// Normalized image name -> size in bytes.
    pub images: HashMap<String, i64>,
    pub pods_with_affinity: usize,
    pub pods_with_required_anti_affinity: usize,
}

impl NodeInfo {
    /// The node's labels.
    pub fn labels(&self) -> Option<&Labels> {
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref())
    }

    /// The node's taints.
    pub fn taints(&self) -> &[Taint] {
        self.node
            .as_ref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.taints.as_deref())
            .unwrap_or_default()
    }

    /// Whether `spec.unschedulable` is set.
    pub fn unschedulable(&self) -> bool {
        self.node
            .as_ref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
    }

    /// Adds a pod's usage.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_cpu += pod.non_zero_cpu;
        self.non_zero_mem += pod.non_zero_mem;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
    }

    /// Removes a pod's usage; returns whether it was present.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.key == key) else {
            return false;
        };
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests);
        self.non_zero_cpu -= pod.non_zero_cpu;
        self.non_zero_mem -= pod.non_zero_mem;
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity() {
            self.pods_with_affinity -= 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        true
    }

    fn set_node(&mut self, node: Arc<Node>) {
        let status = node.status.as_ref();
        self.allocatable = Resources::from_list(
            status
                .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
                .or(None),
        );
        self.images.clear();
        for img in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            let size = img.size_bytes.unwrap_or(0);
            for n in img.names.iter().flatten() {
                self.images.insert(normalize_image(n), size);
            }
        }
        self.node = Some(node);
    }
}

/// Adds `:latest` to an image name without tag or digest, like upstream's ImageLocality.
pub fn normalize_image(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// A pod the cache knows, and where it is.
#[derive(Debug, Clone)]
struct CachedPod {
    node: String,
    info: Arc<PodInfo>,
    /// Placed by the scheduler and not yet confirmed by the watch.
    assumed: bool,
}

/// Nodes, placed pods and namespace labels, updated from informers and by the scheduler.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: HashMap<String, NodeInfo>,
    /// Names of nodes with an object, in a stable order for round-robin filtering.
    order: Vec<String>,
    pods: HashMap<String, CachedPod>,
    /// Number of nodes having each normalized image.
    image_nodes: HashMap<String, usize>,
    namespaces: HashMap<String, Labels>,
    /// Placed pods with any (anti-)affinity term, cluster-wide.
    affinity_pods: usize,
    /// Placed pods with a required anti-affinity term, cluster-wide.
    anti_affinity_pods: usize,
    /// Service and controller selectors (default topology spreading).
    pub owners: Owners,
    /// Bumped on every change; lets callers detect a stale view.
    pub generation: u64,
}

impl Cache {
    /// Adds or replaces a node object; returns whether anything scheduling looks at changed
    /// (so heartbeats need not wake unschedulable pods).
    pub fn upsert_node(&mut self, node: Arc<Node>) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        self.generation += 1;
        let info = self.nodes.entry(name.clone()).or_insert_with(|| NodeInfo {
            name: name.clone(),
            ..NodeInfo::default()
        });
        let relevant = match info.node.as_deref() {
            None => {
                self.order.push(name);
                true
            }
            Some(old) => {
                let alloc = |n: &Node| {
                    n.status
                        .as_ref()
                        .map(|s| (s.allocatable.clone(), s.images.as_ref().map(Vec::len)))
                };
                old.metadata.labels != node.metadata.labels
                    || old.spec != node.spec
                    || alloc(old) != alloc(&node)
            }
        };
        for img in info.images.keys() {
            if let Some(c) = self.image_nodes.get_mut(img) {
                *c = c.saturating_sub(1);
            }
        }
        info.set_node(node);
        for img in info.images.keys() {
            *self.image_nodes.entry(img.clone()).or_default() += 1;
        }
        relevant
    }

    /// Removes a node object (its pods stay accounted until they go).
    pub fn remove_node(&mut self, name: &str) {
        self.generation += 1;
        let Some(info) = self.nodes.get_mut(name) else {
            return;
        };
        for img in info.images.keys() {
            if let Some(c) = self.image_nodes.get_mut(img) {
                *c = c.saturating_sub(1);
            }
        }
        info.node = None;
        info.images.clear();
        if info.pods.is_empty() {
            self.nodes.remove(name);
        }
        self.order.retain(|n| n != name);
    }

    /// Records a pod bound to `node` (from the watch): confirms an assumed pod or adds/moves it.
    pub fn upsert_pod(&mut self, info: Arc<PodInfo>, node: &str) {
        self.generation += 1;
        if let Some(old) = self.pods.get(&info.key) {
            let (old_node, key) = (old.node.clone(), info.key.clone());
            let info = old.info.clone();
            self.track(&info, false);
            if let Some(n) = self.nodes.get_mut(&old_node) {
                n.remove_pod(&key);
                if n.node.is_none() && n.pods.is_empty() {
                    self.nodes.remove(&old_node);
                }
            }
        }
        self.place(info, node, false);
    }

    /// Places a pod on `node` before the API confirms the binding.
    pub fn assume(&mut self, info: Arc<PodInfo>, node: &str) {
        self.generation += 1;
        self.place(info, node, true);
    }

    fn track(&mut self, info: &PodInfo, add: bool) {
        let delta = |v: &mut usize| {
            *v = if add { *v + 1 } else { v.saturating_sub(1) };
        };
        if info.has_affinity() {
            delta(&mut self.affinity_pods);
        }
        if !info.required_anti_affinity.is_empty() {
            delta(&mut self.anti_affinity_pods);
        }
    }

    fn place(&mut self, info: Arc<PodInfo>, node: &str, assumed: bool) {
        self.track(&info, true);
        let n = self
            .nodes
            .entry(node.to_string())
            .or_insert_with(|| NodeInfo {
                name: node.to_string(),
                ..NodeInfo::default()
            });
        n.add_pod(info.clone());
        self.pods.insert(
            info.key.clone(),
            CachedPod {
                node: node.to_string(),
                info,
                assumed,
            },
        );
    }

    /// Removes a pod (deleted, finished, or a failed binding).
    pub fn remove_pod(&mut self, key: &str) {
        let Some(p) = self.pods.remove(key) else {
            return;
        };
        self.generation += 1;
        self.track(&p.info, false);
        if let Some(n) = self.nodes.get_mut(&p.node) {
            n.remove_pod(key);
            if n.node.is_none() && n.pods.is_empty() {
                self.nodes.remove(&p.node);
            }
        }
    }

    /// Whether the pod is assumed (bound by us, not yet seen bound).
    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// Whether the cache knows the pod at all.
    pub fn contains_pod(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// Updates a namespace's labels.
    pub fn set_namespace(&mut self, name: String, labels: Option<Labels>) {
        match labels {
            Some(l) => self.namespaces.insert(name, l),
            None => self.namespaces.remove(&name),
        };
    }

    /// Labels of a namespace.
    pub fn namespace_labels(&self, name: &str) -> Option<&Labels> {
        self.namespaces.get(name)
    }

    /// The selector of the system default spreading constraints for `pod`, if any.
    pub fn default_spread_selector(&self, pod: &PodInfo) -> Option<Selector> {
        self.owners.default_selector(pod)
    }

    /// Nodes with an object, in round-robin order.
    pub fn node_names(&self) -> &[String] {
        &self.order
    }

    /// One node.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name).filter(|n| n.node.is_some())
    }

    /// Every node with an object.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.order.iter().filter_map(|n| self.nodes.get(n))
    }

    /// Number of nodes having an image.
    pub fn image_node_count(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    /// Whether any placed pod has required anti-affinity (lets plugins skip a scan).
    pub fn any_required_anti_affinity(&self) -> bool {
        self.anti_affinity_pods > 0
    }

    /// Whether any placed pod has an (anti-)affinity term.
    pub fn any_affinity(&self) -> bool {
        self.affinity_pods > 0
    }

    /// Names of all known pods with their node (for reconciling after a relist).
    pub fn pod_keys(&self) -> Vec<String> {
        self.pods
            .iter()
            .filter(|(_, p)| !p.assumed)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The node a pod is placed on.
    pub fn pod_node(&self, key: &str) -> Option<&str> {
        self.pods.get(key).map(|p| p.node.as_str())
    }

    /// The cached info of a pod.
    pub fn pod_info(&self, key: &str) -> Option<&Arc<PodInfo>> {
        self.pods.get(key).map(|p| &p.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn node(name: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                           "images": [{"names": ["nginx:1.25"], "sizeBytes": 100}]}
            }))
            .unwrap(),
        )
    }

    fn pod(name: &str, cpu: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}
            }))
            .unwrap(),
        )))
    }

    #[test]
    fn assume_confirm_remove() {
        let mut c = Cache::default();
        c.upsert_node(node("n1"));
        c.assume(pod("p", "500m"), "n1");
        assert!(c.is_assumed("default/p"));
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 500);
        c.upsert_pod(pod("p", "500m"), "n1");
        assert!(!c.is_assumed("default/p"));
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 500);
        assert_eq!(c.node("n1").unwrap().pods.len(), 1);
        c.remove_pod("default/p");
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 0);
        assert_eq!(c.image_node_count("nginx:1.25"), 1);
    }

    #[test]
    fn pods_before_node_and_node_removal() {
        let mut c = Cache::default();
        c.upsert_pod(pod("p", "1"), "n1");
        assert!(c.node("n1").is_none());
        c.upsert_node(node("n1"));
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 1000);
        c.remove_node("n1");
        assert!(c.node_names().is_empty());
        assert_eq!(c.image_node_count("nginx:1.25"), 0);
        c.remove_pod("default/p");
        assert_eq!(c.nodes().count(), 0);
    }

    #[test]
    fn image_names_normalized() {
        assert_eq!(normalize_image("nginx"), "nginx:latest");
        assert_eq!(
            normalize_image("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(normalize_image("busybox@sha256:ab"), "busybox@sha256:ab");
    }
}
