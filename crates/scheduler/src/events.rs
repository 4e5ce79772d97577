//! The scheduler's Events, through the shared recorder (`rkube-events`): a bounded queue
//! that drops events when full, like upstream's broadcaster, so a burst of bindings never
//! waits on its own events; repeats are counted ("x2 over …") as client-go does.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use rkube_events::{EventSink, KubeSink, RecorderConfig};
use tokio::task::JoinHandle;

use crate::pod_info::PodInfo;

/// Events waiting to be written, at most (upstream's `maxQueuedEvents`).
pub const MAX_QUEUED_EVENTS: usize = 1000;
/// Writer tasks (events about one pod always go to the same one).
const WRITERS: usize = 4;

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    inner: rkube_events::Recorder,
}

impl Recorder {
    /// A recorder writing through `client` as `component` (`default-scheduler`) from
    /// `instance`, and the task that ends once every clone is dropped and the queue is written.
    pub fn start(client: Client, component: &str, instance: &str) -> (Recorder, JoinHandle<()>) {
        Self::start_with(KubeSink::new(client), component, instance)
    }

    /// As [`Recorder::start`], writing to any sink (tests use a memory sink).
    pub fn start_with<S: EventSink>(
        sink: S,
        component: &str,
        instance: &str,
    ) -> (Recorder, JoinHandle<()>) {
        let config = RecorderConfig {
            instance: instance.to_string(),
            queue: MAX_QUEUED_EVENTS,
            writers: WRITERS,
            ..RecorderConfig::new(component)
        };
        let (inner, writer) = rkube_events::Recorder::start(sink, config);
        (Recorder { inner }, writer)
    }

    /// Queues an Event about `pod`; drops it when the queue is full.
    pub fn record(
        &self,
        pod: Arc<PodInfo>,
        type_: &'static str,
        reason: &'static str,
        action: &'static str,
        message: String,
    ) {
        let meta = &pod.pod.metadata;
        let regarding = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            ..ObjectReference::default()
        };
        self.inner
            .record_ref(&regarding, type_, reason, Some(action), message);
    }

    /// Events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::pod;
    use rkube_events::MemorySink;
    use serde_json::json;

    #[tokio::test]
    async fn repeats_are_counted_and_carry_the_action() {
        let sink = MemorySink::default();
        let (rec, writer) = Recorder::start_with(sink.clone(), "default-scheduler", "s-1");
        let p = pod("p", json!({}));
        for _ in 0..3 {
            rec.record(
                p.clone(),
                "Warning",
                "FailedScheduling",
                "Scheduling",
                "0/1 nodes are available".into(),
            );
        }
        drop(rec);
        writer.await.expect("writer");
        let events = sink.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].count, Some(3));
        assert_eq!(events[0].action.as_deref(), Some("Scheduling"));
        assert_eq!(events[0].reporting_instance.as_deref(), Some("s-1"));
        assert_eq!(events[0].involved_object.kind.as_deref(), Some("Pod"));
    }
}
