//! One watch and one cache of a kind, shared by every controller that needs it.
//!
//! Each object is decoded once, trimmed of fields no controller reads, stored once in a
//! kube-rs [`Store`], and its change is handed to every subscriber as an `Arc` of the stored
//! object. Subscribers get unbounded queues, so a slow controller never holds up the watch
//! (or the others); a queue holds pointers only.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// A change as subscribers see it: the watcher's event over the shared object.
pub type SharedEvent<K> = watcher::Event<Arc<K>>;

/// Trims an object before it is cached (drops what no controller reads).
pub type Trim<K> = fn(&mut K);

type Subscribers<K> = Arc<Mutex<Vec<mpsc::UnboundedSender<SharedEvent<K>>>>>;

/// Applies an event to the cache through the writer, and to an index kept beside it.
pub type Indexer<K> =
    Arc<dyn Fn(&watcher::Event<K>, &mut reflector::store::Writer<K>) + Send + Sync>;

/// A watch of every `K` with its cache, fanned out to subscribers; [`SharedInformer::run`]
/// drives it. Subscribe before running it: a later subscriber misses what came before.
pub struct SharedInformer<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    api: Api<K>,
    store: Store<K>,
    writer: Mutex<Option<reflector::store::Writer<K>>>,
    subscribers: Subscribers<K>,
    trim: Trim<K>,
    indexer: Option<Indexer<K>>,
}

impl<K> SharedInformer<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// An informer over `api` (usually cluster-wide) that passes each object through `trim`.
    pub fn new(api: Api<K>, trim: Trim<K>) -> Self {
        let (store, writer) = reflector::store::<K>();
        SharedInformer {
            api,
            store,
            writer: Mutex::new(Some(writer)),
            subscribers: Arc::default(),
            trim,
            indexer: None,
        }
    }

    /// The same, with every event applied to the cache by `indexer` (which keeps an index
    /// in step with it).
    pub fn with_indexer(api: Api<K>, trim: Trim<K>, indexer: Indexer<K>) -> Self {
        SharedInformer {
            indexer: Some(indexer),
            ..Self::new(api, trim)
        }
    }

    /// The shared cache (ready once the first list is in).
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Every watcher event (initial list included), after the cache has taken it.
    pub fn subscribe_events(&self) -> UnboundedReceiverStream<SharedEvent<K>> {
        let (tx, rx) = mpsc::unbounded_channel();
        if self.writer.lock().is_none() {
            debug!(kind = %K::kind(&()), "subscribed to a running informer");
        }
        self.subscribers.lock().push(tx);
        UnboundedReceiverStream::new(rx)
    }

    /// Every object listed, changed or deleted (as `touched_objects` yields them).
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static + use<K> {
        self.subscribe_events()
            .filter_map(|e| futures::future::ready(touched(e)))
    }

    /// The watch loop, until `stop` is cancelled; a second call returns at once.
    pub fn run(
        &self,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static + use<K> {
        let writer = self.writer.lock().take();
        let subscribers = self.subscribers.clone();
        let reader = self.store.clone();
        let api = self.api.clone();
        let trim = self.trim;
        let indexer = self.indexer.clone();
        async move {
            let kind = K::kind(&()).into_owned();
            let Some(mut writer) = writer else {
                warn!(%kind, "shared informer started twice");
                return;
            };
            let stream = watcher(api, watcher::Config::default()).default_backoff();
            let mut stream = std::pin::pin!(stream);
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => break,
                    n = stream.next() => n,
                };
                let Some(item) = next else { break };
                let mut event = match item {
                    Ok(e) => e,
                    Err(e) => {
                        warn!(%kind, error = %e, "watch failed; retrying");
                        continue;
                    }
                };
                trim_event(&mut event, trim);
                match &indexer {
                    Some(apply) => apply(&event, &mut writer),
                    None => writer.apply_watcher_event(&event),
                }
                let shared = share(event, &reader);
                subscribers
                    .lock()
                    .retain(|tx| tx.send(shared.clone()).is_ok());
            }
        }
    }
}

fn trim_event<K>(event: &mut watcher::Event<K>, trim: Trim<K>) {
    match event {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o) => {
            trim(o);
        }
        watcher::Event::Init | watcher::Event::InitDone => {}
    }
}

/// The event over an `Arc`: for an update, the very object the cache now holds.
fn share<K>(event: watcher::Event<K>, reader: &Store<K>) -> SharedEvent<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    match event {
        watcher::Event::Apply(o) => {
            let key = ObjectRef::from_obj(&o);
            watcher::Event::Apply(reader.get(&key).unwrap_or_else(|| Arc::new(o)))
        }
        watcher::Event::Delete(o) => watcher::Event::Delete(Arc::new(o)),
        watcher::Event::InitApply(o) => watcher::Event::InitApply(Arc::new(o)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// The object an event touched, if any.
pub fn touched<K>(event: SharedEvent<K>) -> Option<Arc<K>> {
    match event {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o) => {
            Some(o)
        }
        watcher::Event::Init | watcher::Event::InitDone => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use kube::ResourceExt;

    fn pod(name: &str, rv: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.namespace = Some("ns".into());
        p.metadata.resource_version = Some(rv.into());
        p
    }

    #[test]
    fn updates_share_the_cached_object() {
        let (reader, mut writer) = reflector::store::<Pod>();
        let ev = watcher::Event::Apply(pod("a", "1"));
        writer.apply_watcher_event(&ev);
        let Some(shared) = touched(share(ev, &reader)) else {
            panic!("apply touches its object");
        };
        let cached = reader.get(&ObjectRef::new("a").within("ns"));
        assert!(cached.is_some_and(|c| Arc::ptr_eq(&c, &shared)));

        let del = watcher::Event::Delete(pod("a", "2"));
        writer.apply_watcher_event(&del);
        let gone = touched(share(del, &reader)).map(|p| p.resource_version());
        assert_eq!(gone, Some(Some("2".to_owned())));
        assert!(reader.is_empty());
        assert!(touched(share(watcher::Event::<Pod>::InitDone, &reader)).is_none());
    }

    #[test]
    fn trim_runs_on_every_object() {
        fn drop_labels(p: &mut Pod) {
            p.metadata.labels = None;
        }
        let mut p = pod("a", "1");
        p.labels_mut().insert("x".into(), "y".into());
        let mut ev = watcher::Event::InitApply(p);
        trim_event(&mut ev, drop_labels);
        let watcher::Event::InitApply(p) = ev else {
            panic!("event kind kept");
        };
        assert!(p.metadata.labels.is_none());
    }
}
