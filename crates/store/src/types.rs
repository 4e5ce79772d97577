//! The values the store hands out.

use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;

use crate::StoreError;

/// A store revision: 1, 2, 3, … shared by all keys.
pub type Revision = i64;

/// One key with its value and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created the key.
    pub create_revision: Revision,
    /// Revision of the latest write to the key (its resourceVersion).
    pub mod_revision: Revision,
}

/// How to list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Read as of this revision; 0 means the latest.
    pub revision: Revision,
    /// Return only keys strictly after this one (for paging).
    pub start_after: Option<String>,
    /// At most this many items; 0 means no limit.
    pub limit: usize,
}

/// The result of a list.
#[derive(Debug, Clone)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// The revision the list was read at.
    pub revision: Revision,
    /// Whether more keys follow the last one returned.
    pub more: bool,
}

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Created (`prev` is None) or updated; `kv.mod_revision` is the event's revision.
    Put {
        kv: KeyValue,
        prev: Option<KeyValue>,
    },
    /// Deleted at `revision`; `prev` is the last value.
    Delete { revision: Revision, prev: KeyValue },
}

impl WatchEvent {
    /// The revision of the write that made this event.
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put { kv, .. } => kv.mod_revision,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }

    /// The key the event is about.
    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put { kv, .. } => &kv.key,
            WatchEvent::Delete { prev, .. } => &prev.key,
        }
    }
}

/// A stream of watch events; ends on error (e.g. `Compacted`) or when the store closes.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, StoreError>> + Send>>;
