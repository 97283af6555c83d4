//! W2 on wasmpool: one job at a time on an idle pool, `POST /v1/jobs` then
//! `GET /v1/jobs/{id}/wait`, timed per round trip; and what one `fdatasync` costs in the
//! server's data directory in the same run, the floor of an answer that waits for the disk.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::json;

use crate::server::Server;
use crate::stats;

/// `fdatasync` calls timed after the rounds.
const SYNCS: usize = 200;

/// What a W2 run measured, in µs.
pub struct RoundTrip {
    pub p50_us: f64,
    pub p99_us: f64,
    /// p50 of `fdatasync` after a 4 KiB write in the server's data directory.
    pub fdatasync_p50_us: Option<f64>,
}

/// p50 and p99 of the round trip over `rounds` after `warmup` uncounted ones, on a server
/// started with `extra` arguments; then the data directory's `fdatasync` p50.
pub async fn round_trip(
    binary: &Path,
    rounds: usize,
    warmup: usize,
    extra: &[&str],
) -> Result<RoundTrip> {
    let server = Server::start_with(binary, 2, None, extra).await?;
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
    let dir = server.data_dir().to_path_buf();
    let syncs = tokio::task::spawn_blocking(move || fdatasync_times(&dir, SYNCS)).await??;
    server.stop().await?;
    let (p50_us, p99_us) = percentiles(&times)?;
    let fdatasync_p50_us = stats::percentile(&stats::sorted_micros(&syncs), 50);
    Ok(RoundTrip { p50_us, p99_us, fdatasync_p50_us })
}

/// Times `count` rounds of a 4 KiB write and `fdatasync` in a file of `dir`, cycling over
/// 16 blocks of a file allocated first: a WAL past its first checkpoint is rewritten in
/// place like this, so no round pays for the file growing.
fn fdatasync_times(dir: &Path, count: usize) -> Result<Vec<Duration>> {
    let path = dir.join("bench-fdatasync");
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5a_u8; 4096];
    for _ in 0..16 {
        file.write_all(&block)?;
    }
    file.sync_all()?;
    let mut times = Vec::with_capacity(count);
    for round in 0..count {
        file.seek(SeekFrom::Start((round % 16) as u64 * 4096))?;
        file.write_all(&block)?;
        let started = Instant::now();
        file.sync_data()?;
        times.push(started.elapsed());
    }
    std::fs::remove_file(&path)?;
    Ok(times)
}

fn percentiles(times: &[Duration]) -> Result<(f64, f64)> {
    let sorted = stats::sorted_micros(times);
    let p50 = stats::percentile(&sorted, 50).context("no rounds")?;
    let p99 = stats::percentile(&sorted, 99).context("no rounds")?;
    Ok((p50, p99))
}
