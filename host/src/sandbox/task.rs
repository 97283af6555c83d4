//! The `wasmpool:task` world (`wit/task.wit`) on the host side: what a component may import
//! beyond WASI. Each call goes to the job's [`TaskBackend`] (in a worker process, the IPC link
//! to the supervisor); without one, queues are unavailable and reports are dropped.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::state::P2State;
use crate::job::{self, Stream, TaskCall, TaskReply};

wasmtime::component::bindgen!({
    path: "wit/task.wit",
    world: "wasmpool:task/task",
    imports: { default: async },
});

use self::wasmpool::task::queue::PutError;

/// Where a job's `wasmpool:task` calls, and its output as it is written, go.
pub trait TaskBackend: Send + Sync {
    /// Answers a call; `None` when the host can no longer be reached.
    fn call(&self, request: TaskCall) -> BoxFuture<'static, Option<TaskReply>>;

    /// Bytes the guest wrote, within its output cap, as it writes them. Called on the guest's
    /// thread: it must not block. By default they are only kept for the result.
    fn output(&self, _stream: Stream, _bytes: &[u8]) {}
}

/// What the `job` interface and the backend need to know of the running job.
pub struct TaskContext {
    /// The backend, if the job has one.
    pub backend: Option<Arc<dyn TaskBackend>>,
    /// The job's id.
    pub job_id: String,
    /// Its attempt, from 1.
    pub attempt: u32,
}

impl TaskContext {
    async fn call(&self, request: TaskCall) -> Option<TaskReply> {
        match &self.backend {
            Some(backend) => backend.call(request).await,
            None => None,
        }
    }
}

fn put_error(error: job::PutError) -> PutError {
    match error {
        job::PutError::Full => PutError::Full,
        job::PutError::TooLarge => PutError::TooLarge,
        job::PutError::BadName => PutError::BadName,
        job::PutError::Unavailable => PutError::Unavailable,
    }
}

impl self::wasmpool::task::queue::Host for P2State {
    async fn put(&mut self, name: String, item: Vec<u8>) -> Result<(), PutError> {
        match self.task.call(TaskCall::Put { queue: name, item }).await {
            Some(TaskReply::Put(result)) => result.map_err(put_error),
            _ => Err(PutError::Unavailable),
        }
    }

    async fn get(&mut self, name: String, timeout_ms: u32) -> Option<Vec<u8>> {
        match self.task.call(TaskCall::Get { queue: name, timeout_ms }).await {
            Some(TaskReply::Get(item)) => item,
            _ => None,
        }
    }

    async fn len(&mut self, name: String) -> u64 {
        match self.task.call(TaskCall::Len { queue: name }).await {
            Some(TaskReply::Len(len)) => len,
            _ => 0,
        }
    }
}

impl self::wasmpool::task::progress::Host for P2State {
    async fn report(&mut self, percent: u8, message: String) {
        let percent = percent.min(100);
        let _ = self.task.call(TaskCall::Progress { percent, message }).await;
    }
}

impl self::wasmpool::task::job::Host for P2State {
    async fn id(&mut self) -> String {
        self.task.job_id.clone()
    }

    async fn attempt(&mut self) -> u32 {
        self.task.attempt
    }
}

impl self::wasmpool::task::workflow::Host for P2State {
    async fn parents(&mut self) -> Vec<self::wasmpool::task::workflow::Parent> {
        let parents = match self.task.call(TaskCall::Parents).await {
            Some(TaskReply::Parents(parents)) => parents,
            _ => Vec::new(),
        };
        parents
            .into_iter()
            .map(|parent| self::wasmpool::task::workflow::Parent {
                id: parent.id.to_string(),
                name: parent.name,
                state: parent.state,
                exit_code: parent.exit_code,
                stdout: parent.stdout,
                result: parent.result,
            })
            .collect()
    }

    async fn spawn(&mut self, job: String) -> Result<String, String> {
        match self.task.call(TaskCall::Spawn { job }).await {
            Some(TaskReply::Spawned(answer)) => answer,
            _ => Err("the host cannot be reached".to_string()),
        }
    }
}

/// Adds the `wasmpool:task` interfaces to a component linker (0.1.1, which also answers
/// components built against 0.1.0: the component model's semver matching).
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<P2State>) -> wasmtime::Result<()> {
    Task::add_to_linker::<P2State, wasmtime::component::HasSelf<P2State>>(linker, |state| state)
}
