//! The output of the jobs running on this host, kept in memory while they run, so the API can
//! show it before they end (`GET /v1/jobs/{id}/output`, `wasmpool logs -f`, the dashboard).
//!
//! The pool hands each attempt's output here as its worker sends it ([`OutputSink`]): at most
//! the job's output cap per stream, exactly the bytes its result will keep. An attempt's
//! buffer is dropped once the store has recorded how the attempt ended (its job left the
//! `running` state) *and* the pool has seen the attempt end, whichever comes last, so a
//! reader always finds the output in one place or the other; from then on the stored result
//! is the record. Nothing here is durable or shared between hosts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::job::JobState;
use crate::job::Stream;
use crate::pool::{Caller, OutputSink};
use crate::store::{JobEvent, JobId};

/// Which output a reader wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streams {
    /// Standard output only.
    Stdout,
    /// Standard error only.
    Stderr,
    /// Both, in the order they were written.
    Both,
}

/// The live output of this host's running jobs.
#[derive(Default)]
pub struct LiveOutput {
    jobs: Mutex<HashMap<JobId, Arc<Attempt>>>,
    /// Bumped whenever an attempt starts, so a reader waiting for a job to start here wakes.
    started: watch::Sender<u64>,
}

/// One attempt's output so far.
struct Attempt {
    number: u32,
    buffer: Mutex<Buffer>,
    changed: watch::Sender<()>,
}

#[derive(Default)]
struct Buffer {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The order of the writes: runs of one stream and their lengths.
    runs: Vec<(Stream, usize)>,
    /// The pool saw the attempt end: no more output comes.
    ended: bool,
    /// The store no longer has the job running: drop the buffer once it has ended.
    settled: bool,
}

impl Attempt {
    fn buffer(&self) -> MutexGuard<'_, Buffer> {
        self.buffer.lock().expect("live output lock")
    }
}

impl LiveOutput {
    fn jobs(&self) -> MutexGuard<'_, HashMap<JobId, Arc<Attempt>>> {
        self.jobs.lock().expect("live output lock")
    }

    /// A reader of the job's current attempt on this host, from its first byte; `None` when
    /// the job is not running here.
    pub fn follow(&self, id: JobId) -> Option<Follower> {
        let attempt = self.jobs().get(&id)?.clone();
        let changed = attempt.changed.subscribe();
        Some(Follower { attempt, changed, cursor: Cursor::default() })
    }

    /// The attempt of the job running here, if it is.
    pub fn attempt_of(&self, id: JobId) -> Option<u32> {
        self.jobs().get(&id).map(|attempt| attempt.number)
    }

    /// Wakes when any attempt starts on this host.
    pub fn starts(&self) -> watch::Receiver<u64> {
        self.started.subscribe()
    }

    /// Drops the buffers of attempts the store has recorded, as the store announces them,
    /// until `stop`.
    pub async fn run(
        self: Arc<Self>,
        mut events: broadcast::Receiver<JobEvent>,
        stop: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => return,
                event = events.recv() => event,
            };
            match event {
                Ok(JobEvent { id, state }) if state != JobState::Running => self.settle(id),
                Ok(_) => {}
                // Transitions were missed: keep only what may still be running.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.jobs().retain(|_, attempt| !attempt.buffer().ended);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn settle(&self, id: JobId) {
        let mut jobs = self.jobs();
        let Some(attempt) = jobs.get(&id) else { return };
        let mut buffer = attempt.buffer();
        if buffer.ended {
            drop(buffer);
            jobs.remove(&id);
        } else {
            buffer.settled = true;
        }
    }

    fn attempt(&self, caller: &Caller) -> Option<Arc<Attempt>> {
        let id = caller.job_id.parse().ok()?;
        self.jobs().get(&id).filter(|attempt| attempt.number == caller.attempt).cloned()
    }
}

impl OutputSink for LiveOutput {
    fn started(&self, caller: &Caller) {
        let Ok(id) = caller.job_id.parse::<JobId>() else { return };
        let attempt = Attempt {
            number: caller.attempt,
            buffer: Mutex::default(),
            changed: watch::Sender::new(()),
        };
        // A previous attempt's buffer, if still here, ends for its readers.
        if let Some(previous) = self.jobs().insert(id, Arc::new(attempt)) {
            previous.buffer().ended = true;
            previous.changed.send_replace(());
        }
        self.started.send_modify(|count| *count += 1);
    }

    fn output(&self, caller: &Caller, stream: Stream, bytes: &[u8]) {
        let Some(attempt) = self.attempt(caller) else { return };
        {
            let mut buffer = attempt.buffer();
            match stream {
                Stream::Stdout => buffer.stdout.extend_from_slice(bytes),
                Stream::Stderr => buffer.stderr.extend_from_slice(bytes),
            }
            match buffer.runs.last_mut() {
                Some((last, len)) if *last == stream => *len += bytes.len(),
                _ => buffer.runs.push((stream, bytes.len())),
            }
        }
        attempt.changed.send_replace(());
    }

    fn ended(&self, caller: &Caller) {
        let Some(attempt) = self.attempt(caller) else { return };
        let settled = {
            let mut buffer = attempt.buffer();
            buffer.ended = true;
            buffer.settled
        };
        attempt.changed.send_replace(());
        if settled && let Ok(id) = caller.job_id.parse() {
            let mut jobs = self.jobs();
            if jobs.get(&id).is_some_and(|current| Arc::ptr_eq(current, &attempt)) {
                jobs.remove(&id);
            }
        }
    }
}

/// Where a reader is in an attempt's output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Bytes of stdout read.
    pub stdout: usize,
    /// Bytes of stderr read.
    pub stderr: usize,
    /// Runs read whole, and bytes read of the next (for [`Streams::Both`]).
    run: usize,
    into_run: usize,
}

/// Reads one attempt's output as it comes.
pub struct Follower {
    attempt: Arc<Attempt>,
    changed: watch::Receiver<()>,
    cursor: Cursor,
}

impl Follower {
    /// The attempt followed (from 1).
    pub fn attempt(&self) -> u32 {
        self.attempt.number
    }

    /// How far it has been read.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Continues from where another reader of the same attempt stopped.
    pub fn resume(&mut self, cursor: Cursor) {
        self.cursor = cursor;
    }

    /// The output not read yet, without waiting.
    pub fn read_now(&mut self, which: Streams) -> Vec<u8> {
        read(&self.attempt.buffer(), &mut self.cursor, which)
    }

    /// The output not read yet, waiting for some if there is none; `None` once the attempt
    /// has ended and everything was read.
    pub async fn next(&mut self, which: Streams) -> Option<Vec<u8>> {
        loop {
            // Marked seen before reading, so a write after the read wakes the next wait.
            self.changed.borrow_and_update();
            let (bytes, ended) = {
                let buffer = self.attempt.buffer();
                (read(&buffer, &mut self.cursor, which), buffer.ended)
            };
            if !bytes.is_empty() {
                return Some(bytes);
            }
            if ended || self.changed.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// The bytes of `which` past `cursor`, moving it to the end.
fn read(buffer: &Buffer, cursor: &mut Cursor, which: Streams) -> Vec<u8> {
    match which {
        Streams::Stdout => {
            let bytes = buffer.stdout[cursor.stdout..].to_vec();
            cursor.stdout = buffer.stdout.len();
            bytes
        }
        Streams::Stderr => {
            let bytes = buffer.stderr[cursor.stderr..].to_vec();
            cursor.stderr = buffer.stderr.len();
            bytes
        }
        Streams::Both => {
            let mut bytes = Vec::new();
            while let Some(&(stream, len)) = buffer.runs.get(cursor.run) {
                let (source, at) = match stream {
                    Stream::Stdout => (&buffer.stdout, &mut cursor.stdout),
                    Stream::Stderr => (&buffer.stderr, &mut cursor.stderr),
                };
                let take = len - cursor.into_run;
                bytes.extend_from_slice(&source[*at..*at + take]);
                *at += take;
                // The last run may still grow: stay in it.
                if cursor.run + 1 < buffer.runs.len() {
                    cursor.run += 1;
                    cursor.into_run = 0;
                } else {
                    cursor.into_run = len;
                    break;
                }
            }
            bytes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(attempt: u32) -> Caller {
        Caller { job_id: "7".into(), attempt }
    }

    #[tokio::test]
    async fn readers_get_each_stream_or_both_in_write_order() {
        let live = LiveOutput::default();
        live.started(&caller(1));
        let mut both = live.follow(7).unwrap();
        let mut out = live.follow(7).unwrap();
        live.output(&caller(1), Stream::Stdout, b"a");
        live.output(&caller(1), Stream::Stderr, b"b");
        live.output(&caller(1), Stream::Stdout, b"c");
        assert_eq!(both.next(Streams::Both).await.unwrap(), b"abc");
        live.output(&caller(1), Stream::Stdout, b"d");
        live.output(&caller(1), Stream::Stderr, b"e");
        assert_eq!(both.next(Streams::Both).await.unwrap(), b"de");
        assert_eq!(out.next(Streams::Stdout).await.unwrap(), b"acd");
        live.ended(&caller(1));
        assert_eq!(both.next(Streams::Both).await, None);
        assert_eq!(both.cursor().stdout, 3);
        assert_eq!(both.cursor().stderr, 2);
    }

    #[tokio::test]
    async fn a_buffer_lasts_until_both_the_pool_and_the_store_are_done_with_it() {
        let live = LiveOutput::default();
        live.started(&caller(1));
        live.settle(7); // cancelled in the store while the worker still runs
        assert!(live.follow(7).is_some());
        live.ended(&caller(1));
        assert!(live.follow(7).is_none());

        live.started(&caller(2));
        live.ended(&caller(2));
        assert!(live.follow(7).is_some(), "ended, but the store has not recorded it yet");
        live.settle(7);
        assert!(live.follow(7).is_none());
    }
}
