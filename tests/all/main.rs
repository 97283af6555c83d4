//! wasmpool's integration tests: one binary, real worker processes, real wasmtime.
//! Guests come from the `artifacts` crate, whose build script compiles `guest/`.

mod bad_input;
mod client;
mod cluster;
mod conformance;
mod connections;
mod dashboard;
mod datadir;
mod durability;
mod harness;
mod isolation;
mod live;
mod logs;
mod map;
mod pool;
mod postgres;
mod queues;
mod run;
mod sandbox;
mod server;
mod service;
mod web_safety;
