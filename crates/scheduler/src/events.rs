//! Records the scheduler's Events through a bounded queue that drops them when full, like upstream's broadcaster.
//!
//! Events are best effort: under a burst of bindings they must not take API capacity from
//! the bindings themselves. Upstream's event broadcaster queues at most 1,000 events and
//! drops new ones while the queue is full; so does this recorder, with a few writers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::api::ClusterApi;
use crate::pod_info::PodInfo;

/// Events waiting to be written, at most (upstream's `maxQueuedEvents`).
pub const MAX_QUEUED_EVENTS: usize = 1000;
/// Events written concurrently.
const WRITERS: usize = 4;

/// One Event to write about a pod.
#[derive(Debug)]
pub struct Pending {
    pub pod: Arc<PodInfo>,
    pub type_: &'static str,
    pub reason: &'static str,
    pub action: &'static str,
    pub message: String,
}

/// The sending side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Pending>,
    dropped: Arc<AtomicU64>,
}

impl Recorder {
    /// A recorder and the receiving end its writer drains.
    pub fn new() -> (Recorder, mpsc::Receiver<Pending>) {
        let (tx, rx) = mpsc::channel(MAX_QUEUED_EVENTS);
        (
            Recorder {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    /// Queues an Event; drops it when the queue is full.
    pub fn record(
        &self,
        pod: Arc<PodInfo>,
        type_: &'static str,
        reason: &'static str,
        action: &'static str,
        message: String,
    ) {
        let ev = Pending {
            pod,
            type_,
            reason,
            action,
            message,
        };
        if self.tx.try_send(ev).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                debug!(dropped = n, "event queue full; dropping events");
            }
        }
    }

    /// Events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Writes queued Events until `stop` (or until every recorder is gone).
pub async fn write(api: ClusterApi, mut rx: mpsc::Receiver<Pending>, stop: CancellationToken) {
    let events = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let writing = events
        .map(|ev| {
            let api = api.clone();
            async move {
                if let Err(error) = api
                    .event(&ev.pod, ev.type_, ev.reason, ev.action, ev.message)
                    .await
                {
                    debug!(%error, reason = ev.reason, "recording event failed");
                }
            }
        })
        .buffer_unordered(WRITERS)
        .for_each(|()| async {});
    tokio::select! {
        () = stop.cancelled() => {}
        () = writing => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::pod;
    use serde_json::json;

    #[tokio::test]
    async fn full_queue_drops_instead_of_waiting() {
        let (rec, mut rx) = Recorder::new();
        let p = pod("p", json!({}));
        for i in 0..MAX_QUEUED_EVENTS + 5 {
            rec.record(p.clone(), "Normal", "Scheduled", "Binding", format!("{i}"));
        }
        assert_eq!(rec.dropped(), 5);
        let first = rx.recv().await.map(|e| e.message);
        assert_eq!(first.as_deref(), Some("0"));
    }
}
