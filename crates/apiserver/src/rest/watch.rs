//! WATCH: streaming changes from the watch cache (or the store for old revisions).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use rand::Rng;
use rkube_api::{ResourceInfo, registry};
use rkube_store::{Store, StoreError, WatchEvent};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

use super::admit;
use super::body::{self, Output};
use super::read::{self, Filter};
use crate::cache::{CacheEvent, Entry, EventType};
use crate::error::ApiError;
use crate::request::{Query, ResourceRequest};
use crate::state::State;

/// How often an idle watch with bookmarks enabled gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

/// How events are rendered for one watcher.
struct Encoder {
    info: &'static ResourceInfo,
    storage: &'static ResourceInfo,
    output: Output,
    include: String,
    first_table: bool,
}

impl Encoder {
    fn object(&mut self, e: &Entry) -> Result<Vec<u8>, ApiError> {
        match self.output {
            Output::Json if std::ptr::eq(self.info, self.storage) => Ok(e.json.to_vec()),
            Output::Json => serde_json::to_vec(&admit::to_served(self.info, e.value())?)
                .map_err(ApiError::internal),
            Output::PartialMetadata => {
                serde_json::to_vec(&body::partial_metadata(&e.value())).map_err(ApiError::internal)
            }
            Output::Table => {
                let obj = admit::to_served(self.info, e.value())?;
                let row = read::table_row(self.info, &obj, jiff::Timestamp::now(), &self.include);
                let cols = if self.first_table {
                    read::column_definitions(self.info)
                } else {
                    Vec::new()
                };
                self.first_table = false;
                let t = json!({
                    "kind": "Table",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": {"resourceVersion": e.rv.to_string()},
                    "columnDefinitions": cols,
                    "rows": [row],
                });
                serde_json::to_vec(&t).map_err(ApiError::internal)
            }
        }
    }

    fn event(&mut self, kind: &str, e: &Entry) -> Result<Bytes, ApiError> {
        let obj = self.object(e)?;
        let mut out = Vec::with_capacity(obj.len() + 32);
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"object\":");
        out.extend_from_slice(&obj);
        out.extend_from_slice(b"}\n");
        Ok(Bytes::from(out))
    }

    fn bookmark(&self, rv: i64, initial_end: bool) -> Bytes {
        let (kind, api_version) = match self.output {
            Output::Table => ("Table", "meta.k8s.io/v1".to_string()),
            Output::PartialMetadata => ("PartialObjectMetadata", "meta.k8s.io/v1".to_string()),
            Output::Json => (self.info.kind, self.info.api_version()),
        };
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let ev = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": meta}});
        let mut v = serde_json::to_vec(&ev).unwrap_or_default();
        v.push(b'\n');
        Bytes::from(v)
    }
}

/// The watch event a change becomes for a watcher with these selectors, if any.
fn visible(ev: &CacheEvent, prefix: &str, filter: &Filter) -> Option<&'static str> {
    if !ev.entry.key.starts_with(prefix) {
        return None;
    }
    let now = filter.matches(&ev.entry);
    let before = ev.prev.as_ref().is_some_and(|p| filter.matches(p));
    match ev.kind {
        EventType::Added => now.then_some("ADDED"),
        EventType::Deleted => (before || now).then_some("DELETED"),
        EventType::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }
}

/// An ERROR event carrying a Status.
fn error_event(e: &ApiError) -> Bytes {
    let mut v =
        serde_json::to_vec(&json!({"type": "ERROR", "object": e.status()})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// Handles a watch request.
pub async fn watch(
    state: State,
    req: &ResourceRequest,
    q: &Query,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let output = body::negotiate(headers)?;
    let info = req.info;
    let storage = registry::storage_of(info);
    let filter = Filter::from_query(info, q)?;
    let prefix = match &req.name {
        // A watch on a named object is a watch with a name selector.
        Some(name) => crate::meta::key(storage, req.namespace.as_deref().unwrap_or(""), name),
        None => read::list_prefix(req),
    };
    let exact_name = req.name.is_some();
    let rv = q
        .get("resourceVersion")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let bookmarks = q.flag("allowWatchBookmarks");
    let send_initial = match q.get("sendInitialEvents") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let timeout = match q.int("timeoutSeconds")? {
        Some(t) if t > 0 => Duration::from_secs(t as u64),
        _ => Duration::from_secs(1800 + rand::rng().random_range(0..1800)),
    };
    let cache = state
        .caches
        .for_resource(storage)
        .cloned()
        .ok_or_else(|| ApiError::internal("no cache for resource"))?;

    let mut enc = Encoder {
        info,
        storage,
        output,
        include: q.get("includeObject").unwrap_or("Metadata").to_string(),
        first_table: true,
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let stop = state.stop.clone();
    let store = state.store.clone();

    // Decide the starting point now so errors like 410 reach the client in-band.
    enum Start {
        Snapshot(
            Vec<Arc<Entry>>,
            i64,
            broadcast::Receiver<Arc<CacheEvent>>,
            bool,
        ),
        Cache(
            Vec<Arc<CacheEvent>>,
            broadcast::Receiver<Arc<CacheEvent>>,
            i64,
        ),
        Store(i64),
    }
    let want_initial = send_initial.unwrap_or(matches!(rv.as_deref(), None | Some("0")));
    let start = match rv.as_deref() {
        None | Some("0") if want_initial => {
            let (snap, live) = cache.snapshot_and_subscribe(&prefix);
            let items = snap
                .items
                .into_iter()
                .filter(|e| !exact_name || e.key == prefix)
                .collect();
            Start::Snapshot(items, snap.revision, live, send_initial == Some(true))
        }
        None | Some("0") => {
            let (snap, live) = cache.snapshot_and_subscribe(&prefix);
            Start::Cache(Vec::new(), live, snap.revision)
        }
        Some(r) => {
            let after: i64 = r
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {r:?}")))?;
            if want_initial {
                let (snap, live) = cache.snapshot_and_subscribe(&prefix);
                let items = snap
                    .items
                    .into_iter()
                    .filter(|e| !exact_name || e.key == prefix)
                    .collect();
                Start::Snapshot(items, snap.revision, live, send_initial == Some(true))
            } else {
                match cache.subscribe(after) {
                    Some(sub) => Start::Cache(sub.backlog, sub.live, after),
                    None => Start::Store(after),
                }
            }
        }
    };

    let span = tracing::debug_span!("watch", resource = info.plural);
    tokio::spawn(
        async move {
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            let mut last_rv;
            let matches_key = |e: &CacheEvent| !exact_name || e.entry.key == prefix;
            let send = |b: Bytes| {
                let tx = tx.clone();
                async move { tx.send(Ok(b)).await.is_ok() }
            };
            let mut live = match start {
                Start::Snapshot(items, rev, live, initial_end) => {
                    for e in items.iter().filter(|e| filter.matches(e)) {
                        match enc.event("ADDED", e) {
                            Ok(b) => {
                                if !send(b).await {
                                    return;
                                }
                            }
                            Err(err) => {
                                let _ = send(error_event(&err)).await;
                                return;
                            }
                        }
                    }
                    last_rv = rev;
                    if initial_end && !send(enc.bookmark(rev, true)).await {
                        return;
                    }
                    live
                }
                Start::Cache(backlog, live, after) => {
                    last_rv = after;
                    for ev in backlog.iter().filter(|e| matches_key(e)) {
                        if let Some(kind) = visible(ev, if exact_name { "" } else { &prefix }, &filter) {
                            match enc.event(kind, &ev.entry) {
                                Ok(b) => {
                                    if !send(b).await {
                                        return;
                                    }
                                }
                                Err(_) => return,
                            }
                        }
                        last_rv = ev.revision();
                    }
                    live
                }
                Start::Store(after) => {
                    stream_from_store(store, storage, &prefix, exact_name, after, &filter, &mut enc, &tx, stop, timeout).await;
                    return;
                }
            };
            let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = &mut deadline => return,
                    _ = tx.closed() => return,
                    _ = ticker.tick(), if bookmarks => {
                        if !send(enc.bookmark(last_rv, false)).await {
                            return;
                        }
                    }
                    ev = live.recv() => match ev {
                        Ok(ev) => {
                            if ev.revision() <= last_rv || !matches_key(&ev) {
                                continue;
                            }
                            last_rv = ev.revision();
                            if let Some(kind) = visible(&ev, if exact_name { "" } else { &prefix }, &filter) {
                                match enc.event(kind, &ev.entry) {
                                    Ok(b) => {
                                        if !send(b).await {
                                            return;
                                        }
                                    }
                                    Err(err) => {
                                        let _ = send(error_event(&err)).await;
                                        return;
                                    }
                                }
                            }
                        }
                        // Too slow: end the watch; the client resumes from its last resourceVersion.
                        Err(broadcast::error::RecvError::Lagged(_)) => return,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        }
        .instrument(span),
    );
    let mut resp = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

/// Serves a watch that starts before the cache's history straight from the store.
#[allow(clippy::too_many_arguments)]
async fn stream_from_store(
    store: Arc<rkube_store::AnyStore>,
    storage: &'static ResourceInfo,
    prefix: &str,
    exact_name: bool,
    after: i64,
    filter: &Filter,
    enc: &mut Encoder,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    stop: tokio_util::sync::CancellationToken,
    timeout: Duration,
) {
    let watch_prefix = if exact_name {
        storage.key_prefix()
    } else {
        prefix.to_string()
    };
    let mut stream = match store.watch(&watch_prefix, after).await {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Ok(error_event(&ApiError::from(e)))).await;
            return;
        }
    };
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            n = stream.next() => n,
        };
        let ev = match next {
            Some(Ok(ev)) => ev,
            Some(Err(e @ StoreError::Compacted { .. })) => {
                let _ = tx.send(Ok(error_event(&ApiError::from(e)))).await;
                return;
            }
            Some(Err(_)) | None => return,
        };
        let ce = match &ev {
            WatchEvent::Put { kv, prev } => {
                let Ok(entry) = Entry::from_stored(storage, &kv.key, &kv.value, kv.mod_revision)
                else {
                    continue;
                };
                let prev = prev.as_ref().and_then(|p| {
                    Entry::from_stored(storage, &p.key, &p.value, p.mod_revision).ok()
                });
                CacheEvent {
                    kind: if prev.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    },
                    entry: Arc::new(entry),
                    prev: prev.map(Arc::new),
                }
            }
            WatchEvent::Delete { revision, prev } => {
                let Ok(entry) = Entry::from_stored(storage, &prev.key, &prev.value, *revision)
                else {
                    continue;
                };
                CacheEvent {
                    kind: EventType::Deleted,
                    entry: Arc::new(entry),
                    prev: None,
                }
            }
        };
        if exact_name && ce.entry.key != prefix {
            continue;
        }
        if let Some(kind) = visible(&ce, if exact_name { "" } else { prefix }, filter) {
            match enc.event(kind, &ce.entry) {
                Ok(b) => {
                    if tx.send(Ok(b)).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

/// Whether a request is a watch.
pub fn is_watch(q: &Query) -> bool {
    q.flag("watch")
}
