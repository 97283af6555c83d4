//! `coverage`: makes every WASI call a job can make, with each flag that reaches a different
//! system call on the host, so a test can prove the worker's seccomp filter lets all of them
//! through (or answers them with an error code) rather than killing the worker.
//!
//! `coverage DIR` — DIR is the guest path of a read-write directory the job was granted
//! (`--dir HOST::DIR`); it must be empty. Stdin must be `input\n`, and the environment hold
//! `COVERAGE=1` and nothing else. Built for `wasm32-wasip1` (`p1.rs`: every function of
//! `wasi_snapshot_preview1`) and `wasm32-wasip2` (`p2.rs`: every preview 2 filesystem, clock,
//! random, stdio and refused socket operation).
//!
//! One line per call on stdout, `CALL: OUTCOME` (`ok`, a value, or the error name), with
//! ` UNEXPECTED, wanted …` appended when the outcome is not the one the WASI implementation
//! owes; the last line counts them. Exits 0 when every outcome was the expected one, 1 if not,
//! 2 on bad usage.

#[cfg(target_env = "p1")]
mod p1;
#[cfg(target_env = "p2")]
mod p2;

/// Files created in DIR to make a directory listing span many reads of the host's directory.
const MANY: usize = 600;

/// The name of the `i`th of [`MANY`] files: long, so the listing takes several host pages.
fn many_name(i: usize) -> String {
    format!("many-{i:04}-{}", "x".repeat(100))
}

/// Counts the calls made and the outcomes that were not the expected one.
#[derive(Default)]
struct Report {
    calls: usize,
    surprises: usize,
}

impl Report {
    /// Prints one call's outcome and remembers whether it was the expected one.
    fn check(&mut self, call: &str, outcome: impl AsRef<str>, wanted: &str) {
        let outcome = outcome.as_ref();
        self.calls += 1;
        if outcome == wanted {
            println!("{call}: {outcome}");
        } else {
            self.surprises += 1;
            println!("{call}: {outcome} UNEXPECTED, wanted {wanted}");
        }
    }

    /// Prints the closing line; true when every outcome was the expected one.
    fn finish(&self) -> bool {
        println!("coverage: {} calls, {} unexpected", self.calls, self.surprises);
        self.surprises == 0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir] = args.as_slice() else {
        eprintln!("usage: coverage DIR");
        std::process::exit(2);
    };
    #[cfg(target_env = "p1")]
    p1::run(dir);
    #[cfg(target_env = "p2")]
    p2::run(dir);
}
