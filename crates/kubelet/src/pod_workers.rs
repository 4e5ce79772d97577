//! The pod workers: one task per pod UID, fed the newest version of its pod
//! through a watch channel (so updates coalesce), woken when the runtime
//! changes, and reaped when the pod is gone.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::pod_worker::{PodUpdate, PodWorker, WorkerContext};
use crate::podutil;
use crate::runtime::Runtime;

struct Handle {
    tx: watch::Sender<PodUpdate>,
}

/// Every pod worker of the node.
pub struct PodWorkers<R> {
    ctx: Arc<WorkerContext<R>>,
    workers: HashMap<String, Handle>,
    done_tx: mpsc::UnboundedSender<String>,
    stop: CancellationToken,
}

impl<R: Runtime> PodWorkers<R> {
    /// No workers yet; finished workers report on the returned receiver.
    pub fn new(
        ctx: Arc<WorkerContext<R>>,
        stop: CancellationToken,
    ) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        (
            PodWorkers {
                ctx,
                workers: HashMap::new(),
                done_tx,
                stop,
            },
            done_rx,
        )
    }

    /// Gives the pod's worker its newest version, starting the worker if needed.
    pub fn update(&mut self, pod: Pod) {
        self.deliver(pod, false);
    }

    /// Tells the pod's worker the pod is gone from the API.
    pub fn remove(&mut self, pod: Pod) {
        self.deliver(pod, true);
    }

    fn deliver(&mut self, pod: Pod, removed: bool) {
        let uid = podutil::uid(&pod).to_string();
        if uid.is_empty() {
            return;
        }
        let pod = Arc::new(pod);
        if let Some(h) = self.workers.get(&uid) {
            h.tx.send_modify(|u| {
                u.pod = pod;
                u.removed |= removed;
            });
            return;
        }
        let (tx, rx) = watch::channel(PodUpdate {
            pod: pod.clone(),
            removed,
            wake: 0,
            mirror: None,
        });
        let span = tracing::info_span!("pod", pod = %podutil::key(&pod), uid = %uid);
        let worker = PodWorker::new(self.ctx.clone(), pod);
        tokio::spawn(
            worker
                .run(rx, self.done_tx.clone(), self.stop.child_token())
                .instrument(span),
        );
        self.workers.insert(uid, Handle { tx });
    }

    /// Gives a static pod's worker its mirror pod (`None`: there is none).
    pub fn set_mirror(&self, uid: &str, mirror: Option<Arc<Pod>>) {
        if let Some(h) = self.workers.get(uid) {
            h.tx.send_if_modified(|u| {
                let same = match (&u.mirror, &mirror) {
                    (Some(a), Some(b)) => {
                        a.metadata.uid == b.metadata.uid
                            && a.metadata.resource_version == b.metadata.resource_version
                    }
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    u.mirror = mirror;
                }
                !same
            });
        }
    }

    /// Makes the worker of `uid` sync now.
    pub fn wake(&self, uid: &str) {
        if let Some(h) = self.workers.get(uid) {
            h.tx.send_modify(|u| u.wake += 1);
        }
    }

    /// Makes every worker sync now.
    pub fn wake_all(&self) {
        for h in self.workers.values() {
            h.tx.send_modify(|u| u.wake += 1);
        }
    }

    /// Whether a worker runs for `uid`.
    pub fn has(&self, uid: &str) -> bool {
        self.workers.contains_key(uid)
    }

    /// The UIDs with a worker.
    pub fn uids(&self) -> Vec<String> {
        self.workers.keys().cloned().collect()
    }

    /// The pod a worker was last given.
    pub fn pod(&self, uid: &str) -> Option<Arc<Pod>> {
        self.workers.get(uid).map(|h| h.tx.borrow().pod.clone())
    }

    /// Forgets the worker of `uid` (it ended).
    pub fn reap(&mut self, uid: &str) {
        self.workers.remove(uid);
    }

    /// How many workers run.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// True when no worker runs.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }
}
