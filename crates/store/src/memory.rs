//! In-memory backend for unit tests: key histories in a BTreeMap plus an event log.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::keys::{in_range, prefix_end, range_start};
use crate::watch::{BROADCAST_CAPACITY, EventBatch, History, spawn_watch};
use crate::{
    KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream,
};

/// A store that lives in process memory and forgets everything when dropped.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<EventBatch>,
}

/// One write to a key: its value, or `None` for a deletion.
struct Version {
    revision: Revision,
    kv: Option<KeyValue>,
}

#[derive(Default)]
struct State {
    revision: Revision,
    compacted: Revision,
    keys: BTreeMap<String, Vec<Version>>,
    log: VecDeque<WatchEvent>,
}

impl State {
    fn latest(&self, key: &str) -> Option<&KeyValue> {
        self.keys
            .get(key)
            .and_then(|v| v.last())
            .and_then(|v| v.kv.as_ref())
    }

    fn check_revision(&self, revision: Revision) -> Result<Revision, StoreError> {
        if revision == 0 {
            return Ok(self.revision);
        }
        if revision < self.compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: self.compacted,
            });
        }
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        Ok(revision)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            state: Arc::new(Mutex::new(State::default())),
            events,
        }
    }

    /// Applies one write under the lock and publishes its event.
    fn commit(
        &self,
        state: &mut State,
        key: &str,
        kv: Option<KeyValue>,
        event: WatchEvent,
    ) -> Revision {
        let revision = state.revision;
        state
            .keys
            .entry(key.to_owned())
            .or_default()
            .push(Version { revision, kv });
        state.log.push_back(event.clone());
        // No receivers is fine: nobody watches.
        let _ = self.events.send(Arc::from(vec![event]));
        revision
    }
}

impl History for Mutex<State> {
    async fn events_after(
        &self,
        prefix: &str,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<WatchEvent>, StoreError> {
        let state = self.lock();
        if after < state.compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted: state.compacted,
            });
        }
        let start = state.log.partition_point(|e| e.revision() <= after);
        Ok(state
            .log
            .range(start..)
            .filter(|e| e.key().starts_with(prefix))
            .take(limit)
            .cloned()
            .collect())
    }
}

impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.state.lock().latest(key).cloned())
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult, StoreError> {
        let state = self.state.lock();
        let revision = state.check_revision(opts.revision)?;
        let start = range_start(prefix, opts.start_after.as_deref());
        let end = prefix_end(prefix.as_bytes());
        let limit = if opts.limit == 0 {
            usize::MAX
        } else {
            opts.limit
        };
        let mut items = Vec::new();
        let mut more = false;
        let from = String::from_utf8_lossy(&start).into_owned();
        for (key, versions) in state.keys.range(from..) {
            if !in_range(key.as_bytes(), &start, &end) {
                break;
            }
            let at = versions.partition_point(|v| v.revision <= revision);
            let Some(kv) = at.checked_sub(1).and_then(|i| versions[i].kv.as_ref()) else {
                continue;
            };
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(kv.clone());
        }
        Ok(ListResult {
            items,
            revision,
            more,
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError> {
        let mut state = self.state.lock();
        if state.latest(key).is_some() {
            return Err(StoreError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        state.revision += 1;
        let kv = KeyValue {
            key: key.to_owned(),
            value: Bytes::from(value),
            create_revision: state.revision,
            mod_revision: state.revision,
        };
        let event = WatchEvent::Put {
            kv: kv.clone(),
            prev: None,
        };
        Ok(self.commit(&mut state, key, Some(kv), event))
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        let mut state = self.state.lock();
        let Some(prev) = state.latest(key).cloned() else {
            return Err(StoreError::NotFound {
                key: key.to_owned(),
            });
        };
        if prev.mod_revision != expected {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
                expected,
                actual: prev.mod_revision,
            });
        }
        state.revision += 1;
        let kv = KeyValue {
            key: key.to_owned(),
            value: Bytes::from(value),
            create_revision: prev.create_revision,
            mod_revision: state.revision,
        };
        let event = WatchEvent::Put {
            kv: kv.clone(),
            prev: Some(prev),
        };
        Ok(self.commit(&mut state, key, Some(kv), event))
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(Revision, KeyValue), StoreError> {
        let mut state = self.state.lock();
        let Some(prev) = state.latest(key).cloned() else {
            return Err(StoreError::NotFound {
                key: key.to_owned(),
            });
        };
        if let Some(expected) = expected
            && prev.mod_revision != expected
        {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
                expected,
                actual: prev.mod_revision,
            });
        }
        state.revision += 1;
        let event = WatchEvent::Delete {
            revision: state.revision,
            prev: prev.clone(),
        };
        Ok((self.commit(&mut state, key, None, event), prev))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        let live = self.events.subscribe();
        Ok(spawn_watch(
            self.state.clone(),
            prefix.to_owned(),
            after,
            live,
        ))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        if revision > state.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: state.revision,
            });
        }
        if revision <= state.compacted {
            return Ok(());
        }
        state.compacted = revision;
        state.keys.retain(|_, versions| {
            let at = versions.partition_point(|v| v.revision <= revision);
            // Keep the newest version at or below `revision` unless it is a deletion.
            let keep_from = match at.checked_sub(1) {
                Some(i) if versions[i].kv.is_some() => i,
                _ => at,
            };
            versions.drain(..keep_from);
            !versions.is_empty()
        });
        while state.log.front().is_some_and(|e| e.revision() <= revision) {
            state.log.pop_front();
        }
        Ok(())
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.state.lock().revision)
    }
}
