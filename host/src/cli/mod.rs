//! The command line: one file per verb, each a clap struct with an `execute` that calls
//! the library. Nothing here runs jobs itself.

mod cancel;
mod compile;
mod jobs;
mod local;
mod logging;
mod logs;
mod map;
mod modules;
mod nodes;
mod options;
mod pool_cmd;
mod queue;
mod remote;
mod retry;
mod run;
mod serve;
mod status;
mod submit;
mod upload;
mod wait;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A job pool for WebAssembly: runs WASI programs on sandboxed worker processes.
#[derive(Debug, Parser)]
#[command(name = "wasmpool", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
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
    /// Show a job of a running service.
    Status(status::StatusCommand),
    /// Wait for a job to end, print its output and exit with its exit code.
    Wait(wait::WaitCommand),
    /// Print a job's output; with -f, follow it while the job runs.
    Logs(logs::LogsCommand),
    /// Cancel a queued or running job, or delete an ended one.
    Cancel(cancel::CancelCommand),
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
    /// Queue an ended job again.
    Retry(retry::RetryCommand),
    /// Internal: the worker process the pool starts (not for direct use).
    #[command(hide = true)]
    Worker(worker::WorkerCommand),
    /// Internal: compiles an upload in a process of its own (not for direct use).
    #[command(hide = true)]
    Compile(compile::CompileCommand),
}

impl Cli {
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
            Command::Status(command) => command.execute(),
            Command::Wait(command) => command.execute(),
            Command::Logs(command) => command.execute(),
            Command::Cancel(command) => command.execute(),
            Command::Jobs(command) => command.execute(),
            Command::Modules(command) => command.execute(),
            Command::Pool(command) => command.execute(),
            Command::Nodes(command) => command.execute(),
            Command::Queue(command) => command.execute(),
            Command::Retry(command) => command.execute(),
            Command::Worker(command) => command.execute(),
            Command::Compile(command) => command.execute(),
        };
        result.unwrap_or_else(|error| {
            say(format_args!("wasmpool: {error:#}"));
            ExitCode::from(exit::HOST_ERROR)
        })
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
}
