//! W5 on wasmpool: a deep queue. Pauses the pool, submits many `hello` jobs in batches,
//! reads the server's resident memory, then resumes and, while the queue drains, times
//! `GET /v1/jobs?limit=50` and `GET /v1/pool` alternately.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::server::Server;
use crate::stats;

/// Workers draining the queue.
const WORKERS: usize = 2;

/// What the deep queue showed.
pub struct Scale {
    /// Submitted jobs per second (all batches, paused pool).
    pub submit_per_s: f64,
    /// The server process's `VmRSS` with the whole queue in, in MB (10^6 bytes).
    pub rss_mb: f64,
    /// p99 of `GET /v1/jobs?limit=50`, µs.
    pub list_p99_us: f64,
    /// p99 of `GET /v1/pool`, µs.
    pub pool_p99_us: f64,
    /// Whether jobs were still queued when the last call ended (the calls saw a draining pool).
    pub still_draining: bool,
}

/// Runs the workload on a fresh server: `total` jobs in batches of `batch`, `calls` of each
/// read.
pub async fn run(binary: &Path, total: usize, batch: usize, calls: usize) -> Result<Scale> {
    let server = Server::start(binary, WORKERS).await?;
    server.upload(artifacts::HELLO, "hello").await?;
    server.post("/v1/pool/pause", &serde_json::Value::Null).await?;
    let job = json!({ "module": "hello" });
    let started = Instant::now();
    let mut left = total;
    while left > 0 {
        let size = left.min(batch);
        server.submit_batch(vec![job.clone(); size]).await?;
        left -= size;
    }
    let submit_per_s = total as f64 / started.elapsed().as_secs_f64();
    let rss_mb = resident_bytes(server.pid())? as f64 / 1e6;

    server.post("/v1/pool/resume", &serde_json::Value::Null).await?;
    let mut list = Vec::with_capacity(calls);
    let mut pool = Vec::with_capacity(calls);
    for _ in 0..calls {
        list.push(timed(server.get("/v1/jobs?limit=50")).await?);
        pool.push(timed(server.get("/v1/pool")).await?);
    }
    let still_draining = server.counts().await?.get("queued").copied().unwrap_or(0) > 0;
    server.stop().await?;
    Ok(Scale {
        submit_per_s,
        rss_mb,
        list_p99_us: p99(&list)?,
        pool_p99_us: p99(&pool)?,
        still_draining,
    })
}

/// How long a call took; its answer is discarded (but must have been a success).
async fn timed<T>(call: impl Future<Output = Result<T>>) -> Result<Duration> {
    let started = Instant::now();
    call.await?;
    Ok(started.elapsed())
}

fn p99(times: &[Duration]) -> Result<f64> {
    stats::percentile(&stats::sorted_micros(times), 99).context("no calls")
}

/// `VmRSS` of a process, in bytes, from `/proc/PID/status` (Linux).
fn resident_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .with_context(|| format!("no VmRSS in {path}"))?;
    let kb: u64 = line
        .trim()
        .strip_suffix("kB")
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("cannot read VmRSS {line:?}"))?;
    Ok(kb * 1024)
}
