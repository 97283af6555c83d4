//! Test artifacts: the guest programs in `<repo>/guest`, built by `build.rs`.
//!
//! Each constant is the absolute path of a built `.wasm` file. The plain
//! names (`HELLO`, `ECHO`, `FIB`, `SPIN`, `MEMHOG`, `SLEEPER`, `EXIT_CODE`,
//! `TRAP`, `LONG_TIME_TASK`, `PROBE`) are preview-1 core modules built for
//! `wasm32-wasip1`; the `*_COMPONENT` names (`HELLO_COMPONENT`,
//! `ECHO_COMPONENT`, `PROBE_COMPONENT`) are the same programs as preview-2
//! components built for `wasm32-wasip2`.
//!
//! `QUEUE_WRITER`, `QUEUE_READER` and `SQUARE` are components only (built for
//! `wasm32-wasip2`, no preview-1 build): they import the `wasmpool:task` world
//! (`<repo>/wit/task.wit`: `queue`, `progress`, `job`) on top of WASI, so the
//! host must link those interfaces to run them.
//!
//! See each program's `src/main.rs` for what it does.

#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/paths.rs"));
