//! The handle components record events through, and the task that writes them.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info_span, warn};

use crate::correlator::{Correlation, Correlator, CorrelatorConfig, EventKey};
use crate::sink::{EventSink, KubeSink, SinkError};

/// Who records, and how much is buffered.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// `source.component` and `reportingComponent` (`replicaset-controller`).
    pub component: String,
    /// `source.host` (kubelets set their node name).
    pub host: Option<String>,
    /// `reportingInstance`.
    pub instance: String,
    /// Events waiting to be written; more are dropped (and counted).
    pub queue: usize,
    /// Writer tasks. Events about one object always go to the same writer, which keeps
    /// its own correlator, so counting and rate limits are exact with any number.
    pub writers: usize,
    /// Counting, combining and rate-limiting.
    pub correlator: CorrelatorConfig,
}

impl RecorderConfig {
    /// Defaults for `component`, which is also the reporting instance.
    pub fn new(component: impl Into<String>) -> Self {
        let component = component.into();
        RecorderConfig {
            instance: component.clone(),
            component,
            host: None,
            queue: 1000,
            writers: 1,
            correlator: CorrelatorConfig::default(),
        }
    }
}

/// Records `Normal`/`Warning` events on behalf of one component; clones share the writers.
///
/// ```
/// # use rkube_events::{MemorySink, Recorder, RecorderConfig};
/// # use k8s_openapi::api::core::v1::ObjectReference;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let sink = MemorySink::default();
/// let (recorder, writer) = Recorder::start(sink.clone(), RecorderConfig::new("my-controller"));
/// let pod = ObjectReference {
///     kind: Some("Pod".into()),
///     name: Some("web-0".into()),
///     namespace: Some("default".into()),
///     ..ObjectReference::default()
/// };
/// for _ in 0..3 {
///     recorder.record_ref(&pod, "Warning", "BackOff", None, "Back-off restarting");
/// }
/// drop(recorder);
/// writer.await.unwrap();
/// assert_eq!(sink.events()[0].count, Some(3));
/// # });
/// ```
#[derive(Clone)]
pub struct Recorder {
    shards: Arc<[mpsc::Sender<Event>]>,
    source: Arc<Source>,
    dropped: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Source {
    component: String,
    host: Option<String>,
    instance: String,
}

impl Recorder {
    /// A recorder writing to the API server as `component`; the writer runs until every
    /// clone is dropped. Must be called within a Tokio runtime.
    pub fn new(client: Client, component: &str) -> Recorder {
        Recorder::start(KubeSink::new(client), RecorderConfig::new(component)).0
    }

    /// A recorder writing to `sink`, and a task that ends once every writer has written
    /// what is queued, after every clone of the recorder is dropped.
    pub fn start<S: EventSink>(sink: S, config: RecorderConfig) -> (Recorder, JoinHandle<()>) {
        let writers = config.writers.max(1);
        let correlator = CorrelatorConfig {
            cache_size: config.correlator.cache_size.div_ceil(writers),
            ..config.correlator
        };
        let sink = Arc::new(sink);
        let mut shards = Vec::with_capacity(writers);
        let mut tasks = Vec::with_capacity(writers);
        for shard in 0..writers {
            let (tx, rx) = mpsc::channel(config.queue.div_ceil(writers).max(1));
            let span = info_span!("event-recorder", component = %config.component, shard);
            let writer = write_all(rx, sink.clone(), Correlator::new(correlator.clone()));
            tasks.push(tokio::spawn(writer.instrument(span)));
            shards.push(tx);
        }
        let writer = tokio::spawn(async move {
            for task in tasks {
                if let Err(error) = task.await {
                    warn!(%error, "event writer failed");
                }
            }
        });
        let source = Source {
            component: config.component,
            host: config.host,
            instance: config.instance,
        };
        let recorder = Recorder {
            shards: shards.into(),
            source: Arc::new(source),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (recorder, writer)
    }

    /// Records an event about `obj`. Never waits: a full queue drops the event.
    pub fn record<K>(&self, obj: &K, type_: &str, reason: &str, message: impl Into<String>)
    where
        K: Resource<DynamicType = ()>,
    {
        self.record_ref(&object_reference(obj), type_, reason, None, message);
    }

    /// Records an event about the object `regarding` refers to, with an optional `action`
    /// (`Binding`). Never waits: a full queue drops the event.
    pub fn record_ref(
        &self,
        regarding: &ObjectReference,
        type_: &str,
        reason: &str,
        action: Option<&str>,
        message: impl Into<String>,
    ) {
        let event = self.make_event(regarding, type_, reason, action, message.into());
        if let Err(e) = self.shard(regarding).try_send(event) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                warn!(component = %self.source.component, reason, dropped, error = %e, "event queue full: dropping events");
            }
        }
    }

    /// How many events were dropped because the queue was full (or the writer gone).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The writer for events about `regarding`.
    fn shard(&self, regarding: &ObjectReference) -> &mpsc::Sender<Event> {
        let mut h = DefaultHasher::new();
        (
            &regarding.kind,
            &regarding.namespace,
            &regarding.name,
            &regarding.uid,
        )
            .hash(&mut h);
        let i = usize::try_from(h.finish() % self.shards.len() as u64).unwrap_or_default();
        &self.shards[i]
    }

    fn make_event(
        &self,
        regarding: &ObjectReference,
        type_: &str,
        reason: &str,
        action: Option<&str>,
        message: String,
    ) -> Event {
        let now = Timestamp::now();
        let namespace = regarding
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let object = regarding.name.as_deref().unwrap_or_default();
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            involved_object: regarding.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message),
            type_: Some(type_.to_owned()),
            action: action.map(str::to_owned),
            source: Some(EventSource {
                component: Some(self.source.component.clone()),
                host: self.source.host.clone(),
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            reporting_component: Some(self.source.component.clone()),
            reporting_instance: Some(self.source.instance.clone()),
            ..Event::default()
        }
    }
}

/// A reference to `obj` for an event's `involvedObject`.
pub fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: Some(obj.name_any()),
        namespace: obj.namespace(),
        uid: obj.uid(),
        resource_version: obj.resource_version(),
        field_path: None,
    }
}

/// Writes queued events until every sender is gone.
async fn write_all<S: EventSink>(
    mut rx: mpsc::Receiver<Event>,
    sink: Arc<S>,
    mut correlator: Correlator,
) {
    while let Some(event) = rx.recv().await {
        write(sink.as_ref(), &mut correlator, event, Timestamp::now()).await;
    }
}

async fn write<S: EventSink>(sink: &S, correlator: &mut Correlator, event: Event, now: Timestamp) {
    match correlator.correlate(event, now) {
        Correlation::Skip => debug!("event dropped by the per-object rate limit"),
        Correlation::Create { event, key } => create(sink, correlator, &event, &key).await,
        Correlation::Patch {
            mut event,
            patch,
            key,
        } => {
            let namespace = event.metadata.namespace.clone().unwrap_or_default();
            let name = event.metadata.name.clone().unwrap_or_default();
            match sink.patch(&namespace, &name, &patch).await {
                Ok(stored) => correlator.written(&key, &stored),
                // The earlier Event expired or was deleted: create it anew, count kept.
                Err(SinkError::NotFound { .. }) => {
                    event.metadata.resource_version = None;
                    create(sink, correlator, &event, &key).await;
                }
                Err(error) => debug!(error = %error_chain(&error), "patching event failed"),
            }
        }
    }
}

async fn create<S: EventSink>(
    sink: &S,
    correlator: &mut Correlator,
    event: &Event,
    key: &EventKey,
) {
    match sink.create(event).await {
        Ok(stored) => correlator.written(key, &stored),
        Err(error) => debug!(error = %error_chain(&error), "creating event failed"),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySink;
    use k8s_openapi::api::apps::v1::ReplicaSet;

    fn rs(name: &str) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = Some(name.into());
        rs.metadata.namespace = Some("ns".into());
        rs.metadata.uid = Some(format!("uid-{name}"));
        rs
    }

    async fn finish(recorder: Recorder, writer: JoinHandle<()>) {
        drop(recorder);
        writer.await.expect("the writer task ends cleanly");
    }

    #[tokio::test]
    async fn identical_events_become_one_counted_event() {
        let sink = MemorySink::default();
        let (rec, writer) = Recorder::start(sink.clone(), RecorderConfig::new("rs-ctl"));
        for _ in 0..3 {
            rec.record(&rs("web"), "Warning", "FailedCreate", "quota exceeded");
        }
        rec.record(
            &rs("web"),
            "Normal",
            "SuccessfulCreate",
            "Created pod: web-1",
        );
        finish(rec, writer).await;

        let events = sink.events();
        assert_eq!(events.len(), 2, "{events:?}");
        let failed = events
            .iter()
            .find(|e| e.reason.as_deref() == Some("FailedCreate"))
            .expect("a FailedCreate event");
        assert_eq!(failed.count, Some(3));
        let secs = |t: &Option<Time>| t.as_ref().map(|t| t.0.as_second());
        assert!(secs(&failed.first_timestamp) <= secs(&failed.last_timestamp));
        assert!(
            failed
                .metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("web."))
        );
        assert_eq!(failed.involved_object.kind.as_deref(), Some("ReplicaSet"));
        assert_eq!(failed.involved_object.uid.as_deref(), Some("uid-web"));
        assert_eq!(
            failed.source.as_ref().and_then(|s| s.component.as_deref()),
            Some("rs-ctl")
        );
        assert_eq!(sink.writes(), (2, 2));
    }

    #[tokio::test]
    async fn a_vanished_event_is_created_again_with_its_count() {
        let sink = MemorySink::default();
        let (rec, writer) = Recorder::start(sink.clone(), RecorderConfig::new("rs-ctl"));
        rec.record(&rs("web"), "Warning", "FailedCreate", "quota exceeded");
        rec.record(&rs("web"), "Warning", "FailedCreate", "quota exceeded");
        // Let the writer catch up, then expire everything.
        while sink.writes() != (1, 1) {
            tokio::task::yield_now().await;
        }
        sink.clear();
        rec.record(&rs("web"), "Warning", "FailedCreate", "quota exceeded");
        finish(rec, writer).await;

        let events = sink.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].count, Some(3));
        // One failed patch, then a create.
        assert_eq!(sink.writes(), (2, 2));
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let sink = MemorySink::default();
        let config = RecorderConfig {
            queue: 2,
            ..RecorderConfig::new("rs-ctl")
        };
        let (rec, writer) = Recorder::start(sink.clone(), config);
        // The writer cannot run before this test yields: the third and later are dropped.
        for i in 0..5 {
            rec.record(&rs("web"), "Normal", "SuccessfulCreate", format!("pod {i}"));
        }
        assert_eq!(rec.dropped(), 3);
        finish(rec, writer).await;
        assert_eq!(sink.events().len(), 2);
    }

    #[tokio::test]
    async fn several_writers_count_each_object_exactly() {
        let sink = MemorySink::default();
        let config = RecorderConfig {
            writers: 3,
            ..RecorderConfig::new("rs-ctl")
        };
        let (rec, writer) = Recorder::start(sink.clone(), config);
        for round in 0..4 {
            for name in ["a", "b", "c", "d", "e"] {
                rec.record(&rs(name), "Warning", "FailedCreate", "quota exceeded");
            }
            if round == 1 {
                tokio::task::yield_now().await;
            }
        }
        finish(rec, writer).await;
        let events = sink.events();
        assert_eq!(events.len(), 5, "{events:?}");
        assert!(events.iter().all(|e| e.count == Some(4)), "{events:?}");
    }

    #[tokio::test]
    async fn record_ref_sets_action_host_and_instance() {
        let sink = MemorySink::default();
        let config = RecorderConfig {
            host: Some("node-1".into()),
            instance: "default-scheduler-node-1".into(),
            ..RecorderConfig::new("default-scheduler")
        };
        let (rec, writer) = Recorder::start(sink.clone(), config);
        let pod = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some("p".into()),
            namespace: None,
            ..ObjectReference::default()
        };
        rec.record_ref(&pod, "Normal", "Scheduled", Some("Binding"), "assigned");
        finish(rec, writer).await;
        let e = &sink.events()[0];
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(e.action.as_deref(), Some("Binding"));
        assert_eq!(
            e.reporting_instance.as_deref(),
            Some("default-scheduler-node-1")
        );
        assert_eq!(
            e.source.as_ref().and_then(|s| s.host.as_deref()),
            Some("node-1")
        );
    }
}
