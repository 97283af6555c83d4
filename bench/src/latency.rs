//! W2 on wasmpool: one job at a time on an idle pool, `POST /v1/jobs` then
//! `GET /v1/jobs/{id}/wait`, timed per round trip.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::json;

use crate::server::Server;
use crate::stats;

/// p50 and p99 of the round trip, in µs, over `rounds` after `warmup` uncounted ones.
pub async fn round_trip(binary: &Path, rounds: usize, warmup: usize) -> Result<(f64, f64)> {
    let server = Server::start(binary, 2).await?;
    server.upload(artifacts::HELLO, "hello").await?;
    let mut times = Vec::with_capacity(rounds);
    for round in 0..warmup + rounds {
        let started = Instant::now();
        let accepted = server.post("/v1/jobs", &json!({ "module": "hello" })).await?;
        let id = accepted["id"].as_i64().context("a submission answer without `id`")?;
        let job = server.get(&format!("/v1/jobs/{id}/wait?timeout_ms=10000")).await?;
        let elapsed = started.elapsed();
        ensure!(job["state"] == "succeeded", "job {id} did not succeed: {job}");
        if round >= warmup {
            times.push(elapsed);
        }
    }
    server.stop().await?;
    percentiles(&times)
}

fn percentiles(times: &[Duration]) -> Result<(f64, f64)> {
    let sorted = stats::sorted_micros(times);
    let p50 = stats::percentile(&sorted, 50).context("no rounds")?;
    let p99 = stats::percentile(&sorted, 99).context("no rounds")?;
    Ok((p50, p99))
}
