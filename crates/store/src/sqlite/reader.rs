//! Read-only connections (a small pool) and the read queries: get, list at a revision, events.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};

use super::schema::{self, key_string};
use crate::keys::{prefix_end, range_start};
use crate::watch::History;
use crate::{KeyValue, ListOptions, ListResult, Revision, StoreError, WatchEvent};

/// Idle read connections kept open for reuse.
const MAX_IDLE: usize = 8;

/// The newest row of each key in `[?1, ?2)` at revision `?3`, skipping deletions.
const LIST_SQL: &str = "
SELECT k.key, k.value, k.create_revision, k.revision
FROM kv AS k INDEXED BY kv_key_revision
WHERE k.key >= ?1 AND k.key < ?2 AND k.revision <= ?3 AND k.deleted = 0
  AND NOT EXISTS (SELECT 1 FROM kv AS n INDEXED BY kv_key_revision
                  WHERE n.key = k.key AND n.revision > k.revision AND n.revision <= ?3)
ORDER BY k.key
LIMIT ?4";

/// Log rows in `[?2, ?3)` with revisions in `(?1, ?5]`, with the rows they replaced.
const EVENTS_SQL: &str = "
SELECT k.revision, k.key, k.value, k.create_revision, k.prev_revision, k.deleted,
       p.value, p.create_revision
FROM kv AS k NOT INDEXED
LEFT JOIN kv AS p ON p.revision = k.prev_revision AND k.prev_revision > 0
WHERE k.revision > ?1 AND k.revision <= ?5 AND k.key >= ?2 AND k.key < ?3
ORDER BY k.revision
LIMIT ?4";

/// A pool of read-only connections; queries run on the blocking thread pool.
pub(super) struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The newest committed revision, published by the writer.
    committed: Arc<AtomicI64>,
}

impl Reader {
    pub(super) fn new(path: PathBuf, committed: Arc<AtomicI64>) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            committed,
        }
    }

    pub(super) fn committed(&self) -> Revision {
        self.committed.load(Ordering::SeqCst)
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub(super) async fn run<R, F>(self: &Arc<Self>, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Reader, &mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = match this.idle.lock().pop() {
                Some(conn) => conn,
                None => schema::open_reader(&this.path)?,
            };
            let result = f(&this, &mut conn);
            // A connection left inside a transaction by an error is not reused.
            if conn.is_autocommit() {
                let mut idle = this.idle.lock();
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
            }
            result
        })
        .await
        .map_err(|e| StoreError::Other(format!("sqlite read task failed: {e}")))?
    }

    /// Resolves a requested list revision against the snapshot of `conn`.
    fn at_revision(&self, conn: &Connection, requested: Revision) -> Result<Revision, StoreError> {
        let current = self.committed();
        if requested == 0 {
            return Ok(current);
        }
        if requested > current {
            return Err(StoreError::FutureRevision { requested, current });
        }
        let compacted = schema::compacted_revision(conn)?;
        if requested < compacted {
            return Err(StoreError::Compacted {
                requested,
                compacted,
            });
        }
        Ok(requested)
    }
}

/// The live value of `key` as of the published revision (a read snapshot may
/// hold a commit whose revision is not published yet; it stays invisible).
pub(super) fn get(
    reader: &Reader,
    conn: &Connection,
    key: &str,
) -> Result<Option<KeyValue>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT revision, create_revision, deleted, value FROM kv
             WHERE key = ?1 AND revision <= ?2 ORDER BY revision DESC LIMIT 1",
        )?
        .query_row(params![key.as_bytes(), reader.committed()], |r| {
            Ok((
                r.get::<_, Revision>(0)?,
                r.get::<_, Revision>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
            ))
        })
        .optional()?;
    Ok(match row {
        Some((mod_revision, create_revision, false, value)) => Some(KeyValue {
            key: key.to_owned(),
            value: Bytes::from(value.unwrap_or_default()),
            create_revision,
            mod_revision,
        }),
        _ => None,
    })
}

/// Lists keys under `prefix` as of `opts.revision`, in one read snapshot.
pub(super) fn list(
    reader: &Reader,
    conn: &mut Connection,
    prefix: &str,
    opts: &ListOptions,
) -> Result<ListResult, StoreError> {
    let tx = conn.transaction()?;
    let revision = reader.at_revision(&tx, opts.revision)?;
    let start = range_start(prefix, opts.start_after.as_deref());
    let end = upper_bound(prefix);
    // One extra row tells whether more follow.
    let fetch: i64 = if opts.limit == 0 {
        -1
    } else {
        i64::try_from(opts.limit).unwrap_or(i64::MAX - 1) + 1
    };
    let mut items = Vec::with_capacity(if opts.limit == 0 {
        64
    } else {
        opts.limit.min(10_000) + 1
    });
    {
        let mut stmt = tx.prepare_cached(LIST_SQL)?;
        let mut rows = stmt.query(params![start, end, revision, fetch])?;
        while let Some(row) = rows.next()? {
            items.push(KeyValue {
                key: key_string(row.get(0)?)?,
                value: Bytes::from(row.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default()),
                create_revision: row.get(2)?,
                mod_revision: row.get(3)?,
            });
        }
    }
    tx.finish()?;
    let more = opts.limit != 0 && items.len() > opts.limit;
    items.truncate(if opts.limit == 0 {
        items.len()
    } else {
        opts.limit
    });
    Ok(ListResult {
        items,
        revision,
        more,
    })
}

/// The exclusive end of the key range under `prefix`; unbounded becomes a key
/// greater than any (keys never start with 0xff: they are UTF-8).
fn upper_bound(prefix: &str) -> Vec<u8> {
    let end = prefix_end(prefix.as_bytes());
    if end.is_empty() { vec![0xff] } else { end }
}

/// Catch-up reads for watches, from the log table.
pub(super) struct LogHistory(pub Arc<Reader>);

impl History for LogHistory {
    async fn events_after(
        &self,
        prefix: &str,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<WatchEvent>, StoreError> {
        let prefix = prefix.to_owned();
        self.0
            .run(move |reader, conn| events_after(conn, &prefix, after, reader.committed(), limit))
            .await
    }
}

/// Log events under `prefix` in `(after, upto]`, oldest first. Events past
/// `upto` (committed, not yet published) reach watchers through the broadcast.
pub(super) fn events_after(
    conn: &mut Connection,
    prefix: &str,
    after: Revision,
    upto: Revision,
    limit: usize,
) -> Result<Vec<WatchEvent>, StoreError> {
    let tx = conn.transaction()?;
    let compacted = schema::compacted_revision(&tx)?;
    if after < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            compacted,
        });
    }
    let mut events = Vec::new();
    {
        let mut stmt = tx.prepare_cached(EVENTS_SQL)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![
            after,
            prefix.as_bytes(),
            upper_bound(prefix),
            limit,
            upto
        ])?;
        while let Some(row) = rows.next()? {
            let revision: Revision = row.get(0)?;
            let key = key_string(row.get(1)?)?;
            let create_revision: Revision = row.get(3)?;
            let prev_revision: Revision = row.get(4)?;
            let deleted: bool = row.get(5)?;
            let prev_value: Option<Vec<u8>> = row.get(6)?;
            let prev_create: Option<Revision> = row.get(7)?;
            let prev = (prev_revision > 0).then(|| KeyValue {
                key: key.clone(),
                value: Bytes::from(prev_value.unwrap_or_default()),
                create_revision: prev_create.unwrap_or(create_revision),
                mod_revision: prev_revision,
            });
            events.push(match (deleted, prev) {
                (true, Some(prev)) => WatchEvent::Delete { revision, prev },
                (true, None) => WatchEvent::Delete {
                    revision,
                    prev: KeyValue {
                        key,
                        value: Bytes::new(),
                        create_revision,
                        mod_revision: revision,
                    },
                },
                (false, prev) => {
                    let value = Bytes::from(row.get::<_, Option<Vec<u8>>>(2)?.unwrap_or_default());
                    WatchEvent::Put {
                        kv: KeyValue {
                            key,
                            value,
                            create_revision,
                            mod_revision: revision,
                        },
                        prev,
                    }
                }
            });
        }
    }
    tx.finish()?;
    Ok(events)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let args: [&dyn rusqlite::ToSql; 5] = [&b"/a/", &b"/a0", &10, &10, &20];
        let count = stmt.parameter_count();
        let rows = stmt
            .query_map(&args[..count], |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    /// The hot queries must seek, not scan or sort.
    #[test]
    fn queries_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let conn = schema::open_writer(&dir.path().join("db")).unwrap();
        let list = plan(&conn, LIST_SQL);
        assert!(list.contains("USING INDEX kv_key_revision"), "{list}");
        assert!(!list.contains("TEMP B-TREE"), "{list}");
        let events = plan(&conn, EVENTS_SQL);
        assert!(
            events.contains("SEARCH k USING INTEGER PRIMARY KEY (rowid>?"),
            "{events}"
        );
        assert!(!events.contains("TEMP B-TREE"), "{events}");
    }
}
