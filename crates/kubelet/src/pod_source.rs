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

/// Runs until `stop`.
pub async fn run<R: Runtime>(
    client: kube::Client,
    ctx: Arc<WorkerContext<R>>,
    stop: CancellationToken,
) {
    let node = ctx.config.node_name.clone();
    let api: Api<Pod> = Api::all(client);
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut events = watcher(api, cfg).default_backoff().boxed();
    let (mut workers, mut done) = PodWorkers::new(ctx.clone(), stop.clone());
    let mut relist_tick = tokio::time::interval(ctx.config.relist_period);
    relist_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut listing: Option<HashSet<String>> = None;
    let mut synced = false;
    let mut orphans: JoinSet<String> = JoinSet::new();
    let mut cleaning: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            ev = events.next() => match ev {
                Some(Ok(watcher::Event::Init)) => listing = Some(HashSet::new()),
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
                            && let Some(pod) = workers.pod(&uid)
                        {
                            workers.remove((*pod).clone());
                        }
                    }
                    if !synced {
                        tracing::info!(pods = listed.len(), "pods of this node listed");
                    }
                    synced = true;
                }
                Some(Ok(watcher::Event::Apply(pod))) => workers.update(pod),
                Some(Ok(watcher::Event::Delete(pod))) => workers.remove(pod),
                Some(Err(e)) => tracing::warn!(error = %e, "watching this node's pods failed; retrying"),
                None => break,
            },
            Some(uid) = done.recv() => workers.reap(&uid),
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
    }
    tracing::debug!(workers = workers.len(), "pod source stopped");
}
