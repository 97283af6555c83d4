//! Guest `reactor`: a core module (WASI preview 1 reactor: `_initialize` and numeric exports,
//! no `_start`) for the tests of calls on core modules (`tests/all/calls.rs`).

use std::sync::atomic::{AtomicI32, Ordering};

/// Set by `_initialize`: a call made without it would see 0.
static READY: AtomicI32 = AtomicI32::new(0);

/// The reactor's initialiser, which the host runs once before a call (a cdylib for
/// wasm32-wasip1 gets none of its own).
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    READY.store(1, Ordering::SeqCst);
}

/// `a + b`, wrapping.
#[unsafe(no_mangle)]
pub extern "C" fn add(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}

/// `n!` as an i64 (wrapping).
#[unsafe(no_mangle)]
pub extern "C" fn factorial(n: i64) -> i64 {
    (1..=n).fold(1i64, i64::wrapping_mul)
}

/// `x * y`.
#[unsafe(no_mangle)]
pub extern "C" fn scale(x: f64, y: f32) -> f64 {
    x * f64::from(y)
}

/// 1 once `_initialize` ran.
#[unsafe(no_mangle)]
pub extern "C" fn ready() -> i32 {
    READY.load(Ordering::SeqCst)
}

/// Traps.
#[unsafe(no_mangle)]
pub extern "C" fn boom() -> i32 {
    std::process::abort()
}
