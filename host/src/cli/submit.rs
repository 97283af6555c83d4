//! `wasmpool submit`: one job to a running service, like `apply_async`; prints its id so
//! scripts can keep it, or, with `--wait`, behaves as `wasmpool wait` on it.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use clap::Args;

use super::call::{report, with_call};
use super::options::{GuestCommand, parse_env, parse_memory, parse_mount};
use super::remote::RemoteOptions;
use super::wait::wait_and_report;
use crate::client::{Client, ClientError};
use crate::units::{format_duration_like, parse_duration};
use crate::wire::JobRequest;
use wasmpool_protocol::workflow::After;

/// Submit a job to a running service and print its id. MODULE is an uploaded module's hash
/// or name, or a path to a .wasm file, which is uploaded first. wasmpool's options go before
/// MODULE; everything after it is the guest's, flags included.
#[derive(Debug, Args)]
#[command(
    override_usage = "wasmpool submit [OPTIONS] MODULE [ARGS]...",
    after_help = "Examples:
  id=$(wasmpool submit hello.wasm)
  wasmpool submit --name nightly --priority 5 --timeout 2s --memory 64MiB fib 30
  echo hi | wasmpool submit --wait echo          (piped stdin is the job's; exits with its code)
  wasmpool submit --wait task.wasm --help         (--help is the guest's)
  wasmpool submit --idempotency-key build-1234 task.wasm
  wasmpool submit --after 41 --after 42 report.wasm   (waits until jobs 41 and 42 ended)"
)]
pub struct SubmitCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(flatten)]
    job: JobOptions,
    /// Submitting again with the same key yields the same job instead of a new one.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Wait for the job, print its output and exit with its exit code (as `wasmpool wait`).
    #[arg(long)]
    wait: bool,
    /// Call an exported function instead of running MODULE as a command: FUNCTION(ARGS…) in
    /// WAVE, e.g. 'square(7)' (as `wasmpool call`; no guest arguments then).
    #[arg(long, value_name = "CALL")]
    call: Option<String>,
    /// Run after this job has ended (repeatable: after all of them); the job waits
    /// (`waiting`) until then.
    #[arg(long, value_name = "ID")]
    after: Vec<i64>,
    /// What the job does if a job it runs after fails: cancel (the default), run, or skip.
    #[arg(long, value_name = "MODE", requires = "after")]
    on_parent_failure: Option<wasmpool_protocol::workflow::ParentFailure>,
    #[command(flatten)]
    guest: GuestCommand,
}

/// What describes a job besides its module and arguments: shared by `submit` and
/// `schedule add`, whose jobs are the same requests.
#[derive(Debug, Args)]
pub(super) struct JobOptions {
    /// A label for the job.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Higher runs first (-1000..=1000, default 0).
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    priority: Option<i32>,
    /// Set an environment variable for the guest; NAME alone passes this command's own
    /// value of NAME (repeatable).
    #[arg(long = "env", short = 'e', value_name = "NAME[=VALUE]", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Also give the guest WASMPOOL_JOB_ID and WASMPOOL_WORKER_PID in its environment
    /// (otherwise it sees exactly the --env variables).
    #[arg(long)]
    job_env: bool,
    /// The program name the guest sees as argv[0] (default: the module's short hash and
    /// `.wasm`).
    #[arg(long, value_name = "NAME")]
    argv0: Option<String>,
    /// Feed this file to the guest's stdin (`-` for this command's stdin, which is also the
    /// default when it is a pipe or a file rather than a terminal).
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,
    /// Stop the job after this long (e.g. 500ms, 1s, 2m; a bare number is seconds; default
    /// set by the service).
    #[arg(long, value_name = "DUR", value_parser = Typed::parse)]
    timeout: Option<Typed>,
    /// Most linear memory the guest may use, rounded up to whole MiB (e.g. 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    memory: Option<u64>,
    /// Fuel the guest may burn; unmetered if not given.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Attempts in all, counting the first (default 1: no retry).
    #[arg(long, value_name = "N")]
    max_attempts: Option<u32>,
    /// Do not start the job before this long has passed (a bare number is seconds).
    #[arg(long, value_name = "DUR", value_parser = Typed::parse)]
    delay: Option<Typed>,
    /// The lane whose workers run the job (default `default`; see `serve --lane`).
    #[arg(long, value_name = "LANE")]
    lane: Option<String>,
    /// Grant the guest the service's directory NAME (see `serve --mount`) at PATH, read-only
    /// with `:ro` (repeatable).
    #[arg(long = "mount", value_name = "NAME=PATH[:ro]", value_parser = parse_mount)]
    mounts: Vec<crate::wire::Mount>,
    /// Run at most `--concurrency-limit` jobs with this key at once, across every host.
    #[arg(long, value_name = "KEY")]
    concurrency_key: Option<String>,
    /// How many jobs with its `--concurrency-key` may run at once (default 1).
    #[arg(long, value_name = "N", requires = "concurrency_key")]
    concurrency_limit: Option<u32>,
    /// A rate limit of the tenant's the job uses (see `wasmpool limits`; repeatable).
    #[arg(long = "rate-limit", value_name = "NAME")]
    rate_limits: Vec<String>,
}

impl SubmitCommand {
    /// Submits the job and prints its id (or waits for it).
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let stdin = self.job.read_stdin()?;
        self.remote.run(async |client| {
            let module = module_ref(&client, &self.guest, true).await?;
            let mut request = self.request(module.clone(), stdin);
            let exports = match &self.call {
                Some(_) if !request.args.is_empty() => {
                    return Err(super::UsageError(
                        "a call takes its arguments in CALL, not after MODULE".into(),
                    )
                    .into());
                }
                Some(call) => Some(with_call(&client, &module, call, &mut request).await?),
                None => None,
            };
            let accepted = client
                .submit(&request, self.idempotency_key.as_deref())
                .await
                .map_err(|error| self.job.in_users_terms(error))?;
            if self.wait {
                if let Some(exports) = &exports {
                    let job = super::wait::wait_for(&client, accepted.id, None).await?;
                    return report(&job, exports, self.remote.json);
                }
                return wait_and_report(&client, accepted.id, None, self.remote.json).await;
            }
            if !self.remote.print_json(&accepted)? {
                println!("{}", accepted.id);
            }
            Ok(ExitCode::SUCCESS)
        })
    }

    fn request(&self, module: String, stdin: Option<Vec<u8>>) -> JobRequest {
        let mut request = self.job.request(&self.guest, module, stdin);
        request.after = self.after.iter().map(|&id| After::Job(id)).collect();
        request.on_parent_failure = self.on_parent_failure;
        request
    }
}

/// The module to name in the request: an existing file wins over a module of the same name
/// on the server, and is uploaded named after its stem (as the dashboard names uploads). A MODULE with a `/` in it is
/// a path: one that names no file is not a module's name either (names cannot hold `/`),
/// so it fails as a file that cannot be read.
/// With `by_name` false the job names the upload by its hash (a schedule's jobs stay on
/// these bytes when a later upload takes the name over).
pub(super) async fn module_ref(
    client: &Client,
    guest: &GuestCommand,
    by_name: bool,
) -> anyhow::Result<String> {
    module_ref_of(client, guest.module(), by_name).await
}

/// [`module_ref`] of MODULE as given.
pub(super) async fn module_ref_of(
    client: &Client,
    module: &str,
    by_name: bool,
) -> anyhow::Result<String> {
    let path = Path::new(module);
    if !path.is_file() && !module.contains('/') {
        return Ok(module.to_string());
    }
    let bytes = super::read_input(path)?;
    let name = name_for(path);
    let uploaded = client.upload(bytes, name.as_deref()).await?;
    // Submitted by the name it now has, the job lists and logs under that name (a job
    // submitted by hash carries none); the name was pointed at these bytes just now.
    Ok(match name {
        Some(name) if by_name && uploaded.names.contains(&name) => name,
        _ => uploaded.hash,
    })
}

/// The name an uploaded file gets, as the dashboard gives it: the file's stem, with what a
/// module name cannot hold turned to `-` (none if nothing is left, or it would read as a hash).
fn name_for(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_string_lossy();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let name: String = stem.chars().map(|c| if allowed(c) { c } else { '-' }).take(100).collect();
    let hash_like = name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit());
    (!name.is_empty() && name != "." && name != ".." && !hash_like).then_some(name)
}

impl JobOptions {
    /// The service names its maxima for `timeout_ms` and `delay_ms` in milliseconds, as the
    /// API takes them; say them in the unit the option was given in (`--timeout 2h` → "at most
    /// 1h", `--delay 30d` → "at most 7d").
    pub(super) fn in_users_terms(&self, error: ClientError) -> ClientError {
        let ClientError::Api { status: 400, code, message } = &error else { return error };
        // A schedule's refusal names the job first ("job: timeout_ms …").
        let message = message.strip_prefix("job: ").unwrap_or(message);
        let options =
            [("--timeout", "timeout_ms ", &self.timeout), ("--delay", "delay_ms ", &self.delay)];
        for (option, field, given) in options {
            let (Some(given), true) = (given, message.starts_with(field)) else { continue };
            let max_ms = ["at most ", "maximum of "]
                .into_iter()
                .find_map(|words| message.split_once(words))
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|figure| figure.parse::<u64>().ok());
            let Some(max_ms) = max_ms else { return error };
            let max = format_duration_like(Duration::from_millis(max_ms), &given.text);
            return ClientError::Api {
                status: 400,
                code: code.clone(),
                message: format!(
                    "{option} {} is above the service's maximum: at most {max}",
                    given.text
                ),
            };
        }
        error
    }

    /// The job's stdin: `--stdin FILE` (`-` for ours), else this process's stdin when it is
    /// a pipe or a file, as `run` does (a terminal is not read: it would wait for Ctrl-D).
    pub(super) fn read_stdin(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let read_ours = || {
            let mut bytes = Vec::new();
            std::io::stdin().lock().read_to_end(&mut bytes).context("cannot read stdin")?;
            anyhow::Ok(bytes)
        };
        match &self.stdin {
            Some(path) if path != Path::new("-") => Ok(Some(super::read_input(path)?)),
            Some(_) => read_ours().map(Some),
            None if std::io::stdin().is_terminal() => Ok(None),
            // Nothing piped in is no stdin, not an empty one to send.
            None => read_ours().map(|bytes| (!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// The job request for `module` (as [`module_ref`] names it) and the guest's words.
    pub(super) fn request(
        &self,
        guest: &GuestCommand,
        module: String,
        stdin: Option<Vec<u8>>,
    ) -> JobRequest {
        self.request_for(module, guest.args().to_vec(), stdin)
    }

    /// The job request for `module` with these arguments.
    pub(super) fn request_for(
        &self,
        module: String,
        args: Vec<String>,
        stdin: Option<Vec<u8>>,
    ) -> JobRequest {
        let (stdin, stdin_base64) = match stdin.map(String::from_utf8) {
            None => (None, None),
            Some(Ok(text)) => (Some(text), None),
            Some(Err(error)) => {
                (None, Some(base64::engine::general_purpose::STANDARD.encode(error.as_bytes())))
            }
        };
        JobRequest {
            module,
            args,
            env: self.env.iter().cloned().collect::<BTreeMap<_, _>>(),
            argv0: self.argv0.clone(),
            job_env: self.job_env,
            stdin,
            stdin_base64,
            name: self.name.clone(),
            priority: self.priority,
            timeout_ms: self.timeout.as_ref().map(|timeout| millis_ceil(timeout.value)),
            memory_mb: self.memory.map(|bytes| bytes.div_ceil(1 << 20)),
            fuel: self.fuel,
            max_attempts: self.max_attempts,
            delay_ms: self.delay.as_ref().map(|delay| millis_ceil(delay.value)),
            lane: self.lane.clone(),
            call: None,
            params: None,
            mounts: self.mounts.clone(),
            after: Vec::new(),
            on_parent_failure: None,
            stdin_from_parents: false,
            params_from_parents: false,
            concurrency_key: self.concurrency_key.clone(),
            concurrency_limit: self.concurrency_limit,
            rate_limits: self.rate_limits.clone(),
        }
    }
}

/// A duration as typed and as read: messages answer in the unit it was typed in.
#[derive(Debug, Clone)]
struct Typed {
    text: String,
    value: Duration,
}

impl Typed {
    fn parse(text: &str) -> Result<Typed, String> {
        Ok(Typed { text: text.trim().to_string(), value: parse_duration(text)? })
    }
}

/// Whole milliseconds, rounded up so that a short but non-zero duration never becomes 0.
fn millis_ceil(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
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
    fn everything_after_the_module_is_the_guests() {
        let command = parse(&["--argv0", "calc", "fib", "--json", "x", "--wait", "--help"]);
        assert!(!command.remote.json && !command.wait);
        let request = command.request("fib".into(), None);
        assert_eq!(request.args, ["--json", "x", "--wait", "--help"]);
        assert_eq!(request.argv0.as_deref(), Some("calc"));
        // A `--` right after MODULE only separates; a later one is the guest's.
        assert_eq!(parse(&["fib", "--", "--", "-n"]).guest.args(), ["--", "-n"]);
    }

    #[test]
    fn an_uploaded_file_is_named_after_its_stem() {
        assert_eq!(name_for(Path::new("path/to/exit-code.wasm")).as_deref(), Some("exit-code"));
        assert_eq!(name_for(Path::new("my task (v2).wasm")).as_deref(), Some("my-task--v2-"));
        assert_eq!(name_for(Path::new(&format!("{}.wasm", "a".repeat(64)))), None);
    }

    #[test]
    fn env_takes_a_value_or_passes_ours() {
        assert!(parse_env("=x").is_err());
        assert!(parse_env("WASMPOOL_SURELY_UNSET_VARIABLE").is_err());
        assert_eq!(parse_env("K="), Ok(("K".into(), String::new())));
        let path = std::env::var("PATH").expect("tests run with a PATH");
        assert_eq!(parse_env("PATH"), Ok(("PATH".into(), path)));
    }
}
