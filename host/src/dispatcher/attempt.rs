//! One attempt of a job as pure logic: the spec its worker runs, what is recorded when it
//! ends (its end, or a retry after a backoff while attempts remain), and the log lines of its
//! start and end. No I/O but those lines; the rules of states and retries themselves are the
//! protocol's (`job.rs`).

use std::time::{Duration, SystemTime};

use crate::job::{Completed, DirGrant, JobSpec, Limits, ModuleRef};
use crate::store::{Attempt, Finished, JobRecord};

/// First retry delay; doubles per attempt up to [`RETRY_BACKOFF_MAX`].
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The spec a worker runs for `job`'s current attempt, its module compiled as `module`, with
/// the directories its mounts resolved to on this host.
pub fn spec(job: &JobRecord, module: ModuleRef, dirs: Vec<DirGrant>, output_bytes: u64) -> JobSpec {
    let mut args = Vec::with_capacity(job.args.len() + 1);
    args.push(job.argv0.clone().unwrap_or_else(|| format!("{}.wasm", short(&job.module_hash))));
    args.extend(job.args.iter().cloned());
    JobSpec {
        id: job.id.to_string(),
        module,
        args,
        env: job.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        stdin: job.stdin.clone(),
        dirs,
        limits: Limits {
            timeout: Some(Duration::from_millis(job.timeout_ms)),
            memory_bytes: job.memory_mb << 20,
            fuel: job.fuel,
            output_bytes,
        },
        attempt: job.attempts,
        job_env: job.job_env,
        call: job.call.as_ref().map(|function| crate::job::Call {
            function: function.clone(),
            params: job.params.clone().unwrap_or_else(|| "[]".into()),
        }),
    }
}

/// Which attempt of how many one is.
#[derive(Clone, Copy, Debug)]
pub struct Tries {
    /// This attempt's number, from 1.
    pub number: u32,
    /// Attempts allowed in all.
    pub max: u32,
}

impl Tries {
    /// The tries of `job`'s current attempt.
    pub fn of(job: &JobRecord) -> Tries {
        Tries { number: job.attempts, max: job.max_attempts }
    }
}

/// What to record for an attempt that ended: its end, or a retry at `now` plus the backoff
/// while attempts remain. `jitter`, from 0.5 to 1, scales the backoff.
pub fn finished(
    attempt: Attempt,
    tries: Tries,
    completed: Completed,
    now: SystemTime,
    jitter: f64,
) -> Finished {
    let Completed { result, worker_pid, started_at, finished_at } = completed;
    let outcome = &result.outcome;
    let retry = outcome.retries(tries.number, tries.max);
    Finished {
        attempt,
        retry_at: retry.then(|| now + backoff(tries.number, jitter)),
        state: outcome.state(),
        worker_pid: (worker_pid != 0).then_some(worker_pid),
        started_at,
        finished_at,
        exit_code: match outcome {
            crate::job::Outcome::Exited(code) => Some(*code),
            _ => None,
        },
        error: (!outcome.succeeded()).then(|| outcome.describe()),
        stdout: result.stdout,
        stderr: result.stderr,
        stdout_truncated: result.stdout_truncated,
        stderr_truncated: result.stderr_truncated,
        fuel_used: result.fuel_used,
        peak_memory_bytes: result.peak_memory_bytes,
        result: result.returned,
        spawned: None,
    }
}

/// Exponential backoff: `RETRY_BACKOFF × 2^(attempt-1)`, capped, scaled by `jitter` (half to
/// all of it, so that jobs that failed together do not come back together).
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let exponential = RETRY_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(20));
    exponential.min(RETRY_BACKOFF_MAX).mul_f64(jitter.clamp(0.5, 1.0))
}

/// A random jitter for [`backoff`].
pub fn jitter() -> f64 {
    use rand::Rng;
    rand::rng().random_range(0.5..=1.0)
}

/// The short hash logs name a module by.
fn short(hash: &str) -> &str {
    &hash[..12.min(hash.len())]
}

/// The line of an attempt handed to the pool.
pub fn log_start(job: &JobRecord) {
    let module = short(&job.module_hash);
    tracing::info!(job = job.id, module, attempt = job.attempts, state = "running", "job started");
}

/// One line per ended attempt, as an operator reads a job's history: its state (`queued`
/// again when it will be retried), how long it ran, and how it ended.
pub fn log_end(job: &JobRecord, end: &Finished) {
    let module = short(&job.module_hash);
    let state = if end.retry_at.is_some() { "queued" } else { end.state.as_str() };
    let ran = end.finished_at.duration_since(end.started_at).unwrap_or_default();
    let ms = ran.as_micros() as f64 / 1000.0;
    tracing::info!(
        job = job.id,
        module,
        attempt = job.attempts,
        state,
        ms,
        exit_code = end.exit_code,
        error = end.error.as_deref(),
        "job ended"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobResult, JobState, Outcome};

    fn ended(outcome: Outcome) -> Completed {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        Completed {
            result: JobResult::without_output("7".into(), outcome),
            worker_pid: 42,
            started_at: at,
            finished_at: at + Duration::from_secs(1),
        }
    }

    const ATTEMPT: Attempt = Attempt { id: 7, number: 1, node_id: 0 };

    #[test]
    fn a_failure_with_attempts_left_is_retried_after_the_backoff() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let tries = Tries { number: 2, max: 3 };
        let end = finished(ATTEMPT, tries, ended(Outcome::Exited(3)), now, 1.0);
        assert_eq!(end.retry_at, Some(now + Duration::from_secs(1)));
        assert_eq!((end.state, end.exit_code), (JobState::Failed, Some(3)));
        assert_eq!(end.error.as_deref(), Some("exited with code 3"));
        assert_eq!(end.worker_pid, Some(42));
    }

    #[test]
    fn the_last_attempt_and_a_cancel_end_the_job() {
        let now = SystemTime::UNIX_EPOCH;
        let last = Tries { number: 3, max: 3 };
        let end =
            finished(ATTEMPT, last, ended(Outcome::TimedOut(Duration::from_secs(1))), now, 1.0);
        assert_eq!((end.retry_at, end.state), (None, JobState::TimedOut));
        let first = Tries { number: 1, max: 3 };
        let end = finished(ATTEMPT, first, ended(Outcome::Cancelled), now, 1.0);
        assert_eq!((end.retry_at, end.state), (None, JobState::Cancelled));
        let end = finished(ATTEMPT, first, ended(Outcome::Exited(0)), now, 1.0);
        assert_eq!((end.retry_at, end.state, end.error), (None, JobState::Succeeded, None));
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_jitters_down_to_half() {
        assert_eq!(backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(3, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(40, 1.0), RETRY_BACKOFF_MAX);
        assert_eq!(backoff(1, 0.1), Duration::from_millis(250), "jitter is at least a half");
        assert!((0.5..=1.0).contains(&jitter()));
    }
}
