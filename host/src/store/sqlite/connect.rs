//! Opening connections to the database file: the one place their settings live, for the
//! writer's connection and the readers' alike.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::Result;

/// Prepared statements kept per connection (the writer's multi-row ones come in many sizes).
const STATEMENT_CACHE: usize = 256;

/// How long a statement waits for a lock held by another connection before it fails with
/// `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The writer's connection, creating the file if needed. It puts the file in WAL mode (a
/// property of the file: the readers find it so) and applies the schema before anyone reads.
pub fn writer(path: &Path) -> Result<Connection> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&db)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk when the caller hears of it. Group commit pays for it; the
    // dispatcher's own bookkeeping is relaxed to NORMAL (see `Kind::Bookkeeping` in
    // writer.rs).
    db.pragma_update(None, "synchronous", "FULL")?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    // The checkpoint thread's (checkpoint.rs), never inside one of the writer's commits.
    db.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(db)
}

/// The checkpoint thread's connection to the (migrated, WAL) database.
pub fn checkpointer(path: &Path) -> Result<Connection> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&db)?;
    db.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(db)
}

/// A read-only connection to the (migrated, WAL) database: it reads beside the writer, from
/// the last commit before each of its statements began.
pub fn reader(path: &Path) -> Result<Connection> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&db)?;
    Ok(db)
}

/// What every connection needs.
fn configure(db: &Connection) -> Result<()> {
    db.busy_timeout(BUSY_TIMEOUT)?;
    db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}
