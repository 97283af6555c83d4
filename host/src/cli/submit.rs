//! `wasmpool submit`: one job to a running service, like `apply_async`; prints its id so
//! scripts can keep it, or, with `--wait`, behaves as `wasmpool wait` on it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use clap::Args;

use super::remote::RemoteOptions;
use super::wait::wait_and_report;
use crate::client::Client;
use crate::units::{parse_duration, parse_size};
use crate::wire::JobRequest;

/// Submit a job to a running service and print its id. MODULE is an uploaded module's hash
/// or name, or a path to a .wasm file, which is uploaded first.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  id=$(wasmpool submit hello.wasm)
  wasmpool submit --name nightly --priority 5 --timeout 2s --memory 64MiB fib -- 30
  wasmpool submit --stdin input.txt --wait echo          (exits with the job's exit code)
  wasmpool submit --idempotency-key build-1234 task.wasm")]
pub struct SubmitCommand {
    #[command(flatten)]
    remote: RemoteOptions,
    /// A label for the job.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Higher runs first (-1000..=1000, default 0).
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    priority: Option<i32>,
    /// Set an environment variable for the guest (repeatable).
    #[arg(long = "env", short = 'e', value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Feed this file to the guest's stdin (`-` for this command's stdin).
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,
    /// Stop the job after this long (e.g. 500ms, 1s, 2m; default set by the service).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Most linear memory the guest may use, rounded up to whole MiB (e.g. 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Fuel the guest may burn; unmetered if not given.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Attempts in all, counting the first (default 1: no retry).
    #[arg(long, value_name = "N")]
    max_attempts: Option<u32>,
    /// Do not start the job before this long has passed.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    delay: Option<Duration>,
    /// Submitting again with the same key yields the same job instead of a new one.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Wait for the job, print its output and exit with its exit code (as `wasmpool wait`).
    #[arg(long)]
    wait: bool,
    /// The module's hash or name, or a .wasm file to upload first.
    module: String,
    /// Arguments passed to the program.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl SubmitCommand {
    /// Submits the job and prints its id (or waits for it).
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let stdin = self.stdin.as_deref().map(read_stdin).transpose()?;
        self.remote.run(async |client| {
            let module = self.module_ref(&client).await?;
            let request = self.request(module, stdin);
            let accepted = client.submit(&request, self.idempotency_key.as_deref()).await?;
            if self.wait {
                return wait_and_report(&client, accepted.id, None, self.remote.json).await;
            }
            if !self.remote.print_json(&accepted)? {
                println!("{}", accepted.id);
            }
            Ok(ExitCode::SUCCESS)
        })
    }

    /// The module to name in the request: an existing file wins over a module of the same
    /// name on the server, and is submitted by the hash its upload returns.
    async fn module_ref(&self, client: &Client) -> anyhow::Result<String> {
        let path = Path::new(&self.module);
        if !path.is_file() {
            return Ok(self.module.clone());
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(client.upload(bytes, None).await?.hash)
    }

    fn request(&self, module: String, stdin: Option<Vec<u8>>) -> JobRequest {
        let (stdin, stdin_base64) = match stdin.map(String::from_utf8) {
            None => (None, None),
            Some(Ok(text)) => (Some(text), None),
            Some(Err(error)) => {
                (None, Some(base64::engine::general_purpose::STANDARD.encode(error.as_bytes())))
            }
        };
        JobRequest {
            module,
            args: self.args.clone(),
            env: self.env.iter().cloned().collect::<BTreeMap<_, _>>(),
            stdin,
            stdin_base64,
            name: self.name.clone(),
            priority: self.priority,
            timeout_ms: self.timeout.map(millis_ceil),
            memory_mb: self.memory.map(|bytes| bytes.div_ceil(1 << 20)),
            fuel: self.fuel,
            max_attempts: self.max_attempts,
            delay_ms: self.delay.map(millis_ceil),
        }
    }
}

/// Whole milliseconds, rounded up so that a short but non-zero duration never becomes 0.
fn millis_ceil(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

fn read_stdin(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin().lock().read_to_end(&mut bytes).context("cannot read stdin")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not K=V")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        submit: SubmitCommand,
    }

    fn parse(args: &[&str]) -> SubmitCommand {
        let argv = std::iter::once("submit").chain(args.iter().copied());
        Cli::try_parse_from(argv).expect("valid arguments").submit
    }

    #[test]
    fn requests_carry_units_the_service_expects() {
        let command = parse(&[
            "--memory",
            "1.5MiB",
            "--timeout",
            "1.5s",
            "--delay",
            "10us",
            "--priority",
            "-5",
            "-e",
            "K=a=b",
            "fib",
            "--",
            "-n",
            "30",
        ]);
        let request = command.request("fib".into(), None);
        assert_eq!(request.memory_mb, Some(2));
        assert_eq!(request.timeout_ms, Some(1500));
        assert_eq!(request.delay_ms, Some(1));
        assert_eq!(request.priority, Some(-5));
        assert_eq!(request.env.get("K").map(String::as_str), Some("a=b"));
        assert_eq!(request.args, ["-n", "30"]);
        assert_eq!(
            parse(&["--memory", "64MiB", "m"]).request("m".into(), None).memory_mb,
            Some(64)
        );
    }

    #[test]
    fn stdin_is_text_when_it_can_be() {
        let command = parse(&["m"]);
        let text = command.request("m".into(), Some(b"hi\n".to_vec()));
        assert_eq!((text.stdin.as_deref(), text.stdin_base64), (Some("hi\n"), None));
        let binary = command.request("m".into(), Some(vec![0xff, 0]));
        assert_eq!((binary.stdin, binary.stdin_base64.as_deref()), (None, Some("/wA=")));
    }

    #[test]
    fn options_stop_at_the_first_guest_argument() {
        let command = parse(&["fib", "--json", "x", "--wait"]);
        assert!(command.remote.json && !command.wait);
        assert_eq!(command.args, ["x", "--wait"]);
    }

    #[test]
    fn bad_env_is_a_usage_error() {
        assert!(parse_env("=x").is_err());
        assert!(parse_env("novalue").is_err());
        assert_eq!(parse_env("K="), Ok(("K".into(), String::new())));
    }
}
