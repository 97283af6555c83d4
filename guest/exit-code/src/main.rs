//! Guest `exit-code N`: prints `exiting with N` and exits with status N.
//!
//! Used to test that the host reports a job's exit status
//! (`std::process::exit`, i.e. WASI `proc_exit`).

use std::io::Write;

fn main() {
    let arg = std::env::args().nth(1);
    let Some(n) = arg.as_deref().and_then(|s| s.trim().parse::<i32>().ok()) else {
        eprintln!("usage: exit-code N  (N an i32, got {arg:?})");
        std::process::exit(2);
    };
    println!("exiting with {n}");
    let _ = std::io::stdout().flush();
    std::process::exit(n);
}
