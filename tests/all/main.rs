//! wasmpool's integration tests: one binary, real worker processes, real wasmtime.
//! Guests come from the `artifacts` crate, whose build script compiles `guest/`.

mod bad_input;
mod bulk;
mod cli;
mod client;
mod cluster;
mod conformance;
mod connections;
mod dashboard;
mod datadir;
mod durability;
mod edges;
mod edges_service;
mod fuzz;
mod harness;
mod isolation;
mod lanes;
mod listing;
mod live;
mod logs;
mod map;
mod openapi;
mod pool;
mod postgres;
mod python;
mod python_client;
mod queues;
mod readme;
mod run;
mod sandbox;
mod schedules;
mod server;
mod service;
mod wasi_coverage;
mod web_safety;
