//! A revisioned key-value store with watch, the only persistence of the API server.
//!
//! Every write gets the next revision of one global, strictly increasing counter
//! (as etcd's). Values are opaque bytes; the API server stores JSON objects under
//! keys like `/registry/pods/<namespace>/<name>`.

mod any;
mod compaction;
mod error;
mod etcd;
mod etcd_channel;
mod keys;
mod memory;
mod sqlite;
mod types;
mod watch;

pub use any::AnyStore;
pub use compaction::{Compactor, compact_keeping};
pub use error::StoreError;
pub use etcd::EtcdStore;
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;
pub use types::{KeyValue, ListOptions, ListResult, Revision, WatchEvent, WatchStream};

/// The operations the API server needs from a datastore.
///
/// All methods are cancel-safe from the caller's point of view: a write either
/// committed (and its revision is returned) or did not happen.
///
/// ```
/// use futures::StreamExt;
/// use rkube_store::{ListOptions, MemoryStore, Store, WatchEvent};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let rev = store.create("/registry/pods/default/a", b"{}".to_vec()).await.unwrap();
/// let rev2 = store.update("/registry/pods/default/a", b"{\"x\":1}".to_vec(), rev).await.unwrap();
/// assert!(rev2 > rev);
///
/// let list = store.list("/registry/pods/", ListOptions::default()).await.unwrap();
/// assert_eq!(list.items.len(), 1);
///
/// let mut events = store.watch("/registry/pods/", rev).await.unwrap();
/// let Some(Ok(WatchEvent::Put { kv, prev })) = events.next().await else { panic!() };
/// assert_eq!((kv.mod_revision, prev.map(|p| p.mod_revision)), (rev2, Some(rev)));
/// # });
/// ```
pub trait Store: Send + Sync + 'static {
    /// The value of one key, if present.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<KeyValue>, StoreError>> + Send;

    /// Keys under `prefix` in key order, at `opts.revision` (0 = latest).
    fn list(
        &self,
        prefix: &str,
        opts: ListOptions,
    ) -> impl Future<Output = Result<ListResult, StoreError>> + Send;

    /// Creates `key`; fails with `AlreadyExists` if it is present. Returns the new revision.
    fn create(
        &self,
        key: &str,
        value: Vec<u8>,
    ) -> impl Future<Output = Result<Revision, StoreError>> + Send;

    /// Replaces `key` if its mod revision is still `expected`; `Conflict` otherwise,
    /// `NotFound` if it is gone. Returns the new revision.
    fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> impl Future<Output = Result<Revision, StoreError>> + Send;

    /// Deletes `key` (only if its mod revision is `expected`, when given).
    /// Returns the deletion's revision and the last value.
    fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> impl Future<Output = Result<(Revision, KeyValue), StoreError>> + Send;

    /// Events for keys under `prefix` with revision greater than `after`, in
    /// revision order; `Compacted` if `after` is older than the compacted revision.
    fn watch(
        &self,
        prefix: &str,
        after: Revision,
    ) -> impl Future<Output = Result<WatchStream, StoreError>> + Send;

    /// Forgets history at and below `revision` (watches from there get `Compacted`).
    fn compact(&self, revision: Revision) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest revision.
    fn current_revision(&self) -> impl Future<Output = Result<Revision, StoreError>> + Send;
}
