//! `wasmpool logs`: a job's output, its stdout on ours and its stderr on ours, so far or, with
//! `-f`, as the job writes it until the job ends (as `kubectl logs -f` and `docker logs -f`).

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::exit;
use super::remote::RemoteOptions;
use crate::client::{Client, ClientError};

/// Print a job's output: its stdout to stdout, its stderr to stderr. With -f, keep printing
/// as the job writes, until it ends; then exit 0 whatever the job's own exit code (as
/// `kubectl logs -f`; `wasmpool wait ID` gives that code).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool logs 42
  wasmpool logs -f 42
  wasmpool logs -f 42 2>/dev/null | grep ERROR
  wasmpool logs -f 42 && wasmpool wait 42   # then exit with the job's code

Exit status: 0 once the output is printed (with -f: once the job ended), 1 when the service
says no (no such job), 69 when it cannot be reached, 75 when the service stopped sending
before the job ended (it was shutting down).")]
pub struct LogsCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    /// Follow: keep printing output as the job writes it, until the job ends.
    #[arg(short, long)]
    follow: bool,
    /// Print only the last N lines of each stream (not with -f).
    #[arg(long, value_name = "N", conflicts_with = "follow")]
    tail: Option<usize>,
    /// The job's id.
    id: i64,
}

impl LogsCommand {
    /// Copies the job's output to ours.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            let (out, err) = tokio::try_join!(
                copy(&client, self.id, "stdout", (self.follow, self.tail), std::io::stdout),
                copy(&client, self.id, "stderr", (self.follow, self.tail), std::io::stderr),
            )?;
            if !self.follow {
                return Ok(ExitCode::SUCCESS);
            }
            // The service ends a followed response cleanly only once the job has ended; a
            // response cut short, or a job not ended by its own account, means it had not.
            let why = match out.or(err) {
                Some(why) => why,
                None => match client.job(self.id).await {
                    Ok(job) if job.state.is_terminal() => return Ok(ExitCode::SUCCESS),
                    Ok(job) => format!("job {} is {}", self.id, job.state),
                    Err(e) => e.to_string(),
                },
            };
            eprintln!(
                "wasmpool: the service stopped sending job {}'s output before the job ended \
                 ({why}); it has not ended: `wasmpool logs -f {}` again to go on",
                self.id, self.id
            );
            Ok(ExitCode::from(exit::STILL_RUNNING))
        })
    }
}

/// Copies one stream of the job to `sink` as it arrives: `Some(why)` when the response was
/// cut short after it began (the service went away). A reader that went away (`logs -f ID
/// | head`) ends the copy quietly, as it would `cat`.
async fn copy<W: Write>(
    client: &Client,
    id: i64,
    stream: &str,
    (follow, tail): (bool, Option<usize>),
    sink: fn() -> W,
) -> anyhow::Result<Option<String>> {
    let mut chunks = client.output(id, stream, follow).await?;
    if let Some(lines) = tail {
        let mut all = Vec::new();
        while let Some(chunk) = chunks.next().await? {
            all.extend_from_slice(&chunk);
        }
        write_quietly(&mut sink(), last_lines(&all, lines))?;
        return Ok(None);
    }
    loop {
        let chunk = match chunks.next().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(None),
            Err(ClientError::Unreachable { source, .. }) if follow => {
                return Ok(Some(crate::client::root_cause(&source)));
            }
            Err(e) => return Err(e.into()),
        };
        let mut sink = sink();
        match sink.write_all(&chunk).and_then(|()| sink.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes all of `bytes`, ending quietly at a closed pipe.
fn write_quietly(sink: &mut impl Write, bytes: &[u8]) -> anyhow::Result<()> {
    match sink.write_all(bytes).and_then(|()| sink.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The last `n` lines of `output` (a last line without its newline counts as one).
fn last_lines(output: &[u8], n: usize) -> &[u8] {
    let body = output.strip_suffix(b"\n").unwrap_or(output);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|&(_, &byte)| byte == b'\n')
        .nth(n.saturating_sub(1))
        .map_or(0, |(at, _)| at + 1);
    if n == 0 { &output[output.len()..] } else { &output[start..] }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_lines_keep_their_newlines() {
        assert_eq!(super::last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(super::last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(super::last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(super::last_lines(b"a\nb\n", 0), b"");
    }
}
