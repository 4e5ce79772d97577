//! Informers: watches with caches. [`Informers`] holds the ones shared by several
//! controllers (pods, nodes, ReplicaSets), so each object is decoded and cached once;
//! [`informer`] is a private watch for a kind one controller alone needs.

mod by_controller;
mod shared;

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use futures::Stream;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::store::WriterDropped;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

pub use by_controller::PodsByController;
pub use shared::{Indexer, SharedEvent, SharedInformer, Trim, touched};

/// The annotation `kubectl apply` keeps its input in; no controller reads it on pods.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The informers the controllers of one process share.
pub struct Informers {
    /// Every pod.
    pub pods: SharedInformer<Pod>,
    /// The cached pods by controller (and each namespace's orphans).
    pub pods_by_controller: Arc<PodsByController>,
    /// Every node.
    pub nodes: SharedInformer<Node>,
    /// Every ReplicaSet.
    pub replicasets: SharedInformer<ReplicaSet>,
}

impl Informers {
    /// Cluster-wide informers through `client`; nothing is watched until [`Informers::run`].
    pub fn new(client: &Client) -> Self {
        let pods_by_controller = Arc::new(PodsByController::default());
        let index = pods_by_controller.clone();
        let indexer: Indexer<Pod> = Arc::new(move |event, writer| index.apply(event, writer));
        Informers {
            pods: SharedInformer::with_indexer(Api::all(client.clone()), trim_pod, indexer),
            pods_by_controller,
            nodes: SharedInformer::new(Api::all(client.clone()), trim_node),
            replicasets: SharedInformer::new(Api::all(client.clone()), trim_replicaset),
        }
    }

    /// Runs every watch until `stop` is cancelled (subscribe first).
    pub fn run(
        &self,
        stop: &CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static + use<> {
        let pods = self.pods.run(stop.clone());
        let nodes = self.nodes.run(stop.clone());
        let rss = self.replicasets.run(stop.clone());
        async move {
            tokio::join!(pods, nodes, rss);
        }
    }
}

/// Drops what no controller reads from a cached pod: managedFields and kubectl's
/// last-applied copy (controllers patch pods, never write a cached pod back).
pub fn trim_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(a) = pod.metadata.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// Drops managedFields (node lifecycle writes a cached node's status back, so nothing else).
pub fn trim_node(node: &mut Node) {
    node.metadata.managed_fields = None;
}

/// Drops managedFields.
pub fn trim_replicaset(rs: &mut ReplicaSet) {
    rs.metadata.managed_fields = None;
}

/// Watches every `K` cluster-wide with back-off; the stream must be polled to fill the store.
pub fn informer<K>(
    client: &Client,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store::<K>();
    let stream = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    (store, stream)
}

/// How often a wait for a cache's first list polls again.
const READY_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Waits until `store` holds its first full list (or its writer is gone).
///
/// kube-runtime's `Store::wait_until_ready` keeps the waker of only the last task that
/// polled it, so with several controllers waiting on one shared store the others would
/// never wake; each wait here is re-polled every 100 ms.
pub async fn wait_ready<K>(store: &Store<K>) -> Result<(), WriterDropped>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    loop {
        if let Ok(r) = tokio::time::timeout(READY_POLL, store.wait_until_ready()).await {
            return r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    #[test]
    fn pods_lose_managed_fields_and_last_applied_only() {
        let mut p = Pod::default();
        p.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        p.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_owned(), "{}".to_owned()),
                ("keep".to_owned(), "me".to_owned()),
            ]
            .into(),
        );
        p.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
        trim_pod(&mut p);
        assert!(p.metadata.managed_fields.is_none());
        let a = p.metadata.annotations.unwrap_or_default();
        assert_eq!(a.keys().collect::<Vec<_>>(), ["keep"]);
        assert_eq!(p.metadata.labels.map(|l| l.len()), Some(1));
    }
}
