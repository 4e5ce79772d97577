//! The watch cache: every object of every resource in memory, fed by one store watch.
//!
//! Lists and watches are served from here, as kube-apiserver's watch cache does;
//! a list that must be consistent waits until the cache has applied the store's
//! current revision.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use parking_lot::{Mutex, RwLock};
use rkube_api::{RESOURCES, ResourceInfo};
use rkube_store::{AnyStore, KeyValue, ListOptions, Revision, Store, StoreError, WatchEvent};
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::meta;

/// How many past events each resource keeps for watches that start in the past.
const HISTORY: usize = 20_000;
/// Buffer of the live fan-out to watchers.
const FANOUT: usize = 16_384;

/// One object as cached: its JSON (with resourceVersion) and what selectors need.
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub namespace: String,
    pub name: String,
    pub rv: Revision,
    pub json: Bytes,
    pub labels: BTreeMap<String, String>,
    /// Values of the resource's field-selector fields.
    pub fields: Vec<(&'static str, String)>,
}

impl Entry {
    /// Builds an entry from a stored value, setting its resourceVersion to `rv`.
    pub fn from_stored(
        info: &ResourceInfo,
        key: &str,
        value: &[u8],
        rv: Revision,
    ) -> Result<Entry, serde_json::Error> {
        let obj: Value = serde_json::from_slice(value)?;
        let json = match with_resource_version(value, rv) {
            Some(j) => j,
            None => {
                let mut o = obj.clone();
                meta::set_resource_version(&mut o, rv);
                serde_json::to_vec(&o).unwrap_or_default()
            }
        };
        Ok(Self::build(info, key, &obj, rv, Bytes::from(json)))
    }

    /// Builds an entry from an object, setting its resourceVersion to `rv`.
    pub fn from_value(info: &ResourceInfo, key: &str, obj: &mut Value, rv: Revision) -> Entry {
        meta::set_resource_version(obj, rv);
        let json = Bytes::from(serde_json::to_vec(obj).unwrap_or_default());
        Self::build(info, key, obj, rv, json)
    }

    fn build(info: &ResourceInfo, key: &str, obj: &Value, rv: Revision, json: Bytes) -> Entry {
        let fields = rkube_apimachinery::fields::supported_fields(info)
            .iter()
            .map(|f| {
                (
                    *f,
                    rkube_apimachinery::fields::field_value(info, obj, f).unwrap_or_default(),
                )
            })
            .collect();
        Entry {
            key: key.to_string(),
            namespace: meta::namespace(obj).to_string(),
            name: meta::name(obj).to_string(),
            rv,
            json,
            labels: meta::labels(obj),
            fields,
        }
    }

    /// The object as a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// A field-selector field's value.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, v)| v.clone())
    }
}

/// The kind of change a watch event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A change to one object.
#[derive(Debug)]
pub struct CacheEvent {
    pub kind: EventType,
    /// The new object (for deletes: the last state, with the deletion's revision).
    pub entry: Arc<Entry>,
    pub prev: Option<Arc<Entry>>,
}

impl CacheEvent {
    pub fn revision(&self) -> Revision {
        self.entry.rv
    }
}

/// The cache of one stored resource.
pub struct ResourceCache {
    pub info: &'static ResourceInfo,
    pub prefix: String,
    inner: RwLock<Inner>,
    fanout: broadcast::Sender<Arc<CacheEvent>>,
    /// The revision all caches have applied, moved under this cache's write lock
    /// so that a snapshot taken under its read lock is exact at that revision.
    applied: Arc<watch::Sender<Revision>>,
    /// Objects this server has just written, by key, so that applying their watch
    /// events does not decode the stored bytes again.
    written: Mutex<HashMap<String, Arc<Entry>>>,
}

/// Most written-object entries kept waiting for their watch events.
const WRITTEN_MAX: usize = 4096;

struct Inner {
    objects: BTreeMap<String, Arc<Entry>>,
    history: VecDeque<Arc<CacheEvent>>,
    /// Events with revision above this are all in `history`.
    history_floor: Revision,
}

/// A consistent snapshot of matching objects.
pub struct Snapshot {
    pub items: Vec<Arc<Entry>>,
    pub revision: Revision,
}

/// What a new watcher receives: events it missed, then a live receiver.
pub struct Subscription {
    pub backlog: Vec<Arc<CacheEvent>>,
    pub live: broadcast::Receiver<Arc<CacheEvent>>,
}

impl ResourceCache {
    fn new(info: &'static ResourceInfo, applied: Arc<watch::Sender<Revision>>) -> Self {
        let (fanout, _) = broadcast::channel(FANOUT);
        ResourceCache {
            info,
            prefix: info.key_prefix(),
            inner: RwLock::new(Inner {
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                history_floor: 0,
            }),
            fanout,
            applied,
            written: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers the entry of an object this server just wrote (its stored JSON with
    /// the revision spliced in), for the watch event that will report it.
    fn note_written(&self, entry: Entry) {
        if *self.applied.borrow() >= entry.rv {
            return;
        }
        let mut written = self.written.lock();
        if written.len() >= WRITTEN_MAX {
            written.clear();
        }
        written.insert(entry.key.clone(), Arc::new(entry));
    }

    /// The entry noted for `key` at `rv`, if any (any older one is dropped).
    fn take_written(&self, key: &str, rv: Revision) -> Option<Arc<Entry>> {
        let mut written = self.written.lock();
        if written.is_empty() {
            return None;
        }
        written.remove(key).filter(|e| e.rv == rv)
    }

    /// Objects whose key starts with `key_prefix` (a namespace's prefix, or the whole resource).
    pub fn list(&self, key_prefix: &str) -> Snapshot {
        snapshot(&self.inner.read(), &self.applied, key_prefix)
    }

    /// One object.
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.inner.read().objects.get(key).cloned()
    }

    /// Number of objects cached.
    pub fn len(&self) -> usize {
        self.inner.read().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events after `after`, then live ones; `None` if `after` is older than the history kept.
    pub fn subscribe(&self, after: Revision) -> Option<Subscription> {
        let inner = self.inner.read();
        if after < inner.history_floor {
            return None;
        }
        let backlog = inner
            .history
            .iter()
            .filter(|e| e.revision() > after)
            .cloned()
            .collect();
        let live = self.fanout.subscribe();
        Some(Subscription { backlog, live })
    }

    /// The current objects and a live receiver, taken atomically (for watches from "now").
    pub fn snapshot_and_subscribe(
        &self,
        key_prefix: &str,
    ) -> (Snapshot, broadcast::Receiver<Arc<CacheEvent>>) {
        let inner = self.inner.read();
        (
            snapshot(&inner, &self.applied, key_prefix),
            self.fanout.subscribe(),
        )
    }

    fn apply(&self, ev: &WatchEvent) {
        match ev {
            WatchEvent::Put { kv, .. } => {
                let entry = match self.take_written(&kv.key, kv.mod_revision) {
                    Some(entry) => Ok(entry),
                    None => Entry::from_stored(self.info, &kv.key, &kv.value, kv.mod_revision)
                        .map(Arc::new),
                };
                match entry {
                    Ok(entry) => {
                        let mut inner = self.inner.write();
                        let prev = inner.objects.insert(kv.key.clone(), entry.clone());
                        let kind = if prev.is_some() {
                            EventType::Modified
                        } else {
                            EventType::Added
                        };
                        let event = Arc::new(CacheEvent { kind, entry, prev });
                        push_history(&mut inner, event.clone());
                        let _ = self.fanout.send(event);
                        self.applied.send_replace(kv.mod_revision);
                    }
                    Err(e) => {
                        tracing::warn!(key = %kv.key, error = %e, "skipping undecodable stored object");
                        self.applied.send_replace(kv.mod_revision);
                    }
                }
            }
            WatchEvent::Delete { revision, prev } => {
                self.take_written(&prev.key, *revision);
                let mut inner = self.inner.write();
                let last = inner.objects.remove(&prev.key);
                let entry = match Entry::from_stored(self.info, &prev.key, &prev.value, *revision) {
                    Ok(e) => Arc::new(e),
                    Err(_) => {
                        self.applied.send_replace(*revision);
                        return;
                    }
                };
                let event = Arc::new(CacheEvent {
                    kind: EventType::Deleted,
                    entry,
                    prev: last,
                });
                push_history(&mut inner, event.clone());
                let _ = self.fanout.send(event);
                self.applied.send_replace(*revision);
            }
        }
    }

    fn load(&self, items: Vec<KeyValue>, revision: Revision) {
        let info = self.info;
        let build = |chunk: &[KeyValue]| -> Vec<(String, Arc<Entry>)> {
            chunk
                .iter()
                .filter_map(|kv| match Entry::from_stored(info, &kv.key, &kv.value, kv.mod_revision) {
                    Ok(e) => Some((kv.key.clone(), Arc::new(e))),
                    Err(e) => {
                        tracing::warn!(key = %kv.key, error = %e, "skipping undecodable stored object");
                        None
                    }
                })
                .collect()
        };
        // Decoding dominates start-up with many objects: spread it over the cores.
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let built: Vec<(String, Arc<Entry>)> = if items.len() < 2_000 || threads < 2 {
            build(&items)
        } else {
            let chunk = items.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = items
                    .chunks(chunk)
                    .map(|c| scope.spawn(move || build(c)))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_default())
                    .collect()
            })
        };
        let mut inner = self.inner.write();
        inner.objects.extend(built);
        inner.history_floor = revision;
    }
}

/// The stored JSON with `"resourceVersion":"<rv>"` spliced into its top-level metadata,
/// without re-serializing. Stored objects never carry a resourceVersion and are written
/// by serde_json with sorted keys, so the first `"metadata":{` is the top-level one.
pub(crate) fn with_resource_version(raw: &[u8], rv: Revision) -> Option<Vec<u8>> {
    const NEEDLE: &[u8] = b"\"metadata\":{";
    if !raw.starts_with(b"{\"apiVersion\":") {
        return None;
    }
    let at = raw.windows(NEEDLE.len()).position(|w| w == NEEDLE)? + NEEDLE.len();
    let field = format!("\"resourceVersion\":\"{rv}\"");
    let mut out = Vec::with_capacity(raw.len() + field.len() + 1);
    out.extend_from_slice(&raw[..at]);
    out.extend_from_slice(field.as_bytes());
    if raw.get(at) != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

/// Objects under `key_prefix` at the applied revision; the caller holds the cache's lock.
fn snapshot(inner: &Inner, applied: &watch::Sender<Revision>, key_prefix: &str) -> Snapshot {
    let revision = *applied.borrow();
    let items = inner
        .objects
        .range(key_prefix.to_string()..)
        .take_while(|(k, _)| k.starts_with(key_prefix))
        .map(|(_, e)| e.clone())
        .collect();
    Snapshot { items, revision }
}

fn push_history(inner: &mut Inner, event: Arc<CacheEvent>) {
    if inner.history.len() >= HISTORY
        && let Some(old) = inner.history.pop_front()
    {
        inner.history_floor = old.revision();
    }
    inner.history.push_back(event);
}

/// All resource caches, fed by one watch on `/registry/`.
pub struct CacheSet {
    by_prefix: HashMap<String, Arc<ResourceCache>>,
    /// The same caches by the (group, plural) of their storage.
    by_storage: HashMap<(&'static str, &'static str), Arc<ResourceCache>>,
    applied: Arc<watch::Sender<Revision>>,
}

impl CacheSet {
    /// Lists everything, then follows the store until `stop`.
    pub async fn start(
        store: Arc<AnyStore>,
        stop: CancellationToken,
    ) -> Result<Arc<CacheSet>, StoreError> {
        let listed = store.list("/registry/", ListOptions::default()).await?;
        let revision = listed.revision;
        let (applied, _) = watch::channel(revision);
        let applied = Arc::new(applied);
        let mut by_prefix = HashMap::new();
        let mut by_storage = HashMap::new();
        for info in RESOURCES {
            // One cache per storage, described by the storage's own (preferred) entry.
            let owner = rkube_api::registry::storage_of(info);
            let cache = by_prefix
                .entry(owner.key_prefix())
                .or_insert_with(|| Arc::new(ResourceCache::new(owner, applied.clone())));
            by_storage.insert(info.storage, cache.clone());
        }
        let mut grouped: HashMap<String, Vec<KeyValue>> = HashMap::new();
        for kv in listed.items {
            if let Some((prefix, _)) = cache_of(&by_prefix, &kv.key) {
                grouped.entry(prefix.clone()).or_default().push(kv);
            }
        }
        for (prefix, cache) in &by_prefix {
            cache.load(grouped.remove(prefix).unwrap_or_default(), revision);
        }
        let set = Arc::new(CacheSet {
            by_prefix,
            by_storage,
            applied,
        });
        let runner = set.clone();
        tokio::spawn(
            async move { runner.follow(store, revision, stop).await }
                .instrument(tracing::info_span!("watch_cache")),
        );
        Ok(set)
    }

    async fn follow(&self, store: Arc<AnyStore>, mut revision: Revision, stop: CancellationToken) {
        loop {
            let mut stream = match store.watch("/registry/", revision).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "watch cache cannot watch the store; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => return,
                    n = stream.next() => n,
                };
                match next {
                    Some(Ok(ev)) => {
                        let rev = ev.revision();
                        match cache_of(&self.by_prefix, ev.key()) {
                            Some((_, cache)) => cache.apply(&ev),
                            None => {
                                self.applied.send_replace(rev);
                            }
                        }
                        revision = rev;
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %e, revision, "store watch failed; resuming");
                        break;
                    }
                    None => {
                        tracing::warn!(revision, "store watch ended; resuming");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The cache holding a resource's objects.
    pub fn for_resource(&self, info: &ResourceInfo) -> Option<&Arc<ResourceCache>> {
        self.by_storage.get(&info.storage)
    }

    /// Notes an object of `info` (storage version, no resourceVersion) this server just
    /// stored at `rev` as `stored`, so that its watch event is not decoded again; returns
    /// the stored JSON with the revision spliced in, as the cache serves it.
    pub fn note_written(
        &self,
        info: &ResourceInfo,
        key: &str,
        obj: &Value,
        rev: Revision,
        stored: &[u8],
    ) -> Option<Bytes> {
        let json = Bytes::from(with_resource_version(stored, rev)?);
        if let Some(cache) = self.for_resource(info) {
            cache.note_written(Entry::build(info, key, obj, rev, json.clone()));
        }
        Some(json)
    }

    /// The revision the caches have applied.
    pub fn revision(&self) -> Revision {
        *self.applied.borrow()
    }

    /// Waits until the caches have applied `rev`; false on timeout.
    pub async fn wait_for(&self, rev: Revision, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= rev))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// The cache a store key belongs to, with the prefix it is filed under.
fn cache_of<'a>(
    by_prefix: &'a HashMap<String, Arc<ResourceCache>>,
    key: &str,
) -> Option<(&'a String, &'a Arc<ResourceCache>)> {
    // Keys are /registry/<plural>/… or /registry/<group>/<plural>/…
    const ROOT: &str = "/registry/";
    let rest = key.strip_prefix(ROOT)?;
    let first = rest.find('/')?;
    let one = &key[..ROOT.len() + first + 1];
    if let Some(found) = by_prefix.get_key_value(one) {
        return Some(found);
    }
    let second = rest[first + 1..].find('/')?;
    by_prefix.get_key_value(&key[..ROOT.len() + first + 1 + second + 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix [`cache_of`] files `key` under.
    fn prefix_of<'a>(
        by_prefix: &'a HashMap<String, Arc<ResourceCache>>,
        key: &str,
    ) -> Option<&'a str> {
        cache_of(by_prefix, key).map(|(prefix, _)| prefix.as_str())
    }

    #[test]
    fn a_key_finds_its_cache_prefix_with_or_without_a_group() {
        let (applied, _) = watch::channel(0);
        let applied = Arc::new(applied);
        let mut by_prefix = HashMap::new();
        for (group, version, plural) in
            [("", "v1", "pods"), ("networking.k8s.io", "v1", "ingresses")]
        {
            let info = rkube_api::registry::find(group, version, plural).unwrap();
            by_prefix.insert(
                info.key_prefix(),
                Arc::new(ResourceCache::new(info, applied.clone())),
            );
        }
        assert_eq!(
            prefix_of(&by_prefix, "/registry/pods/ns/p"),
            Some("/registry/pods/")
        );
        assert_eq!(
            prefix_of(&by_prefix, "/registry/networking.k8s.io/ingresses/ns/i"),
            Some("/registry/networking.k8s.io/ingresses/")
        );
        assert_eq!(prefix_of(&by_prefix, "/registry/secrets/ns/s"), None);
        assert_eq!(prefix_of(&by_prefix, "/registry/pods"), None);
        assert_eq!(prefix_of(&by_prefix, "/other/pods/ns/p"), None);
    }

    #[test]
    fn splices_resource_version_into_top_level_metadata() {
        let raw = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"template":{"metadata":{}}}}"#;
        let out = with_resource_version(raw, 42).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "42");
        assert_eq!(v["metadata"]["name"], "p");
        assert!(
            v["spec"]["template"]["metadata"]
                .get("resourceVersion")
                .is_none()
        );
        let empty =
            with_resource_version(br#"{"apiVersion":"v1","kind":"X","metadata":{}}"#, 7).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&empty).unwrap()["metadata"]["resourceVersion"],
            "7"
        );
        assert!(with_resource_version(br#"{"kind":"X"}"#, 1).is_none());
    }

    fn put(key: &str, raw: &[u8], rev: Revision) -> WatchEvent {
        WatchEvent::Put {
            kv: KeyValue {
                key: key.into(),
                value: Bytes::copy_from_slice(raw),
                create_revision: rev,
                mod_revision: rev,
            },
            prev: None,
        }
    }

    #[test]
    fn a_written_entry_is_used_only_for_its_own_revision() {
        let info = rkube_api::registry::find("", "v1", "configmaps").unwrap();
        let (applied, _) = watch::channel(0);
        let cache = ResourceCache::new(info, Arc::new(applied));
        let key = "/registry/configmaps/default/c";
        let obj = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "labels": {"a": "b"}}});
        let raw = serde_json::to_vec(&obj).unwrap();
        let noted = |rev| {
            let json = Bytes::from(with_resource_version(&raw, rev).unwrap());
            cache.note_written(Entry::build(info, key, &obj, rev, json));
        };

        // Noted at 5, applied at 5: the noted entry is the cached one.
        noted(5);
        cache.apply(&put(key, &raw, 5));
        let got = cache.get(key).unwrap();
        assert_eq!(got.rv, 5);
        assert_eq!(got.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(
            got.json,
            Bytes::from(with_resource_version(&raw, 5).unwrap())
        );
        assert!(cache.written.lock().is_empty());

        // A note for another revision is dropped; the event's bytes are decoded instead.
        noted(9);
        let other = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default"}}"#;
        cache.apply(&put(key, other, 8));
        let got = cache.get(key).unwrap();
        assert_eq!((got.rv, got.labels.is_empty()), (8, true));
        assert!(cache.written.lock().is_empty());

        // Nothing is noted for a revision the caches have already applied.
        cache.applied.send_replace(8);
        noted(7);
        assert!(cache.written.lock().is_empty());
    }
}
