//! W4 on wasmpool, the seed's demo: five `long-time-task` jobs (each sleeps 0–3 s) on four
//! workers. Measures the wall time and checks, from the jobs' own `started_at` and
//! `finished_at`, that the fifth started only after one of the first four had ended.

use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::server::Server;

/// Tasks and workers, as in the seed (`Pool(4)`, `range(5)`).
pub const TASKS: usize = 5;
pub const WORKERS: usize = 4;

/// What one run of the demo showed.
pub struct Demo {
    pub wall_s: f64,
    pub fifth_waited: bool,
}

/// Runs the demo on a fresh server.
pub async fn run(binary: &Path) -> Result<Demo> {
    let server = Server::start(binary, WORKERS).await?;
    server.upload(artifacts::LONG_TIME_TASK, "long-time-task").await?;
    let jobs = (0..TASKS).map(|i| json!({ "module": "long-time-task", "args": [i.to_string()] }));
    let started = Instant::now();
    let ids = server.submit_batch(jobs.collect()).await?;
    let mut spans = Vec::with_capacity(TASKS);
    for id in ids {
        // Each task sleeps under 3 s and the fifth waits for at most one other: 30 s bounds it.
        let job = server.get(&format!("/v1/jobs/{id}/wait?timeout_ms=30000")).await?;
        ensure!(job["state"] == "succeeded", "job {id} did not succeed: {job}");
        spans.push((time(&job, "started_at")?, time(&job, "finished_at")?));
    }
    let wall_s = started.elapsed().as_secs_f64();
    server.stop().await?;
    Ok(Demo { wall_s, fifth_waited: fifth_waited(spans)? })
}

/// Whether the task that started last started no earlier than the first end among the
/// others: with four workers and five tasks it must have waited for a free one.
fn fifth_waited(mut spans: Vec<(SystemTime, SystemTime)>) -> Result<bool> {
    spans.sort();
    let (fifth, first_four) = spans.split_last().context("no tasks")?;
    let first_end = first_four.iter().map(|(_, end)| *end).min().context("a single task")?;
    Ok(fifth.0 >= first_end)
}

fn time(job: &Value, field: &str) -> Result<SystemTime> {
    let text = job[field].as_str().with_context(|| format!("a job without `{field}`: {job}"))?;
    humantime::parse_rfc3339(text).with_context(|| format!("`{field}` is not RFC 3339: {text}"))
}
