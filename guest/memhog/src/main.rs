//! Guest `memhog [MAX_MIB]`: grows its memory 1 MiB at a time until stopped.
//!
//! Every 16 MiB it prints `allocated N MiB`. With `MAX_MIB` it stops after
//! that many MiB, prints `done N MiB` and exits 0 (to check that memory below
//! the limit is usable); without it, it never stops by itself and is used to
//! test the host's memory limit.

use std::hint::black_box;
use std::io::Write;
use std::process::ExitCode;

const MIB: usize = 1 << 20;

fn main() -> ExitCode {
    let max = match std::env::args().nth(1) {
        None => None,
        Some(s) => match s.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                eprintln!("usage: memhog [MAX_MIB]  (got {s:?})");
                return ExitCode::from(2);
            }
        },
    };
    let mut stdout = std::io::stdout();
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let mut mib: u64 = 0;
    loop {
        if max.is_some_and(|max| mib >= max) {
            println!("done {mib} MiB");
            return ExitCode::SUCCESS;
        }
        let mut chunk = vec![1u8; MIB];
        // Touch every byte so the pages are really committed.
        for (i, b) in chunk.iter_mut().enumerate() {
            *b = b.wrapping_add(i as u8);
        }
        kept.push(black_box(chunk));
        mib += 1;
        if mib.is_multiple_of(16) {
            println!("allocated {mib} MiB");
            let _ = stdout.flush();
        }
    }
}
