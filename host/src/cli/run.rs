//! `wasmpool run`: one job in a worker process, like `Process(...).start(); join()`.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::local::{self, CacheOptions};
use super::options::{GuestCommand, JobOptions};
use crate::units::format_size;

/// Run one job in a sandboxed worker process, print what it wrote, and exit with its exit
/// code (124 on timeout, 134 on a trap or a memory or fuel limit, 66 if MODULE or --stdin
/// cannot be read, 125 if wasmpool itself failed).
///
/// wasmpool's options go before MODULE; everything after it is the guest's, flags included.
#[derive(Debug, Args)]
#[command(
    override_usage = "wasmpool run [OPTIONS] MODULE [ARGS]...",
    after_help = "Examples:
  wasmpool run hello.wasm
  echo hi | wasmpool run echo.wasm
  wasmpool run --timeout 2s --memory 64MiB --env NAME=you task.wasm --flag arg
  wasmpool run --env HOME --argv0 task task.wasm --help      (--help is the guest's)
  wasmpool run --dir ./data::/data:ro --stdin input.txt task.wasm"
)]
pub struct RunCommand {
    #[command(flatten)]
    options: JobOptions,
    #[command(flatten)]
    cache: CacheOptions,
    /// Feed this file to the guest's stdin instead of this command's own stdin.
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,
    /// The program name the guest sees as argv[0] (default: MODULE's file name).
    #[arg(long, value_name = "NAME")]
    argv0: Option<String>,
    #[command(flatten)]
    guest: GuestCommand,
}

impl RunCommand {
    /// Runs the job and mirrors its output and exit code.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let stdin = self.read_stdin()?;
        let path = PathBuf::from(self.guest.module());
        let module = self.cache.compile(&path, self.options.fuel)?;
        let argv0 = self.argv0.clone().unwrap_or_else(|| local::program_name(&path));
        let argv = std::iter::once(argv0).chain(self.guest.args().iter().cloned()).collect();
        let job = local::job("1".into(), &module, argv, &self.options, stdin);
        let completed = local::runtime()?.block_on(async {
            let pool = local::start_pool(1)?;
            let completed = pool.run(job).await;
            pool.shutdown().await;
            anyhow::Ok(completed)
        })?;
        let result = completed.result;
        // A reader that went away (`run x.wasm | head -1`) does not change the exit code,
        // which is the guest's.
        if let Err(error) = super::write_stdout(&result.stdout)
            && error.downcast_ref::<super::StdoutClosed>().is_none()
        {
            return Err(error);
        }
        std::io::stderr().write_all(&result.stderr)?;
        let cap = format_size(self.options.output_limit);
        report_cuts(
            [
                (result.stdout.as_slice(), result.stdout_truncated),
                (result.stderr.as_slice(), result.stderr_truncated),
            ],
            |stream| format!("{stream} was cut at {cap} (--output-limit)"),
        );
        if !matches!(result.outcome, crate::job::Outcome::Exited(_)) {
            eprintln!("wasmpool: job {}", result.outcome.describe());
        }
        Ok(ExitCode::from(local::exit_code(&result.outcome)))
    }

    /// The guest's stdin: `--stdin FILE`, else this process's stdin when it is a pipe or a
    /// file. A terminal is not read (the job would wait for end-of-file before starting).
    fn read_stdin(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(path) = &self.stdin {
            return Ok(super::read_input(path)?);
        }
        let mut bytes = Vec::new();
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            stdin.lock().read_to_end(&mut bytes).context("cannot read stdin")?;
        }
        Ok(bytes)
    }
}

/// Says on stderr which captured streams were cut, each notice on a line of its own: a cut
/// stream rarely ends with a newline, and on a terminal the notice would follow it on the
/// same line. `streams` are stdout's and stderr's bytes as written, and whether each was cut.
pub(super) fn report_cuts(streams: [(&[u8], bool); 2], notice: impl Fn(&str) -> String) {
    let [(stdout, stdout_cut), (stderr, stderr_cut)] = streams;
    if !stdout_cut && !stderr_cut {
        return;
    }
    // What was written last decides whether the cursor is at the start of a line.
    let last = if stderr.is_empty() { stdout } else { stderr };
    if last.last().is_some_and(|&byte| byte != b'\n') {
        super::say(format_args!(""));
    }
    for (stream, cut) in [("stdout", stdout_cut), ("stderr", stderr_cut)] {
        if cut {
            super::say(format_args!("wasmpool: {}", notice(stream)));
        }
    }
}
