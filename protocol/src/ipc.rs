//! The framed, versioned binary protocol between the supervisor and a worker process.
//!
//! A frame is a little-endian `u32` payload length followed by the payload: one message
//! encoded with postcard. The worker speaks first with [`FromWorker::Hello`], carrying
//! [`PROTOCOL_VERSION`]; the supervisor refuses a worker of another version. A clean end of
//! stream between frames means the peer is gone. This module owns framing only: it knows
//! nothing of processes or sandboxes.
//!
//! The supervisor may send a worker several jobs before the first has ended: the worker runs
//! them one after another, in order, and answers each with a `Done`, also in order, so a
//! `Call` or `Output` always belongs to the oldest job whose `Done` has not been sent. Jobs
//! sent and not yet started can be taken back with [`ToWorker::Recall`].

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::job::{JobResult, JobSpec, Stream, TaskCall, TaskReply};

/// Bumped whenever a message changes shape.
pub const PROTOCOL_VERSION: u32 = 7;

/// Frames above this size are refused rather than allocated.
pub const MAX_FRAME_BYTES: usize = 1 << 30;

/// Room made for a payload before any of it arrived. A header is only a claim: the buffer
/// grows with what the peer actually sends, so a truncated or lying stream costs what came.
const FIRST_READ_BYTES: usize = 64 << 10;

/// Messages from the supervisor to a worker.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Run this job, after any sent before it, and answer with [`FromWorker::Done`].
    Run(Box<JobSpec>),
    /// The answer to the running job's [`FromWorker::Call`] with the same number.
    Reply {
        /// The call's number.
        call: u64,
        /// The answer.
        reply: TaskReply,
    },
    /// Finish the jobs sent, then exit.
    Shutdown,
    /// Give back the jobs sent and not started yet, answered with [`FromWorker::Recalled`]
    /// (after the `Done` of every job that did start).
    Recall,
}

/// Messages from a worker to the supervisor.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromWorker {
    /// First frame a worker sends: who it is and which protocol it speaks.
    Hello {
        /// The worker's [`PROTOCOL_VERSION`].
        version: u32,
        /// The worker's process id.
        pid: u32,
    },
    /// The running job asks its host something (a queue operation, a progress report).
    Call {
        /// Numbers the calls of a worker, from 1.
        call: u64,
        /// The request.
        request: TaskCall,
    },
    /// Bytes the running job wrote, in the order it wrote them (only from a worker started
    /// with `--live-output`). Always within the job's output cap, and always sent before the
    /// job's `Done`, whose result keeps the same bytes: these are a preview, not the record.
    Output {
        /// Which stream.
        stream: Stream,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The job ended.
    Done {
        /// What it produced.
        result: Box<JobResult>,
        /// The highest call number whose reply reached the guest: a reply sent for a later
        /// call arrived after the job stopped waiting for it, so the host takes it back.
        replies_used: u64,
    },
    /// The answer to [`ToWorker::Recall`]: the ids of the jobs that had not started, which
    /// this worker will not run.
    Recalled(Vec<String>),
    /// The running job computed past its timeout, in code that checks no deadline, and was
    /// ended by the worker's watchdog: this is its `timed_out` result, with the output so
    /// far. The worker's thread is still inside the guest and will run nothing more: the
    /// supervisor records the result and replaces the worker, giving back the jobs that
    /// wait in it (they never started).
    Overran {
        /// What the job produced until its deadline.
        result: Box<JobResult>,
        /// As in [`FromWorker::Done`].
        replies_used: u64,
    },
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// The channel failed.
    #[error("channel: {0}")]
    Io(#[from] io::Error),
    /// The stream ended in the middle of a frame.
    #[error("channel closed in the middle of a frame")]
    Truncated,
    /// A frame announced more than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes is larger than the limit")]
    TooLarge(usize),
    /// The payload did not decode as the expected message.
    #[error("malformed frame: {0}")]
    Malformed(#[from] postcard::Error),
}

fn encode<M: Serialize>(message: &M) -> Result<Vec<u8>, IpcError> {
    let mut frame = vec![0u8; 4];
    let mut frame = postcard::to_extend(message, std::mem::take(&mut frame))?;
    let len = frame.len() - 4;
    if len > MAX_FRAME_BYTES {
        return Err(IpcError::TooLarge(len));
    }
    frame[..4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(frame)
}

fn payload_len(header: [u8; 4]) -> Result<usize, IpcError> {
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(IpcError::TooLarge(len));
    }
    Ok(len)
}

/// Writes one message as a frame and flushes it.
pub fn write_frame<M: Serialize>(writer: &mut impl Write, message: &M) -> Result<(), IpcError> {
    writer.write_all(&encode(message)?)?;
    writer.flush()?;
    Ok(())
}

/// Reads one frame; `Ok(None)` when the stream ended cleanly before it.
pub fn read_frame<M: DeserializeOwned>(reader: &mut impl Read) -> Result<Option<M>, IpcError> {
    let mut header = [0u8; 4];
    match read_exact_or_eof(reader, &mut header)? {
        0 => return Ok(None),
        4 => {}
        _ => return Err(IpcError::Truncated),
    }
    let len = payload_len(header)?;
    let mut payload = Vec::with_capacity(len.min(FIRST_READ_BYTES));
    reader.take(len as u64).read_to_end(&mut payload)?;
    decode(&payload, len)
}

/// Async twin of [`write_frame`], for the supervisor.
pub async fn write_frame_async<M: Serialize>(
    writer: &mut (impl AsyncWrite + Unpin),
    message: &M,
) -> Result<(), IpcError> {
    writer.write_all(&encode(message)?).await?;
    writer.flush().await?;
    Ok(())
}

/// Async twin of [`read_frame`], for the supervisor.
pub async fn read_frame_async<M: DeserializeOwned>(
    reader: &mut (impl AsyncRead + Unpin),
) -> Result<Option<M>, IpcError> {
    let mut header = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match reader.read(&mut header[filled..]).await? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(IpcError::Truncated),
            n => filled += n,
        }
    }
    let len = payload_len(header)?;
    let mut payload = Vec::with_capacity(len.min(FIRST_READ_BYTES));
    reader.take(len as u64).read_to_end(&mut payload).await?;
    decode(&payload, len)
}

/// Reads frames from an async stream into a buffer of its own, so that waiting for the next
/// frame can be cancelled (a `select!` branch that lost) without losing any byte of it, and
/// one read takes in every frame that is already there.
pub struct FrameReader<R> {
    reader: R,
    buffer: Vec<u8>,
    /// Bytes of `buffer` already decoded.
    used: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of the frames `reader` carries.
    pub fn new(reader: R) -> Self {
        FrameReader { reader, buffer: Vec::new(), used: 0 }
    }

    /// The next frame; `Ok(None)` when the stream ended cleanly before it. Cancel-safe.
    pub async fn next<M: DeserializeOwned>(&mut self) -> Result<Option<M>, IpcError> {
        loop {
            if let Some(message) = self.decode_next()? {
                return Ok(Some(message));
            }
            self.make_room();
            // `read_buf` is cancel-safe: if this future is dropped, nothing was read.
            if self.reader.read_buf(&mut self.buffer).await? == 0 {
                return match self.buffer.len() - self.used {
                    0 => Ok(None),
                    _ => Err(IpcError::Truncated),
                };
            }
        }
    }

    /// Decodes a whole frame if the buffer holds one.
    fn decode_next<M: DeserializeOwned>(&mut self) -> Result<Option<M>, IpcError> {
        let waiting = &self.buffer[self.used..];
        let Some(header) = waiting.first_chunk::<4>() else { return Ok(None) };
        let len = payload_len(*header)?;
        let Some(payload) = waiting.get(4..4 + len) else { return Ok(None) };
        let message = postcard::from_bytes(payload)?;
        self.used += 4 + len;
        Ok(Some(message))
    }

    /// Drops the decoded bytes and makes room for the rest of the frame that is arriving (as
    /// much as its header claims, up to [`FIRST_READ_BYTES`] at a time).
    fn make_room(&mut self) {
        self.buffer.drain(..self.used);
        self.used = 0;
        let missing = match self.buffer.first_chunk::<4>() {
            Some(header) => (u32::from_le_bytes(*header) as usize + 4) - self.buffer.len(),
            None => 4,
        };
        self.buffer.reserve(missing.clamp(4096, FIRST_READ_BYTES));
    }
}

/// The message in a payload that should be `len` bytes long.
fn decode<M: DeserializeOwned>(payload: &[u8], len: usize) -> Result<Option<M>, IpcError> {
    if payload.len() < len {
        return Err(IpcError::Truncated);
    }
    Ok(Some(postcard::from_bytes(payload)?))
}

/// Fills `buf` unless the stream ends first; returns how many bytes were read.
fn read_exact_or_eof(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;
    use crate::job::Outcome;

    /// A channel that delivers `bytes` and notes the largest buffer a read offered it: memory
    /// the decoder set aside before the bytes it was waiting for had arrived.
    struct Recording<'a> {
        bytes: &'a [u8],
        largest_read: usize,
    }

    impl Read for Recording<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.largest_read = self.largest_read.max(buf.len());
            Read::read(&mut self.bytes, buf)
        }
    }

    impl AsyncRead for Recording<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.largest_read = self.largest_read.max(buf.remaining());
            Pin::new(&mut self.bytes).poll_read(cx, buf)
        }
    }

    /// A header announcing 1 GiB followed by ten bytes: found by the `ipc_frame` fuzz target,
    /// when the decoder allocated what a header announced before reading any of it.
    #[tokio::test]
    async fn a_header_alone_does_not_make_the_decoder_allocate_the_frame() {
        let mut wire = (MAX_FRAME_BYTES as u32).to_le_bytes().to_vec();
        wire.extend_from_slice(&[0; 10]);
        let mut channel = Recording { bytes: &wire, largest_read: 0 };
        assert!(matches!(read_frame::<ToWorker>(&mut channel), Err(IpcError::Truncated)));
        assert!(channel.largest_read <= 1 << 20, "set aside {} bytes", channel.largest_read);
        let mut channel = Recording { bytes: &wire, largest_read: 0 };
        let read = read_frame_async::<ToWorker>(&mut channel).await;
        assert!(matches!(read, Err(IpcError::Truncated)));
        assert!(channel.largest_read <= 1 << 20, "set aside {} bytes", channel.largest_read);
    }

    /// A frame larger than the first read's room still arrives whole, through both decoders.
    #[tokio::test]
    async fn frames_larger_than_the_first_read_arrive_whole() {
        let mut result = JobResult::without_output("big".into(), Outcome::Exited(0));
        result.stdout = (0..3 * FIRST_READ_BYTES).map(|i| i as u8).collect();
        let done = FromWorker::Done { result: Box::new(result), replies_used: 2 };
        let mut wire = Vec::new();
        write_frame(&mut wire, &done).unwrap();
        write_frame(&mut wire, &done).unwrap();
        let mut reader = wire.as_slice();
        assert_eq!(read_frame::<FromWorker>(&mut reader).unwrap().as_ref(), Some(&done));
        assert_eq!(read_frame_async::<FromWorker>(&mut reader).await.unwrap(), Some(done));
        assert!(read_frame::<FromWorker>(&mut reader).unwrap().is_none());
    }

    /// A channel that hands out its bytes a few at a time.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl AsyncRead for Trickle<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.step.min(self.bytes.len()).min(buf.remaining());
            buf.put_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Poll::Ready(Ok(()))
        }
    }

    /// Frames split across reads at every size, and frames arriving together, come out
    /// whole and in order; a frame cut short is an error, not a hang.
    #[tokio::test]
    async fn the_frame_reader_reassembles_frames_however_they_arrive() {
        let mut wire = Vec::new();
        let mut big = JobResult::without_output("big".into(), Outcome::Exited(0));
        big.stdout = vec![7; 3 * FIRST_READ_BYTES];
        let messages = [
            FromWorker::Hello { version: PROTOCOL_VERSION, pid: 1 },
            FromWorker::Done { result: Box::new(big), replies_used: 0 },
            FromWorker::Recalled(vec!["a".into(), "b".into()]),
        ];
        messages.iter().for_each(|message| write_frame(&mut wire, message).unwrap());
        for step in [1, 3, 4, 5, 4096, usize::MAX] {
            let mut reader = FrameReader::new(Trickle { bytes: &wire, step });
            for message in &messages {
                assert_eq!(reader.next::<FromWorker>().await.unwrap().as_ref(), Some(message));
            }
            assert!(reader.next::<FromWorker>().await.unwrap().is_none());
        }
        let cut = &wire[..wire.len() - 2];
        let mut reader = FrameReader::new(Trickle { bytes: cut, step: 100 });
        reader.next::<FromWorker>().await.unwrap();
        reader.next::<FromWorker>().await.unwrap();
        assert!(matches!(reader.next::<FromWorker>().await, Err(IpcError::Truncated)));
    }

    #[test]
    fn round_trip_and_clean_eof() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &FromWorker::Hello { version: PROTOCOL_VERSION, pid: 7 }).unwrap();
        let result = JobResult::without_output("j1".into(), Outcome::Exited(3));
        let done = FromWorker::Done { result: Box::new(result.clone()), replies_used: 0 };
        write_frame(&mut wire, &done).unwrap();
        let mut reader = wire.as_slice();
        assert!(matches!(
            read_frame::<FromWorker>(&mut reader).unwrap(),
            Some(FromWorker::Hello { version: PROTOCOL_VERSION, pid: 7 })
        ));
        match read_frame::<FromWorker>(&mut reader).unwrap() {
            Some(FromWorker::Done { result: done, .. }) => assert_eq!(*done, result),
            other => panic!("unexpected {other:?}"),
        }
        assert!(read_frame::<FromWorker>(&mut reader).unwrap().is_none());
    }

    #[test]
    fn truncated_and_oversized_frames_are_errors() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &ToWorker::Shutdown).unwrap();
        let cut = &wire[..wire.len() - 1];
        assert!(matches!(read_frame::<ToWorker>(&mut &cut[..]), Err(IpcError::Truncated)));
        assert!(matches!(read_frame::<ToWorker>(&mut &wire[..2]), Err(IpcError::Truncated)));
        let huge = u32::MAX.to_le_bytes();
        assert!(matches!(read_frame::<ToWorker>(&mut &huge[..]), Err(IpcError::TooLarge(_))));
        let garbage = [1u8, 0, 0, 0, 0xff];
        assert!(matches!(read_frame::<ToWorker>(&mut &garbage[..]), Err(IpcError::Malformed(_))));
    }
}
