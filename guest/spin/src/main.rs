//! Guest `spin [MESSAGE]`: prints MESSAGE (if given), then loops forever without exiting.
//!
//! Used to test that the host can interrupt a runaway job (timeouts, the watchdog, epoch
//! interruption, fuel exhaustion, cancellation), keeping what it wrote before.

use std::hint::black_box;

fn main() {
    if let Some(message) = std::env::args().nth(1) {
        println!("{message}");
    }
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}
