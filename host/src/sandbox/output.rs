//! Capturing a guest's stdout or stderr in memory with a cap. Bytes past the cap are
//! dropped but reported written, so the guest carries on exactly as if its output had gone
//! somewhere; the capture remembers that it was cut. (wasmtime-wasi's own memory pipe fails
//! the write instead, which makes a Rust guest panic and trap.) What is kept may also be
//! passed on as it is written ([`CappedOutput::forwarding`]), for a host showing it live.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::task::TaskBackend;
use crate::job::Stream;

/// Bytes the guest may write per `check-write` (it may always write more later).
const WRITE_BUDGET: usize = 64 << 10;

/// A capped in-memory output stream; clones share the same buffer.
#[derive(Clone)]
pub struct CappedOutput {
    captured: Arc<Mutex<Captured>>,
    cap: usize,
    forward: Option<(Stream, Arc<dyn TaskBackend>)>,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

impl CappedOutput {
    /// A capture keeping at most `cap` bytes.
    pub fn new(cap: u64) -> Self {
        CappedOutput {
            captured: Arc::default(),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            forward: None,
        }
    }

    /// Also hands every kept byte to `backend` as `stream`, when it is written.
    pub fn forwarding(mut self, stream: Stream, backend: Option<Arc<dyn TaskBackend>>) -> Self {
        self.forward = backend.map(|backend| (stream, backend));
        self
    }

    pub(super) fn append(&self, data: &[u8]) {
        let mut captured = self.captured.lock().expect("capture lock");
        let room = self.cap.saturating_sub(captured.bytes.len());
        if data.len() > room {
            captured.truncated = true;
        }
        let kept = &data[..data.len().min(room)];
        captured.bytes.extend_from_slice(kept);
        // Under the lock, so two clones writing at once forward in the order they kept.
        if let Some((stream, backend)) = &self.forward {
            backend.output(*stream, kept);
        }
    }

    /// The bytes kept and whether any were cut.
    pub fn take(&self) -> (Vec<u8>, bool) {
        let mut captured = self.captured.lock().expect("capture lock");
        (std::mem::take(&mut captured.bytes), captured.truncated)
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_remembers_the_cut() {
        let out = CappedOutput::new(5);
        out.append(b"abc");
        out.append(b"de");
        assert_eq!(out.take(), (b"abcde".to_vec(), false), "exactly the cap is not a cut");
        let out = CappedOutput::new(5);
        out.append(b"abcdef");
        out.append(b"g");
        assert_eq!(out.take(), (b"abcde".to_vec(), true));
    }
}
