//! Options shared by the verbs that run jobs locally: what a job is given and its limits.

use std::time::Duration;

use clap::Args;

use crate::job::{DEFAULT_MEMORY_BYTES, DEFAULT_OUTPUT_BYTES, DirGrant, Limits};
use crate::units::{parse_duration, parse_size};

/// A job's environment, directories and limits.
#[derive(Debug, Clone, Args)]
pub struct JobOptions {
    /// Set an environment variable for the guest; NAME alone passes this command's own
    /// value of NAME (repeatable).
    #[arg(long = "env", short = 'e', value_name = "NAME[=VALUE]", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Also give the guest WASMPOOL_JOB_ID and WASMPOOL_WORKER_PID in its environment
    /// (otherwise it sees exactly the --env variables).
    #[arg(long)]
    pub job_env: bool,
    /// Grant a host directory, read-write, as GUEST (default: the same path); a `:ro`
    /// suffix makes it read-only (repeatable).
    #[arg(long = "dir", value_name = "HOST[::GUEST][:ro]")]
    pub dirs: Vec<DirGrant>,
    /// Stop the job after this long (e.g. 500ms, 1s, 2m; a bare number is seconds).
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

/// One WebAssembly page.
const WASM_PAGE_BYTES: u64 = 64 << 10;

// Keep the documented defaults and the library's in step.
const _: () = assert!(DEFAULT_MEMORY_BYTES == 512 << 20 && DEFAULT_OUTPUT_BYTES == 1 << 20);

/// MODULE and the guest's arguments: everything after MODULE is the guest's, flags included,
/// as in `wasmtime run` and `docker run`.
#[derive(Debug, Clone, Args)]
pub struct GuestCommand {
    /// The WASI program, then its arguments. Every word after MODULE goes to the guest,
    /// `--help` and other flags included; a `--` right after MODULE is dropped.
    #[arg(
        value_name = "MODULE",
        required = true,
        num_args = 1..,
        // Not `allow_hyphen_values`: a mistyped option before MODULE (`--timout 5s x.wasm`)
        // must be clap's error with its tip, not taken for MODULE. Once MODULE is given,
        // `trailing_var_arg` takes every word after it as it is.
        trailing_var_arg = true
    )]
    words: Vec<String>,
}

impl GuestCommand {
    /// MODULE, as given.
    pub fn module(&self) -> &str {
        &self.words[0]
    }

    /// The arguments after MODULE, without a `--` that separates them from it.
    pub fn args(&self) -> &[String] {
        let args = &self.words[1..];
        match args.first() {
            Some(first) if first == "--" => &args[1..],
            _ => args,
        }
    }
}

/// `NAME=VALUE`, or `NAME` alone for this process's value of NAME (as `wasmtime run --env`).
pub fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        Some(_) => Err(format!("`{text}` is not NAME=VALUE or NAME")),
        None if text.is_empty() => Err("an empty variable name".to_string()),
        None => match std::env::var(text) {
            Ok(value) => Ok((text.to_string(), value)),
            Err(std::env::VarError::NotPresent) => Err(format!(
                "`{text}` is not set here to pass on: give {text}=VALUE, or set {text}"
            )),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("`{text}` is set here, but not to UTF-8 text"))
            }
        },
    }
}

/// A job's `--mount NAME=PATH[:ro]`: the service's directory NAME at the guest's PATH.
pub fn parse_mount(text: &str) -> Result<crate::wire::Mount, String> {
    let (name, rest) = text
        .split_once('=')
        .filter(|(name, rest)| !name.is_empty() && !rest.is_empty())
        .ok_or_else(|| format!("`{text}` is not NAME=PATH or NAME=PATH:ro"))?;
    let (path, read_only) = match rest.strip_suffix(":ro") {
        Some(path) => (path, true),
        None => (rest, false),
    };
    Ok(crate::wire::Mount { name: name.to_string(), path: path.to_string(), read_only })
}

/// A memory limit: at least one 64 KiB WebAssembly page (a bare number is bytes, so
/// `--memory 64` would be 64 bytes, which nothing runs in), at most the wasm32 limit.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    if bytes < WASM_PAGE_BYTES {
        let number = text.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic()).trim_end();
        let hint = if bytes == 0 { String::new() } else { format!("; did you mean {number}MiB?") };
        return Err(format!("a memory limit below one 64 KiB page cannot run anything{hint}"));
    }
    let max = crate::sandbox::MAX_MEMORY_BYTES;
    if bytes > max {
        return Err(format!("at most {} (the wasm32 limit)", crate::units::format_size(max)));
    }
    Ok(bytes)
}
