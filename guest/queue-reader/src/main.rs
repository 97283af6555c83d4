//! Guest `queue-reader [QUEUE] [TIMEOUT_MS]`: the reader process of the
//! original Python seed's queue example, as a component importing the
//! `wasmpool:task` world.
//!
//! Prints `Process to read: PID` (PID from the `WASMPOOL_WORKER_PID`
//! environment variable, `?` if unset), then takes items from the queue QUEUE
//! (default `q`) with `queue::get`, waiting up to TIMEOUT_MS (default 30000)
//! milliseconds for each, and prints `Get X from queue.` for every item (as
//! UTF-8, lossy) until the marker `END` (put by `queue-writer`), then exits 0.
//! If nothing arrives within the timeout it says so on stderr and exits 1. A
//! malformed TIMEOUT_MS is reported on stderr with exit code 2.
//!
//! Only builds for `wasm32-wasip2` (a component): the queue import comes from
//! `wit/task.wit` through wit-bindgen.

use std::io::Write;
use std::process::ExitCode;

wit_bindgen::generate!({
    path: "../../wit",
    world: "wasmpool:task/task",
});

use wasmpool::task::queue;

const DEFAULT_QUEUE: &str = "q";
const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// What `queue-writer` puts last.
const END: &[u8] = b"END";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| DEFAULT_QUEUE.to_owned());
    let timeout_ms = match args.next() {
        None => DEFAULT_TIMEOUT_MS,
        Some(arg) => match arg.trim().parse::<u32>() {
            Ok(ms) => ms,
            Err(_) => {
                eprintln!(
                    "usage: queue-reader [QUEUE] [TIMEOUT_MS]  (TIMEOUT_MS a non-negative \
                     integer, got {arg:?})"
                );
                return ExitCode::from(2);
            }
        },
    };
    let pid = std::env::var("WASMPOOL_WORKER_PID").unwrap_or_else(|_| "?".to_owned());

    println!("Process to read: {pid}");
    let _ = std::io::stdout().flush();
    loop {
        let Some(item) = queue::get(&name, timeout_ms) else {
            eprintln!("queue-reader: nothing arrived within {timeout_ms} ms");
            return ExitCode::FAILURE;
        };
        if item == END {
            return ExitCode::SUCCESS;
        }
        println!("Get {} from queue.", String::from_utf8_lossy(&item));
        let _ = std::io::stdout().flush();
    }
}
