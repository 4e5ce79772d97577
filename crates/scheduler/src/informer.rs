//! Watches nodes, pods and namespaces and feeds the cache and the queue.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ReplicationController, Service};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::cache::Cache;
use crate::owners::{OwnerKind, Owners};
use crate::pod_info::PodInfo;
use crate::queue::SchedulingQueue;
use crate::selectors::Selector;

/// Shared state the informers update.
#[derive(Clone)]
pub struct Sinks {
    pub cache: Arc<Mutex<Cache>>,
    pub queue: Arc<SchedulingQueue>,
    pub scheduler_name: String,
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

impl Sinks {
    /// Applies a pod add/update.
    pub fn pod_applied(&self, mut pod: Pod) {
        if is_terminal(&pod) {
            self.pod_deleted(&key_of(&pod));
            return;
        }
        // Nothing here reads managedFields; dropping them halves what cached pods hold.
        pod.metadata.managed_fields = None;
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        if let Some(node) = &node
            && self.cache.lock().unchanged(&key_of(&pod), node, &pod)
        {
            // A status update of a placed pod (the node reporting it Running): nothing the
            // scheduler counts changed.
            return;
        }
        let ours = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref())
            == Some(self.scheduler_name.as_str());
        let info = Arc::new(PodInfo::new(Arc::new(pod)));
        match node {
            Some(node) => {
                self.queue.delete(&info.key);
                let mut cache = self.cache.lock();
                let new = !cache.contains_pod(&info.key);
                let interesting = info.has_affinity();
                cache.upsert_pod(info, &node);
                drop(cache);
                if new || interesting {
                    // An assigned pod can satisfy pending pods' affinity.
                    self.queue.move_all(|p| !p.required_affinity.is_empty());
                }
            }
            None => {
                if self.cache.lock().is_assumed(&info.key) {
                    return;
                }
                if ours && !info.is_terminating() {
                    self.queue.add(info);
                } else {
                    self.queue.delete(&info.key);
                }
            }
        }
    }

    /// Applies a pod deletion.
    pub fn pod_deleted(&self, key: &str) {
        let placed = {
            let mut cache = self.cache.lock();
            let placed = cache.contains_pod(key);
            cache.remove_pod(key);
            placed
        };
        self.queue.delete(key);
        if placed {
            self.queue.move_all(|_| true);
        }
    }

    /// Applies a node add/update.
    pub fn node_applied(&self, node: Node) {
        let relevant = self.cache.lock().upsert_node(Arc::new(node));
        if relevant {
            self.queue.move_all(|_| true);
        }
    }
}

fn key_of(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Watches pods until `stop`; flips `synced` after the first full list.
pub async fn watch_pods(
    client: Client,
    sinks: Sinks,
    synced: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let api: Api<Pod> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default().page_size(5000))
        .default_backoff()
        .boxed();
    let mut seen: Option<HashSet<String>> = None;
    loop {
        let ev = tokio::select! {
            () = stop.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        match ev {
            Ok(watcher::Event::Apply(p)) => sinks.pod_applied(p),
            Ok(watcher::Event::Delete(p)) => sinks.pod_deleted(&key_of(&p)),
            Ok(watcher::Event::Init) => seen = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(p)) => {
                if let Some(s) = seen.as_mut() {
                    s.insert(key_of(&p));
                }
                sinks.pod_applied(p);
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(seen) = seen.take() {
                    let gone: Vec<String> = sinks
                        .cache
                        .lock()
                        .pod_keys()
                        .into_iter()
                        .filter(|k| !seen.contains(k))
                        .collect();
                    for k in gone {
                        sinks.pod_deleted(&k);
                    }
                }
                debug!("pods synced");
                let _ = synced.send(true);
            }
            Err(error) => warn!(%error, "pod watch failed; retrying"),
        }
    }
}

/// Watches nodes until `stop`; flips `synced` after the first full list.
pub async fn watch_nodes(
    client: Client,
    sinks: Sinks,
    synced: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let api: Api<Node> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut seen: Option<HashSet<String>> = None;
    loop {
        let ev = tokio::select! {
            () = stop.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        match ev {
            Ok(watcher::Event::Apply(n)) => sinks.node_applied(n),
            Ok(watcher::Event::Delete(n)) => {
                sinks
                    .cache
                    .lock()
                    .remove_node(n.metadata.name.as_deref().unwrap_or_default());
            }
            Ok(watcher::Event::Init) => seen = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(n)) => {
                if let Some(s) = seen.as_mut() {
                    s.insert(n.metadata.name.clone().unwrap_or_default());
                }
                sinks.node_applied(n);
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(seen) = seen.take() {
                    let mut cache = sinks.cache.lock();
                    let gone: Vec<String> = cache
                        .node_names()
                        .filter(|n| !seen.contains(*n))
                        .map(str::to_string)
                        .collect();
                    for n in gone {
                        cache.remove_node(&n);
                    }
                }
                debug!("nodes synced");
                let _ = synced.send(true);
            }
            Err(error) => warn!(%error, "node watch failed; retrying"),
        }
    }
}

/// Watches namespace labels (for affinity terms with a namespaceSelector).
pub async fn watch_namespaces(client: Client, sinks: Sinks, stop: CancellationToken) {
    let api: Api<Namespace> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    loop {
        let ev = tokio::select! {
            () = stop.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        match ev {
            Ok(watcher::Event::Apply(ns) | watcher::Event::InitApply(ns)) => {
                let name = ns.metadata.name.clone().unwrap_or_default();
                let labels = ns.metadata.labels.unwrap_or_default();
                sinks.cache.lock().set_namespace(name, Some(labels));
            }
            Ok(watcher::Event::Delete(ns)) => {
                let name = ns.metadata.name.clone().unwrap_or_default();
                sinks.cache.lock().set_namespace(name, None);
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "namespace watch failed; retrying"),
        }
    }
}

/// How one owner type lands in [`Owners`].
pub trait OwnerSource:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
    /// Records (or replaces) the object.
    fn record(&self, owners: &mut Owners);
    /// Forgets the object.
    fn forget(&self, owners: &mut Owners);
    /// Forgets every object of this type.
    fn clear(owners: &mut Owners);
}

fn ns_name<K: Resource>(o: &K) -> (&str, &str) {
    (
        o.meta().namespace.as_deref().unwrap_or_default(),
        o.meta().name.as_deref().unwrap_or_default(),
    )
}

impl OwnerSource for Service {
    fn record(&self, owners: &mut Owners) {
        let (ns, name) = ns_name(self);
        let sel = self.spec.as_ref().and_then(|s| s.selector.clone());
        owners.set_service(ns, name, sel);
    }
    fn forget(&self, owners: &mut Owners) {
        let (ns, name) = ns_name(self);
        owners.remove_service(ns, name);
    }
    fn clear(owners: &mut Owners) {
        owners.clear_services();
    }
}

impl OwnerSource for ReplicationController {
    fn record(&self, owners: &mut Owners) {
        let (ns, name) = ns_name(self);
        let sel = self
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .map(Selector::from_map);
        owners.set_controller(OwnerKind::ReplicationController, ns, name, sel);
    }
    fn forget(&self, owners: &mut Owners) {
        let (ns, name) = ns_name(self);
        owners.remove_controller(OwnerKind::ReplicationController, ns, name);
    }
    fn clear(owners: &mut Owners) {
        owners.clear_controllers(OwnerKind::ReplicationController);
    }
}

impl OwnerSource for ReplicaSet {
    fn record(&self, owners: &mut Owners) {
        let (ns, name) = ns_name(self);
        let sel = self
            .spec
            .as_ref()
            .map(|s| Selector::from_label_selector(&s.selector));
        owners.set_controller(OwnerKind::ReplicaSet, ns, name, sel);
    }
    fn forget(&self, owners: &mut Owners) {
        let (ns, name) = ns_name(self);
        owners.remove_controller(OwnerKind::ReplicaSet, ns, name);
    }
    fn clear(owners: &mut Owners) {
        owners.clear_controllers(OwnerKind::ReplicaSet);
    }
}

impl OwnerSource for StatefulSet {
    fn record(&self, owners: &mut Owners) {
        let (ns, name) = ns_name(self);
        let sel = self
            .spec
            .as_ref()
            .map(|s| Selector::from_label_selector(&s.selector));
        owners.set_controller(OwnerKind::StatefulSet, ns, name, sel);
    }
    fn forget(&self, owners: &mut Owners) {
        let (ns, name) = ns_name(self);
        owners.remove_controller(OwnerKind::StatefulSet, ns, name);
    }
    fn clear(owners: &mut Owners) {
        owners.clear_controllers(OwnerKind::StatefulSet);
    }
}

/// Watches one owner type's selectors (for default topology spreading) until `stop`;
/// flips `synced` after the first full list.
pub async fn watch_owners<K: OwnerSource>(
    client: Client,
    sinks: Sinks,
    synced: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let api: Api<K> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default().page_size(5000))
        .default_backoff()
        .boxed();
    let mut listing: Option<Vec<K>> = None;
    loop {
        let ev = tokio::select! {
            () = stop.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        match ev {
            Ok(watcher::Event::Apply(o)) => o.record(&mut sinks.cache.lock().owners),
            Ok(watcher::Event::Delete(o)) => o.forget(&mut sinks.cache.lock().owners),
            Ok(watcher::Event::Init) => listing = Some(Vec::new()),
            Ok(watcher::Event::InitApply(o)) => listing.get_or_insert_default().push(o),
            Ok(watcher::Event::InitDone) => {
                let all = listing.take().unwrap_or_default();
                let mut cache = sinks.cache.lock();
                K::clear(&mut cache.owners);
                for o in &all {
                    o.record(&mut cache.owners);
                }
                drop(cache);
                let _ = synced.send(true);
            }
            Err(error) => warn!(%error, kind = %K::kind(&()), "owner watch failed; retrying"),
        }
    }
}
