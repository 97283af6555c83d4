//! Guest `long-time-task [N]`: the demo task from the original Python seed.
//!
//! Prints `Run task N (PID)...` (PID from the `WASMPOOL_WORKER_PID`
//! environment variable, `?` if unset), sleeps a random time uniformly in
//! [0, 3) seconds, then prints `Task N runs X.XX seconds.` with the measured
//! elapsed time. `LONG_TIME_TASK_MAX_MS` and `LONG_TIME_TASK_MIN_MS` (integer
//! milliseconds) override the 3000 ms upper and 0 ms lower bounds. Randomness comes from `RandomState`, which is seeded
//! by WASI `random_get`, so no crates are needed.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Write;
use std::time::{Duration, Instant};

const DEFAULT_MAX_MS: u64 = 3000;

/// A random u64 drawn (via `RandomState`) from the host's WASI `random_get`.
fn random_u64() -> u64 {
    RandomState::new().hash_one(0x5741_534d_504f_4f4cu64)
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "0".to_owned());
    let pid = std::env::var("WASMPOOL_WORKER_PID").unwrap_or_else(|_| "?".to_owned());
    let max_ms = std::env::var("LONG_TIME_TASK_MAX_MS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_MAX_MS);
    let min_ms = std::env::var("LONG_TIME_TASK_MIN_MS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
        .min(max_ms);

    println!("Run task {name} ({pid})...");
    let _ = std::io::stdout().flush();

    let start = Instant::now();
    // Uniform in [min_ms, max_ms) milliseconds: a 53-bit fraction in [0, 1).
    let fraction = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let span = (max_ms - min_ms) as f64;
    let sleep = Duration::from_secs_f64((min_ms as f64 + fraction * span) / 1000.0);
    std::thread::sleep(sleep);
    let elapsed = start.elapsed().as_secs_f64();

    println!("Task {name} runs {elapsed:.2} seconds.");
}
