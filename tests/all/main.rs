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
mod delete;
mod durability;
mod fuzz;
mod habits;
mod harness;
mod isolation;
mod lanes;
mod live;
mod logs;
mod map;
mod openapi;
mod pool;
mod postgres;
mod queues;
mod readme;
mod run;
mod sandbox;
mod schedules;
mod server;
mod service;
mod web_safety;
