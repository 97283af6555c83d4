//! wasmpool's messages, without its machinery: the framed IPC protocol between the
//! supervisor and its workers ([`ipc`]), the job data those frames carry ([`job`]), the HTTP
//! API's JSON shapes ([`wire`]), and the pure checks that turn a submission into a job
//! ([`validate`], [`run_query`]).
//!
//! It lives apart from the `wasmpool` crate so that what parses untrusted bytes can be built
//! and fuzzed (`fuzz/`) without wasmtime, axum or a database. The `wasmpool` crate
//! re-exports these modules under their old paths.

pub mod call;
pub mod ipc;
pub mod job;
pub mod run_query;
pub mod units;
pub mod validate;
pub mod wire;
pub mod workflow;
