//! Guest `fib N`: computes fib(N) by naive recursion and prints `fib(N) = R`.
//!
//! A CPU-bound job of tunable length (fuel, epoch deadlines, timeouts).
//! A missing or malformed argument is reported on stderr with exit code 2.
//!
//! `N` is read at run time, so the compiler cannot fold the result; it compiles the
//! recursion as it would in any program (no `black_box`, which on wasm32 spills every
//! argument to the shadow stack in linear memory and made each call 2-3 times slower).

use std::process::ExitCode;

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1).wrapping_add(fib(n - 2)) }
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    let Some(n) = arg.as_deref().and_then(|s| s.trim().parse::<u64>().ok()) else {
        eprintln!("usage: fib N  (N a non-negative integer, got {arg:?})");
        return ExitCode::from(2);
    };
    let r = fib(n);
    println!("fib({n}) = {r}");
    ExitCode::SUCCESS
}
