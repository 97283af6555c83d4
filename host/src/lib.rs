//! wasmpool: a job pool for WebAssembly.
//!
//! Users hand wasmpool WASI programs; it runs each job on a pool of isolated worker
//! processes, one job per worker at a time, inside a wasmtime sandbox. Data flows one way:
//! CLI → [`pool`] (supervisor) → [`ipc`] → [`worker`] process → [`sandbox`] → result.
//! `docs/ARCHITECTURE.md` describes the parts and the contracts between them.

// The messages live in their own crate (no wasmtime) so they can be fuzzed; their old paths
// stay valid for the rest of the host.
pub use wasmpool_protocol::{call, ipc, job, units, wire};

pub mod api;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod compile_process;
pub mod confine;
pub mod datadir;
pub mod dispatcher;
pub mod http;
pub mod lanes;
pub mod library;
pub mod live;
pub mod metrics;
pub mod mounts;
pub mod pool;
pub mod queues;
pub mod sandbox;
pub mod schedule;
pub mod scheduler;
pub mod service;
pub mod shutdown;
pub mod spawns;
pub mod store;
pub mod worker;
