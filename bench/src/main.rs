//! `wasmpool-bench`: measures wasmpool's workloads on this machine. See `bench/README.md`.

mod server;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use server::Server;

#[tokio::main]
async fn main() -> Result<()> {
    let binary = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/wasmpool"));
    let w1 = throughput(&binary, 10_000, 500, 2).await?;
    println!("W1 throughput: 10000 hello jobs in batches of 500 on 2 workers: {w1:.0} jobs/s");
    let (p50, p99) = latency(&binary, 500).await?;
    println!("W2 latency: submit+wait on an idle pool, 500 times: p50 {p50:?}, p99 {p99:?}");
    Ok(())
}

/// Jobs per second for `total` no-op jobs submitted in batches, until all have ended.
async fn throughput(
    binary: &std::path::Path,
    total: usize,
    batch: usize,
    workers: usize,
) -> Result<f64> {
    let server = Server::start(binary, workers).await?;
    server.upload(artifacts::HELLO, "hello").await?;
    let started = Instant::now();
    for _ in 0..total / batch {
        server.submit_batch(vec![json!({ "module": "hello" }); batch]).await?;
    }
    server.wait_for_ended(total as u64, Duration::from_secs(600)).await?;
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// p50 and p99 of one submit-and-wait round trip on an idle pool.
async fn latency(binary: &std::path::Path, rounds: usize) -> Result<(Duration, Duration)> {
    let server = Server::start(binary, 2).await?;
    server.upload(artifacts::HELLO, "hello").await?;
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds + 20 {
        let started = Instant::now();
        let accepted = server.post("/v1/jobs", &json!({ "module": "hello" })).await?;
        let id = accepted["id"].as_i64().context("id")?;
        let job = server.get(&format!("/v1/jobs/{id}/wait?timeout_ms=10000")).await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(job["state"] == "succeeded", "job {id}: {job}");
        if round >= 20 {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok((times[times.len() / 2], times[times.len() * 99 / 100]))
}
