//! Incremental cache of nodes and the pods placed on them, with per-node aggregates and assumed pods.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};

use crate::owners::Owners;
use crate::pod_info::{HostPort, PodInfo};
use crate::resources::Resources;
use crate::selectors::{Labels, Selector};

/// The node label naming a node's own topology domain.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

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
    /// Pods with terms that score others (see [`PodInfo::has_scored_affinity`]).
    pub pods_with_scored_affinity: usize,
    /// `spec.unschedulable`, kept here so the filters read no further than this struct.
    unschedulable: bool,
    /// `spec.taints`, kept here for the same reason.
    taints: Vec<Taint>,
    /// How many of the placed pods carry each label (by [`crate::pod_info::label_hash`]):
    /// a node without a selector's hinted label holds no pod it selects.
    label_counts: HashMap<u64, u32>,
}

impl NodeInfo {
    /// The node's labels.
    pub fn labels(&self) -> Option<&Labels> {
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref())
    }

    /// The node's `kubernetes.io/hostname` label.
    pub fn hostname(&self) -> Option<&str> {
        self.labels()
            .and_then(|l| l.get(HOSTNAME_LABEL))
            .map(String::as_str)
    }

    /// The node's taints.
    pub fn taints(&self) -> &[Taint] {
        &self.taints
    }

    /// Whether `spec.unschedulable` is set.
    pub fn unschedulable(&self) -> bool {
        self.unschedulable
    }

    /// Whether some placed pod may carry the label `hint` stands for (always, without one).
    pub fn may_hold(&self, hint: Option<u64>) -> bool {
        hint.is_none_or(|h| self.label_counts.contains_key(&h))
    }

    /// Adds a pod's usage.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        for h in &pod.label_hashes {
            *self.label_counts.entry(*h).or_default() += 1;
        }
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
        if pod.has_scored_affinity() {
            self.pods_with_scored_affinity += 1;
        }
        self.pods.push(pod);
    }

    /// Removes a pod's usage; returns whether it was present.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.key == key) else {
            return false;
        };
        let pod = self.pods.swap_remove(i);
        for h in &pod.label_hashes {
            if let Some(n) = self.label_counts.get_mut(h) {
                *n -= 1;
                if *n == 0 {
                    self.label_counts.remove(h);
                }
            }
        }
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
        if pod.has_scored_affinity() {
            self.pods_with_scored_affinity -= 1;
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
        let spec = node.spec.as_ref();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
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
    /// Node slots (reused through `free`); a slot is live while it has a node or pods.
    slots: Vec<NodeInfo>,
    /// Node name -> slot.
    index: HashMap<String, usize>,
    free: Vec<usize>,
    /// Slots of nodes with an object, in a stable order for round-robin filtering.
    order: Vec<usize>,
    pods: HashMap<String, CachedPod>,
    /// Number of nodes having each normalized image.
    image_nodes: HashMap<String, usize>,
    namespaces: HashMap<String, Labels>,
    /// Placed pods with any (anti-)affinity term, cluster-wide.
    affinity_pods: usize,
    /// Placed pods with a required anti-affinity term, cluster-wide.
    anti_affinity_pods: usize,
    /// Placed pods with a required anti-affinity term on a topology other than hostname.
    zonal_anti_affinity_pods: usize,
    /// Placed pods with terms that score others.
    scored_affinity_pods: usize,
    /// Nodes per `kubernetes.io/hostname` value, and how many values more than one node has.
    hostnames: HashMap<String, usize>,
    shared_hostnames: usize,
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
        let slot = self.slot_for(&name);
        let old_host = self.slots[slot].hostname().map(str::to_string);
        let new_host = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(HOSTNAME_LABEL))
            .cloned();
        if old_host != new_host {
            if let Some(h) = old_host {
                self.forget_hostname(&h);
            }
            if let Some(h) = new_host {
                self.count_hostname(h);
            }
        }
        let info = &mut self.slots[slot];
        let relevant = match info.node.as_deref() {
            None => {
                self.order.push(slot);
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

    /// The slot of node `name`, made (empty) when new.
    fn slot_for(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let info = NodeInfo {
            name: name.to_string(),
            ..NodeInfo::default()
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = info;
                i
            }
            None => {
                self.slots.push(info);
                self.slots.len() - 1
            }
        };
        self.index.insert(name.to_string(), i);
        i
    }

    fn count_hostname(&mut self, h: String) {
        let n = self.hostnames.entry(h).or_default();
        *n += 1;
        if *n == 2 {
            self.shared_hostnames += 1;
        }
    }

    fn forget_hostname(&mut self, h: &str) {
        if let Some(n) = self.hostnames.get_mut(h) {
            *n -= 1;
            if *n == 1 {
                self.shared_hostnames -= 1;
            }
            if *n == 0 {
                self.hostnames.remove(h);
            }
        }
    }

    /// Whether every `kubernetes.io/hostname` value names one node, so a hostname topology
    /// domain is just that node (plugins may then look at the node's own pods only).
    pub fn hostnames_unique(&self) -> bool {
        self.shared_hostnames == 0
    }

    /// Frees a slot left with neither a node object nor pods.
    fn release_if_empty(&mut self, slot: usize) {
        let info = &self.slots[slot];
        if info.node.is_none() && info.pods.is_empty() {
            self.index.remove(&info.name);
            self.slots[slot] = NodeInfo::default();
            self.free.push(slot);
        }
    }

    /// Removes a node object (its pods stay accounted until they go).
    pub fn remove_node(&mut self, name: &str) {
        self.generation += 1;
        let Some(&slot) = self.index.get(name) else {
            return;
        };
        if let Some(h) = self.slots[slot].hostname().map(str::to_string) {
            self.forget_hostname(&h);
        }
        let info = &mut self.slots[slot];
        for img in info.images.keys() {
            if let Some(c) = self.image_nodes.get_mut(img) {
                *c = c.saturating_sub(1);
            }
        }
        let had = info.node.take().is_some();
        info.images.clear();
        info.unschedulable = false;
        info.taints.clear();
        if had {
            self.order.retain(|&i| i != slot);
        }
        self.release_if_empty(slot);
    }

    /// Records a pod bound to `node` (from the watch): confirms an assumed pod or adds/moves it.
    pub fn upsert_pod(&mut self, info: Arc<PodInfo>, node: &str) {
        self.generation += 1;
        if let Some(old) = self.pods.get(&info.key) {
            let (old_node, key) = (old.node.clone(), info.key.clone());
            let info = old.info.clone();
            self.track(&info, false);
            if let Some(&slot) = self.index.get(&old_node) {
                self.slots[slot].remove_pod(&key);
                self.release_if_empty(slot);
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
        if info.has_zonal_anti_affinity() {
            delta(&mut self.zonal_anti_affinity_pods);
        }
        if info.has_scored_affinity() {
            delta(&mut self.scored_affinity_pods);
        }
    }

    fn place(&mut self, info: Arc<PodInfo>, node: &str, assumed: bool) {
        self.track(&info, true);
        let slot = self.slot_for(node);
        self.slots[slot].add_pod(info.clone());
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
        if let Some(&slot) = self.index.get(&p.node) {
            self.slots[slot].remove_pod(key);
            self.release_if_empty(slot);
        }
    }

    /// Whether the pod is assumed (bound by us, not yet seen bound).
    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// Whether `pod` is already placed, confirmed, on `node` with the same labels, spec and
    /// deletion state (so an update to it changes nothing the scheduler counts).
    pub fn unchanged(&self, key: &str, node: &str, pod: &Pod) -> bool {
        self.pods.get(key).is_some_and(|p| {
            let old = &p.info.pod;
            !p.assumed
                && p.node == node
                && old.metadata.uid == pod.metadata.uid
                && old.metadata.deletion_timestamp == pod.metadata.deletion_timestamp
                && old.metadata.labels == pod.metadata.labels
                && old.spec == pod.spec
        })
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

    /// Names of the nodes with an object, in round-robin order.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes().map(|n| n.name.as_str())
    }

    /// Number of nodes with an object.
    pub fn node_count(&self) -> usize {
        self.order.len()
    }

    /// Node number `i` (below [`Cache::node_count`]) in round-robin order.
    pub fn node_at(&self, i: usize) -> &NodeInfo {
        &self.slots[self.order[i]]
    }

    /// One node.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index
            .get(name)
            .map(|&i| &self.slots[i])
            .filter(|n| n.node.is_some())
    }

    /// Every node with an object.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.order.iter().map(|&i| &self.slots[i])
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

    /// Whether any placed pod has a required anti-affinity term on a non-hostname topology.
    pub fn any_zonal_anti_affinity(&self) -> bool {
        self.zonal_anti_affinity_pods > 0
    }

    /// Whether any placed pod has terms that score others.
    pub fn any_scored_affinity(&self) -> bool {
        self.scored_affinity_pods > 0
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
    fn status_updates_of_placed_pods_are_unchanged() {
        let mut c = Cache::default();
        c.upsert_node(node("n1"));
        let p = pod("p", "500m");
        c.assume(p.clone(), "n1");
        assert!(
            !c.unchanged("default/p", "n1", &p.pod),
            "assumed: not confirmed yet"
        );
        c.upsert_pod(p.clone(), "n1");
        let mut running = (*p.pod).clone();
        running.status = Some(Default::default());
        assert!(c.unchanged("default/p", "n1", &running));
        assert!(!c.unchanged("default/p", "n2", &running));
        running.metadata.labels = Some([("a".to_string(), "b".to_string())].into());
        assert!(!c.unchanged("default/p", "n1", &running));
    }

    #[test]
    fn pods_before_node_and_node_removal() {
        let mut c = Cache::default();
        c.upsert_pod(pod("p", "1"), "n1");
        assert!(c.node("n1").is_none());
        c.upsert_node(node("n1"));
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 1000);
        c.remove_node("n1");
        assert_eq!(c.node_count(), 0);
        assert_eq!(c.image_node_count("nginx:1.25"), 0);
        c.remove_pod("default/p");
        assert_eq!(c.nodes().count(), 0);
    }

    #[test]
    fn a_node_knows_which_labels_its_pods_may_carry() {
        let mut c = Cache::default();
        c.upsert_node(node("n1"));
        let labelled = |name: &str, app: &str| {
            let mut p = (*pod(name, "1m").pod).clone();
            p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
            Arc::new(PodInfo::new(Arc::new(p)))
        };
        let web = Some(crate::pod_info::label_hash("app", "web"));
        assert!(c.node("n1").unwrap().may_hold(None));
        assert!(!c.node("n1").unwrap().may_hold(web));
        c.upsert_pod(labelled("a", "web"), "n1");
        c.upsert_pod(labelled("b", "web"), "n1");
        c.upsert_pod(labelled("c", "db"), "n1");
        assert!(c.node("n1").unwrap().may_hold(web));
        c.remove_pod("default/a");
        assert!(c.node("n1").unwrap().may_hold(web));
        c.remove_pod("default/b");
        assert!(!c.node("n1").unwrap().may_hold(web));
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
