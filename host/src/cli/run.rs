//! `wasmpool run`: one job in a worker process, like `Process(...).start(); join()`.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::local::{self, CacheOptions};
use super::options::JobOptions;
use crate::units::format_size;

/// Run one job in a sandboxed worker process, print what it wrote, and exit with its exit
/// code (124 on timeout, 134 on a trap or a memory or fuel limit, 125 if wasmpool itself
/// failed).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool run hello.wasm
  echo hi | wasmpool run echo.wasm
  wasmpool run --timeout 2s --memory 64MiB --env NAME=you task.wasm -- --flag arg
  wasmpool run --dir ./data::/data:ro --stdin input.txt task.wasm")]
pub struct RunCommand {
    #[command(flatten)]
    options: JobOptions,
    #[command(flatten)]
    cache: CacheOptions,
    /// Feed this file to the guest's stdin instead of this command's own stdin.
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,
    /// The WASI program: a preview 1 module or a preview 2 component.
    module: PathBuf,
    /// Arguments passed to the program.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl RunCommand {
    /// Runs the job and mirrors its output and exit code.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let stdin = self.read_stdin()?;
        let module = self.cache.compile(&self.module, self.options.fuel)?;
        let mut argv = vec![local::program_name(&self.module)];
        argv.extend(self.args.iter().cloned());
        let job = local::job("1".into(), &module, argv, &self.options, stdin);
        let completed = local::runtime()?.block_on(async {
            let pool = local::start_pool(1)?;
            let completed = pool.run(job).await;
            pool.shutdown().await;
            anyhow::Ok(completed)
        })?;
        let result = completed.result;
        std::io::stdout().write_all(&result.stdout)?;
        std::io::stdout().flush()?;
        std::io::stderr().write_all(&result.stderr)?;
        for (stream, cut) in
            [("stdout", result.stdout_truncated), ("stderr", result.stderr_truncated)]
        {
            if cut {
                let cap = format_size(self.options.output_limit);
                eprintln!("wasmpool: {stream} was cut at {cap} (--output-limit)");
            }
        }
        if !matches!(result.outcome, crate::job::Outcome::Exited(_)) {
            eprintln!("wasmpool: job {}", result.outcome.describe());
        }
        Ok(ExitCode::from(local::exit_code(&result.outcome)))
    }

    /// The guest's stdin: `--stdin FILE`, else this process's stdin when it is a pipe or a
    /// file. A terminal is not read (the job would wait for end-of-file before starting).
    fn read_stdin(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(path) = &self.stdin {
            return std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
        }
        let mut bytes = Vec::new();
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            stdin.lock().read_to_end(&mut bytes).context("cannot read stdin")?;
        }
        Ok(bytes)
    }
}
