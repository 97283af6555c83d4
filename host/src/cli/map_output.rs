//! What `map` does with the jobs that finished besides printing them: hands them on in input
//! order or as they come (`-k`), and writes the job log (`--joblog`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;

use super::map::Finished;
use crate::job::Outcome;

/// Hands finished jobs on as they come, or in input order (`-k`).
pub(super) struct Order {
    keep: bool,
    next: usize,
    waiting: BTreeMap<usize, Finished>,
}

impl Order {
    pub(super) fn new(keep: bool) -> Order {
        Order { keep, next: 0, waiting: BTreeMap::new() }
    }

    /// The jobs that may be printed now that `job` finished.
    pub(super) fn ready(&mut self, job: Finished) -> Vec<Finished> {
        if !self.keep {
            return vec![job];
        }
        self.waiting.insert(job.index, job);
        let mut ready = Vec::new();
        while let Some(job) = self.waiting.remove(&self.next) {
            ready.push(job);
            self.next += 1;
        }
        ready
    }

    /// What is still held back (jobs after one that never started, with --halt), in order.
    pub(super) fn rest(&mut self) -> impl Iterator<Item = Finished> + use<> {
        std::mem::take(&mut self.waiting).into_values()
    }
}

/// `--joblog`: GNU parallel's idea of a job log, one tab-separated line per job, written as
/// each job ends so it can be followed.
pub(super) struct JobLog {
    file: std::io::LineWriter<std::fs::File>,
}

impl JobLog {
    pub(super) fn create(path: &Path) -> anyhow::Result<JobLog> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create the job log {}", path.display()))?;
        let mut log = JobLog { file: std::io::LineWriter::new(file) };
        writeln!(log.file, "Seq\tPid\tStarttime\tJobRuntime\tExitval\tState\tCommand")?;
        Ok(log)
    }

    pub(super) fn write(&mut self, job: &Finished) -> anyhow::Result<()> {
        let completed = &job.completed;
        let start = completed.started_at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let runtime =
            completed.finished_at.duration_since(completed.started_at).unwrap_or_default();
        let exit = match completed.result.outcome {
            Outcome::Exited(code) => code,
            _ => -1,
        };
        let command = shlex::try_join(job.argv.iter().map(String::as_str))
            .unwrap_or_else(|_| job.argv.join(" "));
        writeln!(
            self.file,
            "{}\t{}\t{:.3}\t{:.3}\t{exit}\t{}\t{command}",
            job.index + 1,
            completed.worker_pid,
            start.as_secs_f64(),
            runtime.as_secs_f64(),
            completed.result.outcome.state(),
        )
        .context("cannot write the job log")
    }
}
