//! The embedded backend: an SQLite file in the data directory, for one host.
//!
//! Every change goes through one writer thread (with its own connection) that commits
//! whatever changes are waiting in a single transaction (group commit): many submissions or
//! results cost one sync, and each caller is answered only after its change is on disk (or,
//! with `--sync off`, in the WAL: handed to the OS, not synced).
//! Reads use a few read-only connections of their own (WAL lets them run beside the writer).
//! One driver, rusqlite, for all of it: the schema, the writer and the reads.
//!
//! A change is a closure handed to the writer ([`writer::Write`]); the closures and their
//! statements live by subject: `jobs.rs`, `claims.rs`, `modules.rs`, `queues.rs`,
//! `schedules.rs`, `bulk.rs`; every statement is a file in `sql/`.

mod bulk;
mod checkpoint;
mod claims;
mod cluster;
mod connect;
mod gate;
mod jobs;
mod limits;
mod migrate;
mod modules;
mod queues;
mod reads;
mod schedules;
mod spawned;
mod stats;
mod tenants;
mod values;
mod workflows;
mod writer;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::announce::Announce;
use super::changes::Changes;
use super::{Durability, JobState, Result, StoreError};
use reads::Readers;
use writer::{Events, Group, Kind, Write};

/// Changes waiting for the writer beyond this make callers wait (backpressure).
const WRITE_QUEUE: usize = 4096;

/// Read-only connections: reads running at once (more wait for one to be free).
const READERS: usize = 4;

/// The SQLite store handle; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    reads: Readers,
    writes: mpsc::Sender<Write>,
    counts: Arc<Mutex<BTreeMap<JobState, u64>>>,
    /// The tenant each lane's claims served last (fair shares' round).
    rotation: super::fair::Rotation,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the schema; jobs this host
    /// claims are marked with `node`. Answers wait for the disk ([`Durability::Disk`]).
    #[cfg(test)]
    pub async fn open(path: &Path, node: &str, announce: Announce) -> Result<SqliteStore> {
        SqliteStore::open_with(path, node, announce, Durability::Disk).await
    }

    /// [`SqliteStore::open`] with the durability of the answers given to clients.
    pub async fn open_with(
        path: &Path,
        node: &str,
        announce: Announce,
        durability: Durability,
    ) -> Result<SqliteStore> {
        let path = path.to_path_buf();
        // The schema, and the counts the writer keeps from here on, on the writer's
        // connection before anyone reads; then the readers.
        let opened = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut writer = connect::writer(&path)?;
            migrate::run(&mut writer)?;
            let counts = reads::counts(&writer)?;
            let reads = Readers::open(&path, READERS)?;
            let checkpoints = checkpoint::start(&path)?;
            Ok((writer, counts, reads, checkpoints))
        });
        let (writer, counts, reads, checkpoints) = match opened.await {
            Ok(opened) => opened?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Err(StoreError::Closed),
        };
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let counts = Arc::new(Mutex::new(counts));
        let events = Events { announce, counts: counts.clone(), node: node.to_string() };
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                writer::run(writer, queue, events, durability);
                drop(checkpoints);
            })
            .map_err(|e| StoreError::CommitFailed(format!("starting the writer thread: {e}")))?;
        Ok(SqliteStore { reads, writes, counts, rotation: super::fair::Rotation::default() })
    }

    /// Has the writer run `apply` in its next group and answers with what it returned, once
    /// the group committed (see [`Write`]).
    async fn write<T, F>(&self, kind: Kind, apply: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Changes, &Group<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.writes.send(Write::new(kind, apply, reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

#[cfg(test)]
mod tests;
