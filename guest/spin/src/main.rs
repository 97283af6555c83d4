//! Guest `spin`: loops forever without exiting.
//!
//! Used to test that the host can interrupt a runaway job (timeouts,
//! epoch interruption, fuel exhaustion, cancellation).

use std::hint::black_box;

fn main() {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}
