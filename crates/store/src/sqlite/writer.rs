//! The single writer thread: drains queued writes and commits many per transaction (group commit).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{broadcast, oneshot};

use super::schema;
use crate::watch::EventBatch;
use crate::{KeyValue, Revision, StoreError, WatchEvent};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 1024;

/// Rows compaction deletes per transaction, so writers are not held up for long.
const COMPACT_STEP: Revision = 20_000;

/// A write to perform.
pub(super) enum Op {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

/// What a successful write produced.
pub(super) enum Outcome {
    Written(Revision),
    Deleted(Revision, KeyValue),
}

/// Where a write's outcome goes.
pub(super) type Reply = oneshot::Sender<Result<Outcome, StoreError>>;

/// Queued work for the writer and where to send its result.
pub(super) enum Request {
    Write {
        op: Op,
        reply: Reply,
    },
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// State the writer publishes to the rest of the store.
pub(super) struct Published {
    /// The newest committed revision.
    pub committed: Arc<AtomicI64>,
    /// Committed events, one batch per transaction.
    pub events: broadcast::Sender<EventBatch>,
}

/// The latest log row of a key.
struct Latest {
    revision: Revision,
    create_revision: Revision,
    deleted: bool,
    value: Vec<u8>,
}

pub(super) struct Writer {
    conn: Connection,
    revision: Revision,
    compacted: Revision,
    published: Published,
}

impl Writer {
    pub(super) fn new(conn: Connection, published: Published) -> rusqlite::Result<Self> {
        let revision = schema::current_revision(&conn)?;
        let compacted = schema::compacted_revision(&conn)?;
        published.committed.store(revision, Ordering::SeqCst);
        Ok(Self {
            conn,
            revision,
            compacted,
            published,
        })
    }

    /// Serves requests until every sender is gone.
    pub(super) fn run(mut self, requests: mpsc::Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut writes = Vec::new();
            let mut compactions = Vec::new();
            let mut next = Some(first);
            while let Some(request) = next {
                match request {
                    Request::Compact { revision, reply } => compactions.push((revision, reply)),
                    Request::Write { op, reply } => writes.push((op, reply)),
                }
                next = if writes.len() < MAX_BATCH {
                    requests.try_recv().ok()
                } else {
                    None
                };
            }
            if !writes.is_empty() {
                self.commit_batch(writes);
            }
            for (revision, reply) in compactions {
                let _ = reply.send(self.compact(revision));
            }
        }
        tracing::debug!(revision = self.revision, "sqlite writer stopped");
    }

    /// Applies `batch` in one transaction and answers each caller after COMMIT.
    fn commit_batch(&mut self, batch: Vec<(Op, Reply)>) {
        tracing::trace!(writes = batch.len(), "committing");
        let start = self.revision;
        let mut events = Vec::with_capacity(batch.len());
        match self.apply_all(&batch, &mut events) {
            Ok(outcomes) => {
                self.published
                    .committed
                    .store(self.revision, Ordering::SeqCst);
                // Writers hear first: the API server notes what it wrote for its watch
                // cache, which then need not decode the event's bytes again.
                for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
                if !events.is_empty() {
                    let _ = self.published.events.send(EventBatch::from(events));
                }
            }
            Err(error) => {
                tracing::error!(error = %error, writes = batch.len(), "sqlite write batch failed");
                self.revision = start;
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Other(format!("sqlite: {error}"))));
                }
            }
        }
    }

    fn apply_all(
        &mut self,
        batch: &[(Op, Reply)],
        events: &mut Vec<WatchEvent>,
    ) -> rusqlite::Result<Vec<Result<Outcome, StoreError>>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (op, _) in batch {
            outcomes.push(apply_one(&tx, &mut self.revision, op, events)?);
        }
        tx.commit()?;
        Ok(outcomes)
    }

    /// Deletes superseded rows and tombstones at or below `revision`.
    fn compact(&mut self, revision: Revision) -> Result<(), StoreError> {
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        if revision <= self.compacted {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut deleted = 0;
        while self.compacted < revision {
            let upto = revision.min(self.compacted + COMPACT_STEP);
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // A row is superseded exactly when a later row of its key points back to it.
            deleted += tx.execute(
                "DELETE FROM kv WHERE revision IN (
                     SELECT prev_revision FROM kv
                     WHERE revision > ?1 AND revision <= ?2 AND prev_revision > 0)",
                params![self.compacted, upto],
            )?;
            deleted += tx.execute(
                "DELETE FROM kv WHERE revision > ?1 AND revision <= ?2 AND deleted = 1",
                params![self.compacted, upto],
            )?;
            schema::set_compacted_revision(&tx, upto)?;
            tx.commit()?;
            self.compacted = upto;
        }
        tracing::info!(
            revision,
            deleted,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "compacted sqlite store"
        );
        Ok(())
    }
}

/// Performs one write inside the batch transaction. The outer error aborts the
/// batch; the inner one is this write's own failed precondition.
fn apply_one(
    tx: &Connection,
    revision: &mut Revision,
    op: &Op,
    events: &mut Vec<WatchEvent>,
) -> rusqlite::Result<Result<Outcome, StoreError>> {
    let key = match op {
        Op::Create { key, .. } | Op::Update { key, .. } | Op::Delete { key, .. } => key,
    };
    let live = latest(tx, key)?.filter(|row| !row.deleted);
    let prev = live.map(|row| KeyValue {
        key: key.clone(),
        value: Bytes::from(row.value),
        create_revision: row.create_revision,
        mod_revision: row.revision,
    });
    let new = *revision + 1;
    let outcome = match (op, prev) {
        (Op::Create { value, .. }, None) => {
            insert(tx, new, key, Some(value), new, 0)?;
            let kv = KeyValue {
                key: key.clone(),
                value: Bytes::from(value.clone()),
                create_revision: new,
                mod_revision: new,
            };
            events.push(WatchEvent::Put { kv, prev: None });
            Outcome::Written(new)
        }
        (Op::Create { .. }, Some(_)) => {
            return Ok(Err(StoreError::AlreadyExists { key: key.clone() }));
        }
        (Op::Update { .. } | Op::Delete { .. }, None) => {
            return Ok(Err(StoreError::NotFound { key: key.clone() }));
        }
        (
            Op::Update {
                value, expected, ..
            },
            Some(prev),
        ) => {
            if prev.mod_revision != *expected {
                return Ok(Err(conflict(key, *expected, &prev)));
            }
            insert(
                tx,
                new,
                key,
                Some(value),
                prev.create_revision,
                prev.mod_revision,
            )?;
            let kv = KeyValue {
                key: key.clone(),
                value: Bytes::from(value.clone()),
                create_revision: prev.create_revision,
                mod_revision: new,
            };
            events.push(WatchEvent::Put {
                kv,
                prev: Some(prev),
            });
            Outcome::Written(new)
        }
        (Op::Delete { expected, .. }, Some(prev)) => {
            if let Some(expected) = expected
                && prev.mod_revision != *expected
            {
                return Ok(Err(conflict(key, *expected, &prev)));
            }
            insert(tx, new, key, None, prev.create_revision, prev.mod_revision)?;
            events.push(WatchEvent::Delete {
                revision: new,
                prev: prev.clone(),
            });
            Outcome::Deleted(new, prev)
        }
    };
    *revision = new;
    Ok(Ok(outcome))
}

fn conflict(key: &str, expected: Revision, prev: &KeyValue) -> StoreError {
    StoreError::Conflict {
        key: key.to_owned(),
        expected,
        actual: prev.mod_revision,
    }
}

fn latest(tx: &Connection, key: &str) -> rusqlite::Result<Option<Latest>> {
    tx.prepare_cached(
        "SELECT revision, create_revision, deleted, value FROM kv
         WHERE key = ?1 ORDER BY revision DESC LIMIT 1",
    )?
    .query_row([key.as_bytes()], |r| {
        Ok(Latest {
            revision: r.get(0)?,
            create_revision: r.get(1)?,
            deleted: r.get(2)?,
            value: r.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
        })
    })
    .optional()
}

/// Appends a log row; `value` None is a tombstone.
fn insert(
    tx: &Connection,
    revision: Revision,
    key: &str,
    value: Option<&Vec<u8>>,
    create_revision: Revision,
    prev_revision: Revision,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO kv (revision, key, value, create_revision, prev_revision, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        revision,
        key.as_bytes(),
        value.map(|v| &v[..]),
        create_revision,
        prev_revision,
        value.is_none()
    ])?;
    Ok(())
}
