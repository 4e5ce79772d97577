//! SQLite schema, connection settings and the persisted store metadata.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::Revision;

/// How long a connection waits for a lock (e.g. a checkpoint) before failing.
const BUSY_TIMEOUT_MS: u32 = 5000;

/// The revision log: one row per write, tombstones for deletions (as kine's).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    revision        INTEGER PRIMARY KEY,
    key             BLOB    NOT NULL,
    value           BLOB,
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    deleted         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_revision ON kv (key, revision);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

/// The `meta` row holding the compacted revision.
const COMPACT_REVISION: &str = "compact_revision";

/// Opens (creating if needed) the database for writing, in WAL mode.
pub(super) fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode = %mode, "sqlite refused WAL mode");
    }
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -65536;
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens a read-only connection to an existing database.
pub(super) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    conn.execute_batch(
        "PRAGMA cache_size = -16384;
         PRAGMA mmap_size = 1073741824;",
    )?;
    Ok(conn)
}

/// The newest revision ever handed out (the log's last row, or the compacted
/// revision if compaction removed that row). Both lookups are O(1).
pub(super) fn current_revision(conn: &Connection) -> rusqlite::Result<Revision> {
    let last: Option<Revision> =
        conn.query_row("SELECT MAX(revision) FROM kv", [], |r| r.get(0))?;
    Ok(last.unwrap_or(0).max(compacted_revision(conn)?))
}

/// The revision history was compacted at (0 if never).
pub(super) fn compacted_revision(conn: &Connection) -> rusqlite::Result<Revision> {
    let value = conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
        .query_row([COMPACT_REVISION], |r| r.get(0))
        .optional()?;
    Ok(value.unwrap_or(0))
}

/// Records the compacted revision.
pub(super) fn set_compacted_revision(
    conn: &Connection,
    revision: Revision,
) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)")?
        .execute(params![COMPACT_REVISION, revision])?;
    Ok(())
}

/// Turns a stored key back into a string.
pub(super) fn key_string(bytes: Vec<u8>) -> rusqlite::Result<String> {
    String::from_utf8(bytes).map_err(|e| rusqlite::Error::Utf8Error(e.utf8_error()))
}
