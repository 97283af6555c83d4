//! `wasmpool map`: one job per argument on a local pool, like `Pool(n).apply_async` for
//! each argument followed by `close(); join()`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::local::{self, CacheOptions};
use super::options::JobOptions;
use crate::job::Completed;

/// Run one job per ARG (or per line of --args-file) on a pool of N worker processes.
/// Jobs beyond N wait their turn in order. Each job's output is printed as it completes,
/// each line tagged `[INDEX PID]`; the command exits 1 if any job failed.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool map -w 4 long-time-task.wasm 0 1 2 3 4
  wasmpool map --args-file inputs.txt --json fib.wasm     (one job per line; words are its args)")]
pub struct MapCommand {
    /// Number of worker processes (default: the available cores).
    #[arg(short = 'w', long, value_name = "N", default_value_t = default_workers(),
          value_parser = parse_workers)]
    workers: usize,
    /// Read the jobs from FILE, one per line: the line's words are that job's arguments.
    #[arg(long, value_name = "FILE")]
    args_file: Option<PathBuf>,
    /// Print one JSON object per finished job instead of its tagged output.
    #[arg(long)]
    json: bool,
    /// Print only the summary.
    #[arg(long, short = 'q', conflicts_with = "json")]
    quiet: bool,
    #[command(flatten)]
    options: JobOptions,
    #[command(flatten)]
    cache: CacheOptions,
    /// The WASI program: a preview 1 module or a preview 2 component.
    module: PathBuf,
    /// One job per argument.
    #[arg(allow_hyphen_values = true)]
    args: Vec<String>,
}

fn parse_workers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(n),
        _ => Err(format!("`{text}` is not a worker count from 1 to 1024")),
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl MapCommand {
    /// Runs every job, printing each as it completes, then a summary.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let inputs = self.inputs()?;
        let module = self.cache.compile(&self.module, self.options.fuel)?;
        let program = local::program_name(&self.module);
        let jobs: Vec<_> = inputs
            .into_iter()
            .enumerate()
            .map(|(index, words)| {
                let argv = std::iter::once(program.clone()).chain(words).collect();
                local::job(index.to_string(), &module, argv, &self.options, Vec::new())
            })
            .collect();
        let started = Instant::now();
        let tally = local::runtime()?.block_on(self.run_all(jobs))?;
        tally.summarise(started.elapsed());
        Ok(if tally.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }

    fn inputs(&self) -> anyhow::Result<Vec<Vec<String>>> {
        let mut inputs: Vec<Vec<String>> = self.args.iter().map(|arg| vec![arg.clone()]).collect();
        if let Some(path) = &self.args_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            inputs.extend(
                text.lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(|line| line.split_whitespace().map(str::to_string).collect()),
            );
        }
        if inputs.is_empty() {
            let message = "no jobs: give at least one ARG or a non-empty --args-file";
            return Err(super::UsageError(message.into()).into());
        }
        Ok(inputs)
    }

    /// Submits the jobs in order, each as soon as a worker is free, and reports them as
    /// they finish.
    async fn run_all(&self, jobs: Vec<crate::job::JobSpec>) -> anyhow::Result<Tally> {
        let pool = Arc::new(local::start_pool(self.workers)?);
        let progress = ProgressBar::new(jobs.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} jobs, {per_sec}, eta {eta}")
                .expect("valid progress template"),
        );
        let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
        let submitter = {
            let pool = pool.clone();
            tokio::spawn(async move {
                for job in jobs {
                    let reservation = pool.reserve().await;
                    let done = done.clone();
                    tokio::spawn(async move {
                        let _ = done.send(reservation.run(job).await);
                    });
                }
            })
        };
        let mut tally = Tally::default();
        while let Some(completed) = finished.recv().await {
            progress.suspend(|| self.report(&completed));
            tally.count(&completed);
            progress.inc(1);
        }
        progress.finish_and_clear();
        submitter.await.context("job submission failed")?;
        if let Ok(pool) = Arc::try_unwrap(pool) {
            pool.shutdown().await;
        }
        Ok(tally)
    }

    fn report(&self, completed: &Completed) {
        if self.quiet {
            return;
        }
        let result = &completed.result;
        if self.json {
            println!("{}", job_json(completed));
            return;
        }
        let tag = format!("[{} {}]", result.id, completed.worker_pid);
        let mut stdout = std::io::stdout().lock();
        for line in String::from_utf8_lossy(&result.stdout).lines() {
            let _ = writeln!(stdout, "{tag} {line}");
        }
        let mut stderr = std::io::stderr().lock();
        for line in String::from_utf8_lossy(&result.stderr).lines() {
            let _ = writeln!(stderr, "{tag} {line}");
        }
        if !result.outcome.succeeded() {
            let _ = writeln!(stderr, "{tag} job {}", result.outcome.describe());
        }
    }
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_micros(time).to_string()
}

/// One finished job as a JSON object (the `--json` line format).
fn job_json(completed: &Completed) -> serde_json::Value {
    let result = &completed.result;
    json!({
        "index": result.id.parse::<u64>().ok(),
        "worker_pid": completed.worker_pid,
        "state": result.outcome.state(),
        "exit_code": match result.outcome { crate::job::Outcome::Exited(code) => Some(code), _ => None },
        "error": (!result.outcome.succeeded()).then(|| result.outcome.describe()),
        "stdout": String::from_utf8_lossy(&result.stdout),
        "stderr": String::from_utf8_lossy(&result.stderr),
        "stdout_truncated": result.stdout_truncated,
        "stderr_truncated": result.stderr_truncated,
        "started_at": rfc3339(completed.started_at),
        "finished_at": rfc3339(completed.finished_at),
        "run_time_us": result.run_time.as_micros() as u64,
        "peak_memory_bytes": result.peak_memory_bytes,
        "fuel_used": result.fuel_used,
    })
}

/// Counts for the closing summary.
#[derive(Default)]
struct Tally {
    succeeded: usize,
    failed: usize,
}

impl Tally {
    fn count(&mut self, completed: &Completed) {
        if completed.result.outcome.succeeded() {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
    }

    fn summarise(&self, elapsed: Duration) {
        let total = self.succeeded + self.failed;
        let rate = total as f64 / elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "map: {total} jobs in {:.2}s ({rate:.1} jobs/s): {} succeeded, {} failed",
            elapsed.as_secs_f64(),
            self.succeeded,
            self.failed
        );
    }
}
