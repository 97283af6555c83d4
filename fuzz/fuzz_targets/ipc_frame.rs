//! Arbitrary bytes as the stream a supervisor or a worker reads: a sequence of frames, read as
//! `ToWorker` and as `FromWorker`, by the blocking decoder and by its async twin. Neither may
//! panic or allocate more than what arrived (libFuzzer's `-malloc_limit_mb` catches a header
//! that makes the decoder allocate what it announces); both must read the same messages and
//! fail the same way; and every message that decodes must come back unchanged through
//! `write_frame` and `read_frame`.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use wasmpool_protocol::ipc::{
    FromWorker, IpcError, ToWorker, read_frame, read_frame_async, write_frame,
};

/// What a read gave, comparable between the two decoders.
#[derive(Debug, PartialEq)]
enum Frame<M> {
    Message(M),
    End,
    Truncated,
    TooLarge(usize),
    Malformed,
}

fn outcome<M>(result: Result<Option<M>, IpcError>) -> Frame<M> {
    match result {
        Ok(Some(message)) => Frame::Message(message),
        Ok(None) => Frame::End,
        Err(IpcError::Truncated) => Frame::Truncated,
        Err(IpcError::TooLarge(len)) => Frame::TooLarge(len),
        Err(IpcError::Malformed(_)) => Frame::Malformed,
        // A byte slice never fails to read.
        Err(IpcError::Io(error)) => panic!("reading a byte slice failed: {error}"),
    }
}

/// A future over a `&[u8]` reader never waits: it is ready at its first poll.
fn ready<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("an async read of a byte slice waited"),
    }
}

/// Reads `$data` as frames of `$message` until the stream ends or breaks; a malformed payload
/// is skipped (its frame's length is known), as any later frame is still well delimited.
macro_rules! check {
    ($message:ty, $data:expr) => {{
        let mut sync_reader: &[u8] = $data;
        let mut async_reader: &[u8] = $data;
        loop {
            let read = outcome(read_frame::<$message>(&mut sync_reader));
            let read_async = outcome(ready(read_frame_async::<$message>(&mut async_reader)));
            assert_eq!(read, read_async, "the async decoder disagrees");
            assert_eq!(sync_reader.len(), async_reader.len(), "the decoders stopped apart");
            match read {
                Frame::Message(message) => {
                    let mut wire = Vec::new();
                    write_frame(&mut wire, &message).expect("a decoded message re-encodes");
                    let again = read_frame::<$message>(&mut wire.as_slice());
                    assert_eq!(again.ok().flatten().as_ref(), Some(&message), "round trip");
                }
                Frame::Malformed => {}
                Frame::End | Frame::Truncated | Frame::TooLarge(_) => break,
            }
        }
    }};
}

fuzz_target!(|data: &[u8]| {
    check!(ToWorker, data);
    check!(FromWorker, data);
});
