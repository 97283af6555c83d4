//! Guest `queue-writer [QUEUE]`: the writer process of the original Python
//! seed's queue example, as a component importing the `wasmpool:task` world.
//!
//! Prints `Process to write: PID` (PID from the `WASMPOOL_WORKER_PID`
//! environment variable, `?` if unset), then for each of `A`, `B`, `C`:
//! prints `Put X to queue...`, puts `X` on the queue QUEUE (default `q`) with
//! `queue::put`, reports progress (33, 66, 100 %) and sleeps a random time
//! uniformly in [0, 1) seconds (`QUEUE_WRITER_MAX_PAUSE_MS`, integer
//! milliseconds, overrides the 1000 ms bound). Finally puts the marker `END`
//! (which makes `queue-reader` stop) and exits 0. A failed put is reported on
//! stderr with exit code 1.
//!
//! Only builds for `wasm32-wasip2` (a component): the queue and progress
//! imports come from `wit/task.wit` through wit-bindgen. Randomness comes from
//! `RandomState`, which is seeded by WASI random, so no other crates are needed.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

wit_bindgen::generate!({
    path: "../../wit",
    world: "wasmpool:task/task",
});

use wasmpool::task::{progress, queue};

const DEFAULT_QUEUE: &str = "q";
const DEFAULT_MAX_PAUSE_MS: u64 = 1000;
/// What the reader takes as "no more items".
const END: &[u8] = b"END";

/// A random u64 drawn (via `RandomState`) from the host's WASI random.
fn random_u64() -> u64 {
    RandomState::new().hash_one(0x5741_534d_504f_4f4cu64)
}

/// Puts `item` on `name`, or says why not on stderr.
fn put(name: &str, item: &[u8]) -> Result<(), ExitCode> {
    queue::put(name, item).map_err(|err| {
        eprintln!("queue-writer: put failed: {err:?}");
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    let name = std::env::args().nth(1).unwrap_or_else(|| DEFAULT_QUEUE.to_owned());
    let pid = std::env::var("WASMPOOL_WORKER_PID").unwrap_or_else(|_| "?".to_owned());
    let max_pause_ms = std::env::var("QUEUE_WRITER_MAX_PAUSE_MS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_MAX_PAUSE_MS);

    println!("Process to write: {pid}");
    for (value, percent) in [("A", 33), ("B", 66), ("C", 100)] {
        println!("Put {value} to queue...");
        let _ = std::io::stdout().flush();
        if let Err(code) = put(&name, value.as_bytes()) {
            return code;
        }
        progress::report(percent, &format!("put {value}"));
        // Uniform in [0, max_pause_ms) milliseconds: a 53-bit fraction in [0, 1).
        let fraction = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
        std::thread::sleep(Duration::from_secs_f64(fraction * max_pause_ms as f64 / 1000.0));
    }
    match put(&name, END) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
