//! The pods bound to this node: one watch (`spec.nodeName=<node>`) feeding
//! the pod workers, a relist of the runtime every second that wakes the
//! workers of pods whose containers changed (upstream's PLEG), and removal of
//! what the runtime holds for pods the API no longer has.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::labels;
use crate::pod_worker::{WorkerContext, remove_orphan};
use crate::pod_workers::PodWorkers;
use crate::podutil;
use crate::runtime::Runtime;
use crate::static_pods;

/// A fingerprint of what the runtime holds, per pod UID.
async fn relist<R: Runtime>(runtime: &R, node: &str) -> Option<HashMap<String, u64>> {
    let selector = labels::node_selector(node);
    let sandboxes = runtime.list_pod_sandboxes(selector.clone()).await.ok()?;
    let containers = runtime.list_containers(selector).await.ok()?;
    let mut items: HashMap<String, Vec<(String, i32)>> = HashMap::new();
    for sb in sandboxes {
        if let Some(uid) = sb.labels.get(labels::POD_UID) {
            items
                .entry(uid.clone())
                .or_default()
                .push((sb.id, sb.state));
        }
    }
    for c in containers {
        if let Some(uid) = c.labels.get(labels::POD_UID) {
            items.entry(uid.clone()).or_default().push((c.id, c.state));
        }
    }
    Some(
        items
            .into_iter()
            .map(|(uid, mut v)| {
                v.sort();
                let mut h = DefaultHasher::new();
                v.hash(&mut h);
                (uid, h.finish())
            })
            .collect(),
    )
}

/// Mirror pods in the API and the static pods they stand for.
struct Statics {
    client: kube::Client,
    node: String,
    node_uid: String,
    /// Static pods by UID.
    pods: std::collections::BTreeMap<String, Pod>,
    /// Mirror pods by `namespace/name`.
    mirrors: HashMap<String, Pod>,
    /// Manifests that failed to parse (warned once).
    warned: HashMap<String, String>,
    /// Mirror writes in flight, by `namespace/name`.
    busy: HashSet<String>,
    writes: JoinSet<String>,
}

impl Statics {
    fn mirror_of(&self, uid: &str) -> Option<Arc<Pod>> {
        let pod = self.pods.get(uid)?;
        self.mirrors
            .get(&podutil::key(pod))
            .filter(|m| static_pods::mirror_hash(m) == Some(uid))
            .map(|m| Arc::new(m.clone()))
    }

    /// One step toward every static pod having exactly one current mirror.
    fn reconcile(&mut self) {
        let mut want: HashMap<String, &Pod> = HashMap::new();
        for pod in self.pods.values() {
            want.insert(podutil::key(pod), pod);
        }
        let mut ops: Vec<(String, MirrorOp)> = vec![];
        for (key, pod) in &want {
            match self.mirrors.get(key) {
                Some(m)
                    if m.metadata.deletion_timestamp.is_none()
                        && static_pods::mirror_hash(m) == pod.metadata.uid.as_deref() => {}
                Some(m) => ops.push((key.clone(), MirrorOp::Delete(m.clone()))),
                None => ops.push((
                    key.clone(),
                    MirrorOp::Create(static_pods::mirror_of(pod, &self.node, &self.node_uid)),
                )),
            }
        }
        for (key, m) in &self.mirrors {
            if !want.contains_key(key) {
                ops.push((key.clone(), MirrorOp::Delete(m.clone())));
            }
        }
        for (key, op) in ops {
            if !self.busy.insert(key.clone()) {
                continue;
            }
            let client = self.client.clone();
            self.writes.spawn(
                async move {
                    op.apply(client).await;
                    key
                }
                .instrument(tracing::info_span!("mirror-pod")),
            );
        }
    }
}

enum MirrorOp {
    Create(Pod),
    Delete(Pod),
}

impl MirrorOp {
    async fn apply(self, client: kube::Client) {
        match self {
            MirrorOp::Create(pod) => {
                let api: Api<Pod> = Api::namespaced(
                    client,
                    pod.metadata.namespace.as_deref().unwrap_or("default"),
                );
                match api.create(&Default::default(), &pod).await {
                    Ok(_) => tracing::info!(pod = %podutil::key(&pod), "mirror pod created"),
                    Err(e) if crate::error::is_conflict(&e) => {}
                    Err(e) => {
                        tracing::warn!(pod = %podutil::key(&pod), error = %e, "creating a mirror pod failed")
                    }
                }
            }
            MirrorOp::Delete(pod) => {
                let api: Api<Pod> = Api::namespaced(
                    client,
                    pod.metadata.namespace.as_deref().unwrap_or("default"),
                );
                let params = kube::api::DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(kube::api::Preconditions {
                        uid: pod.metadata.uid.clone(),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                let name = pod.metadata.name.as_deref().unwrap_or_default();
                match api.delete(name, &params).await {
                    Ok(_) => tracing::info!(pod = %podutil::key(&pod), "mirror pod deleted"),
                    Err(e) if crate::error::is_not_found(&e) || crate::error::is_conflict(&e) => {}
                    Err(e) => {
                        tracing::warn!(pod = %podutil::key(&pod), error = %e, "deleting a mirror pod failed")
                    }
                }
            }
        }
    }
}

/// Runs until `stop`. `node_uid` owns the mirror pods.
pub async fn run<R: Runtime>(
    client: kube::Client,
    ctx: Arc<WorkerContext<R>>,
    node_uid: String,
    stop: CancellationToken,
) {
    let node = ctx.config.node_name.clone();
    let api: Api<Pod> = Api::all(client.clone());
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut events = watcher(api, cfg).default_backoff().boxed();
    let (mut workers, mut done) = PodWorkers::new(ctx.clone(), stop.clone());
    let mut relist_tick = tokio::time::interval(ctx.config.relist_period);
    relist_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut static_tick = tokio::time::interval(ctx.config.static_pod_period);
    static_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let seen_at = jiff::Timestamp::now().to_string();
    let mut statics = Statics {
        client,
        node: node.clone(),
        node_uid,
        pods: Default::default(),
        mirrors: HashMap::new(),
        warned: HashMap::new(),
        busy: HashSet::new(),
        writes: JoinSet::new(),
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut listing: Option<HashSet<String>> = None;
    let mut synced = false;
    let mut orphans: JoinSet<String> = JoinSet::new();
    let mut shutting_down = false;
    let mut cleaning: HashSet<String> = HashSet::new();
    loop {
        let mut mirrors_changed = false;
        tokio::select! {
            _ = stop.cancelled() => break,
            ev = events.next() => match ev {
                Some(Ok(watcher::Event::Init)) => listing = Some(HashSet::new()),
                Some(Ok(watcher::Event::InitApply(pod))) if static_pods::is_mirror(&pod) => {
                    if let Some(l) = listing.as_mut() {
                        l.insert(format!("mirror:{}", podutil::key(&pod)));
                    }
                    statics.mirrors.insert(podutil::key(&pod), pod);
                    mirrors_changed = true;
                }
                Some(Ok(watcher::Event::InitApply(pod))) => {
                    if let Some(l) = listing.as_mut() {
                        l.insert(podutil::uid(&pod).to_string());
                    }
                    workers.update(pod);
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    let listed = listing.take().unwrap_or_default();
                    // Pods deleted while the watch was down.
                    for uid in workers.uids() {
                        if !listed.contains(&uid)
                            && !statics.pods.contains_key(&uid)
                            && let Some(pod) = workers.pod(&uid)
                        {
                            workers.remove((*pod).clone());
                        }
                    }
                    statics
                        .mirrors
                        .retain(|key, _| listed.contains(&format!("mirror:{key}")));
                    mirrors_changed = true;
                    if !synced {
                        tracing::info!(pods = listed.len(), "pods of this node listed");
                    }
                    synced = true;
                }
                Some(Ok(watcher::Event::Apply(pod))) if static_pods::is_mirror(&pod) => {
                    statics.mirrors.insert(podutil::key(&pod), pod);
                    mirrors_changed = true;
                }
                Some(Ok(watcher::Event::Delete(pod))) if static_pods::is_mirror(&pod) => {
                    let key = podutil::key(&pod);
                    if statics.mirrors.get(&key).is_some_and(|m| m.metadata.uid == pod.metadata.uid) {
                        statics.mirrors.remove(&key);
                    }
                    mirrors_changed = true;
                }
                Some(Ok(watcher::Event::Apply(pod))) => workers.update(pod),
                Some(Ok(watcher::Event::Delete(pod))) => workers.remove(pod),
                Some(Err(e)) => tracing::warn!(error = %e, "watching this node's pods failed; retrying"),
                None => break,
            },
            Some(uid) = done.recv() => workers.reap(&uid),
            _ = ctx.shutdown.begun(), if !shutting_down => {
                shutting_down = true;
                tracing::info!(pods = workers.len(), "the node shuts down: stopping its pods");
                ctx.shutdown.track(workers.uids());
                workers.wake_all();
            }
            Some(joined) = statics.writes.join_next(), if !statics.writes.is_empty() => {
                match joined {
                    Ok(key) => {
                        statics.busy.remove(&key);
                    }
                    // A write that panicked: free every key whose write is gone.
                    Err(e) => {
                        tracing::warn!(error = %e, "a mirror pod write failed");
                        statics.busy.clear();
                    }
                }
                // A change seen while the write was in flight waits for this.
                mirrors_changed = true;
            }
            _ = static_tick.tick() => {
                let now = static_pods::load_dir(&ctx.config.static_pod_dir, &node, &seen_at, &mut statics.warned);
                for (uid, pod) in &now {
                    if !statics.pods.contains_key(uid) {
                        tracing::info!(pod = %podutil::key(pod), "static pod found");
                        workers.update(pod.clone());
                    }
                }
                let gone: Vec<String> = statics
                    .pods
                    .keys()
                    .filter(|uid| !now.contains_key(*uid))
                    .cloned()
                    .collect();
                for uid in gone {
                    if let Some(pod) = statics.pods.get(&uid) {
                        tracing::info!(pod = %podutil::key(pod), "static pod removed");
                        workers.remove(pod.clone());
                    }
                }
                statics.pods = now;
                mirrors_changed = true;
            }
            Some(Ok(uid)) = orphans.join_next(), if !orphans.is_empty() => {
                cleaning.remove(&uid);
            }
            _ = relist_tick.tick() => {
                let Some(now) = relist(&*ctx.runtime, &node).await else { continue };
                for (uid, fp) in &now {
                    if seen.get(uid) != Some(fp) {
                        workers.wake(uid);
                    }
                    if synced && !workers.has(uid) && cleaning.insert(uid.clone()) {
                        let (rt, node, uid, config) =
                            (ctx.runtime.clone(), node.clone(), uid.clone(), ctx.config.clone());
                        let span = tracing::info_span!("orphan", uid = %uid);
                        orphans.spawn(
                            async move {
                                tracing::info!("removing the containers of a pod the API no longer has");
                                if let Err(e) = remove_orphan(&*rt, &node, &uid, &config).await {
                                    tracing::warn!(error = %e, "removing an orphaned pod failed");
                                }
                                uid
                            }
                            .instrument(span),
                        );
                    }
                }
                seen = now;
            }
        }
        if mirrors_changed {
            if synced {
                statics.reconcile();
            }
            for uid in statics.pods.keys() {
                workers.set_mirror(uid, statics.mirror_of(uid));
            }
        }
    }
    tracing::debug!(workers = workers.len(), "pod source stopped");
}
