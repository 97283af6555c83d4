//! Guest `square [TASKS] [RESULTS] [IDLE_MS]`: the worker of the original
//! Python seed's managers example (distributed task queues), as a component
//! importing the `wasmpool:task` world.
//!
//! Prints `job ID attempt A` (from the `job` interface), then takes tasks from
//! the queue TASKS (default `tasks`), each an integer N as text: prints
//! `run task N * N...`, computes N * N (i64) and puts `N * N = R` on the queue
//! RESULTS (default `results`), reporting each result as progress. A task that
//! is not an integer, or whose square overflows an i64, is reported on stderr
//! and skipped. When no task arrives within IDLE_MS (default 1000)
//! milliseconds it prints `square: the task queue stayed empty for IDLE ms;
//! done after N task(s)` and exits 0. A failed put is reported on stderr with
//! exit code 1; a malformed IDLE_MS with exit code 2.
//!
//! Only builds for `wasm32-wasip2` (a component): the queue, progress and job
//! imports come from `wit/task.wit` through wit-bindgen.

use std::io::Write;
use std::process::ExitCode;

wit_bindgen::generate!({
    path: "../../wit",
    world: "wasmpool:task/task",
});

use wasmpool::task::{job, progress, queue};

const DEFAULT_TASKS: &str = "tasks";
const DEFAULT_RESULTS: &str = "results";
const DEFAULT_IDLE_MS: u32 = 1000;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let tasks = args.next().unwrap_or_else(|| DEFAULT_TASKS.to_owned());
    let results = args.next().unwrap_or_else(|| DEFAULT_RESULTS.to_owned());
    let idle_ms = match args.next() {
        None => DEFAULT_IDLE_MS,
        Some(arg) => match arg.trim().parse::<u32>() {
            Ok(ms) => ms,
            Err(_) => {
                eprintln!(
                    "usage: square [TASKS] [RESULTS] [IDLE_MS]  (IDLE_MS a non-negative \
                     integer, got {arg:?})"
                );
                return ExitCode::from(2);
            }
        },
    };

    println!("job {} attempt {}", job::id(), job::attempt());
    let _ = std::io::stdout().flush();

    let mut done: u64 = 0;
    while let Some(item) = queue::get(&tasks, idle_ms) {
        let text = String::from_utf8_lossy(&item);
        let Ok(n) = text.trim().parse::<i64>() else {
            eprintln!("square: skipping task {text:?}: not an integer");
            continue;
        };
        println!("run task {n} * {n}...");
        let _ = std::io::stdout().flush();
        let Some(r) = n.checked_mul(n) else {
            eprintln!("square: skipping task {n}: {n} * {n} overflows an i64");
            continue;
        };
        let result = format!("{n} * {n} = {r}");
        if let Err(err) = queue::put(&results, result.as_bytes()) {
            eprintln!("square: put of {result:?} on {results:?} failed: {err:?}");
            return ExitCode::FAILURE;
        }
        done += 1;
        // How many tasks are left is unknown until the queue stays empty, so the
        // percentage is the share done of those seen so far plus those waiting.
        let waiting = queue::len(&tasks);
        let percent = (done * 100 / (done + waiting).max(1)).min(100) as u8;
        progress::report(percent, &format!("{done} done: {result}"));
    }
    println!("square: the task queue stayed empty for {idle_ms} ms; done after {done} task(s)");
    ExitCode::SUCCESS
}
