//! The command line: one file per verb, each a clap struct with an `execute` that calls
//! the library. Nothing here runs jobs itself.

mod build;
mod call;
mod cancel;
mod compile;
mod completions;
mod delete;
mod filters;
mod jobs;
mod limits;
mod local;
mod logging;
mod logs;
mod map;
mod map_input;
mod map_output;
mod map_progress;
mod modules;
mod nodes;
mod notice;
mod options;
mod pool_cmd;
mod queue;
mod remote;
mod retry;
mod run;
mod schedule;
mod serve;
mod status;
mod submit;
mod tenants;
mod tokens;
mod upload;
mod wait;
mod watch;
mod wave;
mod worker;
mod workflow;

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

/// `wasmpool --version`: this version, the wasmtime inside, and the git revision built.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (wasmtime ",
    env!("WASMPOOL_WASMTIME_VERSION"),
    ", git ",
    env!("WASMPOOL_GIT_REVISION"),
    ")"
);

/// A job pool for WebAssembly: runs WASI programs on sandboxed worker processes.
#[derive(Debug, Parser)]
#[command(name = "wasmpool", version = VERSION, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    leading: remote::LeadingOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// How log lines on stderr are written: `text`, or `json` (one object per line, for log
    /// collectors).
    #[arg(long, global = true, value_enum, env = "WASMPOOL_LOG_FORMAT", default_value_t)]
    pub log_format: logging::LogFormat,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one job in a sandboxed worker process and exit with its exit code.
    Run(run::RunCommand),
    /// Run one job per argument on a local pool of worker processes.
    Map(map::MapCommand),
    /// Run the service: the pool behind a durable queue and an HTTP API.
    Serve(serve::ServeCommand),
    /// Upload a module to a running service.
    Upload(upload::UploadCommand),
    /// Submit a job to a running service and print its id.
    Submit(submit::SubmitCommand),
    /// Call an exported function of a module on a running service and print its result.
    Call(call::CallCommand),
    /// Show a job of a running service.
    Status(status::StatusCommand),
    /// Wait for a job to end, print its output and exit with its exit code.
    Wait(wait::WaitCommand),
    /// Print a job's output; with -f, follow it while the job runs.
    Logs(logs::LogsCommand),
    /// Cancel a queued or running job, or every one a filter selects; with --delete, remove
    /// a job, ended or not.
    Cancel(cancel::CancelCommand),
    /// Delete an ended job, or every ended job a filter selects.
    Delete(delete::DeleteCommand),
    /// List jobs, newest first.
    Jobs(jobs::JobsCommand),
    /// List or delete the service's modules.
    Modules(modules::ModulesCommand),
    /// Show the service's worker pool, or pause or resume it.
    Pool(pool_cmd::PoolCommand),
    /// List the hosts of the service's cluster: alive, lost or left.
    Nodes(nodes::NodesCommand),
    /// Put items on the service's named queues, take them off, list them.
    Queue(queue::QueueCommand),
    /// Queue an ended job again, or every one a filter selects.
    Retry(retry::RetryCommand),
    /// Add, list, remove, pause or resume schedules: jobs submitted at every cron tick.
    Schedule(schedule::ScheduleCommand),
    /// Submit, show, cancel or retry workflows: jobs that run after one another.
    Workflow(workflow::WorkflowCommand),
    /// Make, list or revoke tenants' tokens.
    Tokens(tokens::TokensCommand),
    /// Show or set a tenant's quotas.
    Tenants(tenants::TenantsCommand),
    /// Set, list or remove the tenant's named rate limits.
    Limits(limits::LimitsCommand),
    /// Build a Python task into a component with componentize-py.
    Build(build::BuildCommand),
    /// Print a shell completion script: bash, zsh or fish.
    Completions(completions::CompletionsCommand),
    /// Internal: the worker process the pool starts (not for direct use).
    #[command(hide = true)]
    Worker(worker::WorkerCommand),
    /// Internal: compiles an upload in a process of its own (not for direct use).
    #[command(hide = true)]
    Compile(compile::CompileCommand),
}

impl Cli {
    /// Parses this process's arguments, exiting as clap does (2, or 0 for `--help`) on a
    /// usage error. Client options given before the verb (`wasmpool --server URL jobs`)
    /// apply to it unless it is given them again after its name.
    pub fn from_env() -> Cli {
        let mut command = Cli::command();
        let matches = command.get_matches_mut();
        let mut cli =
            Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
        if let Err(error) = cli.apply_leading(&matches) {
            command.error(clap::error::ErrorKind::ArgumentConflict, error).exit();
        }
        cli
    }

    /// Hands the options given before the verb to the verb's own.
    fn apply_leading(&mut self, matches: &ArgMatches) -> Result<(), String> {
        let leading = &self.leading;
        let Some((verb, verb_matches)) = matches.subcommand() else { return Ok(()) };
        let Some(remote) = self.command.remote_mut() else {
            return match leading.given() {
                Some(option) => Err(format!("{option} is for the client verbs, not `{verb}`")),
                None => Ok(()),
            };
        };
        if let Some(server) = &leading.server
            && !given_after(verb_matches, "server")
        {
            remote.server = server.clone();
        }
        if let Some(token) = &leading.token
            && !given_after(verb_matches, "token")
        {
            remote.token = Some(token.clone());
        }
        remote.json |= leading.json;
        Ok(())
    }

    /// Sets up logging to stderr in the chosen format. Unless `RUST_LOG` says otherwise,
    /// `serve` logs wasmpool's own events from `info` (a line per request and per job
    /// transition: what an operator reads) and everything else from `warn`; the other verbs
    /// log warnings only, so their output is not mixed with log lines.
    pub fn init_tracing(&self) {
        let default = match self.command {
            Command::Serve(_) => "warn,wasmpool=info",
            _ => "warn",
        };
        logging::init(self.log_format, default);
    }

    /// Runs the chosen verb and returns the process exit code.
    pub fn execute(self) -> ExitCode {
        let result = match self.command {
            Command::Run(command) => command.execute(),
            Command::Map(command) => command.execute(),
            Command::Serve(command) => command.execute(),
            Command::Upload(command) => command.execute(),
            Command::Submit(command) => command.execute(),
            Command::Call(command) => command.execute(),
            Command::Status(command) => command.execute(),
            Command::Wait(command) => command.execute(),
            Command::Logs(command) => command.execute(),
            Command::Cancel(command) => command.execute(),
            Command::Delete(command) => command.execute(),
            Command::Jobs(command) => command.execute(),
            Command::Modules(command) => command.execute(),
            Command::Pool(command) => command.execute(),
            Command::Nodes(command) => command.execute(),
            Command::Tokens(command) => command.execute(),
            Command::Tenants(command) => command.execute(),
            Command::Limits(command) => command.execute(),
            Command::Queue(command) => command.execute(),
            Command::Retry(command) => command.execute(),
            Command::Schedule(command) => command.execute(),
            Command::Workflow(command) => command.execute(),
            Command::Build(command) => command.execute(),
            Command::Completions(command) => command.execute(),
            Command::Worker(command) => command.execute(),
            Command::Compile(command) => command.execute(),
        };
        result.unwrap_or_else(|error| {
            if error.downcast_ref::<StdoutClosed>().is_some() {
                return ExitCode::SUCCESS;
            }
            say(format_args!("wasmpool: {}", describe(&error)));
            ExitCode::from(exit_code_of(&error))
        })
    }
}

impl Command {
    /// The client options of a verb that talks to a service.
    fn remote_mut(&mut self) -> Option<&mut remote::RemoteOptions> {
        match self {
            Command::Upload(command) => Some(&mut command.remote),
            Command::Submit(command) => Some(&mut command.remote),
            Command::Call(command) => Some(&mut command.remote),
            Command::Status(command) => Some(&mut command.remote),
            Command::Wait(command) => Some(&mut command.remote),
            Command::Logs(command) => Some(&mut command.remote),
            Command::Cancel(command) => Some(&mut command.remote),
            Command::Delete(command) => Some(&mut command.remote),
            Command::Jobs(command) => Some(&mut command.remote),
            Command::Modules(command) => Some(&mut command.remote),
            Command::Pool(command) => Some(&mut command.remote),
            Command::Nodes(command) => Some(&mut command.remote),
            Command::Tokens(command) => Some(&mut command.remote),
            Command::Tenants(command) => Some(&mut command.remote),
            Command::Limits(command) => Some(&mut command.remote),
            Command::Queue(command) => Some(&mut command.remote),
            Command::Retry(command) => Some(&mut command.remote),
            Command::Schedule(command) => Some(&mut command.remote),
            Command::Workflow(command) => Some(&mut command.remote),
            Command::Run(_)
            | Command::Map(_)
            | Command::Serve(_)
            | Command::Build(_)
            | Command::Completions(_)
            | Command::Worker(_)
            | Command::Compile(_) => None,
        }
    }
}

/// Whether option `id` was written on the command line at or below this (sub)command.
fn given_after(matches: &ArgMatches, id: &str) -> bool {
    let here = matches.ids().any(|known| known.as_str() == id)
        && matches.value_source(id) == Some(ValueSource::CommandLine);
    here || matches.subcommand().is_some_and(|(_, below)| given_after(below, id))
}

/// A mistake in how wasmpool was called that clap cannot see (say, `map` with no jobs):
/// reported like clap's own, with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A file named on the command line cannot be read: missing, a directory, not allowed.
/// Exit code 66 (sysexits' `EX_NOINPUT`).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// It names a directory.
    #[error("{} is a directory, not a file", .0.display())]
    Directory(std::path::PathBuf),
    /// Reading it failed.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads a file named on the command line, failing with an [`InputError`].
pub fn read_input(path: &std::path::Path) -> Result<Vec<u8>, InputError> {
    if path.is_dir() {
        return Err(InputError::Directory(path.to_path_buf()));
    }
    std::fs::read(path)
        .map_err(|source| InputError::Unreadable { path: path.to_path_buf(), source })
}

/// `error` and its causes, `: `-separated, leaving out a cause whose text the message
/// before it already holds (`cannot read x: No such file…` need not say `No such file…` again
/// for its `io::Error` source).
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.is_empty() {
            text = cause;
        } else if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The exit code of a verb that failed with `error`.
fn exit_code_of(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<UsageError>().is_some() {
        exit::USAGE
    } else if error.downcast_ref::<InputError>().is_some() {
        exit::NO_INPUT
    } else if error.downcast_ref::<serve::ListenError>().is_some() {
        exit::CANNOT_LISTEN
    } else {
        exit::HOST_ERROR
    }
}

/// Exit codes of `wasmpool run` (and `wasmpool wait`) when the guest did not exit by itself,
/// of the client verbs, and of `serve`.
pub mod exit {
    /// wasmpool itself failed: bad module, bad option, worker died.
    pub const HOST_ERROR: u8 = 125;
    /// The job ran past its timeout (as `timeout(1)`).
    pub const TIMED_OUT: u8 = 124;
    /// The guest trapped or hit its memory or fuel limit (as an abort).
    pub const TRAPPED: u8 = 134;
    /// The job was cancelled.
    pub const CANCELLED: u8 = 130;
    /// A client verb: the service answered with an error.
    pub const API_ERROR: u8 = 1;
    /// A usage error, as clap reports one.
    pub const USAGE: u8 = 2;
    /// A client verb: the service could not be reached (as sysexits' `EX_UNAVAILABLE`).
    pub const UNREACHABLE: u8 = 69;
    /// `wait`: the job had not ended when the client's timeout passed (as `EX_TEMPFAIL`).
    pub const STILL_RUNNING: u8 = 75;
    /// `serve`: another serve holds the data directory; it may stop, so try again later
    /// (as `EX_TEMPFAIL`).
    pub const DATA_DIR_IN_USE: u8 = 75;
    /// A file named on the command line cannot be read (as `EX_NOINPUT`).
    pub const NO_INPUT: u8 = 66;
    /// `serve`: the listen address is taken, not this machine's, or not allowed (as
    /// `EX_UNAVAILABLE`).
    pub const CANNOT_LISTEN: u8 = 69;
    /// `build`: componentize-py is not installed (as `EX_UNAVAILABLE`).
    pub const TOOL_MISSING: u8 = 69;
    /// `build`: componentize-py refused the task (as a compiler does).
    pub const BUILD_FAILED: u8 = 1;
}

/// stdout's reader went away (`wasmpool completions bash | head -1`): the verb stops
/// quietly and exits 0, as a writer into `head` is expected to.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
pub struct StdoutClosed;

/// Writes `bytes` to stdout and flushes. A closed pipe is [`StdoutClosed`] instead of
/// `print!`'s panic.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// Writes one line to stderr, ignoring failure. `eprintln!` panics when stderr is gone (a
/// closed pipe, say `serve 2>&1 | tee log` after Ctrl-C killed `tee`); a service must not.
pub fn say(message: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn a_cause_the_message_holds_is_not_said_twice() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let path = std::path::PathBuf::from("x.wasm");
        let error = anyhow::Error::new(super::InputError::Unreadable { path, source: io() });
        assert_eq!(super::describe(&error), format!("cannot read x.wasm: {}", io()));
        let error = anyhow::Error::new(io()).context("loading");
        assert_eq!(super::describe(&error), format!("loading: {}", io()));
    }
}
