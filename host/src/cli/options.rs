//! Options shared by the verbs that run jobs locally: what a job is given and its limits.

use std::time::Duration;

use clap::Args;

use crate::job::{DEFAULT_MEMORY_BYTES, DEFAULT_OUTPUT_BYTES, DirGrant, Limits};
use crate::units::{parse_duration, parse_size};

/// A job's environment, directories and limits.
#[derive(Debug, Clone, Args)]
pub struct JobOptions {
    /// Set an environment variable for the guest (repeatable).
    #[arg(long = "env", short = 'e', value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Grant a host directory, read-write, as GUEST (default: the same path); a `:ro`
    /// suffix makes it read-only (repeatable).
    #[arg(long = "dir", value_name = "HOST[::GUEST][:ro]")]
    pub dirs: Vec<DirGrant>,
    /// Stop the job after this long (e.g. 500ms, 1s, 2m).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Most linear memory the guest may use (e.g. 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory, default_value = "512MiB")]
    pub memory: u64,
    /// Fuel the guest may burn (about one unit per WebAssembly instruction); unmetered if
    /// not given.
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Most bytes kept of each of stdout and stderr; the rest is cut (e.g. 1MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1MiB")]
    pub output_limit: u64,
}

impl JobOptions {
    /// The limits these options set.
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: self.timeout,
            memory_bytes: self.memory,
            fuel: self.fuel,
            output_bytes: self.output_limit,
        }
    }
}

// Keep the documented defaults and the library's in step.
const _: () = assert!(DEFAULT_MEMORY_BYTES == 512 << 20 && DEFAULT_OUTPUT_BYTES == 1 << 20);

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not K=V")),
    }
}

fn parse_memory(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    let max = crate::sandbox::MAX_MEMORY_BYTES;
    if bytes > max {
        return Err(format!("at most {} (the wasm32 limit)", crate::units::format_size(max)));
    }
    Ok(bytes)
}
