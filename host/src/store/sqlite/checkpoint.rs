//! WAL checkpoints on a thread of their own. SQLite's default runs one inside the commit that
//! takes the log past 1,000 pages: that commit then copies the pages into the database file
//! and syncs it, a few milliseconds during which the writer (and every caller waiting on it)
//! stands still — one round trip in thirty of `W2` paid it. Here the writer's connection has
//! automatic checkpoints off, and this thread runs a `PASSIVE` checkpoint every [`EVERY`],
//! which copies what no reader still needs without ever blocking the writer.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

use super::connect;
use crate::store::{Result, StoreError};

/// How often the log is checkpointed.
pub const EVERY: Duration = Duration::from_millis(100);

/// Runs checkpoints until the returned handle is dropped.
pub fn start(path: &Path) -> Result<Stop> {
    let db = connect::checkpointer(path)?;
    let (stop, stopped) = mpsc::channel();
    std::thread::Builder::new()
        .name("wal-checkpoint".into())
        .spawn(move || run(&db, &stopped))
        .map_err(|e| StoreError::CommitFailed(format!("starting the checkpoint thread: {e}")))?;
    Ok(Stop { _sender: stop })
}

/// Stops the checkpoint thread when dropped.
pub struct Stop {
    _sender: mpsc::Sender<()>,
}

fn run(db: &Connection, stopped: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        // A failure (a full disk) is the writer's to report; the next tick tries again.
        if let Err(e) = db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!("WAL checkpoint failed: {e}");
        }
    }
}
