//! Guest `sleeper SECONDS`: sleeps for SECONDS (a float, e.g. `0.5`) and exits 0.
//!
//! The sleep is a WASI `poll_oneoff` on the monotonic clock, so this tests
//! that jobs blocked in the host (not spinning) are handled: timeouts,
//! cancellation and concurrency.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    let Some(secs) = arg
        .as_deref()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok().map(|d| (s, d)))
    else {
        eprintln!("usage: sleeper SECONDS  (a non-negative number, got {arg:?})");
        return ExitCode::from(2);
    };
    let (s, d) = secs;
    println!("sleeping {s} s");
    let _ = std::io::stdout().flush();
    std::thread::sleep(d);
    println!("slept");
    ExitCode::SUCCESS
}
