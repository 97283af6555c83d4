//! `wasmpool status`: one job of a running service, as a readable block or as JSON.

use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;

use super::remote::{RemoteOptions, ago, between, or_dash, state_text, table, until};
use super::wait::output_bytes;
use crate::client::Client;
use crate::job::JobState;
use crate::units::{format_duration, format_size};
use crate::wire::{AttemptView, JobView};

/// Show a job: its state, module, attempts, worker, timings, result and output.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool status 42
  wasmpool status --json 42 | jq -r .state")]
pub struct StatusCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    /// The job's id.
    id: i64,
}

impl StatusCommand {
    /// Fetches the job and prints it.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            let mut job = client.job(self.id).await?;
            if !self.remote.print_json(&job)? {
                if job.state == JobState::Running {
                    job.stdout = Some(output_so_far(&client, job.id, "stdout").await?);
                    job.stderr = Some(output_so_far(&client, job.id, "stderr").await?);
                }
                super::write_stdout(describe(&job, SystemTime::now())?.as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

/// What a running job has written to `stream` so far (its view has its output only once it
/// ended).
async fn output_so_far(client: &Client, id: i64, stream: &str) -> anyhow::Result<String> {
    let mut chunks = client.output(id, stream, false).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The readable block: a heading, aligned fields (absent ones left out), then the output.
fn describe(job: &JobView, now: SystemTime) -> anyhow::Result<String> {
    let title = job.name.as_ref().map_or_else(String::new, |name| format!(" ({name})"));
    let mut text =
        format!("job {}{title}: {}\n", job.id, state_text(job.state, job.run_at.as_deref(), now));
    text.push_str(&table(&fields(job, now)));
    if !job.attempts_history.is_empty() {
        text.push_str("--- attempts\n");
        text.push_str(&table(&history(&job.attempts_history)));
    }
    for (stream, plain, encoded, cut) in [
        ("stdout", &job.stdout, &job.stdout_base64, job.stdout_truncated),
        ("stderr", &job.stderr, &job.stderr_base64, job.stderr_truncated),
    ] {
        let bytes = output_bytes(plain.as_deref(), encoded.as_deref())?;
        if bytes.is_empty() {
            continue;
        }
        let note = match (cut, job.state) {
            (true, _) => " (cut at the output limit)",
            (false, JobState::Running) => " (so far)",
            (false, _) => "",
        };
        text.push_str(&format!("--- {stream}{note}\n{}", String::from_utf8_lossy(&bytes)));
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok(text)
}

fn fields(job: &JobView, now: SystemTime) -> Vec<Vec<String>> {
    let when = |time: Option<&str>| time.map(|time| format!("{time} ({})", ago(time, now)));
    let ran = between(job.started_at.as_deref(), job.finished_at.as_deref());
    let limits = format!(
        "timeout {}, memory {}, fuel {}",
        format_duration(std::time::Duration::from_millis(job.timeout_ms)),
        format_size(job.memory_mb.saturating_mul(1 << 20)),
        job.fuel.map_or_else(|| "unmetered".to_string(), |fuel| fuel.to_string()),
    );
    let env: Vec<String> = job.env.iter().map(|(key, value)| format!("{key}={value}")).collect();
    let module = match &job.module_name {
        Some(name) => format!("{name} ({})", job.module),
        None => job.module.clone(),
    };
    let mounts: Vec<String> = job
        .mounts
        .iter()
        .map(|m| format!("{}={}{}", m.name, m.path, if m.read_only { ":ro" } else { "" }))
        .collect();
    let rows = [
        ("module", Some(module)),
        ("argv0", job.argv0.clone()),
        ("args", (!job.args.is_empty()).then(|| quote_all(&job.args))),
        ("env", (!env.is_empty()).then(|| quote_all(&env))),
        ("job env", job.job_env.then(|| "WASMPOOL_JOB_ID, WASMPOOL_WORKER_PID".to_string())),
        ("mounts", (!mounts.is_empty()).then(|| mounts.join(" "))),
        ("priority", Some(job.priority.to_string())),
        ("attempts", Some(format!("{} of {}", job.attempts, job.max_attempts))),
        ("worker", job.worker_pid.map(|pid| format!("pid {pid}"))),
        ("submitted", when(Some(&job.submitted_at))),
        (
            "due",
            job.run_at
                .as_deref()
                .map(|at| format!("{at} (in {})", until(at, now).unwrap_or_default())),
        ),
        ("started", when(job.started_at.as_deref())),
        ("finished", when(job.finished_at.as_deref())),
        ("ran for", ran.map(format_duration)),
        ("limits", Some(limits)),
        ("exit code", job.exit_code.map(|code| code.to_string())),
        ("error", job.error.clone()),
        ("fuel used", job.fuel_used.map(|fuel| fuel.to_string())),
        ("peak memory", job.peak_memory_bytes.map(format_size)),
        ("progress", job.progress.as_ref().map(|p| format!("{}% {}", p.percent, p.message))),
    ];
    rows.into_iter().filter_map(|(label, value)| Some(vec![label.to_string(), value?])).collect()
}

/// The ended attempts, oldest first, as a table.
fn history(attempts: &[AttemptView]) -> Vec<Vec<String>> {
    let header = ["#", "STATE", "EXIT", "HOST", "WORKER", "STARTED", "RAN FOR", "ERROR"];
    let mut rows = vec![header.map(String::from).to_vec()];
    rows.extend(attempts.iter().map(|attempt| {
        let ran = between(Some(&attempt.started_at), Some(&attempt.finished_at));
        vec![
            attempt.attempt.to_string(),
            attempt.state.to_string(),
            or_dash(attempt.exit_code),
            or_dash(attempt.node.as_ref()),
            or_dash(attempt.worker_pid),
            attempt.started_at.clone(),
            or_dash(ran.map(format_duration)),
            or_dash(attempt.error.as_ref()),
        ]
    }));
    rows
}

/// Words joined by spaces, each quoted when it would not read back as one word.
fn quote_all(words: &[String]) -> String {
    let quote = |word: &String| {
        let plain = !word.is_empty() && !word.contains(|c: char| c.is_whitespace() || c == '"');
        if plain { word.clone() } else { format!("{word:?}") }
    };
    words.iter().map(quote).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lists_known_fields_then_output() {
        let job = JobView {
            name: Some("nightly".into()),
            module_name: Some("fib".into()),
            args: vec!["a".into(), "two words".into()],
            env: [("K".to_string(), "V".to_string())].into(),
            max_attempts: 3,
            timeout_ms: 2000,
            started_at: Some("2025-01-02T03:04:01Z".into()),
            finished_at: Some("2025-01-02T03:04:02.5Z".into()),
            worker_pid: Some(4321),
            exit_code: Some(3),
            stdout: Some("out".into()),
            stderr_base64: Some("/w==".into()),
            stdout_truncated: true,
            error: Some("exited with code 3".into()),
            peak_memory_bytes: Some(1 << 20),
            ..crate::cli::remote::sample_job(42, JobState::Failed)
        };
        let now = crate::cli::remote::parse_time("2025-01-02T03:05:00Z").expect("valid");
        let text = describe(&job, now).expect("valid output");
        let expected = format!(
            "job 42 (nightly): failed
module       fib ({})
args         a \"two words\"
env          K=V
priority     0
attempts     1 of 3
worker       pid 4321
submitted    2025-01-02T03:04:00Z (1m ago)
started      2025-01-02T03:04:01Z (59s ago)
finished     2025-01-02T03:04:02.5Z (57s ago)
ran for      1.5s
limits       timeout 2s, memory 64 MiB, fuel unmetered
exit code    3
error        exited with code 3
peak memory  1 MiB
--- stdout (cut at the output limit)
out
--- stderr
\u{fffd}
",
            "ab".repeat(32)
        );
        assert_eq!(text, expected);
    }
}
