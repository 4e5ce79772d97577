//! Where events are written: the API server, or memory for tests.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Event;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use parking_lot::Mutex;
use serde_json::Value;

/// Why writing an event failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The Event to patch no longer exists (it expired or was deleted).
    #[error("event {namespace}/{name} not found")]
    NotFound {
        /// The Event's namespace.
        namespace: String,
        /// The Event's name.
        name: String,
    },
    /// The API server refused the write or could not be reached.
    #[error("writing event {namespace}/{name} failed")]
    Api {
        /// The Event's namespace.
        namespace: String,
        /// The Event's name.
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Creates and patches Events.
///
/// ```
/// # use rkube_events::{EventSink, MemorySink};
/// # use k8s_openapi::api::core::v1::Event;
/// # tokio_test_block(async {
/// let sink = MemorySink::default();
/// let mut event = Event::default();
/// event.metadata.namespace = Some("default".into());
/// event.metadata.name = Some("web.17a".into());
/// sink.create(&event).await.unwrap();
/// let patched = sink
///     .patch("default", "web.17a", &serde_json::json!({"count": 2}))
///     .await
///     .unwrap();
/// assert_eq!(patched.count, Some(2));
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub trait EventSink: Send + Sync + 'static {
    /// Creates `event` (in its own namespace) and returns the stored copy.
    fn create(&self, event: &Event) -> impl Future<Output = Result<Event, SinkError>> + Send;

    /// Applies a strategic merge `patch` to Event `namespace/name`.
    fn patch(
        &self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<Event, SinkError>> + Send;
}

/// Writes Events to the API server through kube-rs.
#[derive(Clone)]
pub struct KubeSink {
    client: Client,
}

impl KubeSink {
    /// A sink writing with `client`.
    pub fn new(client: Client) -> Self {
        KubeSink { client }
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl EventSink for KubeSink {
    async fn create(&self, event: &Event) -> Result<Event, SinkError> {
        let namespace = event.metadata.namespace.clone().unwrap_or_default();
        Api::<Event>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), event)
            .await
            .map_err(|source| SinkError::Api {
                name: event.metadata.name.clone().unwrap_or_default(),
                namespace,
                source,
            })
    }

    async fn patch(&self, namespace: &str, name: &str, patch: &Value) -> Result<Event, SinkError> {
        Api::<Event>::namespaced(self.client.clone(), namespace)
            .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .map_err(|source| {
                let (namespace, name) = (namespace.to_owned(), name.to_owned());
                if is_not_found(&source) {
                    SinkError::NotFound { namespace, name }
                } else {
                    SinkError::Api {
                        namespace,
                        name,
                        source,
                    }
                }
            })
    }
}

/// Keeps Events in memory: a fake API server for tests. Clones share the store.
#[derive(Clone, Default)]
pub struct MemorySink {
    inner: Arc<Mutex<Memory>>,
}

#[derive(Default)]
struct Memory {
    events: BTreeMap<(String, String), Event>,
    creates: usize,
    patches: usize,
    resource_version: u64,
}

impl MemorySink {
    /// The stored Events, by namespace and name.
    pub fn events(&self) -> Vec<Event> {
        self.inner.lock().events.values().cloned().collect()
    }

    /// How many creates and patches were attempted.
    pub fn writes(&self) -> (usize, usize) {
        let m = self.inner.lock();
        (m.creates, m.patches)
    }

    /// Forgets every Event, as if they had expired.
    pub fn clear(&self) {
        self.inner.lock().events.clear();
    }
}

impl EventSink for MemorySink {
    async fn create(&self, event: &Event) -> Result<Event, SinkError> {
        let mut m = self.inner.lock();
        m.creates += 1;
        m.resource_version += 1;
        let mut stored = event.clone();
        stored.metadata.resource_version = Some(m.resource_version.to_string());
        let key = (
            stored.metadata.namespace.clone().unwrap_or_default(),
            stored.metadata.name.clone().unwrap_or_default(),
        );
        m.events.insert(key, stored.clone());
        Ok(stored)
    }

    async fn patch(&self, namespace: &str, name: &str, patch: &Value) -> Result<Event, SinkError> {
        let mut m = self.inner.lock();
        m.patches += 1;
        m.resource_version += 1;
        let rv = m.resource_version.to_string();
        let key = (namespace.to_owned(), name.to_owned());
        let Some(stored) = m.events.get_mut(&key) else {
            return Err(SinkError::NotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        };
        if let Some(n) = patch.get("count").and_then(Value::as_i64) {
            stored.count = i32::try_from(n).ok();
        }
        if let Some(t) = patch.get("lastTimestamp") {
            stored.last_timestamp = serde_json::from_value(t.clone()).ok();
        }
        if let Some(msg) = patch.get("message").and_then(Value::as_str) {
            stored.message = Some(msg.to_owned());
        }
        stored.metadata.resource_version = Some(rv);
        Ok(stored.clone())
    }
}
