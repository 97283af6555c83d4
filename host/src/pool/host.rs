//! What answers a running job's `wasmpool:task` calls on the supervisor's side. The service
//! plugs in its durable queues; local pools (`run`, `map`) have none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::job::{ParentResult, PutError, Stream};

/// The running job a call comes from: its id and attempt, so the host can refuse the calls
/// of an attempt that is no longer current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The job's id.
    pub job_id: String,
    /// Its attempt number.
    pub attempt: u32,
}

/// The host end of the `wasmpool:task` interfaces.
pub trait TaskHost: Send + Sync + 'static {
    /// Appends an item to a queue (waiting while it is full, up to the host's put timeout).
    fn put(
        &self,
        caller: Caller,
        queue: String,
        item: Vec<u8>,
    ) -> BoxFuture<'static, Result<(), PutError>>;
    /// Takes the oldest item of a queue, waiting up to `wait`; with the queue's name as the
    /// host keeps it and the item's id, so an item that could not be delivered can be put
    /// back ([`TaskHost::restore`]).
    fn get(
        &self,
        caller: Caller,
        queue: String,
        wait: Duration,
    ) -> BoxFuture<'static, Option<(String, i64, Vec<u8>)>>;
    /// Puts back an item taken by `get` that never reached the guest.
    fn restore(&self, queue: String, id: i64, item: Vec<u8>) -> BoxFuture<'static, ()>;
    /// The number of items in a queue.
    fn len(&self, caller: Caller, queue: String) -> BoxFuture<'static, u64>;
    /// A running job's progress report.
    fn progress(&self, caller: Caller, percent: u8, message: String) -> BoxFuture<'static, ()>;
    /// The results of the jobs the running job runs after. None without a service.
    fn parents(&self, _caller: Caller) -> BoxFuture<'static, Vec<ParentResult>> {
        Box::pin(async { Vec::new() })
    }
    /// A job the running attempt asks to submit when it succeeds: its handle, or why it was
    /// refused. Refused without a service.
    fn spawn(&self, _caller: Caller, _job: String) -> BoxFuture<'static, Result<String, String>> {
        Box::pin(async {
            Err("only jobs of a service (`wasmpool serve`) can spawn jobs".to_string())
        })
    }
}

/// Where running jobs' output goes as their guests write it (see [`super::PoolConfig::output`]).
/// Called from the supervisor's tasks: implementations must not block.
pub trait OutputSink: Send + Sync + 'static {
    /// An attempt was handed to a worker: whatever it writes comes next.
    fn started(&self, caller: &Caller);
    /// Bytes the attempt wrote, in order, within its output cap.
    fn output(&self, caller: &Caller, stream: Stream, bytes: &[u8]);
    /// The attempt ended (whatever way); its result is on its way to the caller of the pool.
    fn ended(&self, caller: &Caller);
}

/// No queues: puts fail as unavailable, gets find nothing, reports are dropped. The first
/// job to use a queue is told why, in a warning: a guest's own message (`put failed:
/// Unavailable`) does not say that queues are the service's.
pub struct NoTaskHost;

/// Whether a job was told that queues exist only under `serve` (once a process is enough).
static TOLD: AtomicBool = AtomicBool::new(false);

fn no_queues(caller: &Caller, queue: &str) {
    if !TOLD.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            job = caller.job_id.as_str(),
            queue,
            "named queues exist only under `wasmpool serve` (submit the jobs to a service); \
             here a put fails as unavailable and a get finds nothing"
        );
    }
}

impl TaskHost for NoTaskHost {
    fn put(
        &self,
        by: Caller,
        queue: String,
        _: Vec<u8>,
    ) -> BoxFuture<'static, Result<(), PutError>> {
        no_queues(&by, &queue);
        Box::pin(async { Err(PutError::Unavailable) })
    }

    fn get(
        &self,
        by: Caller,
        queue: String,
        _: Duration,
    ) -> BoxFuture<'static, Option<(String, i64, Vec<u8>)>> {
        no_queues(&by, &queue);
        Box::pin(async { None })
    }

    fn restore(&self, _: String, _: i64, _: Vec<u8>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    fn len(&self, _: Caller, _: String) -> BoxFuture<'static, u64> {
        Box::pin(async { 0 })
    }

    fn progress(&self, _: Caller, _: u8, _: String) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
