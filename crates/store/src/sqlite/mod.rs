//! The embedded default backend: a kine-like revision log in one SQLite file (WAL mode).

mod reader;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::sync::{broadcast, oneshot};

use self::reader::{LogHistory, Reader};
use self::writer::{Op, Outcome, Published, Request, Writer};
use crate::watch::{BROADCAST_CAPACITY, EventBatch, spawn_watch};
use crate::{KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchStream};

/// A store in one SQLite file. Writes go through one writer thread that commits
/// many of them per transaction; reads use a pool of read-only connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    reader: Arc<Reader>,
    events: broadcast::Sender<EventBatch>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue stops the writer after its current batch.
        self.requests.lock().take();
        if let Some(handle) = self.writer.lock().take()
            && handle.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "sqlite writer thread panicked");
        }
    }
}

impl SqliteStore {
    /// Opens or creates the database file at `path` (its directory must exist).
    /// Opening does not scan the data, so it is fast whatever the size.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::open_writer(&path)?;
        let committed = Arc::new(AtomicI64::new(0));
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let writer = Writer::new(
            conn,
            Published {
                committed: committed.clone(),
                events: events.clone(),
            },
        )?;
        let (requests, queue) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| StoreError::Other(format!("cannot start sqlite writer: {e}")))?;
        let reader = Arc::new(Reader::new(path.clone(), committed));
        tracing::info!(path = %path.display(), revision = reader.committed(), "opened sqlite store");
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                requests: Mutex::new(Some(requests)),
                writer: Mutex::new(Some(handle)),
                reader,
                events,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The revision history was compacted at (0 if never).
    pub async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        self.inner
            .reader
            .run(|_, conn| Ok(schema::compacted_revision(conn)?))
            .await
    }

    fn enqueue(&self, request: Request) -> Result<(), StoreError> {
        let requests = self.inner.requests.lock();
        let sender = requests.as_ref().ok_or(StoreError::Closed)?;
        sender.send(request).map_err(|_| StoreError::Closed)
    }

    async fn write(&self, op: Op) -> Result<Outcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Request::Write { op, reply })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let key = key.to_owned();
        self.inner
            .reader
            .run(move |reader, conn| reader::get(reader, conn, &key))
            .await
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult, StoreError> {
        let prefix = prefix.to_owned();
        self.inner
            .reader
            .run(move |reader, conn| reader::list(reader, conn, &prefix, &opts))
            .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError> {
        match self
            .write(Op::Create {
                key: key.to_owned(),
                value,
            })
            .await?
        {
            Outcome::Written(revision) | Outcome::Deleted(revision, _) => Ok(revision),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        match self
            .write(Op::Update {
                key: key.to_owned(),
                value,
                expected,
            })
            .await?
        {
            Outcome::Written(revision) | Outcome::Deleted(revision, _) => Ok(revision),
        }
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(Revision, KeyValue), StoreError> {
        match self
            .write(Op::Delete {
                key: key.to_owned(),
                expected,
            })
            .await?
        {
            Outcome::Deleted(revision, prev) => Ok((revision, prev)),
            Outcome::Written(_) => Err(StoreError::Other(
                "sqlite writer answered a delete with a put".into(),
            )),
        }
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        let live = self.inner.events.subscribe();
        let history = Arc::new(LogHistory(self.inner.reader.clone()));
        Ok(spawn_watch(history, prefix.to_owned(), after, live))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Request::Compact { revision, reply })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.inner.reader.committed())
    }
}
