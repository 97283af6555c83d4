//! A worker's outgoing frames, written in order, whole, by whichever thread has something
//! to send: the runtime thread writes its messages (hello, calls, results) itself, with any
//! output queued before them, so a job's output precedes its `Done` and a result waits for
//! no other thread.
//!
//! The running job's output is coalesced: a guest's writes are queued and go out together,
//! one `Output` frame per run of the same stream, with the next message, from the guest's
//! own next write once the oldest queued byte is [`BATCH_DELAY`] old or [`BATCH_BYTES`] are
//! waiting, or from a flusher thread. The thread is there because the worker's runtime has one
//! thread, which a computing guest never yields: output written just before a long
//! computation must still reach the host. It ticks every [`BATCH_DELAY`] while output comes
//! and parks after [`PARK_AFTER`] without any, so a pool of short jobs costs it a few wake-ups
//! a second, not one per job.

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
/// The flusher parks after this long without output.
pub const PARK_AFTER: Duration = Duration::from_millis(200);

/// The sending end; clones share the channel.
#[derive(Clone)]
pub struct Outbox(Arc<Shared>);

struct Shared {
    /// Held for a whole write, so frames never interleave. Taken before `queue`.
    channel: Mutex<Channel>,
    queue: Mutex<Queue>,
    /// Wakes the flusher.
    wake: Condvar,
}

struct Channel {
    file: File,
    /// The first write that failed; nothing is written after it.
    failed: Option<std::io::Error>,
}

struct Queue {
    /// Unsent output, consecutive writes to one stream merged.
    output: Vec<(Stream, Vec<u8>)>,
    bytes: usize,
    /// When the oldest unsent output was queued.
    since: Option<Instant>,
    /// When output was last queued.
    last: Instant,
    /// The flusher waits for output without a timeout.
    parked: bool,
    closed: bool,
}

impl Queue {
    fn due(&self) -> bool {
        self.bytes >= BATCH_BYTES || self.since.is_some_and(|since| since.elapsed() >= BATCH_DELAY)
    }

    fn take(&mut self) -> Vec<(Stream, Vec<u8>)> {
        self.bytes = 0;
        self.since = None;
        std::mem::take(&mut self.output)
    }
}

impl Outbox {
    /// An outbox writing to `channel`, and its flusher thread (ended by [`Outbox::close`]).
    pub fn start(channel: OwnedFd) -> std::io::Result<(Outbox, JoinHandle<()>)> {
        // Written with blocking calls, whatever mode the pipe came in: a full pipe holds the
        // job up until the host reads, which is the back-pressure wanted.
        let flags = rustix::fs::fcntl_getfl(&channel)?;
        rustix::fs::fcntl_setfl(&channel, flags - rustix::fs::OFlags::NONBLOCK)?;
        let shared = Arc::new(Shared {
            channel: Mutex::new(Channel { file: File::from(channel), failed: None }),
            queue: Mutex::new(Queue {
                output: Vec::new(),
                bytes: 0,
                since: None,
                last: Instant::now(),
                parked: true,
                closed: false,
            }),
            wake: Condvar::new(),
        });
        let flusher = shared.clone();
        let thread = std::thread::Builder::new()
            .name("output-flusher".into())
            .spawn(move || flush_while_open(&flusher))?;
        Ok((Outbox(shared), thread))
    }

    /// Writes a message now, after any output queued before it.
    pub fn send(&self, message: FromWorker) {
        self.0.write(Some(message));
    }

    /// Queues output of the running job; sends what is queued if it is due.
    pub fn output(&self, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let due = {
            let mut queue = self.0.queue();
            match queue.output.last_mut() {
                Some((last, pending)) if *last == stream => pending.extend_from_slice(bytes),
                _ => queue.output.push((stream, bytes.to_vec())),
            }
            queue.bytes += bytes.len();
            let now = Instant::now();
            queue.since.get_or_insert(now);
            queue.last = now;
            if queue.parked {
                queue.parked = false;
                self.0.wake.notify_one();
            }
            queue.due()
        };
        if due {
            self.0.write(None);
        }
    }

    /// Sends what output is queued, stops the flusher, and says whether every write
    /// succeeded.
    pub fn close(&self, flusher: JoinHandle<()>) -> Result<(), IpcError> {
        self.0.write(None);
        self.0.queue().closed = true;
        self.0.wake.notify_one();
        let _ = flusher.join();
        match self.0.channel.lock().expect("outbox lock").failed.take() {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().expect("outbox lock")
    }

    /// Writes the queued output, then `message`, as one write.
    fn write(&self, message: Option<FromWorker>) {
        let mut channel = self.channel.lock().expect("outbox lock");
        let output = self.queue().take();
        if channel.failed.is_some() || (output.is_empty() && message.is_none()) {
            return;
        }
        let mut frames = Vec::new();
        let outputs =
            output.into_iter().map(|(stream, bytes)| FromWorker::Output { stream, bytes });
        for frame in outputs.chain(message) {
            // Only a frame above the size limit fails to encode; output never is one.
            if let Err(e) = ipc::write_frame(&mut frames, &frame) {
                eprintln!("wasmpool worker: {e}");
            }
        }
        if let Err(e) = channel.file.write_all(&frames) {
            channel.failed = Some(e);
        }
    }
}

/// The flusher: sends output that waited [`BATCH_DELAY`] while nothing else sent it.
fn flush_while_open(shared: &Shared) {
    let mut queue = shared.queue();
    loop {
        if queue.closed {
            return;
        }
        if queue.parked {
            queue = shared.wake.wait(queue).expect("outbox lock");
            continue;
        }
        queue = shared.wake.wait_timeout(queue, BATCH_DELAY).expect("outbox lock").0;
        if queue.due() {
            drop(queue);
            shared.write(None);
            queue = shared.queue();
        } else if queue.since.is_none() && queue.last.elapsed() >= PARK_AFTER {
            queue.parked = true;
        }
    }
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
        let (outbox, flusher) = Outbox::start(write).unwrap();
        outbox.output(Stream::Stdout, b"a");
        outbox.output(Stream::Stdout, b"b");
        outbox.output(Stream::Stderr, b"c");
        outbox.output(Stream::Stdout, b"d");
        outbox.send(FromWorker::Hello { version: 0, pid: 1 });
        outbox.output(Stream::Stdout, b"e");
        outbox.close(flusher).unwrap();
        drop(outbox); // the last holder of the channel: the reader sees its end
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
        assert_eq!(
            got,
            ["Stdout:ab", "Stderr:c", "Stdout:d", "Hello { version: 0, pid: 1 }", "Stdout:e"]
        );
    }
}
