//! Guest `hello`: prints a greeting and exits 0.
//!
//! The smallest useful job; also used as a no-op job in benchmarks, so it
//! must stay minimal.

fn main() {
    println!("Hello from wasmpool!");
}
