//! A worker's outgoing frames. One thread writes them to the channel, in order; senders only
//! queue, so nothing that sends ever blocks on the pipe. A thread rather than a task because
//! the worker's runtime has one thread, and a guest that computes without calling its host
//! never yields it: output it wrote just before must still reach the host.
//!
//! The running job's output is coalesced: bytes written within [`BATCH_DELAY`] of the first
//! unsent byte (or until [`BATCH_BYTES`] are waiting) go out together, one `Output` frame per
//! run of the same stream, so a guest writing a line at a time costs one wake-up and one
//! write per batch, not per line. Queued output is always written before any later message,
//! so a job's output precedes its `Done`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::ipc::{self, FromWorker, IpcError};
use crate::job::Stream;

/// How long output may wait for more before it is sent.
pub const BATCH_DELAY: Duration = Duration::from_millis(5);
/// How much output is sent at once without waiting for [`BATCH_DELAY`].
pub const BATCH_BYTES: usize = 16 << 10;

/// The sending end; clones share the same queue.
#[derive(Clone)]
pub struct Outbox(Arc<Shared>);

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<FromWorker>,
    /// Unsent output, consecutive writes to one stream merged.
    output: Vec<(Stream, Vec<u8>)>,
    output_bytes: usize,
    /// When the oldest unsent output was queued.
    output_since: Option<Instant>,
    /// No more messages will come: write what is queued and stop.
    closed: bool,
    /// The channel failed: drop whatever comes.
    broken: bool,
}

impl Outbox {
    /// Starts the writer thread on `channel`. The thread ends after [`Outbox::close`], once it
    /// has written everything queued before it, or when the channel fails.
    pub fn start(channel: OwnedFd) -> std::io::Result<(Outbox, JoinHandle<Result<(), IpcError>>)> {
        // Written with blocking calls from its own thread, whatever mode the pipe came in.
        let flags = rustix::fs::fcntl_getfl(&channel)?;
        rustix::fs::fcntl_setfl(&channel, flags - rustix::fs::OFlags::NONBLOCK)?;
        let shared = Arc::new(Shared { queue: Mutex::default(), wake: Condvar::new() });
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ipc-writer".into())
            .spawn(move || write_all(&writer, File::from(channel)))?;
        Ok((Outbox(shared), thread))
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.0.queue.lock().expect("outbox lock")
    }

    /// Queues a message (after any output queued before it).
    pub fn send(&self, message: FromWorker) {
        let mut queue = self.queue();
        if !queue.broken && !queue.closed {
            queue.messages.push_back(message);
            self.0.wake.notify_one();
        }
    }

    /// Queues output of the running job.
    pub fn output(&self, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut queue = self.queue();
        if queue.broken || queue.closed {
            return;
        }
        match queue.output.last_mut() {
            Some((last, pending)) if *last == stream => pending.extend_from_slice(bytes),
            _ => queue.output.push((stream, bytes.to_vec())),
        }
        let before = queue.output_bytes;
        queue.output_bytes += bytes.len();
        // The writer sleeps until output comes, then until the batch is due or full: wake it
        // only at those two moments, not on every write.
        if queue.output_since.is_none() {
            queue.output_since = Some(Instant::now());
            self.0.wake.notify_one();
        } else if before < BATCH_BYTES && queue.output_bytes >= BATCH_BYTES {
            self.0.wake.notify_one();
        }
    }

    /// Lets the writer finish: what is queued is still written.
    pub fn close(&self) {
        self.queue().closed = true;
        self.0.wake.notify_one();
    }
}

/// The writer thread: waits for something to send, writes it, until closed.
fn write_all(shared: &Shared, mut channel: File) -> Result<(), IpcError> {
    loop {
        let (output, messages, closed) = next_batch(shared);
        let mut frames = Vec::new();
        for (stream, bytes) in output {
            ipc::write_frame(&mut frames, &FromWorker::Output { stream, bytes })?;
        }
        for message in messages {
            ipc::write_frame(&mut frames, &message)?;
        }
        if let Err(e) = channel.write_all(&frames) {
            shared.queue.lock().expect("outbox lock").broken = true;
            return Err(e.into());
        }
        if closed {
            return Ok(());
        }
    }
}

type Batch = (Vec<(Stream, Vec<u8>)>, VecDeque<FromWorker>, bool);

/// Waits until a message is queued, the output batch is due or full, or the outbox closed;
/// then takes everything queued.
fn next_batch(shared: &Shared) -> Batch {
    let mut queue = shared.queue.lock().expect("outbox lock");
    loop {
        if !queue.messages.is_empty() || queue.closed {
            break;
        }
        match queue.output_since {
            None => queue = shared.wake.wait(queue).expect("outbox lock"),
            Some(since) => {
                let due = since + BATCH_DELAY;
                let now = Instant::now();
                if queue.output_bytes >= BATCH_BYTES || now >= due {
                    break;
                }
                queue = shared.wake.wait_timeout(queue, due - now).expect("outbox lock").0;
            }
        }
    }
    queue.output_bytes = 0;
    queue.output_since = None;
    (std::mem::take(&mut queue.output), std::mem::take(&mut queue.messages), queue.closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(bytes: &[u8]) -> Vec<FromWorker> {
        let mut reader = bytes;
        std::iter::from_fn(|| ipc::read_frame::<FromWorker>(&mut reader).unwrap()).collect()
    }

    #[test]
    fn output_is_coalesced_and_precedes_later_messages() {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let (outbox, writer) = Outbox::start(write).unwrap();
        outbox.output(Stream::Stdout, b"a");
        outbox.output(Stream::Stdout, b"b");
        outbox.output(Stream::Stderr, b"c");
        outbox.output(Stream::Stdout, b"d");
        outbox.send(FromWorker::Hello { version: 0, pid: 1 });
        outbox.close();
        writer.join().unwrap().unwrap();
        let mut wire = Vec::new();
        std::io::Read::read_to_end(&mut File::from(read), &mut wire).unwrap();
        let got: Vec<String> = frames(&wire)
            .into_iter()
            .map(|frame| match frame {
                FromWorker::Output { stream, bytes } => {
                    format!("{stream:?}:{}", String::from_utf8(bytes).unwrap())
                }
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(got, ["Stdout:ab", "Stderr:c", "Stdout:d", "Hello { version: 0, pid: 1 }"]);
    }
}
