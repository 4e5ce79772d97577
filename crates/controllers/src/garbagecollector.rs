//! The garbage collector: deletes dependents of vanished owners, and carries out foreground
//! and orphan deletion through the `foregroundDeletion` and `orphan` finalizers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{StreamExt, future};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::TypeMeta;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::ControllersConfig;
use crate::error::{ControllerError, is_not_found};
use crate::informer::{Informers, SharedEvent};

/// Finalizer asking the collector to delete blocking dependents before the owner.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer asking the collector to orphan dependents before the owner goes.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// `(group, version, kind, plural)` of every kind the collector tracks.
const KINDS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "pods"),
    ("", "v1", "ReplicationController", "replicationcontrollers"),
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "Secret", "secrets"),
    ("", "v1", "Service", "services"),
    ("", "v1", "Endpoints", "endpoints"),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("apps", "v1", "ReplicaSet", "replicasets"),
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "ControllerRevision", "controllerrevisions"),
    ("batch", "v1", "Job", "jobs"),
    ("batch", "v1", "CronJob", "cronjobs"),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
];

/// `(kind index, namespace, name)` of a tracked object.
type NodeKey = (usize, String, String);

struct Kind {
    ar: ApiResource,
    store: Store<DynamicObject>,
    trigger: mpsc::UnboundedSender<ObjectRef<DynamicObject>>,
}

/// State shared by the per-kind collectors: stores and the owner-uid → dependents graph.
struct Shared {
    client: Client,
    kinds: Vec<Kind>,
    dependents: Mutex<HashMap<String, HashSet<NodeKey>>>,
    /// The owner uids each tracked object last named, to see when they change.
    owners_of: Mutex<HashMap<NodeKey, Vec<String>>>,
}

impl Shared {
    fn kind_of(&self, r: &OwnerReference) -> Option<usize> {
        self.kinds
            .iter()
            .position(|k| k.ar.api_version == r.api_version && k.ar.kind == r.kind)
    }

    fn trigger(&self, key: &NodeKey) {
        if let Some(k) = self.kinds.get(key.0) {
            let _ = k
                .trigger
                .send(ObjectRef::new_with(&key.2, k.ar.clone()).within(&key.1));
        }
    }

    /// Keeps the graph current and wakes the objects an event concerns; true when the
    /// object itself needs a look: as upstream's graph builder, when it is new with
    /// owners, when its owners changed, or when it is being deleted. An owned object
    /// whose owners did not change (a status write) is left alone.
    fn observe(&self, kind: usize, event: &watcher::Event<DynamicObject>) -> bool {
        match event {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                let key = (kind, o.namespace().unwrap_or_default(), o.name_any());
                let uids = o.owner_references().iter().map(|r| r.uid.clone()).collect();
                let changed = self.set_owners(key, uids);
                // An owner waiting on us may be able to finish now that we are deleting.
                let deleting = o.metadata.deletion_timestamp.is_some();
                if deleting {
                    self.trigger_owners(o);
                }
                changed || deleting
            }
            watcher::Event::Delete(o) => {
                let ns = o.namespace().unwrap_or_default();
                let key = (kind, ns.clone(), o.name_any());
                let orphans = {
                    self.owners_of.lock().remove(&key);
                    let mut g = self.dependents.lock();
                    for r in o.owner_references() {
                        if let Some(set) = g.get_mut(&r.uid) {
                            set.remove(&key);
                        }
                    }
                    o.uid().and_then(|u| g.remove(&u)).unwrap_or_default()
                };
                for d in &orphans {
                    self.trigger(d);
                }
                self.trigger_owners(o);
                false
            }
            watcher::Event::Init | watcher::Event::InitDone => false,
        }
    }

    /// Records that `key` now names the owners `uids` (moving it between their dependent
    /// sets); true when they differ from what it named before.
    fn set_owners(&self, key: NodeKey, uids: Vec<String>) -> bool {
        let mut owners = self.owners_of.lock();
        let before = owners.get(&key).map_or(&[][..], Vec::as_slice);
        if before == uids.as_slice() {
            return false;
        }
        let mut g = self.dependents.lock();
        for uid in before.iter().filter(|u| !uids.contains(u)) {
            if let Some(set) = g.get_mut(uid) {
                set.remove(&key);
            }
        }
        for uid in &uids {
            g.entry(uid.clone()).or_default().insert(key.clone());
        }
        if uids.is_empty() {
            owners.remove(&key);
        } else {
            owners.insert(key, uids);
        }
        true
    }

    fn trigger_owners(&self, o: &DynamicObject) {
        let ns = o.namespace().unwrap_or_default();
        for r in o.owner_references() {
            if let Some(k) = self.kind_of(r) {
                self.trigger(&(k, ns.clone(), r.name.clone()));
            }
        }
    }

    fn api(&self, kind: usize, ns: &str) -> Option<Api<DynamicObject>> {
        let k = self.kinds.get(kind)?;
        Some(Api::namespaced_with(self.client.clone(), ns, &k.ar))
    }

    /// The owner named by `r` as it exists now (cache first, then a live read), if it does.
    async fn owner(
        &self,
        ns: &str,
        r: &OwnerReference,
    ) -> Result<Option<DynamicObject>, ControllerError> {
        let Some(kind) = self.kind_of(r) else {
            // A kind we do not track: never treat it as gone.
            return Ok(Some(DynamicObject::new(
                &r.name,
                &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", &r.kind)),
            )));
        };
        let k = &self.kinds[kind];
        if let Some(o) = k
            .store
            .get(&ObjectRef::new_with(&r.name, k.ar.clone()).within(ns))
            && o.uid().as_deref() == Some(r.uid.as_str())
        {
            return Ok(Some(o.as_ref().clone()));
        }
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &k.ar);
        match api.get_opt(&r.name).await {
            Ok(Some(o)) if o.uid().as_deref() == Some(r.uid.as_str()) => Ok(Some(o)),
            Ok(_) => Ok(None),
            Err(e) => Err(ControllerError::api(format!(
                "get owner {}/{}",
                r.kind, r.name
            ))(e)),
        }
    }

    /// Current dependents of `uid` (verified against the caches).
    fn dependents_of(&self, uid: &str) -> Vec<(usize, Arc<DynamicObject>)> {
        let keys: Vec<NodeKey> = self
            .dependents
            .lock()
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        keys.into_iter()
            .filter_map(|(kind, ns, name)| {
                let k = self.kinds.get(kind)?;
                let o = k
                    .store
                    .get(&ObjectRef::new_with(&name, k.ar.clone()).within(&ns))?;
                o.owner_references()
                    .iter()
                    .any(|r| r.uid == uid)
                    .then_some((kind, o))
            })
            .collect()
    }
}

struct KindCtx {
    shared: Arc<Shared>,
    kind: usize,
}

fn has_finalizer(o: &DynamicObject, f: &str) -> bool {
    o.finalizers().iter().any(|x| x == f)
}

async fn patch_owner_refs(
    api: &Api<DynamicObject>,
    o: &DynamicObject,
    keep: Vec<OwnerReference>,
) -> Result<(), ControllerError> {
    let patch = json!({"metadata": {"ownerReferences": keep, "uid": o.uid()}});
    match api
        .patch(
            &o.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ControllerError::api(format!(
            "patch ownerReferences of {}",
            o.name_any()
        ))(e)),
    }
}

async fn remove_finalizer(
    api: &Api<DynamicObject>,
    o: &DynamicObject,
    f: &str,
) -> Result<(), ControllerError> {
    let keep: Vec<&String> = o.finalizers().iter().filter(|x| *x != f).collect();
    let patch = json!({"metadata": {"finalizers": keep, "resourceVersion": o.resource_version()}});
    match api
        .patch(
            &o.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ControllerError::api(format!(
            "remove finalizer {f} of {}",
            o.name_any()
        ))(e)),
    }
}

async fn delete(
    api: &Api<DynamicObject>,
    o: &DynamicObject,
    policy: PropagationPolicy,
) -> Result<(), ControllerError> {
    let dp = DeleteParams {
        propagation_policy: Some(policy.clone()),
        preconditions: Some(Preconditions {
            uid: o.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    info!(object = %o.name_any(), namespace = ?o.namespace(), ?policy, "garbage collecting");
    match api.delete(&o.name_any(), &dp).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ControllerError::api(format!("delete {}", o.name_any()))(e)),
    }
}

/// Carries out orphan or foreground deletion of an owner; `None` when neither applies.
async fn finish_owner(
    s: &Shared,
    kind: usize,
    o: &DynamicObject,
) -> Result<Option<Action>, ControllerError> {
    let ns = o.namespace().unwrap_or_default();
    let uid = o.uid().unwrap_or_default();
    let Some(api) = s.api(kind, &ns) else {
        return Ok(None);
    };
    if has_finalizer(o, ORPHAN_FINALIZER) {
        for (dk, dep) in s.dependents_of(&uid) {
            let keep: Vec<OwnerReference> = dep
                .owner_references()
                .iter()
                .filter(|r| r.uid != uid)
                .cloned()
                .collect();
            if let Some(dapi) = s.api(dk, &ns) {
                patch_owner_refs(&dapi, &dep, keep).await?;
            }
        }
        remove_finalizer(&api, o, ORPHAN_FINALIZER).await?;
        return Ok(Some(Action::await_change()));
    }
    if has_finalizer(o, FOREGROUND_FINALIZER) {
        let mut blocking = 0;
        for (dk, dep) in s.dependents_of(&uid) {
            let Some(dapi) = s.api(dk, &ns) else { continue };
            if dep
                .owner_references()
                .iter()
                .any(|r| r.uid == uid && r.block_owner_deletion == Some(true))
            {
                blocking += 1;
            }
            if dep.metadata.deletion_timestamp.is_none() {
                delete(&dapi, &dep, PropagationPolicy::Foreground).await?;
            }
        }
        if blocking > 0 {
            debug!(owner = %o.name_any(), blocking, "waiting for dependents");
            return Ok(Some(Action::requeue(Duration::from_secs(2))));
        }
        remove_finalizer(&api, o, FOREGROUND_FINALIZER).await?;
        return Ok(Some(Action::await_change()));
    }
    Ok(None)
}

async fn reconcile(o: Arc<DynamicObject>, ctx: Arc<KindCtx>) -> Result<Action, ControllerError> {
    let s = ctx.shared.as_ref();
    for k in &s.kinds {
        crate::informer::wait_ready(&k.store)
            .await
            .map_err(|_| ControllerError::CacheStopped("garbage collector"))?;
    }
    if o.metadata.deletion_timestamp.is_some()
        && let Some(action) = finish_owner(s, ctx.kind, &o).await?
    {
        return Ok(action);
    }
    let refs = o.owner_references().to_vec();
    if refs.is_empty() {
        return Ok(Action::await_change());
    }
    let ns = o.namespace().unwrap_or_default();
    let (mut solid, mut dangling, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
    for r in &refs {
        match s.owner(&ns, r).await? {
            None => dangling.push(r.clone()),
            Some(owner)
                if owner.metadata.deletion_timestamp.is_some()
                    && has_finalizer(&owner, FOREGROUND_FINALIZER)
                    && r.block_owner_deletion == Some(true) =>
            {
                waiting.push(r.clone());
            }
            Some(_) => solid.push(r.clone()),
        }
    }
    if dangling.is_empty() && waiting.is_empty() {
        return Ok(Action::await_change());
    }
    let Some(api) = s.api(ctx.kind, &ns) else {
        return Ok(Action::await_change());
    };
    // The cache can lag the API (an owner being deleted with `orphan` has just dropped
    // its reference from us): act only on the object as it is now, as upstream does.
    match api.get_opt(&o.name_any()).await {
        Ok(Some(live)) if live.uid() == o.uid() => {
            if live.owner_references() != o.owner_references() {
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
        }
        Ok(_) => return Ok(Action::await_change()),
        Err(e) => {
            return Err(ControllerError::api(format!(
                "get dependent {}",
                o.name_any()
            ))(e));
        }
    }
    if !solid.is_empty() {
        // Another owner keeps us alive: only drop the references to gone or waiting owners.
        patch_owner_refs(&api, &o, solid).await?;
        return Ok(Action::await_change());
    }
    if o.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let policy = if !waiting.is_empty() || has_finalizer(&o, FOREGROUND_FINALIZER) {
        PropagationPolicy::Foreground
    } else if has_finalizer(&o, ORPHAN_FINALIZER) {
        PropagationPolicy::Orphan
    } else {
        PropagationPolicy::Background
    };
    delete(&api, &o, policy).await?;
    Ok(Action::await_change())
}

fn error_policy(o: Arc<DynamicObject>, error: &ControllerError, _ctx: Arc<KindCtx>) -> Action {
    warn!(object = %o.name_any(), namespace = ?o.namespace(), %error, "garbage collection failed");
    Action::requeue(Duration::from_secs(2))
}

/// A watch feeding the collector: metadata-only objects.
type MetaEvents = BoxStream<'static, Result<watcher::Event<DynamicObject>, watcher::Error>>;

/// The metadata the collector reads (identity, owners, finalizers, deletion); the rest of an
/// object is dropped before it is cached.
fn graph_meta(m: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        uid: m.uid.clone(),
        resource_version: m.resource_version.clone(),
        owner_references: m.owner_references.clone(),
        finalizers: m.finalizers.clone(),
        deletion_timestamp: m.deletion_timestamp.clone(),
        ..ObjectMeta::default()
    }
}

/// Cuts a watched object down to [`graph_meta`].
fn trim_to_meta(o: &mut DynamicObject) {
    o.metadata = graph_meta(&o.metadata);
    o.data = serde_json::Value::Null;
}

/// A shared informer's events as metadata-only objects.
fn shared_meta<K>(
    events: impl futures::Stream<Item = SharedEvent<K>> + Send + 'static,
) -> MetaEvents
where
    K: Resource<DynamicType = ()> + Send + Sync + 'static,
{
    let meta = |o: &K| DynamicObject {
        types: Some(TypeMeta {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
        }),
        metadata: graph_meta(o.meta()),
        data: serde_json::Value::Null,
    };
    events
        .map(move |e| {
            Ok(match e {
                watcher::Event::Apply(o) => watcher::Event::Apply(meta(&o)),
                watcher::Event::Delete(o) => watcher::Event::Delete(meta(&o)),
                watcher::Event::InitApply(o) => watcher::Event::InitApply(meta(&o)),
                watcher::Event::Init => watcher::Event::Init,
                watcher::Event::InitDone => watcher::Event::InitDone,
            })
        })
        .boxed()
}

/// The garbage collector over every tracked kind.
pub struct GarbageCollector {
    client: Client,
    config: Config,
    /// Kinds fed from the process's shared informers instead of a watch of their own.
    shared: HashMap<&'static str, MetaEvents>,
}

impl GarbageCollector {
    /// A collector using `client`, reconciling `config.concurrency` objects per kind at once;
    /// pods and ReplicaSets come from `informers` (subscribed now).
    pub fn new(client: Client, config: &ControllersConfig, informers: &Informers) -> Self {
        let shared = HashMap::from([
            ("Pod", shared_meta(informers.pods.subscribe_events())),
            (
                "ReplicaSet",
                shared_meta(informers.replicasets.subscribe_events()),
            ),
        ]);
        GarbageCollector {
            client,
            config: crate::ctrl_config(config),
            shared,
        }
    }

    /// Runs until `stop` is cancelled.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut kinds = Vec::new();
        let mut pending = Vec::new();
        for (g, v, k, plural) in KINDS {
            let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), plural);
            let writer = reflector::store::Writer::new(ar.clone());
            let store = writer.as_reader();
            let (tx, rx) = mpsc::unbounded_channel();
            kinds.push(Kind {
                ar: ar.clone(),
                store,
                trigger: tx,
            });
            pending.push((ar, writer, rx));
        }
        let shared = Arc::new(Shared {
            client: self.client.clone(),
            kinds,
            dependents: Mutex::new(HashMap::new()),
            owners_of: Mutex::new(HashMap::new()),
        });
        let mut tasks = Vec::new();
        for (i, (ar, writer, rx)) in pending.into_iter().enumerate() {
            let source = match self.shared.remove(ar.kind.as_str()) {
                Some(s) => s,
                None => {
                    let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
                    watcher(api, watcher::Config::default())
                        .default_backoff()
                        .modify(trim_to_meta)
                        .boxed()
                }
            };
            let obs = shared.clone();
            let stream = source.reflect(writer).filter_map(move |e| {
                future::ready(match e {
                    Ok(e) if obs.observe(i, &e) => match e {
                        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => Some(Ok(o)),
                        _ => None,
                    },
                    Ok(_) => None,
                    Err(err) => Some(Err(err)),
                })
            });
            let store = shared.kinds[i].store.clone();
            let ctx = Arc::new(KindCtx {
                shared: shared.clone(),
                kind: i,
            });
            let fut = Controller::for_stream_with(stream, store, ar.clone())
                .with_config(self.config.clone())
                .reconcile_on(UnboundedReceiverStream::new(rx))
                .graceful_shutdown_on(stop.clone().cancelled_owned())
                .run(reconcile, error_policy, ctx)
                .for_each(|_| future::ready(()));
            tasks.push(tokio::spawn(
                fut.instrument(info_span!("gc", kind = %ar.kind)),
            ));
        }
        stop.cancelled().await;
        for t in tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    /// A graph with no kinds and a client that is never called.
    fn graph() -> Shared {
        let unused = tower::service_fn(|_req: http::Request<kube::client::Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(kube::client::Body::from(
                Vec::new(),
            )))
        });
        Shared {
            client: Client::new(unused, "default"),
            kinds: Vec::new(),
            dependents: Mutex::new(HashMap::new()),
            owners_of: Mutex::new(HashMap::new()),
        }
    }

    fn pod(owners: &[&str], deleting: bool) -> DynamicObject {
        let mut o = DynamicObject::new("web-1", &ApiResource::erase::<Pod>(&()));
        o.metadata.namespace = Some("default".into());
        o.metadata.owner_references = Some(
            owners
                .iter()
                .map(|uid| OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: format!("rs-{uid}"),
                    uid: (*uid).into(),
                    ..OwnerReference::default()
                })
                .collect(),
        );
        if deleting {
            o.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        }
        o
    }

    fn dependents(g: &Shared, uid: &str) -> usize {
        g.dependents.lock().get(uid).map_or(0, HashSet::len)
    }

    #[tokio::test]
    async fn an_object_needs_a_look_only_when_its_owners_change_or_it_is_deleting() {
        let g = graph();
        let apply = |o: DynamicObject| g.observe(0, &watcher::Event::Apply(o));
        // A bare pod's status writes never wake the collector.
        assert!(!apply(pod(&[], false)));
        assert!(!apply(pod(&[], false)));
        // New owners: look (a dangling owner is deleted); the same owners again: not.
        assert!(apply(pod(&["a"], false)));
        assert_eq!(dependents(&g, "a"), 1);
        assert!(!apply(pod(&["a"], false)));
        // Owners changed: look, and the graph follows.
        assert!(apply(pod(&["b"], false)));
        assert_eq!((dependents(&g, "a"), dependents(&g, "b")), (0, 1));
        // Being deleted: look every time (finalizers may be waiting).
        assert!(apply(pod(&["b"], true)));
        assert!(apply(pod(&["b"], true)));
        // Gone: nothing to look at, and forgotten.
        assert!(!g.observe(0, &watcher::Event::Delete(pod(&["b"], true))));
        assert_eq!(dependents(&g, "b"), 0);
        assert!(g.owners_of.lock().is_empty());
        // Seen again after a restart's relist: it is new to this graph.
        assert!(g.observe(0, &watcher::Event::InitApply(pod(&["b"], false))));
    }
}
