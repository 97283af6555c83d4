//! `wasmpool map`: one job per argument on a local pool, like `Pool(n).apply_async` for
//! each argument followed by `close(); join()`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::local::{self, CacheOptions};
use super::map_output::{JobLog, Order};
use super::options::JobOptions;
use super::{map_input, map_progress};
use crate::job::{Completed, JobSpec, Outcome};
use crate::pool::{Handed, Pool};

/// Run one job per input on a pool of N worker processes, as GNU parallel does with
/// commands. Inputs are the ARGs, the items after `:::`, or the lines of --args-file (`-`:
/// stdin); ARGs before `:::` are then a template where `{}` stands for the input and `{#}` for
/// the job's number. Jobs beyond N wait their turn in order. Each job's output is printed as it
/// completes (in input order with -k), each line tagged `[INDEX PID]`; the command exits 1 if
/// any job failed.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool map -w 4 long-time-task.wasm 0 1 2 3 4
  wasmpool map fib.wasm ::: 20 25 30                       (same as: map fib.wasm 20 25 30)
  wasmpool map -k greet.wasm --name={} --seq={#} ::: ann bob
  seq 100 | wasmpool map fib.wasm -                         (one job per line of stdin)
  wasmpool map --args-file inputs.txt --json fib.wasm       (one job per line; words are its args)
  wasmpool map --halt now,fail=1 --joblog jobs.tsv --retries 3 check.wasm ::: a b c

--args-file lines split into words as a POSIX shell would ('single', \"double\" quotes and
backslashes; nothing is expanded); blank lines and lines starting with # are skipped. With a
template, {} is the whole line.")]
pub struct MapCommand {
    /// Number of worker processes (default: the available cores; never more than jobs); `-j`
    /// as GNU parallel spells it.
    #[arg(short = 'w', visible_short_alias = 'j', long, value_name = "N",
          default_value_t = default_workers(), value_parser = parse_workers)]
    workers: usize,
    /// Run nothing: print the jobs that would run, one line each (its index, then the
    /// program and its arguments, quoted as a shell would need them).
    #[arg(long)]
    dry_run: bool,
    /// Print on stderr how many jobs are done and the estimated time left, at most once a
    /// second, even where stderr is not a terminal (on one, the progress bar shows it).
    #[arg(long)]
    eta: bool,
    /// Read the inputs from FILE (`-`: stdin), one per line.
    #[arg(long, short = 'a', value_name = "FILE")]
    args_file: Option<PathBuf>,
    /// Print results in input order (as they complete otherwise).
    #[arg(long, short = 'k')]
    keep_order: bool,
    /// Stop early, as GNU parallel: `now,fail=N` kills the running jobs once N jobs failed,
    /// `soon,fail=N` lets them finish but starts no more; `success=N` likewise after N
    /// successes; `never` (the default) runs every job.
    #[arg(long, value_name = "WHEN", value_parser = parse_halt, default_value = "never")]
    halt: Halt,
    /// Write one tab-separated line per finished job to FILE: Seq, Pid, Starttime (Unix
    /// seconds), JobRuntime (seconds), Exitval, State, Command, after a header line.
    #[arg(long, value_name = "FILE")]
    joblog: Option<PathBuf>,
    /// Run a failing job up to N times in all before counting it failed (default 1).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_retries)]
    retries: u32,
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
    /// The WASI program (a preview 1 module or a preview 2 component), then the inputs (one
    /// job each) or a template followed by `:::` and the inputs. Everything after MODULE is
    /// the guest's, flags included.
    #[arg(
        required = true,
        // As `run`'s MODULE: an unknown option before MODULE is an error, not MODULE.
        trailing_var_arg = true,
        value_name = "MODULE [ARG]..."
    )]
    command: Vec<String>,
}

fn parse_workers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(n),
        _ => Err(format!("`{text}` is not a worker count from 1 to 1024")),
    }
}

fn parse_retries(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n @ 1..=100) => Ok(n),
        _ => Err(format!("`{text}` is not a number of tries from 1 to 100")),
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// When to stop before every job has run (`--halt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Halt {
    /// Kill the running jobs (`now`) or let them finish (`soon`).
    now: bool,
    /// Count failures (or successes).
    on_failure: bool,
    /// Stop when the count reaches this; 0 never.
    count: usize,
}

fn parse_halt(text: &str) -> Result<Halt, String> {
    let invalid =
        || format!("`{text}` is not `never` or now|soon,fail|success=N (e.g. now,fail=1)");
    if text == "never" {
        return Ok(Halt { now: false, on_failure: true, count: 0 });
    }
    let (when, condition) = text.split_once(',').ok_or_else(invalid)?;
    let now = match when {
        "now" => true,
        "soon" => false,
        _ => return Err(invalid()),
    };
    let (what, count) = condition.split_once('=').ok_or_else(invalid)?;
    let on_failure = match what {
        "fail" => true,
        "success" => false,
        _ => return Err(invalid()),
    };
    match count.parse::<usize>() {
        Ok(count @ 1..) => Ok(Halt { now, on_failure, count }),
        _ => Err(invalid()),
    }
}

impl Halt {
    fn reached(&self, tally: &Tally) -> bool {
        let seen = if self.on_failure { tally.failed } else { tally.succeeded };
        self.count > 0 && seen >= self.count
    }
}

/// A finished job, with what `map` knows of it beside the result.
pub(super) struct Finished {
    pub(super) index: usize,
    pub(super) argv: Vec<String>,
    /// How many times it ran (`--retries`).
    pub(super) tries: u32,
    pub(super) completed: Completed,
}

impl MapCommand {
    /// Runs every job, printing each as it completes, then a summary.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let (module, args) = self.command.split_first().expect("clap requires MODULE");
        let module = PathBuf::from(module);
        let inputs =
            map_input::jobs(args, self.args_file.as_deref()).map_err(|error| match error {
                // A file that cannot be read exits 66 here as everywhere, not as a usage error.
                map_input::InputError::Read { path, error } => {
                    anyhow::Error::new(super::InputError::Unreadable {
                        path: path.into(),
                        source: error,
                    })
                }
                other => super::UsageError(other.to_string()).into(),
            })?;
        let program = local::program_name(&module);
        if self.dry_run {
            return Ok(map_input::print_commands(&program, inputs));
        }
        let module = self.cache.compile(&module, self.options.fuel)?;
        let jobs: Vec<_> = inputs
            .into_iter()
            .enumerate()
            .map(|(index, words)| {
                let argv = std::iter::once(program.clone()).chain(words).collect();
                local::job(index.to_string(), &module, argv, &self.options, Vec::new())
            })
            .collect();
        let mut joblog = self.joblog.as_deref().map(JobLog::create).transpose()?;
        let started = Instant::now();
        let total = jobs.len();
        let tally = local::runtime()?.block_on(self.run_all(jobs, joblog.as_mut()))?;
        tally.summarise(total, self.workers.min(total), started.elapsed());
        Ok(if tally.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }

    /// Submits the jobs in order, each as soon as a worker is free, and reports them as
    /// they finish.
    async fn run_all(
        &self,
        jobs: Vec<JobSpec>,
        mut joblog: Option<&mut JobLog>,
    ) -> anyhow::Result<Tally> {
        let pool = local::start_pool(self.workers.min(jobs.len()))?;
        let progress = map_progress::bar(jobs.len());
        let mut eta = self.eta.then(|| map_progress::Eta::new(jobs.len()));
        let run = Run {
            // With `--halt` a job starts only once the one before it on its worker was
            // counted; otherwise the pool may take jobs ahead while they are short.
            slots: Arc::new(Semaphore::new(if self.halt.count > 0 {
                pool.size()
            } else {
                pool.most_in_flight()
            })),
            pool: Arc::new(pool),
            tries: self.retries,
            halt: self.halt,
            tally: Arc::default(),
            stop: CancellationToken::new(),
            kill: CancellationToken::new(),
        };
        let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
        let submitter = tokio::spawn(run.clone().submit_all(jobs, done));
        let mut order = Order::new(self.keep_order);
        // Set once stdout's reader went away (`map … | head -1`): nothing more is printed
        // and no more jobs start, since nobody reads what they would print.
        let mut closed = None;
        let mut report = |job: &Finished| {
            if closed.is_none()
                && let Err(error) = progress.suspend(|| self.report(job))
            {
                run.stop.cancel();
                run.kill.cancel();
                closed = Some(error);
            }
        };
        while let Some(job) = finished.recv().await {
            if let Some(log) = joblog.as_deref_mut() {
                log.write(&job)?;
            }
            order.ready(job).iter().for_each(&mut report);
            progress.inc(1);
            if let Some(eta) = eta.as_mut() {
                eta.finished_one();
            }
        }
        order.rest().for_each(|job| report(&job));
        progress.finish_and_clear();
        submitter.await.context("job submission failed")?;
        let tally = *run.tally.lock().expect("tally lock");
        // Every job's clone of `run` is gone once the channel closed: the pool is ours alone.
        if let Ok(pool) = Arc::try_unwrap(run.pool) {
            pool.shutdown().await;
        }
        match closed {
            Some(error) => Err(error),
            None => Ok(tally),
        }
    }

    /// Prints a finished job; fails with [`super::StdoutClosed`] once stdout's reader left.
    fn report(&self, job: &Finished) -> anyhow::Result<()> {
        if self.quiet {
            return Ok(());
        }
        let completed = &job.completed;
        let result = &completed.result;
        if self.json {
            return super::write_stdout(format!("{}\n", job_json(job)).as_bytes());
        }
        let tag = format!("[{} {}]", result.id, completed.worker_pid);
        let mut out = String::new();
        for line in String::from_utf8_lossy(&result.stdout).lines() {
            out.push_str(&format!("{tag} {line}\n"));
        }
        super::write_stdout(out.as_bytes())?;
        let mut stderr = std::io::stderr().lock();
        for line in String::from_utf8_lossy(&result.stderr).lines() {
            let _ = writeln!(stderr, "{tag} {line}");
        }
        if !result.outcome.succeeded() {
            let _ = writeln!(stderr, "{tag} job {}", result.outcome.describe());
        }
        Ok(())
    }
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_micros(time).to_string()
}

/// One finished job as a JSON object (the `--json` line format).
fn job_json(job: &Finished) -> serde_json::Value {
    let completed = &job.completed;
    let result = &completed.result;
    json!({
        "index": result.id.parse::<u64>().ok(),
        "worker_pid": completed.worker_pid,
        "state": result.outcome.state(),
        "exit_code": match result.outcome { Outcome::Exited(code) => Some(code), _ => None },
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
        "tries": job.tries,
    })
}

/// What the jobs of one `map` share.
#[derive(Clone)]
struct Run {
    pool: Arc<Pool>,
    /// Jobs in flight, each held until the job has been counted. With `--halt`, one per
    /// worker: a job starts only once the one before it on its worker was counted, so the
    /// halt stops exactly at its count.
    slots: Arc<Semaphore>,
    tries: u32,
    halt: Halt,
    tally: Arc<Mutex<Tally>>,
    /// Starts no more jobs.
    stop: CancellationToken,
    /// Kills the running jobs (`--halt now`).
    kill: CancellationToken,
}

impl Run {
    /// Starts each job as soon as a worker is free, in input order, until `stop`.
    ///
    /// Each job gets its room in the pool and is handed over here, one after another: a task
    /// per job taking room for itself would take it in the order tokio runs the tasks (the
    /// newest spawned first), and the last of five jobs on four workers would start at once
    /// while the fourth waited for a worker to finish.
    async fn submit_all(self, jobs: Vec<JobSpec>, done: UnboundedSender<Finished>) {
        for (index, job) in jobs.into_iter().enumerate() {
            let slot = tokio::select! {
                slot = self.slots.clone().acquire_owned() => slot.expect("never closed"),
                () = self.stop.cancelled() => return,
            };
            let held = tokio::select! {
                held = self.pool.reserve() => held,
                () = self.stop.cancelled() => return,
            };
            if self.stop.is_cancelled() {
                return;
            }
            let handed = held.hand_over(job.clone(), self.kill.child_token());
            tokio::spawn(self.clone().run_one(index, job, slot, handed, done.clone()));
        }
    }

    /// Waits for one job, runs it again while it fails and has tries left, then counts and
    /// reports it.
    async fn run_one(
        self,
        index: usize,
        mut job: JobSpec,
        slot: OwnedSemaphorePermit,
        handed: Handed,
        done: UnboundedSender<Finished>,
    ) {
        let argv = job.args.clone();
        let mut first = Some(handed);
        let completed = loop {
            let completed = match first.take() {
                Some(handed) => handed.completed().await,
                None => {
                    let held = self.pool.reserve().await;
                    held.run_cancellable(job.clone(), self.kill.child_token()).await
                }
            };
            let outcome = &completed.result.outcome;
            let again = !outcome.succeeded()
                && *outcome != Outcome::Cancelled
                && job.attempt < self.tries
                && !self.stop.is_cancelled();
            if !again {
                break completed;
            }
            job.attempt += 1;
        };
        let halt = {
            let mut tally = self.tally.lock().expect("tally lock");
            tally.count(&completed);
            self.halt.reached(&tally)
        };
        if halt {
            self.stop.cancel();
            if self.halt.now {
                self.kill.cancel();
            }
        }
        let _ = done.send(Finished { index, argv, tries: job.attempt, completed });
        drop(slot);
    }
}

/// Counts for the closing summary.
#[derive(Clone, Copy, Default)]
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

    fn summarise(&self, total: usize, workers: usize, elapsed: Duration) {
        let ran = self.succeeded + self.failed;
        let rate = ran as f64 / elapsed.as_secs_f64().max(1e-9);
        let skipped = match total - ran {
            0 => String::new(),
            n => format!(", {n} not started (--halt)"),
        };
        eprintln!(
            "map: {ran} jobs on {workers} workers in {:.2}s ({}): {} succeeded, {} failed{skipped}",
            elapsed.as_secs_f64(),
            map_progress::format_rate(rate).replace("/s", " jobs/s"),
            self.succeeded,
            self.failed
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halt_reads_like_gnu_parallel() {
        assert_eq!(parse_halt("now,fail=1"), Ok(Halt { now: true, on_failure: true, count: 1 }));
        assert_eq!(
            parse_halt("soon,success=3"),
            Ok(Halt { now: false, on_failure: false, count: 3 })
        );
        assert_eq!(parse_halt("never").map(|halt| halt.count), Ok(0));
        for bad in ["now", "later,fail=1", "now,fail=0", "now,fail=x", "soon,done=1"] {
            assert!(parse_halt(bad).is_err(), "{bad}");
        }
    }
}
