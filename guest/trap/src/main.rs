//! Guest `trap`: prints `about to trap`, then executes a WebAssembly trap.
//!
//! The trap is a real `unreachable` instruction, not a Rust panic, so this
//! tests how the host reports a guest that traps.

use std::io::Write;

fn main() {
    println!("about to trap");
    let _ = std::io::stdout().flush();
    core::arch::wasm32::unreachable();
}
