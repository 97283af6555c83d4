//! Guest `fib N`: computes fib(N) by naive recursion and prints `fib(N) = R`.
//!
//! A CPU-bound job of tunable length (fuel, epoch deadlines, timeouts).
//! A missing or malformed argument is reported on stderr with exit code 2.

use std::hint::black_box;
use std::process::ExitCode;

fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(black_box(n - 1)).wrapping_add(fib(black_box(n - 2)))
    }
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    let Some(n) = arg.as_deref().and_then(|s| s.trim().parse::<u64>().ok()) else {
        eprintln!("usage: fib N  (N a non-negative integer, got {arg:?})");
        return ExitCode::from(2);
    };
    let r = fib(black_box(n));
    println!("fib({n}) = {r}");
    ExitCode::SUCCESS
}
