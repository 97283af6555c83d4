//! W1 and W3 on wasmpool: a fixed number of jobs submitted over HTTP in batches, timed from
//! the first submission until the pool's counts say all have ended (and succeeded).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::server::Server;

/// How often the counts are polled: small next to the runs measured, and cheap for the
/// server (the counts are kept in memory).
const POLL: Duration = Duration::from_millis(5);

/// One throughput run: `total` jobs of `module` with `args`, in batches of `batch`.
pub struct Throughput<'a> {
    pub module: &'a str,
    pub args: &'a [&'a str],
    pub total: usize,
    pub batch: usize,
    pub workers: usize,
}

impl Throughput<'_> {
    /// Jobs per second on a fresh server with `self.workers` workers.
    pub async fn jobs_per_second(&self, binary: &Path) -> Result<f64> {
        let server = Server::start(binary, self.workers).await?;
        server.upload(self.module, "bench").await?;
        let job = json!({ "module": "bench", "args": self.args });
        let started = Instant::now();
        let mut left = self.total;
        while left > 0 {
            let size = left.min(self.batch);
            server.submit_batch(vec![job.clone(); size]).await?;
            left -= size;
        }
        // Generous: a no-op job takes well under a millisecond, fib(25) a few.
        let limit = Duration::from_secs(60) + Duration::from_millis(20) * self.total as u32;
        server.wait_for_ended(self.total as u64, POLL, limit).await?;
        let rate = self.total as f64 / started.elapsed().as_secs_f64();
        server.stop().await?;
        Ok(rate)
    }
}
