//! `wasmpool compile`: the hidden verb the service compiles uploads with, in a process of its
//! own under limits (see `compile_process.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::sandbox::Flavor;

/// Internal: validates and compiles the module on stdin into the artifact cache, under
/// memory and CPU limits, and answers with one JSON line. Started by the service.
#[derive(Debug, Args)]
pub struct CompileCommand {
    /// The compiled-artifact cache.
    #[arg(long)]
    cache: PathBuf,
    /// `plain` or `fuel`.
    #[arg(long, value_parser = Flavor::parse)]
    flavor: Flavor,
    /// Heap the compile may use, in bytes.
    #[arg(long)]
    memory: u64,
    /// CPU time the compile may use, in seconds.
    #[arg(long)]
    cpu_seconds: u64,
}

impl CompileCommand {
    /// Compiles; exits 0 if the module compiled, 1 if it was refused.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let compiled = crate::compile_process::child_main(
            &self.cache,
            self.flavor,
            self.memory,
            self.cpu_seconds,
        );
        Ok(if compiled { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}
