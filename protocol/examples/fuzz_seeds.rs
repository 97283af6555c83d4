//! Writes the `ipc_frame` fuzz target's seed corpus: a few valid frame streams, one of each
//! message kind, so the fuzzer starts from frames that decode instead of guessing postcard.
//! Run it when a message changes shape (the seeds are committed):
//!
//!     cargo run -p wasmpool-protocol --example fuzz_seeds -- fuzz/corpus/ipc_frame

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmpool_protocol::ipc::{FromWorker, PROTOCOL_VERSION, ToWorker, write_frame};
use wasmpool_protocol::job::{
    DirGrant, JobResult, JobSpec, Limits, ModuleKind, ModuleRef, Outcome, ParentResult, PutError,
    TaskCall, TaskReply,
};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or("fuzz/corpus/ipc_frame".into()));
    std::fs::create_dir_all(&dir)?;
    let spec = JobSpec {
        id: "42".into(),
        module: ModuleRef {
            hash: "ab".repeat(32),
            kind: ModuleKind::Component,
            artifact: "/data/artifacts/ab.cwasm".into(),
        },
        args: vec!["echo".into(), "hello".into()],
        env: vec![("LANG".into(), "C".into())],
        stdin: b"input\n".to_vec(),
        job_env: true,
        call: None,
        dirs: vec![DirGrant { host: "/srv".into(), guest: "/srv".into(), read_only: true }],
        limits: Limits {
            timeout: Some(Duration::from_millis(1500)),
            fuel: Some(1_000_000),
            ..Limits::default()
        },
        attempt: 1,
    };
    let supervisor = [
        ToWorker::Run(Box::new(spec)),
        ToWorker::Reply { call: 1, reply: TaskReply::Put(Ok(())) },
        ToWorker::Reply { call: 2, reply: TaskReply::Put(Err(PutError::Full)) },
        ToWorker::Reply { call: 3, reply: TaskReply::Get(Some(b"item".to_vec())) },
        ToWorker::Reply { call: 4, reply: TaskReply::Len(7) },
        ToWorker::Reply { call: 5, reply: TaskReply::Noted },
        ToWorker::Reply {
            call: 6,
            reply: TaskReply::Parents(vec![ParentResult {
                id: 41,
                name: Some("fetch".into()),
                state: "succeeded".into(),
                exit_code: Some(0),
                stdout: b"7\n".to_vec(),
                result: None,
            }]),
        },
        ToWorker::Reply { call: 7, reply: TaskReply::Spawned(Ok("spawned-0".into())) },
        ToWorker::Recall,
        ToWorker::Shutdown,
    ];
    write(&dir, "supervisor", &supervisor)?;

    let mut result = JobResult::without_output("42".into(), Outcome::Exited(0));
    result.stdout = b"hello\n".to_vec();
    result.fuel_used = Some(1234);
    result.peak_memory_bytes = 65536;
    result.run_time = Duration::from_micros(250);
    let worker = [
        FromWorker::Hello { version: PROTOCOL_VERSION, pid: 4242 },
        FromWorker::Call {
            call: 1,
            request: TaskCall::Put { queue: "q".into(), item: b"x".to_vec() },
        },
        FromWorker::Call { call: 2, request: TaskCall::Get { queue: "q".into(), timeout_ms: 100 } },
        FromWorker::Call { call: 3, request: TaskCall::Len { queue: "q".into() } },
        FromWorker::Call {
            call: 4,
            request: TaskCall::Progress { percent: 50, message: "half".into() },
        },
        FromWorker::Call { call: 5, request: TaskCall::Parents },
        FromWorker::Call {
            call: 6,
            request: TaskCall::Spawn { job: r#"{"module":"hello"}"#.into() },
        },
        FromWorker::Done { result: Box::new(result.clone()), replies_used: 4 },
        FromWorker::Recalled(vec!["42".into()]),
        FromWorker::Overran {
            result: Box::new(JobResult {
                outcome: Outcome::TimedOut(Duration::from_secs(1)),
                ..result
            }),
            replies_used: 6,
        },
    ];
    write(&dir, "worker", &worker)?;

    let outcomes = [
        Outcome::Exited(3),
        Outcome::Trapped("unreachable".into()),
        Outcome::TimedOut(Duration::from_secs(1)),
        Outcome::MemoryLimit(1 << 20),
        Outcome::FuelExhausted(10),
        Outcome::LoadFailed("bad".into()),
        Outcome::WorkerDied("killed".into()),
        Outcome::Cancelled,
    ];
    let ended: Vec<FromWorker> = outcomes
        .into_iter()
        .map(|outcome| FromWorker::Done {
            result: Box::new(JobResult::without_output("7".into(), outcome)),
            replies_used: 0,
        })
        .collect();
    write(&dir, "outcomes", &ended)
}

fn write<M: serde::Serialize>(dir: &Path, name: &str, messages: &[M]) -> std::io::Result<()> {
    let mut stream = Vec::new();
    for message in messages {
        write_frame(&mut stream, message).map_err(std::io::Error::other)?;
    }
    std::fs::write(dir.join(name), stream)
}
