//! `wasmpool wait`: like `join([timeout])`, then `communicate()`: the job's output on this
//! process's stdout and stderr and its exit code as ours. `submit --wait` ends here too.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use clap::Args;

use super::exit;
use super::remote::RemoteOptions;
use crate::client::Client;
use crate::job::JobState;
use crate::units::parse_duration;
use crate::wire::JobView;

/// The longest single `/wait` request: short enough that a dropped connection is noticed.
const WAIT_CHUNK: Duration = Duration::from_secs(30);
/// The shortest time between two `/wait` requests.
const MIN_ROUND: Duration = Duration::from_millis(200);

/// Wait for a job to end, write its stdout and stderr to ours, and exit with its exit code
/// (124 timed out, 134 trapped or over its memory or fuel limit, 125 failed otherwise, 130
/// cancelled, 75 if it had not ended when --timeout passed).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool wait 42
  wasmpool wait --timeout 10s 42 > out.txt || echo \"exit $?\"
  wasmpool wait --json 42 | jq .state")]
pub struct WaitCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    /// Give up after this long (e.g. 30s, 5m); default: wait as long as it takes.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// The job's id.
    id: i64,
}

impl WaitCommand {
    /// Waits for the job and mirrors its output and exit code.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            wait_and_report(&client, self.id, self.timeout, self.remote.json).await
        })
    }
}

/// Waits until job `id` ends or `timeout` passes, prints it (its output, or its JSON) and
/// returns the exit code that stands for it.
pub(super) async fn wait_and_report(
    client: &Client,
    id: i64,
    timeout: Option<Duration>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let job = wait_for(client, id, timeout).await?;
    let code = ExitCode::from(job_exit_code(&job));
    if json {
        println!("{}", serde_json::to_string_pretty(&job)?);
    }
    if !job.state.is_terminal() {
        eprintln!("wasmpool: job {id} is still {}", job.state);
        return Ok(code);
    }
    if !json {
        write_output(&job)?;
        if let Some(note) = ending_note(&job) {
            eprintln!("wasmpool: job {id} {note}");
        }
    }
    Ok(code)
}

/// Calls `/wait` in chunks until the job has ended or the deadline passed.
pub(super) async fn wait_for(
    client: &Client,
    id: i64,
    timeout: Option<Duration>,
) -> anyhow::Result<JobView> {
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    loop {
        let round = Instant::now();
        let left = deadline.map(|deadline| deadline.saturating_duration_since(round));
        let job = client.wait(id, left.map_or(WAIT_CHUNK, |left| left.min(WAIT_CHUNK))).await?;
        if job.state.is_terminal() || deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(job);
        }
        // A server that answers before the time asked must not turn this into a busy loop.
        tokio::time::sleep_until((round + MIN_ROUND).into()).await;
    }
}

/// The exit code that stands for how a job ended (as `run`'s for a local job).
pub(super) fn job_exit_code(job: &JobView) -> u8 {
    match (job.state, job.exit_code) {
        (JobState::Waiting | JobState::Queued | JobState::Running, _) => exit::STILL_RUNNING,
        // The OS keeps the low 8 bits of an exit status, as for any process.
        (JobState::Succeeded | JobState::Failed, Some(code)) => (code & 0xff) as u8,
        (JobState::Succeeded, None) => 0,
        (JobState::TimedOut, _) => exit::TIMED_OUT,
        // A skipped job did not run, as a cancelled one.
        (JobState::Cancelled | JobState::Skipped, _) => exit::CANCELLED,
        (JobState::Failed, None) if job.error.as_deref().is_some_and(is_abort) => exit::TRAPPED,
        (JobState::Failed, None) => exit::HOST_ERROR,
    }
}

/// Whether a failure is the guest's own doing, as a trap or a limit it ran into (the server
/// words these as `trapped: ...`, `memory limit of ... exceeded`, `fuel limit of ... exhausted`).
fn is_abort(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    error.starts_with("trapped") || error.contains("memory limit") || error.contains("fuel limit")
}

/// What to say on stderr about a job that did not simply exit; `None` when it did.
fn ending_note(job: &JobView) -> Option<String> {
    match (job.state, &job.error) {
        (JobState::Succeeded, _) => None,
        (JobState::Failed, _) if job.exit_code.is_some() => None,
        (state, Some(error)) if error != state.as_str() => Some(format!("{state}: {error}")),
        (state, _) => Some(state.to_string()),
    }
}

/// Writes the job's stdout and stderr bytes to ours, and says on stderr if either was cut.
fn write_output(job: &JobView) -> anyhow::Result<()> {
    let stdout = output_bytes(job.stdout.as_deref(), job.stdout_base64.as_deref())
        .with_context(|| format!("job {}'s stdout", job.id))?;
    let stderr = output_bytes(job.stderr.as_deref(), job.stderr_base64.as_deref())
        .with_context(|| format!("job {}'s stderr", job.id))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&stdout)?;
    out.flush()?;
    std::io::stderr().write_all(&stderr)?;
    super::run::report_cuts(
        [(stdout.as_slice(), job.stdout_truncated), (stderr.as_slice(), job.stderr_truncated)],
        |stream| format!("job {}'s {stream} was cut at the service's output limit", job.id),
    );
    Ok(())
}

/// A captured stream's bytes: the base64 form when the server sent one (not UTF-8), else
/// the text.
pub(super) fn output_bytes(text: Option<&str>, base64: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match base64 {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .context("the server sent invalid base64"),
        None => Ok(text.unwrap_or_default().as_bytes().to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: JobState, exit_code: Option<i32>, error: Option<&str>) -> JobView {
        JobView {
            exit_code,
            error: error.map(str::to_string),
            ..super::super::remote::sample_job(7, state)
        }
    }

    #[test]
    fn exit_codes_stand_for_how_the_job_ended() {
        use JobState::*;
        let cases = [
            (job(Succeeded, Some(0), None), 0),
            (job(Succeeded, None, None), 0),
            (job(Failed, Some(3), Some("exited with code 3")), 3),
            (job(Failed, Some(257), None), 1),
            (job(Failed, Some(-1), None), 255),
            (job(TimedOut, None, Some("timed out after 1s")), 124),
            (job(Failed, None, Some("trapped: unreachable")), 134),
            (job(Failed, None, Some("memory limit of 64 MiB exceeded")), 134),
            (job(Failed, None, Some("fuel limit of 1000 exhausted")), 134),
            (job(Failed, None, Some("worker died: killed by signal 9")), 125),
            (job(Failed, None, Some("could not load module: bad magic")), 125),
            (job(Failed, None, None), 125),
            (job(Cancelled, None, None), 130),
            (job(Queued, None, None), 75),
            (job(Running, None, None), 75),
        ];
        for (job, code) in cases {
            assert_eq!(
                job_exit_code(&job),
                code,
                "{:?} {:?} {:?}",
                job.state,
                job.exit_code,
                job.error
            );
        }
    }

    #[test]
    fn notes_only_for_jobs_that_did_not_simply_exit() {
        assert_eq!(ending_note(&job(JobState::Failed, Some(3), Some("exited with code 3"))), None);
        assert_eq!(ending_note(&job(JobState::Succeeded, None, None)), None);
        let note = ending_note(&job(JobState::TimedOut, None, Some("timed out after 1s")));
        assert_eq!(note.as_deref(), Some("timed_out: timed out after 1s"));
        assert_eq!(
            ending_note(&job(JobState::Cancelled, None, None)).as_deref(),
            Some("cancelled")
        );
    }

    #[test]
    fn output_prefers_base64() {
        assert_eq!(output_bytes(Some("hi\n"), None).expect("text"), b"hi\n");
        assert_eq!(output_bytes(None, Some("/w==")).expect("base64"), [0xff]);
        assert_eq!(output_bytes(None, None).expect("empty"), b"");
        assert!(output_bytes(None, Some("!!")).is_err());
    }
}
